/* The controller: one run's timeline on the page. It owns the view (the time
 * window drawn), the cursor (the moment described), play/pause and speed, and turns
 * keys, pointers, wheels and pinches into them. One animation loop per timeline:
 * a frame is requested at most once, so replays cannot stack.
 *
 * Usage:
 *   const timeline = new Timeline(panel);   // a .run panel (templates/_run.html)
 *   timeline.add(batch); timeline.finish(summary);
 *   timeline.play(); timeline.step(+1); timeline.zoom(2); timeline.fit();
 */
import { Model } from "./model.js";
import { Overview } from "./overview.js";
import { Renderer } from "./renderer.js";
import {
  describeBadge, describeGroup, describeHold, describeInstant, describeLink, describeMoment, describeSegment, formatTime,
} from "./describe.js";
import { SegmentTable } from "./table.js";
import V from "/ui/vocabulary.js";

export const SPEEDS = V.speeds; // app/palette.py
const MIN_SPAN = 50; // ns: the deepest zoom
const TAP_PX = 6; // a press that moves less than this is a click or a tap
const FRAME_MS = 16; // a frame at 60 Hz

export class Timeline {
  constructor(panel) {
    this.panel = panel;
    this.next = null; // step mode: worker -> the operation it stands before (drawn on its lane)
    this.nextVersion = 0; // changes with it: the renderer's picture depends on it
    this.canvas = panel.querySelector("canvas.timeline");
    this.model = new Model();
    this.renderer = new Renderer(this.canvas, this.model);
    const strip = panel.querySelector("canvas.overview");
    this.overview = strip ? new Overview(strip, this.model) : null;
    this.moment = panel.querySelector("[data-moment]");
    this.explanation = panel.querySelector("[data-explain]");
    this.readout = panel.querySelector("[data-time]");
    const table = panel.querySelector("[data-table]");
    this.table = table ? new SegmentTable(table, this.model, this) : null;
    this.view = null; // [t0, t1] ns, or null: the whole run (growing while it records)
    this.cursor = null; // ns, or null: no cursor, everything drawn
    this.playing = false;
    this.speed = V.defaultSpeed;
    this.selected = null; // a lane: steps go to its events
    this.hover = null;
    this.folds = new Map(); // row key -> "open" | "closed": what someone unfolded or folded
    this.frameRequested = false;
    this.lastTick = null;
    this.avail = null; // projector: the height the lanes may fill
    this.frames = { count: 0, totalMs: 0, maxMs: 0, lastMs: 0 }; // draw times (bench reads them)
    this.drawnAt = 0;
    this.dataTimer = null;
    this.published = {};
    this.spoken = { at: 0, text: "" };
    this.tipEl = null;
    this.listen();
  }

  // ---- data -------------------------------------------------------------------

  add(batch) {
    this.model.add(batch);
    this.changed();
  }

  finish(summary) {
    this.model.finish(summary);
    this.changed();
    // A lesson whose point is a small part of its run names it: open there, unless
    // the viewer already chose a window.
    const focus = summary && summary.result && summary.result.focus;
    if (focus && !this.view) this.setView(focus[0], focus[1]);
    this.speak(true);
  }

  stats() { return this.model.stats(); }

  /** The model changed: publish its counts on the canvas (tests read them) and redraw.
   *  While events pour in, a costly picture is redrawn less often than every frame,
   *  so that taking the events in keeps up (at most a third of the time drawing). */
  changed() {
    const stats = this.model.stats();
    for (const key in stats) this.publish(key, String(stats[key]));
    const wait = this.frames.lastMs * 2 - (performance.now() - this.drawnAt);
    if (wait <= 0 || this.model.done) this.requestDraw();
    else if (!this.dataTimer) {
      this.dataTimer = setTimeout(() => { this.dataTimer = null; this.requestDraw(); }, wait);
    }
  }

  publish(key, value) {
    if (this.published[key] === value) return;
    this.published[key] = value;
    this.canvas.dataset[key] = value;
  }

  // ---- time -------------------------------------------------------------------

  /** The end of the run as drawn: a live run keeps some room to grow into. */
  get end() {
    const m = this.model;
    return Math.max(m.done ? m.tMax : m.tMax * 1.05, 1e6);
  }

  /** The window drawn now. */
  currentView() {
    if (!this.view) return [0, this.end];
    return this.view;
  }

  setView(t0, t1) {
    const end = this.end;
    let span = Math.min(Math.max(t1 - t0, MIN_SPAN), end);
    if (t0 < 0) t0 = 0;
    if (t0 + span > end) t0 = Math.max(0, end - span);
    this.view = span >= end && t0 <= 0 ? null : [t0, t0 + span];
    this.requestDraw();
  }

  /** Zoom by `factor` (> 1: in) around time `at` (default: the cursor, or the middle). */
  zoom(factor, at = null) {
    const [v0, v1] = this.currentView();
    if (at === null) at = this.cursor !== null && this.cursor >= v0 && this.cursor <= v1 ? this.cursor : (v0 + v1) / 2;
    const span = (v1 - v0) / factor;
    const share = (at - v0) / (v1 - v0);
    this.setView(at - share * span, at - share * span + span);
  }

  /** Pan by a share of the window (negative: earlier). */
  pan(share) {
    const [v0, v1] = this.currentView();
    const dt = (v1 - v0) * share;
    this.setView(v0 + dt, v1 + dt);
  }

  fit() {
    this.view = null;
    this.requestDraw();
  }

  /** Put the cursor at t (paused) and bring it into view. */
  seek(t) {
    const end = this.model.tMax;
    this.cursor = Math.max(0, Math.min(end, t));
    this.reveal(this.cursor);
    this.requestDraw();
    this.speak();
  }

  reveal(t) {
    const [v0, v1] = this.currentView();
    if (t >= v0 && t <= v1) return;
    const span = v1 - v0;
    this.setView(t - span * 0.1, t + span * 0.9);
  }

  /** Step to the next (+1) or previous (-1) event, of the selected lane or any. */
  step(direction) {
    this.pause();
    const m = this.model;
    const from = this.cursor === null ? (direction > 0 ? -1 : m.tMax + 1) : this.cursor;
    const t = direction > 0 ? m.nextEvent(from, this.selected) : m.previousEvent(from, this.selected);
    if (t !== null) this.seek(t);
  }

  play() {
    if (!this.model.lanes.length) return;
    if (this.cursor === null || this.cursor >= this.model.tMax) {
      // from the start of a finished run; a live run is paused where it is now
      this.cursor = this.model.done ? 0 : this.model.tMax;
    }
    this.playing = true;
    this.lastTick = null;
    this.reveal(this.cursor);
    this.requestDraw();
    this.updateControls();
  }

  pause() {
    if (!this.playing && this.cursor !== null) return;
    this.playing = false;
    if (this.cursor === null) {
      // pausing a live run: it keeps recording, the picture holds still
      this.cursor = this.model.tMax;
      this.view = this.currentView();
    }
    this.requestDraw();
    this.updateControls();
    this.speak();
  }

  /** Space: pause what moves (a replay, or a live run being followed), else play. */
  toggle() {
    if (this.playing || (this.cursor === null && !this.model.done)) this.pause();
    else this.play();
  }

  /** Replay from the start at `speed` (a second press restarts it: never two loops). */
  replay(speed) {
    if (speed) this.setSpeed(speed);
    this.cursor = 0;
    this.play();
  }

  /** Follow the live edge again (or show the whole run): no cursor. */
  live() {
    this.playing = false;
    this.cursor = null;
    this.view = null;
    this.requestDraw();
    this.updateControls();
    this.speak();
  }

  setSpeed(speed) {
    this.speed = Number(speed) || 1;
    const select = this.panel.querySelector("[data-speed]");
    if (select && Number(select.value) !== this.speed) {
      const option = [...select.options].find((o) => Number(o.value) === this.speed);
      if (option) select.value = option.value;
    }
  }

  faster(direction) {
    const i = SPEEDS.findIndex((s) => s >= this.speed - 1e-12);
    const next = SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? SPEEDS.length - 1 : i) + direction))];
    this.setSpeed(next);
  }

  /** Move the cursor on while playing; at the live edge, follow it. */
  tick(now) {
    if (!this.playing) return;
    if (this.lastTick !== null) this.cursor += (now - this.lastTick) * 1e6 * this.speed;
    this.lastTick = now;
    const m = this.model;
    if (this.cursor >= m.tMax) {
      if (m.done) {
        // the end: show it all, as before the replay
        this.playing = false;
        this.cursor = null;
        this.updateControls();
        this.speak(true);
        return;
      }
      this.cursor = m.tMax; // caught up with a live run: stay at its edge
    }
    this.reveal(this.cursor);
  }

  // ---- frames -----------------------------------------------------------------

  requestDraw() {
    if (this.frameRequested || this.destroyed) return;
    this.frameRequested = true;
    requestAnimationFrame((now) => {
      this.frameRequested = false;
      this.tick(now);
      this.draw();
      if (this.playing) this.requestDraw();
    });
  }

  draw() {
    if (this.destroyed || !this.canvas.isConnected) return;
    const started = performance.now();
    if (this.avail === null) this.measure();
    else if (this.avail && this.canvas.getBoundingClientRect().top + window.scrollY !== this.measuredTop) this.measure();
    const view = this.currentView();
    this.renderer.draw({
      view, cursor: this.cursor, hover: this.hover, selected: this.selected, folds: this.folds, avail: this.avail,
      next: this.next, nextVersion: this.nextVersion,
    });
    // a frame that drew the lanes slowly leaves the strip's picture to the next one
    const busy = performance.now() - started > FRAME_MS / 2;
    if (this.overview && this.overview.draw(view, this.cursor, busy)) this.requestDraw();
    this.drawnAt = performance.now();
    const ms = this.drawnAt - started;
    const f = this.frames;
    f.count += 1; f.totalMs += ms; f.lastMs = ms;
    if (ms > f.maxMs) f.maxMs = ms;
    this.publish("viewStartNs", String(Math.round(view[0])));
    this.publish("viewEndNs", String(Math.round(view[1])));
    this.publish("cursorNs", this.cursor === null ? "" : String(Math.round(this.cursor)));
    this.publish("playing", String(this.playing));
    // written only when it changes: a text change re-lays the page out on the next frame
    const time = formatTime(this.cursor === null ? this.model.tMax : this.cursor);
    if (this.readout && this.readout.textContent !== time) this.readout.textContent = time;
    if (this.playing || (this.cursor === null && !this.model.done)) this.speak();
    if (this.table) this.table.refresh();
  }

  get geometry() { return this.renderer.geometry; }

  /** Projector mode: the lanes fill what is left of the first screen, above the
   *  overview strip and the sentence. Re-measured when anything above them moves. */
  measure() {
    if (!document.documentElement.classList.contains("projector")) {
      this.avail = 0;
      return;
    }
    const top = this.canvas.getBoundingClientRect().top + window.scrollY;
    let below = 16;
    if (this.overview) below += this.overview.canvas.offsetHeight + 6;
    if (this.moment) below += this.moment.parentElement.offsetHeight + 8;
    this.measuredTop = top;
    this.avail = Math.max(220, Math.floor(window.innerHeight - top - below));
  }

  relayout() {
    this.avail = null;
    this.requestDraw();
  }

  // ---- words ------------------------------------------------------------------

  /** The moment at the cursor (or the end) into the sentence panel. While the
   *  picture moves it is written at most twice a second and not read aloud. */
  speak(force = false) {
    if (!this.moment) return;
    const moving = this.playing || (this.cursor === null && !this.model.done);
    const now = performance.now();
    if (moving && !force && now - this.spoken.at < 500) return;
    const t = this.cursor === null ? this.model.tMax : this.cursor;
    let text = describeMoment(this.model, t);
    if (this.cursor === null && this.model.done) text = "End of the run, " + text;
    this.moment.setAttribute("aria-live", moving ? "off" : "polite");
    if (text !== this.spoken.text) this.moment.textContent = text;
    this.spoken = { at: now, text };
  }

  /** A sentence about what is under the pointer. */
  explain(hit) {
    const m = this.model;
    if (!hit) return "";
    switch (hit.type) {
      case "segment": return describeSegment(m, hit.seg, hit.t);
      case "hold": return describeHold(m, hit.hold);
      case "link": return describeLink(m, hit.link);
      case "badge": return describeBadge(hit.badge.lane, hit.badge);
      case "group": return describeGroup(m, hit.row, hit.t);
      case "fold": return `${hit.row.label}: click to ${hit.row.type === "group" ? "unfold" : "fold"} these lanes.`;
      case "instant": {
        const lane = hit.lane, k = hit.k;
        return describeInstant(m, lane, V.instantKinds[lane.iKind.a[k]], lane.i0.a[k], m.text(lane.iObj.a[k]), lane.iDetail[k]);
      }
      case "label": return `${hit.lane.name}: a ${hit.lane.kind || "worker"} lane, ${hit.lane.times.n.toLocaleString("en")} events. Click to step through its events only.`;
      case "axis": return `${formatTime(hit.t)}: drag along the time axis to move the cursor.`;
      case "lane": {
        const seg = m.stateAt(hit.lane, hit.t);
        return seg ? `${formatTime(seg.t0)}: ${hit.lane.name} has finished.` : `${formatTime(hit.t)}: ${hit.lane.name} has not started yet.`;
      }
      default: return "";
    }
  }

  showTip(text, clientX, clientY) {
    if (!this.tipEl) {
      this.tipEl = document.createElement("div");
      this.tipEl.className = "timeline-tip";
      this.tipEl.setAttribute("role", "tooltip");
      document.body.appendChild(this.tipEl);
    }
    const tip = this.tipEl;
    if (!text) { tip.hidden = true; return; }
    tip.textContent = text;
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    const x = Math.min(clientX + 14, window.innerWidth - w - 8);
    const y = clientY + 18 + h > window.innerHeight ? clientY - h - 12 : clientY + 18;
    tip.style.left = Math.max(4, x) + window.scrollX + "px";
    tip.style.top = Math.max(4, y) + window.scrollY + "px";
  }

  // ---- input ------------------------------------------------------------------

  listen() {
    const c = this.canvas;
    const on = (el, type, fn, opts) => el && el.addEventListener(type, fn, opts);
    this.pointers = new Map();
    on(c, "pointerdown", (e) => this.onPointerDown(e));
    on(c, "pointermove", (e) => this.onPointerMove(e));
    on(c, "pointerup", (e) => this.onPointerUp(e));
    on(c, "pointercancel", (e) => { this.pointers.delete(e.pointerId); this.press = null; });
    on(c, "pointerleave", (e) => { if (e.pointerType === "mouse" && !this.press) this.setHover(null); });
    on(c, "dblclick", (e) => { e.preventDefault(); this.fit(); });
    on(c, "wheel", (e) => this.onWheel(e), { passive: false });
    on(c, "keydown", (e) => this.onKey(e));
    if (this.overview) {
      const strip = this.overview.canvas;
      on(strip, "pointerdown", (e) => this.onStrip(e, true));
      on(strip, "pointermove", (e) => { if (this.stripDrag !== undefined && e.buttons) this.onStrip(e, false); });
      on(strip, "pointerup", () => { this.stripDrag = undefined; });
    }
    this.panel.addEventListener("click", (e) => {
      const button = e.target.closest("[data-action]");
      if (!button || !this.panel.contains(button)) return;
      const act = {
        play: () => this.toggle(), replay: () => this.replay(), step: () => this.step(1), "step-back": () => this.step(-1),
        fit: () => this.fit(), live: () => this.live(), "zoom-in": () => this.zoom(2), "zoom-out": () => this.zoom(0.5),
      }[button.dataset.action];
      if (act) act();
    });
    const speed = this.panel.querySelector("[data-speed]");
    if (speed) {
      this.speed = Number(speed.value) || this.speed;
      speed.addEventListener("change", () => this.setSpeed(speed.value));
    }
    this.onResize = () => this.relayout();
    window.addEventListener("resize", this.onResize);
    this.resizeObserver = new ResizeObserver(() => this.requestDraw());
    this.resizeObserver.observe(this.canvas.parentElement);
    this.updateControls();
  }

  /** Keys on the chart (and on the page, see app.js). Returns true if handled. */
  onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return false;
    const keys = {
      "+": () => this.zoom(1.5), "=": () => this.zoom(1.5), "-": () => this.zoom(1 / 1.5), _: () => this.zoom(1 / 1.5),
      ArrowLeft: () => this.pan(e.shiftKey ? -0.9 : -0.2), ArrowRight: () => this.pan(e.shiftKey ? 0.9 : 0.2),
      ArrowUp: () => this.selectNext(-1), ArrowDown: () => this.selectNext(1),
      Home: () => this.seek(0), End: () => this.seek(this.model.tMax),
      " ": () => this.toggle(), ",": () => this.step(-1), ".": () => this.step(1), 0: () => this.fit(),
      "[": () => this.faster(-1), "]": () => this.faster(1), l: () => this.live(),
      Escape: () => { this.selected = null; this.setHover(null); this.requestDraw(); },
    };
    const act = keys[e.key];
    if (!act) return false;
    e.preventDefault();
    act();
    return true;
  }

  selectNext(direction) {
    const lanes = (this.geometry ? this.geometry.rows : []).filter((r) => r.type === "lane").map((r) => r.lane);
    if (!lanes.length) return;
    const i = lanes.indexOf(this.selected);
    this.selected = lanes[i < 0 ? (direction > 0 ? 0 : lanes.length - 1) : Math.max(0, Math.min(lanes.length - 1, i + direction))];
    if (this.explanation) this.explanation.textContent = `${this.selected.name} selected: , and . step through its events (Escape: all lanes).`;
    this.requestDraw();
  }

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  onPointerDown(e) {
    const [x, y] = this.local(e);
    this.pointers.set(e.pointerId, { x, y });
    this.canvas.setPointerCapture(e.pointerId);
    const G = this.geometry;
    if (this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()];
      this.press = { pinch: true, distance: Math.hypot(a.x - b.x, a.y - b.y), view: this.currentView(), mid: (a.x + b.x) / 2 };
      return;
    }
    const onAxis = G && y < G.axisH + G.notesH && x >= G.plotX;
    this.press = { x, y, view: this.currentView(), scrub: onAxis, moved: false, type: e.pointerType };
    if (onAxis) {
      this.playing = false;
      this.seek(G.T(x));
      this.updateControls();
    }
  }

  onPointerMove(e) {
    const [x, y] = this.local(e);
    if (this.pointers.has(e.pointerId)) this.pointers.set(e.pointerId, { x, y });
    const G = this.geometry, p = this.press;
    if (p && p.pinch && this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      const [v0, v1] = p.view, at = v0 + ((p.mid - G.plotX) / G.plotW) * (v1 - v0);
      const span = ((v1 - v0) * p.distance) / Math.max(10, d);
      const share = (at - v0) / (v1 - v0);
      this.setView(at - share * span, at - share * span + span);
      return;
    }
    if (p && !p.pinch) {
      if (p.scrub) { this.seek(G.T(x)); return; }
      if (!p.moved && Math.hypot(x - p.x, y - p.y) < TAP_PX) return;
      p.moved = true;
      // drag to pan: the time under the pointer stays under it
      const [v0, v1] = p.view;
      const dt = ((x - p.x) / G.plotW) * (v1 - v0);
      this.setView(v0 - dt, v1 - dt);
      return;
    }
    if (e.pointerType === "mouse") {
      const hit = this.renderer.hitTest(x, y);
      this.setHover(hit, e.clientX, e.clientY);
    }
  }

  onPointerUp(e) {
    const p = this.press;
    this.pointers.delete(e.pointerId);
    if (this.pointers.size) return;
    this.press = null;
    if (!p || p.pinch || p.moved || p.scrub) return;
    // a click or a tap: explain what is there, select its lane, open a fold
    const [x, y] = this.local(e);
    const hit = this.renderer.hitTest(x, y);
    if (!hit) return;
    if (hit.type === "fold" || hit.type === "group") {
      this.folds.set(hit.row.key, hit.row.type === "group" ? "open" : "closed");
      this.requestDraw();
      return;
    }
    if (hit.row && hit.row.type === "lane") {
      this.selected = hit.row.lane;
      // step mode listens: a click on a lane lets its worker through (app.js, stepper.js)
      this.panel.dispatchEvent(new CustomEvent("lane-click", { detail: { worker: hit.row.lane.name } }));
    }
    this.setHover(hit, e.clientX, e.clientY);
    if (this.explanation) this.explanation.textContent = this.explain(hit);
    this.requestDraw();
  }

  onWheel(e) {
    e.preventDefault();
    const G = this.geometry;
    if (!G) return;
    const [x] = this.local(e);
    const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
    const dx = e.deltaX * scale, dy = e.deltaY * scale;
    if (e.shiftKey || Math.abs(dx) > Math.abs(dy)) {
      this.pan((e.shiftKey ? dy || dx : dx) / G.plotW);
      return;
    }
    const at = G.T(Math.max(G.plotX, Math.min(G.plotX + G.plotW, x)));
    this.zoom(Math.exp(-dy * (e.ctrlKey ? 0.01 : 0.002)), at); // ctrl+wheel: a trackpad pinch
  }

  /** The overview strip: drag the window, or press beside it to move it there. */
  onStrip(e, down) {
    const strip = this.overview.canvas;
    const x = e.clientX - strip.getBoundingClientRect().left;
    const t = this.overview.timeAt(x);
    const [v0, v1] = this.currentView();
    if (down) {
      strip.setPointerCapture(e.pointerId);
      this.stripDrag = t >= v0 && t <= v1 ? t - v0 : (v1 - v0) / 2;
    }
    this.setView(t - this.stripDrag, t - this.stripDrag + (v1 - v0));
  }

  setHover(hit, clientX = 0, clientY = 0) {
    const same = (a, b) => a === b || (a && b && a.type === b.type && a.row === b.row &&
      (a.seg ? b.seg && a.seg.i === b.seg.i : true) && (a.hold ? b.hold && a.hold.h === b.hold.h : true) && a.arrow === b.arrow);
    const text = this.explain(hit);
    this.showTip(text, clientX, clientY);
    if (!same(hit, this.hover)) {
      this.hover = hit && ["segment", "hold", "link"].includes(hit.type) ? hit : null;
      this.requestDraw();
    }
  }

  updateControls() {
    const play = this.panel.querySelector("[data-action=play]");
    if (play) {
      play.setAttribute("aria-pressed", String(this.playing));
      play.textContent = this.playing ? "❚❚ Pause" : "▶ Play";
    }
    const live = this.panel.querySelector("[data-action=live]");
    if (live) {
      live.hidden = this.model.done && this.cursor === null;
      live.textContent = this.model.done ? "All" : "Live"; // a finished run: back to the whole of it
    }
  }

  /** Step mode: what each worker stands before (a Map, or null), drawn on its lane. */
  showNext(next) {
    this.next = next;
    this.nextVersion += 1;
    this.requestDraw();
  }

  /** The panel left the page: stop drawing and listening. */
  destroy() {
    this.destroyed = true;
    clearTimeout(this.dataTimer);
    this.playing = false;
    window.removeEventListener("resize", this.onResize);
    this.resizeObserver.disconnect();
    if (this.tipEl) this.tipEl.remove();
  }
}
