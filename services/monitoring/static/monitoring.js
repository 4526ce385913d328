// The monitoring page: the status arrives over server-sent events after every look; logs and
// activity are fetched with the filters the operator sets. Text is always inserted as text.
"use strict";

const $ = (selector) => document.querySelector(selector);

function cell(row, value, className) {
  const td = row.insertCell();
  td.textContent = value === null || value === undefined ? "" : String(value);
  if (className) td.className = className;
  return td;
}

function fill(tableSelector, items, render) {
  const body = $(tableSelector + " tbody");
  body.replaceChildren();
  for (const item of items) render(body.insertRow(), item);
}

function time(iso) {
  return iso ? new Date(iso).toLocaleTimeString() : "";
}

function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function traceLink(row, correlationId) {
  const td = row.insertCell();
  if (!correlationId) return;
  const link = document.createElement("a");
  link.className = "trace-link";
  link.textContent = correlationId.slice(0, 8);
  link.onclick = () => showTrace(correlationId);
  td.append(link);
}

function keyValues(container, pairs) {
  const table = document.createElement("table");
  for (const [key, value] of pairs) {
    const row = table.insertRow();
    cell(row, key, "muted");
    cell(row, value);
  }
  container.append(table);
}

function renderAlerts(alerts) {
  const list = $("#alerts");
  list.replaceChildren();
  if (!alerts.length) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "No active alerts.";
    list.append(li);
  }
  for (const alert of alerts) {
    const li = document.createElement("li");
    li.className = alert.severity;
    li.textContent = `${time(alert.raised_at)} · ${alert.source} · ${alert.message}`;
    list.append(li);
  }
}

// What coordinates the cluster: ZooKeeper's health, the controller and its epoch, registrations.
function coordinationText(kafka) {
  if (kafka.mode !== "zookeeper") return "KRaft: the controllers keep the metadata log (no ZooKeeper)";
  const zk = kafka.zookeeper;
  const changes = (kafka.controller_changes || []).filter((c) => c.from_id !== null);
  const moved = changes.length
    ? ` · controller moved ${changes[0].from_id} → ${changes[0].to_id} at ${time(changes[0].seen_at)}`
    : "";
  if (!zk || !zk.reachable) {
    return `ZooKeeper ${zk ? zk.connect : ""} DOWN: ${zk ? zk.error : "not examined"}` +
      ` · last controller epoch ${kafka.controller_epoch ?? "?"}${moved}`;
  }
  const registered = zk.registrations.map((r) => `${r.broker_id}@${r.host}:${r.port}`).join(", ");
  return `ZooKeeper ${zk.connect} ${zk.ok ? "ok" : "NOT OK"} (${zk.stats.zk_server_state || "?"}, ` +
    `${zk.stats.zk_num_alive_connections || "?"} connections, latency ${zk.stats.zk_avg_latency || "?"} ms)` +
    ` · controller broker ${zk.controller_id ?? "NONE"}, epoch ${zk.controller_epoch ?? "?"}` +
    ` · registered brokers: ${registered || "none"}${moved}`;
}

function renderKafka(kafka) {
  $("#kafka-coordination").textContent = kafka.mode ? coordinationText(kafka) : "";
  if (!kafka.reachable) {
    $("#kafka-summary").textContent = `Kafka cannot be examined: ${kafka.error || kafka.note || ""}`;
    return;
  }
  const up = kafka.brokers.filter((b) => b.up).map((b) => b.node_id);
  const down = kafka.brokers.filter((b) => !b.up).map((b) => b.node_id);
  $("#kafka-summary").textContent =
    `${up.length} broker(s) up (ids ${up.join(", ")})${down.length ? ` · DOWN: ${down.join(", ")}` : ""} · ` +
    `controller ${kafka.controller_id} · ${kafka.topics.length} topics · ` +
    `${kafka.under_replicated_partitions} under-replicated · ${kafka.offline_partitions} offline`;
  fill("#groups", kafka.groups, (row, group) => {
    cell(row, group.group);
    cell(row, group.state);
    cell(row, group.members.length);
    cell(row, group.lag);
    cell(row, group.status, group.status);
    cell(row, group.partitions.map((p) => `${p.topic}/${p.partition}:${p.lag}`).join(" "));
  });
  fill("#topics", kafka.topics, (row, topic) => {
    cell(row, topic.name);
    cell(row, topic.partitions.length);
    cell(row, topic.under_replicated, topic.under_replicated ? "warning" : "");
    cell(row, topic.offline, topic.offline ? "critical" : "");
    cell(row, topic.partitions.map((p) => `${p.partition}:L${p.leader}[${p.isr.join(",")}]`).join(" "));
  });
}

function renderDatabase(db) {
  const box = $("#database");
  box.replaceChildren();
  if (!db.reachable) {
    keyValues(box, [["backend", db.backend], ["state", `unreachable: ${db.error || db.note || ""}`]]);
    return;
  }
  if (db.reduced) {
    keyValues(box, [["backend", "sqlite (reduced view)"], ["file", db.file], ["size", bytes(db.size_bytes)],
      ["journal", db.journal_mode], ["note", db.note]]);
  } else {
    const c = db.connections;
    keyValues(box, [["backend", `postgresql ${db.server_version}`], ["database", db.database],
      ["connections", `${c.total} of ${c.max} (${Object.entries(c.by_state).map(([s, n]) => `${s} ${n}`).join(", ")})`],
      ["transactions/s", db.transactions_per_second ?? "…"], ["cache hit", db.cache_hit_ratio],
      ["replication", db.replication.role === "primary"
        ? `primary, ${db.replication.replicas.length} replica(s)` : `replica, ${db.replication.replay_delay_s}s behind`],
      ["slowest queries", `(${db.slowest_queries.source})`]]);
    const list = document.createElement("ol");
    for (const q of db.slowest_queries.queries) {
      const li = document.createElement("li");
      li.textContent = `${q.mean_ms ?? q.running_ms} ms · ${q.query}`;
      list.append(li);
    }
    box.append(list);
  }
  const tables = document.createElement("table");
  for (const t of db.tables) {
    const row = tables.insertRow();
    cell(row, t.table);
    cell(row, `${t.rows} rows`);
    cell(row, t.total_bytes !== undefined ? bytes(t.total_bytes) : "");
  }
  box.append(tables);
}

function renderStorage(storage) {
  const box = $("#storage");
  box.replaceChildren();
  keyValues(box, [["endpoint", storage.endpoint], ["health", storage.live ? "live" : "NOT LIVE"],
    ...(storage.buckets || []).map((b) => [b.name, `${b.objects}${b.truncated ? "+" : ""} objects · ${bytes(b.bytes)}`]),
    ...(storage.recent_errors || []).slice(0, 5).map((e) => [time(e.at), e.error])]);
}

function renderStatus(status) {
  $("#looked-at").textContent = status.looked_at ? `as of ${time(status.looked_at)}` : "";
  renderAlerts(status.alerts);
  fill("#services", status.services, (row, s) => {
    cell(row, s.service);
    cell(row, s.instance_id);
    cell(row, s.up ? "up" : s.state === "stopping" ? "stopped" : "silent", s.up ? "up" : "down");
    cell(row, s.restarts ? `${s.restarts} (last ${time(s.last_restart_at)}${s.last_restart_crashed ? ", crashed" : ""})` : "0",
      s.last_restart_crashed ? "warning" : "");
    cell(row, s.version);
    cell(row, s.host);
    cell(row, `${s.silent_for_s}s ago`);
    cell(row, s.load.cpu_percent);
    cell(row, bytes(s.load.memory_rss_bytes));
    cell(row, s.consumes.join(", "));
  });
  renderKafka(status.kafka);
  renderScaling(status.scaling || []);
  renderDatabase(status.database);
  renderStorage(status.storage);
}

function renderScaling(advice) {
  // Workers that would clear each work queue within the advisor's target (services/monitoring/scaling_advisor.py).
  fill("#scaling", advice, (row, a) => {
    cell(row, a.group);
    cell(row, a.topic);
    cell(row, a.backlog);
    cell(row, a.arrival_per_s);
    cell(row, a.drain_per_s);
    cell(row, a.workers);
    cell(row, a.recommended ?? "?", a.recommended > a.workers ? "warning" : "");
    cell(row, a.clears_in_s === null ? "not shrinking" : `${a.clears_in_s}s`);
    cell(row, a.note, a.limited_by_partitions ? "warning" : "");
  });
}

function query(form) {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
  return params;
}

async function refreshLogs() {
  const params = query($("#log-filter"));
  params.set("limit", "200");
  const response = await fetch(`/api/monitoring/logs?${params}`);
  if (!response.ok) return;
  fill("#logs", (await response.json()).lines, (row, line) => {
    cell(row, time(line.occurred_at));
    cell(row, line.service);
    cell(row, line.level, line.level);
    cell(row, line.message);
    traceLink(row, line.uncorrelated ? null : line.correlation_id);
  });
}

async function refreshActivity() {
  const params = query($("#activity-filter"));
  const response = await fetch(`/api/monitoring/activity?${params}`);
  if (!response.ok) return;
  const body = await response.json();
  $("#activity-counts").textContent = Object.entries(body.counts).map(([k, n]) => `${k}: ${n}`).join(" · ");
  fill("#activity", body.events, (row, event) => {
    cell(row, time(event.occurred_at));
    cell(row, event.kind);
    cell(row, event.user_id || "visitor");
    cell(row, event.subject);
    cell(row, event.request);
    traceLink(row, event.correlation_id);
  });
}

async function showTrace(correlationId) {
  $("#trace-form").elements.id.value = correlationId;
  const response = await fetch(`/api/monitoring/traces/${encodeURIComponent(correlationId)}`);
  const list = $("#trace");
  list.replaceChildren();
  if (!response.ok) return;
  for (const line of (await response.json()).lines) {
    const li = document.createElement("li");
    li.textContent = `${line.occurred_at} ${line.service} ${line.level} ${line.logger}: ${line.message}`;
    list.append(li);
  }
  $("#trace-section").scrollIntoView({ behavior: "smooth" });
}

function connect() {
  const source = new EventSource("/api/monitoring/stream");
  source.addEventListener("status", (event) => {
    $("#live").textContent = "live";
    $("#live").className = "badge ok";
    renderStatus(JSON.parse(event.data));
  });
  source.onerror = () => {
    $("#live").textContent = "reconnecting…";
    $("#live").className = "badge bad";
  };
}

$("#log-filter").addEventListener("input", refreshLogs);
$("#activity-filter").addEventListener("input", refreshActivity);
$("#trace-form").addEventListener("submit", (event) => {
  event.preventDefault();
  showTrace($("#trace-form").elements.id.value.trim());
});
connect();
refreshLogs();
refreshActivity();
setInterval(() => { refreshLogs(); refreshActivity(); }, 3000);
