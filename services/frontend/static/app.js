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
  li.querySelector(".error").textContent = job.error || "";
  const list = li.querySelector(".renditions");
  list.replaceChildren(...job.renditions.map((r) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = r.url;
    link.textContent = `${r.name} · ${r.width}×${r.height} · ${formatBytes(r.bytes)}`;
    if (r.name === "thumbnail") {
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

function follow(jobId) {
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    render(job);
    if (job.status === "done" || job.status === "failed") source.close();
  });
  source.onerror = () => { source.close(); setTimeout(() => refresh(jobId), 2000); };
}

async function refresh(jobId) {
  const response = await fetch(`/api/jobs/${jobId}`);
  if (!response.ok) return;
  const job = await response.json();
  render(job);
  if (job.status === "queued" || job.status === "processing") follow(jobId);
}

function upload(file) {
  // XMLHttpRequest, not fetch: it reports upload progress.
  return new Promise((resolve, reject) => {
    const body = new FormData();
    body.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/uploads");
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
loadPage();
