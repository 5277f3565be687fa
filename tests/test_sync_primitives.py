"""The traced synchronisation primitives, with real threads: what they record, who
they link, and that a stopped run releases every worker blocked in one."""

from __future__ import annotations

import threading as std_threading
from collections.abc import Callable

import pytest

from app.runner import find_wait_cycle
from app.timeline import Event, Kind, LaneKind
from app.traced import queue, threading
from app.traced.shared import Shared, gauge
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until


def of(events: list[Event], worker: str, *kinds: Kind) -> list[Event]:
    return [e for e in events if e.worker == worker and (not kinds or e.kind in kinds)]


def holders_over_time(events: list[Event], obj: str) -> list[int]:
    """How many workers hold `obj` after each of its acquire/release events."""
    held, counts = 0, []
    for e in events:
        if e.obj == obj and e.kind in (Kind.ACQUIRE, Kind.RELEASE):
            held += 1 if e.kind is Kind.ACQUIRE else -1
            counts.append(held)
    return counts


def blocked(rec: Recorder, worker: str, obj: str) -> Callable[[], bool]:
    return lambda: rec.waiting_for.get(worker) == obj


def join_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        std_threading.Thread.join(t, 5)
        assert not t.is_alive()


# --- RLock ---------------------------------------------------------------------------
def test_an_rlock_is_taken_again_by_its_holder_without_waiting() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.RLock(name="r")
        with lock, lock:
            assert rec.owners == {"r": "main"}
            assert lock.locked()
        assert not lock.locked()
    events = rec.take()
    assert Kind.WAIT not in [e.kind for e in events]
    assert [(e.kind, e.detail) for e in events if e.obj == "r"] == [
        (Kind.ACQUIRE, 1),
        (Kind.ACQUIRE, 2),
        (Kind.RELEASE, 1),
        (Kind.RELEASE, 0),
    ]
    assert rec.owners == {}


def test_an_rlock_waiter_gets_it_only_after_the_holders_last_release_and_links_to_it() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.RLock(name="r")
        lock.acquire()
        lock.acquire()
        other = threading.Thread(target=lambda: lock.acquire() and lock.release())
        other.start()
        wait_until(blocked(rec, "Thread-1", "r"), what="Thread-1 to block on the RLock")
        lock.release()  # still held once: the waiter must stay blocked
        assert rec.waiting_for.get("Thread-1") == "r"
        lock.release()
        join_all([other])
    events = rec.take()
    woke = of(events, "Thread-1", Kind.RUN)[-1]
    last_release = [e for e in of(events, "main", Kind.RELEASE)][-1]
    assert woke.obj == "r"
    assert woke.link == "main"
    assert woke.t_ns >= last_release.t_ns


def test_releasing_an_rlock_the_thread_does_not_hold_is_an_error() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN), pytest.raises(RuntimeError, match="un-acquired"):
        threading.RLock().release()


def test_a_plain_lock_taken_twice_by_one_thread_is_a_wait_cycle_of_one() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock(name="account")

        def take_twice() -> None:
            with lock, lock:
                pass

        t = threading.Thread(target=take_twice)
        t.start()
        wait_until(blocked(rec, "Thread-1", "account"), what="Thread-1 to wait for its own lock")
        assert find_wait_cycle(dict(rec.waiting_for), dict(rec.owners)) == (("Thread-1", "account"),)
        rec.stop("deadlock")
        join_all([t])
    assert of(rec.take(), "Thread-1")[-1].kind is Kind.DONE
    assert rec.owners == {}


# --- Semaphore -----------------------------------------------------------------------
def test_a_semaphore_never_has_more_than_k_holders_and_draws_its_free_slots() -> None:
    rec = Recorder()
    k, n = 3, 8
    with bind(rec, "main", LaneKind.MAIN):
        slots = threading.Semaphore(k, name="slots")
        start = threading.Event(name="go")

        def use() -> None:
            start.wait()
            for _ in range(5):
                with slots:
                    threading.Event().wait(0.002)  # a short hold (times out)

        workers = [threading.Thread(target=use) for _ in range(n)]
        for w in workers:
            w.start()
        start.set()
        join_all(workers)
    events = rec.take()
    holders = holders_over_time(events, "slots")
    assert max(holders) == k
    assert min(holders) >= 0
    assert holders[-1] == 0
    # The gauge is K minus the holders, event for event.
    levels = [e.detail for e in events if e.kind is Kind.LEVEL and e.obj == "slots"]
    assert levels == [k] + [k - h for h in holders]
    # A wait starts only while every slot is taken.
    free = k
    for e in events:
        if e.obj == "slots" and e.kind is Kind.LEVEL:
            free = e.detail
        if e.obj == "slots" and e.kind is Kind.WAIT:
            assert free == 0


def test_a_semaphore_waiter_is_linked_to_the_worker_that_released_a_slot() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        slot = threading.Semaphore(1, name="s")
        slot.acquire()
        t = threading.Thread(target=lambda: slot.acquire() and slot.release())
        t.start()
        wait_until(blocked(rec, "Thread-1", "s"), what="Thread-1 to wait for the slot")
        slot.release()
        join_all([t])
    woke = of(rec.take(), "Thread-1", Kind.RUN)[-1]
    assert (woke.obj, woke.link) == ("s", "main")


def test_a_bounded_semaphore_refuses_a_release_too_many_and_a_plain_one_grows() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        bounded = threading.BoundedSemaphore(2, name="b")
        with pytest.raises(ValueError, match="released too many times"):
            bounded.release()
        plain = threading.Semaphore(2, name="p")
        plain.release()
    levels = [(e.obj, e.detail) for e in rec.take() if e.kind is Kind.LEVEL]
    assert levels == [("b", 2), ("p", 2), ("p", 3)]


def test_a_non_blocking_acquire_of_a_full_semaphore_fails_without_a_wait() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        s = threading.Semaphore(0)
        assert s.acquire(blocking=False) is False
        assert s.acquire(timeout=0.01) is False
    kinds = [e.kind for e in rec.take() if e.worker == "main"]
    assert kinds.count(Kind.WAIT) == 1  # only the timed acquire blocked


# --- Condition -----------------------------------------------------------------------
def test_notify_wakes_one_waiter_and_notify_all_the_rest_each_linked_to_the_notifier() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition(name="c")
        woken: list[str] = []

        def waiter(me: str) -> None:
            with cond:
                cond.wait()
                woken.append(me)

        workers = [threading.Thread(target=waiter, args=(f"w{i}",)) for i in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            wait_until(blocked(rec, w.name, "c"), what=f"{w.name} to wait on the condition")
        with cond:
            cond.notify()
        wait_until(lambda: len(woken) == 1, what="one waiter to wake")
        with cond:
            cond.notify_all()
        join_all(workers)
    events = rec.take()
    notifies = [e for e in events if e.kind is Kind.NOTIFY]
    assert [len(e.detail) for e in notifies] == [1, 2]
    for notify in notifies:
        for name in notify.detail:
            wake = next(e for e in of(events, name, Kind.RUN) if e.obj == "c")
            assert wake.link == "main"
            assert wake.t_ns >= notify.t_ns
    # Waiting on a condition gives its lock back: the hold ends before the wait.
    first = of(events, "Thread-1")
    kinds = [(e.kind, e.obj) for e in first if e.obj]
    assert kinds[:3] == [(Kind.ACQUIRE, "c.lock"), (Kind.RELEASE, "c.lock"), (Kind.WAIT, "c")]


def test_a_notify_with_nobody_waiting_is_recorded_as_waking_nobody() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition(threading.Lock(name="l"), name="c")
        with cond:
            cond.notify()
    [notify] = [e for e in rec.take() if e.kind is Kind.NOTIFY]
    assert notify.detail == []


def test_a_condition_wait_with_a_timeout_returns_false_and_keeps_the_lock() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock(name="l")
        cond = threading.Condition(lock, name="c")
        with cond:
            assert cond.wait(0.01) is False
            assert lock._is_owned()
            assert cond.wait_for(lambda: False, timeout=0.01) is False
    events = rec.take()
    assert [e.detail for e in events if e.kind is Kind.RUN and e.obj == "c"] == ["timed out", "timed out"]


def test_waiting_or_notifying_without_the_lock_is_an_error() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition()
        with pytest.raises(RuntimeError, match="un-acquired"):
            cond.wait()
        with pytest.raises(RuntimeError, match="un-acquired"):
            cond.notify()


# --- Event and Barrier -----------------------------------------------------------
def test_an_event_wakes_its_waiters_linked_to_the_setter_and_a_set_event_does_not_block() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        go = threading.Event(name="go")
        workers = [threading.Thread(target=go.wait) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            wait_until(blocked(rec, w.name, "go"), what=f"{w.name} to wait for the event")
        go.set()
        join_all(workers)
        assert go.wait() is True  # already set: no wait
        go.clear()
        assert go.wait(0.01) is False
    events = rec.take()
    [notify] = [e for e in events if e.kind is Kind.NOTIFY]
    assert notify.detail == ["Thread-1", "Thread-2"]
    for name in ("Thread-1", "Thread-2"):
        assert of(events, name, Kind.RUN)[-1].link == "main"
    assert [e.obj for e in of(events, "main", Kind.WAIT) if e.obj == "go"] == ["go"]  # only after clear()


def test_a_barrier_releases_every_waiter_at_the_last_arrival_linked_to_it() -> None:
    rec = Recorder()
    parties = 4
    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(parties, name="b")
        indices: list[int] = []
        workers = [threading.Thread(target=lambda: indices.append(barrier.wait())) for _ in range(parties)]
        for w in workers[:-1]:
            w.start()
        for w in workers[:-1]:
            wait_until(blocked(rec, w.name, "b"), what=f"{w.name} to wait at the barrier")
        assert barrier.n_waiting == parties - 1
        workers[-1].start()
        join_all(workers)
    events = rec.take()
    assert sorted(indices) == list(range(parties))
    [release] = [e for e in events if e.kind is Kind.NOTIFY]
    assert release.worker == "Thread-4"  # the last arrival releases the others
    for w in workers[:-1]:
        wake = of(events, w.name, Kind.RUN)[-1]
        assert (wake.obj, wake.link) == ("b", "Thread-4")
        assert wake.t_ns >= release.t_ns
    assert not of(events, "Thread-4", Kind.WAIT)
    levels = [e.detail for e in events if e.kind is Kind.LEVEL]
    assert levels == [0, 1, 2, 3, 4, 0]


def test_a_barrier_wait_that_times_out_breaks_the_barrier() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(2)
        with pytest.raises(threading.BrokenBarrierError):
            barrier.wait(timeout=0.01)
        assert barrier.broken
        with pytest.raises(threading.BrokenBarrierError):
            barrier.wait()
        barrier.reset()
        assert not barrier.broken


# --- Queue ---------------------------------------------------------------------------
def test_a_get_links_to_the_putter_and_a_put_on_a_full_queue_waits_for_a_get() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(maxsize=1, name="q")
        got: list[object] = []
        consumer = threading.Thread(target=lambda: got.extend([q.get(), q.get()]))
        consumer.start()
        wait_until(blocked(rec, "Thread-1", "q"), what="the consumer to wait on the empty queue")
        q.put("a")
        q.put("b")
        join_all([consumer])
        with pytest.raises(queue.Empty):
            q.get_nowait()
        q.put("c")
        with pytest.raises(queue.Full):
            q.put("d", timeout=0.01)
    events = rec.take()
    assert got == ["a", "b"]
    gets = [e for e in events if e.kind is Kind.GET]
    assert [(e.detail, e.link) for e in gets] == [("'a'", "main"), ("'b'", "main")]
    first_wake = of(events, "Thread-1", Kind.RUN)[-2]
    assert (first_wake.obj, first_wake.link) == ("q", "main")
    assert next(e.detail for e in events if e.kind is Kind.LEVEL) == 0
    assert max(e.detail for e in events if e.kind is Kind.LEVEL) == 1  # never above maxsize


def test_join_waits_until_every_item_is_marked_done() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(name="q")
        for i in range(3):
            q.put(i)

        def worker() -> None:
            while not q.empty():
                q.get()
                q.task_done()

        t = threading.Thread(target=worker)
        t.start()
        q.join()
        join_all([t])
        assert q.qsize() == 0
        with pytest.raises(ValueError, match="too many times"):
            q.task_done()


# --- shared state and stopping ---------------------------------------------------
def test_shared_values_record_each_read_and_write_with_the_value() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        counter = Shared(0, name="counter")
        counter.value = counter.value + 1
        gauge("g", 7)
    assert [(e.kind, e.obj, e.detail) for e in rec.take() if e.obj] == [
        (Kind.WRITE, "counter", 0),
        (Kind.READ, "counter", 0),
        (Kind.WRITE, "counter", 1),
        (Kind.LEVEL, "g", 7),
    ]


def test_stopping_a_run_releases_threads_blocked_on_every_primitive() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        slots = threading.Semaphore(0, name="sem")
        cond = threading.Condition(name="cond")
        event = threading.Event(name="event")
        barrier = threading.Barrier(3, name="barrier")
        empty = queue.Queue(name="empty")
        full = queue.Queue(maxsize=1, name="full")
        full.put(0)

        def wait_on_condition() -> None:
            with cond:
                cond.wait()

        targets = {
            "sem": slots.acquire,
            "cond": wait_on_condition,
            "event": event.wait,
            "barrier": barrier.wait,
            "empty": empty.get,
            "full": lambda: full.put(1),
        }
        workers = {obj: threading.Thread(target=target) for obj, target in targets.items()}
        for w in workers.values():
            w.start()
        for obj, w in workers.items():
            wait_until(blocked(rec, w.name, obj), what=f"{w.name} to block on {obj}")
        rec.stop("test says stop")
        join_all(list(workers.values()))
    events = rec.take()
    for w in workers.values():
        assert of(events, w.name)[-1].kind is Kind.DONE, w.name
    assert Kind.CRASH not in [e.kind for e in events]
    assert rec.owners == {}  # the condition's waiter took its lock back and let it go


# --- timeouts and non-blocking calls ---------------------------------------------------
def outcome_in_a_thread(call: Callable[[], object]) -> object:
    """What `call()` returns on another traced thread; the test fails (instead of
    hanging) if it blocks for more than a few seconds."""
    results: list[object] = []
    t = threading.Thread(target=lambda: results.append(call()))
    t.start()
    std_threading.Thread.join(t, 5)
    assert not t.is_alive(), "the call blocked"
    return results[0]


@pytest.mark.parametrize("make", [threading.Lock, threading.RLock], ids=["Lock", "RLock"])
def test_a_held_lock_refuses_a_non_blocking_or_zero_timeout_acquire_and_keeps_its_holder(
    make: Callable[..., threading.Lock],
) -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = make(name="held")
        lock.acquire()
        assert outcome_in_a_thread(lambda: lock.acquire(False)) is False
        assert outcome_in_a_thread(lambda: lock.acquire(blocking=False)) is False
        assert outcome_in_a_thread(lambda: lock.acquire(timeout=0)) is False
        assert outcome_in_a_thread(lambda: lock.acquire(timeout=0.02)) is False
        assert rec.owners == {"held": "main"}
        assert lock.locked()
        lock.release()
        assert outcome_in_a_thread(lambda: lock.acquire(False) and lock.release() is None) is True
    events = rec.take()
    assert [e.worker for e in events if e.kind is Kind.ACQUIRE] == ["main", "Thread-5"]
    # a non-blocking refusal is not a wait; a timed one is, and says it timed out
    assert not of(events, "Thread-1", Kind.WAIT)
    assert not of(events, "Thread-2", Kind.WAIT)
    for name in ("Thread-3", "Thread-4"):
        assert [(e.kind, e.detail) for e in of(events, name) if e.obj == "held"] == [
            (Kind.WAIT, None),
            (Kind.RUN, "timed out"),
        ]
    assert rec.waiting_for == {}


def test_a_timed_out_condition_waiter_does_not_steal_a_later_notify() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition(name="c")
        woke: list[bool] = []

        def impatient() -> None:
            with cond:
                woke.append(cond.wait(timeout=0.01))

        def patient() -> None:
            with cond:
                woke.append(cond.wait())

        first = threading.Thread(target=impatient)
        first.start()
        join_all([first])  # it gave up: its wait returned False
        second = threading.Thread(target=patient)
        second.start()
        wait_until(blocked(rec, "Thread-2", "c"), what="the patient waiter to wait")
        with cond:
            cond.notify()  # one notify: it must reach the waiter still waiting
        join_all([second])
    assert woke == [False, True]
    [notify] = [e for e in rec.take() if e.kind is Kind.NOTIFY]
    assert notify.detail == ["Thread-2"]


def test_wait_for_keeps_waiting_through_notifies_until_its_predicate_holds_and_returns_it() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition(name="c")
        ready: list[str] = []
        seen: list[object] = []

        def consumer() -> None:
            with cond:
                seen.append(cond.wait_for(lambda: ready and ready[0]))

        t = threading.Thread(target=consumer)
        t.start()
        wait_until(blocked(rec, "Thread-1", "c"), what="the consumer to wait")
        with cond:
            cond.notify()  # woken with the predicate still false: it must wait again
        with cond:
            ready.append("item")
            cond.notify_all()
        join_all([t])
    assert seen == ["item"]


def test_waits_leave_nothing_behind_in_the_wait_for_graph() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock(name="l")
        slot = threading.Semaphore(0, name="s")
        flag = threading.Event(name="e")
        q = queue.Queue(name="q")
        lock.acquire()
        waiters = [
            threading.Thread(target=lambda: lock.acquire() and lock.release()),
            threading.Thread(target=slot.acquire),
            threading.Thread(target=flag.wait),
            threading.Thread(target=q.get),
        ]
        for w in waiters:
            w.start()
        for w, obj in zip(waiters, ["l", "s", "e", "q"], strict=True):
            wait_until(blocked(rec, w.name, obj), what=f"{w.name} to wait on {obj}")
        lock.release()
        slot.release()
        flag.set()
        q.put(1)
        join_all(waiters)
        assert rec.waiting_for == {}
        # a wait with a timeout never enters the graph, and leaves nothing either
        assert slot.acquire(timeout=0.01) is False
        with pytest.raises(queue.Empty):
            q.get(timeout=0.01)
    assert rec.waiting_for == {}


def test_a_queue_refuses_without_blocking_when_asked_not_to_wait() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(maxsize=1, name="q")
        with pytest.raises(queue.Empty):
            q.get(block=False)
        q.put_nowait("a")
        assert q.full()
        with pytest.raises(queue.Full):
            q.put("b", block=False)
        with pytest.raises(queue.Full):
            q.put_nowait("b")
        assert q.get_nowait() == "a"
        assert q.empty()
    assert Kind.WAIT not in [e.kind for e in rec.take()]


# --- Barrier breakage: the other waiters raise instead of hanging -----------------
def barrier_party(
    barrier: threading.Barrier, outcomes: dict[str, object], **wait: float
) -> Callable[[], None]:
    def party() -> None:
        me = std_threading.current_thread().name
        try:
            outcomes[me] = barrier.wait(**wait)
        except threading.BrokenBarrierError as error:
            outcomes[me] = error

    return party


def test_a_barrier_wait_that_times_out_breaks_it_for_the_other_waiters_too() -> None:
    rec = Recorder()
    outcomes: dict[str, object] = {}
    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(3, name="b")
        waiting = threading.Thread(target=barrier_party(barrier, outcomes))
        waiting.start()
        wait_until(blocked(rec, "Thread-1", "b"), what="the first party to wait")
        hasty = threading.Thread(target=barrier_party(barrier, outcomes, timeout=0.02))
        hasty.start()
        join_all([waiting, hasty])
        assert barrier.broken
    assert set(outcomes) == {"Thread-1", "Thread-2"}
    assert all(isinstance(o, threading.BrokenBarrierError) for o in outcomes.values())


def test_a_barrier_whose_timeout_was_set_at_creation_breaks_without_a_timeout_at_the_wait() -> None:
    rec = Recorder()
    outcomes: dict[str, object] = {}
    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(2, timeout=0.02, name="b")
        outcome = outcome_in_a_thread(lambda: barrier_party(barrier, outcomes)())
        assert outcome is None
        assert isinstance(outcomes["Thread-1"], threading.BrokenBarrierError)
        assert barrier.broken


def test_a_failing_barrier_action_reaches_its_caller_and_breaks_the_barrier_for_the_others() -> None:
    rec = Recorder()
    outcomes: dict[str, object] = {}

    def action() -> None:
        raise ValueError("the action failed")

    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(2, action=action, name="b")
        first = threading.Thread(target=barrier_party(barrier, outcomes))
        first.start()
        wait_until(blocked(rec, "Thread-1", "b"), what="the first party to wait")
        with pytest.raises(ValueError, match="the action failed"):
            barrier.wait()  # main arrives last and runs the action
        join_all([first])
        assert barrier.broken
    assert isinstance(outcomes["Thread-1"], threading.BrokenBarrierError)


def test_resetting_a_barrier_releases_its_waiters_with_an_error_and_it_works_again() -> None:
    rec = Recorder()
    outcomes: dict[str, object] = {}
    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(2, name="b")
        early = threading.Thread(target=barrier_party(barrier, outcomes))
        early.start()
        wait_until(blocked(rec, "Thread-1", "b"), what="a party to wait")
        barrier.reset()
        join_all([early])
        assert isinstance(outcomes.pop("Thread-1"), threading.BrokenBarrierError)
        assert not barrier.broken
        assert barrier.n_waiting == 0
        # a fresh round after the reset completes normally
        again = threading.Thread(target=barrier_party(barrier, outcomes))
        again.start()
        wait_until(blocked(rec, "Thread-2", "b"), what="a party of the new round to wait")
        assert barrier.wait() == 1
        join_all([again])
    assert outcomes == {"Thread-2": 0}


@pytest.mark.parametrize("waiter", ["get", "put", "join"])
def test_a_queue_wakes_its_waiter_at_once_not_at_its_next_slice(
    monkeypatch: pytest.MonkeyPatch, waiter: str
) -> None:
    """A blocked get is woken by the put that gives it an item (a blocked put by the
    get that makes room, a join by the last task_done) at that moment: its lane must
    not show a wait that outlived the hand-over. With slices of a minute, only the
    wake can end the wait in time."""
    monkeypatch.setattr(threading, "POLL_S", 60.0)
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(maxsize=1, name="q")
        if waiter != "get":
            q.put("filler")
        calls = {"get": q.get, "put": lambda: q.put("x"), "join": q.join}
        done = std_threading.Event()
        worker = threading.Thread(target=lambda: (calls[waiter](), done.set()))
        worker.start()
        wait_until(blocked(rec, "Thread-1", "q"), what=f"the {waiter} to wait")
        if waiter == "get":
            q.put("x")
        else:
            assert q.get() == "filler"
        if waiter == "join":
            q.task_done()
        assert done.wait(20), f"the blocked {waiter} was not woken"
        join_all([worker])


@pytest.mark.parametrize("call", ["put", "get", "join"])
def test_a_queue_call_in_a_stopped_run_ends_the_worker_and_moves_no_item(call: str) -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        # Each call would go through at once if it were let: room, an item, nothing unfinished.
        q = queue.Queue(name="q")
        if call == "get":
            q.put("kept")
        rec.stop("time limit")
        with pytest.raises(Stop):
            {"put": lambda: q.put("late"), "get": q.get, "join": q.join}[call]()
        assert q.qsize() == (1 if call == "get" else 0)
