/* Interleave timeline: Gantt-style lanes on a canvas, one per worker.
 *
 * Events arrive as arrays [t_ns, worker, kind, obj, detail, link] (app/timeline.py).
 * add() only updates the model and asks for a frame; drawing happens once per
 * requestAnimationFrame, with one Path2D per colour. The model is public
 * (timeline.model, timeline.stats()) so tests and curious learners can read what
 * was drawn.
 */
(function () {
  "use strict";

  const STATES = ["start", "run", "io", "wait", "gil", "done", "crash"];
  const COLOURS = {
    start: "#8e6bd8", run: "#2f9e57", io: "#4b8fd6", wait: "#d9443f",
    gil: "#9aa0a6", cpu: "#c9a66b", crash: "#202124",
    hold: "#f0a830", link: "#1f3f8f", print: "#202124", mark: "#b3261e",
    read: "#3949ab", write: "#202124", lost: "#d63384", level: "#0f7f83", notify: "#1f3f8f",
    put: "#2d8a4e", get: "#b8470b", cycle: "#b3261e",
  };
  const STATE_WORDS = {
    start: "starting", run: "running", io: "sleeping / I/O", wait: "waiting for",
    gil: "runnable, waiting for the GIL", cpu: "runnable, waiting for a CPU core", crash: "crashed",
  };
  // Events counted as they arrive, by kind: the name of their counter.
  const COUNTED = { wait: "waits", crash: "crashes", gil: "gil", print: "prints", notify: "notifies", put: "puts", get: "gets" };
  const WAKERS = new Set(["release", "notify", "put"]); // may end another worker's wait
  const NOT_INSTANTS = new Set(["acquire", "release", "level"]); // drawn as holds and gauges
  // Instants drawn as small markers on their lane (the rest are data for the page).
  const MARKERS = ["notify", "put", "get"];
  const LANE_TINTS = ["#1b6ac9", "#b8470b", "#2d8a4e", "#8a2fb5", "#b5223f", "#0f7f83", "#7a5c00", "#4f5bd5"];

  function niceStep(span, target) {
    const raw = span / Math.max(1, target);
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
    return 10 * pow;
  }

  function formatNs(ns, step) {
    const unit = step >= 1e9 ? [1e9, "s"] : step >= 1e6 ? [1e6, "ms"] : step >= 1e3 ? [1e3, "µs"] : [1, "ns"];
    const v = ns / unit[0];
    const digits = step / unit[0] < 1 ? 1 : 0;
    return v.toFixed(digits) + " " + unit[1];
  }

  class Timeline {
    constructor(canvas, options) {
      this.canvas = canvas;
      this.options = Object.assign({ projector: false }, options || {});
      this.model = {
        lanes: [], byName: new Map(), links: [], marks: [], tMax: 0, events: 0, done: false,
        levels: new Map(), // gauge obj -> { obj, points: [{t, v}], max }
        shared: new Map(), // shared variable -> { version, writer, tWrite, value, reads: Map(worker -> read) }
        lost: [], // writes that overwrote another thread's update (a lost update)
        deadlock: null, // { t, cycle: [[worker, obj], ...] } from the runner's mark
        reentries: 0, reads: 0, writes: 0,
        // what has been drawn, counted as events arrive (tests and the legend read it)
        counts: { waits: 0, holds: 0, prints: 0, crashes: 0, gil: 0, notifies: 0, puts: 0, gets: 0, levelPoints: 0 },
      };
      this.lastAction = new Map(); // "worker|obj" -> t of last release/notify/put
      this.cursor = null; // replay position in ns, or null for "show everything"
      this.frameRequested = false;
      this.hover = null;
      canvas.addEventListener("mousemove", (e) => this.onHover(e));
      canvas.addEventListener("mouseleave", () => { this.hover = null; this.tip().hidden = true; });
      new ResizeObserver(() => this.requestDraw()).observe(canvas.parentElement);
    }

    lane(name) {
      let lane = this.model.byName.get(name);
      if (!lane) {
        lane = { name, kind: "", index: this.model.lanes.length, segments: [], holds: [], instants: [], open: new Map() };
        this.model.byName.set(name, lane);
        this.model.lanes.push(lane);
      }
      return lane;
    }

    add(batch) {
      const m = this.model, n = m.counts;
      for (const [t, worker, kind, obj, detail, link] of batch) {
        m.events += 1;
        if (kind in COUNTED) n[COUNTED[kind]] += 1;
        if (t > m.tMax) m.tMax = t;
        const lane = this.lane(worker);
        if (STATES.includes(kind)) {
          const last = lane.segments[lane.segments.length - 1];
          if (last && last.t1 === null) last.t1 = t;
          if (kind === "start" && detail) lane.kind = detail;
          if (!lane.kind) lane.kind = worker === "main" ? "main" : "thread";
          lane.segments.push({ state: kind, t0: t, t1: kind === "done" || kind === "crash" ? t : null, obj, detail });
          if (kind === "done" || kind === "crash") lane.end = t;
        } else if (kind === "acquire") {
          const open = lane.open.get(obj);
          if (open) {
            // Taken again by its holder (RLock): the same hold, one level deeper.
            open.depth = typeof detail === "number" ? detail : open.depth + 1;
            if (open.depth === 2) open.inner.push({ t0: t, t1: null });
            m.reentries += 1;
          } else {
            const hold = { obj, t0: t, t1: null, depth: 1, inner: [] };
            lane.open.set(obj, hold);
            lane.holds.push(hold);
            n.holds += 1;
          }
        } else if (kind === "release") {
          const hold = lane.open.get(obj);
          if (hold) {
            hold.depth = typeof detail === "number" ? detail : hold.depth - 1;
            const inner = hold.inner[hold.inner.length - 1];
            if (hold.depth <= 1 && inner && inner.t1 === null) inner.t1 = t;
            if (hold.depth <= 0) { hold.t1 = t; lane.open.delete(obj); }
          }
        } else if (kind === "level") {
          this.addLevel(t, obj, detail);
        } else if (kind === "read" || kind === "write") {
          this.addAccess(t, worker, kind, obj, detail);
        }
        if (WAKERS.has(kind)) this.lastAction.set(worker + "|" + obj, t);
        if (kind === "mark") {
          m.marks.push({ t, obj, detail });
          if (obj === "deadlock" && detail && Array.isArray(detail.cycle)) m.deadlock = { t, cycle: detail.cycle };
          // every live lane blocked at once (a semaphore, a condition nobody notifies...)
          if (obj === "deadlock" && detail && Array.isArray(detail.stuck)) m.deadlock = { t, cycle: [], stuck: detail.stuck };
        }
        if (!STATES.includes(kind) && !NOT_INSTANTS.has(kind)) lane.instants.push({ kind, t, obj, detail, link });
        if (link) {
          const from = this.model.byName.get(link);
          let tFrom = this.lastAction.get(link + "|" + obj);
          if (tFrom === undefined) tFrom = from && from.end !== undefined ? from.end : t;
          m.links.push({ from: link, to: worker, t0: tFrom, t1: t, obj });
        }
      }
      this.changed();
    }

    // The model changed: publish its counts on the canvas (for tests) and redraw.
    changed() {
      const st = this.stats();
      for (const key of Object.keys(st)) this.canvas.dataset[key] = String(st[key]);
      this.requestDraw();
    }

    addLevel(t, obj, value) {
      const v = Number(value);
      if (!Number.isFinite(v)) return;
      let gauge = this.model.levels.get(obj);
      if (!gauge) {
        gauge = { obj, points: [], max: 0, index: this.model.levels.size };
        this.model.levels.set(obj, gauge);
      }
      gauge.points.push({ t, v });
      this.model.counts.levelPoints += 1;
      if (v > gauge.max) gauge.max = v;
    }

    // Lost updates, from the reads and writes of a shared variable (each one atomic
    // and recorded in the order it happened): a write whose writer read the variable
    // before someone else wrote it overwrites that other update.
    addAccess(t, worker, kind, obj, value) {
      const m = this.model;
      let v = m.shared.get(obj);
      if (!v) { v = { version: 0, writer: "", tWrite: 0, value: undefined, reads: new Map() }; m.shared.set(obj, v); }
      if (kind === "read") {
        m.reads += 1;
        v.reads.set(worker, { t, version: v.version, value });
        return;
      }
      m.writes += 1;
      const read = v.reads.get(worker);
      if (read && read.version !== v.version && v.writer && v.writer !== worker) {
        m.lost.push({
          obj, worker, tRead: read.t, readValue: read.value, tWrite: t, value,
          by: v.writer, tBy: v.tWrite, byValue: v.value,
        });
      }
      v.reads.delete(worker);
      Object.assign(v, { version: v.version + 1, writer: worker, tWrite: t, value });
    }

    finish(summary) {
      this.model.done = true;
      this.model.summary = summary;
      const end = summary && summary.duration_ms ? summary.duration_ms * 1e6 : this.model.tMax;
      if (end > this.model.tMax) this.model.tMax = end;
      this.changed();
    }

    stats() {
      const m = this.model;
      return {
        lanes: m.lanes.length, events: m.events, links: m.links.length, done: m.done, ...m.counts,
        levels: m.levels.size, reads: m.reads, writes: m.writes, lost: m.lost.length,
        reentries: m.reentries, marks: m.marks.length, cycle: m.deadlock ? m.deadlock.cycle.length : 0,
        stuck: m.deadlock && m.deadlock.stuck ? m.deadlock.stuck.length : 0,
      };
    }

    replay(speed) {
      const span = this.model.tMax;
      if (!span) return;
      this.cursor = 0;
      let last = performance.now();
      const step = (now) => {
        this.cursor += (now - last) * 1e6 * speed;
        last = now;
        if (this.cursor >= span) { this.cursor = null; this.draw(); return; }
        this.draw();
        requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    }

    requestDraw() {
      if (this.frameRequested) return;
      this.frameRequested = true;
      requestAnimationFrame(() => { this.frameRequested = false; this.draw(); });
    }

    layout() {
      const big = document.documentElement.classList.contains("projector");
      const lanes = this.model.lanes.length;
      // Many workers: lanes shrink so 32+ still fit a screen; gauges keep their size.
      const laneH = big ? (lanes > 24 ? 22 : 40) : lanes > 40 ? 11 : lanes > 24 ? 15 : 26;
      const gaugeH = big ? 60 : 42;
      return {
        labelW: big ? 170 : 120, axisH: big ? 34 : 24, laneH, gap: lanes > 24 ? 2 : 4, font: big ? 18 : 12, right: 16,
        laneFont: laneH < 16 ? 10 : big ? 18 : 12, gaugeH, gaugeGap: 6,
      };
    }

    draw() {
      const c = this.canvas, m = this.model, L = this.layout();
      const dpr = window.devicePixelRatio || 1;
      const width = c.parentElement.clientWidth;
      const lanesBottom = L.axisH + Math.max(1, m.lanes.length) * (L.laneH + L.gap);
      const height = lanesBottom + m.levels.size * (L.gaugeH + L.gaugeGap) + 8;
      if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
        c.width = Math.round(width * dpr);
        c.height = Math.round(height * dpr);
        c.style.width = width + "px";
        c.style.height = height + "px";
      }
      const g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, width, height);
      const upTo = this.cursor === null ? Infinity : this.cursor;
      const span = Math.max(m.done ? m.tMax : m.tMax * 1.05, 1e6);
      const plotW = width - L.labelW - L.right;
      const x = (t) => L.labelW + (t / span) * plotW;
      const laneY = (i) => L.axisH + i * (L.laneH + L.gap);
      this.geometry = { x, laneY, span, L, plotW };

      // time axis
      g.font = L.font + "px system-ui, sans-serif";
      g.fillStyle = "#5f6368";
      g.strokeStyle = "#e3e3e3";
      g.textBaseline = "middle";
      const step = niceStep(span, Math.max(2, Math.floor(plotW / 110)));
      for (let t = 0; t <= span; t += step) {
        g.beginPath(); g.moveTo(x(t) + 0.5, L.axisH - 4); g.lineTo(x(t) + 0.5, height); g.stroke();
        const label = formatNs(t, step);
        if (x(t) + 3 + g.measureText(label).width < width) g.fillText(label, x(t) + 3, L.axisH / 2);
      }

      // state segments: one path per colour
      const paths = {};
      for (const s of STATES) paths[s] = new Path2D();
      // A process has its own GIL: when one is runnable but not running, it is waiting
      // for a CPU core, not for the GIL. Drawn in its own colour so nobody learns otherwise.
      paths.cpu = new Path2D();
      const holds = new Path2D();
      const tickPath = new Path2D();
      const inner = new Path2D();
      const reads = new Path2D(), writes = new Path2D();
      const markers = { notify: new Path2D(), put: new Path2D(), get: new Path2D() };
      const now = m.tMax;
      g.font = L.laneFont + "px system-ui, sans-serif";
      for (const lane of m.lanes) {
        const y = laneY(lane.index);
        g.fillStyle = LANE_TINTS[lane.index % LANE_TINTS.length];
        g.textAlign = "right";
        g.fillText(lane.name, L.labelW - 8, y + L.laneH / 2);
        g.textAlign = "left";
        // What a `gil` state waits for: its obj says ("GIL" or "CPU", app/sampler.py); else the lane kind.
        const gil = (s) => s.obj === "CPU" ? "cpu" : s.obj === "GIL" ? "gil" : lane.kind === "process" || lane.kind === "pool-worker" ? "cpu" : "gil";
        for (const s of lane.segments) {
          if (s.t0 > upTo || s.state === "done") continue;
          const t1 = Math.min(s.t1 === null ? now : s.t1, upTo);
          const x0 = x(s.t0), w = Math.max(1, x(t1) - x0);
          if (s.state === "crash") { paths.crash.rect(x0, y, Math.max(4, w), L.laneH); continue; }
          paths[s.state === "gil" ? gil(s) : s.state].rect(x0, y + 3, w, L.laneH - 6);
        }
        for (const h of lane.holds) {
          if (h.t0 > upTo) continue;
          const t1 = Math.min(h.t1 === null ? now : h.t1, upTo);
          holds.rect(x(h.t0), y, Math.max(1, x(t1) - x(h.t0)), 4);
          for (const n of h.inner) {
            if (n.t0 > upTo) continue;
            const n1 = Math.min(n.t1 === null ? t1 : n.t1, upTo);
            inner.rect(x(n.t0), y, Math.max(3, x(n1) - x(n.t0)), 7); // re-entry: brief, so never thinner than 3 px
          }
        }
        const r = Math.max(2, Math.min(4, L.laneH / 5));
        for (const i of lane.instants) {
          if (i.t > upTo) continue;
          const xi = x(i.t);
          if (i.kind === "print") tickPath.rect(xi - 0.5, y + L.laneH - 7, 1.5, 7);
          else if (i.kind === "read") reads.rect(xi - 0.75, y + 2, 1.5, L.laneH / 2 - 2);
          else if (i.kind === "write") writes.rect(xi - 0.75, y + L.laneH / 2, 1.5, L.laneH / 2 - 1);
          else if (MARKERS.includes(i.kind)) {
            const p = markers[i.kind], cy = y + L.laneH / 2;
            p.moveTo(xi, cy - r); p.lineTo(xi + r, cy); p.lineTo(xi, cy + r); p.lineTo(xi - r, cy); p.closePath();
          }
        }
      }
      for (const s of [...STATES, "cpu"]) { g.fillStyle = COLOURS[s]; g.fill(paths[s]); }
      g.fillStyle = COLOURS.hold; g.fill(holds);
      g.fillStyle = "#9c5d00"; g.fill(inner);
      g.fillStyle = COLOURS.print; g.fill(tickPath);
      g.fillStyle = COLOURS.read; g.fill(reads);
      g.fillStyle = COLOURS.write; g.fill(writes);
      g.strokeStyle = "#ffffff"; g.lineWidth = 1;
      for (const k of MARKERS) { g.fillStyle = COLOURS[k]; g.fill(markers[k]); g.stroke(markers[k]); }
      this.drawLost(g, upTo);
      this.drawLevels(g, upTo, lanesBottom);

      // printed values, where there is room
      g.font = Math.round(L.font * 0.85) + "px ui-monospace, monospace";
      g.fillStyle = "#ffffff";
      for (const lane of m.lanes) {
        let lastEnd = -Infinity;
        const y = laneY(lane.index) + L.laneH / 2;
        for (const i of lane.instants) {
          if (i.kind !== "print" || i.t > upTo) continue;
          const text = String(i.detail), px = x(i.t) + 2, w = g.measureText(text).width;
          if (px > lastEnd + 2 && L.laneH >= 20) { g.fillText(text, px, y); lastEnd = px + w; }
        }
      }

      // pool tasks: a pool worker's run segments are labelled with their task, e.g. "square(3)"
      for (const lane of m.lanes) {
        if (lane.kind !== "pool-worker" || L.laneH < 20) continue;
        const label = (task, end) => {
          const x0 = x(task.t0), w = x(Math.min(end, upTo)) - x0;
          if (g.measureText(task.obj).width + 4 <= w) g.fillText(task.obj, x0 + 2, laneY(lane.index) + L.laneH / 2);
        };
        let task = null; // a task spans its run/gil slices, up to the next state or task
        for (const s of lane.segments) {
          if (s.t0 > upTo) break;
          if (task && ((s.state !== "run" && s.state !== "gil") || s.obj)) { label(task, s.t0); task = null; }
          if (s.state === "run" && s.obj) task = s;
        }
        if (task) label(task, now);
      }

      // why a lane crashed, beside its end: the one thing a learner must not miss
      g.font = "bold " + Math.round(L.font * 0.9) + "px system-ui, sans-serif";
      g.fillStyle = COLOURS.crash;
      for (const lane of m.lanes) {
        const crash = lane.segments[lane.segments.length - 1]; // a crash always ends its lane
        if (!crash || crash.state !== "crash" || crash.t0 > upTo || L.laneH < 14) continue;
        const x0 = x(crash.t0) + 8, room = width - L.right - x0;
        let text = "✖ " + String(crash.detail || "crashed").split("\n")[0];
        while (text.length > 4 && g.measureText(text).width > room) text = text.slice(0, -2) + "…";
        if (room > 40) g.fillText(text, x0, laneY(lane.index) + L.laneH / 2);
      }

      // who woke whom
      g.strokeStyle = COLOURS.link; g.fillStyle = COLOURS.link; g.lineWidth = 1.2;
      for (const link of m.links) {
        if (link.t1 > upTo) continue;
        const a = this.model.byName.get(link.from), b = this.model.byName.get(link.to);
        if (!a || !b) continue;
        const x0 = x(link.t0), y0 = laneY(a.index) + L.laneH / 2, x1 = x(link.t1), y1 = laneY(b.index) + L.laneH / 2;
        g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1); g.stroke();
        const angle = Math.atan2(y1 - y0, x1 - x0);
        g.beginPath(); g.moveTo(x1, y1);
        g.lineTo(x1 - 7 * Math.cos(angle - 0.4), y1 - 7 * Math.sin(angle - 0.4));
        g.lineTo(x1 - 7 * Math.cos(angle + 0.4), y1 - 7 * Math.sin(angle + 0.4));
        g.closePath(); g.fill();
      }
      g.lineWidth = 1;

      // marks from the runner (deadlock, limits)
      g.strokeStyle = COLOURS.mark; g.fillStyle = COLOURS.mark; g.setLineDash([4, 3]);
      let lastLabel = -Infinity, row = 0;
      for (const mark of m.marks) {
        if (mark.t > upTo) continue;
        g.beginPath(); g.moveTo(x(mark.t), L.axisH); g.lineTo(x(mark.t), height); g.stroke();
        g.font = "bold " + L.font + "px system-ui, sans-serif";
        g.textAlign = "right";
        // Marks close together (deadlock, then stop) stack their labels instead of overlapping.
        row = x(mark.t) - lastLabel < 80 ? row + 1 : 0;
        lastLabel = x(mark.t);
        const label = mark.obj, lw = g.measureText(label).width, ly = L.axisH + 8 + row * (L.font + 3);
        g.fillStyle = "rgba(255, 255, 255, 0.9)";
        g.fillRect(x(mark.t) - 6 - lw, ly - L.font / 2 - 1, lw + 4, L.font + 2);
        g.fillStyle = COLOURS.mark;
        g.fillText(label, x(mark.t) - 4, ly);
        g.textAlign = "left";
      }
      g.setLineDash([]);
      this.drawCycle(g, upTo);
      if (this.cursor !== null) {
        g.strokeStyle = "#000"; g.beginPath(); g.moveTo(x(this.cursor), 0); g.lineTo(x(this.cursor), height); g.stroke();
      }
    }

    // Lost updates. The first one is drawn in full: a pink band on the lane that read
    // a stale value, from its read to its write, a ring on the write it overwrote (the
    // lost update) and a dashed line between them. Every other overwritten write gets
    // a small ring, so the count stays visible without drowning the lanes.
    drawLost(g, upTo) {
      const m = this.model, { x, laneY, L, plotW } = this.geometry;
      if (!m.lost.length) return;
      g.save();
      g.strokeStyle = COLOURS.lost;
      g.lineWidth = 1;
      const r = Math.max(2.5, L.laneH / 5);
      for (const lost of m.lost.slice(1)) {
        const b = m.byName.get(lost.by);
        if (!b || lost.tWrite > upTo) continue;
        g.beginPath(); g.arc(x(lost.tBy), laneY(b.index) + L.laneH / 2, r, 0, 2 * Math.PI); g.stroke();
      }
      const first = m.lost[0];
      const a = m.byName.get(first.worker), b = m.byName.get(first.by);
      if (a && b && first.tWrite <= upTo) {
        const ya = laneY(a.index), yb = laneY(b.index);
        const x0 = x(first.tRead), x1 = Math.max(x0 + 3, x(first.tWrite));
        g.fillStyle = "rgba(214, 51, 132, 0.30)";
        g.fillRect(x0, ya, x1 - x0, L.laneH);
        g.lineWidth = 2.5;
        g.strokeRect(x0, ya + 0.5, x1 - x0, L.laneH - 1);
        g.beginPath(); g.arc(x(first.tBy), yb + L.laneH / 2, r + 2, 0, 2 * Math.PI); g.stroke();
        g.lineWidth = 1.5;
        g.setLineDash([3, 3]);
        g.beginPath(); g.moveTo(x(first.tBy), yb + L.laneH / 2); g.lineTo(x1, ya + L.laneH / 2); g.stroke();
        g.setLineDash([]);
        g.font = "bold " + L.font + "px system-ui, sans-serif";
        const text = `lost update: ${first.worker} read ${first.readValue}, wrote ${first.value} over ${first.by}'s ${first.byValue}`;
        const w = g.measureText(text).width;
        const tx = Math.max(L.labelW + 2, Math.min(x1 + 8, L.labelW + plotW - w - 2));
        const ty = ya + L.laneH / 2;
        g.fillStyle = "rgba(255, 255, 255, 0.92)";
        g.fillRect(tx - 3, ty - L.font / 2 - 3, w + 6, L.font + 6);
        g.fillStyle = COLOURS.lost;
        g.textBaseline = "middle";
        g.fillText(text, tx, ty);
      }
      g.restore();
    }

    // Gauges (free slots, buffer fill...): a step line per object, under the lanes.
    drawLevels(g, upTo, top) {
      const m = this.model, { x, L, plotW } = this.geometry;
      const end = Math.min(m.tMax, upTo);
      g.save();
      for (const gauge of m.levels.values()) {
        const y0 = top + L.gaugeGap / 2 + gauge.index * (L.gaugeH + L.gaugeGap);
        const h = L.gaugeH, pad = 6, vmax = Math.max(1, gauge.max);
        const y = (v) => y0 + h - pad / 2 - (v / vmax) * (h - pad - L.font * 0.2);
        g.fillStyle = "#f3f6f8";
        g.fillRect(L.labelW, y0, plotW, h);
        g.strokeStyle = "#dfe3e7"; g.lineWidth = 1;
        g.beginPath(); g.moveTo(L.labelW, y(0) + 0.5); g.lineTo(L.labelW + plotW, y(0) + 0.5); g.stroke();
        let last = null;
        const line = new Path2D(), area = new Path2D();
        for (const p of gauge.points) {
          if (p.t > upTo) break;
          if (last === null) { line.moveTo(x(p.t), y(p.v)); area.moveTo(x(p.t), y(0)); area.lineTo(x(p.t), y(p.v)); }
          else { line.lineTo(x(p.t), y(last.v)); line.lineTo(x(p.t), y(p.v)); area.lineTo(x(p.t), y(last.v)); area.lineTo(x(p.t), y(p.v)); }
          last = p;
        }
        if (last !== null) {
          const xe = x(Math.max(end, last.t));
          line.lineTo(xe, y(last.v)); area.lineTo(xe, y(last.v)); area.lineTo(xe, y(0)); area.closePath();
          g.fillStyle = "rgba(15, 127, 131, 0.18)"; g.fill(area);
          g.strokeStyle = COLOURS.level; g.lineWidth = 2; g.stroke(line);
        }
        g.lineWidth = 1;
        g.fillStyle = COLOURS.level;
        g.font = "600 " + Math.round(L.font * 0.95) + "px system-ui, sans-serif";
        g.textAlign = "right";
        g.textBaseline = "middle";
        g.fillText(gauge.obj, L.labelW - 8, y0 + h * 0.35);
        g.font = Math.round(L.font * 0.85) + "px system-ui, sans-serif";
        g.fillStyle = "#5f6368";
        g.fillText(`now ${last === null ? "–" : last.v} · max ${gauge.max}`, L.labelW - 8, y0 + h * 0.72);
        g.textAlign = "left";
        g.fillText(String(vmax), L.labelW + 3, y(vmax) + 1);
      }
      g.restore();
    }

    // A deadlock: the lanes in the cycle outlined, each wait labelled with what it
    // waits for and who holds that, and an arrow from each waiter to the holder.
    drawCycle(g, upTo) {
      const m = this.model, dl = m.deadlock;
      if (!dl || dl.t > upTo) return;
      const { x, laneY, L, plotW } = this.geometry;
      const n = dl.cycle.length;
      g.save();
      for (const [worker, obj] of dl.stuck || []) {
        const a = m.byName.get(worker);
        if (!a) continue;
        const ya = laneY(a.index);
        g.strokeStyle = COLOURS.cycle; g.lineWidth = 2;
        g.strokeRect(L.labelW - 2, ya - 1, plotW + 4, L.laneH + 2);
        const wait = [...a.segments].reverse().find((s) => s.state === "wait" && s.obj === obj && s.t0 <= dl.t);
        if (wait && L.laneH >= 11) {
          g.font = "600 " + L.laneFont + "px system-ui, sans-serif";
          g.fillStyle = "#ffffff";
          g.fillText(`waits for ${obj}: nobody is left to wake it`, x(wait.t0) + 4, ya + L.laneH / 2);
        }
      }
      g.strokeStyle = COLOURS.cycle; g.fillStyle = COLOURS.cycle;
      for (let i = 0; i < n; i += 1) {
        const [worker, obj] = dl.cycle[i];
        const holder = dl.cycle[(i + 1) % n][0];
        const a = m.byName.get(worker), b = m.byName.get(holder);
        if (!a || !b) continue;
        const ya = laneY(a.index), yb = laneY(b.index);
        g.lineWidth = 2;
        g.strokeRect(L.labelW - 2, ya - 1, plotW + 4, L.laneH + 2);
        // The holder's hold on the object it will not give back.
        const hold = b.holds.find((h) => h.obj === obj && h.t0 <= dl.t && (h.t1 === null || h.t1 >= dl.t));
        if (hold) { g.lineWidth = 2; g.strokeRect(x(hold.t0), yb - 1, Math.max(2, x(dl.t) - x(hold.t0)), 6); }
        // Label inside the waiter's wait, where there is room.
        const wait = [...a.segments].reverse().find((s) => s.state === "wait" && s.obj === obj && s.t0 <= dl.t);
        if (wait && L.laneH >= 11) {
          const text = holder === worker ? `waits for ${obj}, which it holds itself` : `waits for ${obj}, held by ${holder}`;
          g.font = "600 " + L.laneFont + "px system-ui, sans-serif";
          g.fillStyle = "#ffffff";
          g.fillText(text, x(wait.t0) + 4, ya + L.laneH / 2);
          g.fillStyle = COLOURS.cycle;
        }
        // Arrow waiter -> holder just before the mark (a loop when it is itself), dark
        // with a white halo so it reads on top of the red waits.
        const xa = x(dl.t) - 16 - (n <= 6 ? i * 24 : (i % 6) * 5);
        const y0 = ya + L.laneH / 2, y1 = yb + L.laneH / 2;
        const curve = new Path2D(), head = new Path2D();
        if (holder === worker) {
          const rr = Math.max(5, L.laneH / 2.5);
          curve.arc(xa, y0, rr, 0.25 * Math.PI, 1.9 * Math.PI);
          const ex = xa + rr * Math.cos(0.25 * Math.PI), ey = y0 + rr * Math.sin(0.25 * Math.PI);
          head.moveTo(ex, ey); head.lineTo(ex + 7, ey - 2); head.lineTo(ex + 1, ey - 7); head.closePath();
        } else {
          const bend = (n <= 6 ? 18 : 10) + Math.min(40, Math.abs(y1 - y0) / 4);
          curve.moveTo(xa, y0); curve.quadraticCurveTo(xa - bend, (y0 + y1) / 2, xa, y1);
          const angle = Math.atan2(y1 - (y0 + y1) / 2, bend);
          head.moveTo(xa, y1);
          head.lineTo(xa - 9 * Math.cos(angle - 0.45), y1 - 9 * Math.sin(angle - 0.45));
          head.lineTo(xa - 9 * Math.cos(angle + 0.45), y1 - 9 * Math.sin(angle + 0.45));
          head.closePath();
        }
        g.strokeStyle = "#ffffff"; g.lineWidth = 5; g.stroke(curve); g.stroke(head);
        g.strokeStyle = "#202124"; g.fillStyle = "#202124"; g.lineWidth = 2; g.stroke(curve); g.fill(head);
        g.strokeStyle = COLOURS.cycle; g.fillStyle = COLOURS.cycle;
      }
      g.restore();
    }

    tip() {
      if (!this._tip) {
        this._tip = document.createElement("div");
        this._tip.className = "timeline-tip";
        this._tip.hidden = true;
        document.body.appendChild(this._tip);
      }
      return this._tip;
    }

    onHover(e) {
      const geo = this.geometry;
      if (!geo) return;
      const rect = this.canvas.getBoundingClientRect();
      const px = e.clientX - rect.left, py = e.clientY - rect.top;
      const index = Math.floor((py - geo.L.axisH) / (geo.L.laneH + geo.L.gap));
      const lane = this.model.lanes[index];
      const tip = this.tip();
      if (!lane || px < geo.L.labelW) { tip.hidden = true; return; }
      const t = ((px - geo.L.labelW) / geo.plotW) * geo.span;
      const seg = lane.segments.find((s) => s.t0 <= t && (s.t1 === null || s.t1 >= t));
      if (!seg) { tip.hidden = true; return; }
      const dur = (seg.t1 === null ? this.model.tMax : seg.t1) - seg.t0;
      const hold = lane.holds.find((h) => h.t0 <= t && (h.t1 === null || h.t1 >= t));
      const isProcess = lane.kind === "process" || lane.kind === "pool-worker";
      const waitsForCore = seg.obj === "CPU" || (seg.obj !== "GIL" && isProcess);
      const state = STATE_WORDS[seg.state === "gil" && waitsForCore ? "cpu" : seg.state] || seg.state;
      const what = seg.state === "gil" ? " (estimated from CPU clocks)" : seg.obj ? " " + seg.obj : "";
      tip.textContent = `${lane.name}: ${state}${what} for ${formatNs(dur, dur)}` +
        (hold ? ` · holds ${hold.obj}` : "") + (seg.detail && typeof seg.detail === "string" && seg.state !== "start" ? ` · ${seg.detail}` : "");
      tip.style.left = e.pageX + 12 + "px";
      tip.style.top = e.pageY + 12 + "px";
      tip.hidden = false;
    }
  }

  window.Interleave = Object.assign(window.Interleave || {}, { Timeline, COLOURS, LANE_TINTS, formatNs });
})();
