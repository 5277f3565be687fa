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
    gil: "#9aa0a6", crash: "#202124",
    hold: "#f0a830", link: "#1f3f8f", print: "#202124", mark: "#b3261e",
  };
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
      this.model = { lanes: [], byName: new Map(), links: [], marks: [], tMax: 0, events: 0, done: false };
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
      const m = this.model;
      for (const [t, worker, kind, obj, detail, link] of batch) {
        m.events += 1;
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
          lane.open.set(obj, { obj, t0: t, t1: null });
          lane.holds.push(lane.open.get(obj));
        } else if (kind === "release") {
          const hold = lane.open.get(obj);
          if (hold) { hold.t1 = t; lane.open.delete(obj); }
        }
        if (["release", "notify", "put"].includes(kind)) this.lastAction.set(worker + "|" + obj, t);
        if (kind === "mark") m.marks.push({ t, obj, detail });
        if (!STATES.includes(kind) && kind !== "acquire" && kind !== "release") lane.instants.push({ kind, t, obj, detail, link });
        if (link) {
          const from = this.model.byName.get(link);
          let tFrom = this.lastAction.get(link + "|" + obj);
          if (tFrom === undefined) tFrom = from && from.end !== undefined ? from.end : t;
          m.links.push({ from: link, to: worker, t0: tFrom, t1: t, obj });
        }
      }
      this.requestDraw();
    }

    finish(summary) {
      this.model.done = true;
      this.model.summary = summary;
      const end = summary && summary.duration_ms ? summary.duration_ms * 1e6 : this.model.tMax;
      if (end > this.model.tMax) this.model.tMax = end;
      this.requestDraw();
    }

    stats() {
      const m = this.model;
      let waits = 0, holds = 0, prints = 0, crashes = 0, gil = 0;
      for (const lane of m.lanes) {
        for (const s of lane.segments) {
          if (s.state === "wait") waits += 1;
          if (s.state === "crash") crashes += 1;
          if (s.state === "gil") gil += 1;
        }
        holds += lane.holds.length;
        prints += lane.instants.filter((i) => i.kind === "print").length;
      }
      return { lanes: m.lanes.length, events: m.events, waits, holds, links: m.links.length, prints, crashes, gil, done: m.done };
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
      const laneH = big ? 40 : lanes > 24 ? 16 : 26;
      return { labelW: big ? 170 : 120, axisH: big ? 34 : 24, laneH, gap: lanes > 24 ? 2 : 4, font: big ? 18 : 12, right: 16 };
    }

    draw() {
      const c = this.canvas, m = this.model, L = this.layout();
      const dpr = window.devicePixelRatio || 1;
      const width = c.parentElement.clientWidth;
      const height = L.axisH + Math.max(1, m.lanes.length) * (L.laneH + L.gap) + 8;
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
      const holds = new Path2D();
      const tickPath = new Path2D();
      const now = m.done ? m.tMax : m.tMax;
      for (const lane of m.lanes) {
        const y = laneY(lane.index);
        g.fillStyle = LANE_TINTS[lane.index % LANE_TINTS.length];
        g.textAlign = "right";
        g.fillText(lane.name, L.labelW - 8, y + L.laneH / 2);
        g.textAlign = "left";
        for (const s of lane.segments) {
          if (s.t0 > upTo || s.state === "done") continue;
          const t1 = Math.min(s.t1 === null ? now : s.t1, upTo);
          const x0 = x(s.t0), w = Math.max(1, x(t1) - x0);
          if (s.state === "crash") { paths.crash.rect(x0, y, Math.max(4, w), L.laneH); continue; }
          paths[s.state].rect(x0, y + 3, w, L.laneH - 6);
        }
        for (const h of lane.holds) {
          if (h.t0 > upTo) continue;
          const t1 = Math.min(h.t1 === null ? now : h.t1, upTo);
          holds.rect(x(h.t0), y, Math.max(1, x(t1) - x(h.t0)), 4);
        }
        for (const i of lane.instants) {
          if (i.t > upTo || i.kind !== "print") continue;
          tickPath.rect(x(i.t) - 0.5, y + L.laneH - 7, 1.5, 7);
        }
      }
      for (const s of STATES) { g.fillStyle = COLOURS[s]; g.fill(paths[s]); }
      g.fillStyle = COLOURS.hold; g.fill(holds);
      g.fillStyle = COLOURS.print; g.fill(tickPath);

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
      for (const mark of m.marks) {
        if (mark.t > upTo) continue;
        g.beginPath(); g.moveTo(x(mark.t), L.axisH); g.lineTo(x(mark.t), height); g.stroke();
        g.font = "bold " + L.font + "px system-ui, sans-serif";
        g.textAlign = "right";
        g.fillText(mark.obj, x(mark.t) - 4, L.axisH + 8);
        g.textAlign = "left";
      }
      g.setLineDash([]);
      if (this.cursor !== null) {
        g.strokeStyle = "#000"; g.beginPath(); g.moveTo(x(this.cursor), 0); g.lineTo(x(this.cursor), height); g.stroke();
      }
      const st = this.stats();
      for (const key of Object.keys(st)) c.dataset[key] = String(st[key]);
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
      tip.textContent = `${lane.name}: ${seg.state}${seg.obj ? " " + seg.obj : ""} for ${formatNs(dur, dur)}` +
        (hold ? ` · holds ${hold.obj}` : "") + (seg.detail && typeof seg.detail === "string" && seg.state !== "start" ? ` · ${seg.detail}` : "");
      tip.style.left = e.pageX + 12 + "px";
      tip.style.top = e.pageY + 12 + "px";
      tip.hidden = false;
    }
  }

  window.Interleave = Object.assign(window.Interleave || {}, { Timeline, COLOURS, LANE_TINTS, formatNs });
})();
