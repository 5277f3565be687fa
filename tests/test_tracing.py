"""The recorder and the traced drop-ins, with real threads."""

from __future__ import annotations

import gc
import sys
import threading as std_threading
import time as std_time

import pytest

from app.timeline import KIND_CODES, Event, Kind, LaneKind
from app.traced import print as traced_print
from app.traced import threading, time
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until


def kinds(events, worker):
    return [e.kind for e in events if e.worker == worker]


def test_events_come_out_in_time_order_and_each_lane_in_program_order() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        workers = [threading.Thread(target=lambda: [traced_print(i) for i in range(50)]) for _ in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    events = rec.take()
    times = [e.t_ns for e in events]
    assert times == sorted(times)
    for n in (1, 2, 3):
        printed = [e.detail for e in events if e.worker == f"Thread-{n}" and e.kind is Kind.PRINT]
        assert printed == [str(i) for i in range(50)]
    assert kinds(events, "Thread-1")[:2] == [Kind.START, Kind.RUN]
    assert kinds(events, "Thread-1")[-1] == Kind.DONE
    assert rec.take() == []  # taken once


def test_a_lock_used_by_one_thread_alone_records_no_wait() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock()
        for _ in range(100):
            with lock:
                pass
    events = rec.take()
    assert Kind.WAIT not in kinds(events, "main")
    assert kinds(events, "main").count(Kind.ACQUIRE) == 100
    assert kinds(events, "main").count(Kind.RELEASE) == 100


def test_a_contended_lock_records_a_measured_wait_linked_to_the_releaser() -> None:
    rec = Recorder()
    holding = std_threading.Event()

    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock(name="lock")

        def waiter() -> None:
            holding.wait(5)
            with lock:
                pass

        lock.acquire()
        other = threading.Thread(target=waiter)
        other.start()
        holding.set()
        wait_until(lambda: rec.waiting_for.get("Thread-1") == "lock", what="Thread-1 to block on the lock")
        lock.release()
        other.join()

    events = rec.take()
    mine = [e for e in events if e.worker == "Thread-1"]
    wait = next(e for e in mine if e.kind is Kind.WAIT)
    woke = next(e for e in mine if e.kind is Kind.RUN and e.t_ns > wait.t_ns)
    release = next(e for e in events if e.worker == "main" and e.kind is Kind.RELEASE)
    assert wait.obj == "lock"
    assert woke.link == "main"  # the arrow: main handed the lock over
    assert wait.t_ns < release.t_ns <= woke.t_ns  # the wait spans the release: measured, not guessed
    assert [e.kind for e in mine if e.t_ns >= woke.t_ns][:3] == [Kind.RUN, Kind.ACQUIRE, Kind.RELEASE]


def test_stopping_a_run_ends_a_thread_blocked_on_a_lock() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = threading.Lock()
        lock.acquire()
        blocked = threading.Thread(target=lock.acquire)
        blocked.start()
        wait_until(lambda: "Thread-1" in rec.waiting_for, what="the thread to block")
        rec.stop("test says stop")
        # The plain join: main belongs to the stopped run too, so a traced join would
        # (rightly) raise Stop here instead of waiting.
        std_threading.Thread.join(blocked, 5)
    assert not blocked.is_alive()
    events = rec.take()
    assert kinds(events, "Thread-1")[-1] == Kind.DONE
    with bind(rec, "main"), pytest.raises(Stop):
        traced_print("no more")


def test_stopping_a_run_ends_a_sleeping_thread_within_a_slice_of_its_sleep() -> None:
    """Stop must feel immediate to a teacher: a worker asleep for 30 s ends at its next
    50 ms slice, not when its sleep is over (0.4 s leaves room for a loaded machine)."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        sleeper = threading.Thread(target=time.sleep, args=(30,))
        sleeper.start()
        wait_until(lambda: any(e.kind is Kind.IO for e in rec.events_so_far()), what="the sleep to begin")
        asked = std_time.monotonic()
        rec.stop("test says stop")
        std_threading.Thread.join(sleeper, 10)
        took = std_time.monotonic() - asked
    assert not sleeper.is_alive()
    assert took < 0.4, f"the sleeping thread took {took:.3f} s to notice the stop"


def test_a_crashing_thread_ends_its_lane_in_crash_with_the_error() -> None:
    rec = Recorder()

    def boom() -> None:
        raise ValueError("bad input")

    with bind(rec, "main", LaneKind.MAIN):
        t = threading.Thread(target=boom)
        t.start()
        t.join()
    crash = [e for e in rec.take() if e.kind is Kind.CRASH]
    assert [(e.worker, e.detail) for e in crash] == [("Thread-1", "ValueError: bad input")]


def test_sleep_draws_io_and_returns_to_run() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        time.sleep(0.01)
    events = [e for e in rec.take() if e.worker == "main"]
    io = next(e for e in events if e.kind is Kind.IO)
    back = next(e for e in events if e.kind is Kind.RUN and e.t_ns > io.t_ns)
    assert back.t_ns - io.t_ns >= 10_000_000


def test_a_run_may_not_start_more_workers_than_allowed() -> None:
    rec = Recorder(max_workers=2)
    with bind(rec, "main"):
        threading.Thread(target=print)
        threading.Thread(target=print)
        with pytest.raises(Exception, match="at most 2 workers"):
            threading.Thread(target=print)


def test_an_uncaught_error_goes_through_excepthook_and_stops_only_its_thread() -> None:
    rec = Recorder()
    crashed = std_threading.Event()

    def boom() -> None:
        raise KeyError("missing")

    def carry_on() -> None:
        crashed.wait(5)  # keeps working after its neighbour died
        traced_print("still here")

    with bind(rec, "main", LaneKind.MAIN):
        survivor = threading.Thread(target=carry_on)
        doomed = threading.Thread(target=boom)
        survivor.start()
        doomed.start()
        doomed.join()
        crashed.set()
        survivor.join()
    events = rec.take()
    doomed_lane = [e for e in events if e.worker == "Thread-2"]
    assert [(e.kind, e.obj) for e in doomed_lane[-2:]] == [(Kind.PRINT, "stderr"), (Kind.CRASH, "")]
    assert doomed_lane[-2].detail == "Exception in thread Thread-2: KeyError: 'missing'"
    assert [e.detail for e in events if e.worker == "Thread-1" and e.kind is Kind.PRINT] == ["still here"]
    assert kinds(events, "Thread-1")[-1] == Kind.DONE
    assert isinstance(doomed.error, KeyError)


def test_take_gives_events_and_take_raw_plain_tuples_with_the_same_fields() -> None:
    """The runner reads `take()`'s Events by name; a child ships `take_raw()`'s plain
    tuples (smaller pickles). Both come from one decoding of the same columns."""
    recorders = [Recorder(), Recorder()]
    for rec in recorders:
        with bind(rec, "main", LaneKind.MAIN):
            lock = threading.Lock(name="lock")
            with lock:
                traced_print("inside")
    events, raw = recorders[0].take(), recorders[1].take_raw()
    assert {type(e) for e in events} == {Event}
    assert {type(r) for r in raw} == {tuple}
    assert [e[1:] for e in events] == [r[1:] for r in raw]  # all but the times
    assert [e.kind for e in events] == [
        Kind.START,
        Kind.RUN,
        Kind.ACQUIRE,
        Kind.PRINT,
        Kind.RELEASE,
        Kind.DONE,
    ]


def test_an_event_with_no_object_reads_back_with_none_however_many_names_came_first() -> None:
    """Id 0 of the string table is the empty string: the object and link of an event
    that has none (a start, a run), whatever the run interned before."""
    rec = Recorder()
    rec.intern("Lock-1")
    assert rec.intern("") == 0
    with bind(rec, "main", LaneKind.MAIN):
        traced_print("hello")
    assert {(e.obj, e.link) for e in rec.take() if e.kind is not Kind.PRINT} == {("", "")}


def test_a_childs_batch_comes_back_out_of_the_parent_exactly_as_the_child_recorded_it() -> None:
    child = Recorder()
    with bind(child, "Process-1", LaneKind.PROCESS):
        lock = threading.Lock(name="lock")
        with lock:
            traced_print("inside")
    batch = child.take_raw()
    parent = Recorder()
    parent.intern("main")  # the parent's own lanes came first: their ids differ from the child's
    parent.intern("Queue-1")
    parent.extend(batch)
    assert parent.take_raw() == batch


def test_events_from_hold_from_on_stay_in_the_buffer_until_the_hold_is_lifted() -> None:
    """The sampler may still back-date a state to `hold_from`: what comes at or after it
    is kept for a later take, then given in time order."""
    rec = Recorder()
    for t_ns, text in [(10, "before"), (20, "at")]:
        rec.emit_at(t_ns, "main", Kind.PRINT, detail=text)
    rec.hold_from = 20
    assert [e.detail for e in rec.take()] == ["before"]
    rec.emit_at(30, "main", Kind.PRINT, detail="after")
    rec.emit_at(25, "main", Kind.PRINT, detail="back-dated")
    assert rec.take() == []
    assert [r[4] for r in rec.take_raw(held_too=True)] == ["at", "back-dated", "after"]
    rec.emit_at(40, "main", Kind.PRINT, detail="later")
    rec.hold_from = None
    assert [e.detail for e in rec.take()] == ["later"]


def test_a_finalized_recorder_no_longer_tracks_the_runs_locks() -> None:
    """A finished run is kept for its viewers: its recorder lets go of the run's locks
    (a lock shared with processes holds an OS semaphore)."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        held, _free = threading.Lock(), threading.RLock()
        held.acquire()
    assert (rec.owners, rec.free_locks()) == ({"Lock-1": "main"}, {"RLock-1"})
    rec.finalize()
    assert (rec.owners, rec.free_locks()) == ({}, set())


def test_events_so_far_never_misses_or_repeats_an_event_while_takes_move_them() -> None:
    """A lesson reads its own timeline (`events_so_far`) while the runner drains it:
    every read is all the events so far, each once, however the threads interleave."""
    rec = Recorder()
    rec.keep_history()
    writing_done = std_threading.Event()

    def write() -> None:
        for i in range(20_000):
            rec.emit("main", Kind.PRINT, detail=i)
        writing_done.set()

    def drain() -> None:
        while not writing_done.is_set():
            rec.take()

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    threads = [std_threading.Thread(target=write), std_threading.Thread(target=drain)]
    try:
        for t in threads:
            t.start()
        reads = 0
        while not writing_done.is_set() or reads == 0:
            seen = [e.detail for e in rec.events_so_far()]
            assert seen == list(range(len(seen))), f"read {reads}: a gap or a repeat"
            reads += 1
    finally:
        writing_done.set()
        for t in threads:
            t.join(10)
        sys.setswitchinterval(switching)
    assert [e.detail for e in rec.events_so_far()] == list(range(20_000))


def test_back_dated_events_are_sorted_into_time_and_each_lane_keeps_its_order_on_a_tie() -> None:
    rec = Recorder()
    rec.emit_at(10, "main", Kind.PRINT, detail="last")
    rec.emit_at(5, "main", Kind.PRINT, detail="tied, recorded first")  # back-dated, as the sampler does
    rec.emit_at(5, "main", Kind.PRINT, detail="also tied, recorded second")
    assert [e.detail for e in rec.take()] == ["tied, recorded first", "also tied, recorded second", "last"]


def test_a_lesson_reads_its_timeline_in_time_order_across_taken_held_and_buffered_events() -> None:
    rec = Recorder()
    rec.keep_history()
    rec.emit_at(10, "main", Kind.PRINT, detail="taken")
    rec.hold_from = 20
    rec.emit_at(30, "main", Kind.PRINT, detail="held back")
    assert [e.detail for e in rec.take()] == ["taken"]
    rec.emit_at(25, "main", Kind.PRINT, detail="back-dated, recorded first")  # still in the buffer
    rec.emit_at(25, "main", Kind.PRINT, detail="also back-dated, recorded second")
    assert [e.detail for e in rec.events_so_far()] == [
        "taken",
        "back-dated, recorded first",
        "also back-dated, recorded second",
        "held back",
    ]


def test_a_link_to_a_worker_of_another_run_is_recorded_by_its_name() -> None:
    """Lanes of two runs number their strings apart: a link across them (an object made
    before a run, shared by two) must name the worker, not carry the other run's id."""
    first, second = Recorder(), Recorder()
    second.intern("Lock-1")  # "Thread-1" gets a different id in each run
    waker = first.binding("Thread-1")
    woken = second.binding("Thread-2")
    woken.record(KIND_CODES[Kind.ACQUIRE], 0, link=woken.link_to(waker))
    assert [(e.worker, e.link) for e in second.take()] == [("Thread-2", "Thread-1")]


def test_a_drain_pauses_the_collector_and_leaves_it_on() -> None:
    """Decoding a batch makes one new tuple an event: with the cyclic collector on,
    its passes (one per 700 new objects) made a drain 6x slower (docs/PERFORMANCE.md),
    so it is paused and makes its one pass after the drain."""
    rec = Recorder()
    for i in range(20_000):
        rec.emit_at(i, "main", Kind.PRINT, detail=i)
    passes: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            passes.append(phase)

    assert gc.isenabled()
    gc.callbacks.append(count)
    try:
        assert len(rec.take()) == 20_000
    finally:
        gc.callbacks.remove(count)
    assert len(passes) <= 1
    assert gc.isenabled()


def test_the_main_lane_starts_by_saying_it_is_the_main_lane() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        pass
    assert [(e.kind, e.detail) for e in rec.take()] == [
        (Kind.START, "main"),
        (Kind.RUN, None),
        (Kind.DONE, None),
    ]


def test_a_lane_started_elsewhere_starts_at_its_measured_time_under_its_band() -> None:
    rec = Recorder()
    rec.band = "processes"
    rec.start_lane("Process-1", LaneKind.PROCESS, at_ns=5)
    assert [(e.t_ns, e.worker, e.kind, e.obj, e.detail) for e in rec.take()] == [
        (5, "Process-1", Kind.START, "processes", "process")
    ]
    assert rec.bands == {"Process-1": "processes"}


def test_an_event_nobody_caused_links_to_nobody() -> None:
    rec = Recorder()
    lane = rec.binding("Thread-1")  # interned first: id 1
    lane.record(KIND_CODES[Kind.RUN], 0, link=lane.link_to(None))
    assert [e.link for e in rec.take()] == [""]
