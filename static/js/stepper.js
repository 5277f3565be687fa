/* Step mode on the page: the learner is the scheduler.
 *
 * A step run's panel has a [data-stepper] section: one button per live worker naming
 * the operation it stands before, its line and that line's code; a click (or the worker's number key,
 * or a click on its lane) lets it through with POST /runs/{id}/step. The lesson's code
 * panel marks the line each worker stands at, in its lane's tint (the --lane-N
 * colours of app/palette.py), and each lane shows its next operation at its right end.
 * "Run to the end" hands the rest to the server (round-robin, or random with a seed).
 *
 * replayUrl(summary): the page link that replays a run's schedule (a step run's
 * values.schedule, or explore's failing_schedule).
 */
import V from "/ui/vocabulary.js";

const TINTS = V.laneTints.length;

export function replayUrl(summary) {
  const values = (summary.result && summary.result.values) || {};
  const schedule = values.failing_schedule || (values.mode === "step" || values.mode === "replay" ? values.schedule : null);
  if (!schedule || !schedule.length) return null;
  const query = new URLSearchParams({
    scenario: summary.scenario,
    mode: "replay",
    params: JSON.stringify(summary.params),
    schedule: schedule.join(","),
  });
  return `/?${query}`;
}

/** The lesson's code as one block per line (done once per code panel). */
function codeLines() {
  const code = document.querySelector("#scenario figure.code pre > code");
  if (!code) return [];
  if (!code.dataset.lined) {
    const lines = code.textContent.split("\n");
    code.replaceChildren(...lines.map((text, i) => {
      const line = document.createElement("span");
      line.className = "code-line";
      line.dataset.line = String(i + 1);
      line.textContent = text || " ";
      return line;
    }));
    code.dataset.lined = "1";
  }
  return [...code.children];
}

function opText(w) {
  // a join's object already says "join Thread-1"
  const what = w.obj.startsWith(w.op + " ") ? w.obj : w.obj ? `${w.op} ${w.obj}` : w.op === "begin" ? "begin its first line" : w.op;
  return w.line ? `${what} · line ${w.line}` : what;
}

export class Stepper {
  constructor(state) {
    this.state = state;
    this.el = state.panel.querySelector("[data-stepper]");
    this.list = this.el.querySelector("[data-step-workers]");
    this.message = this.el.querySelector("[data-step-message]");
    this.count = this.el.querySelector("[data-step-count]");
    this.busy = false;
    this.ended = false;
    this.workers = [];
    this.el.querySelectorAll("[data-step-end]").forEach((button) =>
      button.addEventListener("click", () => this.toTheEnd(button.dataset.stepEnd)));
    state.panel.addEventListener("lane-click", (e) => this.step(e.detail.worker));
    this.refresh();
  }

  url(path) { return `/runs/${this.state.id}/${path}`; }

  async refresh() {
    const response = await fetch(this.url("ready"));
    const body = await response.json();
    if (response.ok && body.status === "running") this.render(body);
    else if (response.ok) this.finish();
    else this.say(body.message);
  }

  async step(worker) {
    if (this.busy || this.ended) return;
    this.busy = true;
    try {
      const response = await fetch(this.url("step"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ worker }),
      });
      const body = await response.json();
      if (response.ok) { this.say(""); this.render(body); }
      else this.say(body.message);
    } finally {
      this.busy = false;
    }
  }

  async toTheEnd(policy) {
    if (this.ended) return;
    const seed = Number(this.el.querySelector("[data-step-seed]").value) || 0;
    const response = await fetch(this.url("run-to-end"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ policy, seed }),
    });
    if (!response.ok) { this.say((await response.json()).message); return; }
    this.say(policy === "random" ? `Running to the end at random (seed ${seed})…` : "Running to the end, round-robin…");
  }

  say(text) { this.message.textContent = text; }

  /** The tint index of a worker: its lane's, so the colours match the drawing. */
  tint(worker, live) {
    const lane = this.state.timeline.model.byName.get(worker);
    return (lane ? lane.index : Math.max(0, live.indexOf(worker))) % TINTS;
  }

  render(body) {
    this.workers = body.workers;
    const lines = codeLines();
    this.count.textContent = `${body.schedule.length} step${body.schedule.length === 1 ? "" : "s"} so far`;
    this.list.replaceChildren(...body.workers.map((w, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.worker = w.worker;
      button.className = `step-worker lane-${this.tint(w.worker, body.live)}`;
      const blocked = w.waiting && !w.ready;
      button.disabled = blocked;
      const key = document.createElement("kbd");
      key.textContent = i < 9 ? String(i + 1) : "";
      const name = document.createElement("strong");
      name.textContent = w.worker;
      const op = document.createElement("span");
      op.className = "step-op";
      op.textContent = opText(w);
      // the line itself, beside the lanes: the code panel may be below the fold
      // (without its comment: the code panel has it)
      const text = w.line && lines[w.line - 1] ? lines[w.line - 1].firstChild.textContent.replace(/\s+#.*$/, "").trim() : "";
      const code = document.createElement("code");
      code.className = "step-code";
      code.textContent = text;
      const how = document.createElement("span");
      how.className = "step-how";
      how.textContent = blocked ? "waiting" : w.ready ? "ready" : "would block";
      button.title = blocked ? `${w.worker} waits: another worker must act first`
        : w.ready ? `Let ${w.worker} ${opText(w)}` : `${w.worker} would block: stepping it puts it into its wait`;
      button.append(key, name, op, ...(text ? [code] : []), how);
      button.addEventListener("click", () => this.step(w.worker));
      li.append(button);
      return li;
    }));
    this.state.timeline.showNext(new Map(body.workers.map((w) => [w.worker, "next: " + opText(w)])));
    this.highlight(body);
  }

  highlight(body) {
    const lines = codeLines();
    for (const line of lines) {
      delete line.dataset.at;
      line.style.removeProperty("--at");
      line.querySelectorAll(".code-at").forEach((at) => at.remove());
    }
    for (const w of body.workers) {
      const line = w.line && lines[w.line - 1];
      if (!line) continue;
      const tint = `var(--lane-${this.tint(w.worker, body.live)})`;
      if (line.dataset.at === undefined) {
        line.dataset.at = w.worker;
        line.style.setProperty("--at", tint);
      }
      let at = line.querySelector(".code-at"); // every worker standing here, in one marker
      if (!at) {
        at = document.createElement("span");
        at.className = "code-at";
        line.append(at);
      }
      const who = document.createElement("span");
      who.className = "code-who";
      who.style.color = tint;
      who.textContent = ` ◀ ${w.worker}`;
      at.append(who);
    }
  }

  /** The run ended: nothing is left to step. */
  finish() {
    this.ended = true;
    this.say("");
    this.count.textContent += this.count.textContent ? ": the run has ended" : "";
    this.list.replaceChildren();
    this.el.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    this.state.timeline.showNext(null);
    this.highlight({ workers: [], live: [] });
  }

  /** Keys 1-9 step the n-th worker listed. True if the key was one. */
  onKey(e) {
    if (this.ended || e.ctrlKey || e.metaKey || e.altKey || !/^[1-9]$/.test(e.key)) return false;
    const w = this.workers[Number(e.key) - 1];
    if (!w) return false;
    e.preventDefault();
    this.step(w.worker);
    return true;
  }
}
