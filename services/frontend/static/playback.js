// Playback beacons (POST /api/playback): how long the video took to show its first frame, how often
// and how long it stalled, seconds watched, fatal errors and rendition switches. Each beacon carries what
// happened since the previous one, so the metrics service can add them up in any window.
"use strict";

const BEACON_EVERY_MS = 10_000;

function watchPlayback(video, jobId, hls) {
  const sessionId = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^0-9a-zA-Z-]/g, "");
  let playRequested = null; // startup time runs from the viewer's (or autoplay's) play to the first frame
  let pending = { first: true, rebuffers: 0, rebuffer_s: 0, watched_s: 0, errors: 0, switches: 0 };
  let startupSent = false;
  let stalledSince = null;
  let playingSince = null;
  let rendition = "";

  function clock() {
    // Moves the running stall and watch time into the pending beacon.
    const now = performance.now();
    if (stalledSince !== null) { pending.rebuffer_s += (now - stalledSince) / 1000; stalledSince = now; }
    if (playingSince !== null) { pending.watched_s += (now - playingSince) / 1000; playingSince = now; }
  }

  function send(leaving) {
    clock();
    const beacon = { job_id: jobId, session_id: sessionId, rendition, ...pending };
    beacon.rebuffer_s = Math.min(600, Math.round(beacon.rebuffer_s * 1000) / 1000);
    beacon.watched_s = Math.min(600, Math.round(beacon.watched_s * 1000) / 1000);
    const nothingNew = !beacon.first && beacon.startup_ms === undefined && !beacon.rebuffers && !beacon.errors
      && !beacon.switches && beacon.rebuffer_s === 0 && beacon.watched_s === 0;
    if (nothingNew) return;
    pending = { first: false, rebuffers: 0, rebuffer_s: 0, watched_s: 0, errors: 0, switches: 0 };
    const body = JSON.stringify(beacon);
    if (leaving && navigator.sendBeacon) {
      navigator.sendBeacon("/api/playback", new Blob([body], { type: "application/json" }));
      return;
    }
    fetch("/api/playback", { method: "POST", headers: { "Content-Type": "application/json" }, body, keepalive: true })
      .catch(() => {}); // best effort: a lost beacon only thins the figures
  }

  video.addEventListener("playing", () => {
    if (!startupSent) {
      startupSent = true;
      pending.startup_ms = Math.round(performance.now() - (playRequested ?? performance.now()));
    }
    if (stalledSince !== null) { clock(); stalledSince = null; }
    playingSince ??= performance.now();
    if (pending.startup_ms !== undefined) send(false);
  });
  video.addEventListener("waiting", () => {
    // A stall after the first frame is rebuffering; before it, the wait is startup time.
    if (!startupSent || stalledSince !== null) return;
    clock();
    playingSince = null;
    stalledSince = performance.now();
    pending.rebuffers += 1;
  });
  video.addEventListener("pause", () => { clock(); playingSince = null; });
  video.addEventListener("ended", () => { clock(); playingSince = null; send(false); });
  // hls.js reports its own fatal errors; the element's error is the native player's.
  video.addEventListener("error", () => { if (!hls) { pending.errors += 1; send(false); } });
  if (hls) {
    hls.on(window.Hls.Events.LEVEL_SWITCHED, (_event, data) => {
      const level = hls.levels[data.level];
      const name = level ? `${level.height}p` : "";
      if (rendition && name !== rendition) pending.switches += 1;
      rendition = name;
    });
    hls.on(window.Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) { pending.errors += 1; send(false); }
    });
  }
  video.addEventListener("play", () => {
    if (playRequested !== null) return;
    // The session opens at the first play: it counts even if it never reaches a frame.
    playRequested = performance.now();
    send(false);
    setInterval(() => send(false), BEACON_EVERY_MS);
  });
  addEventListener("pagehide", () => send(true));
}
