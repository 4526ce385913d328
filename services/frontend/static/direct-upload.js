"use strict";
// Direct, resumable uploads with Uppy (vendor/uppy): the site signs, the browser PUTs each part
// straight to storage, several at a time. A dropped connection pauses the parts and resumes them
// when the browser is back online (Uppy's aws-s3 plugin); Golden Retriever keeps the file and its
// upload across a reload, and the parts storage already holds are never sent again (listParts).
//
// app.js calls window.directUpload(file, csrfToken, onProgress) for files above DIRECT_UPLOAD_MIN;
// smaller ones go in one request (POST /api/uploads), as simple clients send them.

(() => {
  if (!window.Uppy) return;
  const { Uppy, AwsS3, GoldenRetriever } = window.Uppy;

  //: Parts of 8 MiB (storage's minimum is 5 MiB); at most 10 000 parts, so larger ones for huge files.
  const MIB = 1024 * 1024;
  const chunkSize = (size) => Math.max(8 * MIB, Math.ceil(size / 10000 / MIB) * MIB);
  window.DIRECT_UPLOAD_MIN = 5 * MIB;

  let csrf = "";
  // A restored upload needs the session's CSRF token before it can call the site.
  const signIn = () => fetch("/api/auth/me")
    .then((r) => (r.ok ? r.json() : {}))
    .then((me) => { csrf = me.csrf_token || csrf; })
    .catch(() => {});
  const pending = new Map(); // Uppy file id -> { resolve, reject, onProgress }

  class ApiError extends Error {
    constructor(message, status) { super(message); this.status = status; }
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      const detail = typeof problem.detail === "string" ? problem.detail : `HTTP ${response.status}`;
      throw new ApiError(detail, response.status);
    }
    return response.status === 204 ? null : response.json();
  }

  const base = (jobId) => `/api/uploads/multipart/${encodeURIComponent(jobId)}`;

  // The site names an upload by its job id: Uppy's `uploadId` carries it.
  const uppy = new Uppy({ id: "reencode-direct", autoProceed: false, allowMultipleUploadBatches: true })
    .use(AwsS3, {
      shouldUseMultipart: true,
      limit: 4,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      getChunkSize: (file) => chunkSize(file.size),
      async createMultipartUpload(file) {
        const started = await api("POST", "/api/uploads/multipart", {
          filename: file.name, size: file.size, content_type: file.type || "application/octet-stream",
        });
        return { uploadId: started.job_id, key: started.key };
      },
      async listParts(file, { uploadId }) {
        const listed = await api("GET", `${base(uploadId)}/parts`);
        return listed.parts.map((p) => ({ PartNumber: p.part_number, ETag: p.etag, Size: p.size }));
      },
      async signPart(file, { uploadId, partNumber }) {
        // Each URL takes exactly its part's length: the site is told how the file is cut.
        const signed = await api("POST", `${base(uploadId)}/parts/sign`, {
          part_numbers: [partNumber], part_size: chunkSize(file.size),
        });
        return { method: "PUT", url: signed.urls[String(partNumber)] };
      },
      async completeMultipartUpload(file, { uploadId, parts }) {
        await api("POST", `${base(uploadId)}/complete`, {
          parts: parts.map((p) => ({ part_number: p.PartNumber, etag: p.ETag })),
        });
        return {};
      },
      async abortMultipartUpload(file, { uploadId }) {
        await api("DELETE", base(uploadId));
      },
    })
    // Golden Retriever keeps each file's bytes in IndexedDB until it is uploaded, so a reload resumes
    // it. Its defaults (10 MiB a file, 300 MiB in all) would keep none of the files sent this way;
    // the browser's own storage quota is the real bound (a file it cannot keep is simply not
    // resumable after a reload, and its upload goes on). No service worker: IndexedDB survives a
    // reload and a browser restart alike.
    .use(GoldenRetriever, {
      serviceWorker: false,
      indexedDB: { maxFileSize: 16 * 1024 * MIB, maxTotalSize: 32 * 1024 * MIB },
    });

  const jobIdOf = (file) => file.s3Multipart && file.s3Multipart.uploadId;

  // A restored upload (no caller waiting after the reload) shows its progress on the page's bar.
  const restoredProgress = (fraction) => {
    const bar = document.getElementById("upload-progress");
    if (bar) { bar.hidden = false; bar.value = fraction; }
  };

  uppy.on("upload-progress", (file, progress) => {
    const waiting = pending.get(file.id);
    const onProgress = waiting ? waiting.onProgress : restoredProgress;
    if (progress.bytesTotal) onProgress(progress.bytesUploaded / progress.bytesTotal);
  });
  uppy.on("upload-success", (file) => {
    const jobId = jobIdOf(uppy.getFile(file.id) || file);
    const waiting = pending.get(file.id);
    pending.delete(file.id);
    uppy.removeFile(file.id);
    if (waiting) waiting.resolve({ job_id: jobId });
    else restoredDone(file.name);
  });
  uppy.on("upload-error", (file, error, response) => {
    const waiting = pending.get(file.id);
    pending.delete(file.id);
    if (uppy.getFile(file.id)) uppy.removeFile(file.id);
    const status = error && typeof error.status === "number" ? error.status : (response && response.status) || 0;
    if (waiting) waiting.reject(new ApiError(error ? error.message : "the upload failed", status));
  });

  // After a reload: Golden Retriever brought back an upload under way; finish it, then show the list.
  uppy.on("restored", () => {
    const files = uppy.getFiles();
    if (!files.length) return;
    const message = document.getElementById("upload-message");
    if (message) message.textContent = `Resuming the upload of ${files.map((f) => f.name).join(", ")}…`;
    // Confirming the restore is what resumes its uploads (each from the parts storage holds);
    // `upload()` would only start files that never started.
    signIn().then(() => uppy.emit("restore-confirmed"));
  });

  function restoredDone(name) {
    const message = document.getElementById("upload-message");
    if (message) message.textContent = `${name} uploaded.`;
    if (!uppy.getFiles().length) location.reload();
  }

  window.directUpload = (file, csrfToken, onProgress) => new Promise((resolve, reject) => {
    csrf = csrfToken;
    let id;
    try {
      id = uppy.addFile({ name: file.name, type: file.type, data: file, source: "page" });
    } catch (error) {
      reject(new ApiError(error.message, 400));
      return;
    }
    pending.set(id, { resolve, reject, onProgress });
    uppy.upload().catch((error) => {
      if (pending.has(id)) { pending.delete(id); reject(new ApiError(error.message, 0)); }
    });
  });

})();
