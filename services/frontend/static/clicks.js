// Reports clicks on links and on elements marked data-track to POST /api/clicks (fire and forget).
// A link's tracking name is its data-track attribute, or else its path; the page is where it was.
(() => {
  document.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest("a[href], [data-track]") : null;
    if (!target) return;
    let link = target.getAttribute("data-track");
    if (!link && target.href) {
      const url = new URL(target.href, location.href);
      link = url.origin === location.origin ? url.pathname : url.href;
    }
    if (!link) return;
    const body = JSON.stringify({ link: link.slice(0, 200), page: location.pathname.slice(0, 200) });
    // keepalive lets the report outlive the page when the click navigates away.
    fetch("/api/clicks", { method: "POST", body, keepalive: true, headers: { "Content-Type": "application/json" } })
      .catch(() => {});
  }, { capture: true });
})();
