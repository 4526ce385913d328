// What both upload pages (app.js, upload.js) show of a job: sizes and progress as people read them.
"use strict";

function formatBytes(n) {
  const units = ["B", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function progressText(job) {
  if (job.status === "queued") return "waiting for a worker";
  if (job.status !== "processing") return "";
  const percent = `${Math.round(job.progress * 100)}%`;
  if (job.eta_s == null) return percent;
  const left = job.eta_s >= 90 ? `${Math.round(job.eta_s / 60)} min` : `${Math.max(1, Math.round(job.eta_s))} s`;
  return `${percent} · about ${left} left`;
}
