// A shared upload's page (templates/share.html): plays its HLS video, natively (Safari) or with the
// vendored hls.js. The page's playlist and segment URLs are already signed by the site.
"use strict";

const player = document.getElementById("player");
const message = document.getElementById("share-message");

function loadHls() {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = "/vendor/hls/hls.min.js";
    script.onload = () => resolve(window.Hls);
    script.onerror = () => reject(new Error("could not load the HLS player"));
    document.head.append(script);
  });
}

// hls.js wherever Media Source Extensions exist (it plays every rendition of the package, and the
// same way in every browser); the browser's own HLS (Safari on iPhones) elsewhere.
async function play() {
  if (!player) return;
  const url = player.dataset.src;
  const native = player.canPlayType("application/vnd.apple.mpegurl");
  if (!(window.MediaSource || window.ManagedMediaSource) && native) {
    player.src = url;
    return;
  }
  try {
    const Hls = await loadHls();
    if (!Hls.isSupported()) {
      if (!native) throw new Error("this browser cannot play HLS");
      player.src = url;
      return;
    }
    const hls = new Hls();
    hls.loadSource(url);
    hls.attachMedia(player);
  } catch (error) {
    message.textContent = error.message;
  }
}

// Sizes in the table read as people read them (formatBytes() comes from job-format.js).
for (const cell of document.querySelectorAll("td[data-bytes]")) {
  cell.textContent = formatBytes(Number(cell.dataset.bytes));
}
play();
