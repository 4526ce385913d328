// The uploads page: sends files to POST /api/uploads, lists the caller's uploads a page at a time
// (GET /api/jobs?limit&offset) and follows each running job over server-sent events
// (GET /api/jobs/{id}/events) until it is done or failed. Each upload has its own page, /uploads/{id}.
"use strict";

const jobsList = document.getElementById("jobs");
const template = document.getElementById("job-template");
const fileTemplate = document.getElementById("file-template");
const message = document.getElementById("upload-message");
const uploadProgress = document.getElementById("upload-progress");
const sentFiles = document.getElementById("upload-files");
const emptyState = document.getElementById("empty");
const listError = document.getElementById("list-error");
const pager = document.getElementById("pager");
const pageInfo = document.getElementById("page-info");
const newerButton = document.getElementById("newer");
const olderButton = document.getElementById("older");
const kindFilter = document.getElementById("filter-kind");
const statusFilter = document.getElementById("filter-status");
const PAGE = 20;
let offset = 0;
let total = 0;
// The session's CSRF token: every change this page asks for carries it (the cookie alone is not enough).
let csrfToken = "";
// Live streams by job id, so a job is followed once however often it is shown. A browser opens only
// about six connections to a site, so past MAX_STREAMS running jobs the others are polled instead.
const following = new Map();
const MAX_STREAMS = 4;

async function signIn() {
  let response;
  try {
    response = await fetch("/api/auth/me");
  } catch {
    showListError("The site cannot be reached.", signInThenLoad);
    return false;
  }
  if (response.status === 401) {
    location.assign("/login?next=/");
    return false;
  }
  if (!response.ok) {
    showListError(`The site is not available right now (HTTP ${response.status}).`, signInThenLoad);
    return false;
  }
  const me = await response.json();
  csrfToken = me.csrf_token || "";
  document.getElementById("who").textContent = me.user.username;
  return true;
}

// formatBytes() and progressText() come from job-format.js.

function jobElement(jobId) {
  let li = document.getElementById(`job-${jobId}`);
  if (!li) {
    li = template.content.firstElementChild.cloneNode(true);
    li.id = `job-${jobId}`;
    li.querySelector(".filename").href = `/uploads/${jobId}`;
  }
  return li;
}

function render(job) {
  const li = jobElement(job.job_id);
  li.dataset.status = job.status;
  li.dataset.kind = job.kind || "";
  li.querySelector(".filename").textContent = job.filename;
  li.querySelector(".status").textContent = job.status;
  li.querySelector(".kind").textContent = job.kind || "";
  li.querySelector(".size").textContent = job.size_bytes != null ? formatBytes(job.size_bytes) : "";
  const date = li.querySelector(".date");
  if (job.created_at) {
    date.dateTime = job.created_at;
    date.textContent = new Date(job.created_at).toLocaleString();
  }
  const bar = li.querySelector(".progress");
  bar.value = job.progress;
  bar.hidden = job.status === "done" || job.status === "failed";
  bar.setAttribute("aria-label", `Progress of ${job.filename}`);
  li.querySelector(".error").textContent = job.error || "";
  li.querySelector(".eta").textContent = bar.hidden ? "" : progressText(job);
  const thumb = job.renditions.find((r) => r.name === "thumbnail") || job.renditions.find((r) => r.name === "poster");
  const box = li.querySelector(".thumb");
  if (thumb && box.dataset.src !== thumb.url) {
    box.dataset.src = thumb.url;
    const img = document.createElement("img");
    img.src = thumb.url;
    img.alt = "";
    img.loading = "lazy";
    box.replaceChildren(img);
  } else if (!thumb && !box.firstChild) {
    box.textContent = job.kind === "video" ? "▶" : "▢";
  }
  // The line under the drop zone for a file sent from this page shows the job's real state too.
  const sent = sentFiles.querySelector(`[data-job-id="${job.job_id}"] .file-status`);
  if (sent) {
    sent.replaceChildren(`${job.status}${job.error ? `: ${job.error}` : ""} · `, pageLink(job.job_id));
    sent.parentElement.dataset.status = job.status;
  }
  applyFilters();
  return li;
}

function pageLink(jobId) {
  const link = document.createElement("a");
  link.href = `/uploads/${jobId}`;
  link.textContent = "open";
  return link;
}

function follow(jobId) {
  if (following.has(jobId)) return;
  if (following.size >= MAX_STREAMS) {
    setTimeout(() => refresh(jobId), 3000);
    return;
  }
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  following.set(jobId, source);
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    render(job);
    if (job.status === "done" || job.status === "failed") { source.close(); following.delete(jobId); }
  });
  source.onerror = () => {
    source.close();
    following.delete(jobId);
    setTimeout(() => refresh(jobId), 2000);
  };
}

async function refresh(jobId) {
  const response = await fetch(`/api/jobs/${jobId}`).catch(() => null);
  if (!response) { setTimeout(() => refresh(jobId), 3000); return; }
  if (!response.ok) {
    if (response.status >= 500) setTimeout(() => refresh(jobId), 3000);
    return;
  }
  const job = await response.json();
  render(job);
  if (job.status === "queued" || job.status === "processing") follow(jobId);
}

class UploadError extends Error {
  constructor(detail, status) {
    super(detail);
    this.status = status;
  }
}

function upload(file) {
  // Large files go straight to storage in parts, resumably (direct-upload.js, Uppy).
  if (window.directUpload && file.size > window.DIRECT_UPLOAD_MIN) {
    uploadProgress.hidden = false;
    uploadProgress.value = 0;
    return window.directUpload(file, csrfToken, (fraction) => { uploadProgress.value = fraction; })
      .finally(() => { uploadProgress.hidden = true; });
  }
  // XMLHttpRequest, not fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/uploads");
    request.setRequestHeader("X-CSRF-Token", csrfToken);
    request.responseType = "json";
    uploadProgress.hidden = false;
    uploadProgress.value = 0;
    request.upload.onprogress = (e) => { if (e.lengthComputable) uploadProgress.value = e.loaded / e.total; };
    request.onload = () => {
      uploadProgress.hidden = true;
      if (request.status === 202) resolve(request.response);
      else reject(new UploadError(refusal(request), request.status));
    };
    request.onerror = () => {
      uploadProgress.hidden = true;
      reject(new UploadError("the upload did not reach the site (network error)", 0));
    };
    request.send(body);
  });
}

function refusal(request) {
  const detail = request.response && typeof request.response.detail === "string" ? request.response.detail : "";
  if (detail) return detail;
  if (request.status === 413) return "the file is too large";
  if (request.status === 503) return "the site is busy right now";
  return `the upload was refused (HTTP ${request.status})`;
}

async function uploadOne(file, item) {
  const status = item.querySelector(".file-status");
  const again = item.querySelector(".again");
  again.hidden = true;
  item.dataset.status = "uploading";
  item.classList.remove("refused");
  status.textContent = "uploading…";
  try {
    const { job_id: jobId } = await upload(file);
    item.dataset.jobId = jobId;
    item.dataset.status = "queued";
    status.replaceChildren("queued · ", pageLink(jobId));
    if (offset === 0) {
      const li = render({
        job_id: jobId, filename: file.name, status: "queued", progress: 0, error: null, renditions: [],
        kind: file.type.startsWith("video/") ? "video" : "image", size_bytes: file.size,
        created_at: new Date().toISOString(),
      });
      jobsList.prepend(li);
      total += 1;
      showEmptyState();
    }
    follow(jobId);
    return true;
  } catch (error) {
    item.dataset.status = "refused";
    item.classList.add("refused");
    status.textContent = `refused: ${error.message}`;
    // Worth trying again later: the site was busy, overloaded, or could not be reached.
    if ([0, 429, 502, 503, 504].includes(error.status)) again.hidden = false;
    return false;
  }
}

async function uploadAll(files) {
  // A file chosen while the page still signs in waits for the session's CSRF token.
  await signedIn;
  let accepted = 0;
  for (const file of files) {
    const item = fileTemplate.content.firstElementChild.cloneNode(true);
    item.querySelector(".name").textContent = file.name;
    item.querySelector(".again").addEventListener("click", () => uploadOne(file, item));
    item.querySelector(".again").setAttribute("aria-label", `Try again: ${file.name}`);
    sentFiles.prepend(item);
    message.textContent = `Uploading ${file.name}…`;
    if (await uploadOne(file, item)) accepted += 1;
  }
  message.textContent = files.length ? `${accepted} of ${files.length} file(s) accepted.` : "";
}

function showListError(text, again) {
  listError.hidden = false;
  listError.querySelector("p").textContent = text;
  listError.querySelector("button").onclick = () => { listError.hidden = true; again(); };
}

async function loadPage() {
  let response;
  try {
    response = await fetch(`/api/jobs?limit=${PAGE}&offset=${offset}`);
  } catch {
    showListError("Your uploads could not be loaded: the site cannot be reached.", loadPage);
    return;
  }
  if (response.status === 401) { location.assign("/login?next=/"); return; }
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    const why = problem.detail || `HTTP ${response.status}`;
    showListError(`Your uploads could not be loaded (${why}). Please try again.`, loadPage);
    return;
  }
  listError.hidden = true;
  const page = await response.json();
  total = page.total;
  jobsList.replaceChildren(...page.jobs.map(render));
  for (const job of page.jobs) {
    if (job.status === "queued" || job.status === "processing") follow(job.job_id);
  }
  const pages = Math.max(1, Math.ceil(total / PAGE));
  pageInfo.textContent = `Page ${Math.floor(offset / PAGE) + 1} of ${pages}`;
  pager.hidden = total <= PAGE;
  newerButton.disabled = offset === 0;
  olderButton.disabled = offset + PAGE >= total;
  showEmptyState();
}

function applyFilters() {
  const kind = kindFilter.value;
  const status = statusFilter.value;
  for (const li of jobsList.children) {
    li.hidden = (kind && li.dataset.kind !== kind) || (status && li.dataset.status !== status);
  }
  showEmptyState();
}

function showEmptyState() {
  const shown = [...jobsList.children].filter((li) => !li.hidden).length;
  if (total === 0 && jobsList.children.length === 0) {
    emptyState.textContent = "No uploads yet. Drop an image or a video on the box above, or press it to choose a "
      + "file: each upload gets web-sized renditions (and a streamable player for videos) within moments.";
    emptyState.hidden = false;
  } else if (shown === 0 && jobsList.children.length > 0) {
    emptyState.textContent = "No uploads on this page match the filter.";
    emptyState.hidden = false;
  } else {
    emptyState.hidden = true;
  }
}

async function signInThenLoad() {
  if (await signIn()) loadPage();
}

const input = document.getElementById("file-input");
const dropZone = document.getElementById("drop-zone");
input.addEventListener("change", () => uploadAll([...input.files]).then(() => { input.value = ""; }));
// The drop zone is a real button: a click, Enter or Space opens the file chooser.
dropZone.addEventListener("click", () => input.click());
dropZone.addEventListener("dragenter", (e) => { e.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropZone.classList.remove("over");
  uploadAll([...e.dataTransfer.files]);
});
newerButton.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); loadPage(); });
olderButton.addEventListener("click", () => { offset += PAGE; loadPage(); });
kindFilter.addEventListener("change", applyFilters);
statusFilter.addEventListener("change", applyFilters);
if (new URLSearchParams(location.search).has("deleted")) message.textContent = "The upload was deleted.";
const signedIn = signInThenLoad();
