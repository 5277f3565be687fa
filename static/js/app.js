/* Page glue: attach a live timeline to every run panel htmx swaps in, feed it from
 * the run's SSE stream, fill the output pane and the result.
 *
 * Interleave.runs[id] = { timeline, source, summary } for each attached run.
 */
(function () {
  "use strict";
  const Interleave = (window.Interleave = window.Interleave || {});
  Interleave.runs = Interleave.runs || {};

  function attach(panel) {
    if (panel.dataset.attached) return;
    panel.dataset.attached = "1";
    const id = panel.dataset.runId;
    const timeline = new Interleave.Timeline(panel.querySelector("canvas.timeline"));
    const output = panel.querySelector("[data-output]");
    const result = panel.querySelector("[data-result]");
    const status = panel.querySelector("[data-status]");
    const state = { timeline, summary: null, lines: [] };
    Interleave.runs[id] = state;
    Interleave.current = state;

    const source = new EventSource(`/runs/${id}/events`);
    state.source = source;
    source.addEventListener("events", (e) => {
      const batch = JSON.parse(e.data);
      timeline.add(batch);
      for (const ev of batch) if (ev[2] === "print") addLine(ev);
    });
    source.addEventListener("done", (e) => {
      source.close(); // otherwise EventSource reconnects when the stream ends
      const summary = JSON.parse(e.data);
      state.summary = summary;
      timeline.finish(summary);
      status.textContent = summary.status;
      status.dataset.status = summary.status;
      panel.dataset.done = summary.status;
      result.textContent = describe(summary);
      result.classList.toggle("bad", summary.status !== "done");
    });

    function addLine(ev) {
      const [t, worker, , , detail] = ev;
      const li = document.createElement("li");
      const lane = timeline.model.byName.get(worker);
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = worker;
      who.style.color = Interleave.LANE_TINTS[(lane ? lane.index : 0) % Interleave.LANE_TINTS.length];
      const time = document.createElement("span");
      time.className = "when";
      time.textContent = (t / 1e6).toFixed(2) + " ms";
      li.append(time, who, document.createTextNode(String(detail)));
      li.dataset.t = t;
      // Batches are time-ordered; a late event from an earlier frame is slotted in place.
      let i = state.lines.length;
      while (i > 0 && state.lines[i - 1] > t) i -= 1;
      output.insertBefore(li, output.children[i] || null);
      state.lines.splice(i, 0, t);
    }

    panel.querySelector("[data-action=stop]").addEventListener("click", () => fetch(`/runs/${id}/stop`, { method: "POST" }));
    panel.querySelector("[data-action=replay]").addEventListener("click", () => {
      timeline.replay(parseFloat(panel.querySelector("[data-speed]").value));
    });
  }

  function describe(summary) {
    if (summary.status === "done") return summary.result.summary + ` · ${summary.duration_ms.toFixed(1)} ms, ${summary.events} events`;
    if (summary.status === "stopped") return "Stopped: " + summary.reason + (summary.result ? " · " + summary.result.summary : "");
    return "Failed: " + summary.error;
  }

  function scan(root) {
    root.querySelectorAll(".run[data-run-id]").forEach(attach);
  }

  document.addEventListener("DOMContentLoaded", () => {
    scan(document);
    new MutationObserver(() => scan(document)).observe(document.body, { childList: true, subtree: true });
    document.querySelectorAll(".pick").forEach((a) =>
      a.addEventListener("click", () => {
        document.querySelectorAll(".pick").forEach((b) => b.classList.toggle("chosen", b === a));
      })
    );
    const toggle = document.querySelector(".projector-toggle");
    if (toggle) {
      // A teacher sets it once; it stays for the next page and the next lesson.
      const saved = localStorage.getItem("interleave.projector") === "1";
      document.documentElement.classList.toggle("projector", saved);
      toggle.setAttribute("aria-pressed", String(saved));
      toggle.addEventListener("click", () => {
        const on = document.documentElement.classList.toggle("projector");
        localStorage.setItem("interleave.projector", on ? "1" : "0");
        toggle.setAttribute("aria-pressed", String(on));
        for (const run of Object.values(Interleave.runs)) run.timeline.requestDraw();
      });
    }
  });
})();
