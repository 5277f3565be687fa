/* The overview strip under the lanes: the whole run in a few rows of summed
 * states, the visible window framed. Its picture is cached and re-made at most a few
 * times a second while the run grows; moving the window only re-frames it. */
import V from "/ui/vocabulary.js";
import { NSTATES } from "./model.js";
import { LOOKS, PixelBars, Rects, columnsToPaths } from "./renderer.js";

const CHROME = V.chrome;
const MARK = V.marks;

/** The overview strip: the whole run in a few rows, the visible window marked. */
export class Overview {
  constructor(canvas, model) {
    this.canvas = canvas;
    this.model = model;
    this.cache = document.createElement("canvas");
    this.cached = { version: -1, width: 0, height: 0, at: 0 };
    this.acc = new Float64Array(0);
    this.bars = new PixelBars(); // the summed states, as pixels (see renderer.js)
    this.fills = LOOKS.map((look) => ({ colour: look.colour, tile: null }));
  }

  /** Draw; the run's picture is re-made at most every `every` ms while it grows, and
   *  not in a frame that has no time left (`busy`: it says so, and draws again soon). */
  draw(view, cursor, busy = false, every = 250) {
    const c = this.canvas, m = this.model;
    const projector = document.documentElement.classList.contains("projector");
    const width = Math.max(100, c.parentElement.clientWidth);
    const height = c.clientHeight || 28; // from CSS: taller on a projector
    const dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(width * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(width * dpr);
      c.height = Math.round(height * dpr);
      c.style.width = width + "px";
    }
    const now = performance.now();
    const stale = this.cached.version !== m.version || this.cached.width !== c.width || this.cached.height !== c.height;
    const due = stale && (m.done || now - this.cached.at >= every || this.cached.width !== c.width);
    const later = due && busy && !this.deferred; // the old picture stays a frame longer (once)
    this.deferred = later;
    if (due && !later) this.render(c.width, c.height);
    const g = c.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, c.width, c.height);
    g.drawImage(this.cache, 0, 0);
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const span = Math.max(1, m.tMax);
    const x = (t) => (t / span) * width;
    const x0 = Math.max(0, x(view[0])), x1 = Math.min(width, x(view[1]));
    g.fillStyle = "rgba(31, 32, 35, 0.45)";
    g.fillRect(0, 0, x0, height);
    g.fillRect(x1, 0, width - x1, height);
    g.strokeStyle = CHROME.accent;
    g.lineWidth = projector ? 4 : 2;
    g.strokeRect(x0 + g.lineWidth / 2, g.lineWidth / 2, Math.max(2, x1 - x0 - g.lineWidth), height - g.lineWidth);
    if (cursor !== null && cursor !== undefined) {
      g.fillStyle = MARK.cursor;
      g.fillRect(x(cursor) - 1, 0, 2, height);
    }
    this.geometry = { width, height, span };
    return later;
  }

  render(w, h) {
    const m = this.model, c = this.cache;
    c.width = w;
    c.height = h;
    const g = c.getContext("2d");
    const lanes = m.lanes;
    if (lanes.length && m.tMax > 0) {
      const rows = Math.min(lanes.length, 6);
      const per = Math.ceil(lanes.length / rows);
      const columns = Math.max(1, Math.floor(w / (w > 1200 ? 2 : 1))); // a device pixel or two each
      if (this.acc.length < columns * NSTATES) this.acc = new Float64Array(columns * NSTATES);
      const rowH = h / Math.ceil(lanes.length / per);
      const paths = LOOKS.map(() => new Rects());
      for (let r = 0; r * per < lanes.length; r += 1) {
        const members = lanes.slice(r * per, (r + 1) * per);
        this.acc.fill(0, 0, columns * NSTATES);
        for (const lane of members) m.accumulate(lane, 0, m.tMax / columns, columns, this.acc, m.tMax);
        columnsToPaths(this.acc, columns, paths, 0, w / columns, r * rowH + 1, rowH - 1);
      }
      this.bars.begin(0, w, h, this.fills, "overview");
      for (let slot = 0; slot < LOOKS.length; slot += 1) this.bars.fill(paths[slot], slot, 1);
      this.bars.put(g);
    }
    g.globalCompositeOperation = "destination-over"; // the track beneath the bars
    g.fillStyle = CHROME.track;
    g.fillRect(0, 0, w, h);
    g.globalCompositeOperation = "source-over";
    this.cached = { version: m.version, width: w, height: h, at: performance.now() };
  }

  /** The time at x (CSS px) on the strip. */
  timeAt(x) {
    const G = this.geometry;
    return G ? Math.max(0, Math.min(G.span, (x / G.width) * G.span)) : 0;
  }
}
