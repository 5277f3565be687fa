"""Exports of a real run: Chrome Trace Event JSON and CSV."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from tests.helpers import events_of, parse_sse

pytestmark = pytest.mark.anyio


async def finished_run(client: httpx.AsyncClient) -> tuple[str, list[list[object]]]:
    run = (await client.post("/runs", json={"scenario": "lock-counter", "params": {"pairs": 1}})).json()
    events = events_of(parse_sse((await client.get(f"/runs/{run['id']}/events")).text))
    return run["id"], events


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


async def test_the_csv_export_has_one_row_per_event(client: httpx.AsyncClient) -> None:
    run_id, events = await finished_run(client)
    response = await client.get(f"/runs/{run_id}/events.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == len(events)
    assert [int(r["t_ns"]) for r in rows] == [e[0] for e in events]
    assert {r["kind"] for r in rows} >= {"start", "run", "acquire", "release", "done"}
