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
        const notice = summary && summary.result && summary.result.notice;
        if (!notice) return;
        box.querySelector("[data-outcome-text]").textContent = notice;
        box.hidden = false;
      });
  }

  document.addEventListener("DOMContentLoaded", () => {
    new MutationObserver((changes) => {
      for (const change of changes) {
        if (change.target.matches && change.target.matches(".run[data-run-id][data-done]")) show(change.target);
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-done"] });
  });
})();
