/* The claims page: a claim's button runs its lessons one after another (over the
 * same JSON API as everything else), waits for each run's `done` on its event stream,
 * then asks the server for the verdict drawn from their numbers.
 *
 * Each claim element carries data-claim (1-12), data-runs ([[slug, params], ...]) and,
 * once judged, data-verdict ("demonstrated", "corrected" or "not-shown").
 */
(function () {
  "use strict";

  const BUSY = new Set([429, 503]); // too many runs for now: the server says when to retry
  const MOST_BUSY_TRIES = 20;

  // Start one run and resolve with its id once its stream says `done`. When the server
  // is busy (a class shares it), wait as long as its Retry-After says, then ask again.
  async function runToEnd(slug, params, say) {
    let response, body;
    for (let tries = 1; ; tries += 1) {
      response = await fetch("/runs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ scenario: slug, params }),
      });
      body = await response.json();
      if (!BUSY.has(response.status) || tries >= MOST_BUSY_TRIES) break;
      const seconds = Math.max(1, Number(response.headers.get("Retry-After")) || 1);
      say(`The server is busy: trying again in ${seconds} s…`);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    }
    if (!response.ok) throw new Error(body.message || JSON.stringify(body));
    await new Promise((resolve) => {
      const source = new EventSource(`/runs/${body.id}/events`);
      source.addEventListener("done", () => { source.close(); resolve(); });
    });
    return body.id;
  }

  async function runClaim(claim) {
    const button = claim.querySelector("[data-run-claim]");
    const text = claim.querySelector("[data-verdict-text]");
    const watch = claim.querySelector("[data-watch]");
    button.disabled = true;
    delete claim.dataset.verdict;
    watch.hidden = true;
    const specs = JSON.parse(claim.dataset.runs);
    const ids = [];
    try {
      for (const [i, [slug, params]] of specs.entries()) {
        text.textContent = `Running ${slug}${specs.length > 1 ? ` (${i + 1} of ${specs.length})` : ""}…`;
        ids.push(await runToEnd(slug, params, (words) => { text.textContent = words; }));
      }
      const query = ids.map((id) => `run=${encodeURIComponent(id)}`).join("&");
      const response = await fetch(`/claims/${claim.dataset.claim}/verdict?${query}`);
      const found = await response.json();
      if (!response.ok) throw new Error(found.message || JSON.stringify(found));
      text.replaceChildren(wordFor(found.verdict), document.createTextNode(" " + found.text));
      claim.dataset.verdict = found.verdict;
      watch.replaceChildren("Watch the run" + (ids.length > 1 ? "s" : "") + ": ",
        ...ids.flatMap((id, i) => {
          const a = document.createElement("a");
          a.href = `/watch/${id}`;
          a.textContent = specs[i][0];
          return i ? [", ", a] : [a];
        }));
      watch.hidden = false;
    } catch (error) {
      text.textContent = "Could not run this claim: " + error.message;
      claim.dataset.verdict = "not-shown";
    } finally {
      button.disabled = false;
    }
  }

  function wordFor(verdict) {
    const span = document.createElement("span");
    span.className = "verdict-word";
    span.dataset.kind = verdict;
    span.textContent = { demonstrated: "Demonstrated.", corrected: "Corrected.", "not-shown": "Not shown." }[verdict] || verdict;
    return span;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const claims = [...document.querySelectorAll(".claim[data-claim]")];
    for (const claim of claims) {
      claim.querySelector("[data-run-claim]").addEventListener("click", () => runClaim(claim));
    }
    const all = document.querySelector("[data-run-all]");
    if (all) {
      all.addEventListener("click", async () => {
        all.disabled = true;
        try {
          for (const claim of claims) await runClaim(claim); // in turn: runs must not compete for the CPU
        } finally {
          all.disabled = false;
        }
      });
    }
  });
})();
