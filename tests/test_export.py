"""Exports of a real run: Chrome Trace Event JSON and CSV."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from app.export import chrome_trace, csv_text
from app.timeline import Event, Kind
from tests.helpers import events_of, parse_sse


async def finished_run(client: httpx.AsyncClient) -> tuple[str, list[list[object]]]:
    run = (await client.post("/runs", json={"scenario": "lock-counter", "params": {"pairs": 1}})).json()
    events = events_of(parse_sse((await client.get(f"/runs/{run['id']}/events")).text))
    return run["id"], events


@pytest.mark.anyio
async def test_the_trace_export_has_a_named_track_per_lane_and_intervals_for_states(
    client: httpx.AsyncClient,
) -> None:
    run_id, events = await finished_run(client)
    response = await client.get(f"/runs/{run_id}/trace.json")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    trace = response.json()["traceEvents"]
    names = {e["args"]["name"] for e in trace if e["name"] == "thread_name"}
    assert names == {"main", "increment-1", "decrement-1"}
    intervals = [e for e in trace if e["ph"] == "X"]
    assert intervals
    assert all(e["dur"] >= 0 for e in intervals)
    acquires = [e for e in trace if e["ph"] == "i" and e["name"] == "acquire Lock-1"]
    assert len(acquires) == sum(1 for e in events if e[2] == "acquire")
    # every recorded hand-over becomes a flow arrow pair
    handovers = sum(1 for e in events if e[5] and e[2] == "run" and e[3] == "Lock-1")
    assert sum(1 for e in trace if e["ph"] == "s") == handovers


@pytest.mark.anyio
async def test_the_csv_export_has_one_row_per_event(client: httpx.AsyncClient) -> None:
    run_id, events = await finished_run(client)
    response = await client.get(f"/runs/{run_id}/events.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(events)
    assert [int(r["t_ns"]) for r in rows] == [e[0] for e in events]
    assert {r["kind"] for r in rows} >= {"start", "run", "acquire", "release", "done"}


# --- exact output for a small synthetic log ------------------------------------------
# main holds a lock Thread-1 waits for, puts a job Thread-1 gets, notifies a condition
# Thread-1 waits on; Thread-1 then crashes; main never records its end.
LOG = [
    Event(0, "main", Kind.START, "", "main"),
    Event(1_500, "main", Kind.RUN),
    Event(2_000, "Thread-1", Kind.START, "", "thread"),
    Event(3_000, "Thread-1", Kind.RUN),
    Event(4_000, "main", Kind.ACQUIRE, "lock"),
    Event(5_000, "Thread-1", Kind.WAIT, "lock"),
    Event(6_000, "main", Kind.RELEASE, "lock"),
    Event(7_500, "Thread-1", Kind.RUN, "lock", link="main"),
    Event(8_000, "Thread-1", Kind.ACQUIRE, "lock"),
    Event(9_000, "main", Kind.PUT, "q", "'job'"),
    Event(10_000, "Thread-1", Kind.GET, "q", "'job'", link="main"),
    Event(11_000, "Thread-1", Kind.WAIT, "cond"),
    Event(11_500, "main", Kind.NOTIFY, "cond", ["Thread-1"]),
    Event(12_000, "Thread-1", Kind.RUN, "cond", link="main"),
    Event(13_000, "Thread-1", Kind.CRASH, "", "ValueError: boom"),
    Event(13_500, "main", Kind.WAIT, "join Thread-1"),
    # linked to Thread-1, which never released, put or notified "join Thread-1": no arrow
    Event(14_000, "main", Kind.RUN, "join Thread-1", link="Thread-1"),
    Event(14_500, "main", Kind.PRINT, "", "bye"),
]


def _meta(tid: int, worker: str) -> list[dict[str, object]]:
    return [
        {"ph": "M", "pid": 1, "tid": tid, "name": "thread_name", "args": {"name": worker}},
        {"ph": "M", "pid": 1, "tid": tid, "name": "thread_sort_index", "args": {"sort_index": tid}},
    ]


def _state(tid: int, name: str, cat: str, ts: float, dur: float, **args: object) -> dict[str, object]:
    return {"ph": "X", "pid": 1, "tid": tid, "name": name, "cat": cat, "ts": ts, "dur": dur, "args": args}


def _instant(tid: int, name: str, cat: str, ts: float, **args: object) -> dict[str, object]:
    return {"ph": "i", "s": "t", "pid": 1, "tid": tid, "name": name, "cat": cat, "ts": ts, "args": args}


def _flow(flow: int, from_tid: int, from_ts: float, to_tid: int, to_ts: float) -> list[dict[str, object]]:
    common = {"id": flow, "pid": 1, "name": "woke", "cat": "link"}
    return [
        {"ph": "s", **common, "tid": from_tid, "ts": from_ts},
        {"ph": "f", "bp": "e", **common, "tid": to_tid, "ts": to_ts},
    ]


def _canonical(trace_events: list[dict[str, object]]) -> list[str]:
    # The format does not order events (viewers sort by time): compare them as a multiset.
    return sorted(json.dumps(e, sort_keys=True) for e in trace_events)


def test_the_trace_of_a_small_log_is_exactly_lanes_states_instants_and_arrows_in_microseconds() -> None:
    main, worker = 1, 2  # tids in order of first appearance, which is also the sort order
    expected = [
        {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": "a title"}},
        *_meta(main, "main"),
        *_meta(worker, "Thread-1"),
        # a state lasts until the lane's next state; `detail` travels as args
        _state(main, "start", "start", 0.0, 1.5, detail="main"),
        _state(main, "run", "run", 1.5, 12.0),
        _state(main, "wait join Thread-1", "wait", 13.5, 0.5),
        _state(main, "run join Thread-1", "run", 14.0, 0.5),  # still open: ends with the log
        _state(worker, "start", "start", 2.0, 1.0, detail="thread"),
        _state(worker, "run", "run", 3.0, 2.0),
        _state(worker, "wait lock", "wait", 5.0, 2.5),
        _state(worker, "run lock", "run", 7.5, 3.5),
        _state(worker, "wait cond", "wait", 11.0, 1.0),
        _state(worker, "run cond", "run", 12.0, 1.0),
        # instants, and the crash as one (a final state has no duration)
        _instant(main, "acquire lock", "acquire", 4.0),
        _instant(main, "release lock", "release", 6.0),
        _instant(main, "put q", "put", 9.0, detail="'job'"),
        _instant(main, "notify cond", "notify", 11.5, detail=["Thread-1"]),
        _instant(main, "print", "print", 14.5, detail="bye"),
        _instant(worker, "acquire lock", "acquire", 8.0),
        _instant(worker, "get q", "get", 10.0, detail="'job'"),
        _instant(worker, "crash", "crash", 13.0, detail="ValueError: boom"),
        # who woke whom: from the waker's release, put or notify to the woken lane
        *_flow(1, main, 6.0, worker, 7.5),
        *_flow(2, main, 9.0, worker, 10.0),
        *_flow(3, main, 11.5, worker, 12.0),
    ]
    trace = chrome_trace(LOG, "a title")
    assert trace["displayTimeUnit"] == "ms"
    assert _canonical(trace["traceEvents"]) == _canonical(expected)  # type: ignore[arg-type]


def test_the_trace_of_an_empty_log_names_the_process_and_nothing_else() -> None:
    assert chrome_trace([], "nothing ran") == {
        "traceEvents": [
            {"ph": "M", "pid": 1, "tid": 0, "name": "process_name", "args": {"name": "nothing ran"}}
        ],
        "displayTimeUnit": "ms",
    }


def test_the_csv_of_a_small_log_is_exactly_one_row_per_event_in_wire_order() -> None:
    assert csv_text(LOG[9:15]) == (
        "t_ns,worker,kind,obj,detail,link\r\n"
        "9000,main,put,q,'job',\r\n"
        "10000,Thread-1,get,q,'job',main\r\n"
        "11000,Thread-1,wait,cond,,\r\n"
        '11500,main,notify,cond,"[""Thread-1""]",\r\n'  # a list travels as JSON
        "12000,Thread-1,run,cond,,main\r\n"
        "13000,Thread-1,crash,,ValueError: boom,\r\n"
    )
    numbers = csv_text([Event(5, "main", Kind.LEVEL, "slots", 3)])
    assert numbers.splitlines()[1] == "5,main,level,slots,3,"
