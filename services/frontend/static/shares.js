// Share links in the owner's pages: on an upload's page (#shares with data-job-id) its links, a form
// that makes one (its address is shown once: only a hash of it is stored) and Revoke; on the profile
// page (#shares without a job) all of the user's links. API: /api/jobs/{id}/shares, /api/shares.
"use strict";

(() => {
  const section = document.getElementById("shares");
  if (!section) return;
  const jobId = section.dataset.jobId || null;
  const csrfToken = document.querySelector("meta[name=csrf-token]")?.content || "";
  const list = document.getElementById("share-list");
  const empty = document.getElementById("no-shares");
  const message = document.getElementById("share-message");
  const form = document.getElementById("share-form");
  const created = document.getElementById("share-created");
  const createdUrl = document.getElementById("share-url");

  const when = (iso) => new Date(iso).toLocaleString();

  async function problem(response) {
    try {
      return (await response.json()).detail || `HTTP ${response.status}`;
    } catch {
      return `HTTP ${response.status}`;
    }
  }

  function row(link) {
    const item = document.createElement("li");
    item.className = "share";
    item.dataset.shareId = link.id;
    const what = document.createElement(jobId ? "span" : "a");
    if (jobId) {
      what.textContent = `Link made ${when(link.created_at)}`;
    } else {
      what.href = `/uploads/${encodeURIComponent(link.job_id)}`;
      what.textContent = link.filename;
    }
    const state = document.createElement("span");
    state.className = "share-state";
    state.textContent = link.expired ? `expired ${when(link.expires_at)}` : `until ${when(link.expires_at)}`;
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke the link to ${link.filename} made ${when(link.created_at)}`);
    revoke.addEventListener("click", () => revokeLink(link.id));
    item.append(what, " ", state, " ", revoke);
    return item;
  }

  async function load() {
    const response = await fetch(jobId ? `/api/jobs/${jobId}/shares` : "/api/shares");
    if (!response.ok) {
      message.textContent = await problem(response);
      return;
    }
    const links = await response.json();
    list.replaceChildren(...links.map(row));
    list.hidden = links.length === 0;
    empty.hidden = links.length > 0;
  }

  async function revokeLink(id) {
    const response = await fetch(`/api/shares/${encodeURIComponent(id)}`, {
      method: "DELETE",
      headers: { "X-CSRF-Token": csrfToken },
    });
    message.textContent = response.ok || response.status === 404 ? "The link no longer works." : await problem(response);
    if (created) created.hidden = true;
    await load();
  }

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const expiresIn = Number(new FormData(form).get("expires_in_s"));
    const response = await fetch(`/api/jobs/${jobId}/shares`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
      body: JSON.stringify({ expires_in_s: expiresIn }),
    });
    if (!response.ok) {
      message.textContent = await problem(response);
      return;
    }
    const link = await response.json();
    createdUrl.value = link.url;
    created.hidden = false;
    message.textContent = "Link made. Copy it now: it is shown only once.";
    createdUrl.select();
    await load();
  });

  document.getElementById("share-copy")?.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(createdUrl.value);
      message.textContent = "Copied.";
    } catch {
      createdUrl.select();
      message.textContent = "Select the address and copy it.";
    }
  });

  load();
})();
