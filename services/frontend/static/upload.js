// One upload's page (templates/upload.html): follows the job over server-sent events
// (GET /api/jobs/{id}/events), shows its player or image and its renditions; Retry and Delete.
"use strict";

const article = document.getElementById("upload");
const jobId = article.dataset.jobId;
const csrfToken = document.querySelector("meta[name=csrf-token]").content;
const statusLine = document.getElementById("status");
const etaLine = document.getElementById("eta");
const bar = document.getElementById("progress");
const errorLine = document.getElementById("job-error");
const actionMessage = document.getElementById("action-message");
const retryButton = document.getElementById("retry");
const deleteButton = document.getElementById("delete");
const dialog = document.getElementById("confirm-delete");
const player = document.getElementById("player");
const image = document.getElementById("image");
const avifSource = document.getElementById("image-avif");
const webpSource = document.getElementById("image-webp");
const noPreview = document.getElementById("no-preview");
const table = document.getElementById("renditions");
const noRenditions = document.getElementById("no-renditions");

const FORMATS = {
  "image/webp": "WebP", "image/jpeg": "JPEG", "image/png": "PNG", "image/avif": "AVIF", "image/gif": "GIF",
  "application/vnd.apple.mpegurl": "HLS playlist", "video/mp4": "MP4", "video/webm": "WebM",
};

// formatBytes() and progressText() come from job-format.js.

let hlsLoaded = null;
function loadHls() {
  hlsLoaded ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/hls/hls.min.js";
    script.onload = () => resolve(window.Hls);
    script.onerror = () => reject(new Error("could not load the HLS player"));
    document.head.append(script);
  });
  return hlsLoaded;
}

async function showVideo(url, poster) {
  if (player.dataset.src === url) return;
  player.dataset.src = url;
  if (poster) player.poster = poster;
  player.hidden = false;
  noPreview.hidden = true;
  // hls.js wherever Media Source Extensions exist (it plays the package the same way everywhere;
  // Chromium's own HLS stalls on its separate audio rendition), the browser's own HLS elsewhere.
  const native = player.canPlayType("application/vnd.apple.mpegurl");
  const playNatively = () => {
    player.src = url;
    watchPlayback(player, jobId, null); // playback.js
  };
  if (!(window.MediaSource || window.ManagedMediaSource) && native) {
    playNatively();
    return;
  }
  try {
    const Hls = await loadHls();
    if (!Hls.isSupported()) {
      if (!native) throw new Error("this browser cannot play HLS");
      playNatively();
      return;
    }
    const hls = new Hls();
    watchPlayback(player, jobId, hls); // playback.js
    hls.loadSource(url);
    hls.attachMedia(player);
  } catch (error) {
    actionMessage.textContent = error.message;
  }
}

function showImage(job) {
  // The largest WebP that still fits a page (the thumbnail when nothing else exists), in a <picture>:
  // the AVIF of that size first, then the WebP, and the JPEG for browsers that decode neither.
  const all = job.renditions.filter((r) => r.content_type.startsWith("image/"));
  const webps = all.filter((r) => r.content_type === "image/webp");
  const images = webps.length ? webps : all;
  if (!images.length) return;
  const fitting = images.filter((r) => r.width <= 1600);
  const best = (fitting.length ? fitting : images).reduce((a, b) => (b.width > a.width ? b : a));
  if (image.dataset.src === best.url) return;
  image.dataset.src = best.url;
  const avif = all.find((r) => r.name === `${best.name}-avif`);
  const jpeg = all.find((r) => r.content_type === "image/jpeg");
  setSource(avifSource, avif);
  setSource(webpSource, best.content_type === "image/webp" ? best : null);
  image.src = (jpeg || best).url;
  image.width = best.width;
  image.height = best.height;
  image.hidden = false;
  noPreview.hidden = true;
}

// A <source> without srcset is skipped: the browser goes on to the next one.
function setSource(source, rendition) {
  if (rendition) source.srcset = rendition.url;
  else source.removeAttribute("srcset");
}

function renderRenditions(job) {
  const rows = job.renditions.map((r) => {
    const row = document.createElement("tr");
    const cells = [r.name, FORMATS[r.content_type] || r.content_type, `${r.width}×${r.height}`, formatBytes(r.bytes)];
    for (const text of cells) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.append(cell);
    }
    const link = document.createElement("a");
    link.href = r.url;
    link.download = "";
    link.textContent = "Download";
    link.setAttribute("aria-label", `Download ${r.name}`);
    const cell = document.createElement("td");
    cell.append(link);
    row.append(cell);
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = rows.length === 0;
  noRenditions.hidden = rows.length > 0;
}

function render(job) {
  article.dataset.status = job.status;
  statusLine.textContent = job.status;
  const running = job.status === "queued" || job.status === "processing";
  bar.value = job.progress;
  bar.hidden = !running;
  etaLine.textContent = progressText(job);
  errorLine.textContent = job.error || "";
  retryButton.hidden = job.status !== "failed";
  deleteButton.disabled = running;
  deleteButton.title = running ? "An upload can be deleted once it is done or failed" : "";
  renderRenditions(job);
  if (job.status === "failed") noPreview.textContent = "No preview: the job failed. Retry it, or delete it.";
  // A video plays as soon as its first chunk is packaged (stream_url), and keeps playing as the
  // later chunks are appended to its playlists.
  // Its poster (poster_url) comes with the first chunk too, before the job is done.
  if (job.stream_url) showVideo(job.stream_url, job.poster_url);
  else if (job.kind === "image") showImage(job);
  showStoryboard(job);
  if (job.duration_s != null) addFact("Duration", `${job.duration_s.toFixed(1)} s`);
  if (job.codecs) addFact("Codecs", [].concat(job.codecs).join(", "));
}

// Hover previews: the storyboard (a WebVTT track naming a tile of the sprite for each stretch of
// time) over a timeline under the player; a click there jumps to that moment.
let storyboardShown = false;
async function showStoryboard(job) {
  const track = job.renditions.find((r) => r.name === "storyboard");
  const sprite = job.renditions.find((r) => r.name === "sprite");
  if (!track || !sprite || storyboardShown) return;
  storyboardShown = true;
  let cues = [];
  try {
    const response = await fetch(track.url);
    if (response.ok) cues = parseStoryboard(await response.text());
  } catch {
    return; // no previews; the player works without them
  }
  if (!cues.length) return;
  const total = cues[cues.length - 1].end;
  const timeline = document.createElement("div");
  timeline.id = "storyboard";
  timeline.className = "storyboard";
  timeline.title = "Hover for a preview; click to jump there";
  const thumb = document.createElement("div");
  thumb.className = "storyboard-thumb";
  thumb.hidden = true;
  timeline.append(thumb);
  player.after(timeline);
  const momentAt = (event) => {
    const box = timeline.getBoundingClientRect();
    return Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1) * total;
  };
  timeline.addEventListener("mousemove", (event) => {
    const at = momentAt(event);
    const cue = cues.find((c) => at < c.end) || cues[cues.length - 1];
    const [x, y, w, h] = cue.xywh;
    const box = timeline.getBoundingClientRect();
    Object.assign(thumb.style, {
      width: `${w}px`,
      height: `${h}px`,
      backgroundImage: `url("${sprite.url}")`,
      backgroundPosition: `-${x}px -${y}px`,
      left: `${Math.min(Math.max(event.clientX - box.left - w / 2, 0), Math.max(box.width - w, 0))}px`,
    });
    thumb.dataset.tile = cue.xywh.join(",");
    thumb.hidden = false;
  });
  timeline.addEventListener("mouseleave", () => { thumb.hidden = true; });
  timeline.addEventListener("click", (event) => { player.currentTime = momentAt(event); });
}

function parseStoryboard(text) {
  const cues = [];
  for (const block of text.replace(/\r/g, "").split(/\n\n+/)) {
    const lines = block.trim().split("\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    const tile = timing >= 0 && (lines[timing + 1] || "").match(/#xywh=(\d+),(\d+),(\d+),(\d+)/);
    if (!tile) continue;
    const [start, end] = lines[timing].split("-->").map(vttSeconds);
    cues.push({ start, end, xywh: tile.slice(1).map(Number) });
  }
  return cues;
}

function vttSeconds(stamp) {
  return stamp.trim().split(/\s/)[0].split(":").map(Number).reduce((total, part) => total * 60 + part, 0);
}

function addFact(name, value) {
  const facts = document.getElementById("facts");
  if (facts.querySelector(`[data-fact="${name}"]`)) return;
  const term = document.createElement("dt");
  term.textContent = name;
  const detail = document.createElement("dd");
  detail.dataset.fact = name;
  detail.textContent = value;
  facts.append(term, detail);
}

function follow() {
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    render(job);
    if (job.status === "done" || job.status === "failed") source.close();
  });
  source.onerror = () => { source.close(); setTimeout(load, 2000); };
}

async function load() {
  let response;
  try {
    response = await fetch(`/api/jobs/${jobId}`);
  } catch {
    actionMessage.textContent = "The site cannot be reached; retrying…";
    setTimeout(load, 3000);
    return;
  }
  if (response.status === 401) { location.assign(`/login?next=/uploads/${jobId}`); return; }
  if (response.status === 404) { actionMessage.textContent = "This upload was deleted."; return; }
  if (!response.ok) {
    actionMessage.textContent = `The site is busy (HTTP ${response.status}); retrying…`;
    setTimeout(load, 3000);
    return;
  }
  actionMessage.textContent = "";
  const job = await response.json();
  render(job);
  if (job.status === "queued" || job.status === "processing") follow();
}

retryButton.addEventListener("click", async () => {
  retryButton.disabled = true;
  const response = await fetch(`/api/jobs/${jobId}/retry`, { method: "POST", headers: { "X-CSRF-Token": csrfToken } });
  const body = await response.json().catch(() => ({}));
  retryButton.disabled = false;
  if (response.status === 202) { location.assign(`/uploads/${body.job_id}`); return; }
  actionMessage.textContent = body.detail || `Retry failed (HTTP ${response.status})`;
});

deleteButton.addEventListener("click", () => {
  actionMessage.textContent = "";
  dialog.returnValue = "";
  dialog.showModal();
});

dialog.addEventListener("close", async () => {
  if (dialog.returnValue !== "delete") return;
  const response = await fetch(`/api/jobs/${jobId}`, { method: "DELETE", headers: { "X-CSRF-Token": csrfToken } });
  if (response.ok) { location.assign("/?deleted=" + encodeURIComponent(jobId)); return; }
  const problem = await response.json().catch(() => ({}));
  actionMessage.textContent = problem.detail || `Delete failed (HTTP ${response.status})`;
});

load();
