"""The traced drop-ins keep the standard library's contract (what a lesson's code
relies on: arguments, return values, errors) while drawing what happened."""

from __future__ import annotations

import threading as std_threading
import time as std_time

import pytest

from app.timeline import Event, Kind, LaneKind
from app.traced import print as traced_print
from app.traced import queue, threading, time
from app.traced.shared import Shared, gauge
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until


def of(events: list[Event], worker: str, *kinds: Kind) -> list[Event]:
    return [e for e in events if e.worker == worker and (not kinds or e.kind in kinds)]


def blocked(rec: Recorder, worker: str, obj: str):  # type: ignore[no-untyped-def]
    return lambda: rec.waiting_for.get(worker) == obj


def join_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        std_threading.Thread.join(t, 5)
        assert not t.is_alive()


# --- Thread --------------------------------------------------------------------------
def test_traced_threads_are_daemons_so_a_stuck_run_cannot_hold_the_server_at_exit() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        assert threading.Thread(target=print).daemon
        assert threading.Thread(target=print, daemon=False).daemon


def test_a_join_that_times_out_returns_with_the_thread_still_running() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        release = threading.Event(name="release")
        t = threading.Thread(target=release.wait)
        t.start()
        wait_until(blocked(rec, "Thread-1", "release"), what="the thread to wait")
        t.join(timeout=0.02)
        assert t.is_alive()
        release.set()
        t.join()
        assert not t.is_alive()
        t.join()  # joining a finished thread returns at once and draws nothing
    joins = [(e.kind, e.detail, e.link) for e in of(rec.take(), "main") if e.obj == "join Thread-1"]
    assert joins == [
        (Kind.WAIT, None, ""),
        (Kind.RUN, "timed out", ""),
        (Kind.WAIT, None, ""),
        (Kind.RUN, None, "Thread-1"),  # the thread's end is what woke main
    ]


def test_threads_are_numbered_per_run_and_a_given_name_is_kept() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        first = threading.Thread(target=print)
        named = threading.Thread(target=print, name="worker")
        second = threading.Thread(target=print)
    assert [first.name, named.name, second.name] == ["Thread-1", "worker", "Thread-2"]


def test_a_thread_draws_start_run_and_done_around_its_target_with_its_arguments() -> None:
    rec = Recorder()
    got: list[object] = []
    with bind(rec, "main", LaneKind.MAIN):
        t = threading.Thread(target=lambda a, b=0: got.append((a, b)), args=(1,), kwargs={"b": 2})
        t.start()
        t.join()
    assert got == [(1, 2)]
    lane = of(rec.take(), "Thread-1")
    assert [(e.kind, e.detail) for e in lane] == [(Kind.START, "thread"), (Kind.RUN, None), (Kind.DONE, None)]


# --- Lock and RLock ----------------------------------------------------------------
def test_with_lock_returns_true_and_the_lock_is_free_after_the_block() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock(name="l")
        with lock as got:
            assert got is True
            assert lock.locked()
            assert rec.owners == {"l": "main"}
        assert not lock.locked()
        assert rec.owners == {}


def test_a_condition_wait_on_an_rlock_held_twice_gives_it_up_completely_and_takes_it_back_twice() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.RLock(name="r")
        cond = threading.Condition(lock, name="c")
        other_got_it: list[bool] = []
        with lock, lock:
            t = threading.Thread(
                target=lambda: other_got_it.append(lock.acquire(timeout=5)) or lock.release()
            )
            t.start()
            assert cond.wait(timeout=0.5) is False  # while main waits, the RLock is free
            join_all([t])
            assert other_got_it == [True]
            assert rec.owners == {"r": "main"}
        # the two releases of `with lock, lock` both worked: the depth came back as 2
        assert not lock.locked()
    depths = [(e.kind, e.detail) for e in of(rec.take(), "main") if e.obj == "r"]
    assert depths == [
        (Kind.ACQUIRE, 1),
        (Kind.ACQUIRE, 2),
        (Kind.RELEASE, 0),  # the wait gave it up completely
        (Kind.ACQUIRE, 1),
        (Kind.ACQUIRE, 2),  # and took it back at the depth it had
        (Kind.RELEASE, 1),
        (Kind.RELEASE, 0),
    ]


def test_waiting_on_a_condition_whose_rlock_another_thread_holds_is_an_error() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.RLock(name="r")
        cond = threading.Condition(lock, name="c")
        errors: list[BaseException] = []

        def try_wait() -> None:
            try:
                cond.wait(0.01)
            except RuntimeError as error:
                errors.append(error)

        with lock:
            t = threading.Thread(target=try_wait)
            t.start()
            join_all([t])
    assert [str(e) for e in errors] == ["cannot wait on un-acquired lock"]


# --- Semaphore ---------------------------------------------------------------------
def test_a_semaphore_refuses_a_negative_size_and_a_release_of_less_than_one() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        with pytest.raises(ValueError, match="must be >= 0"):
            threading.Semaphore(-1)
        sem = threading.Semaphore(0, name="s")
        with pytest.raises(ValueError, match="one or more"):
            sem.release(0)
        assert threading.Semaphore(0).acquire(blocking=False) is False


def test_releasing_n_slots_at_once_wakes_n_waiters() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        sem = threading.Semaphore(0, name="s")
        waiters = [threading.Thread(target=sem.acquire) for _ in range(2)]
        for w in waiters:
            w.start()
        for w in waiters:
            wait_until(blocked(rec, w.name, "s"), what=f"{w.name} to wait")
        sem.release(2)
        join_all(waiters)
    events = rec.take()
    assert [e.detail for e in events if e.kind is Kind.LEVEL] == [0, 2, 1, 0]
    for w in waiters:
        assert of(events, w.name, Kind.RUN)[-1].link == "main"


def test_a_bounded_semaphore_accepts_releases_up_to_its_size() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        sem = threading.BoundedSemaphore(2, name="b")
        sem.acquire()
        sem.acquire()
        sem.release(2)
        with pytest.raises(ValueError, match="released too many times"):
            sem.release()


# --- Condition, Event, Barrier -------------------------------------------------------
def test_notify_n_wakes_exactly_n_waiters_in_the_order_they_started_waiting() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cond = threading.Condition(name="c")

        def waiter() -> None:
            with cond:
                cond.wait()

        waiters = [threading.Thread(target=waiter) for _ in range(3)]
        for w in waiters:
            w.start()
            wait_until(blocked(rec, w.name, "c"), what=f"{w.name} to wait")
        with cond:
            cond.notify(2)
        join_all(waiters[:2])
        assert waiters[2].is_alive()
        with cond:
            cond.notify_all()
        join_all(waiters[2:])
    notifies = [e.detail for e in rec.take() if e.kind is Kind.NOTIFY]
    assert notifies == [["Thread-1", "Thread-2"], ["Thread-3"]]


def test_an_event_set_names_the_lanes_waiting_for_it_and_clear_makes_waiters_wait_again() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        flag = threading.Event(name="e")
        assert not flag.is_set()
        flag.set()
        assert flag.is_set()
        flag.clear()
        assert not flag.is_set()
        waiters = [threading.Thread(target=flag.wait) for _ in range(2)]
        for w in reversed(waiters):
            w.start()
            wait_until(blocked(rec, w.name, "e"), what=f"{w.name} to wait")
        flag.set()
        join_all(waiters)
    assert [e.detail for e in rec.take() if e.kind is Kind.NOTIFY] == [[], ["Thread-1", "Thread-2"]]


def test_a_barrier_needs_a_party_and_reports_its_size_and_who_waits() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        with pytest.raises(ValueError, match="parties must be >= 1"):
            threading.Barrier(0)
        barrier = threading.Barrier(2, name="b")
        assert (barrier.parties, barrier.n_waiting, barrier.broken) == (2, 0, False)
        errors: list[BaseException] = []

        def party() -> None:
            try:
                barrier.wait()
            except threading.BrokenBarrierError as error:
                errors.append(error)

        t = threading.Thread(target=party)
        t.start()
        wait_until(blocked(rec, "Thread-1", "b"), what="a party to wait")
        assert barrier.n_waiting == 1
        barrier.abort()
        join_all([t])
        assert len(errors) == 1
        assert barrier.broken
        with pytest.raises(threading.BrokenBarrierError):
            barrier.wait()


def test_a_barrier_of_one_lets_its_party_through_at_once_running_the_action() -> None:
    rec = Recorder()
    ran: list[str] = []
    with bind(rec, "main", LaneKind.MAIN):
        barrier = threading.Barrier(1, action=lambda: ran.append("action"), name="b")
        assert barrier.wait() == 0
        assert barrier.wait() == 0
    assert ran == ["action", "action"]
    assert [e.detail for e in rec.take() if e.kind is Kind.NOTIFY] == [1, 2]  # the phase that ended


# --- Queue ---------------------------------------------------------------------------
def test_a_queue_shows_items_shortened_to_forty_characters() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(name="q")
        q.put("x" * 38)  # its repr is exactly 40 characters
        q.put("y" * 39)
        q.get()
        q.get()
    details = [e.detail for e in rec.take() if e.kind is Kind.PUT]
    assert details == ["'" + "x" * 38 + "'", "'" + "y" * 38 + "…"]
    assert all(len(d) == 40 for d in details)


def test_a_put_on_a_full_queue_waits_for_a_get_and_is_linked_to_the_getter() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(maxsize=1, name="q")
        q.put("a")
        producer = threading.Thread(target=lambda: q.put("b"))
        producer.start()
        wait_until(blocked(rec, "Thread-1", "q"), what="the producer to wait for room")
        consumer = threading.Thread(target=q.get)
        consumer.start()
        join_all([producer, consumer])
        assert q.qsize() == 1
        assert q.get() == "b"
    events = rec.take()
    woke = of(events, "Thread-1", Kind.RUN)[-1]
    assert (woke.obj, woke.link) == ("q", "Thread-2")
    assert [e.detail for e in events if e.kind is Kind.LEVEL] == [0, 1, 0, 1, 0]


def test_an_unbounded_queue_is_never_full() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(name="q")
        for i in range(100):
            q.put_nowait(i)
        assert not q.full()
        assert q.qsize() == 100


def test_join_waits_for_the_last_task_done_and_is_linked_to_the_worker_that_called_it() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        q = queue.Queue(name="q")
        q.put("job")
        go = threading.Event(name="go")

        def worker() -> None:
            q.get()
            go.wait()
            q.task_done()

        t = threading.Thread(target=worker)
        t.start()
        joiner = threading.Thread(target=q.join)
        joiner.start()
        wait_until(blocked(rec, "Thread-2", "q"), what="the joiner to wait")
        go.set()
        join_all([t, joiner])
        q.join()  # nothing unfinished: returns at once
    events = rec.take()
    [done] = [e for e in events if e.kind is Kind.NOTIFY and e.obj == "q"]
    assert (done.worker, done.detail) == ("Thread-1", "all tasks done")
    woke = of(events, "Thread-2", Kind.RUN)[-1]
    assert (woke.obj, woke.link) == ("q", "Thread-1")
    assert not [e for e in of(events, "main") if e.kind is Kind.WAIT and e.obj == "q"]


# --- time and print ------------------------------------------------------------------
@pytest.mark.parametrize("seconds", [0, -1])
def test_sleep_zero_or_less_draws_a_moment_of_io_and_returns_at_once(seconds: float) -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        time.sleep(seconds)
    assert [e.kind for e in rec.take()] == [Kind.START, Kind.RUN, Kind.IO, Kind.RUN, Kind.DONE]


def test_a_stopped_run_interrupts_a_sleep_at_its_next_slice() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        asleep = threading.Thread(target=time.sleep, args=(60,))
        asleep.start()
        rec.stop("test says stop")
        join_all([asleep])
    assert of(rec.take(), "Thread-1")[-1].detail == "stopped: test says stop"


def test_a_sleep_in_a_stopped_run_raises_before_it_draws_anything() -> None:
    """A worker reaching sleep() after the stop ends there: no `io` segment is drawn for
    a sleep that never happens (the stop is not discovered one slice later)."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        rec.stop("test says stop")
        with pytest.raises(Stop):
            time.sleep(60)
    assert Kind.IO not in [e.kind for e in rec.take()]


def test_a_sleeping_thread_uses_no_cpu() -> None:
    """sleep() waits in the OS, slice by slice; it never spins on the clock."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        cpu_before = std_time.thread_time()
        time.sleep(0.2)
        cpu_spent = std_time.thread_time() - cpu_before
    assert cpu_spent < 0.02, f"{cpu_spent * 1e3:.1f} ms of CPU while sleeping 200 ms"


def test_print_joins_its_values_with_sep_and_stops_in_a_stopped_run() -> None:
    rec = Recorder()
    with bind(rec, "main"):
        traced_print("a", 1, None)
        traced_print("a", "b", sep="-")
        rec.stop("stop")
        with pytest.raises(Stop):
            traced_print("late")
    assert [e.detail for e in rec.take() if e.kind is Kind.PRINT] == ["a 1 None", "a-b"]


# --- shared state --------------------------------------------------------------------
def test_shared_values_show_plain_values_as_they_are_and_others_by_repr() -> None:
    rec = Recorder()
    with bind(rec, "main"):
        for value in (1, 2.5, "s", True, None):
            Shared(value)
        Shared([1, 2], name="pair")
        gauge("g", 3.5)
    details = [(e.obj, e.detail) for e in rec.take()]
    assert details == [
        ("shared-1", 1),
        ("shared-2", 2.5),
        ("shared-3", "s"),
        ("shared-4", True),
        ("shared-5", None),
        ("pair", "[1, 2]"),
        ("g", 3.5),
    ]


def test_shared_reads_and_writes_stop_in_a_stopped_run() -> None:
    rec = Recorder()
    with bind(rec, "main"):
        counter = Shared(0, name="c")
        rec.stop("stop")
        with pytest.raises(Stop):
            _ = counter.value
        with pytest.raises(Stop):
            counter.value = 1
