/* The renderer: draws a Model on a canvas for a time window, a cursor and a
 * selection, and remembers what it drew where (for hover and taps).
 *
 * Drawing cost follows pixels, not events:
 * - a lane with more segments in view than pixels is drawn per pixel column: the
 *   state it spent most time in (and, beneath, a second one that took a quarter or
 *   more: a mix); otherwise each segment is a rectangle;
 * - arrows and instants are drawn one by one only when they are a few pixels apart;
 *   closer ones are counted into a badge per stretch of the lane;
 * - lanes beyond what fits fold into groups (a band, or a run of lanes) drawn as one
 *   row of their summed states; a click opens them.
 * State bars and lock-holder strips are rectangles on whole device pixels, written
 * into one bitmap of the plot (a `PixelBars`) and copied at once: a software canvas
 * rasterises a path of thousands of rectangles far slower (measured: 35 ms of a 45 ms
 * frame for 32 busy lanes). A second channel (a pattern) over each state.
 */
import V from "/ui/vocabulary.js";
import { NSTATES, STATE, lowerBound, upperBound } from "./model.js";
import { formatTime } from "./describe.js";

export const LOOKS = V.states;
const DONE = STATE.done;
const MARK = V.marks;
const CHROME = V.chrome;
const TINTS = V.laneTints;
const INSTANT_CODE = Object.fromEntries(V.instantKinds.map((kind, i) => [kind, i]));
const DIAMONDS = new Set(["notify", "put", "get"].map((k) => INSTANT_CODE[k]));
const TICKS = { print: INSTANT_CODE.print, read: INSTANT_CODE.read, write: INSTANT_CODE.write };

/** "#rrggbb" at an opacity, for washes and highlights. */
export function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

/** Tick spacing: 1, 2 or 5 times a power of ten, about `target` ticks over span. */
function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

/** Axis labels: the unit fits the window's end, the decimals fit the step. */
function axisFormatter(end, step) {
  const [unit, name] = end >= 1e10 ? [1e9, "s"] : end >= 1e7 ? [1e6, "ms"] : end >= 1e4 ? [1e3, "µs"] : [1, "ns"];
  const digits = Math.max(0, Math.min(9, Math.ceil(-Math.log10(step / unit) - 1e-9)));
  return (t) => (t / unit).toFixed(digits) + " " + name;
}

/** A badge's number: exact below 100, else two digits and a "+" ("900+", "1.2k+"): the
 *  hover sentence has the exact count, and a few hundred texts cover every badge. */
export function badgeText(n) {
  if (n < 100) return String(n);
  const digits = Math.floor(Math.log10(n)) - 1, two = Math.floor(n / 10 ** digits) * 10 ** digits;
  if (two < 1000) return `${two}+`;
  if (two < 1e6) return two < 1e4 ? `${(two / 1000).toFixed(1)}k+` : `${two / 1000}k+`;
  return two < 1e7 ? `${(two / 1e6).toFixed(1)}M+` : `${two / 1e6}M+`;
}

/** "Thread-1…8" for Thread-1 to Thread-8; "a…z" when the names differ more. */
function lanesLabel(lanes) {
  const first = lanes[0].name, last = lanes[lanes.length - 1].name;
  if (lanes.length === 1) return first;
  const a = /^(.*?)(\d+)$/.exec(first), b = /^(.*?)(\d+)$/.exec(last);
  if (a && b && a[1] === b[1]) return `${first}…${b[2]}`;
  return `${first}…${last}`;
}

/** Per column: the dominant state over the bar, a second one (>= 25 %) beneath it. */
export function columnsToPaths(acc, columns, paths, x0, w, top, h) {
  const mixH = Math.max(2, Math.round(h * 0.3));
  let runSlot = -1, runStart = 0, mixSlot = -1, mixStart = 0;
  const flushRun = (c) => { if (runSlot >= 0) paths[runSlot].rect(x0 + runStart * w, top, (c - runStart) * w, h); };
  const flushMix = (c) => { if (mixSlot >= 0) paths[mixSlot].rect(x0 + mixStart * w, top + h - mixH, (c - mixStart) * w, mixH); };
  for (let c = 0; c <= columns; c += 1) {
    let best = -1, second = -1, total = 0;
    if (c < columns) {
      let bv = 0, sv = 0;
      const base = c * NSTATES;
      for (let s = 0; s < NSTATES; s += 1) {
        if (s === DONE) continue;
        const v = acc[base + s];
        if (v <= 0) continue;
        total += v;
        if (v > bv) { second = best; sv = bv; best = s; bv = v; }
        else if (v > sv) { second = s; sv = v; }
      }
      if (second >= 0 && sv < total * 0.25) second = -1;
    }
    const slot = best, mix = second; // a state code is its look's index
    if (slot !== runSlot) { flushRun(c); runSlot = slot; runStart = c; }
    if (mix !== mixSlot) { flushMix(c); mixSlot = mix; mixStart = c; }
  }
}

/** "#rrggbb" (opaque) as a pixel of a little-endian Uint32 view of RGBA bytes. */
function pixel(hex) {
  const n = parseInt(hex.slice(1), 16);
  return (0xff000000 | ((n & 255) << 16) | (n & 0xff00) | (n >> 16)) >>> 0;
}

/** Rectangles of one fill, kept as numbers until they are rasterised. */
export class Rects {
  constructor() {
    this.a = new Float64Array(256);
    this.n = 0;
  }
  rect(x, y, w, h) {
    if (this.n + 4 > this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    const a = this.a, n = this.n;
    a[n] = x; a[n + 1] = y; a[n + 2] = w; a[n + 3] = h;
    this.n = n + 4;
  }
}

/** The plot area as a bitmap: rectangles (CSS px) filled on whole device pixels with a
 *  state's colour and pattern, then put on a canvas at once. Each fill
 *  is a copy of a pre-made row of its tile (the pattern anchored at the canvas origin,
 *  as a canvas pattern is), so the cost follows the pixels covered, not the rectangles. */
export class PixelBars {
  constructor() {
    this.key = "";
    this.image = null;
  }

  /** Start a frame: `fills` = [{ colour, tile }] (tile: a canvas of the pattern over
   *  the colour, or null: plain). The bitmap spans device columns [left, left + width). */
  begin(left, width, height, fills, fillsKey) {
    const key = `${left}|${width}|${height}|${fillsKey}`;
    if (key !== this.key) {
      this.key = key;
      this.left = left; this.width = width; this.height = height;
      if (!this.image || this.image.width !== width || this.image.height !== height) {
        this.image = new ImageData(Math.max(1, width), Math.max(1, height));
        this.pixels = new Uint32Array(this.image.data.buffer);
      }
      this.fills = fills;
      this.rows = fills.map(() => null); // per fill, per tile row: a row as wide as the bitmap (made when first used)
      this.solid = fills.map(({ colour }) => pixel(colour));
    }
    this.pixels.fill(0);
  }

  /** Fill rectangles (CSS px, device pixel ratio dpr) with fill `f`. */
  fill(rects, f, dpr) {
    const a = rects.a, px = this.pixels, W = this.width, H = this.height, left = this.left;
    const tile = this.fills[f].tile, solid = this.solid[f];
    if (tile && !this.rows[f]) this.rows[f] = this.tileRows(tile);
    const rows = this.rows[f];
    for (let i = 0; i < rects.n; i += 4) {
      let x0 = Math.round(a[i] * dpr) - left, x1 = Math.round((a[i] + a[i + 2]) * dpr) - left;
      let y0 = Math.round(a[i + 1] * dpr), y1 = Math.round((a[i + 1] + a[i + 3]) * dpr);
      if (x1 <= x0) x1 = x0 + 1;
      if (y1 <= y0) y1 = y0 + 1;
      if (x0 < 0) x0 = 0;
      if (x1 > W) x1 = W;
      if (y0 < 0) y0 = 0;
      if (y1 > H) y1 = H;
      if (x0 >= x1) continue;
      // plain loops: most rectangles are a few pixels wide (a view per row costs more)
      for (let y = y0; y < y1; y += 1) {
        const o = y * W;
        if (rows) {
          const row = rows[y % rows.length];
          for (let x = x0; x < x1; x += 1) px[o + x] = row[x];
        } else for (let x = x0; x < x1; x += 1) px[o + x] = solid;
      }
    }
  }

  /** A tile's rows repeated across the bitmap, in phase with the canvas origin. */
  tileRows(tile) {
    const size = tile.width, W = this.width;
    const data = new Uint32Array(tile.getContext("2d").getImageData(0, 0, size, size).data.buffer);
    const rows = [];
    for (let r = 0; r < size; r += 1) {
      const row = new Uint32Array(W + size);
      const phase = this.left % size; // the bitmap's first column is this far into a tile
      for (let x = 0; x < size; x += 1) row[x] = data[r * size + ((phase + x) % size)];
      for (let filled = size; filled < W; filled *= 2) row.copyWithin(filled, 0, Math.min(filled, W - filled));
      rows.push(row.subarray(0, W));
    }
    return rows;
  }

  /** Write the bitmap onto g as it is (over whatever was there: a cleared canvas). */
  put(g) {
    g.putImageData(this.image, this.left, 0);
  }
}

export class Renderer {
  constructor(canvas, model) {
    this.canvas = canvas;
    this.model = model;
    this.fills = null; // per mode and pixel ratio, made on first draw: each look's tile
    this.fillsKey = "";
    this.bars = new PixelBars();
    this.labelCache = { key: "", width: 0 };
    this.acc = new Float64Array(0); // per-column time per state (reused)
    this.geometry = null;
    this.hits = { arrows: [], instants: [], badges: [] };
    this.layer = null; // what drawStatic drew, kept while the model and the view stay
    this.layerKey = ""; // the picture drawn last (model, view, size...)
    this.layerHolds = ""; // the picture the layer holds ("": none, it is on the canvas only)
  }

  // ---- layout ---------------------------------------------------------------

  /** Sizes for this frame: fonts from CSS (the mode sets them), rows from the lanes. */
  layout(options) {
    const canvas = this.canvas, m = this.model;
    const projector = document.documentElement.classList.contains("projector");
    const font = parseFloat(getComputedStyle(canvas).fontSize) || 12;
    const width = Math.max(200, canvas.parentElement.clientWidth);
    const g = canvas.getContext("2d");
    const pad = Math.round(font * 0.5);
    const notes = m.marks.length > 0 || m.lost.length > 0;
    const L = {
      projector, font, width, pad,
      small: projector ? font : Math.max(10, Math.round(font * 0.85)),
      right: Math.round(font * 0.8),
      axisH: Math.round(font * (projector ? 1.5 : 2)),
      notesH: notes ? Math.round(font * 1.6) : 0,
      headingH: Math.round(font * 1.5),
      gaugeH: Math.round(font * (projector ? 2.4 : 3.4)),
      gaugeGap: 6,
      arrow: projector ? 3 : 1.6, // line width of an arrow (the issue's floor: 3 px on a projector)
      minGap: projector ? 12 : 6, // closer marks than this are counted, not drawn
    };
    const lanes = m.lanes.length;
    const gauges = m.levels.size * (L.gaugeH + L.gaugeGap);
    const fixed = L.axisH + L.notesH + gauges + 6;
    if (projector) {
      // a lane reads from the back row: 48 px at 1080 px of screen, more when few
      const screen = Math.min(1, window.innerHeight / 1080);
      L.laneMin = Math.max(Math.round(font * 1.55), Math.round(48 * screen));
      L.laneMax = Math.round(font * 6);
      L.gap = 6;
      const avail = options.avail || 600;
      L.budget = Math.max(2, Math.floor((avail - fixed) / (L.laneMin + L.gap)));
    } else {
      // many workers: lanes shrink so 32+ still fit a screen
      L.laneMin = L.laneMax = lanes > 40 ? 11 : lanes > 24 ? 15 : 26;
      L.gap = lanes > 24 ? 2 : 4;
      L.budget = 48;
    }
    const rows = this.rows(L, options.folds || new Map());
    // the label column fits the names shown (lanes, and the labels of folded groups)
    const labels = rows.map((r) => (r.type === "lane" ? r.lane.name : r.type === "group" ? "▸ " + r.label : ""));
    const labelKey = `${labels.join("|")}|${font}`;
    if (this.labelCache.key !== labelKey) {
      g.font = `600 ${font}px system-ui, sans-serif`;
      this.labelCache = { key: labelKey, width: Math.max(...labels.map((text) => g.measureText(text).width), 0) };
    }
    L.labelW = Math.round(Math.min(width * 0.3, this.labelCache.width + 2 * pad + font));
    L.plotX = L.labelW;
    L.plotW = Math.max(50, width - L.labelW - L.right);
    // a summed column per pixel, or per two on a wide screen (half the work, and
    // finer than an eye at a projector's distance tells apart)
    L.columnPx = L.plotW > 1200 ? 2 : 1;
    let laneH = L.laneMin;
    if (projector) {
      const headings = rows.filter((r) => r.type === "heading").length * (L.headingH + L.gap);
      const laneRows = rows.length - rows.filter((r) => r.type === "heading").length;
      const free = (options.avail || 600) - fixed - headings;
      laneH = Math.max(L.laneMin, Math.min(L.laneMax, Math.floor(free / Math.max(1, laneRows)) - L.gap));
    }
    L.laneH = laneH;
    L.holdH = Math.max(4, Math.round(laneH * 0.14)); // the lock-holder strip over the bar
    let y = L.axisH + L.notesH;
    for (const row of rows) {
      row.y = y;
      row.h = row.type === "heading" ? L.headingH : laneH;
      y += row.h + L.gap;
    }
    L.lanesBottom = Math.max(y, L.axisH + L.notesH + laneH);
    L.height = L.lanesBottom + gauges + 6;
    if (projector && options.avail) L.height = Math.max(L.height, options.avail);
    L.rows = rows;
    return L;
  }

  /** Rows: lanes, grouped by band (in order of first appearance), folded to fit. */
  rows(L, folds) {
    const m = this.model;
    const sections = m.bands
      .map((band) => ({ band, lanes: m.lanes.filter((lane) => lane.band === band) }))
      .filter((s) => s.lanes.length);
    const key = (s) => "band:" + s.band;
    for (const s of sections) s.folded = s.band !== "" && folds.get(key(s)) === "closed";
    const count = () => sections.reduce((n, s) => n + (s.folded ? 1 : s.lanes.length + (s.band ? 1 : 0)), 0);
    // fold whole bands first, the largest first, unless someone opened them
    const foldable = sections.filter((s) => s.band !== "" && !folds.has(key(s))).sort((a, b) => b.lanes.length - a.lanes.length);
    for (const s of foldable) {
      if (count() <= L.budget) break;
      s.folded = true;
    }
    // then runs of lanes inside the open sections (main stays on its own)
    let chunk = 1;
    const total = count();
    if (total > L.budget) {
      const loose = sections.filter((s) => !s.folded).flatMap((s) => s.lanes.filter((lane) => lane.kind !== "main"));
      const fixedRows = total - loose.length;
      chunk = Math.ceil(loose.length / Math.max(1, L.budget - fixedRows));
    }
    const rows = [];
    for (const s of sections) {
      if (s.folded) {
        rows.push({ type: "group", key: key(s), lanes: s.lanes, label: `${s.band} (${s.lanes.length})`, band: true });
        continue;
      }
      if (s.band) rows.push({ type: "heading", key: key(s), lanes: s.lanes, label: s.band });
      let run = [];
      const flush = () => {
        if (!run.length) return;
        const k = `run:${run[0].name}:${run.length}`;
        if (run.length === 1) rows.push({ type: "lane", lane: run[0] });
        else if (folds.get(k) === "open") {
          rows.push({ type: "heading", key: k, lanes: run, label: lanesLabel(run), open: true });
          for (const lane of run) rows.push({ type: "lane", lane });
        } else rows.push({ type: "group", key: k, lanes: run, label: lanesLabel(run) });
        run = [];
      };
      for (const lane of s.lanes) {
        if (chunk === 1 || lane.kind === "main") {
          flush();
          rows.push({ type: "lane", lane });
          continue;
        }
        run.push(lane);
        if (run.length === chunk) flush();
      }
      flush();
    }
    return rows;
  }

  // ---- drawing --------------------------------------------------------------

  /** Draw the model. state: { view: [t0, t1], cursor, hover, selected, folds, avail }.
   *  What depends only on the model and the view is drawn into a layer kept between
   *  frames; a frame that only moves the cursor or the hover copies it and draws those.
   *  With nothing to draw over it, the picture goes straight onto the canvas. */
  draw(state) {
    const canvas = this.canvas, m = this.model;
    const L = this.layout(state);
    const dpr = window.devicePixelRatio || 1;
    const width = Math.round(L.width * dpr), height = Math.round(L.height * dpr);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = L.width + "px";
      canvas.style.height = L.height + "px";
    }
    const [v0, v1] = state.view;
    const span = Math.max(1, v1 - v0);
    const X = (t) => L.plotX + ((t - v0) / span) * L.plotW;
    const T = (x) => v0 + ((x - L.plotX) / L.plotW) * span;
    const rowOf = new Array(m.lanes.length);
    for (const row of L.rows) {
      if (row.type === "lane") rowOf[row.lane.index] = row;
      else if (row.type === "group") for (const lane of row.lanes) rowOf[lane.index] = row;
    }
    this.geometry = { ...L, v0, v1, span, X, T, rowOf, dpr };
    const folds = state.folds ? [...state.folds].join() : "";
    const key = [v0, v1, width, height, dpr, m.version, state.selected ? state.selected.index : -1, folds, L.font, L.projector, state.nextVersion || 0].join("|");
    const g = canvas.getContext("2d");
    const over = Boolean(state.hover) || (state.cursor !== null && state.cursor !== undefined);
    if (key !== this.layerKey) {
      this.layerKey = key;
      if (!over) {
        // nothing to draw over the picture (a live run, a pan): drawn straight onto the
        // canvas, without the copy of a whole-screen layer (~5 ms on a software canvas);
        // the layer takes a copy only when a cursor or a hover comes
        this.layerHolds = "";
        g.setTransform(dpr, 0, 0, dpr, 0, 0);
        g.clearRect(0, 0, L.width, L.height);
        this.drawStatic(g, L, X, v0, v1, state);
        return;
      }
      this.sizeLayer(width, height);
      const lg = this.layer.getContext("2d");
      lg.setTransform(dpr, 0, 0, dpr, 0, 0);
      lg.clearRect(0, 0, L.width, L.height);
      this.drawStatic(lg, L, X, v0, v1, state);
      this.layerHolds = key;
    } else if (this.layerHolds !== key) {
      if (!over) return; // the canvas shows the picture as drawn, nothing over it
      // a cursor or a hover over the picture on the canvas: keep the picture first
      this.sizeLayer(width, height);
      const lg = this.layer.getContext("2d");
      lg.setTransform(1, 0, 0, 1, 0, 0);
      lg.clearRect(0, 0, width, height);
      lg.drawImage(canvas, 0, 0);
      this.layerHolds = key;
    }
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, width, height);
    g.drawImage(this.layer, 0, 0);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.save();
    g.beginPath();
    g.rect(L.plotX, L.axisH + L.notesH, L.plotW, L.height - L.axisH - L.notesH);
    g.clip();
    this.drawHover(g, L, X, state.hover);
    if (state.cursor !== null && state.cursor !== undefined) {
      const xc = Math.max(L.plotX, X(state.cursor));
      // what has not happened yet at the cursor fades out
      g.fillStyle = CHROME.veil;
      if (xc < L.plotX + L.plotW) g.fillRect(xc, L.axisH + L.notesH, L.plotX + L.plotW - xc, L.height - L.axisH - L.notesH);
    }
    g.restore();
    if (state.cursor !== null && state.cursor !== undefined) this.drawCursor(g, L, X(state.cursor), state.cursor);
  }

  sizeLayer(width, height) {
    if (this.layer && this.layer.width === width && this.layer.height === height) return;
    this.layer = document.createElement("canvas");
    this.layer.width = width;
    this.layer.height = height;
  }

  /** Everything but the cursor and the hover. */
  drawStatic(g, L, X, v0, v1, state) {
    this.hits = { arrows: [], instants: [], badges: [] };
    const dpr = this.geometry.dpr;
    const fillsKey = `${L.projector}|${dpr}`;
    if (this.fillsKey !== fillsKey) {
      // a fill per look, then the lock-holder strip's
      this.fills = LOOKS.map((look) => ({ colour: look.colour, tile: makeTile(look, L.projector, dpr) }));
      this.fills.push({ colour: MARK.hold, tile: null });
      this.fillsKey = fillsKey;
    }
    const left = Math.round(L.plotX * dpr);
    this.bars.begin(left, Math.round((L.plotX + L.plotW) * dpr) - left, Math.round(L.lanesBottom * dpr), this.fills, fillsKey);
    // The bars first, put as pixels on the cleared layer; then what lies beneath them,
    // drawn behind what is there (the rows, then the axis and its grid lines)
    this.drawStates(L, X, v0, v1, this.model.tMax);
    const reentries = this.drawHolds(L, X, v0, v1);
    this.bars.put(g);
    g.globalCompositeOperation = "destination-over";
    this.drawRowsBackground(g, L, state);
    this.drawAxis(g, L, X, v0, v1);
    g.globalCompositeOperation = "source-over";
    g.save();
    g.beginPath();
    g.rect(L.plotX, L.axisH, L.plotW, L.height - L.axisH);
    g.clip();
    this.drawLevels(g, L, X, v0, v1);
    this.drawTexts(g, L, X, v0, v1);
    this.drawLost(g, L, X);
    this.drawMarksAndCounts(g, L, X, v0, v1);
    // over the arrows: a waiter's arrowhead lands where its RLock hold begins, which is
    // where a re-entry often is
    this.drawReentries(g, reentries);
    this.drawCycle(g, L, X);
    g.restore();
    this.drawNotes(g, L, X, v0, v1);
    this.drawLabels(g, L, state);
  }

  drawAxis(g, L, X, v0, v1) {
    g.font = `${L.small}px system-ui, sans-serif`;
    g.textBaseline = "middle";
    g.textAlign = "left";
    const sample = g.measureText("000.000 ms").width;
    const step = niceStep(v1 - v0, Math.max(2, Math.floor(L.plotW / (sample + L.font))));
    const label = axisFormatter(v1, step);
    g.strokeStyle = CHROME.line;
    g.lineWidth = 1;
    g.fillStyle = CHROME.muted;
    const first = Math.ceil(v0 / step) * step;
    for (let t = first; t <= v1; t += step) {
      const x = Math.round(X(t)) + 0.5;
      g.beginPath();
      g.moveTo(x, L.axisH - 4);
      g.lineTo(x, L.lanesBottom);
      g.stroke();
      const text = label(t);
      if (x + 3 + g.measureText(text).width < L.width) g.fillText(text, x + 3, L.axisH / 2);
    }
    g.beginPath();
    g.moveTo(L.plotX, L.axisH - 0.5);
    g.lineTo(L.plotX + L.plotW, L.axisH - 0.5);
    g.stroke();
  }

  drawRowsBackground(g, L, state) {
    for (const row of L.rows) {
      if (row.type === "heading") {
        g.fillStyle = alpha(CHROME.accent, 0.08);
        g.fillRect(0, row.y, L.width, row.h);
        continue;
      }
      const selected = row.type === "lane" && state.selected === row.lane;
      g.fillStyle = selected ? alpha(CHROME.accent, 0.12) : row.type === "group" ? CHROME.track : CHROME.panel;
      g.fillRect(0, row.y - L.gap / 2, L.width, row.h + L.gap);
    }
  }

  /** State bars: exact rectangles when few, per-column dominant states when many. */
  drawStates(L, X, v0, v1, horizon) {
    const m = this.model;
    const paths = LOOKS.map(() => new Rects());
    const columns = Math.max(1, Math.ceil(L.plotW / L.columnPx));
    const dt = (v1 - v0) / columns;
    if (this.acc.length < columns * NSTATES) this.acc = new Float64Array(columns * NSTATES);
    const acc = this.acc;
    for (const row of L.rows) {
      if (row.type === "heading") continue;
      const top = row.y + L.holdH + 1, h = row.h - L.holdH - 1;
      const lanes = row.type === "lane" ? [row.lane] : row.lanes;
      if (row.type === "lane") {
        const lane = row.lane;
        const first = Math.max(0, lane.segmentAt(v0)), last = upperBound(lane.t0.a, lane.t0.n, v1);
        if (last - first <= columns / 2) {
          for (let i = first; i < last; i += 1) {
            const s = lane.st.a[i];
            if (s === DONE) continue;
            const a = lane.t0.a[i], b = m.segmentEnd(lane, i);
            if (b < v0) continue;
            const x0 = X(Math.max(a, v0)), x1 = X(Math.min(b, v1));
            if (s === STATE.crash) paths[s].rect(x0, row.y, Math.max(L.projector ? 8 : 4, x1 - x0), row.h);
            else paths[s].rect(x0, top, Math.max(1, x1 - x0), h);
          }
          continue;
        }
      }
      acc.fill(0, 0, columns * NSTATES);
      for (const lane of lanes) m.accumulate(lane, v0, dt, columns, acc, horizon);
      columnsToPaths(acc, columns, paths, X(v0), L.plotW / columns, top, h);
    }
    // a look at a time, in order (a mix beneath a bar shows when its look comes later)
    for (let slot = 0; slot < LOOKS.length; slot += 1) this.bars.fill(paths[slot], slot, this.geometry.dpr);
  }

  /** Who holds a lock: a strip over the lane; an RLock taken again: a dark notch. */
  drawHolds(L, X, v0, v1) {
    const m = this.model;
    const bars = new Rects(), again = new Path2D();
    const notch = L.projector ? 6 : 4;
    const columns = Math.max(1, Math.ceil(L.plotW / L.columnPx));
    if (!this.cover || this.cover.length < columns) this.cover = new Float64Array(columns);
    if (!this.covered || this.covered.length < columns) this.covered = new Float64Array(columns);
    for (const row of L.rows) {
      if (row.type === "heading") continue;
      const lane = row.lane;
      if (row.type === "group" || upperBound(lane.c0.a, lane.c0.n, v1) - lowerBound(lane.c0.a, lane.c0.n, v0) > columns / 2) {
        // more holds than pixels (or a folded group): per column, a strip as tall as
        // the share of the time it was held (by any lane of the group)
        if (row.type === "lane") m.coverage(lane, v0, (v1 - v0) / columns, columns, this.cover, m.tMax);
        else {
          this.cover.fill(0, 0, columns);
          for (const member of row.lanes) {
            m.coverage(member, v0, (v1 - v0) / columns, columns, this.covered, m.tMax);
            for (let c = 0; c < columns; c += 1) this.cover[c] += this.covered[c];
          }
        }
        const w = L.plotW / columns;
        let level = 0, from = 0;
        for (let c = 0; c <= columns; c += 1) {
          const share = c < columns ? this.cover[c] : 0;
          const next = share <= 0 ? 0 : Math.max(1, Math.min(4, Math.ceil(share * 8)));
          if (next === level) continue;
          if (level) {
            const hh = Math.max(2, (L.holdH * level) / 4);
            bars.rect(L.plotX + from * w, row.y + L.holdH - hh, (c - from) * w, hh);
          }
          level = next;
          from = c;
        }
        continue;
      }
      const open = m.holdsAt(lane, v0);
      let h = open.length ? Math.min(...open) : lowerBound(lane.h0.a, lane.h0.n, v0);
      const last = upperBound(lane.h0.a, lane.h0.n, v1);
      let runX0 = -1, runX1 = -1;
      for (; h < last; h += 1) {
        const end = Number.isNaN(lane.h1.a[h]) ? m.tMax : lane.h1.a[h];
        if (end < v0) continue;
        const x0 = X(Math.max(lane.h0.a[h], v0)), x1 = Math.max(x0 + 1, X(Math.min(end, v1)));
        if (x0 <= runX1 + 0.5) { runX1 = Math.max(runX1, x1); continue; } // merge what touches
        if (runX0 >= 0) bars.rect(runX0, row.y, runX1 - runX0, L.holdH);
        runX0 = x0; runX1 = x1;
      }
      if (runX0 >= 0) bars.rect(runX0, row.y, runX1 - runX0, L.holdH);
      const [r0, r1] = [lowerBound(lane.r0.a, lane.r0.n, v0 - (v1 - v0)), upperBound(lane.r0.a, lane.r0.n, v1)];
      for (let r = r0; r < r1; r += 1) {
        const end = Number.isNaN(lane.r1.a[r]) ? m.tMax : lane.r1.a[r];
        if (end < v0) continue;
        const x0 = X(lane.r0.a[r]), w = Math.max(notch, X(end) - x0);
        again.rect(x0, row.y - 1, w, L.holdH + notch);
      }
    }
    this.bars.fill(bars, LOOKS.length, this.geometry.dpr); // the fill after the looks': the strip's
    return again;
  }

  /** The marks where a holder took its RLock again (from `drawHolds`). */
  drawReentries(g, again) {
    g.strokeStyle = MARK.halo;
    g.lineWidth = 2;
    g.stroke(again);
    g.fillStyle = MARK.reentry;
    g.fill(again);
  }

  /** Arrows (who woke whom) and instants, one by one where they are a few pixels
   *  apart; counted into badges where they crowd. */
  drawMarksAndCounts(g, L, X, v0, v1) {
    const m = this.model;
    const arrows = new Rects(); // x0, y0, x1, y1 each
    const ticks = { print: new Path2D(), read: new Path2D(), write: new Path2D() };
    const diamonds = new Map([...DIAMONDS].map((code) => [code, new Path2D()]));
    const bucketPx = Math.max(L.font * 10, 110);
    const bucketNs = (bucketPx / L.plotW) * (v1 - v0);
    const headLen = L.projector ? 14 : 7;
    const mid = (row) => row.y + L.holdH + (row.h - L.holdH) / 2;
    const badges = [];
    // marks looked at one by one per row: no more than could stand apart, and about
    // 600 in all (every arrow is a long stroke to rasterise)
    const lookAtMost = Math.min(L.plotW / L.minGap / 2, 600 / Math.max(1, L.rows.length));
    for (const row of L.rows) {
      if (row.type === "heading") continue;
      const lanes = row.type === "lane" ? [row.lane] : row.lanes;
      // count what is in view on this row
      let visible = 0;
      for (const lane of lanes) {
        visible += upperBound(lane.l1.a, lane.l1.n, v1) - lowerBound(lane.l1.a, lane.l1.n, v0);
        visible += upperBound(lane.i0.a, lane.i0.n, v1) - lowerBound(lane.i0.a, lane.i0.n, v0);
      }
      if (!visible) continue;
      const items = []; // { x, t, lane, k, link }
      const crowded = new Map(); // bucket -> { links, instants }
      const count = (it) => {
        const b = Math.floor(it.t / bucketNs);
        let c = crowded.get(b);
        if (!c) crowded.set(b, (c = { links: 0, instants: 0, only: it, first: it.t, last: it.t }));
        if (it.link) c.links += 1; else c.instants += 1;
        c.last = it.t;
      };
      if (visible > lookAtMost) {
        // more than could stand apart (or than the frame can stroke): count per
        // bucket by binary search
        const b0 = Math.floor(v0 / bucketNs), b1 = Math.floor(v1 / bucketNs);
        for (let b = b0; b <= b1; b += 1) {
          const t0 = Math.max(v0, b * bucketNs), t1 = Math.min(v1, (b + 1) * bucketNs);
          let links = 0, instants = 0, first = Infinity, last = -Infinity;
          for (const lane of lanes) {
            for (const col of [lane.l1, lane.i0]) {
              const i = lowerBound(col.a, col.n, t0), j = lowerBound(col.a, col.n, t1);
              if (j <= i) continue;
              if (col === lane.l1) links += j - i; else instants += j - i;
              first = Math.min(first, col.a[i]);
              last = Math.max(last, col.a[j - 1]);
            }
          }
          if (links + instants) crowded.set(b, { links, instants, first, last });
        }
      } else {
        for (const lane of lanes) {
          for (let k = lowerBound(lane.l1.a, lane.l1.n, v0), e = upperBound(lane.l1.a, lane.l1.n, v1); k < e; k += 1) {
            items.push({ x: X(lane.l1.a[k]), t: lane.l1.a[k], lane, k, link: true });
          }
          for (let k = lowerBound(lane.i0.a, lane.i0.n, v0), e = upperBound(lane.i0.a, lane.i0.n, v1); k < e; k += 1) {
            items.push({ x: X(lane.i0.a[k]), t: lane.i0.a[k], lane, k, link: false });
          }
        }
        items.sort((a, b) => a.x - b.x);
        for (let j = 0; j < items.length; j += 1) {
          const it = items[j];
          const apart = (j === 0 || it.x - items[j - 1].x >= L.minGap) && (j === items.length - 1 || items[j + 1].x - it.x >= L.minGap);
          // prints sit at the foot of the lane, away from arrows: they need room only among themselves
          if (apart || (!it.link && it.lane.iKind.a[it.k] === TICKS.print && row.h >= 14)) {
            if (it.link) this.addArrow(it.lane, it.k, row, X, mid, arrows);
            else this.addInstant(it.lane, it.k, row, L, X(it.t), ticks, diamonds);
          } else count(it);
        }
      }
      for (const [b, c] of crowded) {
        const total = c.links + c.instants;
        if (total === 1 && c.only) {
          const it = c.only;
          if (it.link) this.addArrow(it.lane, it.k, row, X, mid, arrows);
          else this.addInstant(it.lane, it.k, row, L, it.x, ticks, diamonds);
          continue;
        }
        if (total === 1) {
          // a lone mark in a crowded row: find it and draw it
          const t0 = b * bucketNs, t1 = (b + 1) * bucketNs;
          for (const lane of lanes) {
            const k = lowerBound(lane.l1.a, lane.l1.n, t0);
            if (c.links && k < lane.l1.n && lane.l1.a[k] < t1) this.addArrow(lane, k, row, X, mid, arrows);
            const i = lowerBound(lane.i0.a, lane.i0.n, t0);
            if (c.instants && i < lane.i0.n && lane.i0.a[i] < t1) this.addInstant(lane, i, row, L, X(lane.i0.a[i]), ticks, diamonds);
          }
          continue;
        }
        // the badge sits over what it counts, which may fill only part of its stretch
        badges.push({ row, x: Math.max(L.plotX + L.font, Math.min(L.plotX + L.plotW - L.font, (X(c.first) + X(c.last)) / 2)), t0: c.first, t1: c.last, links: c.links, instants: c.instants, lane: row.type === "lane" ? row.lane.name : row.label });
      }
    }
    this.drawArrows(g, L, arrows, headLen);
    g.lineCap = "butt";
    // ticks sit on the state bars: a white halo keeps them 3:1 on the darkest
    g.strokeStyle = MARK.halo;
    g.lineWidth = L.projector ? 2 : 1;
    for (const [name, path] of Object.entries(ticks)) {
      g.stroke(path);
      g.fillStyle = MARK[name];
      g.fill(path);
    }
    g.strokeStyle = MARK.halo;
    g.lineWidth = L.projector ? 3 : 1.5;
    for (const [code, path] of diamonds) {
      g.stroke(path);
      g.fillStyle = MARK[V.instantKinds[code]];
      g.fill(path);
    }
    this.drawBadges(g, L, badges);
  }

  addArrow(lane, k, row, X, mid, arrows) {
    const m = this.model, rowOf = this.geometry.rowOf;
    const from = m.byName.get(m.text(lane.lFrom.a[k]));
    const fromRow = from ? rowOf[from.index] : null;
    if (!fromRow || fromRow === row) return;
    const x0 = X(lane.l0.a[k]), y0 = mid(fromRow), x1 = X(lane.l1.a[k]), y1 = mid(row);
    arrows.rect(x0, y0, x1, y1);
    this.hits.arrows.push({ x0, y0, x1, y1, lane, k });
  }

  /** Arrows over a white halo: each stroked on its own (a software canvas strokes
   *  hundreds of long crossing lines 3-4 times faster one by one than as one path). */
  drawArrows(g, L, arrows, headLen) {
    const a = arrows.a, n = arrows.n;
    const head = (i) => {
      const x0 = a[i], y0 = a[i + 1], x1 = a[i + 2], y1 = a[i + 3], angle = Math.atan2(y1 - y0, x1 - x0);
      g.beginPath();
      g.moveTo(x1, y1);
      g.lineTo(x1 - headLen * Math.cos(angle - 0.4), y1 - headLen * Math.sin(angle - 0.4));
      g.lineTo(x1 - headLen * Math.cos(angle + 0.4), y1 - headLen * Math.sin(angle + 0.4));
      g.closePath();
    };
    // an upright arrow (most of them, but for deep zooms: a wake-up takes microseconds)
    // is the rectangle its stroke would cover, which a canvas fills ~10 times faster
    const lines = (colour, width) => {
      g.strokeStyle = g.fillStyle = colour;
      g.lineWidth = width;
      for (let i = 0; i < n; i += 4) {
        const x0 = a[i], y0 = a[i + 1], x1 = a[i + 2], y1 = a[i + 3];
        if (Math.abs(x1 - x0) <= 0.25) g.fillRect((x0 + x1) / 2 - width / 2, Math.min(y0, y1), width, Math.abs(y1 - y0));
        else { g.beginPath(); g.moveTo(x0, y0); g.lineTo(x1, y1); g.stroke(); }
      }
    };
    lines(MARK.halo, L.arrow + (L.projector ? 4 : 2.5));
    for (let i = 0; i < n; i += 4) { head(i); g.stroke(); }
    lines(MARK.link, L.arrow);
    g.fillStyle = MARK.link;
    for (let i = 0; i < n; i += 4) { head(i); g.fill(); }
  }

  addInstant(lane, k, row, L, x, ticks, diamonds) {
    const code = lane.iKind.a[k];
    const top = row.y + L.holdH + 1, h = row.h - L.holdH - 1;
    const w = L.projector ? 3 : 1.5;
    if (code === TICKS.print) ticks.print.rect(x - w / 2, top + h * 0.55, w, h * 0.45);
    else if (code === TICKS.read) ticks.read.rect(x - w / 2, top, w, h * 0.45);
    else if (code === TICKS.write) ticks.write.rect(x - w / 2, top + h * 0.55, w, h * 0.45);
    else {
      const p = diamonds.get(code) || ticks.print;
      const r = Math.max(3, Math.min(L.projector ? 10 : 5, h / 3));
      const cy = top + h / 2;
      if (p === ticks.print) p.rect(x - w / 2, top, w, h);
      else { p.moveTo(x, cy - r); p.lineTo(x + r, cy); p.lineTo(x, cy + r); p.lineTo(x - r, cy); p.closePath(); }
    }
    this.hits.instants.push({ x, y: row.y, h: row.h, lane, k });
  }

  /** Count badges: a pill with a number, each drawn once into an atlas and then
   *  copied: hundreds of texts a frame cost more than the lanes (measured: a copy is
   *  2-3 times cheaper than a path and a fillText). One atlas, not a bitmap per pill:
   *  a live run's counts change every frame, and a new bitmap costs ~1 ms to make. */
  drawBadges(g, L, badges) {
    if (!badges.length) return;
    const font = L.small, dpr = this.geometry.dpr, line = L.projector ? 2 : 1;
    // the new pills drawn first, then all copied: a copy from a canvas changed since the
    // last copy takes a snapshot of all of it
    const pillOf = (b, bh) => {
      const text = badgeText(b.links + b.instants), key = `${text}|${font}|${bh}|${line}|${dpr}`;
      const known = PILLS.get(key);
      if (known) return known;
      const w = this.pillWidth(text, font);
      return PILLS.add(key, w, bh, dpr, (p) => paintPill(p, text, font, w, bh, line));
    };
    const placed = [];
    for (const b of badges) {
      const bh = Math.min(b.row.h - L.holdH - 2, Math.round(font * 1.25));
      if (bh < 9) continue;
      const generation = PILLS.generation;
      placed.push(b, pillOf(b, bh), bh);
      // the atlas was full and started over: the pills placed before are drawn again
      if (PILLS.generation !== generation) for (let i = 0; i < placed.length - 3; i += 3) placed[i + 1] = pillOf(placed[i], placed[i + 2]);
    }
    for (let i = 0; i < placed.length; i += 3) {
      const b = placed[i], pill = placed[i + 1], bh = placed[i + 2], w = pill.w;
      const x = Math.round(b.x - w / 2), y = Math.round(b.row.y + L.holdH + 1 + (b.row.h - L.holdH - 1 - bh) / 2);
      g.drawImage(PILLS.canvas, pill.sx, pill.sy, pill.sw, pill.sh, x, y, w, bh);
      this.hits.badges.push({ ...b, x, y, w, h: bh });
    }
  }

  pillWidth(text, font) {
    const probe = this.canvas.getContext("2d");
    probe.font = `600 ${font}px system-ui, sans-serif`;
    return Math.ceil(probe.measureText(text).width + font * 0.8);
  }

  /** Words on the bars, where there is room: printed values, pool tasks, crashes. */
  drawTexts(g, L, X, v0, v1) {
    const m = this.model;
    const font = L.projector ? L.font : L.small;
    g.textBaseline = "middle";
    g.textAlign = "left";
    for (const row of L.rows) {
      if (row.type !== "lane") continue;
      const lane = row.lane, barH = row.h - L.holdH - 1;
      if (barH < font + 2) continue;
      const y = row.y + L.holdH + 1 + barH / 2;
      g.font = `${font}px ui-monospace, monospace`;
      let lastEnd = -Infinity;
      const [i0, i1] = [lowerBound(lane.i0.a, lane.i0.n, v0), upperBound(lane.i0.a, lane.i0.n, v1)];
      if (i1 - i0 < 400) {
        for (let k = i0; k < i1; k += 1) {
          if (lane.iKind.a[k] !== TICKS.print) continue;
          const text = String(lane.iDetail[k]), x = X(lane.i0.a[k]) + 3;
          const w = g.measureText(text).width;
          if (x <= lastEnd + 4) continue;
          this.label(g, text, x, y, w, font, lane, lane.i0.a[k]);
          lastEnd = x + w;
        }
      }
      // pool tasks: a pool worker's run segments carry their task, e.g. "square(3)"
      if (lane.kind === "pool-worker") {
        g.font = `${font}px system-ui, sans-serif`;
        const first = Math.max(0, lane.segmentAt(v0)), last = upperBound(lane.t0.a, lane.t0.n, v1);
        let task = -1;
        const flush = (end) => {
          if (task < 0) return;
          const text = m.text(lane.obj.a[task]), x0 = Math.max(L.plotX, X(lane.t0.a[task])) + 3;
          const w = g.measureText(text).width;
          if (w + 6 <= X(end) - x0) this.label(g, text, x0, y, w, font, lane, lane.t0.a[task] + 1);
          task = -1;
        };
        for (let i = first; i < last && last - first < 2000; i += 1) {
          const s = lane.st.a[i], named = lane.obj.a[i] > 0;
          if (task >= 0 && ((s !== STATE.run && s !== STATE.gil && s !== STATE.cpu) || named)) flush(lane.t0.a[i]);
          if (s === STATE.run && named) task = i;
        }
        flush(last < lane.t0.n ? lane.t0.a[last] : m.tMax);
      }
      // why a lane crashed, beside its end: the one thing a learner must not miss
      const end = lane.t0.n ? lane.t0.n - 1 : -1;
      if (end >= 0 && lane.st.a[end] === STATE.crash && lane.t0.a[end] <= v1) {
        g.font = `bold ${font}px system-ui, sans-serif`;
        const x0 = X(lane.t0.a[end]) + (L.projector ? 14 : 8), room = L.plotX + L.plotW - x0;
        let text = "✖ " + String(lane.detail.get(end) || "crashed").split("\n")[0];
        while (text.length > 4 && g.measureText(text).width > room) text = text.slice(0, -2) + "…";
        if (room > font * 3) {
          g.fillStyle = CHROME.ink;
          g.fillText(text, x0, y);
        }
      }
    }
  }

  /** Text on a bar, in the ink of the state under it, on a plain patch of that state. */
  label(g, text, x, y, w, font, lane, t) {
    const seg = this.model.stateAt(lane, t);
    const look = LOOKS[seg ? seg.state : STATE.run];
    g.fillStyle = look.colour;
    g.fillRect(x - 2, y - font * 0.62, w + 4, font * 1.24);
    g.fillStyle = look.ink;
    g.fillText(text, x, y + 0.5);
  }

  /** Gauges (free slots, buffer fill...): a step line per object, under the lanes. */
  drawLevels(g, L, X, v0, v1) {
    const m = this.model;
    if (!m.levels.size) return;
    const end = Math.min(m.tMax, v1);
    for (const gauge of m.levels.values()) {
      const y0 = L.lanesBottom + L.gaugeGap / 2 + gauge.index * (L.gaugeH + L.gaugeGap);
      const h = L.gaugeH, pad = 6, vmax = Math.max(1, gauge.max);
      const y = (v) => y0 + h - pad / 2 - (v / vmax) * (h - pad - L.small * 0.2);
      g.fillStyle = CHROME.track;
      g.fillRect(L.plotX, y0, L.plotW, h);
      const tc = gauge.t.a, vc = gauge.v.a, n = gauge.t.n;
      let k = Math.max(0, upperBound(tc, n, v0) - 1);
      const stop = upperBound(tc, n, v1);
      const line = new Path2D(), area = new Path2D();
      let lastV = null, lastX = -Infinity;
      for (; k < stop; k += 1) {
        const x = X(Math.max(tc[k], v0)), v = vc[k];
        if (lastV === null) { line.moveTo(x, y(v)); area.moveTo(x, y(0)); area.lineTo(x, y(v)); }
        else if (x - lastX >= 0.5 || k === stop - 1) { line.lineTo(x, y(lastV)); line.lineTo(x, y(v)); area.lineTo(x, y(lastV)); area.lineTo(x, y(v)); lastX = x; }
        lastV = v;
      }
      if (lastV !== null) {
        const xe = X(Math.max(end, v0));
        line.lineTo(xe, y(lastV)); area.lineTo(xe, y(lastV)); area.lineTo(xe, y(0)); area.closePath();
        g.fillStyle = alpha(MARK.level, 0.18);
        g.fill(area);
        g.strokeStyle = MARK.level;
        g.lineWidth = L.projector ? 3 : 2;
        g.stroke(line);
      }
      g.font = `${L.small}px system-ui, sans-serif`;
      g.fillStyle = CHROME.muted;
      g.textBaseline = "top";
      g.fillText(String(vmax), L.plotX + 3, y0 + 1);
      g.textBaseline = "middle";
    }
  }

  /** Lost updates: the first drawn in full (a band on the lane that read a stale
   *  value, a ring on the update it overwrote, a dashed line between), a ring on each
   *  other overwritten write. Its words go in the notes strip, never over a lane. */
  drawLost(g, L, X) {
    const m = this.model, rowOf = this.geometry.rowOf;
    if (!m.lost.length) return;
    const mid = (row) => row.y + L.holdH + (row.h - L.holdH) / 2;
    const r = Math.max(3, (L.laneH - L.holdH) / 4);
    const rings = new Path2D();
    let lastX = -Infinity, lastRow = null;
    for (const lost of m.lost.slice(1)) {
      const b = m.byName.get(lost.by), row = b && rowOf[b.index];
      if (!row) continue;
      const x = X(lost.tBy);
      if (row === lastRow && x - lastX < 3) continue;
      lastX = x; lastRow = row;
      rings.moveTo(x + r, mid(row));
      rings.arc(x, mid(row), r, 0, 2 * Math.PI);
    }
    // rings sit on the state bars: over a white halo
    g.strokeStyle = MARK.halo;
    g.lineWidth = L.projector ? 6 : 3.5;
    g.stroke(rings);
    g.strokeStyle = MARK.lost;
    g.lineWidth = L.projector ? 3 : 1.5;
    g.stroke(rings);
    const first = m.lost[0];
    const a = m.byName.get(first.worker), b = m.byName.get(first.by);
    const ra = a && rowOf[a.index], rb = b && rowOf[b.index];
    if (!ra || !rb) return;
    const x0 = X(first.tRead), x1 = Math.max(x0 + 3, X(first.tWrite));
    g.fillStyle = alpha(MARK.lost, 0.3);
    g.fillRect(x0, ra.y, x1 - x0, ra.h);
    g.lineWidth = L.projector ? 4 : 2.5;
    g.strokeRect(x0, ra.y + 0.5, x1 - x0, ra.h - 1);
    g.beginPath(); g.arc(X(first.tBy), mid(rb), r + 2, 0, 2 * Math.PI); g.stroke();
    g.lineWidth = L.projector ? 3 : 1.5;
    g.setLineDash([4, 4]);
    g.beginPath(); g.moveTo(X(first.tBy), mid(rb)); g.lineTo(x1, mid(ra)); g.stroke();
    g.setLineDash([]);
  }

  /** The notes strip under the axis: runner marks and the first lost update, in words. */
  drawNotes(g, L, X, v0, v1) {
    const m = this.model;
    if (!L.notesH) return;
    const notes = [];
    for (const mark of m.marks) notes.push({ t: mark.t, text: mark.obj, colour: MARK.mark, line: true });
    if (m.lost.length) {
      const l = m.lost[0];
      notes.push({ t: l.tWrite, text: `lost update: ${l.worker} read ${l.readValue}, wrote ${l.value} over ${l.by}'s ${l.byValue}`, colour: MARK.lost });
    }
    notes.sort((a, b) => a.t - b.t);
    g.save();
    g.beginPath();
    g.rect(L.plotX, L.axisH, L.plotW, L.height - L.axisH);
    g.clip();
    g.strokeStyle = MARK.mark;
    g.lineWidth = L.projector ? 2 : 1;
    g.setLineDash([5, 4]);
    for (const note of notes) {
      if (!note.line || note.t < v0 || note.t > v1) continue;
      g.beginPath(); g.moveTo(X(note.t), L.axisH); g.lineTo(X(note.t), L.lanesBottom); g.stroke();
    }
    g.setLineDash([]);
    g.restore();
    g.font = `bold ${L.small}px system-ui, sans-serif`;
    g.textBaseline = "middle";
    const y = L.axisH + L.notesH / 2;
    let free = L.plotX; // labels go left to right without overlapping
    for (const note of notes) {
      let text = note.text;
      let w = g.measureText(text).width;
      const x = Math.min(Math.max(X(note.t) - w / 2, free), L.plotX + L.plotW - w);
      if (x < free) {
        const room = L.plotX + L.plotW - free;
        while (text.length > 4 && g.measureText(text).width > room) text = text.slice(0, -2) + "…";
        w = g.measureText(text).width;
        if (w > room) continue;
      }
      const at = Math.max(x, free);
      g.fillStyle = note.colour;
      g.fillText(text, at, y);
      free = at + w + L.font;
    }
  }

  /** Step mode: the operation a lane's worker stands before, at the lane's right end. */
  drawNext(g, L, lane, text, y) {
    g.save();
    g.textAlign = "right";
    g.font = `600 ${L.font}px system-ui, sans-serif`;
    const x = L.plotX + L.plotW - L.pad, w = g.measureText(text).width;
    g.fillStyle = CHROME.veil;
    g.fillRect(x - w - L.pad / 2, y - L.font * 0.75, w + L.pad, L.font * 1.5);
    g.fillStyle = TINTS[lane.index % TINTS.length];
    g.fillText(text, x, y);
    g.restore();
  }

  drawLabels(g, L, state) {
    g.textBaseline = "middle";
    g.textAlign = "right";
    for (const row of L.rows) {
      const y = row.y + row.h / 2;
      if (row.type === "lane") {
        const lane = row.lane;
        g.font = `600 ${L.laneH < 14 ? Math.max(9, L.laneH - 2) : L.font}px system-ui, sans-serif`;
        g.fillStyle = TINTS[lane.index % TINTS.length];
        g.fillText(lane.name, L.labelW - L.pad, y);
        const next = state.next && state.next.get(lane.name);
        if (next) this.drawNext(g, L, lane, next, y);
        if (state.selected === lane) {
          g.fillStyle = CHROME.accent;
          g.fillRect(0, row.y, L.projector ? 6 : 3, row.h);
        }
      } else {
        g.font = `600 ${L.font}px system-ui, sans-serif`;
        g.fillStyle = CHROME.ink;
        g.textAlign = "left";
        const mark = row.type === "group" ? "▸ " : "▾ ";
        let text = mark + row.label;
        const room = row.type === "group" ? L.labelW - L.pad : L.width - L.pad;
        while (text.length > 4 && g.measureText(text).width > room - L.pad) text = text.slice(0, -2) + "…";
        g.fillText(text, L.pad / 2, y);
        g.textAlign = "right";
      }
    }
    g.textAlign = "left";
  }

  drawCursor(g, L, x, t) {
    if (x < L.plotX - 1 || x > L.plotX + L.plotW + 1) return;
    const w = L.projector ? 3 : 2;
    g.fillStyle = MARK.halo;
    g.fillRect(x - w / 2 - 1.5, L.axisH, w + 3, L.lanesBottom - L.axisH);
    g.fillStyle = MARK.cursor;
    g.fillRect(x - w / 2, 0, w, L.lanesBottom);
    // its time, on the axis
    g.font = `600 ${L.small}px system-ui, sans-serif`;
    const text = formatTime(t), tw = g.measureText(text).width + L.small;
    const bx = Math.min(Math.max(L.plotX, x - tw / 2), L.plotX + L.plotW - tw);
    g.fillStyle = MARK.cursor;
    g.beginPath();
    g.roundRect(bx, 1, tw, L.axisH - 2, 4);
    g.fill();
    g.fillStyle = CHROME.panel;
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(text, bx + tw / 2, L.axisH / 2);
    g.textAlign = "left";
  }

  /** The hovered or tapped thing, outlined. */
  drawHover(g, L, X, hover) {
    if (!hover) return;
    g.strokeStyle = CHROME.ink;
    g.lineWidth = L.projector ? 3 : 2;
    if (hover.type === "segment" && hover.row) {
      const x0 = X(hover.seg.t0), x1 = Math.max(x0 + 2, X(hover.seg.t1 === null ? this.model.tMax : hover.seg.t1));
      g.strokeRect(x0, hover.row.y + L.holdH + 1, x1 - x0, hover.row.h - L.holdH - 1);
    } else if (hover.type === "hold" && hover.row) {
      const x0 = X(hover.hold.t0), x1 = Math.max(x0 + 2, X(hover.hold.t1 === null ? this.model.tMax : hover.hold.t1));
      g.strokeRect(x0, hover.row.y - 1, x1 - x0, L.holdH + 2);
    } else if (hover.type === "link" && hover.arrow) {
      const a = hover.arrow;
      g.lineWidth = L.arrow * 2.2;
      g.beginPath(); g.moveTo(a.x0, a.y0); g.lineTo(a.x1, a.y1); g.stroke();
    }
  }

  /** A deadlock: the lanes in the cycle outlined, each wait labelled with what it
   *  waits for and who holds that, and an arrow from each waiter to the holder. */
  drawCycle(g, L, X) {
    const m = this.model, dl = m.deadlock, rowOf = this.geometry.rowOf;
    if (!dl) return;
    const font = L.projector ? L.font : L.small;
    const labelIn = (row, seg, text) => {
      if (!seg || row.type !== "lane" || row.h - L.holdH < font + 2) return;
      g.font = `600 ${font}px system-ui, sans-serif`;
      const w = g.measureText(text).width;
      this.label(g, text, Math.max(L.plotX, X(seg.t0)) + 4, row.y + L.holdH + 1 + (row.h - L.holdH - 1) / 2, w, font, row.lane, seg.t0);
    };
    const lastWait = (lane, obj) => {
      for (let i = Math.min(lane.t0.n - 1, lane.segmentAt(dl.t)); i >= 0; i -= 1) {
        if (lane.st.a[i] === STATE.wait && m.text(lane.obj.a[i]) === obj) return m.segment(lane, i);
      }
      return null;
    };
    // each row in the deadlock outlined once (a folded group stands for its lanes)
    const outlined = new Set();
    const outline = (row) => {
      if (outlined.has(row)) return;
      outlined.add(row);
      g.strokeStyle = MARK.cycle;
      g.lineWidth = L.projector ? 3 : 2;
      g.strokeRect(L.plotX - 2, row.y - 1, L.plotW + 4, row.h + 2);
    };
    for (const [worker, obj] of dl.stuck || []) {
      const a = m.byName.get(worker), row = a && rowOf[a.index];
      if (!row) continue;
      outline(row);
      labelIn(row, lastWait(a, obj), `waits for ${obj}: nobody is left to wake it`);
    }
    const n = dl.cycle.length;
    for (let i = 0; i < n; i += 1) {
      const [worker, obj] = dl.cycle[i];
      const holder = dl.cycle[(i + 1) % n][0];
      const a = m.byName.get(worker), b = m.byName.get(holder);
      const ra = a && rowOf[a.index], rb = b && rowOf[b.index];
      if (!ra || !rb) continue;
      outline(ra);
      if (ra.type === "group" && ra === rb && worker !== holder) continue; // inside one folded row: nothing to point at
      const holds = rb.type === "lane" ? m.holdersOf(obj, dl.t).filter((h) => h.lane === b) : [];
      for (const hold of holds) g.strokeRect(X(hold.t0), rb.y - 1, Math.max(2, X(dl.t) - X(hold.t0)), L.holdH + 2);
      labelIn(ra, lastWait(a, obj), holder === worker ? `waits for ${obj}, which it holds itself` : `waits for ${obj}, held by ${holder}`);
      // an arrow waiter -> holder just before the mark (a loop when it is itself)
      const xa = X(dl.t) - 16 - (n <= 6 ? i * 24 : (i % 6) * 5);
      const y0 = ra.y + ra.h / 2, y1 = rb.y + rb.h / 2;
      const curve = new Path2D(), head = new Path2D();
      const hl = L.projector ? 14 : 9;
      if (ra === rb) {
        const rr = Math.max(5, ra.h / 2.5);
        curve.arc(xa, y0, rr, 0.25 * Math.PI, 1.9 * Math.PI);
        const ex = xa + rr * Math.cos(0.25 * Math.PI), ey = y0 + rr * Math.sin(0.25 * Math.PI);
        head.moveTo(ex, ey); head.lineTo(ex + hl * 0.8, ey - 2); head.lineTo(ex + 1, ey - hl * 0.8); head.closePath();
      } else {
        const bend = (n <= 6 ? 18 : 10) + Math.min(40, Math.abs(y1 - y0) / 4);
        curve.moveTo(xa, y0); curve.quadraticCurveTo(xa - bend, (y0 + y1) / 2, xa, y1);
        const angle = Math.atan2(y1 - (y0 + y1) / 2, bend);
        head.moveTo(xa, y1);
        head.lineTo(xa - hl * Math.cos(angle - 0.45), y1 - hl * Math.sin(angle - 0.45));
        head.lineTo(xa - hl * Math.cos(angle + 0.45), y1 - hl * Math.sin(angle + 0.45));
        head.closePath();
      }
      g.strokeStyle = MARK.halo; g.lineWidth = L.projector ? 8 : 5; g.stroke(curve); g.stroke(head);
      g.strokeStyle = CHROME.ink; g.fillStyle = CHROME.ink; g.lineWidth = L.projector ? 3 : 2; g.stroke(curve); g.fill(head);
    }
  }

  // ---- what is where ----------------------------------------------------------

  /** The thing under (x, y): a badge, an instant, an arrow, a hold, a segment, a row. */
  hitTest(x, y) {
    const G = this.geometry, m = this.model;
    if (!G) return null;
    if (y < G.axisH + G.notesH) return x >= G.plotX ? { type: "axis", t: G.T(x) } : null;
    const row = G.rows.find((r) => y >= r.y - G.gap / 2 && y < r.y + r.h + G.gap / 2) || null;
    const t = G.T(x);
    const near = G.projector ? 10 : 6;
    if (x >= G.plotX) {
      // marks first: they sit on top, and an arrow may cross the gap between rows
      for (const b of this.hits.badges) if (x >= b.x && x <= b.x + b.w && y >= b.y && y <= b.y + b.h) return { type: "badge", badge: b, row, t };
      for (const i of this.hits.instants) {
        if (Math.abs(i.x - x) <= near / 2 + 1 && y >= i.y && y <= i.y + i.h) return { type: "instant", lane: i.lane, k: i.k, row, t };
      }
      let best = null, bestD = near;
      for (const a of this.hits.arrows) {
        const d = distanceToSegment(x, y, a.x0, a.y0, a.x1, a.y1);
        if (d < bestD) { best = a; bestD = d; }
      }
      if (best) return { type: "link", arrow: best, link: m.link(best.lane, best.k), row, t };
    }
    if (!row) return null;
    if (row.type === "heading" || (row.type === "group" && x < G.plotX)) return { type: "fold", row };
    if (x < G.plotX) return { type: "label", row, lane: row.lane };
    if (row.type === "group") return { type: "group", row, t };
    const lane = row.lane;
    if (y <= row.y + G.holdH + 2) {
      const holds = m.holdsAt(lane, t);
      if (holds.length) return { type: "hold", hold: m.hold(lane, holds[holds.length - 1]), row, t };
    }
    const seg = m.stateAt(lane, t);
    if (seg && seg.state !== STATE.done) return { type: "segment", seg, row, t };
    return { type: "lane", lane, row, t };
  }
}

/** Small pictures drawn once, side by side on one canvas, each copied by its place:
 *  { sx, sy, sw, sh } in device pixels, w x h in CSS pixels. When full, it starts over. */
class Atlas {
  constructor(width = 1024, height = 512) {
    this.canvas = new OffscreenCanvas(width, height);
    this.g = this.canvas.getContext("2d");
    this.places = new Map();
    this.x = 0; this.y = 0; this.rowH = 0;
    this.generation = 0; // how many times it started over
  }
  get(key) { return this.places.get(key); }
  /** Draw a picture w x h (CSS px) with paint(g) at (0, 0), at pixel ratio dpr. */
  add(key, w, h, dpr, paint) {
    const sw = Math.ceil(w * dpr), sh = Math.ceil(h * dpr), W = this.canvas.width, H = this.canvas.height;
    if (this.x + sw > W) { this.x = 0; this.y += this.rowH + 1; this.rowH = 0; }
    if (this.y + sh > H) {
      this.g.setTransform(1, 0, 0, 1, 0, 0);
      this.g.clearRect(0, 0, W, H);
      this.places.clear();
      this.x = this.y = this.rowH = 0;
      this.generation += 1;
    }
    const g = this.g;
    g.setTransform(dpr, 0, 0, dpr, this.x, this.y);
    paint(g);
    const place = { sx: this.x, sy: this.y, sw, sh, w: sw / dpr, h: sh / dpr };
    this.places.set(key, place);
    this.x += sw + 1;
    this.rowH = Math.max(this.rowH, sh);
    return place;
  }
}

// One atlas of count badges for the page: every timeline on it (and the made-up run
// drawn while the page loads, static/js/warmup.js) draws each pill once.
const PILLS = new Atlas();

/** A count badge at (0, 0): a pill w x h with the number in it. */
function paintPill(p, text, font, w, h, line) {
  p.beginPath();
  p.roundRect(line / 2, line / 2, w - line, h - line, (h - line) / 2);
  p.fillStyle = CHROME.panel;
  p.fill();
  p.strokeStyle = MARK.badge;
  p.lineWidth = line;
  p.stroke();
  p.font = `600 ${font}px system-ui, sans-serif`;
  p.fillStyle = MARK.badge;
  p.textAlign = "center";
  p.textBaseline = "middle";
  p.fillText(text, w / 2, h / 2 + 0.5);
  p.textAlign = "left";
}

function distanceToSegment(px, py, x0, y0, x1, y1) {
  const dx = x1 - x0, dy = y1 - y0;
  const len = dx * dx + dy * dy;
  const u = len ? Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / len)) : 0;
  return Math.hypot(px - (x0 + u * dx), py - (y0 + u * dy));
}

/** A tile of a state's bar: its colour, and its second channel in its ink colour
 *  (larger on a projector), in device pixels; null for a plain colour. */
export function makeTile(look, big, dpr) {
  const kind = look.pattern;
  if (kind === "solid") return null;
  const size = big ? 14 : 8, w = big ? 2.5 : 1.4;
  const tile = document.createElement("canvas");
  tile.width = tile.height = Math.max(1, Math.round(size * dpr));
  const p = tile.getContext("2d", { willReadFrequently: true });
  p.fillStyle = look.colour;
  p.fillRect(0, 0, tile.width, tile.height);
  p.scale(tile.width / size, tile.height / size);
  p.strokeStyle = p.fillStyle = look.ink;
  p.globalAlpha = 0.42;
  p.lineWidth = w;
  if (kind === "hatch") {
    p.beginPath();
    for (const o of [-size, 0, size]) { p.moveTo(o, size); p.lineTo(o + size, 0); }
    p.stroke();
  } else if (kind === "lines") {
    p.fillRect(0, size / 2 - w / 2, size, w);
  } else if (kind === "columns") {
    p.fillRect(size / 2 - w / 2, 0, w, size);
  } else if (kind === "dots") {
    p.beginPath();
    p.arc(size / 4, size / 4, w * 0.9, 0, 2 * Math.PI);
    p.arc((3 * size) / 4, (3 * size) / 4, w * 0.9, 0, 2 * Math.PI);
    p.fill();
  }
  return tile;
}
