"""Exporters: a run's events as Chrome Trace Event JSON (opens in Perfetto or
chrome://tracing) and as CSV (for a spreadsheet or pandas).

Trace format mapping: each lane is a thread (`tid`) of one process; each state
interval is a complete event (`ph: "X"`); instants are `ph: "i"`; who-woke-whom links
are flow events (`ph: "s"` / `"f"`). Times are microseconds, as the format expects.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence

from app.timeline import FINAL_STATES, STATES, Event, Kind

WAKERS = frozenset({Kind.RELEASE, Kind.NOTIFY, Kind.PUT})


def _us(t_ns: int) -> float:
    return t_ns / 1000


def chrome_trace(events: Sequence[Event], title: str = "Interleave run") -> dict[str, object]:
    """The run as a Trace Event Format object."""
    tids: dict[str, int] = {}
    out: list[dict[str, object]] = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": title}}
    ]
    open_state: dict[str, Event] = {}
    last_waker: dict[tuple[str, str], Event] = {}
    end = events[-1].t_ns if events else 0
    flow = 0

    def tid(worker: str) -> int:
        if worker not in tids:
            tids[worker] = len(tids) + 1
            out.append(
                {"ph": "M", "pid": 1, "tid": tids[worker], "name": "thread_name", "args": {"name": worker}}
            )
            out.append(
                {
                    "ph": "M",
                    "pid": 1,
                    "tid": tids[worker],
                    "name": "thread_sort_index",
                    "args": {"sort_index": tids[worker]},
                }
            )
        return tids[worker]

    def close(worker: str, t_ns: int) -> None:
        started = open_state.pop(worker, None)
        if started is not None and started.kind not in FINAL_STATES:
            name = f"{started.kind} {started.obj}".strip()
            out.append(
                {
                    "ph": "X",
                    "pid": 1,
                    "tid": tid(worker),
                    "name": name,
                    "cat": str(started.kind),
                    "ts": _us(started.t_ns),
                    "dur": _us(t_ns - started.t_ns),
                    "args": {} if started.detail is None else {"detail": started.detail},
                }
            )

    for event in events:
        lane = tid(event.worker)
        if event.kind in STATES:
            close(event.worker, event.t_ns)
            open_state[event.worker] = event
            if event.kind is Kind.CRASH:
                out.append(_instant(lane, event))
        else:
            out.append(_instant(lane, event))
            if event.kind in WAKERS:
                last_waker[(event.worker, event.obj)] = event
        if event.link:
            source = last_waker.get((event.link, event.obj))
            if source is not None:
                flow += 1
                out.append(
                    {
                        "ph": "s",
                        "id": flow,
                        "pid": 1,
                        "tid": tids[event.link],
                        "name": "woke",
                        "cat": "link",
                        "ts": _us(source.t_ns),
                    }
                )
                out.append(
                    {
                        "ph": "f",
                        "bp": "e",
                        "id": flow,
                        "pid": 1,
                        "tid": lane,
                        "name": "woke",
                        "cat": "link",
                        "ts": _us(event.t_ns),
                    }
                )
    for worker in list(open_state):
        close(worker, end)
    return {"traceEvents": out, "displayTimeUnit": "ms"}


def _instant(lane: int, event: Event) -> dict[str, object]:
    name = f"{event.kind} {event.obj}".strip()
    args = {} if event.detail is None else {"detail": event.detail}
    return {
        "ph": "i",
        "s": "t",
        "pid": 1,
        "tid": lane,
        "name": name,
        "cat": str(event.kind),
        "ts": _us(event.t_ns),
        "args": args,
    }


def csv_text(events: Iterable[Event]) -> str:
    """One row per event: t_ns, worker, kind, obj, detail (JSON for non-strings), link."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["t_ns", "worker", "kind", "obj", "detail", "link"])
    for e in events:
        detail = "" if e.detail is None else e.detail if isinstance(e.detail, str) else json.dumps(e.detail)
        writer.writerow([e.t_ns, e.worker, str(e.kind), e.obj, detail, e.link])
    return buffer.getvalue()
