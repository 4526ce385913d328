// The live dashboard: one summary per second from the metrics service (server-sent events through
// the frontend), drawn with uPlot. Keeps the last five minutes of points in memory; nothing else.
(() => {
  "use strict";
  const MAX_POINTS = 300;
  const palette = ["#2f6fed", "#c98a00", "#b3261e", "#17642f", "#7b3fbf", "#0b8a8a", "#a14d00", "#555"];
  const $ = (id) => document.getElementById(id);

  // --- charts ---------------------------------------------------------------------------------------
  function makeChart(elementId, seriesNames, opts = {}) {
    const element = $(elementId);
    const data = [[], ...seriesNames.map(() => [])];
    const series = [{}, ...seriesNames.map((label, i) => ({
      label, stroke: palette[i % palette.length], width: 2, spanGaps: true,
      fill: opts.fill ? palette[i % palette.length] + "22" : undefined,
    }))];
    const plot = new uPlot({
      width: Math.max(300, element.clientWidth), height: 220, series,
      scales: { x: { time: true }, y: opts.y || { auto: true, range: (u, min, max) => [0, Math.max(max * 1.1, opts.floor || 1)] } },
      axes: [{}, { size: 70, values: opts.format ? (u, ticks) => ticks.map(opts.format) : undefined }],
      legend: { live: true },
    }, data, element);
    return { plot, data, element, names: seriesNames };
  }

  function push(chart, t, values) {
    chart.data[0].push(t);
    values.forEach((v, i) => chart.data[i + 1].push(v ?? null));
    if (chart.data[0].length > MAX_POINTS) chart.data.forEach((column) => column.shift());
    chart.plot.setData(chart.data);
  }

  const charts = {
    traffic: makeChart("chart-traffic", ["req/s", "5xx/s", "uploads/min"], { fill: true }),
    latency: makeChart("chart-latency", ["p50", "p95", "p99"], { format: (v) => v + " ms" }),
    errors: makeChart("chart-errors", ["5xx %", "4xx %"], { format: (v) => v + " %" }),
    jobs: makeChart("chart-jobs", ["queued", "encoding", "finished/min"], { fill: true }),
    encode: makeChart("chart-encode", ["queue wait p95", "encode p95"], { format: (v) => v + " s" }),
    workers: null, // one series per worker: rebuilt when the set of workers changes
  };
  let workerNames = [];

  function workersChart(names) {
    if (charts.workers && names.join() === workerNames.join()) return charts.workers;
    if (charts.workers) { charts.workers.plot.destroy(); }
    workerNames = names;
    charts.workers = makeChart("chart-workers", names.length ? names : ["(no worker yet)"],
      { y: { range: [0, 100] }, format: (v) => v + " %" });
    return charts.workers;
  }
  workersChart([]);

  window.addEventListener("resize", () => {
    for (const chart of Object.values(charts)) {
      if (chart) chart.plot.setSize({ width: Math.max(300, chart.element.clientWidth), height: 220 });
    }
  });

  // --- numbers and tables ---------------------------------------------------------------------------
  const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const pct = (ratio) => fmt(ratio * 100, 1) + " %";

  function text(cell, value, numeric) {
    const td = document.createElement("td");
    td.textContent = value;
    if (numeric) td.className = "num";
    cell.appendChild(td);
    return td;
  }

  function fillTable(id, rows, columns) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren(...rows.map((row) => {
      const tr = document.createElement("tr");
      columns.forEach(([value, numeric]) => {
        const v = value(row);
        if (v instanceof Node) { const td = document.createElement("td"); td.appendChild(v); tr.appendChild(td); }
        else text(tr, v, numeric);
      });
      return tr;
    }));
  }

  function showAlerts(alerts) {
    const box = $("alerts");
    if (!alerts.length) {
      box.innerHTML = '<p class="calm">No alerts: every figure is within its recent baseline.</p>';
      return;
    }
    box.replaceChildren(...alerts.map((alert) => {
      const div = document.createElement("div");
      div.className = `alert ${alert.severity}`;
      div.dataset.key = alert.key;
      const title = document.createElement("strong");
      title.textContent = alert.key;
      div.append(title, document.createTextNode(alert.message + ` (since ${new Date(alert.raised_at).toLocaleTimeString()})`));
      return div;
    }));
  }

  function render(summary) {
    const w10 = summary.windows["10s"], w60 = summary.windows["60s"], w300 = summary.windows["300s"];
    if (!w10 || !w60 || !w300) return;
    const t = Math.round(summary.at);
    $("kpi-rate").textContent = fmt(w10.rate_per_s, 1);
    $("kpi-p95").textContent = w10.latency_ms.p95 === null ? "–" : fmt(w10.latency_ms.p95, 0) + " ms";
    $("kpi-errors").textContent = pct(w10.error_ratio);
    $("kpi-uploads").textContent = fmt(w60.uploads_per_min, 0);
    $("kpi-queued").textContent = summary.jobs.queued;
    $("kpi-processing").textContent = summary.jobs.processing;

    push(charts.traffic, t, [w10.rate_per_s, w10.errors / w10.span_s, w60.uploads_per_min]);
    push(charts.latency, t, [w10.latency_ms.p50, w10.latency_ms.p95, w10.latency_ms.p99]);
    const clientRatio = w10.requests ? w10.client_errors / w10.requests : 0;
    push(charts.errors, t, [w10.error_ratio * 100, clientRatio * 100]);
    push(charts.jobs, t, [summary.jobs.queued, summary.jobs.processing, w60.jobs.finished_per_min]);
    push(charts.encode, t, [w60.queue_wait_s.p95, w60.encode_s.p95]);
    const workers = w300.workers.map((worker) => worker.worker_id);
    const chart = workersChart(workers);
    const byId = Object.fromEntries(w60.workers.map((worker) => [worker.worker_id, worker]));
    push(chart, t, workers.length ? workers.map((id) => (byId[id] ? byId[id].utilisation * 100 : 0)) : [null]);

    fillTable("routes", w60.routes, [
      [(r) => `${r.method} ${r.route}`], [(r) => fmt(r.rate_per_s, 2), true],
      [(r) => fmt(r.latency_ms.p50, 1), true], [(r) => fmt(r.latency_ms.p95, 1), true],
      [(r) => fmt(r.latency_ms.p99, 1), true], [(r) => pct(r.error_ratio), true],
    ]);
    fillTable("workers", w60.workers, [
      [(r) => r.worker_id], [(r) => r.jobs, true],
      [(r) => { const m = document.createElement("meter"); m.min = 0; m.max = 1; m.value = r.utilisation; m.title = pct(r.utilisation); return m; }],
    ]);
    fillTable("links", w300.top_links, [[(r) => r.link], [(r) => r.clicks, true]]);
    fillTable("videos", w300.playback.videos, [
      [(r) => r.job_id], [(r) => r.sessions, true],
      [(r) => (r.startup_ms.p50 === null ? "–" : fmt(r.startup_ms.p50, 0) + " ms"), true],
      [(r) => (r.startup_ms.p95 === null ? "–" : fmt(r.startup_ms.p95, 0) + " ms"), true],
      [(r) => pct(r.rebuffer_ratio), true], [(r) => pct(r.error_rate), true],
      [(r) => fmt(r.watched_seconds, 0) + " s", true],
    ]);
    showAlerts(summary.alerts);
    $("instances").textContent = `metrics instances: ${summary.instances.join(", ") || "none"} · updated ${new Date(t * 1000).toLocaleTimeString()}`;
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  }

  // --- the live stream ------------------------------------------------------------------------------
  function connect() {
    const source = new EventSource("/api/metrics/stream");
    let lostTimer = null;
    source.addEventListener("summary", (event) => {
      clearTimeout(lostTimer);
      $("connection").textContent = "live";
      $("connection").dataset.state = "live";
      render(JSON.parse(event.data));
    });
    source.onerror = () => {
      // The server ends each stream every few seconds and EventSource reconnects by itself:
      // only a reconnect that takes long is worth showing.
      clearTimeout(lostTimer);
      lostTimer = setTimeout(() => {
        $("connection").textContent = "connection lost, reconnecting…";
        $("connection").dataset.state = "lost";
      }, 3000);
    };
  }
  connect();

  // --- the scaling advisor --------------------------------------------------------------------------
  // Monitoring's advice (services/monitoring/scaling_advisor.py), read through the frontend's
  // operators-only /api/monitoring proxy: everyone else sees why the table is empty.
  const ADVISOR_EVERY_MS = 5000;
  const advisorRefusals = {
    401: "Sign in as an operator to see the scaling advisor.",
    403: "The scaling advisor is for operators.",
  };

  function advisorState(state, message) {
    $("advisor-state").dataset.state = state;
    $("advisor-state").textContent = message;
  }

  function renderAdvice(advice) {
    const warn = (td, on) => { if (on) td.classList.add("warning"); };
    const body = $("advisor").querySelector("tbody");
    body.replaceChildren(...advice.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.group = a.group;
      text(tr, a.group); text(tr, a.topic); text(tr, a.backlog, true);
      text(tr, fmt(a.arrival_per_s, 2), true); text(tr, fmt(a.drain_per_s, 2), true);
      text(tr, a.workers, true);
      warn(text(tr, a.recommended ?? "?", true), a.recommended > a.workers);
      text(tr, a.clears_in_s === null ? "not shrinking" : `${fmt(a.clears_in_s, 0)} s`);
      warn(text(tr, a.note), a.limited_by_partitions);
      return tr;
    }));
  }

  async function refreshAdvice() {
    let response;
    try {
      response = await fetch("/api/monitoring/status", { headers: { accept: "application/json" } });
    } catch {
      advisorState("down", "Monitoring cannot be reached; trying again.");
      return true;
    }
    if (advisorRefusals[response.status]) {
      advisorState("refused", advisorRefusals[response.status]);
      return false; // signing in reloads the page: no point asking again
    }
    if (!response.ok) {
      advisorState("down", `Monitoring answered ${response.status}; trying again.`);
      return true;
    }
    const advice = (await response.json()).scaling || [];
    renderAdvice(advice);
    advisorState(advice.length ? "ok" : "empty", advice.length ? "" : "No work queue measured yet.");
    return true;
  }

  (async function pollAdvice() {
    if (await refreshAdvice()) setTimeout(pollAdvice, ADVISOR_EVERY_MS);
  })();
})();
