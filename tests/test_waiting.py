"""How the traced primitives wait, with real threads: asleep (not spinning), woken by
the hand-over at once (not at their next slice), ended by their timeout however long
a slice is, and never waiting at all in a stopped run.

Every blocking call of a lesson waits in slices (`POLL_S`) so that a stopped run can
end; the wake-up must still be the real primitive's. These tests lengthen the slice to
a minute where only the wake-up, or the timeout, may end a wait in time.
"""

from __future__ import annotations

import multiprocessing
import queue as std_queue
import threading as std_threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from app.timeline import Kind, LaneKind, joining
from app.traced import ipc, threading
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until
from tests.test_sync_primitives import barrier_party

A_MINUTE = 60.0
BOUND_S = 20.0  # far above any wake-up, far below a minute's slice


@dataclass
class Blocking:
    """A call that blocks until `free()` is called from main."""

    obj: str  # what the waiter waits on, as the wait-for graph names it
    call: Callable[[], object]
    free: Callable[[], None]


def _lock(make: Callable[..., threading.Lock]) -> Callable[[], Blocking]:
    def setup() -> Blocking:
        lock = make(name="l")
        lock.acquire()
        return Blocking("l", lambda: lock.acquire() and lock.release(), lock.release)

    return setup


def _semaphore() -> Blocking:
    slot = threading.Semaphore(0, name="s")
    return Blocking("s", slot.acquire, slot.release)


def _condition() -> Blocking:
    cond = threading.Condition(name="c")

    def wait() -> None:
        with cond:
            cond.wait()

    def notify() -> None:
        with cond:
            cond.notify()

    return Blocking("c", wait, notify)


def _event() -> Blocking:
    flag = threading.Event(name="e")
    return Blocking("e", flag.wait, flag.set)


def _barrier() -> Blocking:
    barrier = threading.Barrier(2, name="b")

    def arrive_last() -> None:
        barrier.wait()

    return Blocking("b", barrier.wait, arrive_last)


def _join() -> Blocking:
    go = std_threading.Event()
    worker = threading.Thread(target=go.wait, name="joined")
    worker.start()
    return Blocking(joining("joined"), worker.join, go.set)


def _shared_lock() -> Blocking:
    lock = ipc.SharedLock(multiprocessing.Lock(), "shared")
    lock.acquire()
    return Blocking("shared", lambda: lock.acquire() and lock.release(), lock.release)


def _queue_get() -> Blocking:
    q = ipc.Queue(multiprocessing.Queue(), "q")
    return Blocking("q", q.get, lambda: q.put("an item"))


def _queue_put() -> Blocking:
    q = ipc.Queue(multiprocessing.Queue(maxsize=1), "q")
    q.put("fills it")
    return Blocking("q", lambda: q.put("waits for room"), q.get)


def _pipe_recv() -> Blocking:
    here_end, there_end = multiprocessing.Pipe()
    sender = ipc.Connection(here_end, "pipe")
    return Blocking("pipe", ipc.Connection(there_end, "pipe").recv, lambda: sender.send("a message"))


BLOCKING = {
    "Lock": _lock(threading.Lock),
    "RLock": _lock(threading.RLock),
    "Semaphore": _semaphore,
    "Condition": _condition,
    "Event": _event,
    "Barrier": _barrier,
    "join": _join,
    # multiprocessing's, as the traced IPC wrappers use them (here between threads)
    "shared Lock": _shared_lock,
    "Queue.get": _queue_get,
    "Queue.put": _queue_put,
    "Pipe.recv": _pipe_recv,
}
TIMED = [primitive for primitive in BLOCKING if primitive != "Pipe.recv"]  # recv takes no timeout


@pytest.fixture
def main_lane() -> Iterator[Recorder]:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        yield rec


def in_a_thread(
    call: Callable[[], object], name: str = "waiter"
) -> tuple[threading.Thread, std_threading.Event]:
    """Run `call` in a traced thread; the event is set once it returned."""
    returned = std_threading.Event()

    def run() -> None:
        call()
        returned.set()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread, returned


def a_waiter_on(cond: threading.Condition, main_lane: Recorder) -> threading.Thread:
    """A traced thread named "waiter" in `with cond: cond.wait()`, once it waits."""

    def wait() -> None:
        with cond:
            cond.wait()

    waiter, _ = in_a_thread(wait)
    wait_until(lambda: main_lane.waiting_for.get("waiter") == cond.name, what="the waiter to wait")
    return waiter


@pytest.mark.parametrize("primitive", BLOCKING)
def test_a_blocked_call_is_woken_by_its_hand_over_at_once_not_at_its_next_slice(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder, primitive: str
) -> None:
    monkeypatch.setattr(threading, "POLL_S", A_MINUTE)
    blocking = BLOCKING[primitive]()
    _, returned = in_a_thread(blocking.call)
    wait_until(lambda: main_lane.waiting_for.get("waiter") == blocking.obj, what="the call to wait")
    blocking.free()
    assert returned.wait(BOUND_S), f"the blocked {primitive} call was not woken by its hand-over"


@pytest.mark.parametrize("primitive", BLOCKING)
def test_a_blocked_call_sleeps_until_it_is_woken(main_lane: Recorder, primitive: str) -> None:
    """A waiting thread gives its core away: a wait that spun would cost the lesson's
    other threads the CPU (and the GIL) it is meant to show them using."""
    blocking = BLOCKING[primitive]()
    spent: list[float] = []

    def timed_call() -> None:
        cpu, wall = time.thread_time(), time.monotonic()
        blocking.call()
        spent.extend([time.thread_time() - cpu, time.monotonic() - wall])

    _, returned = in_a_thread(timed_call)
    wait_until(lambda: main_lane.waiting_for.get("waiter") == blocking.obj, what="the call to wait")
    std_threading.Event().wait(0.3)  # the length of the wait, not a synchronisation
    blocking.free()
    assert returned.wait(BOUND_S)
    cpu_s, wall_s = spent
    assert wall_s >= 0.3
    assert cpu_s < 0.1 * wall_s, f"{primitive}: {cpu_s:.3f} s of CPU in a wait of {wall_s:.3f} s"


def _timed_calls() -> dict[str, Callable[[], object]]:
    """Each primitive's call with a timeout of 50 ms, on an object that stays blocked."""
    lock, rlock = threading.Lock(name="l"), threading.RLock(name="r")
    lock.acquire()
    rlock.acquire()
    cond = threading.Condition(name="c")

    def wait_on_cond() -> bool:
        with cond:
            return cond.wait(0.05)

    def join_briefly() -> bool:
        lingers = std_threading.Event()
        lingering = threading.Thread(target=lingers.wait, name="lingering")
        lingering.start()
        lingering.join(0.05)
        still_there = lingering.is_alive()
        lingers.set()
        return still_there

    def wait_on_barrier() -> object:
        try:
            return threading.Barrier(2, name="b").wait(0.05)
        except threading.BrokenBarrierError as broken:
            return broken

    shared = ipc.SharedLock(multiprocessing.Lock(), "shared")
    shared.acquire()
    empty, full = ipc.Queue(multiprocessing.Queue(), "q"), ipc.Queue(multiprocessing.Queue(maxsize=1), "q")
    full.put("fills it")

    def refused(call: Callable[[], object], error: type[Exception]) -> Callable[[], bool]:
        def timed() -> bool:  # False, as a lock says it timed out
            with pytest.raises(error):
                call()
            return False

        return timed

    return {
        "shared Lock": lambda: shared.acquire(timeout=0.05),
        "Queue.get": refused(lambda: empty.get(timeout=0.05), std_queue.Empty),
        "Queue.put": refused(lambda: full.put("no room", timeout=0.05), std_queue.Full),
        "Lock": lambda: lock.acquire(timeout=0.05),
        "RLock": lambda: rlock.acquire(timeout=0.05),
        "Semaphore": lambda: threading.Semaphore(0, name="s").acquire(timeout=0.05),
        "Condition": wait_on_cond,
        "Event": lambda: threading.Event(name="e").wait(0.05),
        "Barrier": wait_on_barrier,
        "join": join_briefly,
    }


@pytest.mark.parametrize("primitive", TIMED)
def test_a_timed_call_ends_at_its_timeout_however_long_a_slice_is(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder, primitive: str
) -> None:
    monkeypatch.setattr(threading, "POLL_S", A_MINUTE)
    call = _timed_calls()[primitive]
    outcome: list[object] = []
    _, returned = in_a_thread(lambda: outcome.append(call()))
    assert returned.wait(BOUND_S), f"a {primitive} call with a 50 ms timeout waited for its slice"
    [result] = outcome
    if primitive == "Barrier":  # a barrier wait that times out breaks the barrier
        assert isinstance(result, threading.BrokenBarrierError)
    elif primitive == "join":
        assert result is True  # it returned while the thread still ran
    else:
        assert result is False


def _calls_that_would_not_wait() -> dict[str, Callable[[], object]]:
    """Each traced call on an object that lets it through at once."""
    cond = threading.Condition(name="c")
    cond.acquire()
    flag = threading.Event(name="e")
    flag.set()
    ended = threading.Thread(target=lambda: None, name="ended")
    ended.start()
    std_threading.Thread.join(ended, 5)
    return {
        "Lock.acquire": threading.Lock(name="l").acquire,
        "RLock.acquire": threading.RLock(name="r").acquire,
        "Semaphore.acquire": threading.Semaphore(1, name="s").acquire,
        "Condition.wait": lambda: cond.wait(0),
        "Event.wait": flag.wait,
        "Barrier.wait": threading.Barrier(1, name="b").wait,
        "Thread.start": threading.Thread(target=lambda: None, name="unstarted").start,
        "Thread.join": ended.join,
    }


@pytest.mark.parametrize(
    "call",
    [
        "Lock.acquire",
        "RLock.acquire",
        "Semaphore.acquire",
        "Condition.wait",
        "Event.wait",
        "Barrier.wait",
        "Thread.start",
        "Thread.join",
    ],
)
def test_in_a_stopped_run_every_traced_call_ends_the_worker_before_doing_anything(
    main_lane: Recorder, call: str
) -> None:
    """A stopped run's program unwinds at its next traced call, even one that would go
    straight through: nothing more is taken, released, started or recorded."""
    calls = _calls_that_would_not_wait()
    main_lane.take()
    main_lane.stop("time limit")
    with pytest.raises(Stop):
        calls[call]()
    assert [e for e in main_lane.take() if e.kind is not Kind.MARK] == []
    assert "unstarted" not in [t.name for t in main_lane.threads() if t.is_alive()]


def test_joining_a_thread_that_was_never_started_is_an_error_as_in_the_stdlib(main_lane: Recorder) -> None:
    with pytest.raises(RuntimeError, match="before it is started"):
        threading.Thread(target=lambda: None).join()


def test_a_lock_used_by_a_later_run_is_named_in_that_run() -> None:
    """A lesson may keep a lock at module level: each run's events name it in their own
    string table, not in that of the run that made it."""
    first, second = Recorder(), Recorder()
    with bind(first, "main", LaneKind.MAIN):
        kept = threading.Lock(name="kept")
    with bind(second, "main", LaneKind.MAIN):
        threading.Lock(name="made-here-first")  # takes the id "kept" had in the first run
        with kept:
            pass
    assert [(e.kind, e.obj) for e in second.take() if e.kind in (Kind.ACQUIRE, Kind.RELEASE)] == [
        (Kind.ACQUIRE, "kept"),
        (Kind.RELEASE, "kept"),
    ]


def test_the_excepthook_called_without_a_thread_names_the_calling_lane(main_lane: Recorder) -> None:
    """`threading.excepthook` as a lesson may call it itself: with no thread given it
    reports on the lane that called it, as the stdlib names the current thread."""
    error = ValueError("bad input")
    threading.excepthook(std_threading.ExceptHookArgs((ValueError, error, None, None)))
    [printed] = [e for e in main_lane.take() if e.kind is Kind.PRINT]
    assert (printed.worker, printed.obj) == ("main", "stderr")
    assert printed.detail == "Exception in thread main: ValueError: bad input"


def test_a_start_that_waited_for_the_new_thread_is_drawn_as_a_wait_the_new_thread_ends(
    main_lane: Recorder, slow_to_run: None
) -> None:
    """start() returns once the new thread runs; when that takes a while (behind a
    thread holding the interpreter, on a busy machine) main's lane shows it as a wait
    the new thread ended."""
    late = threading.Thread(target=lambda: None, name="late")
    late.start()
    std_threading.Thread.join(late, BOUND_S)
    mine = [
        (e.kind, e.obj, e.link, e.t_ns)
        for e in main_lane.take()
        if e.worker == "main" and e.obj == "start late"
    ]
    assert [(kind, obj, link) for kind, obj, link, _ in mine] == [
        (Kind.WAIT, "start late", ""),
        (Kind.RUN, "start late", "late"),
    ]
    assert mine[1][3] - mine[0][3] >= 0.02e9


def test_only_a_start_that_took_a_millisecond_or_more_is_drawn_as_a_wait(main_lane: Recorder) -> None:
    """A quick start is no wait worth a mark on the lane; a slow one is drawn for as
    long as it took (most of these starts are quick on an idle interpreter)."""
    threads = [threading.Thread(target=lambda: None) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        std_threading.Thread.join(thread, BOUND_S)
    mine = [e for e in main_lane.take() if e.worker == "main" and e.obj.startswith("start ")]
    for wait, ended in zip(mine[::2], mine[1::2], strict=True):
        assert (wait.kind, ended.kind) == (Kind.WAIT, Kind.RUN)
        assert ended.t_ns - wait.t_ns >= threading.START_WAIT_NS, (wait, ended)


@pytest.mark.parametrize("make", [threading.Lock, threading.RLock], ids=["Lock", "RLock"])
def test_a_stopped_condition_waiter_takes_its_lock_back_once_the_holder_lets_go(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder, make: Callable[..., threading.Lock]
) -> None:
    """Stopped in `wait`, a worker leaves through its `with` block, which releases the
    lock: it must hold it again first, so it waits for whoever holds it then (another
    worker unwinding too), and the lock ends free, each release by its holder."""
    monkeypatch.setattr(threading, "POLL_S", 0.01)  # a stopped waiter notices within 10 ms
    lock = make(name="l")
    cond = threading.Condition(lock, name="c")

    waiter = a_waiter_on(cond, main_lane)
    lock.acquire()  # the waiter let it go to wait: main holds it when the stop comes
    main_lane.stop("time limit")
    std_threading.Event().wait(0.3)  # long enough for the waiter to be taking it back
    lock.release()
    std_threading.Thread.join(waiter, BOUND_S)
    assert not waiter.is_alive()
    on_the_lock = [(e.worker, e.kind) for e in main_lane.take() if e.obj == "l"]
    assert on_the_lock[-4:] == [
        ("main", Kind.ACQUIRE),
        ("main", Kind.RELEASE),
        ("waiter", Kind.ACQUIRE),  # taken back after main let go...
        ("waiter", Kind.RELEASE),  # ...and released by its `with` block
    ]
    assert main_lane.owners == {}
    assert not lock.locked()


def test_releasing_two_slots_wakes_two_waiters_at_once(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder
) -> None:
    monkeypatch.setattr(threading, "POLL_S", A_MINUTE)
    slots = threading.Semaphore(0, name="s")
    waiters = [in_a_thread(slots.acquire, name=f"waiter-{i}") for i in (1, 2)]
    wait_until(lambda: main_lane.waiting_for == {"waiter-1": "s", "waiter-2": "s"}, what="both to wait")
    slots.release(2)
    for thread, returned in waiters:
        assert returned.wait(BOUND_S), f"{thread.name} was not woken by the release of two slots"


def test_a_notified_waiter_is_no_longer_counted_as_waiting_before_it_runs_again(main_lane: Recorder) -> None:
    """Once notified, a waiter waits for the notifier's lock (or a core), not for the
    condition: the deadlock watchdog must not take it for stuck on `c` meanwhile."""
    cond = threading.Condition(name="c")

    waiter = a_waiter_on(cond, main_lane)
    with cond:
        cond.notify()
        # main still holds the lock: the waiter cannot have returned from wait()
        assert main_lane.waiting_for.get("waiter") != "c"
    std_threading.Thread.join(waiter, BOUND_S)
    assert not waiter.is_alive()


@pytest.mark.parametrize("make", [threading.Lock, threading.RLock], ids=["Lock", "RLock"])
def test_a_condition_wait_hands_its_lock_to_a_blocked_thread_at_once(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder, make: Callable[..., threading.Lock]
) -> None:
    """Waiting on a condition lets go of its lock: a thread blocked on that lock gets it
    then, not at its next slice."""
    monkeypatch.setattr(threading, "POLL_S", A_MINUTE)
    lock = make(name="l")
    cond = threading.Condition(lock, name="c")

    def take_it_and_notify() -> None:
        with cond:
            cond.notify()

    with cond:
        in_a_thread(take_it_and_notify)
        wait_until(lambda: main_lane.waiting_for.get("waiter") == "l", what="the thread to block on the lock")
        assert cond.wait(timeout=BOUND_S) is True, "the blocked thread did not get the lock while main waited"


def test_a_condition_wait_on_an_rlock_held_once_takes_it_back_once(main_lane: Recorder) -> None:
    lock = threading.RLock(name="r")
    cond = threading.Condition(lock, name="c")
    with cond:
        assert lock.acquire() is True  # its holder takes it again at once...
        lock.release()  # ...and gives it back
        assert cond.wait(timeout=0.01) is False
    assert [(e.kind, e.detail) for e in main_lane.take() if e.obj == "r"] == [
        (Kind.ACQUIRE, 1),
        (Kind.ACQUIRE, 2),
        (Kind.RELEASE, 1),
        (Kind.RELEASE, 0),  # the wait let go of it
        (Kind.ACQUIRE, 1),  # and took it back, once
        (Kind.RELEASE, 0),
    ]


def test_a_waiter_that_left_on_a_stop_is_not_woken_by_a_later_notify(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder
) -> None:
    """A worker that held the lock when the run stopped may still notify before its next
    traced call: the waiter that already left is no longer among those it wakes."""
    monkeypatch.setattr(threading, "POLL_S", 0.01)  # a stopped waiter notices within 10 ms
    cond = threading.Condition(name="c")

    waiter = a_waiter_on(cond, main_lane)
    cond.acquire()
    main_lane.stop("time limit")
    std_threading.Event().wait(0.3)  # long enough for the waiter to leave its wait
    cond.notify()
    cond.release()
    std_threading.Thread.join(waiter, BOUND_S)
    assert not waiter.is_alive()
    [notify] = [e for e in main_lane.take() if e.kind is Kind.NOTIFY]
    assert notify.detail == []  # nobody waits any more


def test_an_event_wait_that_was_woken_returns_true_and_a_later_set_wakes_nobody(main_lane: Recorder) -> None:
    flag = threading.Event(name="e")
    woke: list[bool] = []
    waiter, _ = in_a_thread(lambda: woke.append(flag.wait()))
    wait_until(lambda: main_lane.waiting_for.get("waiter") == "e", what="the waiter to wait")
    flag.set()
    std_threading.Thread.join(waiter, BOUND_S)
    flag.clear()
    flag.set()  # the waiter has gone: this set wakes nobody
    assert woke == [True]
    assert [e.detail for e in main_lane.take() if e.kind is Kind.NOTIFY] == [["waiter"], []]


@pytest.mark.parametrize("breaker", ["a party's timeout", "abort", "reset"])
def test_a_broken_barrier_wakes_its_waiters_at_once(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder, breaker: str
) -> None:
    monkeypatch.setattr(threading, "POLL_S", A_MINUTE)
    barrier = threading.Barrier(3, name="b")
    outcomes: dict[str, object] = {}
    _, returned = in_a_thread(barrier_party(barrier, outcomes))
    wait_until(lambda: main_lane.waiting_for.get("waiter") == "b", what="a party to wait")
    if breaker == "a party's timeout":
        in_a_thread(barrier_party(barrier, outcomes, timeout=0.05), name="hasty")
    elif breaker == "abort":
        barrier.abort()
    else:
        barrier.reset()
    assert returned.wait(BOUND_S), f"the waiting party was not woken by the {breaker}"
    assert isinstance(outcomes["waiter"], threading.BrokenBarrierError)


def test_a_reset_barrier_starts_a_phase_of_its_own(main_lane: Recorder) -> None:
    """After a reset, parties wait for a new round: no earlier round's release lets a
    lone party through, and the phases are numbered on (the aborted one counts)."""
    barrier = threading.Barrier(2, name="b")
    outcomes: dict[str, object] = {}
    first, _ = in_a_thread(barrier_party(barrier, outcomes), name="first")
    wait_until(lambda: main_lane.waiting_for.get("first") == "b", what="a party to wait")
    assert barrier.wait() == 1  # round 1 released
    std_threading.Thread.join(first, BOUND_S)
    early, _ = in_a_thread(barrier_party(barrier, outcomes), name="early")
    wait_until(lambda: main_lane.waiting_for.get("early") == "b", what="a party of round 2 to wait")
    barrier.reset()  # round 2 aborted
    std_threading.Thread.join(early, BOUND_S)
    lone, _ = in_a_thread(barrier_party(barrier, outcomes, timeout=0.05), name="lone")
    std_threading.Thread.join(lone, BOUND_S)
    assert isinstance(outcomes["lone"], threading.BrokenBarrierError)  # it waited alone, then gave up
    barrier.reset()
    last, _ = in_a_thread(barrier_party(barrier, outcomes), name="last")
    wait_until(lambda: main_lane.waiting_for.get("last") == "b", what="a party of the last round to wait")
    barrier.wait()
    std_threading.Thread.join(last, BOUND_S)
    assert outcomes["first"] == 0
    assert isinstance(outcomes["early"], threading.BrokenBarrierError)
    # round 1 released, round 2 aborted by a reset, round 3 broken by a timeout, round 4 released
    assert [e.detail for e in main_lane.take() if e.kind is Kind.NOTIFY] == [1, 4]


def test_a_party_that_leaves_a_barrier_on_a_stop_breaks_it(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder
) -> None:
    """As the stdlib's abort(): the others must not wait for a party that will never come back."""
    monkeypatch.setattr(threading, "POLL_S", 0.01)
    barrier = threading.Barrier(2, name="b")
    waiter, _ = in_a_thread(lambda: barrier.wait())
    wait_until(lambda: main_lane.waiting_for.get("waiter") == "b", what="a party to wait")
    main_lane.stop("time limit")
    std_threading.Thread.join(waiter, BOUND_S)
    assert not waiter.is_alive()
    assert barrier.broken


def test_a_holder_that_never_lets_go_keeps_its_rlock_whole_when_a_stopped_waiter_gives_up(
    monkeypatch: pytest.MonkeyPatch, main_lane: Recorder
) -> None:
    """A stopped Condition waiter gives up taking its RLock back after 2 s, so that a
    stop ends it even when the holder never lets go: the holder's depth is left as it
    was, so its own releases still work."""
    monkeypatch.setattr(threading, "POLL_S", 0.01)
    lock = threading.RLock(name="r")
    cond = threading.Condition(lock, name="c")

    waiter = a_waiter_on(cond, main_lane)
    lock.acquire()
    lock.acquire()  # main holds it twice
    main_lane.stop("time limit")
    std_threading.Thread.join(waiter, 5.0)  # it gives up after 2 s, and leaves
    assert not waiter.is_alive()
    assert main_lane.owners == {"r": "main"}
    lock.release()
    assert main_lane.owners == {"r": "main"}  # still held once
    lock.release()
    assert main_lane.owners == {}


def test_a_stop_ends_a_blocked_call_within_a_few_slices(main_lane: Recorder) -> None:
    """A blocked worker checks the stop flag between slices of 50 ms: a stopped run's
    workers are gone well within half a second (the page's Stop button, a deadlock
    found), even beside a busy machine's other work."""
    blocking = _lock(threading.Lock)()
    waiter, _ = in_a_thread(lambda: blocking.call())
    wait_until(lambda: main_lane.waiting_for.get("waiter") == "l", what="the call to wait")
    stopped = time.monotonic()
    main_lane.stop("stopped by a viewer")
    std_threading.Thread.join(waiter, BOUND_S)
    assert not waiter.is_alive()
    assert time.monotonic() - stopped < 0.4


@pytest.mark.parametrize("make", [threading.Semaphore, threading.BoundedSemaphore])
def test_a_semaphore_made_without_a_size_has_one_slot_as_in_the_stdlib(
    main_lane: Recorder, make: Callable[[], threading.Semaphore]
) -> None:
    slots = make()
    assert slots.acquire(blocking=False) is True
    assert slots.acquire(blocking=False) is False
    slots.release()
    if make is threading.BoundedSemaphore:
        with pytest.raises(ValueError, match="released too many times"):
            slots.release()
