// The upload page: sends files to POST /api/uploads, then follows each job over
// server-sent events (GET /api/jobs/{id}/events) until it is done or failed.
"use strict";

const jobsList = document.getElementById("jobs");
const template = document.getElementById("job-template");
const message = document.getElementById("upload-message");
const uploadProgress = document.getElementById("upload-progress");
const moreButton = document.getElementById("more");
const PAGE = 20;
let loaded = 0;
// The session's CSRF token: every change this page asks for carries it (the cookie alone is not enough).
let csrfToken = "";

async function signIn() {
  const response = await fetch("/api/auth/me");
  if (response.status === 401) {
    location.assign("/login?next=/");
    return false;
  }
  const me = await response.json();
  csrfToken = me.csrf_token || "";
  document.getElementById("who").textContent = me.user.username;
  return true;
}

async function retry(jobId) {
  const response = await fetch(`/api/jobs/${jobId}/retry`, { method: "POST", headers: { "X-CSRF-Token": csrfToken } });
  const body = await response.json().catch(() => ({}));
  if (response.status !== 202) {
    message.textContent = body.detail || `retry failed (HTTP ${response.status})`;
    message.className = "refused";
    return;
  }
  await refresh(body.job_id, true);
}

async function remove(jobId) {
  const response = await fetch(`/api/jobs/${jobId}`, { method: "DELETE", headers: { "X-CSRF-Token": csrfToken } });
  if (response.ok) {
    document.getElementById(`job-${jobId}`)?.remove();
    return;
  }
  const problem = await response.json().catch(() => ({}));
  message.textContent = problem.detail || `delete failed (HTTP ${response.status})`;
  message.className = "refused";
}

function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function jobElement(jobId) {
  let li = document.getElementById(`job-${jobId}`);
  if (!li) {
    li = template.content.firstElementChild.cloneNode(true);
    li.id = `job-${jobId}`;
    li.querySelector(".delete").addEventListener("click", () => remove(jobId));
    li.querySelector(".retry").addEventListener("click", () => retry(jobId));
  }
  return li;
}

function render(job) {
  const li = jobElement(job.job_id);
  li.dataset.status = job.status;
  li.querySelector(".filename").textContent = job.filename;
  li.querySelector(".status").textContent = job.status;
  const bar = li.querySelector(".progress");
  bar.value = job.progress;
  bar.hidden = job.status === "done" || job.status === "failed";
  li.querySelector(".delete").hidden = !bar.hidden;
  li.querySelector(".retry").hidden = job.status !== "failed";
  li.querySelector(".error").textContent = job.error || "";
  li.querySelector(".eta").textContent = bar.hidden ? "" : progressText(job);
  const hls = job.renditions.find((r) => r.name === "hls");
  if (hls) showPlayer(li.querySelector(".player"), hls.url, job.renditions.find((r) => r.name === "poster"));
  const list = li.querySelector(".renditions");
  list.replaceChildren(...job.renditions.map((r) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = r.url;
    link.textContent = `${r.name} · ${r.width}×${r.height} · ${formatBytes(r.bytes)}`;
    if (r.name === "thumbnail" || r.name === "sprite") {
      const img = document.createElement("img");
      img.src = r.url;
      img.alt = `${job.filename} thumbnail`;
      img.loading = "lazy";
      item.append(img);
    }
    item.append(link);
    return item;
  }));
  return li;
}

function progressText(job) {
  if (job.status !== "processing") return "";
  const percent = `${Math.round(job.progress * 100)}%`;
  if (job.eta_s == null) return percent;
  const left = job.eta_s >= 90 ? `${Math.round(job.eta_s / 60)} min` : `${Math.max(1, Math.round(job.eta_s))} s`;
  return `${percent} · about ${left} left`;
}

// hls.js (vendored, static/vendor/hls) is loaded the first time a video is shown, and only where the
// browser cannot play HLS itself (Safari can).
let hlsLoaded = null;
function loadHls() {
  hlsLoaded ??= new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/hls/hls.light.min.js";
    script.onload = () => resolve(window.Hls);
    script.onerror = () => reject(new Error("could not load the HLS player"));
    document.head.append(script);
  });
  return hlsLoaded;
}

async function showPlayer(video, url, poster) {
  if (video.dataset.src === url) return;
  video.dataset.src = url;
  if (poster) video.poster = poster.url;
  video.hidden = false;
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    return;
  }
  const Hls = await loadHls();
  if (!Hls.isSupported()) return;
  const player = new Hls();
  player.loadSource(url);
  player.attachMedia(video);
}

function follow(jobId) {
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    render(job);
    if (job.status === "done" || job.status === "failed") source.close();
  });
  source.onerror = () => { source.close(); setTimeout(() => refresh(jobId), 2000); };
}

async function refresh(jobId, prepend = false) {
  const response = await fetch(`/api/jobs/${jobId}`);
  if (!response.ok) return;
  const job = await response.json();
  const li = render(job);
  if (prepend) jobsList.prepend(li);
  if (job.status === "queued" || job.status === "processing") follow(jobId);
}

function upload(file) {
  // XMLHttpRequest, not fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/uploads");
    request.setRequestHeader("X-CSRF-Token", csrfToken);
    request.responseType = "json";
    uploadProgress.hidden = false;
    request.upload.onprogress = (e) => { if (e.lengthComputable) uploadProgress.value = e.loaded / e.total; };
    request.onload = () => {
      uploadProgress.hidden = true;
      if (request.status === 202) resolve(request.response);
      else reject(new Error(request.response?.detail || `upload failed (HTTP ${request.status})`));
    };
    request.onerror = () => { uploadProgress.hidden = true; reject(new Error("network error")); };
    request.send(body);
  });
}

async function uploadAll(files) {
  for (const file of files) {
    message.textContent = `Uploading ${file.name}…`;
    message.className = "";
    try {
      const { job_id: jobId } = await upload(file);
      jobsList.prepend(render({ job_id: jobId, filename: file.name, status: "queued", progress: 0, error: null, renditions: [] }));
      follow(jobId);
      message.textContent = `${file.name}: queued`;
    } catch (error) {
      message.textContent = `${file.name}: ${error.message}`;
      message.className = "refused";
    }
  }
}

async function loadPage() {
  const response = await fetch(`/api/jobs?limit=${PAGE}&offset=${loaded}`);
  const page = await response.json();
  for (const job of page.jobs) {
    jobsList.append(render(job));
    if (job.status === "queued" || job.status === "processing") follow(job.job_id);
  }
  loaded += page.jobs.length;
  moreButton.hidden = loaded >= page.total;
}

const input = document.getElementById("file-input");
const dropZone = document.getElementById("drop-zone");
input.addEventListener("change", () => uploadAll([...input.files]).then(() => { input.value = ""; }));
dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropZone.classList.remove("over");
  uploadAll([...e.dataTransfer.files]);
});
moreButton.addEventListener("click", loadPage);
signIn().then((ok) => { if (ok) loadPage(); });
