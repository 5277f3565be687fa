"""`python -m bench.scaling [--write docs/SCALING.md]`: what runs out first on one machine.

1. Recording: 1, 2 and 4 runs at once of a lock counter with no hold (pure traced lock
   traffic) on a real server: the events per second they record together, and how
   long a `GET /scenarios` waits meanwhile (the event loop shares the interpreter with
   the runs' threads).
2. Database writes: the history writer alone (this process), writing 8 runs' logs of
   250k events each as they would arrive: events and blocks per second, bytes per event.

Viewers are measured by `python -m bench.load` (200 SSE viewers, a run a second).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from app.columns import EventColumns
from app.store import RunRecord, this_process
from app.store.sqlite import SqliteStore
from app.store.writer import HistoryWriter
from app.timeline import Event, Kind
from bench.report import replace_section
from tests.live import live_server

BUSY_RUN = {"scenario": "lock-counter", "params": {"pairs": 1, "iterations": 60_000, "hold": 0}}


def recording(concurrent: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="interleave-scaling-") as folder:
        env = {
            "INTERLEAVE_DATABASE": str(Path(folder) / "runs.sqlite"),
            "INTERLEAVE_WARM_UP_PROCESSES": "false",
            "INTERLEAVE_MAX_RUN_SECONDS": "300",
            "INTERLEAVE_MAX_CONCURRENT_RUNS": str(concurrent),
            "INTERLEAVE_MAX_RUNS_PER_CLIENT": str(concurrent),
        }
        with live_server(env) as server, httpx.Client(base_url=server.url, timeout=300) as http:
            waits: list[float] = []
            finished = threading.Event()

            def probe() -> None:  # a page request while the runs record
                while not finished.is_set():
                    asked = time.perf_counter()
                    http.get("/scenarios")
                    waits.append(time.perf_counter() - asked)
                    finished.wait(0.05)

            started = time.perf_counter()
            ids = [http.post("/runs", json=BUSY_RUN).json()["id"] for _ in range(concurrent)]
            prober = threading.Thread(target=probe)
            prober.start()
            summaries = [_until_done(http, run_id) for run_id in ids]
            elapsed = time.perf_counter() - started
            finished.set()
            prober.join()
    events = sum(s["events"] for s in summaries)
    return {
        "runs": concurrent,
        "events": events,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "probe_p50_ms": statistics.median(waits) * 1e3 if waits else 0.0,
        "probe_max_ms": max(waits) * 1e3 if waits else 0.0,
    }


def _until_done(http: httpx.Client, run_id: str) -> dict[str, Any]:
    with http.stream("GET", f"/runs/{run_id}/events") as response:
        for _ in response.iter_bytes():
            pass  # the stream ends with the run
    summary: dict[str, Any] = http.get(f"/runs/{run_id}").json()
    return summary


def database_writes(runs: int = 8, events_per_run: int = 250_000, frame: int = 2_000) -> dict[str, float]:
    """The writer alone: `runs` logs (a lock counter's shape) handed to it a frame's
    batch at a time, as fast as it takes them; timed from the first batch to the last
    write, so it is the writer's own rate (encoding and SQLite), not the producers'."""
    pattern = [(Kind.ACQUIRE, "Lock-1", 1), (Kind.RELEASE, "Lock-1", 0), (Kind.WAIT, "Lock-1", None)]
    logs = {}
    for n in range(runs):
        log = EventColumns()
        log.extend(
            Event(i * 1_700 + (i * 7919 + n) % 900, f"increment-{i % 4}", *pattern[i % 3], "")
            for i in range(events_per_run)
        )
        logs[f"run-{n}"] = log
    with tempfile.TemporaryDirectory(prefix="interleave-scaling-") as folder:
        store = SqliteStore(Path(folder) / "runs.sqlite")
        writer = HistoryWriter(store, flush_seconds=0.5, max_runs=len(logs), max_bytes=1 << 40).start()
        started = time.perf_counter()
        for run_id in logs:
            writer.created(_record(run_id))
        for stop in range(frame, events_per_run + 1, frame):
            for run_id, log in logs.items():
                writer.logged(run_id, log, stop)
        writer.flush(timeout=600)
        elapsed = time.perf_counter() - started
        stored = sum(r.stored_bytes for r in store.recent(None, runs, None))
        writer.close()
        store.close()
    total = runs * events_per_run
    return {
        "events": total,
        "seconds": elapsed,
        "events_per_s": total / elapsed,
        "bytes_per_event": stored / total,
    }


def _record(run_id: str) -> RunRecord:
    return RunRecord(run_id, "lock-counter", "Lock counter", {}, "bench", time.time(), this_process())


def report() -> str:
    rows = [recording(n) for n in (1, 2, 4)]
    writes = database_writes()
    lines = [
        "### Recording: runs at once on one server (lock counter, no hold)",
        "",
        "| runs at once | events recorded | wall time | events/s together | `GET /scenarios` meanwhile: median / worst |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['runs']} | {r['events']:,} | {r['seconds']:.2f} s | {r['events_per_s']:,.0f} "
            f"| {r['probe_p50_ms']:.1f} / {r['probe_max_ms']:.0f} ms |"
        )
    lines += [
        "",
        "### Database writes: the history writer alone",
        "",
        f"{writes['events']:,} events of 8 runs, handed over a 2,000-event frame at a time: "
        f"written in {writes['seconds']:.2f} s, **{writes['events_per_s']:,.0f} events/s** "
        "(encoding the blocks and one SQLite transaction per half second; a real run's bytes "
        "per event are in PERFORMANCE.md, these synthetic events compress further).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="replace the scaling section of this Markdown file")
    args = parser.parse_args()
    text = report()
    print(text)
    if args.write:
        replace_section(args.write, "scaling", text)


if __name__ == "__main__":
    main()
