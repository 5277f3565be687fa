/* Sentences about a run, from the model: what happens at a moment, and what a
 * segment, a hold, an arrow or a mark means. No DOM here; the words for the states
 * come from the vocabulary (app/palette.py). */
import V from "/ui/vocabulary.js";
import { STATE } from "./model.js";


/** A time for people: 850 ns, 12.3 µs, 12.30 ms, 1.234 s. */
export function formatTime(ns) {
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  if (a < 1e6) return `${(ns / 1e3).toFixed(a < 1e4 ? 2 : 1)} µs`;
  if (a < 1e9) return `${(ns / 1e6).toFixed(2)} ms`;
  return `${(ns / 1e9).toFixed(3)} s`;
}

/** A, A and B, A, B and C, A, B, C and 4 others. */
export function names(list, most = 3) {
  if (list.length <= most + 1) {
    return list.length < 2 ? list.join("") : `${list.slice(0, -1).join(", ")} and ${list[list.length - 1]}`;
  }
  return `${list.slice(0, most).join(", ")} and ${list.length - most} others`;
}

/** The look (colour, words) of a state code. */
export function lookOf(state) {
  return V.states[state];
}

function range(t0, t1) {
  return t1 === null || t1 === undefined ? `from ${formatTime(t0)}` : `${formatTime(t0)}–${formatTime(t1)} (${formatTime(t1 - t0)})`;
}

function waitsFor(obj, many) {
  if (obj.startsWith("join ")) return `${many ? "wait" : "waits"} to join ${obj.slice(5)}`;
  if (obj.startsWith("start ")) return `${many ? "wait" : "waits"} for ${obj.slice(6)} to start`;
  return `${many ? "wait" : "waits"} for ${obj || "something"}`;
}

/** What every lane is doing at t, in one paragraph. */
export function describeMoment(model, t) {
  if (!model.lanes.length) return "Nothing recorded yet.";
  const parts = [];
  const waiting = new Map(); // obj -> [{ lane, since }]
  const byState = new Map(); // look key -> [lane names]
  const held = []; // { lane, hold }
  for (const lane of model.lanes) {
    const seg = model.stateAt(lane, t);
    if (!seg) continue;
    for (const h of model.holdsAt(lane, t)) held.push(model.hold(lane, h));
    if (seg.state === STATE.wait) {
      if (!waiting.has(seg.obj)) waiting.set(seg.obj, []);
      waiting.get(seg.obj).push({ lane: lane.name, since: seg.t0 });
      continue;
    }
    const look = lookOf(seg.state);
    if (!byState.has(look.key)) byState.set(look.key, []);
    byState.get(look.key).push(seg.state === STATE.crash ? `${lane.name} (${firstLine(seg.detail)})` : lane.name);
  }
  // holders first, each with who waits for what they hold
  const holders = new Map(); // obj -> holds
  for (const hold of held) {
    if (!holders.has(hold.obj)) holders.set(hold.obj, []);
    holders.get(hold.obj).push(hold);
  }
  for (const [obj, holds] of holders) {
    const who = holds.map((h) => h.lane.name);
    const since = holds.length === 1 ? ` (for ${formatTime(t - holds[0].t0)} so far)` : "";
    let text = `${names(who)} ${who.length > 1 ? "hold" : "holds"} ${obj}${since}`;
    const waiters = waiting.get(obj);
    if (waiters) {
      text += `; ${waitersText(waiters, "it")}`;
      waiting.delete(obj);
    }
    parts.push(text);
  }
  for (const [obj, waiters] of waiting) {
    const many = waiters.length > 1;
    parts.push(`${names(waiters.map((w) => w.lane))} ${waitsFor(obj, many)}${sinceText(waiters)}`);
  }
  for (const look of V.states) {
    const who = byState.get(look.key);
    if (!who) continue;
    parts.push(`${names(who)} ${who.length > 1 ? look.plural : look.phrase}`);
  }
  return `${formatTime(t)}: ${parts.join("; ")}.`;
}

function waitersText(waiters, what) {
  const many = waiters.length > 1;
  return `${names(waiters.map((w) => w.lane))} ${many ? "wait" : "waits"} for ${what}${sinceText(waiters)}`;
}

function sinceText(waiters) {
  if (waiters.length <= 3) return ` (since ${names(waiters.map((w) => formatTime(w.since)))})`;
  const first = Math.min(...waiters.map((w) => w.since));
  return ` (the longest since ${formatTime(first)})`;
}

function firstLine(detail) {
  return String(detail || "crashed").split("\n")[0];
}

/** One segment of a lane, at the time t the pointer is on. */
export function describeSegment(model, seg, t) {
  const lane = seg.lane;
  const look = lookOf(seg.state);
  const when = range(seg.t0, model.done || seg.t1 < model.tMax ? seg.t1 : null);
  let text;
  if (seg.state === STATE.wait) {
    text = `${when}: ${lane.name} ${waitsFor(seg.obj, false)}`;
    const holders = seg.obj ? model.holdersOf(seg.obj, t).filter((h) => h.lane !== lane) : [];
    if (holders.length) text += `, held by ${names(holders.map((h) => h.lane.name))} at ${formatTime(t)}`;
    if (seg.endedBy) text += `; ${seg.endedBy} woke it at ${formatTime(seg.t1)}`;
  } else if (seg.state === STATE.crash) {
    text = `${formatTime(seg.t0)}: ${lane.name} crashed: ${firstLine(seg.detail)}`;
  } else {
    text = `${when}: ${lane.name} ${look.phrase}`;
    if (seg.obj && seg.state === STATE.run && lane.kind === "pool-worker") text += ` (task ${seg.obj})`;
    const holds = model.holdsAt(lane, t).map((h) => model.hold(lane, h).obj);
    if (holds.length) text += `, holding ${names(holds)}`;
    if (seg.by) text += `; ${seg.by} woke it at ${formatTime(seg.t0)}`;
    else if (seg.detail === "timed out") text += ", after its wait timed out";
  }
  if (seg.state === STATE.gil || seg.state === STATE.cpu) text += " (estimated from CPU clocks)";
  return text + ".";
}

/** A hold bar: who held what, for how long, who waited for it meanwhile. */
export function describeHold(model, hold) {
  const end = hold.t1 === null ? model.tMax : hold.t1;
  let text = `${range(hold.t0, hold.t1)}: ${hold.lane.name} holds ${hold.obj}`;
  if (hold.again) text += `, and takes it again ${hold.again === 1 ? "once" : `${hold.again} times`} inside (re-entry)`;
  const waiters = [];
  for (const lane of model.lanes) {
    if (lane === hold.lane) continue;
    const first = Math.max(0, lane.segmentAt(hold.t0));
    for (let i = first; i < lane.t0.n && lane.t0.a[i] < end; i += 1) {
      if (lane.st.a[i] === STATE.wait && model.text(lane.obj.a[i]) === hold.obj && model.segmentEnd(lane, i) > hold.t0) {
        waiters.push(lane.name);
        break;
      }
    }
  }
  if (waiters.length) text += `; ${names(waiters)} ${waiters.length > 1 ? "wait" : "waits"} for it meanwhile`;
  return text + ".";
}

/** An arrow: who woke whom. */
export function describeLink(model, link) {
  const waited = model.stateAt(link.to, link.t1 - 1);
  const since = waited && waited.state === STATE.wait ? `, which waited since ${formatTime(waited.t0)}` : "";
  if (link.obj.startsWith("start ")) {
    const waitedSince = since ? ` since ${formatTime(waited.t0)}` : "";
    return `${formatTime(link.t1)}: ${link.from} started running, which let ${link.to.name} go on (it waited for it to start${waitedSince}).`;
  }
  if (link.obj.startsWith("join ")) {
    const waitedSince = since ? ` since ${formatTime(waited.t0)}` : "";
    return `${formatTime(link.t0)}: ${link.from} ended, which let ${link.to.name} go on (it waited to join it${waitedSince}).`;
  }
  const did = { release: `released ${link.obj}`, notify: `signalled ${link.obj}`, put: `put an item into ${link.obj}` }[link.action]
    || `handed ${link.obj} over`;
  return `${formatTime(link.t0)}: ${link.from} ${did} and woke ${link.to.name}${since}; ${link.to.name} goes on at ${formatTime(link.t1)}.`;
}

/** An instant: a print, a notify, a put, a read... */
export function describeInstant(model, lane, kind, t, obj, detail) {
  const at = `${formatTime(t)}: ${lane.name}`;
  const value = detail === null || detail === undefined ? "" : String(detail);
  switch (kind) {
    case "print": return `${at} prints “${value}”.`;
    case "notify": return `${at} signals ${obj}.`;
    case "put": return `${at} puts ${value || "an item"} into ${obj}.`;
    case "get": return `${at} gets ${value || "an item"} from ${obj}.`;
    case "read": return `${at} reads ${obj}: ${value}.`;
    case "write": return `${at} writes ${obj} = ${value}.`;
    case "result": return `${at} produces ${value}.`;
    case "mark": return `${formatTime(t)}: ${obj}${value ? ": " + value : ""}.`;
    default: return `${at}: ${kind} ${obj} ${value}.`;
  }
}

/** A count badge: marks too close together to draw one by one. */
export function describeBadge(lane, badge) {
  const what = [];
  if (badge.links) what.push(`${badge.links.toLocaleString("en")} ${badge.links === 1 ? "hand-over" : "hand-overs"}`);
  if (badge.instants) what.push(`${badge.instants.toLocaleString("en")} other ${badge.instants === 1 ? "event" : "events"}`);
  return `${formatTime(badge.t0)}–${formatTime(badge.t1)}: ${what.join(" and ")} on ${lane}, too close together to draw one by one: zoom in to see them.`;
}

/** A folded group of lanes, at t. */
export function describeGroup(model, group, t) {
  const counts = new Map();
  for (const lane of group.lanes) {
    const seg = model.stateAt(lane, t);
    if (!seg) continue;
    const look = lookOf(seg.state);
    const key = seg.state === STATE.wait ? `${look.plural} ${seg.obj}`.trim() : look.plural;
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  const parts = [...counts].map(([words, n]) => `${n} ${words}`);
  return `${group.label}, folded (${group.lanes.length} lanes): at ${formatTime(t)} ${parts.join(", ") || "nothing yet"}. Click to unfold.`;
}
