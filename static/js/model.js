/* The timeline model: every event of a run, kept in typed-array columns per lane,
 * and the questions the renderer and the sentences ask of it. No DOM here.
 *
 * Events arrive as arrays [t_ns, worker, kind, obj, detail, link] (app/timeline.py).
 * A lane is a step function of state over time (segment i lasts from t0[i] to
 * t0[i+1]); holds (acquire..release of one object), instants and incoming links
 * ("who woke this lane") sit beside it, each sorted by time so that a window of the
 * run is found by binary search. A million events take ~25 MB here.
 */
import V from "/ui/vocabulary.js";

// A state code per look (app/palette.py): the event kinds that are states, and `cpu`,
// which a `gil` event becomes when it waits for a core rather than for the GIL.
export const STATE_KINDS = V.states.map((look) => look.key); // index = state code
export const NSTATES = STATE_KINDS.length;
export const STATE = Object.fromEntries(STATE_KINDS.map((kind, code) => [kind, code]));
const IS_STATE = new Set(V.stateKinds);
export const INSTANT_KINDS = V.instantKinds;
const INSTANT = Object.fromEntries(INSTANT_KINDS.map((kind, code) => [kind, code]));
const FINAL = new Set(V.finalKinds.map((kind) => STATE[kind]));
const CPU_WAIT_LANES = new Set(V.cpuWaitLanes);
const NONE = -1;
const NO_ACTION = 255;

// Events counted as they arrive, by kind: the name of their counter (tests read them).
const COUNTED = { wait: "waits", crash: "crashes", gil: "gil", print: "prints", notify: "notifies", put: "puts", get: "gets" };
const WAKERS = new Set(["release", "notify", "put"]); // may end another worker's wait
const NOT_INSTANTS = new Set(["acquire", "release", "level"]); // kept as holds and gauges

/* A growable typed array: push() amortised O(1), `a` is the storage (valid up to n). */
class Column {
  constructor(Type, capacity = 16) {
    this.Type = Type;
    this.a = new Type(capacity);
    this.n = 0;
  }
  push(value) {
    if (this.n === this.a.length) this.grow(this.n * 2);
    this.a[this.n++] = value;
  }
  grow(capacity) {
    const b = new this.Type(capacity);
    b.set(this.a.subarray(0, this.n));
    this.a = b;
  }
  /** Give back the room kept for growth (a finished run grows no more). */
  trim() {
    if (this.a.length > this.n) this.a = this.a.slice(0, Math.max(1, this.n));
  }

  /** Insert at i (an out-of-order event: rare, O(n)). */
  insert(i, value) {
    if (this.n === this.a.length) this.grow(this.n * 2);
    this.a.copyWithin(i + 1, i, this.n);
    this.a[i] = value;
    this.n += 1;
  }
}

/** First index in a[lo..n) whose value is > t (a sorted column). */
export function upperBound(a, n, t, lo = 0) {
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in a[0..n) whose value is >= t. */
export function lowerBound(a, n, t) {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Lane {
  constructor(name, index) {
    this.name = name;
    this.index = index; // order of first appearance
    this.kind = ""; // main, thread, process, pool-worker
    this.band = ""; // from the obj of its `start`: lanes of a band are drawn together
    this.end = NaN; // time of its done/crash
    // segments: state from t0[i] until t0[i+1]
    this.t0 = new Column(Float64Array);
    this.st = new Column(Uint8Array);
    this.obj = new Column(Int32Array); // string id: what a wait waits for, a task's name
    this.by = new Column(Int32Array); // string id: who ended the wait before this segment
    this.detail = new Map(); // segment index -> detail (an error, "timed out")
    // cum[s].a[i]: time spent in state s before segment i (made when s first shows):
    // the time in s over any window is two lookups, whatever the number of segments
    this.cum = new Array(NSTATES).fill(null);
    this.states = []; // the state codes this lane has been in
    this.times = new Column(Float64Array); // every event of the lane, for stepping
    // holds: obj held from h0 to h1 (NaN: still held); parent = the hold open when it began
    this.h0 = new Column(Float64Array);
    this.h1 = new Column(Float64Array);
    this.hObj = new Column(Int32Array);
    this.hParent = new Column(Int32Array);
    this.hAgain = new Column(Int32Array); // times its holder took it again (RLock)
    this.open = new Map(); // obj id -> { hold, depth, inner }
    // cover: when it held anything (outermost holds), with the held time before each
    this.c0 = new Column(Float64Array);
    this.c1 = new Column(Float64Array);
    this.cCum = new Column(Float64Array);
    // re-entries: an RLock taken again by its holder, r0..r1 inside hold rHold
    this.r0 = new Column(Float64Array);
    this.r1 = new Column(Float64Array);
    this.rHold = new Column(Int32Array);
    // instants: notify, put, get, print, result, mark...
    this.i0 = new Column(Float64Array);
    this.iKind = new Column(Uint8Array);
    this.iObj = new Column(Int32Array);
    this.iDetail = [];
    // links into this lane: `from` woke it; l0 = when `from` acted, l1 = when this lane went on
    this.l0 = new Column(Float64Array);
    this.l1 = new Column(Float64Array);
    this.lFrom = new Column(Int32Array);
    this.lObj = new Column(Int32Array);
    this.lKind = new Column(Uint8Array); // what `from` did: release, notify, put (instant code)
  }

  get segments() { return this.t0.n; }
  /** Does a `gil` state on this lane mean "waiting for a CPU core"? */
  get waitsForCores() { return CPU_WAIT_LANES.has(this.kind); }
  /** Index of the segment in force at t, or -1 before the lane began. */
  segmentAt(t) { return upperBound(this.t0.a, this.t0.n, t) - 1; }
}

export class Model {
  constructor() {
    this.lanes = [];
    this.byName = new Map();
    this.bands = []; // band names in order of first appearance ("" = none)
    this.strings = [""];
    this.stringIds = new Map([["", 0]]);
    this.tMax = 0;
    this.events = 0;
    this.done = false;
    this.summary = null;
    this.version = 0; // bumped by every change: caches compare it
    this.marks = []; // { t, obj, detail } from the runner
    this.levels = new Map(); // gauge obj -> { obj, index, t: Column, v: Column, max }
    this.shared = new Map(); // shared variable -> { version, writer, tWrite, value, reads }
    this.lost = []; // writes that overwrote another worker's update
    this.deadlock = null; // { t, cycle: [[worker, obj]...], stuck?: [[worker, obj]...] }
    this.reentries = 0;
    this.reads = 0;
    this.writes = 0;
    this.links = 0;
    this.counts = { waits: 0, holds: 0, prints: 0, crashes: 0, gil: 0, notifies: 0, puts: 0, gets: 0, levelPoints: 0 };
    this.seen = new Set(); // the looks drawn so far (run, wait, cpu...): the legend shows these
    this.lastAction = new Map(); // "worker|obj" -> { t, kind } of its last release/notify/put
  }

  id(text) {
    const s = text === null || text === undefined ? "" : String(text);
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  text(id) { return id === NONE ? "" : this.strings[id]; }

  lane(name) {
    let lane = this.byName.get(name);
    if (!lane) {
      lane = new Lane(name, this.lanes.length);
      lane.kind = name === "main" ? "main" : "";
      this.byName.set(name, lane);
      this.lanes.push(lane);
      if (!this.bands.includes("")) this.bands.push("");
    }
    return lane;
  }

  /** Take a batch of wire events. */
  add(batch) {
    const n = this.counts;
    let lane = null;
    for (let e = 0; e < batch.length; e += 1) {
      const event = batch[e];
      const t = event[0], worker = event[1], kind = event[2], obj = event[3], detail = event[4], link = event[5];
      this.events += 1;
      const counter = COUNTED[kind];
      if (counter) n[counter] += 1;
      if (t > this.tMax) this.tMax = t;
      if (!lane || lane.name !== worker) lane = this.lane(worker);
      const state = IS_STATE.has(kind) ? STATE[kind] : undefined;
      const ordered = lane.times.n === 0 || t >= lane.times.a[lane.times.n - 1];
      if (ordered) lane.times.push(t);
      else lane.times.insert(upperBound(lane.times.a, lane.times.n, t), t);
      if (state !== undefined) {
        this.addState(lane, t, state, kind, obj, detail, link);
      } else if (kind === "acquire") {
        this.acquire(lane, t, this.id(obj), detail);
      } else if (kind === "release") {
        this.release(lane, t, this.id(obj), detail);
      } else if (kind === "level") {
        this.addLevel(t, obj, detail);
      } else if (kind === "read" || kind === "write") {
        this.addAccess(t, lane, kind, obj, detail);
      }
      if (WAKERS.has(kind)) this.lastAction.set(worker + "|" + obj, { t, kind });
      if (kind === "mark") this.addMark(t, obj, detail);
      if (state === undefined && !NOT_INSTANTS.has(kind)) {
        const last = lane.i0.n;
        const i = last === 0 || lane.i0.a[last - 1] <= t ? last : upperBound(lane.i0.a, last, t);
        if (i === last) {
          lane.i0.push(t); lane.iKind.push(INSTANT[kind] ?? 0); lane.iObj.push(this.id(obj)); lane.iDetail.push(detail);
        } else {
          lane.i0.insert(i, t); lane.iKind.insert(i, INSTANT[kind] ?? 0); lane.iObj.insert(i, this.id(obj));
          lane.iDetail.splice(i, 0, detail);
        }
      }
      if (link) this.addLink(lane, t, link, obj);
    }
    this.version += 1;
  }

  addState(lane, t, state, kind, obj, detail, link) {
    if (kind === "start") {
      if (detail) lane.kind = String(detail);
      if (obj) lane.band = String(obj);
      if (!this.bands.includes(lane.band)) this.bands.push(lane.band);
    }
    if (!lane.kind) lane.kind = "thread";
    // What a `gil` state waits for: its obj says ("GIL" or "CPU", app/sampler.py), else
    // the lane's kind (a process has a GIL of its own: it waits for a core).
    if (state === STATE.gil && (obj === "CPU" || (obj !== "GIL" && lane.waitsForCores))) state = STATE.cpu;
    const seg = lane.t0;
    let i = seg.n;
    if (!lane.cum[state] && !FINAL.has(state)) {
      // first time in this state: no time in it before now (a final state lasts no
      // time: the lane ends there, so it needs no sums)
      const column = new Column(Float64Array, Math.max(16, seg.a.length));
      column.n = seg.n;
      lane.cum[state] = column;
      lane.states.push(state);
    }
    if (i > 0 && t < seg.a[i - 1]) {
      // Late (another thread wrote it, e.g. a sampler): slot it in place.
      i = upperBound(seg.a, seg.n, t);
      seg.insert(i, t); lane.st.insert(i, state); lane.obj.insert(i, this.id(obj)); lane.by.insert(i, link ? this.id(link) : NONE);
      for (const s of lane.states) lane.cum[s].push(0);
      this.recount(lane, i);
      const moved = new Map();
      for (const [k, v] of lane.detail) moved.set(k >= i ? k + 1 : k, v);
      lane.detail = moved;
    } else {
      seg.push(t); lane.st.push(state); lane.obj.push(this.id(obj)); lane.by.push(link ? this.id(link) : NONE);
      const before = i > 0 ? lane.st.a[i - 1] : -1, spent = i > 0 ? t - seg.a[i - 1] : 0;
      for (const s of lane.states) {
        const cum = lane.cum[s];
        cum.push(i > 0 ? cum.a[i - 1] + (before === s ? spent : 0) : 0);
      }
    }
    if (detail !== null && detail !== undefined && kind !== "start") lane.detail.set(i, detail);
    if (FINAL.has(state)) lane.end = t;
    this.seen.add(STATE_KINDS[state]);
  }

  /** Redo the per-state sums from segment `from` on (after a late insert). */
  recount(lane, from) {
    const t0 = lane.t0.a, st = lane.st.a;
    for (const s of lane.states) {
      const cum = lane.cum[s].a;
      for (let i = Math.max(1, from); i < lane.t0.n; i += 1) cum[i] = cum[i - 1] + (st[i - 1] === s ? t0[i] - t0[i - 1] : 0);
      if (from === 0) cum[0] = 0;
    }
  }

  acquire(lane, t, obj, detail) {
    const open = lane.open.get(obj);
    if (open) {
      // Taken again by its holder (RLock): the same hold, one level deeper.
      open.depth = typeof detail === "number" ? detail : open.depth + 1;
      if (open.depth === 2) {
        lane.r0.push(t); lane.r1.push(NaN); lane.rHold.push(open.hold);
        open.inner = lane.r0.n - 1;
      }
      lane.hAgain.a[open.hold] += 1;
      this.reentries += 1;
      return;
    }
    // the innermost hold still open is its parent (see holdsAt)
    let parent = NONE;
    for (const o of lane.open.values()) if (o.hold > parent) parent = o.hold;
    lane.h0.push(t); lane.h1.push(NaN); lane.hObj.push(obj); lane.hParent.push(parent); lane.hAgain.push(0);
    if (!lane.open.size) {
      // it held nothing: a new stretch of its cover
      const n = lane.c0.n;
      lane.cCum.push(n ? lane.cCum.a[n - 1] + (lane.c1.a[n - 1] - lane.c0.a[n - 1]) : 0);
      lane.c0.push(t); lane.c1.push(NaN);
    }
    lane.open.set(obj, { hold: lane.h0.n - 1, depth: 1, inner: NONE });
    this.counts.holds += 1;
  }

  release(lane, t, obj, detail) {
    const open = lane.open.get(obj);
    if (!open) return;
    open.depth = typeof detail === "number" ? detail : open.depth - 1;
    if (open.depth <= 1 && open.inner !== NONE && Number.isNaN(lane.r1.a[open.inner])) lane.r1.a[open.inner] = t;
    if (open.depth <= 0) {
      lane.h1.a[open.hold] = t;
      lane.open.delete(obj);
      if (!lane.open.size) lane.c1.a[lane.c0.n - 1] = t;
    }
  }

  addLink(lane, t, link, obj) {
    const action = this.lastAction.get(link + "|" + obj);
    let from = action ? action.t : undefined, kind = action ? INSTANT[action.kind] : NO_ACTION;
    if (from === undefined) {
      const waker = this.byName.get(link);
      from = waker && !Number.isNaN(waker.end) ? waker.end : t; // e.g. a join: woken by the end of the lane
    }
    lane.l0.push(from); lane.l1.push(t); lane.lFrom.push(this.id(link)); lane.lObj.push(this.id(obj)); lane.lKind.push(kind);
    this.links += 1;
  }

  /** Link k into a lane: { to, from, t0, t1, obj, action } (action: release, notify, put or ""). */
  link(lane, k) {
    const code = lane.lKind.a[k];
    return {
      to: lane, k, from: this.text(lane.lFrom.a[k]), t0: lane.l0.a[k], t1: lane.l1.a[k], obj: this.text(lane.lObj.a[k]),
      action: code === NO_ACTION ? "" : INSTANT_KINDS[code],
    };
  }

  addMark(t, obj, detail) {
    this.marks.push({ t, obj, detail });
    if (obj === "deadlock" && detail && Array.isArray(detail.cycle)) this.deadlock = { t, cycle: detail.cycle };
    // every live lane blocked at once (a semaphore, a condition nobody notifies...)
    if (obj === "deadlock" && detail && Array.isArray(detail.stuck)) this.deadlock = { t, cycle: [], stuck: detail.stuck };
  }

  addLevel(t, obj, value) {
    const v = Number(value);
    if (!Number.isFinite(v)) return;
    let gauge = this.levels.get(obj);
    if (!gauge) {
      gauge = { obj, index: this.levels.size, t: new Column(Float64Array), v: new Column(Float64Array), max: 0 };
      this.levels.set(obj, gauge);
    }
    gauge.t.push(t);
    gauge.v.push(v);
    this.counts.levelPoints += 1;
    if (v > gauge.max) gauge.max = v;
  }

  // Lost updates, from the reads and writes of a shared variable (each one atomic
  // and recorded in the order it happened): a write whose writer read the variable
  // before someone else wrote it overwrites that other update.
  addAccess(t, lane, kind, obj, value) {
    const worker = lane.name;
    let v = this.shared.get(obj);
    if (!v) {
      v = { version: 0, writer: "", tWrite: 0, value: undefined, reads: new Map() };
      this.shared.set(obj, v);
    }
    if (kind === "read") {
      this.reads += 1;
      v.reads.set(worker, { t, version: v.version, value });
      return;
    }
    this.writes += 1;
    const read = v.reads.get(worker);
    if (read && read.version !== v.version && v.writer && v.writer !== worker) {
      this.lost.push({ obj, worker, tRead: read.t, readValue: read.value, tWrite: t, value, by: v.writer, tBy: v.tWrite, byValue: v.value });
    }
    v.reads.delete(worker);
    Object.assign(v, { version: v.version + 1, writer: worker, tWrite: t, value });
  }

  finish(summary) {
    this.done = true;
    this.summary = summary;
    for (const lane of this.lanes) {
      for (const value of Object.values(lane)) if (value instanceof Column) value.trim();
      for (const cum of lane.cum) if (cum) cum.trim();
    }
    for (const gauge of this.levels.values()) { gauge.t.trim(); gauge.v.trim(); }
    const end = summary && summary.duration_ms ? summary.duration_ms * 1e6 : this.tMax;
    if (end > this.tMax) this.tMax = end;
    this.version += 1;
  }

  stats() {
    return {
      lanes: this.lanes.length, events: this.events, links: this.links, done: this.done, ...this.counts,
      levels: this.levels.size, reads: this.reads, writes: this.writes, lost: this.lost.length,
      reentries: this.reentries, marks: this.marks.length, cycle: this.deadlock ? this.deadlock.cycle.length : 0,
      stuck: this.deadlock && this.deadlock.stuck ? this.deadlock.stuck.length : 0,
    };
  }

  // ---- questions ------------------------------------------------------------

  /** When segment i of a lane ends (the next one's start, or now). */
  segmentEnd(lane, i) {
    return i + 1 < lane.t0.n ? lane.t0.a[i + 1] : FINAL.has(lane.st.a[i]) ? lane.t0.a[i] : this.tMax;
  }

  /** The segment in force at t: { lane, i, state, kind, t0, t1, obj, by, detail } or null. */
  segment(lane, i) {
    if (i < 0 || i >= lane.t0.n) return null;
    const state = lane.st.a[i];
    const next = i + 1 < lane.t0.n ? i + 1 : -1;
    return {
      lane, i, state, kind: STATE_KINDS[state], t0: lane.t0.a[i], t1: this.segmentEnd(lane, i),
      obj: this.text(lane.obj.a[i]), by: this.text(lane.by.a[i]), detail: lane.detail.get(i),
      // who ended this segment (a wait is ended by the release that woke it)
      endedBy: next >= 0 ? this.text(lane.by.a[next]) : "",
    };
  }

  stateAt(lane, t) { return this.segment(lane, lane.segmentAt(t)); }

  /** Indexes of the holds of a lane open at t (innermost first). */
  holdsAt(lane, t) {
    const found = [];
    // the last hold begun by t, then the chain of holds open when it began
    let h = upperBound(lane.h0.a, lane.h0.n, t) - 1;
    while (h >= 0) {
      const end = lane.h1.a[h];
      if (Number.isNaN(end) || end > t) found.push(h);
      h = lane.hParent.a[h];
    }
    return found;
  }

  hold(lane, h) {
    const t1 = lane.h1.a[h];
    return { lane, h, obj: this.text(lane.hObj.a[h]), t0: lane.h0.a[h], t1: Number.isNaN(t1) ? null : t1, again: lane.hAgain.a[h] };
  }

  /** Who holds `obj` (a name) at t: [{ lane, hold }] (a semaphore may have several). */
  holdersOf(obj, t) {
    const id = this.stringIds.get(obj);
    if (id === undefined) return [];
    const found = [];
    for (const lane of this.lanes) {
      for (const h of this.holdsAt(lane, t)) if (lane.hObj.a[h] === id) found.push(this.hold(lane, h));
    }
    return found;
  }

  /** The time of the next event after t, on one lane or on any; null at the end. */
  nextEvent(t, lane = null) {
    let best = Infinity;
    for (const l of lane ? [lane] : this.lanes) {
      const i = upperBound(l.times.a, l.times.n, t);
      if (i < l.times.n && l.times.a[i] < best) best = l.times.a[i];
    }
    return best === Infinity ? null : best;
  }

  /** The time of the last event before t, on one lane or on any; null at the start. */
  previousEvent(t, lane = null) {
    let best = -Infinity;
    for (const l of lane ? [lane] : this.lanes) {
      const i = lowerBound(l.times.a, l.times.n, t) - 1;
      if (i >= 0 && l.times.a[i] > best) best = l.times.a[i];
    }
    return best === -Infinity ? null : best;
  }

  /** Time a lane spends in each state per column of width dt from tA, added into
   *  acc[c * NSTATES + s]: two prefix-sum lookups per column, whatever the events. */
  accumulate(lane, tA, dt, columns, acc, horizon) {
    const n = lane.t0.n;
    if (!n || tA >= horizon) return;
    const t0 = lane.t0.a, st = lane.st.a, states = lane.states, k = states.length;
    const cums = states.map((s) => lane.cum[s].a);
    const lastEnd = FINAL.has(st[n - 1]) ? t0[n - 1] : horizon;
    const prev = new Float64Array(k);
    let i = upperBound(t0, n, tA) - 1;
    if (i >= 0) {
      const end = i + 1 < n ? t0[i + 1] : lastEnd, extra = (tA < end ? tA : end) - t0[i];
      for (let j = 0; j < k; j += 1) prev[j] = cums[j][i] + (states[j] === st[i] && extra > 0 ? extra : 0);
    }
    for (let c = 0; c < columns; c += 1) {
      let b = tA + (c + 1) * dt;
      if (b > horizon) b = horizon;
      if (i + 1 < n && t0[i + 1] <= b) {
        // gallop, then binary search: cheap when close, logarithmic when far
        let lo = i + 1, step = 1, hi = lo + 1;
        while (hi < n && t0[hi] <= b) { lo = hi; step *= 2; hi = lo + step; }
        if (hi > n) hi = n;
        while (lo + 1 < hi) {
          const mid = (lo + hi) >>> 1;
          if (t0[mid] <= b) lo = mid;
          else hi = mid;
        }
        i = lo;
      }
      if (i < 0) continue;
      // the time in each state up to b: the sums before segment i, plus what b is into it
      const s = st[i], end = i + 1 < n ? t0[i + 1] : lastEnd;
      const extra = (b < end ? b : end) - t0[i];
      const base = c * NSTATES;
      for (let j = 0; j < k; j += 1) {
        const now = cums[j][i] + (states[j] === s && extra > 0 ? extra : 0);
        acc[base + states[j]] += now - prev[j];
        prev[j] = now;
      }
      if (b >= horizon) break;
    }
  }

  /** Share of each column a lane holds something, into cover[c] (0..1). */
  coverage(lane, tA, dt, columns, cover, horizon) {
    const n = lane.c0.n;
    cover.fill(0, 0, columns);
    if (!n) return;
    const c0 = lane.c0.a, c1 = lane.c1.a, cum = lane.cCum.a;
    let i = upperBound(c0, n, tA) - 1;
    let prev = 0;
    if (i >= 0) prev = cum[i] + Math.max(0, Math.min(tA, Number.isNaN(c1[i]) ? horizon : c1[i]) - c0[i]);
    for (let c = 0; c < columns; c += 1) {
      const b = Math.min(tA + (c + 1) * dt, horizon);
      if (i + 1 < n && c0[i + 1] <= b) i = upperBound(c0, n, b, i + 1) - 1;
      if (i < 0) continue;
      const end = Number.isNaN(c1[i]) ? horizon : c1[i];
      const now = cum[i] + Math.max(0, Math.min(b, end) - c0[i]);
      cover[c] = (now - prev) / dt;
      prev = now;
      if (b >= horizon) break;
    }
  }
}

