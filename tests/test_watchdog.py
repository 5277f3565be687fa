"""The runner's watchdog on real threads: deadlocks beyond lock cycles are caught,
and busy programs whose threads are often all waiting are not mistaken for one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.config import Settings
from app.runner import RunManager, RunStatus
from app.scenarios.base import Params, Result, Scenario
from app.timeline import Kind
from app.traced import threading

pytestmark = pytest.mark.anyio


def scenario(main: Callable[[Params], Result]) -> Scenario:
    return Scenario(slug="test", title="test", group="Tests", notice="", params=Params, main=main)


async def run(main: Callable[[Params], Result]):  # type: ignore[no-untyped-def]
    manager = RunManager(Settings(max_run_seconds=10))
    try:
        the_run = manager.start(scenario(main), Params())
        async for _ in the_run.follow(0, 10_000):
            pass
        return the_run
    finally:
        await manager.close()


def two_threads_each_needing_two_slots(p: Params) -> Result:
    slots = threading.Semaphore(2, name="slots")
    both_hold_one = threading.Barrier(2, name="both hold one")

    def worker() -> None:
        with slots:
            both_hold_one.wait()
            with slots:  # the second slot: the other thread holds it, and waits too
                pass

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return Result("finished")


async def test_threads_stuck_on_a_semaphore_they_hold_themselves_are_a_deadlock() -> None:
    done = await run(two_threads_each_needing_two_slots)
    assert done.status is RunStatus.STOPPED
    assert done.reason is not None
    assert done.reason.startswith("deadlock: every thread is waiting")
    [mark] = [e for e in done.events if e.kind is Kind.MARK and e.obj == "deadlock"]
    assert sorted(map(tuple, mark.detail["stuck"])) == [
        ("Thread-1", "slots"),
        ("Thread-2", "slots"),
        ("main", "join Thread-1"),
    ]
    # every lane ended
    finals = {e.worker for e in done.events if e.kind in (Kind.DONE, Kind.CRASH)}
    assert finals == {"main", "Thread-1", "Thread-2"}


def a_wait_nobody_will_notify(p: Params) -> Result:
    cond = threading.Condition(name="ready")

    def waiter() -> None:
        with cond:
            cond.wait()  # the notify was "forgotten": a lost wake-up

    t = threading.Thread(target=waiter)
    t.start()
    t.join()
    return Result("finished")


async def test_a_condition_nobody_will_notify_is_a_deadlock() -> None:
    done = await run(a_wait_nobody_will_notify)
    assert done.status is RunStatus.STOPPED
    assert done.reason is not None
    assert "Thread-1 waits for ready" in done.reason


def ping_pong(p: Params) -> Result:
    cond = threading.Condition(name="turn")
    turn = ["ping"]
    rounds = 6_000

    def player(me: str, other: str) -> None:
        for _ in range(rounds):
            with cond:
                while turn[0] != me:
                    cond.wait()
                turn[0] = other
                cond.notify()

    players = [
        threading.Thread(target=player, args=("ping", "pong")),
        threading.Thread(target=player, args=("pong", "ping")),
    ]
    for t in players:
        t.start()
    for t in players:
        t.join()
    return Result("played")


async def test_two_threads_taking_turns_are_not_mistaken_for_a_deadlock() -> None:
    # At almost any instant both players (and main, joining) are waiting: only
    # progress tells them apart from a deadlock.
    done = await run(ping_pong)
    assert done.status is RunStatus.DONE, done.reason


def a_wait_with_a_timeout(p: Params) -> Result:
    never = threading.Event(name="never")

    def patient() -> None:
        never.wait(0.4)  # ends by itself: not a deadlock even though nobody sets it

    t = threading.Thread(target=patient)
    t.start()
    t.join()
    return Result("waited")


async def test_a_wait_with_a_timeout_is_not_a_deadlock() -> None:
    done = await run(a_wait_with_a_timeout)
    assert done.status is RunStatus.DONE, done.reason
