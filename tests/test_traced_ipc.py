"""The traced IPC wrappers (app/traced/ipc.py) around real multiprocessing objects, used
from the lanes of one process: they keep the standard library's contract (items,
return values, Full and Empty, timeouts) and draw who sent what to whom, who waited,
and for how long. Children use the same classes; tests/test_process_scenarios.py shows
them across processes."""

from __future__ import annotations

import multiprocessing
import queue as std_queue
import threading as std_threading
import time as std_time
from collections.abc import Callable

import pytest

from app.timeline import Event, Kind, LaneKind
from app.traced import ipc, threading
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until

BOUND_S = 5.0  # far beyond a slice (a stopped wait ends within one) or a hand-over


def of(events: list[Event], worker: str) -> list[tuple[Kind, str, object, str]]:
    return [
        (e.kind, e.obj, e.detail, e.link) for e in events if e.worker == worker and e.kind is not Kind.START
    ]


def waiting(rec: Recorder, worker: str, obj: str) -> None:
    wait_until(lambda: rec.waiting_for.get(worker) == obj, what=f"{worker} to wait for {obj}")


def in_a_lane(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work)
    thread.start()
    return thread


def joined(thread: threading.Thread) -> None:
    std_threading.Thread.join(thread, BOUND_S)
    assert not thread.is_alive(), f"{thread.name} is still blocked"


# --- Queue -----------------------------------------------------------------------------
def test_each_item_got_names_its_sender_and_its_number_among_the_senders_puts() -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(), "Queue-1")
    with bind(rec, "main", LaneKind.MAIN):
        sender = in_a_lane(lambda: [q.put(item) for item in ("a", "b")])
        joined(sender)
        got = [q.get(), q.get()]
    assert got == ["a", "b"]
    events = rec.take()
    assert [e for e in of(events, "Thread-1") if e[0] is Kind.PUT] == [
        (Kind.PUT, "Queue-1 #1", "'a'", ""),
        (Kind.PUT, "Queue-1 #2", "'b'", ""),
    ]
    assert [e for e in of(events, "main") if e[0] is Kind.GET] == [
        (Kind.GET, "Queue-1 #1", "'a'", "Thread-1"),
        (Kind.GET, "Queue-1 #2", "'b'", "Thread-1"),
    ]


def test_a_get_from_an_empty_queue_waits_until_an_item_is_put_and_links_to_its_sender() -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(), "Queue-1")
    with bind(rec, "main", LaneKind.MAIN):
        got: list[object] = []
        getter = in_a_lane(lambda: got.append(q.get()))
        waiting(rec, "Thread-1", "Queue-1")
        q.put(42)
        joined(getter)
    assert got == [42]
    assert of(rec.take(), "Thread-1")[:-1] == [
        (Kind.RUN, "", None, ""),
        (Kind.WAIT, "Queue-1", None, ""),
        (Kind.RUN, "Queue-1", None, ""),
        (Kind.GET, "Queue-1 #1", "42", "main"),
    ]


def test_a_get_that_may_not_wait_raises_empty_at_once_and_draws_no_wait() -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(), "Queue-1")
    with bind(rec, "main", LaneKind.MAIN), pytest.raises(std_queue.Empty):
        q.get(block=False)
    assert [e for e in of(rec.take(), "main") if e[0] in (Kind.WAIT, Kind.GET)] == []


def test_a_get_with_a_timeout_raises_empty_after_it_and_says_the_wait_timed_out() -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(), "Queue-1")
    with bind(rec, "main", LaneKind.MAIN):
        began = std_time.monotonic()
        with pytest.raises(std_queue.Empty):
            q.get(timeout=0.1)
        assert std_time.monotonic() - began >= 0.1
    assert of(rec.take(), "main")[1:3] == [
        (Kind.WAIT, "Queue-1", None, ""),
        (Kind.RUN, "Queue-1", "timed out", ""),
    ]


def test_a_put_into_a_full_queue_that_may_not_wait_raises_full_and_records_no_put() -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(maxsize=1), "Queue-1")
    with bind(rec, "main", LaneKind.MAIN):
        q.put("first")
        with pytest.raises(std_queue.Full):
            q.put("second", block=False)
        with pytest.raises(std_queue.Full):
            q.put("third", timeout=0.05)
        assert q.get() == "first"
    puts = [e for e in of(rec.take(), "main") if e[0] in (Kind.PUT, Kind.WAIT, Kind.RUN)]
    assert puts == [
        (Kind.RUN, "", None, ""),
        (Kind.PUT, "Queue-1 #1", "'first'", ""),
        (Kind.WAIT, "Queue-1", None, ""),  # only the put that may wait draws its wait
        (Kind.RUN, "Queue-1", "timed out", ""),
    ]


def test_a_put_into_a_full_queue_waits_for_room_and_is_drawn_when_its_item_went_in() -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(maxsize=1), "Queue-1")
    with bind(rec, "main", LaneKind.MAIN):
        q.put("first")
        putter = in_a_lane(lambda: q.put("second"))
        waiting(rec, "Thread-1", "Queue-1")
        room_made_at = rec.now()
        assert q.get() == "first"
        joined(putter)
        assert q.get() == "second"
    events = rec.take()
    mine = [e for e in events if e.worker == "Thread-1" and e.kind in (Kind.WAIT, Kind.RUN, Kind.PUT)]
    assert [(e.kind, e.obj) for e in mine] == [
        (Kind.RUN, ""),
        (Kind.WAIT, "Queue-1"),
        (Kind.PUT, "Queue-1 #2"),  # the wrapper counts its process's puts: main's was #1
        (Kind.RUN, "Queue-1"),
    ]
    # The put is drawn where its item went in: once room was made, as the wait ended.
    assert room_made_at <= mine[2].t_ns <= mine[3].t_ns


@pytest.mark.parametrize("op", ["get", "put"])
def test_a_run_stopped_while_a_lane_waits_on_a_queue_ends_that_wait(op: str) -> None:
    rec = Recorder()
    q = ipc.Queue(multiprocessing.Queue(maxsize=1), "Queue-1")
    stopped: list[BaseException] = []

    def wait_on_the_queue() -> None:
        try:
            q.get() if op == "get" else q.put("no room")
        except Stop as stop:
            stopped.append(stop)
            raise

    with bind(rec, "main", LaneKind.MAIN):
        if op == "put":
            q.put("fills it")
        waiter = in_a_lane(wait_on_the_queue)
        waiting(rec, "Thread-1", "Queue-1")
        rec.stop("the teacher pressed Stop")
        joined(waiter)
    assert [str(s) for s in stopped] == ["the teacher pressed Stop"]


@pytest.mark.parametrize("op", ["get", "put"])
def test_a_stopped_run_refuses_queue_calls_before_they_touch_the_queue(op: str) -> None:
    rec = Recorder()
    inner = multiprocessing.Queue()
    q = ipc.Queue(inner, "Queue-1")
    inner.put(("main", "Queue-1 #0", "already there"))
    with bind(rec, "main", LaneKind.MAIN):
        rec.stop("time limit")
        with pytest.raises(Stop):
            q.get() if op == "get" else q.put("late")
    assert inner.get(timeout=BOUND_S)[2] == "already there"  # the stopped get took nothing
    assert inner.empty() or op == "get"  # ... and the stopped put added nothing


# --- Pipe ends -------------------------------------------------------------------------
def test_a_recv_waits_for_the_other_end_and_names_the_sender() -> None:
    rec = Recorder()
    here_end, there_end = multiprocessing.Pipe()
    mine, theirs = ipc.Connection(here_end, "Pipe-1"), ipc.Connection(there_end, "Pipe-1")
    with bind(rec, "main", LaneKind.MAIN):
        got: list[object] = []
        receiver = in_a_lane(lambda: got.append(theirs.recv()))
        waiting(rec, "Thread-1", "Pipe-1")
        mine.send("hello")
        mine.send("again")
        joined(receiver)
        assert theirs.recv() == "again"  # waiting already: no wait drawn
    assert got == ["hello"]
    events = rec.take()
    assert [e for e in of(events, "main") if e[0] is Kind.PUT] == [
        (Kind.PUT, "Pipe-1 #1", "'hello'", ""),
        (Kind.PUT, "Pipe-1 #2", "'again'", ""),
    ]
    assert of(events, "Thread-1")[1:4] == [
        (Kind.WAIT, "Pipe-1", None, ""),
        (Kind.RUN, "Pipe-1", None, ""),
        (Kind.GET, "Pipe-1 #1", "'hello'", "main"),
    ]
    assert (Kind.WAIT, "Pipe-1", None, "") not in of(events, "main")


def test_a_recv_from_a_closed_pipe_raises_eof_error_as_the_standard_one_does() -> None:
    rec = Recorder()
    here_end, there_end = multiprocessing.Pipe()
    mine, theirs = ipc.Connection(here_end, "Pipe-1"), ipc.Connection(there_end, "Pipe-1")
    with bind(rec, "main", LaneKind.MAIN):
        mine.close()
        with pytest.raises(EOFError):
            theirs.recv()
    assert [e for e in of(rec.take(), "main") if e[0] in (Kind.WAIT, Kind.GET)] == []


def test_pipe_calls_in_a_stopped_run_raise_stop_and_neither_send_nor_take() -> None:
    rec = Recorder()
    here_end, there_end = multiprocessing.Pipe()
    mine, theirs = ipc.Connection(here_end, "Pipe-1"), ipc.Connection(there_end, "Pipe-1")
    here_end.send(("main", "Pipe-1 #0", "already there"))
    with bind(rec, "main", LaneKind.MAIN):
        rec.stop("time limit")
        with pytest.raises(Stop):
            mine.send("late")
        with pytest.raises(Stop):
            theirs.recv()
    assert there_end.recv()[2] == "already there"  # the stopped recv took nothing
    assert not there_end.poll()  # and the stopped send sent nothing


# --- a lock shared by processes ----------------------------------------------------------
def test_a_shared_lock_held_elsewhere_refuses_a_try_at_once_and_a_timed_acquire_after_it() -> None:
    rec = Recorder()
    lock = ipc.SharedLock(multiprocessing.Lock(), "Lock-1")
    holding, release = std_threading.Event(), std_threading.Event()

    def hold() -> None:
        with lock:
            holding.set()
            release.wait()

    with bind(rec, "main", LaneKind.MAIN):
        holder = in_a_lane(hold)
        assert holding.wait(BOUND_S)
        assert lock.acquire(blocking=False) is False
        began = std_time.monotonic()
        assert lock.acquire(timeout=0.1) is False
        assert std_time.monotonic() - began >= 0.1
        release.set()
        joined(holder)
        assert lock.acquire() is True
        lock.release()
    assert [e for e in of(rec.take(), "main") if e[1] == "Lock-1"] == [
        (Kind.WAIT, "Lock-1", None, ""),  # the try drew nothing; the timed acquire waited
        (Kind.RUN, "Lock-1", "timed out", ""),
        (Kind.ACQUIRE, "Lock-1", None, ""),
        (Kind.RELEASE, "Lock-1", None, ""),
    ]


def test_a_shared_lock_wait_ends_when_the_holder_releases_it() -> None:
    rec = Recorder()
    lock = ipc.SharedLock(multiprocessing.Lock(), "Lock-1")
    with bind(rec, "main", LaneKind.MAIN):
        lock.acquire()
        waiter = in_a_lane(lambda: lock.acquire() and lock.release())
        waiting(rec, "Thread-1", "Lock-1")
        lock.release()
        joined(waiter)
    assert of(rec.take(), "Thread-1")[1:5] == [
        (Kind.WAIT, "Lock-1", None, ""),
        (Kind.RUN, "Lock-1", None, ""),
        (Kind.ACQUIRE, "Lock-1", None, ""),
        (Kind.RELEASE, "Lock-1", None, ""),
    ]


def test_a_stopped_run_refuses_a_shared_lock_and_leaves_it_free() -> None:
    rec = Recorder()
    inner = multiprocessing.Lock()
    lock = ipc.SharedLock(inner, "Lock-1")
    with bind(rec, "main", LaneKind.MAIN):
        rec.stop("time limit")
        with pytest.raises(Stop):
            lock.acquire()
    assert inner.acquire(False)


# --- Value and Array ----------------------------------------------------------------------
def test_value_and_array_record_each_read_and_write_with_what_was_seen() -> None:
    rec = Recorder()
    value = ipc.Value(multiprocessing.Value("i", 1), "Value-1")
    array = ipc.Array(multiprocessing.Array("i", [10, 20]), "Array-1")
    with bind(rec, "main", LaneKind.MAIN):
        value.value = value.value + 1
        array[1] = array[0] + 5
        assert (value.peek(), array.peek(), len(array)) == (2, [10, 15], 2)
        with value.get_lock():
            pass
        with array.get_lock():
            pass
    assert of(rec.take(), "main")[1:-1] == [
        (Kind.READ, "Value-1", 1, ""),
        (Kind.WRITE, "Value-1", 2, ""),
        (Kind.READ, "Array-1[0]", 10, ""),
        (Kind.WRITE, "Array-1[1]", 15, ""),
        (Kind.ACQUIRE, "Value-1.lock", None, ""),
        (Kind.RELEASE, "Value-1.lock", None, ""),
        (Kind.ACQUIRE, "Array-1.lock", None, ""),
        (Kind.RELEASE, "Array-1.lock", None, ""),
    ]


TOUCHES: dict[str, Callable[[ipc.Value, ipc.Array], object]] = {
    "read value": lambda value, array: value.value,
    "write value": lambda value, array: setattr(value, "value", 9),
    "read item": lambda value, array: array[0],
    "write item": lambda value, array: array.__setitem__(0, 9),
}


@pytest.mark.parametrize("touch", TOUCHES)
def test_shared_memory_in_a_stopped_run_is_neither_read_nor_written(touch: str) -> None:
    rec = Recorder()
    inner_value, inner_array = multiprocessing.Value("i", 1), multiprocessing.Array("i", [1])
    value, array = ipc.Value(inner_value, "Value-1"), ipc.Array(inner_array, "Array-1")
    with bind(rec, "main", LaneKind.MAIN):
        rec.stop("time limit")
        with pytest.raises(Stop):
            TOUCHES[touch](value, array)
    assert (inner_value.value, inner_array[0]) == (1, 1)
    assert not [e for e in rec.take() if e.kind in (Kind.READ, Kind.WRITE)]
