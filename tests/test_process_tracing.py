"""Process tracing without the server: real children, their batches, their deaths."""

from __future__ import annotations

import gc
import multiprocessing as std_multiprocessing
import os
import signal
import subprocess
import sys
import threading as std_threading
import time as std_time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ctypes import c_bool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.timeline import Kind, LaneKind
from app.traced import child, multiprocessing, threading, time
from app.traced import print as traced_print
from app.traced.supervisor import DRAIN_GRACE_S, Hub
from app.tracing import Recorder, bind, here
from tests.helpers import wait_until
from tests.proc_helpers import alive, children, put_parent_pid


def say_hello(times: int) -> None:
    for i in range(times):
        traced_print(f"hello {i}")


def die_hard(code: int) -> None:
    traced_print("about to vanish")
    os._exit(code)


def nap(seconds: float) -> None:
    time.sleep(seconds)  # traced: checks the stop flag every slice


def ignore_stops(seconds: float) -> None:
    std_time.sleep(seconds)  # untraced: never sees the stop flag


def lane(events: list, worker: str) -> list:
    return [e for e in events if e.worker == worker]


def first_words(rec: Recorder, worker: str) -> list:
    """Wait until `worker`'s first line has run (from then on it looks at the stop flag
    and its lane is known to the parent); the events taken from `rec` meanwhile."""
    seen: list = []

    def running() -> bool:
        seen.extend(rec.take())
        return any(e.worker == worker and e.kind is Kind.RUN for e in seen)

    wait_until(running, timeout=30, what=f"{worker} to start")
    return seen


def one_child_joined(target: Callable[..., object], *args: object) -> Recorder:
    """A run (not yet finalized) whose main started one forkserver child running
    `target(*args)` and joined it."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=target, args=args)
        proc.start()
        proc.join()
    return rec


@pytest.fixture
def no_children_left():
    before = children()
    yield
    assert children() - before == set()


@pytest.mark.usefixtures("no_children_left")
def test_a_process_lane_starts_before_its_first_line_and_ends_done() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        mp = multiprocessing.get_context("forkserver")
        proc = mp.Process(target=say_hello, args=(3,))
        proc.start()
        proc.join()
    rec.finalize()
    events = lane(rec.take(), "Process-1")
    assert [e.kind for e in events[:2]] == [Kind.START, Kind.RUN]
    assert events[0].detail == "process"
    assert events[0].t_ns < events[1].t_ns  # interpreter start-up, measured
    assert [e.detail for e in events if e.kind is Kind.PRINT] == ["hello 0", "hello 1", "hello 2"]
    assert events[-1].kind is Kind.DONE
    assert proc.exitcode == 0


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize(("method", "parent"), [("forkserver", "the forkserver"), ("spawn", "us")])
def test_a_lessons_start_method_is_the_one_its_processes_are_started_by(method: str, parent: str) -> None:
    """The lesson's choice is what the learner compares (forkserver ~10 ms, spawn a fresh
    interpreter ~130 ms): a forked child's parent is the forkserver, a spawned one's is us."""
    told = std_multiprocessing.get_context("spawn").Queue()
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context(method).Process(target=put_parent_pid, args=(told,))
        proc.start()
        proc.join()
    rec.finalize()
    parent_pid = told.get(timeout=60)
    told.close()
    assert proc.exitcode == 0
    assert (parent_pid == os.getpid()) is (parent == "us")


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize(
    ("argument", "code", "end"),
    [
        (0, 0, (Kind.DONE, "sys.exit(0)")),
        (None, 0, (Kind.DONE, "sys.exit(None)")),
        (3, 3, (Kind.CRASH, "sys.exit(3)")),
        ("bye", 1, (Kind.CRASH, "sys.exit('bye')")),  # a message: printed, and exit code 1
    ],
)
def test_a_child_that_calls_sys_exit_ends_with_its_words_and_the_exit_code_python_gives_it(
    argument: object, code: int, end: tuple[Kind, str]
) -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=sys.exit, args=(argument,))
        proc.start()
        proc.join()
    rec.finalize()
    last = lane(rec.take(), "Process-1")[-1]
    assert (last.kind, last.detail) == end
    assert proc.exitcode == code
    assert rec.lane_cpu["Process-1"] > 0  # its last message said how much CPU its lane used


@pytest.mark.usefixtures("no_children_left")
def test_a_child_that_dies_without_a_word_is_marked_crashed_by_the_parent_with_its_exit_code() -> None:
    rec = one_child_joined(die_hard, 7)
    rec.finalize()
    events = lane(rec.take(), "Process-1")
    assert events[-1].kind is Kind.CRASH
    assert events[-1].detail == "exited with code 7 without reporting"


@pytest.mark.usefixtures("no_children_left")
def test_a_stopped_run_tells_its_children_which_end_at_their_next_traced_call() -> None:
    # A grace period longer than the test: if the child did not notice the stop by
    # itself, it would be killed, and its exit code would say so.
    rec = Recorder(stop_grace_s=60)
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=nap, args=(60,))
        proc.start()
    seen = first_words(rec, "Process-1")
    before = set(std_threading.enumerate())
    rec.stop("stopped by a test")
    # The hub's timer for the grace period: a daemon (a server can exit while one waits),
    # and cancelled once the run is over, not left to fire a minute later.
    [timer] = [t for t in set(std_threading.enumerate()) - before if t.name == "interleave-force-end"]
    assert timer.daemon
    rec.finalize()
    assert not timer.is_alive()
    events = lane(seen + rec.take(), "Process-1")
    # The child's own last word, and a clean exit: it ended itself at the stop. (A child
    # that missed the stop would be terminated after the grace period: exit code -15,
    # and the parent's words on its lane.)
    assert (events[-1].kind, events[-1].detail) == (Kind.DONE, "stopped: the run was stopped")
    assert proc.exitcode == 0


def look_at_the_stop_flag_forever() -> None:
    """What every traced call in a child does before its work, and nothing else, in
    three threads at once (a lesson's threads look as often)."""
    rec, _ = here()

    def look() -> None:
        while True:
            rec.check()

    for _ in range(2):
        std_threading.Thread(target=look, daemon=True).start()
    traced_print("looking")
    look()


def kill_while_they_look(rec: Recorder, seen: list, how_many: int) -> None:
    """Start `how_many` children that only look at the stop flag, wait until each has
    said so (the events taken from `rec` go to `seen`), and kill them all at once."""
    mp = multiprocessing.get_context("forkserver")
    lookers = [mp.Process(target=look_at_the_stop_flag_forever) for _ in range(how_many)]
    for looker in lookers:
        looker.start()
    names = {looker.name for looker in lookers}

    def all_looking() -> bool:
        seen.extend(rec.take())
        return names <= {e.worker for e in seen if e.kind is Kind.PRINT}

    wait_until(all_looking, timeout=10, what="the new children to look at the stop flag")
    pids = [looker.pid for looker in lookers if looker.pid is not None]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=10, what="the lookers to die")


@pytest.mark.usefixtures("no_children_left")
def test_children_killed_while_they_look_at_the_stop_flag_leave_the_run_stoppable() -> None:
    """A child can be killed anywhere, in the middle of a look at the stop flag too
    (every traced call takes one). Were that look to take a lock the run's processes
    share, a child killed holding it would keep it: every other child, and the parent
    setting the flag, would wait for it forever. Children doing nothing but look are
    killed, four at a time, 32 in all (a kill lands inside a look now and then, not
    every time); then the run is stopped."""
    before = children()
    rec = Recorder(stop_grace_s=60)  # longer than the test: the napper must end by itself
    seen: list = []
    try:
        with bind(rec, "main", LaneKind.MAIN):
            napper = multiprocessing.get_context("forkserver").Process(target=nap, args=(60,))
            napper.start()
            for _ in range(8):
                kill_while_they_look(rec, seen, 4)
        stopping = std_threading.Thread(target=rec.stop, args=("stopped by a test",), daemon=True)
        stopping.start()
        stopping.join(10)
        assert not stopping.is_alive(), "setting the stop flag waits for a lock a dead child kept"
        wait_until(lambda: napper.exitcode is not None, timeout=10, what="the napper to end at the stop")
    finally:
        for pid in children() - before:  # (left only if the run could not be stopped)
            os.kill(pid, signal.SIGKILL)
    rec.finalize()
    events = lane(seen + rec.take(), "Process-1")
    assert (events[-1].kind, events[-1].detail) == (Kind.DONE, "stopped: the run was stopped")
    assert napper.exitcode == 0


@pytest.mark.usefixtures("no_children_left")
def test_a_child_deaf_to_the_stop_is_terminated_after_the_grace_period() -> None:
    rec = Recorder(stop_grace_s=0.3)
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=ignore_stops, args=(30,))
        proc.start()
    rec.finalize()  # the program "forgot" to join: the finalizer stops, waits, terminates
    events = lane(rec.take(), "Process-1")
    assert proc.exitcode == -15
    assert events[-1].kind is Kind.DONE
    assert "SIGTERM" in events[-1].detail


@pytest.mark.usefixtures("no_children_left")
def test_a_child_deaf_to_the_stop_is_ended_after_the_grace_even_while_main_never_unwinds() -> None:
    """The hub's own timer ends a stopped run's processes: a program stuck where no
    stop reaches it (the runner leaves it behind) cannot keep them running."""
    rec = Recorder(stop_grace_s=0.3)
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=ignore_stops, args=(30,))
        proc.start()
    pid = proc.pid
    assert pid is not None
    stopped = std_time.monotonic()
    rec.stop("stopped by a test")  # and nobody calls finalize(): main is "stuck"
    wait_until(lambda: not alive(pid), timeout=10, what="the hub to end the child")
    assert std_time.monotonic() - stopped >= 0.3  # the grace came first
    rec.finalize()
    assert proc.exitcode == -15  # SIGTERM, from the timer: the child never looked at the stop


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize(
    ("end", "words"), [("terminate", "SIGTERM (exit code -15)"), ("kill", "SIGKILL (exit code -9)")]
)
def test_a_process_the_program_ends_itself_is_drawn_ended_by_the_parent_not_crashed(
    end: str, words: str
) -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=ignore_stops, args=(30,))
        proc.start()
        seen = first_words(rec, "Process-1")
        getattr(proc, end)()
        proc.join()
    rec.finalize()
    events = lane(seen + rec.take(), "Process-1")
    assert (events[-1].kind, events[-1].detail) == (
        Kind.DONE,
        f"ended by the parent: killed by signal {words}",
    )


def square(x: int) -> int:
    return x * x


@pytest.mark.usefixtures("no_children_left")
def test_the_lanes_of_executor_workers_that_never_started_say_they_never_ran() -> None:
    rec = Recorder(stop_grace_s=0.3)
    with bind(rec, "main", LaneKind.MAIN):
        executor = multiprocessing.get_context("forkserver").ProcessPoolExecutor(3)
        assert executor.submit(square, 4).result(timeout=60) == 16  # one task: one worker started
    began = std_time.monotonic()
    rec.finalize()  # never shut down: the run's end does it
    # ...and closes the pipes kept for the two workers that never started, so the
    # drain does not wait out its grace for them
    assert std_time.monotonic() - began < rec.stop_grace_s + DRAIN_GRACE_S / 2
    events = rec.take()
    for unused in ("PoolWorker-2", "PoolWorker-3"):
        last = lane(events, unused)[-1]
        assert (last.kind, last.detail) == (
            Kind.DONE,
            "no word from this worker: it never ran or its last batch was lost",
        )


def cpu_seconds(thread: std_threading.Thread) -> float:
    """CPU time `thread` has used so far, from the kernel's account of it."""
    with open(f"/proc/self/task/{thread.native_id}/schedstat") as stat:
        return int(stat.read().split()[0]) / 1e9


def drain_of_a_new_hub() -> std_threading.Thread:
    """The drain thread the bound run's hub starts (the hub comes with `get_context`)."""
    before = set(std_threading.enumerate())
    multiprocessing.get_context("forkserver")  # no child yet
    [drain] = [t for t in set(std_threading.enumerate()) - before if t.name == "interleave-drain"]
    return drain


def test_a_runs_hub_does_not_outlive_the_run() -> None:
    """The run's record outlives the run (viewers, exports); its hub must not: it holds
    its drain thread, its pipes and shared memory (the children's stop flag), which a
    server running lesson after lesson would otherwise pile up."""
    rec = one_child_joined(say_hello, 1)
    hub = weakref.ref(Hub.of(rec, "forkserver"))  # (as a run's code reaches it; it is the one that ran)
    rec.finalize()
    gc.collect()
    assert hub() is None
    assert [e.detail for e in lane(rec.take(), "Process-1") if e.kind is Kind.PRINT] == ["hello 0"]


@pytest.mark.usefixtures("no_children_left")
def test_a_run_whose_children_are_all_gone_ends_without_waiting_out_the_drain_grace() -> None:
    """The drain's grace is for pipes still open; with every child joined (its pipe
    closed and read to the end) the run's end has nothing to wait for."""
    rec = one_child_joined(say_hello, 1)
    began = std_time.monotonic()
    rec.finalize()
    assert std_time.monotonic() - began < DRAIN_GRACE_S / 2


@pytest.mark.usefixtures("no_children_left")
def test_main_is_drawn_joining_a_child_until_it_ends_not_longer() -> None:
    """`join` waits for the child's last batch too (so that what the program does next
    comes after the child's end on the lanes), but that batch is read as the child
    exits: the join's segment ends with the child's lane, not a timeout later."""
    rec = one_child_joined(say_hello, 1)
    rec.finalize()
    events = rec.take()
    child_end = lane(events, "Process-1")[-1]
    [joined] = [e for e in lane(events, "main") if e.kind is Kind.RUN and e.link == "Process-1"]
    assert child_end.kind is Kind.DONE
    assert joined.t_ns - child_end.t_ns < 0.5e9  # (the timeout it must not wait out: 1 s)


@pytest.mark.usefixtures("no_children_left")
def test_a_process_made_but_never_started_does_not_trouble_the_runs_end() -> None:
    """A program may build a Process and change its mind: the run's end reaps the ones
    that ran and leaves that one be (joining a process never started is an error)."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        ctx.Process(target=say_hello, args=(1,))  # never started
        ran = ctx.Process(target=say_hello, args=(1,))
        ran.start()
        ran.join()
    rec.finalize()  # raises if the run's end fails
    assert [e.kind for e in lane(rec.take(), "Process-2")][-1] is Kind.DONE


def test_a_shared_memory_block_the_program_forgot_is_unlinked_when_the_run_ends() -> None:
    """The run owns the blocks it creates: one left behind by a program that forgot to
    unlink it (or was stopped before it could) must not stay in /dev/shm for good."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        block = multiprocessing.get_context("forkserver").SharedMemory(create=True, size=64)
        where = Path("/dev/shm") / block.name
        assert where.exists()
    rec.finalize()
    leaked = where.exists()
    where.unlink(missing_ok=True)  # not left to the next test run if this one fails
    assert not leaked


# In a fresh interpreter (the forkserver is one per process and keeps the modules it was
# started with), run with `-c` (forkserver children then import no main module): start
# the forkserver as the server or a run does, and ask a child what it started with.
FORKSERVER_CHILD_PRELOADED = """
import multiprocessing, sys
from concurrent.futures import ProcessPoolExecutor
from app.traced import supervisor
from app.tracing import Recorder
rec = Recorder()
if sys.argv[1] == "server":
    supervisor.warm_up()
else:
    supervisor.Hub.of(rec, "forkserver")
with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
    print(pool.submit(eval, "'app.scenarios.proc_work' in __import__('sys').modules").result())
rec.finalize()
"""


@pytest.mark.parametrize("started_by", ["server", "run"])
def test_forkserver_children_start_with_the_lesson_modules_already_loaded(started_by: str) -> None:
    """What makes forkserver cheap: each child is forked from a process that has
    imported the lesson's modules once, so a lesson's process start costs a fork, not
    an import (see "Process start cost" in docs/PERFORMANCE.md). The server starts the
    forkserver at launch (`warm_up`); without that, a run's first process does."""
    probe = subprocess.run(
        [sys.executable, "-c", FORKSERVER_CHILD_PRELOADED, started_by],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.split() == ["True"], probe.stderr


def test_a_pipe_left_open_holds_the_runs_end_for_the_drain_grace_only_and_what_comes_meanwhile_is_kept() -> (
    None
):
    """A child's last batches can still be on their way when its process is gone: the
    run's end reads open pipes for DRAIN_GRACE_S, and then ends even if one never
    closes (here the test holds a child's writing end itself)."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        _, writer = Hub.of(rec, "forkserver").channel("Process-9")
    late_word = (rec.now(), "Process-9", Kind.PRINT, "", "sent while the run ends", "")
    ending = std_threading.Event()

    def send_while_the_run_ends() -> None:
        ending.wait(10)
        std_time.sleep(0.3)  # well inside the grace: the run is ending by then
        writer.send(("Process-9", os.getpid(), [late_word]))

    sender = std_threading.Thread(target=send_while_the_run_ends)
    sender.start()
    ending.set()
    began = std_time.monotonic()
    rec.finalize()
    took = std_time.monotonic() - began
    sender.join()
    writer.close()
    assert [e.detail for e in lane(rec.take(), "Process-9")] == ["sent while the run ends"]
    assert 0.9 * DRAIN_GRACE_S <= took < DRAIN_GRACE_S + 0.5


def test_a_stop_that_comes_after_the_hub_ended_its_processes_starts_no_grace_timer() -> None:
    """`force_end` is final: a stop arriving after it (a viewer's stop racing the run's
    end) has nothing left to give a grace period to, and must leave no timer behind."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        hub = Hub.of(rec, "forkserver")
    hub.force_end()
    before = set(std_threading.enumerate())
    rec.stop("stopped by a viewer, late")
    started = [t.name for t in set(std_threading.enumerate()) - before]
    rec.finalize()
    assert started == []


def test_a_runs_drain_thread_sleeps_while_it_has_nothing_to_read() -> None:
    """Every run with processes has a drain thread for its whole life: between batches
    it must sleep, not spin (a spinning one would take a core from the lesson)."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        drain = drain_of_a_new_hub()
        used = cpu_seconds(drain)
        std_threading.Event().wait(1.0)
        used = cpu_seconds(drain) - used
    rec.finalize()
    assert used < 0.05  # ~100 short looks a second; a spinning loop takes most of a core


def test_a_runs_drain_thread_is_a_named_daemon() -> None:
    """Named for a stack dump; a daemon, so that a drain that never ends cannot hold up
    the server's exit."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        drain = drain_of_a_new_hub()  # found by its name
    rec.finalize()
    assert drain.daemon


@dataclass
class AChild:
    """A `ChildRecorder` as a child process makes one, seen from the parent's side."""

    rec: child.ChildRecorder
    reader: Any  # the parent's end of its pipe
    stop: Any  # the run's stop flag
    flusher: std_threading.Thread

    def messages(self) -> list[tuple[Any, ...]]:
        """Every message it sent, until it closed."""
        received = []
        while self.reader.poll(5):
            try:
                received.append(self.reader.recv())
            except EOFError:
                break
        return received

    def shipped(self) -> list[tuple[Any, ...]]:
        """Every raw event it sent, in order."""
        return [raw for _, _, batch, *_ in self.messages() for raw in batch]


@contextmanager
def a_child(lane: str = "Process-9") -> Iterator[AChild]:
    reader, writer = std_multiprocessing.Pipe(duplex=False)
    stop = std_multiprocessing.get_context("spawn").RawValue(c_bool, False)
    before = set(std_threading.enumerate())
    rec = child.ChildRecorder(writer, stop, std_time.monotonic_ns(), lane)
    [flusher] = [t for t in set(std_threading.enumerate()) - before if t.name == "interleave-flush"]
    try:
        yield AChild(rec, reader, stop, flusher)
    finally:
        rec.close()
        reader.close()


def spin(seconds: float) -> None:
    until = std_time.thread_time() + seconds
    while std_time.thread_time() < until:
        pass


def test_a_child_ships_its_events_in_batches_not_one_message_per_event() -> None:
    with a_child() as it:
        for i in range(1000):
            it.rec.emit("Process-9", Kind.PRINT, detail=str(i))
        it.rec.close()
        messages = it.messages()
    shipped = [raw for _, _, batch, *_ in messages for raw in batch]
    assert [raw[4] for raw in shipped] == [str(i) for i in range(1000)]  # all of them, in order
    assert len(messages) <= 1000 // child.FLUSH_EVENTS + 2


def test_a_childs_flusher_is_a_named_daemon() -> None:
    """Named for a stack dump (that is how `a_child` finds it); a daemon, so that it
    cannot keep a dying child alive."""
    with a_child() as it:
        assert it.flusher.daemon


def test_a_child_lane_counts_its_own_cpu_time_and_is_sampled_only_while_it_lives() -> None:
    """A process's lane: the CPU time it reports is what its main thread used from its
    first line to its end; while it lives the sampler draws its waits for the
    interpreter (here a thread of the same process competes for it), and nothing is
    drawn on it after its end."""
    rival = std_threading.Thread(target=spin, args=(0.5,))
    with a_child("P") as it:
        rec = it.rec
        with bind(rec, "P"):  # as process_main binds it: the lane's own calls say when it begins and ends
            rec.lane_began(LaneKind.PROCESS)
            rival.start()
            spin(0.15)
            rec.lane_ending()
            rec.emit("P", Kind.DONE)
        # the thread goes on competing with the rival, and the sampler still runs: it
        # must leave the ended lane alone
        spin(0.1)
        rival.join()
        rec.close()
        events = [raw for raw in it.shipped() if raw[1] == "P"]
    assert 0.15e9 <= rec.lane_cpu["P"] < 0.3e9
    assert any(raw[2] is Kind.GIL for raw in events), "no wait for the interpreter drawn"
    assert events[-1][2] is Kind.DONE


def test_an_idle_child_sends_nothing_and_its_flusher_sleeps() -> None:
    """Between events a child's flusher wakes every FLUSH_S to look, and sends only
    when there is something to send: an idle worker costs neither CPU nor messages."""
    with a_child() as it:
        for i in range(child.FLUSH_EVENTS):  # a full batch wakes the flusher at once...
            it.rec.emit("Process-9", Kind.PRINT, detail=str(i))
        _, _, batch = it.reader.recv()
        assert len(batch) == child.FLUSH_EVENTS
        used = cpu_seconds(it.flusher)  # ...and it goes back to sleep after it
        assert not it.reader.poll(0.3)
        assert cpu_seconds(it.flusher) - used < 0.05  # ~30 looks; a loop that never waits takes the 0.3 s
        began = std_time.monotonic()
        it.rec.close()
        assert std_time.monotonic() - began < 0.5  # a child's exit is not held up by its flusher


def test_a_childs_last_message_carries_its_cpu_time_even_with_no_event_left_to_send() -> None:
    with a_child("P") as it:
        with bind(it.rec, "P"):
            it.rec.lane_began(LaneKind.PROCESS)
            it.rec.lane_ending()
        it.rec.flush(everything=True)  # everything already sent: the last message is empty
        it.rec.close()
        lane, _, batch, cpu_ns = it.messages()[-1]
    assert (lane, batch) == ("P", [])
    assert cpu_ns == it.rec.lane_cpu["P"]


def test_a_childs_stop_flag_follows_the_parents() -> None:
    with a_child() as it:
        it.rec.check()
        it.stop.value = True
        with pytest.raises(multiprocessing.Stop):
            it.rec.check()


def test_plain_fork_is_refused() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN), pytest.raises(ValueError, match="fork"):
        multiprocessing.get_context("fork")


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (-9, "killed by signal SIGKILL (exit code -9)"),
        (-15, "killed by signal SIGTERM (exit code -15)"),
        (-99, "killed by signal 99"),  # a number with no name
        (3, "exited with code 3 without reporting"),
        (0, "exited with code 0 without reporting"),  # os._exit(0): no word, no signal
        (None, "died without reporting (exit code unknown)"),
    ],
)
def test_exit_codes_are_described_in_words(code: int | None, words: str) -> None:
    assert multiprocessing.describe_exit(code) == words


def test_two_runs_get_separate_hubs_and_lanes() -> None:
    first, second = Recorder(), Recorder()
    done = std_threading.Barrier(2, timeout=10)

    def one_run(rec: Recorder) -> None:
        with bind(rec, "main", LaneKind.MAIN):
            proc = multiprocessing.get_context("forkserver").Process(target=say_hello, args=(2,))
            proc.start()
            proc.join()
        done.wait()
        rec.finalize()

    threads = [std_threading.Thread(target=one_run, args=(rec,)) for rec in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for rec in (first, second):
        events = rec.take()
        assert {e.worker for e in events} == {"main", "Process-1"}
        assert [e.detail for e in events if e.kind is Kind.PRINT] == ["hello 0", "hello 1"]


def test_a_wait_for_a_lock_shared_with_processes_is_drawn_and_the_holder_keeps_it() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        lock = multiprocessing.get_context("forkserver").Lock(name="shared")
        assert lock.acquire()
        refused: list[bool] = []
        waiter = threading.Thread(target=lambda: refused.append(lock.acquire(timeout=0.02)))
        waiter.start()
        waiter.join()
        assert refused == [False]
        taker = threading.Thread(target=lambda: lock.acquire() and lock.release())
        taker.start()
        wait_until(lambda: rec.waiting_for.get("Thread-2") == "shared", what="Thread-2 to wait")
        lock.release()
        taker.join()
        assert lock.acquire(blocking=False)
        lock.release()
    rec.finalize()
    events = rec.take()
    assert [(e.kind, e.detail) for e in events if e.worker == "Thread-1" and e.obj == "shared"] == [
        (Kind.WAIT, None),
        (Kind.RUN, "timed out"),
    ]
    assert [e.kind for e in events if e.worker == "Thread-2" and e.obj == "shared"] == [
        Kind.WAIT,
        Kind.RUN,
        Kind.ACQUIRE,
        Kind.RELEASE,
    ]
