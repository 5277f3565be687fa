"""What drawing costs in a browser: the timeline in headless Chromium, fed by a real
server (`python -m app`) with real lock-counter runs.

- ~100k events: one full draw (the picture rasterised), and pan/zoom frames per second;
- ~1M events (the event limit raised by INTERLEAVE_MAX_EVENTS_PER_RUN): a viewer
  follows the run live; the time from the run's last event to the first full draw
  after it, pan/zoom frames per second, page memory;
- a live stream of 50k events/s (synthetic lock-counter events fed to the page's
  timeline, one JSON message per 16 ms, each parsed and taken in as a task of its
  own, as EventSource delivers them), in three new pages: the longest frame.

`python -m bench.browser_draw` prints the numbers; `make bench` puts them in
docs/PERFORMANCE.md. A calibration loop is timed in the same page, so that a busy
machine shows in the report instead of hiding in the numbers.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from tests.e2e.conftest import CHROMIUM_ARGS, DEBIAN_CHROMIUM
from tests.live import live_server

VIEWPORT = {"width": 1920, "height": 1080}  # a classroom screen, normal mode
# A 10 µs hold inside the lock: 32 threads contend, so the runs are full of waits and
# hand-overs (with no hold the lesson records mostly acquire/release pairs). The
# compiled recorder records about 4 events an iteration here (the interpreted one
# 5.2-5.4, with waits it invents), so these sizes reach 100k and 1M with either.
HUNDRED_K = {"pairs": 16, "iterations": 800, "hold": 0.00001}  # ≥ 100k events
MILLION = {"pairs": 16, "iterations": 8_000, "hold": 0.00001}  # ≥ 1M events
PAN_ZOOM_MS = 3000
LIVE_RATE = 50_000  # events per second
LIVE_SECONDS = 8
LIVE_REPEATS = 3  # streams, each in a page of its own


@contextmanager
def serve() -> Iterator[str]:
    """A real uvicorn with the limits a million-event run needs."""
    limits = {
        "INTERLEAVE_MAX_EVENTS_PER_RUN": "3000000",
        "INTERLEAVE_MAX_RUN_SECONDS": "300",
        "INTERLEAVE_KEPT_EVENTS": "5000000",
    }
    with live_server(limits) as server:
        yield server.url


def start_run(url: str, params: dict[str, Any]) -> dict[str, Any]:
    created = httpx.post(f"{url}/runs", json={"scenario": "lock-counter", "params": params}, timeout=30)
    created.raise_for_status()
    run: dict[str, Any] = created.json()
    return run


def wait_done(url: str, run_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        summary: dict[str, Any] = httpx.get(f"{url}/runs/{run_id}", timeout=30).json()
        if summary["status"] != "running":
            return summary
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} still running after {timeout_s} s")
        time.sleep(0.5)


CALIBRATE = """() => { const a = new Float64Array(1e6); for (let i = 0; i < a.length; i++) a[i] = i;
  const s = performance.now(); let x = 0; for (let k = 0; k < 20; k++) for (let i = 0; i < a.length; i++) x += a[i];
  return (performance.now() - s) / 20 + (x < 0 ? 1 : 0); }"""

FULL_DRAW = """() => { const tl = Interleave.current.timeline, g = tl.canvas.getContext('2d');
  tl.view = null; const times = [];
  for (let i = 0; i < 7; i++) {
    tl.renderer.layerKey = '';  // no kept layer: the whole picture, every time
    const s = performance.now(); tl.draw(); g.getImageData(0, 0, 1, 1); times.push(performance.now() - s);
  }
  times.sort((a, b) => a - b); return times[3]; }"""

# Zoom in and out around the middle and pan, one step per frame, for a while: the
# browser's frame rate is what a person dragging or scrolling would see.
PAN_ZOOM = """(ms) => new Promise(resolve => {
  const tl = Interleave.current.timeline; tl.fit();
  let frames = 0, worst = 0, last = null; const t0 = performance.now();
  const step = (now) => {
    if (last !== null) worst = Math.max(worst, now - last);
    last = now; frames += 1;
    const phase = frames % 120;
    if (phase < 40) tl.zoom(1.12); else if (phase < 80) tl.pan(phase % 2 ? 0.03 : -0.02); else tl.zoom(1 / 1.12);
    if (now - t0 < ms) requestAnimationFrame(step);
    else resolve({ fps: (frames - 1) / ((now - t0) / 1000), worst });
  };
  requestAnimationFrame(step);
})"""

# Lock-counter-like traffic for 32 threads at `rate` events/s, into a timeline on its
# own panel. The messages are made before the stream starts (the server's work, not
# the page's): one JSON batch per 16 ms of the run, as the server sends one per frame.
# Each is delivered as a task of its own, as EventSource delivers each message, and
# parsed and taken in there. The panel first shows its lanes (as a run panel does
# while its stream connects); the frames are timed from the first message on.
LIVE = """([rate, seconds]) => new Promise(resolve => {
  const panel = document.createElement('div');
  panel.innerHTML = '<div class="lanes"><canvas class="timeline"></canvas><canvas class="overview"></canvas></div>';
  document.body.prepend(panel);
  const tl = new Interleave.Timeline(panel);
  const lanes = 32, every = 16;
  let t = 0, owner = -1;
  const batch0 = [[0, 'main', 'start', '', 'main', ''], [1, 'main', 'run', '', null, '']];
  for (let i = 1; i <= lanes; i++) batch0.push([2 + i, 'Thread-' + i, 'start', '', 'thread', ''], [3 + i, 'Thread-' + i, 'run', '', null, '']);
  const messages = [];
  for (let k = 0; k < seconds * 1000 / every; k++) {
    const out = [], count = Math.round(rate * every / 1000);
    while (out.length < count) {
      t += 1000 + Math.floor(Math.random() * 20000);
      const me = 1 + Math.floor(Math.random() * lanes), name = 'Thread-' + me;
      if (owner < 0) { owner = me; out.push([t, name, 'acquire', 'Lock-1', null, '']); continue; }
      if (me === owner) { out.push([t, name, 'release', 'Lock-1', null, '']); owner = -1; continue; }
      out.push([t, name, 'wait', 'Lock-1', null, ''], [t + 500, name, 'run', 'Lock-1', null, 'Thread-' + owner]);
    }
    messages.push(JSON.stringify(out));
  }
  let sent = 0, frames = 0, worst = 0, last = null, t0 = null, next = 0, feed = null;
  const channel = new MessageChannel();
  channel.port1.onmessage = (e) => { const b = JSON.parse(e.data); tl.add(b); sent += b.length; };
  const step = (now) => {
    if (last !== null) worst = Math.max(worst, now - last);
    last = now; frames += 1;
    if (now - t0 < seconds * 1000) requestAnimationFrame(step);
    else { clearInterval(feed); resolve({ events: sent, fps: (frames - 1) / ((now - t0) / 1000), worst, drawMs: tl.frames.maxMs }); }
  };
  tl.add(batch0);
  requestAnimationFrame(() => requestAnimationFrame(() => {
    t0 = performance.now();
    // every message that is due by now (more than one if the page was busy)
    feed = setInterval(() => {
      while (next < messages.length && t0 + next * every <= performance.now()) channel.port2.postMessage(messages[next++]);
    }, 4);
    requestAnimationFrame(step);
  }));
})"""

# After the run's `done`, the first draw that shows it all: when it was on screen
# (the canvas flushed), in wall-clock ms, comparable with the server's clock.
HOOK_FIRST_FULL_DRAW = """() => { const tl = Interleave.current.timeline, draw = tl.draw.bind(tl);
  window.benchDrawnAt = null;
  Interleave.current.source.addEventListener('events', () => { window.benchTakenAt = performance.timeOrigin + performance.now(); });
  tl.draw = () => { draw(); if (tl.model.done && window.benchDrawnAt === null) {
    tl.canvas.getContext('2d').getImageData(0, 0, 1, 1); window.benchDrawnAt = performance.timeOrigin + performance.now(); } }; }"""


def renderer_pss_mb(browser_pid_hint: int) -> float:
    """Memory of Chromium's renderer processes started below this process (PSS: shared
    pages counted in proportion, so a library shared by all is not counted in full)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes()
            if b"--type=renderer" not in cmd:
                continue
            pid, ours = int(entry.name), False
            while pid > 1:
                if pid == browser_pid_hint:
                    ours = True
                    break
                pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ours:
                for line in (entry / "smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e6


def memory_mb(page: Page) -> dict[str, float]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    used, total = heap["usedSize"] / 1e6, heap["totalSize"] / 1e6
    buffers = heap.get("backingStorageSize", 0) / 1e6  # typed arrays live here
    return {
        "js_heap_mb": used,
        "js_heap_total_mb": total,
        "array_buffers_mb": buffers,
        "page_mb": total + buffers,
    }


def measure() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with serve() as url, sync_playwright() as pw:
        launch: dict[str, Any] = {"args": CHROMIUM_ARGS} if DEBIAN_CHROMIUM.exists() else {}
        if DEBIAN_CHROMIUM.exists():
            launch["executable_path"] = str(DEBIAN_CHROMIUM)
        browser = pw.chromium.launch(**launch)
        page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        page.goto(f"{url}/")
        results["calibration_ms"] = page.evaluate(CALIBRATE)

        # ~100k events, finished, then drawn
        small = start_run(url, HUNDRED_K)
        small_summary = wait_done(url, small["id"])
        page.goto(f"{url}/watch/{small['id']}")
        page.wait_for_selector(".run[data-done]", timeout=120_000)
        results["small"] = {
            "calibration_ms": page.evaluate(CALIBRATE),
            "events": small_summary["events"],
            "full_draw_ms": page.evaluate(FULL_DRAW),
            **page.evaluate(PAN_ZOOM, PAN_ZOOM_MS),
        }

        # ~1M events, followed live from its first event, in a page of its own
        page.close()
        page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
        page.goto(f"{url}/")
        baseline_pss = renderer_pss_mb(os.getpid())
        big = start_run(url, MILLION)
        page.goto(f"{url}/watch/{big['id']}")
        page.wait_for_function("() => Interleave.current && Interleave.current.timeline")
        page.evaluate(HOOK_FIRST_FULL_DRAW)
        big_summary = wait_done(url, big["id"])
        page.wait_for_selector(".run[data-done]", timeout=300_000)
        page.wait_for_function("() => window.benchDrawnAt !== null", timeout=60_000)
        last_event_at = (big_summary["created_at"] + big_summary["duration_ms"] / 1000) * 1000
        results["big"] = {
            "calibration_ms": page.evaluate(CALIBRATE),
            "events": big_summary["events"],
            "run_s": big_summary["duration_ms"] / 1000,
            "drawn_after_last_event_ms": page.evaluate("() => window.benchDrawnAt") - last_event_at,
            "taken_in_after_last_event_ms": page.evaluate("() => window.benchTakenAt") - last_event_at,
            "full_draw_ms": page.evaluate(FULL_DRAW),
            **page.evaluate(PAN_ZOOM, PAN_ZOOM_MS),
            **memory_mb(page),
            "renderer_growth_mb": renderer_pss_mb(os.getpid()) - baseline_pss,
        }
        # the same run opened later from its share link: the whole log streamed at once
        started = time.monotonic()
        page.goto(f"{url}/watch/{big['id']}")
        page.wait_for_selector(".run[data-done]", timeout=300_000)
        page.evaluate("() => new Promise(requestAnimationFrame)")
        results["big"]["finished_run_opened_s"] = time.monotonic() - started

        # a live stream at 50k events/s, on a page open long enough for a person to press
        # Run: the page has compiled the timeline's code while idle (static/js/warmup.js).
        # Each time in a new page: a stream's first frames are the hardest.
        results["live"] = []
        for _ in range(LIVE_REPEATS):
            page.close()
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.goto(f"{url}/")
            page.wait_for_function("() => document.documentElement.dataset.warm", timeout=60_000)
            results["live"].append(
                {
                    "warm_after_ms": float(page.evaluate("() => document.documentElement.dataset.warm")),
                    "calibration_ms": page.evaluate(CALIBRATE),
                    **page.evaluate(LIVE, [LIVE_RATE, LIVE_SECONDS]),
                }
            )
        browser.close()
    return results


def each(parts: list[dict[str, Any]], key: str, form: str) -> str:
    """One number from each of several measurements: "17 / 33 / 17"."""
    return " / ".join(form.format(part[key]) for part in parts)


def report_lines(r: dict[str, Any]) -> list[str]:
    small, big, live = r["small"], r["big"], r["live"]
    return [
        "### Timeline in a browser (headless Chromium, 1920×1080, software rendering)",
        "",
        f"Real lock-counter runs (16 pairs, 10 µs hold) served by `python -m app`. Calibration, timed in the "
        f"page before each part: 1M float additions took {r['calibration_ms']:.1f} / {small['calibration_ms']:.1f} / "
        f"{big['calibration_ms']:.1f} / {each(live, 'calibration_ms', '{:.1f}')} ms (~1 ms on "
        f"a quiet machine; more means a "
        f"busy machine and proportionally slower numbers).",
        "",
        "| what | measured | target |",
        "|---|---|---|",
        f"| {small['events']:,} events: one full draw (rasterised) | {small['full_draw_ms']:.1f} ms | ≤ 100 ms |",
        f"| {small['events']:,} events: pan/zoom | {small['fps']:.0f} fps (longest frame "
        f"{small['worst']:.0f} ms) | ≥ 50 fps |",
        f"| {big['events']:,} events followed live ({big['run_s']:.1f} s run): last event to first full draw "
        f"| {big['drawn_after_last_event_ms']:.0f} ms (the last batch was taken in after "
        f"{big['taken_in_after_last_event_ms']:.0f} ms) | ≤ 2 s |",
        f"| {big['events']:,} events: one full draw (rasterised) | {big['full_draw_ms']:.1f} ms | |",
        f"| {big['events']:,} events: pan/zoom | {big['fps']:.0f} fps (longest frame {big['worst']:.0f} ms) "
        f"| ≥ 30 fps |",
        f"| {big['events']:,} events: page memory (CDP: JS heap reserved + typed arrays, after GC) | "
        f"{big['page_mb']:.0f} MB ({big['js_heap_total_mb']:.0f} heap, {big['js_heap_mb']:.0f} of it used, "
        f"+ {big['array_buffers_mb']:.0f} arrays); its renderer process grew by "
        f"{big['renderer_growth_mb']:.0f} MB (PSS, garbage not yet returned included) | ≤ 300 MB |",
        f"| {big['events']:,} events: the finished run opened from its share link (whole log streamed) | "
        f"{big['finished_run_opened_s']:.1f} s | |",
        f"| live stream, {live[0]['events'] / LIVE_SECONDS:,.0f} events/s for {LIVE_SECONDS} s (synthetic: one "
        f"message of JSON per 16 ms, each parsed and taken in as a task of its own), {len(live)} times, each in a "
        f"new page (its timeline code warmed up {each(live, 'warm_after_ms', '{:.0f}')} ms after loading) | "
        f"longest frame {each(live, 'worst', '{:.0f}')} ms; "
        f"{each(live, 'fps', '{:.0f}')} fps; longest draw "
        f"{each(live, 'drawMs', '{:.0f}')} ms | every frame < 50 ms |",
        "",
    ]


if __name__ == "__main__":
    print("\n".join(report_lines(measure())))
