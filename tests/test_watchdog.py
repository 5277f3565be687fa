"""The runner's watchdog on real threads: deadlocks beyond lock cycles are caught,
and busy programs whose threads are often all waiting are not mistaken for one."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from app.config import Settings
from app.runner import LiveRun, RunManager, RunStatus, Watchdog, find_wait_cycle
from app.scenarios.base import Params, Result, Scenario
from app.timeline import Event, Kind, LaneKind
from app.traced import multiprocessing, threading
from app.tracing import Recorder, bind
from tests.helpers import wait_until


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


@pytest.mark.anyio
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


@pytest.mark.anyio
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


@pytest.mark.anyio
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


@pytest.mark.anyio
async def test_a_wait_with_a_timeout_is_not_a_deadlock() -> None:
    done = await run(a_wait_with_a_timeout)
    assert done.status is RunStatus.DONE, done.reason


# --- the watchdog's rules, checked frame by frame with a clock the test moves ----------
class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Held:
    """A lock-like object of the run with a known holder (what a traced Lock reports)."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder


def lanes(*lines: tuple[str, Kind]) -> list[Event]:
    return [Event(i, worker, kind) for i, (worker, kind) in enumerate(lines)]


def watched(
    settings: Settings | None = None, events: list[Event] | None = None
) -> tuple[LiveRun, Watchdog, Clock]:
    settings = settings or Settings()
    run = LiveRun(id="r", scenario=scenario(lambda p: Result("")), params=Params(), recorder=Recorder())
    run.events.extend(events or [])
    clock = Clock()
    return run, Watchdog(run, settings, clock.now, clock=clock), clock


def marks(run: LiveRun) -> list[tuple[str, object]]:
    return [(e.obj, e.detail) for e in run.recorder.take() if e.kind is Kind.MARK and e.worker == "main"]


def linger_at_exit(x: int) -> int:
    """A task that leaves its worker a second of work after the worker's last word: a
    finalizer, as a library might register, runs at the process's exit."""
    from multiprocessing.util import Finalize

    Finalize(None, time.sleep, args=(1.0,), exitpriority=0)
    return x


def a_pool_and_an_executor_whose_workers_take_a_second_to_exit(p: Params) -> Result:
    ctx = multiprocessing.get_context("forkserver")
    with ctx.Pool(1) as pool:
        assert pool.map(linger_at_exit, [1]) == [1]
        pool.close()
        pool.join()  # the worker has said done, then exits a second later
    with ctx.ProcessPoolExecutor(1) as executor:
        assert executor.submit(linger_at_exit, 2).result() == 2
    return Result("both shut down")  # (leaving `with`: shutdown waits for the same)


@pytest.mark.anyio
async def test_waiting_for_workers_to_exit_after_their_last_word_is_not_a_deadlock() -> None:
    """main alone is left live while it waits for workers that have said their last
    word; that wait ends by itself when they exit, however long they take."""
    done = await run(a_pool_and_an_executor_whose_workers_take_a_second_to_exit)
    assert done.status is RunStatus.DONE, done.reason


def test_a_run_is_stopped_once_it_has_run_longer_than_its_time_limit_not_before() -> None:
    run, watchdog, clock = watched(Settings(max_run_seconds=2))
    clock.now += 2.0
    watchdog.check()
    assert run.recorder.stop_reason is None  # the limit itself is allowed
    clock.now += 0.001
    watchdog.check()
    reason = "time limit: the run took longer than 2 s"
    assert run.recorder.stop_reason == reason
    assert marks(run) == [("stop", reason)]


def test_a_run_is_stopped_when_it_reaches_its_event_limit_with_the_reason_and_a_mark() -> None:
    limit = 1_000
    busy = [Event(i, "main", Kind.PRINT, detail=str(i)) for i in range(limit - 1)]
    run, watchdog, _ = watched(Settings(max_events_per_run=limit), busy)
    watchdog.check()
    assert run.recorder.stop_reason is None
    run.events.append(Event(limit, "main", Kind.PRINT))
    watchdog.check()
    reason = f"event limit: the run recorded {limit} events"
    assert run.recorder.stop_reason == reason
    assert marks(run) == [("stop", reason)]


def test_a_stopped_run_keeps_its_first_reason_and_gets_no_second_mark() -> None:
    run, watchdog, clock = watched(Settings(max_run_seconds=1))
    run.recorder.stop("stopped by a viewer")
    clock.now += 5
    watchdog.check()
    assert run.recorder.stop_reason == "stopped by a viewer"
    assert marks(run) == []


def lock_cycle(run: LiveRun) -> None:
    """Thread-1 holds A and waits for B; Thread-2 holds B and waits for A."""
    rec = run.recorder
    rec.track_exclusive(Held("A", "Thread-1"))
    rec.track_exclusive(Held("B", "Thread-2"))
    rec.waiting_for.update({"Thread-1": "B", "Thread-2": "A"})


def test_a_lock_cycle_is_reported_after_a_short_confirmation_not_at_first_sight() -> None:
    run, watchdog, clock = watched()
    lock_cycle(run)
    watchdog.check()  # first seen
    clock.now += 0.25  # a starved thread gets this long to move before it counts
    watchdog.check()
    assert run.recorder.stop_reason is None
    clock.now += 0.25  # and a learner sees the deadlock within half a second
    watchdog.check()
    assert run.recorder.stop_reason == "deadlock: Thread-1 waits for B -> Thread-2 waits for A"
    reason = run.recorder.stop_reason
    assert marks(run) == [("deadlock", {"cycle": [["Thread-1", "B"], ["Thread-2", "A"]]}), ("stop", reason)]


def test_a_suspected_deadlock_whose_lanes_move_is_confirmed_only_after_they_stop_moving() -> None:
    run, watchdog, clock = watched()
    lock_cycle(run)
    watchdog.check()
    clock.now += 0.2
    run.events.append(Event(1, "Thread-3", Kind.PRINT))  # a lane outside the cycle: no news
    watchdog.check()
    clock.now += 0.2
    run.events.append(Event(2, "Thread-2", Kind.PRINT))  # a lane of the cycle moved
    watchdog.check()
    clock.now += 0.25
    watchdog.check()
    assert run.recorder.stop_reason is None  # 0.25 s since it last moved
    clock.now += 0.25
    watchdog.check()
    assert run.recorder.stop_reason is not None
    assert run.recorder.stop_reason.startswith("deadlock:")


def test_news_from_a_lane_outside_the_suspect_does_not_delay_the_verdict() -> None:
    run, watchdog, clock = watched(events=lanes(("Thread-1", Kind.RUN), ("Thread-2", Kind.RUN)))
    lock_cycle(run)
    watchdog.check()
    clock.now += 0.2
    run.events.append(Event(9, "Thread-3", Kind.PRINT))  # busy, but not part of the cycle
    watchdog.check()
    clock.now += 0.15
    watchdog.check()
    assert run.recorder.stop_reason is not None
    assert run.recorder.stop_reason.startswith("deadlock:")


def test_a_suspect_that_clears_up_starts_the_confirmation_again() -> None:
    run, watchdog, clock = watched()
    lock_cycle(run)
    watchdog.check()
    clock.now += 0.2
    run.recorder.waiting_for.clear()  # the waits ended: no deadlock after all
    watchdog.check()
    lock_cycle(run)
    clock.now += 0.2
    watchdog.check()  # seen again, but only just
    clock.now += 0.2
    watchdog.check()
    assert run.recorder.stop_reason is None


def test_a_wait_cycle_with_a_tail_is_reported_as_the_cycle_alone() -> None:
    # Thread-1 waits for a lock of the cycle's but is not part of it.
    run, watchdog, clock = watched()
    rec = run.recorder
    rec.track_exclusive(Held("lock-a", "Thread-2"))
    rec.track_exclusive(Held("lock-b", "Thread-3"))
    rec.waiting_for.update({"Thread-1": "lock-b", "Thread-3": "lock-a", "Thread-2": "lock-b"})
    assert find_wait_cycle(dict(rec.waiting_for), rec.owners) == (
        ("Thread-2", "lock-b"),
        ("Thread-3", "lock-a"),
    )
    watchdog.check()
    clock.now += 1
    watchdog.check()
    assert rec.stop_reason == "deadlock: Thread-2 waits for lock-b -> Thread-3 waits for lock-a"


def test_no_cycle_when_the_chain_of_waits_ends_at_a_running_holder_or_a_free_lock() -> None:
    owners = {"A": "Thread-2", "B": "Thread-3"}
    assert find_wait_cycle({"Thread-1": "A", "Thread-2": "B"}, owners) is None  # Thread-3 runs
    assert find_wait_cycle({"Thread-1": "C"}, owners) is None  # nobody holds C
    assert find_wait_cycle({}, owners) is None


def test_every_live_lane_waiting_is_a_deadlock_and_finished_lanes_do_not_count() -> None:
    events = lanes(
        ("main", Kind.START),
        ("main", Kind.RUN),
        ("Thread-1", Kind.START),
        ("Thread-1", Kind.RUN),
        ("Thread-2", Kind.START),
        ("Thread-2", Kind.RUN),
        ("Thread-2", Kind.DONE),  # finished: it will never wake anybody, nor wait
        ("Thread-3", Kind.START),
        ("Thread-3", Kind.CRASH),
    )
    run, watchdog, clock = watched(events=events)
    run.recorder.waiting_for.update({"main": "join Thread-1", "Thread-1": "slots"})
    watchdog.check()
    clock.now += 1
    watchdog.check()
    assert run.recorder.stop_reason == (
        "deadlock: every thread is waiting and none can wake another: "
        "Thread-1 waits for slots; main waits for join Thread-1"
    )
    assert marks(run)[0] == ("deadlock", {"stuck": [["Thread-1", "slots"], ["main", "join Thread-1"]]})


def test_one_live_lane_not_waiting_means_no_deadlock() -> None:
    events = lanes(("Thread-2", Kind.RUN), ("main", Kind.RUN), ("Thread-1", Kind.RUN))
    run, watchdog, clock = watched(events=events)
    run.recorder.waiting_for.update({"main": "join Thread-1", "Thread-1": "slots"})
    for _ in range(5):
        watchdog.check()
        clock.now += 1
    assert run.recorder.stop_reason is None
    run.events.append(Event(9, "Thread-2", Kind.DONE))  # now the only one who could wake them is gone
    watchdog.check()
    clock.now += 1
    watchdog.check()
    assert run.recorder.stop_reason is not None
    assert "every thread is waiting" in run.recorder.stop_reason


def test_joining_a_process_that_said_done_but_is_still_exiting_is_not_a_deadlock() -> None:
    events = lanes(
        ("main", Kind.START),
        ("main", Kind.RUN),
        ("Process-1", Kind.START),
        ("Process-1", Kind.RUN),
        ("Process-1", Kind.DONE),  # its last word; the OS has not reaped it yet
    )
    run, watchdog, clock = watched(events=events)
    run.recorder.waiting_for.update({"main": "join Process-1"})  # returns once it exits
    watchdog.check()
    clock.now += 1
    watchdog.check()
    assert run.recorder.stop_reason is None


# --- a woken waiter the OS has yet to run is not stuck ------------------------------
def test_lanes_waiting_for_a_lock_nobody_holds_are_not_stuck_however_long_it_takes() -> None:
    # Thread-1 was woken by a release but has no core yet; Thread-2 waits its turn on
    # a condition; main joins: every live lane "waits", and nothing moves for a second.
    events = lanes(("main", Kind.RUN), ("Thread-1", Kind.WAIT), ("Thread-2", Kind.WAIT), ("main", Kind.WAIT))
    run, watchdog, clock = watched(events=events)
    rec = run.recorder
    rec.track_exclusive(Held("A", ""))
    rec.waiting_for.update({"Thread-1": "A", "Thread-2": "turn", "main": "join Thread-1"})
    for _ in range(5):
        watchdog.check()
        clock.now += 0.25
    assert rec.stop_reason is None
    rec.track_exclusive(Held("B", "Thread-2"))  # the same, waiting for a lock someone holds: stuck
    rec.waiting_for["Thread-1"] = "B"
    for _ in range(5):
        watchdog.check()
        clock.now += 0.25
    assert rec.stop_reason is not None
    assert rec.stop_reason.startswith("deadlock")


def test_a_notified_waiter_no_longer_counts_as_waiting() -> None:
    """Between the notify and the moment the OS runs it, a woken waiter waits for a
    core, not for the run: the watchdog must not see it waiting."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition(name="turn")

        def on_condition() -> None:
            with cond:
                cond.wait()

        waiter = threading.Thread(target=on_condition)
        waiter.start()
        wait_until(lambda: rec.waiting_for == {"Thread-1": "turn"}, 30, "the waiter to be in its wait")
        with cond:
            cond.notify()
            woken = "Thread-1" not in rec.waiting_for  # it cannot run yet: we hold the lock
        waiter.join()
    assert woken
