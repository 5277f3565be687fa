/* After a run ends, show what to notice in *this* run: the notice its scenario wrote
 * from its parameters and measured numbers (result.notice), under the result.
 *
 * Independent of the timeline code: it waits for a run panel's data-done attribute
 * (set when the run's stream ends) and reads the run's summary from the API.
 */
(function () {
  "use strict";

  function show(panel) {
    const box = panel.querySelector("[data-outcome]");
    if (!box || panel.dataset.outcomeAsked) return;
    panel.dataset.outcomeAsked = "1";
    fetch(`/runs/${panel.dataset.runId}`)
      .then((response) => (response.ok ? response.json() : null))
      .then((summary) => {
        const result = summary && summary.result;
        if (!result) return;
        if (result.notice) {
          box.querySelector("[data-outcome-text]").textContent = result.notice;
          box.hidden = false;
        }
        if (result.values && result.values.models) box.after(modelsTable(result.values));
      });
  }

  // The comparison lessons: one row per model, from the run's own numbers.
  const STATE_COLUMNS = [["run", "running"], ["gil", "waiting for the GIL"], ["cpu", "waiting for a core"], ["io", "on I/O"], ["start", "starting"]];

  function modelsTable(values) {
    const table = document.createElement("table");
    table.className = "models";
    table.dataset.models = "";
    const head = ["model", "workers", "time", "speedup", "CPU time", `of ${values.cores} cores`, ...STATE_COLUMNS.map(([, label]) => label)];
    const row = (cells, tag) => {
      const tr = document.createElement("tr");
      for (const text of cells) {
        const cell = document.createElement(tag);
        cell.textContent = text;
        tr.append(cell);
      }
      return tr;
    };
    const pct = (x) => (x * 100).toFixed(0) + " %";
    table.append(row(head, "th"));
    for (const [band, m] of Object.entries(values.models)) {
      const tr = row([band, m.workers, m.wall_ms.toFixed(0) + " ms", m.speedup.toFixed(2) + "×", m.cpu_ms.toFixed(0) + " ms",
        pct(m.utilisation), ...STATE_COLUMNS.map(([state]) => pct(m.states[state] || 0))], "td");
      tr.dataset.model = band;
      table.append(tr);
    }
    return table;
  }

  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver((changes) => {
      for (const change of changes) {
        if (change.target.matches && change.target.matches(".run[data-run-id][data-done]")) show(change.target);
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-done"] });
  });
})();
