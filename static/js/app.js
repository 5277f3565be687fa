/* Page glue: attach a timeline to every run panel htmx swaps in, feed it from the
 * run's SSE stream, fill the output pane and the result; close a panel's stream
 * when the panel leaves the page. Page keys: `r` runs the lesson again; the
 * timeline's keys work from anywhere on the page that is not a form field.
 *
 * Interleave.runs[id] = { timeline, source, summary } for each attached run;
 * Interleave.current is the last one attached.
 */
import { Timeline } from "./controller.js";
import { formatTime } from "./describe.js";
import { Stepper, replayUrl } from "./stepper.js";
import { warmUp } from "./warmup.js";
import V from "/ui/vocabulary.js";

const Interleave = (window.Interleave = Object.assign(window.Interleave || {}, { Timeline, formatTime, vocabulary: V }));
Interleave.runs = Interleave.runs || {};

let stopWarmUp = () => {}; // the made-up run drawn while the page waits (warmup.js)

function attach(panel) {
  if (panel.dataset.attached) return;
  panel.dataset.attached = "1";
  stopWarmUp();
  const id = panel.dataset.runId;
  const timeline = new Timeline(panel);
  const output = panel.querySelector("[data-output]");
  const result = panel.querySelector("[data-result]");
  const status = panel.querySelector("[data-status]");
  const details = panel.querySelector("[data-details]");
  const state = { id, panel, timeline, summary: null, lines: [] };
  Interleave.runs[id] = state;
  Interleave.current = state;
  if (panel.querySelector("[data-stepper]")) state.stepper = new Stepper(state);

  const source = new EventSource(`/runs/${id}/events`);
  state.source = source;
  source.addEventListener("events", (e) => {
    const batch = JSON.parse(e.data);
    timeline.add(batch);
    for (const ev of batch) if (ev[2] === "print") addLine(ev);
    if (details) showDetails(details, timeline.model, state.summary);
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
    const caught = caughtDeadlock(summary);
    result.classList.toggle("bad", summary.status !== "done" && !caught);
    result.classList.toggle("caught", caught);
    if (details) showDetails(details, timeline.model, summary);
    const stop = panel.querySelector("[data-action=stop]");
    if (stop) stop.disabled = true;
    if (state.stepper) state.stepper.finish();
    showReplay(panel, summary);
  });

  function addLine(ev) {
    const [t, worker, , obj, detail] = ev;
    const li = document.createElement("li");
    const lane = timeline.model.byName.get(worker);
    const who = document.createElement("span");
    who.className = "who lane-" + ((lane ? lane.index : 0) % V.laneTints.length);
    who.textContent = worker;
    const time = document.createElement("span");
    time.className = "when";
    time.textContent = (t / 1e6).toFixed(2) + " ms";
    li.append(time, who, document.createTextNode(String(detail)));
    li.dataset.t = t;
    if (obj === "stderr") li.classList.add("stderr"); // what threading.excepthook reported
    // Batches are time-ordered; a late event from an earlier frame is slotted in place.
    let i = state.lines.length;
    while (i > 0 && state.lines[i - 1] > t) i -= 1;
    output.insertBefore(li, output.children[i] || null);
    state.lines.splice(i, 0, t);
  }

  const stop = panel.querySelector("[data-action=stop]");
  if (stop) stop.addEventListener("click", () => fetch(`/runs/${id}/stop`, { method: "POST" }));
}

/** A panel swapped out of the page: close its stream, stop its drawing. */
function detach(state) {
  if (state.source) state.source.close();
  state.timeline.destroy();
  delete Interleave.runs[state.id];
  if (Interleave.current === state) Interleave.current = null;
}

// Under the result: the numbers behind it, the first lost update, the deadlock cycle.
function showDetails(details, model, summary) {
  const values = details.querySelector("[data-values]");
  if (summary && summary.result && values.hidden) {
    const rows = Object.entries(summary.result.values || {});
    values.replaceChildren(...rows.map(([key, value]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th"), td = document.createElement("td");
      th.textContent = key.replace(/_/g, " ");
      td.textContent = typeof value === "object" ? JSON.stringify(value) : String(value);
      tr.dataset.key = key;
      tr.append(th, td);
      return tr;
    }));
    values.hidden = rows.length === 0;
  }
  const lost = details.querySelector("[data-lost-note]");
  if (model.lost.length && lost.hidden) {
    const l = model.lost[0], ms = (t) => (t / 1e6).toFixed(2) + " ms";
    lost.textContent = `A lost update: ${l.worker} read ${l.readValue} at ${ms(l.tRead)}; ` +
      `${l.by} wrote ${l.byValue} at ${ms(l.tBy)}; ${l.worker} wrote ${l.value} at ${ms(l.tWrite)}, ` +
      `overwriting it: ${l.by}'s update is lost. Every pink ring on the lanes is a write that another thread overwrote.`;
    lost.hidden = false;
  }
  const legend = details.closest(".run").querySelector(".legend");
  // the legend names what this run drew, not every state there is
  for (const item of legend.querySelectorAll("[data-legend]")) {
    const key = item.dataset.legend;
    const shown = model.seen.has(key) || (key === "hold" && model.counts.holds > 0) || (key === "link" && model.links > 0);
    if (shown) item.hidden = false;
  }
  const extras = [
    ["reads", model.reads > 0, "swatch read", "read (top tick) / write (bottom tick)"],
    ["lost", model.lost.length > 0, "swatch lost", "lost update"],
    ["reentry", model.reentries > 0, "swatch reentry", "taken again by its holder (RLock)"],
    ["notify", model.counts.notifies > 0, "marker notify", "notify / set"],
    ["put", model.counts.puts > 0, "marker put", "put"],
    ["get", model.counts.gets > 0, "marker get", "get"],
    ["level", model.levels.size > 0, "swatch level", "level over time (under the lanes)"],
  ];
  for (const [key, present, cls, label] of extras) {
    if (!present || legend.querySelector(`[data-legend=${key}]`)) continue;
    const li = document.createElement("li");
    li.dataset.legend = key;
    const sw = document.createElement("span");
    sw.className = cls;
    li.append(sw, label);
    legend.append(li);
  }
  const cycle = details.querySelector("[data-cycle-panel]");
  const b = (text) => { const e = document.createElement("strong"); e.textContent = text; return e; };
  if (model.deadlock && model.deadlock.stuck && cycle.hidden) {
    const title = document.createElement("p");
    title.className = "cycle-title";
    title.textContent = "Deadlock: every thread is waiting, and none is left to wake another";
    const list = document.createElement("ol");
    for (const [worker, obj] of model.deadlock.stuck) {
      const li = document.createElement("li");
      li.append(b(worker), " waits for ", b(obj));
      list.append(li);
    }
    cycle.replaceChildren(title, list);
    cycle.hidden = false;
  } else if (model.deadlock && cycle.hidden) {
    const pairs = model.deadlock.cycle;
    const title = document.createElement("p");
    title.className = "cycle-title";
    title.textContent = pairs.length === 1
      ? "Deadlock: a thread waits for a lock it holds itself"
      : `Deadlock: ${pairs.length} threads wait for each other in a circle`;
    const list = document.createElement("ol");
    pairs.forEach(([worker, obj], i) => {
      const holder = pairs[(i + 1) % pairs.length][0];
      const held = pairs[(i + pairs.length - 1) % pairs.length][1];
      const li = document.createElement("li");
      li.append(b(worker), " holds ", b(held), " and waits for ", b(obj),
        holder === worker ? ", which it holds itself" : ", held by ", ...(holder === worker ? [] : [b(holder)]));
      list.append(li);
    });
    if (pairs.length > 6) {
      // A long ring: one line that reads round it, the full list folded away.
      const ring = document.createElement("p");
      ring.className = "cycle-ring";
      ring.textContent = pairs.slice(0, 3).map(([w, o]) => `${w} → ${o}`).join(" → ") +
        ` → … (${pairs.length - 4} more) … → ${pairs[pairs.length - 1][0]} → ${pairs[pairs.length - 1][1]} → ${pairs[0][0]}`;
      const more = document.createElement("details");
      const label = document.createElement("summary");
      label.textContent = "who holds what and waits for what";
      more.append(label, list);
      cycle.replaceChildren(title, ring, more);
    } else {
      cycle.replaceChildren(title, list);
    }
    cycle.hidden = false;
  }
}

// Step, replay and explore runs: a link that replays the schedule, and the same to share.
function showReplay(panel, summary) {
  const url = replayUrl(summary);
  const links = panel.querySelector("[data-replay]");
  if (!url || !links) return;
  links.querySelector("[data-replay-link]").href = url;
  links.querySelector("[data-replay-share]").href = new URL(url, location.href).href;
  links.hidden = false;
}

// A lesson whose point is the deadlock: the server catching it is the good ending.
function caughtDeadlock(summary) {
  return summary.status === "stopped" && summary.expects_stop && /^deadlock/.test(summary.reason || "");
}

function describe(summary) {
  if (caughtDeadlock(summary)) {
    return "Deadlock caught: the server found a circle of waits and stopped the run, releasing every thread.";
  }
  if (summary.status === "done") {
    return summary.result.summary + ` · ${summary.duration_ms.toFixed(1)} ms, ${summary.events} events, ${summary.recorder} recorder`;
  }
  if (summary.status === "stopped") return "Stopped: " + summary.reason + (summary.result ? " · " + summary.result.summary : "");
  if (summary.status === "interrupted") return "Interrupted: " + summary.reason;
  return "Failed: " + summary.error;
}

function scan() {
  document.querySelectorAll(".run[data-run-id]").forEach(attach);
  for (const state of Object.values(Interleave.runs)) if (!state.panel.isConnected) detach(state);
}

/** Keys for the whole page, unless someone is typing in a form field. */
function onKey(e) {
  const target = e.target;
  if (target.closest && target.closest("input, select, textarea, [contenteditable]")) return; // typing
  // a focused button or link keeps the keys that press it; the others still work (a
  // teacher who clicked Run or a worker's button can go on with the number keys)
  if (target.closest && target.closest("button, a, summary") && (e.key === " " || e.key === "Enter")) return;
  if (e.key === "r" && !e.ctrlKey && !e.metaKey && !e.altKey) {
    const form = document.querySelector("form.params:not([data-readonly])");
    if (form) { e.preventDefault(); form.requestSubmit(); }
    return;
  }
  const current = Interleave.current;
  if (current && current.stepper && current.stepper.onKey(e)) return;
  if (current && target.tagName !== "CANVAS") current.timeline.onKey(e);
}

function relayoutAll() {
  for (const run of Object.values(Interleave.runs)) run.timeline.relayout();
}

function start() {
  scan();
  // htmx swaps run panels into #run; watching only its children keeps every output
  // line appended during a run from triggering a scan of the whole page.
  const runArea = document.getElementById("run");
  if (runArea) new MutationObserver(scan).observe(runArea, { childList: true });
  // a page where a run is yet to start: the timeline's code compiled before it does
  if (runArea && !Object.keys(Interleave.runs).length) stopWarmUp = warmUp();
  // the lesson panel changes height with its notice: the lanes below it move
  const lesson = document.getElementById("scenario");
  if (lesson) new MutationObserver(relayoutAll).observe(lesson, { childList: true });
  document.addEventListener("keydown", onKey);
  // a picker squeezed into one row (phone, projector) scrolls to the lesson shown
  const chosen = document.querySelector(".pick.chosen");
  const nav = chosen && chosen.closest(".picker");
  if (nav && nav.scrollWidth > nav.clientWidth) nav.scrollLeft = chosen.offsetLeft - nav.offsetLeft - nav.clientWidth / 3;
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
      relayoutAll();
    });
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
