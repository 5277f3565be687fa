"""`python -m bench.history [--write docs/PERFORMANCE.md]`: a 1M-event run on real
servers, and what its log costs.

1. Server A (its own INTERLEAVE_DATABASE, the event limit above the run): a lock counter with
   no hold (pure lock traffic) records about a million events. Measured: the live
   stream (POST to `done`), the finished run streamed again, how long after its end
   the history has every event, bytes per event on disk (its compressed blocks; the
   SQLite file too).
2. The same events in this process: bytes per event in memory as the server keeps
   them (`EventColumns`, by tracemalloc), beside a list of `Event` tuples (the old way).
3. Server B on the same file (a restart): the first `GET /runs/{id}` (reads it back
   from the history) and its full stream.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.columns import EventColumns
from app.store.sqlite import SqliteStore
from app.timeline import Event, Kind
from bench.report import replace_section
from tests.live import live_server

# Four threads taking turns on one lock, nothing else: ~1M events (acquire, release,
# and the waits and hand-overs that tracing makes happen; ~7 per iteration pair). The
# event limit is raised above it, so the run ends by itself whatever the contention.
MILLION_RUN = {"scenario": "lock-counter", "params": {"pairs": 2, "iterations": 130_000, "hold": 0}}
EVENT_LIMIT = 2_000_000


def sse(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) of each message of a text/event-stream response."""
    event, data = "message", ""
    for line in response.iter_lines():
        if not line:
            if data:
                yield event, data
            event, data = "message", ""
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data = line[5:].lstrip()


def stream(url: str, run_id: str) -> tuple[float, list[list[Any]], dict[str, Any]]:
    """Seconds to read the whole stream, its events (wire form), the done summary."""
    events: list[list[Any]] = []
    summary: dict[str, Any] = {}
    started = time.perf_counter()
    with httpx.stream("GET", f"{url}/runs/{run_id}/events", timeout=600) as response:
        for event, data in sse(response):
            if event == "done":
                summary = json.loads(data)
            else:
                events += json.loads(data)
    return time.perf_counter() - started, events, summary


def stored(database: Path, run_id: str) -> tuple[int, int]:
    """(events, bytes) stored for the run so far."""
    store = SqliteStore(database)
    try:
        record = store.record(run_id)
        return (0, 0) if record is None else (record.events, record.stored_bytes)
    finally:
        store.close()


def memory_per_event(wire: list[list[Any]]) -> dict[str, float]:
    """Bytes per event held by the server's columnar log, and by a list of Event tuples,
    for the same events (tracemalloc: what Python allocated and still holds)."""
    events = [Event(t, w, Kind(k), o, d, link) for t, w, k, o, d, link in wire]
    results = {}
    for name, build in (("columns", _columns), ("tuples", _tuples)):
        gc.collect()
        tracemalloc.start()
        kept = build(events)
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        results[name] = held / len(events)
        if isinstance(kept, EventColumns):
            results["columns_nbytes"] = kept.nbytes() / len(events)
        del kept
    return results


def _columns(events: list[Event]) -> EventColumns:
    log = EventColumns()
    for start in range(0, len(events), 2_000):  # as the runner does: a frame's batch at a time
        log.extend(events[start : start + 2_000])
    return log


def _tuples(events: list[Event]) -> list[Event]:
    # New tuples (sharing the names, as the recorder's do), as the old log kept them.
    return [Event(e.t_ns, e.worker, e.kind, e.obj, e.detail, e.link) for e in events]


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="interleave-bench-") as folder:
        database = Path(folder) / "runs.sqlite"
        env = {
            "INTERLEAVE_DATABASE": str(database),
            "INTERLEAVE_MAX_RUN_SECONDS": "300",
            "INTERLEAVE_MAX_EVENTS_PER_RUN": str(EVENT_LIMIT),
            "INTERLEAVE_WARM_UP_PROCESSES": "false",
        }
        with live_server(env) as first:
            started = time.perf_counter()
            created = httpx.post(f"{first.url}/runs", json=MILLION_RUN, timeout=60)
            created.raise_for_status()
            run_id = created.json()["id"]
            live_s, wire, summary = stream(first.url, run_id)
            ended = time.perf_counter()
            while stored(database, run_id)[0] < summary["events"]:
                time.sleep(0.01)
            store_lag_s = time.perf_counter() - ended
            replay_s, replayed, _ = stream(first.url, run_id)
            assert replayed == wire, "the finished run's stream differs from the live one"
            _, stored_bytes = stored(database, run_id)
            first_rss = first.rss_bytes()
        file_bytes = database.stat().st_size + sum(
            p.stat().st_size for p in database.parent.glob("runs.sqlite-*")
        )
        with live_server(env) as second:
            loading = time.perf_counter()
            again = httpx.get(f"{second.url}/runs/{run_id}", timeout=600)
            reload_s = time.perf_counter() - loading
            assert again.json() == summary, "the run read back differs"
            reload_stream_s, reloaded, _ = stream(second.url, run_id)
            assert reloaded == wire, "the stream after the restart differs"
    memory = memory_per_event(wire)
    n = len(wire)
    return {
        "events": n,
        "status": summary["status"],
        "reason": summary["reason"],
        "run_ms": summary["duration_ms"],
        "live_s": live_s,
        "post_to_done_s": ended - started,
        "replay_s": replay_s,
        "replay_eps": n / replay_s,
        "store_lag_s": store_lag_s,
        "disk_bytes_per_event": stored_bytes / n,
        "file_bytes_per_event": file_bytes / n,
        "memory_bytes_per_event": memory["columns"],
        "memory_nbytes_per_event": memory["columns_nbytes"],
        "tuple_bytes_per_event": memory["tuples"],
        "reload_s": reload_s,
        "reload_stream_s": reload_stream_s,
        "server_rss_mb": first_rss / 2**20,
    }


def report(row: dict[str, Any] | None = None) -> str:
    r = row or measure()
    ended = r["status"] if r["reason"] is None else f"{r['status']} ({r['reason']})"
    return "\n".join(
        [
            "### A 1M-event run: kept, stored, streamed, read back after a restart",
            "",
            f"`lock-counter` {json.dumps(MILLION_RUN['params'])}, event limit {EVENT_LIMIT:,}: "
            f"{r['events']:,} events in {r['run_ms'] / 1000:.2f} s, {ended}.",
            "",
            "| what | measured | goal |",
            "|---|---|---|",
            f"| kept in memory (`EventColumns`, tracemalloc) | {r['memory_bytes_per_event']:.1f} bytes/event "
            f"({r['memory_nbytes_per_event']:.1f} by its own count) | ≤ 40 |",
            f"| the same events as a list of `Event` tuples (the old log) | {r['tuple_bytes_per_event']:.0f} bytes/event | |",
            f"| stored on disk (compressed blocks) | {r['disk_bytes_per_event']:.2f} bytes/event | ≤ 12 |",
            f"| the SQLite file (with its WAL) | {r['file_bytes_per_event']:.2f} bytes/event | |",
            f"| live stream, POST to `done` | {r['post_to_done_s']:.2f} s | |",
            f"| history complete after the run ended | {r['store_lag_s'] * 1000:.0f} ms | |",
            f"| finished run streamed again (one client) | {r['replay_s']:.2f} s ({r['replay_eps']:,.0f} events/s) | |",
            f"| after a restart: first `GET /runs/{{id}}` (read back from SQLite) | {r['reload_s']:.2f} s | |",
            f"| after a restart: its whole stream | {r['reload_stream_s']:.2f} s | |",
            f"| server RSS after the run | {r['server_rss_mb']:.0f} MB | |",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="replace the history section of this Markdown file")
    args = parser.parse_args()
    text = report()
    print(text)
    if args.write:
        replace_section(args.write, "history", text)


if __name__ == "__main__":
    main()
