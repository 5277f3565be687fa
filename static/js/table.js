/* The table view: one lane's segments as rows (start, duration, state, object,
 * woken by), for screen readers and for copying. A page of rows at a time, so a
 * lane of 100,000 segments costs what a page costs. */
import { formatTime, lookOf } from "./describe.js";
import { STATE } from "./model.js";

const PAGE = 200;

export class SegmentTable {
  /** root: a <details data-table> holding a lane <select>, a <table>, paging buttons. */
  constructor(root, model, timeline) {
    this.root = root;
    this.model = model;
    this.timeline = timeline;
    this.select = root.querySelector("[data-table-lane]");
    this.body = root.querySelector("tbody");
    this.caption = root.querySelector("[data-table-caption]");
    this.page = 0;
    this.shown = { version: -1, lane: "", page: -1, lanes: -1 };
    root.addEventListener("toggle", () => this.refresh(true));
    this.select.addEventListener("change", () => { this.page = 0; this.refresh(true); });
    root.addEventListener("click", (e) => {
      const action = e.target.closest("[data-table-action]");
      if (!action) return;
      const lane = this.lane();
      const pages = lane ? Math.max(1, Math.ceil(lane.segments / PAGE)) : 1;
      const go = {
        first: () => 0, previous: () => this.page - 1, next: () => this.page + 1, last: () => pages - 1,
        cursor: () => {
          const t = timeline.cursor === null ? model.tMax : timeline.cursor;
          return lane ? Math.floor(Math.max(0, lane.segmentAt(t)) / PAGE) : 0;
        },
      }[action.dataset.tableAction];
      this.page = Math.max(0, Math.min(pages - 1, go()));
      this.refresh(true);
    });
  }

  lane() {
    return this.model.byName.get(this.select.value) || this.model.lanes[0] || null;
  }

  /** Redraw the rows if the table is open and something it shows changed. */
  refresh(force = false) {
    if (!this.root.open) return;
    const m = this.model;
    if (this.shown.lanes !== m.lanes.length) {
      const chosen = this.select.value;
      this.select.replaceChildren(...m.lanes.map((lane) => new Option(lane.name, lane.name)));
      this.select.value = chosen && m.byName.has(chosen) ? chosen : m.lanes.length ? m.lanes[0].name : "";
      this.shown.lanes = m.lanes.length;
    }
    const lane = this.lane();
    const key = { version: m.version, lane: lane ? lane.name : "", page: this.page, lanes: m.lanes.length };
    if (!force && key.lane === this.shown.lane && key.page === this.shown.page && (key.version === this.shown.version || performance.now() - (this.shownAt || 0) < 500)) return;
    this.shown = key;
    this.shownAt = performance.now();
    if (!lane) { this.body.replaceChildren(); return; }
    const first = this.page * PAGE, last = Math.min(lane.segments, first + PAGE);
    const rows = [];
    for (let i = first; i < last; i += 1) {
      const seg = m.segment(lane, i);
      if (seg.state === STATE.done) continue;
      const tr = document.createElement("tr");
      const ended = m.done || i + 1 < lane.segments;
      const cells = [
        formatTime(seg.t0),
        seg.state === STATE.crash ? "" : ended ? formatTime(seg.t1 - seg.t0) : "(still going)",
        lookOf(seg.state).label,
        seg.state === STATE.crash ? String(seg.detail || "") : seg.obj,
        seg.state === STATE.wait ? seg.endedBy : "",
      ];
      for (const text of cells) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      tr.dataset.t = String(seg.t0);
      rows.push(tr);
    }
    this.body.replaceChildren(...rows);
    this.caption.textContent = `${lane.name}: segments ${lane.segments ? first + 1 : 0}–${last} of ${lane.segments.toLocaleString("en")}`;
  }
}
