"""Every lesson, stopped part way or with a worker killed: the result says so and
reports only what was measured (never the verdict of a run that did not finish)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from app.scenarios.registry import SCENARIOS
from app.timeline import Event, Kind, LaneKind
from app.tracing import RawEvent, Recorder, Stop, bind
from tests.helpers import parse_sse
from tests.proc_helpers import alive, children

pytestmark = pytest.mark.anyio

# Parameters that keep each lesson busy for seconds after its first worker starts.
LONG: dict[str, dict[str, Any]] = {
    "threads-print-numbers": {"pace": 0.1},
    "lock-counter": {"iterations": 200, "hold": 0.01},
    "responsiveness": {"ticks": 40, "every": 0.1, "download": 2.0},
    "race-condition": {"iterations": 200, "window": 0.01},
    "semaphore": {"uses": 20, "hold": 0.1},
    "condition-buffer": {"items": 100, "consume_time": 0.05},
    "queue-buffer": {"items": 100, "consume_time": 0.05},
    "event-barrier": {"phases": 10, "work": 0.05},
    "rlock": {"withdrawals": 20, "hold": 0.05},
    "deadlock": {"same_order": True, "rounds": 20, "hold": 0.1},
    "processes-print-numbers": {"pace": 0.1},
    "pool-map": {"longer": True, "work": 1_000_000},
    "process-queue-pipe": {"items": 50, "work": 0.1},
    "separate-memory": {"start_method": "spawn"},
    "shared-counter-processes": {"times": 200, "gap": 0.02},
    "crash-isolation": {"pace": 0.1},
    "broken-process-pool": {"numbers": 30, "work": 1_000_000, "dies_on": 30},
    "asyncio-tasks": {"ticks": 20, "wait": 0.5},
    "compare-cpu": {"below": 150_000},
    "compare-io": {"wait": 1.0},
    "observer-effect": {"threads": 8, "iterations": 20_000},
}


def a_worker_started(events: Iterable[Event]) -> bool:
    return any(e.kind is Kind.START and e.worker != "main" for e in events)


# When a lesson has begun its seconds of work, if not at its first worker's start.
BUSY: dict[str, Callable[[Iterable[Event]], bool]] = {
    # Its lanes arrive only when both recordings are done (seconds, tens of them under
    # load with the interpreted recorder): it is busy once main waits for the first one.
    "observer-effect": lambda events: any(e.kind is Kind.IO and e.worker == "main" for e in events),
}

# What must still hold of a stopped run's numbers.
STILL_TRUE: dict[str, Callable[[dict[str, Any]], bool]] = {
    "lock-counter": lambda v: v["counter"] == v["expected"],  # the lock was on: nothing lost
    "semaphore": lambda v: v["max_holders"] <= v["slots"],
    "race-condition": lambda v: v["lost_updates"] <= v["expected"],
}


def test_every_lesson_has_a_long_running_case_here() -> None:
    assert set(LONG) == set(SCENARIOS)


async def until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    """Wait (bounded) for a state the run reaches on its own."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.005)


@pytest.mark.parametrize("slug", sorted(LONG))
async def test_a_stopped_run_says_it_was_stopped_and_reports_only_what_it_measured(
    app: FastAPI, client: httpx.AsyncClient, slug: str
) -> None:
    created = await client.post("/runs", json={"scenario": slug, "params": LONG[slug]})
    assert created.status_code == 201, created.text
    run = app.state.manager.get(created.json()["id"])
    # Once busy, the lesson has seconds of work left: stop it there.
    busy = BUSY.get(slug, a_worker_started)
    await until(lambda: busy(run.events))
    stop = await client.post(f"/runs/{run.id}/stop", headers={"X-Run-Control": created.json()["control"]})
    assert stop.status_code == 200, stop.text
    summary = parse_sse((await client.get(f"/runs/{run.id}/events")).text)[-1].data
    assert summary["status"] == "stopped", summary
    assert summary["reason"] == "stopped by a viewer"
    result = summary["result"]
    if result is not None:  # the program reached its return: it must say it was stopped
        assert "stop" in result["summary"].lower(), result
        assert result["values"]["stopped"] == "stopped by a viewer"
        if slug in STILL_TRUE:
            assert STILL_TRUE[slug](result["values"]), result


async def test_a_run_whose_process_was_killed_says_which_and_how(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    before = children()
    created = await client.post(
        "/runs", json={"scenario": "processes-print-numbers", "params": {"processes": 3, "pace": 0.1}}
    )
    run = app.state.manager.get(created.json()["id"])
    # Every process has printed once: all three are running their loop.
    await until(lambda: len({e.worker for e in run.events if e.kind is Kind.PRINT}) == 3)
    victim = min(pid for pid in children() - before if alive(pid))  # one of this run's three
    os.kill(victim, signal.SIGKILL)
    await until(lambda: not alive(victim))
    summary = parse_sse((await client.get(f"/runs/{run.id}/events")).text)[-1].data
    assert summary["status"] == "done"
    result = summary["result"]
    assert "was killed by SIGKILL" in result["summary"], result
    assert "printed 1 to 10 each" not in result["summary"]
    [dead] = result["values"]["died"]
    crash = next(e for e in run.events if e.worker == dead and e.kind is Kind.CRASH)
    assert "SIGKILL" in crash.detail


async def test_the_observer_effect_stopped_while_a_recording_runs_leaves_no_process(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The lesson records in processes of its own (app/observed.py): a stop while one
    runs must end it, not leave it to finish behind the run's back."""
    before = children()
    created = await client.post(
        "/runs", json={"scenario": "observer-effect", "params": {"threads": 8, "iterations": 20_000}}
    )
    run = app.state.manager.get(created.json()["id"])
    # main waits for the first recording's process: it has been started
    await until(lambda: any(e.kind is Kind.IO and e.worker == "main" for e in run.events))
    await until(lambda: bool(children() - before))
    started = children() - before
    stop = await client.post(f"/runs/{run.id}/stop", headers={"X-Run-Control": created.json()["control"]})
    assert stop.status_code == 200, stop.text
    summary = parse_sse((await client.get(f"/runs/{run.id}/events")).text)[-1].data
    assert summary["status"] == "stopped", summary
    assert summary["reason"] == "stopped by a viewer"
    assert summary["result"] is None, summary  # nothing compared: no result to report
    assert not any(alive(pid) for pid in started), "a recording's process outlived its stopped run"


def test_a_stop_while_the_recordings_are_drawn_ends_the_drawing_early() -> None:
    """observer-effect draws hundreds of thousands of recorded events once both
    recordings are back: a stop must end that, not wait for the last event."""
    from app.scenarios.observer_effect import CHECK_EVERY, Recorded, draw

    lane = "compiled Thread-1"
    events: list[RawEvent] = [(0, lane, Kind.START, "", LaneKind.THREAD.value, "")]
    events += [(i, lane, Kind.ACQUIRE, "lock", None, "") for i in range(1, 4 * CHECK_EVERY)]
    rec = Recorder()
    with bind(rec, "main"):
        rec.stop("stopped by a viewer")
        with pytest.raises(Stop, match="stopped by a viewer"):
            draw(Recorded("compiled", 0.001, 0.002, 0, events), at_ns=0)
    assert len(rec.take()) < CHECK_EVERY
