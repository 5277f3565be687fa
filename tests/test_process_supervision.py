"""Every run ends by its time limit or a stop, whatever its children do: killed from
outside, frozen with SIGSTOP, or stuck in a call that never checks the stop flag.

Each test takes the run's worker processes from /proc once they are busy, does
something to one of them from outside (as an OOM killer or a curious student with
`kill` would), and then checks the four promises: the run ends with a status that
says why, the lane of the worker that died says how, viewers get `done`, and the run
leaves no process and no busy slot behind.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.runner import LiveRun, Run, RunManager
from app.scenarios.base import Params, Result, Scenario
from app.traced import multiprocessing
from app.traced.supervisor import KILL_AFTER_S
from tests.helpers import Wire, events_of, parse_sse
from tests.proc_helpers import children, state

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("no_children_left")]

TIME_LIMIT_S = 4.0
GRACE_S = 0.5


@pytest.fixture
def settings() -> Settings:
    return Settings(max_run_seconds=TIME_LIMIT_S, stop_grace_seconds=GRACE_S)


@pytest.fixture
def no_children_left() -> Any:
    before = children()
    yield
    # The run's finalizer reaps its children before the stream's `done`: no waiting here.
    assert children() - before == set(), "a process outlived its run"


def manager_of(app: FastAPI) -> RunManager:
    manager: RunManager = app.state.manager
    return manager


async def start(client: httpx.AsyncClient, scenario: str, **params: Any) -> dict[str, Any]:
    created = await client.post("/runs", json={"scenario": scenario, "params": params})
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll a condition another process reaches (bounded; fails with `what`)."""
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def busy_lanes(run: Run, prefix: str) -> set[str]:
    """Lanes of `prefix` that have started a task (a `run` segment labelled with it)."""
    return {e.worker for e in run.events if e.worker.startswith(prefix) and e.kind == "run" and e.obj}


def pid_of_or_none(run: Run, lane_name: str) -> int | None:
    """A process lane's pid, once its first `run` has said it ("pid 1234")."""
    first = next((e for e in run.events if e.worker == lane_name and e.kind == "run"), None)
    return None if first is None else int(str(first.detail).removeprefix("pid "))


def pid_of(run: Run, lane_name: str) -> int:
    pid = pid_of_or_none(run, lane_name)
    assert pid is not None, f"{lane_name} has not started"
    return pid


def computing(run: Run, prefix: str) -> list[str]:
    """Lanes of `prefix` whose latest state is a task's `run` (mid-task, as far as
    the events published so far tell)."""
    latest: dict[str, Any] = {}
    for e in run.events:
        if e.worker.startswith(prefix) and e.kind in ("run", "wait", "done", "crash"):
            latest[e.worker] = e
    return [lane for lane, e in latest.items() if e.kind == "run" and e.obj]


async def kill_a_worker_holding_a_task(run: Run) -> str:
    """SIGKILL pool workers until one dies holding a task, as the Pool itself reports
    it (a "lost task" mark): a worker killed between two tasks is only replaced, and
    then map would still finish. Returns the lane of the one that held a task."""
    for _ in range(10):
        lanes = sorted(computing(run, "PoolWorker"))
        if not lanes:
            await anyio.sleep(0.01)
            continue
        victim = lanes[0]
        workers = {e.worker for e in run.events if e.worker.startswith("PoolWorker")}
        os.kill(pid_of(run, victim), signal.SIGKILL)

        def settled(before: set[str] = workers) -> bool:
            lost = any(e.kind == "mark" and e.obj == "lost task" for e in run.events)
            replaced = {e.worker for e in run.events if e.worker.startswith("PoolWorker")} - before
            return lost or bool(replaced)

        await until(settled, "the pool to notice its dead worker")
        if any(e.kind == "mark" and e.obj == "lost task" for e in run.events):
            return victim
    raise AssertionError("no worker died holding a task in 10 tries")


async def read_to_done(client: httpx.AsyncClient, run_id: str) -> tuple[dict[str, Any], list[Wire]]:
    """The whole stream, bounded: a run that never ends fails here instead of hanging."""
    with anyio.fail_after(TIME_LIMIT_S + 15):
        messages = parse_sse((await client.get(f"/runs/{run_id}/events")).text)
    assert messages[-1].event == "done"
    return messages[-1].data, events_of(messages)


def lane(events: list[Wire], name: str) -> list[Wire]:
    return [e for e in events if e[1] == name]


def lesson(slug: str, title: str, main: Callable[[Params], Result]) -> Scenario:
    """A program of this file's own, started on the app's run manager directly."""
    return Scenario(slug=slug, title=title, group="Processes", notice="", params=Params, main=main)


async def run_to_end(app: FastAPI, scenario: Scenario, within_s: float) -> LiveRun:
    """Start `scenario` and follow it to its end, which must come within `within_s`."""
    run = manager_of(app).start(scenario, Params())
    with anyio.fail_after(within_s):
        async for _ in run.follow(0, 1000):
            pass
    return run


async def test_a_pool_worker_killed_from_outside_ends_by_the_time_limit(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # Real Pool.map waits forever for the task a dead worker held; the run must not.
    created = await start(client, "pool-map", processes=4, longer=True, work=500_000)
    run = manager_of(app).get(created["id"])
    assert run is not None
    await until(lambda: len(busy_lanes(run, "PoolWorker")) == 4, "every worker to take a task")
    victim = await kill_a_worker_holding_a_task(run)
    summary, events = await read_to_done(client, created["id"])
    assert summary["status"] == "stopped"
    assert summary["reason"].startswith("time limit")
    assert "SIGKILL" in lane(events, victim)[-1][4]
    assert lane(events, victim)[-1][2] == "crash"
    # main's lane says which inputs were lost with whom, and why map never returns
    [lost] = [e for e in events if e[2] == "mark" and e[3] == "lost task"]
    assert str(lost[4]).startswith(
        f"{victim} died (killed by signal SIGKILL (exit code -9)) while computing inputs ["
    )
    assert str(lost[4]).endswith("their results will never come, so Pool.map waits forever")
    assert manager_of(app).active == 0, "the run still holds a slot"


async def test_a_pool_worker_killed_from_outside_ends_when_stopped(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    created = await start(client, "pool-map", processes=3, longer=True, work=500_000)
    run = manager_of(app).get(created["id"])
    assert run is not None
    await until(lambda: len(busy_lanes(run, "PoolWorker")) == 3, "every worker to take a task")
    await kill_a_worker_holding_a_task(run)  # map now waits forever, as the real one would
    assert (await client.post(f"/runs/{created['id']}/stop")).status_code == 200
    with anyio.fail_after(3 * GRACE_S + 5):  # well inside the time limit
        summary, _ = await read_to_done(client, created["id"])
    assert summary["status"] == "stopped"
    assert summary["reason"] == "stopped by a viewer"
    assert manager_of(app).active == 0


async def test_a_frozen_pool_worker_is_killed_after_the_grace_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    created = await start(client, "pool-map", processes=2, longer=True, work=500_000)
    run = manager_of(app).get(created["id"])
    assert run is not None
    await until(lambda: len(busy_lanes(run, "PoolWorker")) == 2, "every worker to take a task")
    frozen = pid_of(run, "PoolWorker-1")
    os.kill(frozen, signal.SIGSTOP)
    await until(lambda: state(frozen) == "T", "the worker to stop")
    assert (await client.post(f"/runs/{created['id']}/stop")).status_code == 200
    with anyio.fail_after(3 * GRACE_S + 5):
        summary, events = await read_to_done(client, created["id"])
    assert summary["status"] == "stopped"
    # The frozen one could not unwind: the parent ended it, and its lane says so.
    assert "SIGKILL" in lane(events, "PoolWorker-1")[-1][4]
    assert "SIGKILL" not in str(lane(events, "PoolWorker-2")[-1][4])
    assert manager_of(app).active == 0


async def test_a_frozen_process_is_killed_after_the_grace_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    created = await start(client, "processes-print-numbers", processes=2, pace=0.1)
    run = manager_of(app).get(created["id"])
    assert run is not None
    await until(lambda: all(pid_of_or_none(run, p) for p in ("Process-1", "Process-2")), "both to run")
    frozen = pid_of(run, "Process-2")
    os.kill(frozen, signal.SIGSTOP)
    await until(lambda: state(frozen) == "T", "the process to stop")
    stopped_at_ns = run.recorder.now()  # the run's clock, as the events' times
    assert (await client.post(f"/runs/{created['id']}/stop")).status_code == 200
    with anyio.fail_after(3 * GRACE_S + 5):
        summary, events = await read_to_done(client, created["id"])
    assert summary["status"] == "stopped"
    end = lane(events, "Process-2")[-1]
    assert "SIGKILL" in end[4]
    # The server's grace (0.5 s, not the default 3 s; not cut short when Process-1 ends
    # at once), then SIGTERM's half second unanswered, then SIGKILL.
    assert GRACE_S + KILL_AFTER_S <= (end[0] - stopped_at_ns) / 1e9 < GRACE_S + KILL_AFTER_S + 1.5
    assert lane(events, "Process-1")[-1][4].startswith("stopped")
    assert manager_of(app).active == 0


@pytest.mark.parametrize("victim", ["PoolWorker-1", "PoolWorker-2"])
async def test_an_executor_worker_killed_from_outside_breaks_the_executor_and_the_run_ends(
    app: FastAPI, client: httpx.AsyncClient, victim: str
) -> None:
    created = await start(client, "broken-process-pool", workers=2, numbers=30, dies_on=30, work=500_000)
    run = manager_of(app).get(created["id"])
    assert run is not None
    await until(lambda: len(busy_lanes(run, "PoolWorker")) == 2, "both workers to take a task")
    # Either of them: the death is told of the process with the dead pipe's pid, whichever
    # the executor started first (the other is ended by the executor, with SIGTERM)
    os.kill(pid_of(run, victim), signal.SIGKILL)
    summary, events = await read_to_done(client, created["id"])
    assert summary["status"] == "done"
    assert summary["result"]["values"]["broken"] > 0
    end = lane(events, victim)[-1]
    assert end[2] == "crash", end
    assert "SIGKILL" in end[4]
    assert manager_of(app).active == 0


async def test_a_frozen_executor_worker_is_killed_after_the_grace_period(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    created = await start(client, "broken-process-pool", workers=2, numbers=30, dies_on=30, work=500_000)
    run = manager_of(app).get(created["id"])
    assert run is not None
    await until(lambda: len(busy_lanes(run, "PoolWorker")) == 2, "both workers to take a task")
    frozen = pid_of(run, "PoolWorker-2")
    os.kill(frozen, signal.SIGSTOP)
    await until(lambda: state(frozen) == "T", "the worker to stop")
    assert (await client.post(f"/runs/{created['id']}/stop")).status_code == 200
    with anyio.fail_after(3 * GRACE_S + 5):
        summary, _ = await read_to_done(client, created["id"])
    assert summary["status"] == "stopped"
    assert manager_of(app).active == 0


def sleep_untraced(seconds: float) -> None:
    import time

    time.sleep(seconds)  # the real sleep: never looks at the run's stop flag


def main_with_a_deaf_child(params: Params) -> Result:
    process = multiprocessing.get_context("forkserver").Process(target=sleep_untraced, args=(60,))
    process.start()
    process.join()
    return Result("the child finished")


DEAF_CHILD = lesson("deaf-child", "A child stuck in a long untraced call", main_with_a_deaf_child)


async def test_a_child_stuck_in_an_untraced_call_is_ended_by_the_time_limit(app: FastAPI) -> None:
    run = await run_to_end(app, DEAF_CHILD, TIME_LIMIT_S + 3 * GRACE_S + 5)
    assert run.status == "stopped"
    assert str(run.reason).startswith("time limit")
    end = [e for e in run.events if e.worker == "Process-1"][-1]
    assert "SIGTERM" in str(end.detail) or "SIGKILL" in str(end.detail), end
    assert manager_of(app).active == 0


def sleep_traced(told: Any, seconds: float) -> None:
    from app.traced import time as traced_time

    told.put("sleeping")
    traced_time.sleep(seconds)  # looks at the run's stop flag every slice


def main_that_forgets_its_child(params: Params) -> Result:
    ctx = multiprocessing.get_context("forkserver")
    told = ctx.Queue()
    ctx.Process(target=sleep_traced, args=(told, 60)).start()
    told.get()  # it sleeps now (not stopped while it starts, which a loaded machine makes slow)
    return Result("returned without joining")


FORGOTTEN_CHILD = lesson(
    "forgotten-child", "A program that returns while its child still runs", main_that_forgets_its_child
)


async def test_a_program_that_returns_without_joining_stops_its_child_and_says_why(app: FastAPI) -> None:
    """The run cannot end with a process of it still running: the child is told to stop
    (it unwinds at its next traced call, well within the grace period), and the run
    says why it was stopped."""
    # the child would sleep 60 s: the time limit is not what ends it
    run = await run_to_end(app, FORGOTTEN_CHILD, TIME_LIMIT_S)
    assert run.status == "stopped"
    assert run.reason == "the program ended while processes were still running"
    end = [e for e in run.events if e.worker == "Process-1"][-1]
    assert end.kind == "done", end
    assert end.detail == "stopped: the run was stopped", end  # it unwound: nobody had to end it
    assert manager_of(app).active == 0


RELEASE_STUCK_PROGRAM = threading.Event()


def main_stuck_untraced(params: Params) -> Result:
    RELEASE_STUCK_PROGRAM.wait(60)  # the real Event: no traced call, no stop check
    return Result("released")


STUCK_PROGRAM = lesson("stuck-program", "A program stuck where no traced call comes", main_stuck_untraced)


async def test_a_program_that_never_unwinds_is_left_behind_and_its_run_ends(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    RELEASE_STUCK_PROGRAM.clear()
    try:
        run = await run_to_end(app, STUCK_PROGRAM, TIME_LIMIT_S + 2 * (GRACE_S + 1) + 5)
        assert run.status == "stopped"
        assert str(run.reason).startswith("time limit")
        assert "left behind" in str(run.reason)
        assert manager_of(app).active == 0
        # the operator's log says so too: a parked thread is theirs to know about
        assert f"run {run.id}: the program did not unwind after its stop; left behind" in caplog.messages
    finally:
        RELEASE_STUCK_PROGRAM.set()  # let the parked thread go: the test leaves nothing behind
