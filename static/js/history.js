/* The history page: each run's time in the viewer's own time zone (the server writes
 * UTC), for the first rows and for every page of older ones htmx swaps in. */
(function () {
  "use strict";
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function localise(root) {
    root.querySelectorAll("time[datetime]:not([data-local])").forEach((time) => {
      const when = new Date(time.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      time.title = time.textContent; // the server's UTC, on hover
      time.textContent = format.format(when);
      time.dataset.local = "1";
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const rows = document.getElementById("history-rows");
    if (!rows) return;
    localise(rows);
    new MutationObserver(() => localise(rows)).observe(rows, { childList: true });
  });
})();
