"""The HTTP API over httpx's ASGI transport: create, validate, stream, resume."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import events_of, parse_sse

pytestmark = pytest.mark.anyio


async def run_to_end(client: httpx.AsyncClient, scenario: str, **params: Any) -> tuple[dict[str, Any], str]:
    created = await client.post("/runs", json={"scenario": scenario, "params": params})
    assert created.status_code == 201, created.text
    run = created.json()
    stream = await client.get(f"/runs/{run['id']}/events")
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    return run, stream.text


async def test_creating_a_run_returns_its_summary_and_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/runs", json={"scenario": "lock-counter"})
    assert response.status_code == 201
    body = response.json()
    assert response.headers["location"] == f"/runs/{body['id']}"
    assert body["status"] == "running"
    assert body["params"] == {"pairs": 2, "iterations": 5, "hold": 0.002, "use_lock": True}


async def test_an_unknown_scenario_is_404_naming_the_known_ones(client: httpx.AsyncClient) -> None:
    response = await client.post("/runs", json={"scenario": "nope"})
    assert response.status_code == 404
    assert "lock-counter" in response.json()["message"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"threads": 17}, "threads", "from 1 to 16"),
        ({"threads": 0}, "threads", "from 1 to 16"),
        ({"pace": -1}, "pace", "from 0 to 0.1"),
        ({"work": "dance"}, "work", "one of 'sleep', 'cpu'"),
        ({"threads": "many"}, "threads", "a whole number"),
        ({"colour": "red"}, "colour", "allowed: threads, work, pace, squares"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field_and_what_is_allowed(
    client: httpx.AsyncClient, params: dict[str, Any], field: str, words: str
) -> None:
    response = await client.post("/runs", json={"scenario": "threads-print-numbers", "params": params})
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["field"] == field
    assert words in problem["message"]


async def test_an_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/runs/doesnotexist")).status_code == 404
    assert (await client.get("/runs/doesnotexist/events")).status_code == 404


async def test_the_stream_carries_every_event_in_batches_and_ends_with_done(
    client: httpx.AsyncClient,
) -> None:
    run, text = await run_to_end(client, "threads-print-numbers", threads=3, pace=0.002)
    messages = parse_sse(text)
    assert messages[-1].event == "done"
    assert all(m.event == "events" for m in messages[:-1])
    summary = messages[-1].data
    events = events_of(messages)
    assert summary["status"] == "done"
    assert summary["events"] == len(events)
    # ids are the index of each batch's last event: contiguous, no gaps
    ends = [int(m.id) for m in messages[:-1] if m.id is not None]
    sizes = [len(m.data) for m in messages[:-1]]
    assert ends == [sum(sizes[: i + 1]) - 1 for i in range(len(sizes))]
    prints = [(e[1], e[4]) for e in events if e[2] == "print"]
    assert len(prints) == 30
    for n in (1, 2, 3):
        assert [d for w, d in prints if w == f"Thread-{n}"] == [str(i) for i in range(1, 11)]
    lanes = {e[1] for e in events}
    assert lanes == {"main", "Thread-1", "Thread-2", "Thread-3"}
    status = (await client.get(f"/runs/{run['id']}")).json()
    assert status["status"] == "done"
    assert status["result"]["values"]["lines"] == 30
    assert status["duration_ms"] > 0


async def test_a_client_sending_last_event_id_resumes_with_the_next_event(client: httpx.AsyncClient) -> None:
    run, text = await run_to_end(client, "lock-counter", pairs=2, iterations=5)
    full = events_of(parse_sse(text))
    for cut in (0, 7, len(full) // 2, len(full) - 1):
        resumed = await client.get(f"/runs/{run['id']}/events", headers={"Last-Event-ID": str(cut)})
        rest = parse_sse(resumed.text)
        assert events_of(rest) == full[cut + 1 :]
        assert rest[-1].event == "done"


async def test_a_second_viewer_gets_the_whole_log_from_the_start(client: httpx.AsyncClient) -> None:
    run, text = await run_to_end(client, "threads-print-numbers", threads=2, pace=0.001)
    second = await client.get(f"/runs/{run['id']}/events")
    assert events_of(parse_sse(second.text)) == events_of(parse_sse(text))


async def test_a_malformed_last_event_id_is_422(client: httpx.AsyncClient) -> None:
    run = (await client.post("/runs", json={"scenario": "lock-counter"})).json()
    response = await client.get(f"/runs/{run['id']}/events", headers={"Last-Event-ID": "soon"})
    assert response.status_code == 422


async def test_the_lock_counter_records_real_waits_holds_and_handovers(client: httpx.AsyncClient) -> None:
    _, text = await run_to_end(client, "lock-counter", pairs=2, iterations=5, hold=0.002)
    messages = parse_sse(text)
    events = events_of(messages)
    summary = messages[-1].data
    assert summary["result"]["values"]["counter"] == summary["result"]["values"]["expected"] == 0
    acquires = [e for e in events if e[2] == "acquire"]
    releases = [e for e in events if e[2] == "release"]
    assert len(acquires) == len(releases) == 2 * 2 * 5
    waits = [e for e in events if e[2] == "wait" and e[3] == "Lock-1"]
    assert waits, "four threads sharing a 2 ms hold must wait for each other"
    handovers = [e for e in events if e[2] == "run" and e[3] == "Lock-1"]
    assert len(handovers) == len(waits)
    assert all(e[5].startswith(("increment-", "decrement-")) and e[5] != e[1] for e in handovers)
    # at most one holder at any instant
    holders = 0
    for e in events:
        holders += {"acquire": 1, "release": -1}.get(e[2], 0)
        assert holders in (0, 1)


async def test_a_full_server_refuses_a_run_with_503_and_retry_after(
    client: httpx.AsyncClient, app: Any
) -> None:
    app.state.manager.settings.max_concurrent_runs = 1
    first = await client.post("/runs", json={"scenario": "threads-print-numbers", "params": {"pace": 0.05}})
    second = await client.post("/runs", json={"scenario": "lock-counter"})
    assert second.status_code == 503
    assert "at once" in second.json()["message"]
    assert int(second.headers["retry-after"]) >= 1
    await client.post(f"/runs/{first.json()['id']}/stop")
    await client.get(f"/runs/{first.json()['id']}/events")


async def test_stopping_a_run_ends_it_as_stopped_with_the_reason(client: httpx.AsyncClient) -> None:
    run = (
        await client.post("/runs", json={"scenario": "threads-print-numbers", "params": {"pace": 0.1}})
    ).json()
    await client.post(f"/runs/{run['id']}/stop")
    done = parse_sse((await client.get(f"/runs/{run['id']}/events")).text)[-1].data
    assert done["status"] == "stopped"
    assert done["reason"] == "stopped by a viewer"


async def test_scenarios_list_their_parameters_bounds_and_source(client: httpx.AsyncClient) -> None:
    scenarios = (await client.get("/scenarios")).json()
    counter = next(s for s in scenarios if s["slug"] == "lock-counter")
    assert "lock = threading.Lock()" in counter["source"]
    assert "with guard:" in counter["source"]
    pairs = next(p for p in counter["params"] if p["name"] == "pairs")
    assert (pairs["minimum"], pairs["maximum"], pairs["default"]) == (1, 16, 2)


async def test_old_finished_runs_are_forgotten_beyond_the_kept_budget(
    client: httpx.AsyncClient, app: Any
) -> None:
    app.state.manager.settings.kept_runs = 2
    ids = []
    for _ in range(3):
        run, _ = await run_to_end(client, "lock-counter", pairs=1, iterations=1)
        ids.append(run["id"])
    # the third start evicted the first finished run; the two newest remain
    assert (await client.get(f"/runs/{ids[0]}")).status_code == 404
    assert (await client.get(f"/runs/{ids[1]}")).status_code == 200
    assert (await client.get(f"/runs/{ids[2]}")).status_code == 200
