"""The gate on its own: real threads parked before their operations, a scheduler
letting them through one at a time. (The lessons stepped over the API are in
tests/test_stepping_api.py; the schedule search in tests/test_explore.py.)

Every wait here ends on the state it waits for (a worker parked, a step answered);
the few bounded `join`s check that something is *still* blocked, which no machine
load can make untrue.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from app.gate import SCHEDULER, CannotStep, Gate, UnknownWorker
from app.sampler import Sampler
from app.timeline import Kind, LaneKind
from app.traced import time as traced_time
from app.tracing import Recorder, bind
from tests.helpers import wait_until

Op = tuple[str, str]  # (op, obj)


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.stop("the test is over")  # whoever is still parked unwinds


class Lane(threading.Thread):
    """A worker of a gated run: before each operation it parks at the gate, then
    notes in `done` that it performed it. `between` runs after each operation (the
    untraced code up to its next gate)."""

    def __init__(
        self,
        gate: Gate,
        name: str,
        ops: list[Op],
        done: list[tuple[str, str]],
        between: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__(name=f"test-{name}", daemon=True)
        self.gate, self.lane, self.ops, self.done, self.between = gate, name, ops, done, between
        self.lines: list[int] = []  # the line of each `before` call, as a lesson's line

    def run(self) -> None:
        with bind(self.gate.rec, self.lane, LaneKind.THREAD):
            for op, obj in self.ops:
                self.lines.append(sys._getframe().f_lineno + 1)
                self.gate.before(self.lane, op, obj)
                self.done.append((self.lane, op))
                self.between()


def gated(rec: Recorder, **options: bool) -> Gate:
    """A gate on `rec`'s run, as step, replay and explore attach one (a lane that
    ends tells the gate so)."""
    gate = Gate(rec, **options)
    rec.gate = gate
    return gate


def parked(gate: Gate, *workers: str) -> None:
    wait_until(lambda: {p.worker for p in gate.pending()} >= set(workers), what=f"{workers} parked")


def start(gate: Gate, lanes: list[Lane]) -> None:
    for lane in lanes:
        gate.arriving(lane.lane)  # as a traced Thread.start says
        lane.start()
    assert gate.wait_settled(5)


def lane_events(rec: Recorder, worker: str) -> list[tuple[str, str]]:
    return [(e.kind, e.obj) for e in rec.take() if e.worker == worker]


def test_workers_go_in_the_order_they_are_stepped_one_operation_each(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    a = Lane(gate, "A", [("read", "x"), ("write", "x")], done)
    b = Lane(gate, "B", [("read", "x"), ("write", "x")], done)
    start(gate, [a, b])
    assert done == []  # nobody performs an operation before it is stepped
    for worker in ["B", "A", "A", "B"]:
        assert gate.step(worker, timeout=5)  # returns once it has parked again or ended
    assert done == [("B", "read"), ("A", "read"), ("A", "write"), ("B", "write")]
    assert gate.schedule == ["B", "A", "A", "B"]
    a.join(5)
    b.join(5)
    assert gate.has_left("A")
    assert gate.has_left("B")
    assert gate.live() == []


def test_each_parked_worker_reports_its_next_operation_in_lane_order(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    gate.arriving("B")  # B appeared first, though A parks first
    a = Lane(gate, "A", [("acquire", "lock"), ("release", "lock")], done)
    gate.arriving("A")
    a.start()
    parked(gate, "A")
    b = Lane(gate, "B", [("print", "")], done)
    b.start()
    assert gate.wait_settled(5)
    pending = gate.pending()
    assert [(p.worker, p.op, p.obj, p.ready, p.waiting) for p in pending] == [
        ("B", "print", "", True, False),  # no `ready` given: it can always go
        ("A", "acquire", "lock", True, False),
    ]
    # where each stands: the line of the caller (here the test's Lane), not the gate's
    assert {(p.file, p.line) for p in pending} == {(__file__, a.lines[0]), (__file__, b.lines[0])}
    assert gate.live() == ["B", "A"]
    gate.step("A", 5)
    assert [(p.worker, p.op) for p in gate.pending()] == [("B", "print"), ("A", "release")]
    assert gate.pending()[1].line == a.lines[1]


def test_a_worker_whose_callers_are_all_machinery_stands_at_no_line(rec: Recorder) -> None:
    gate = gated(rec)
    for worker, where in (("T", {"where": ("f.py", 7)}), ("U", {})):
        gate.arriving(worker)  # its caller is threading's own code: no lesson line, unless given one
        threading.Thread(
            target=gate.before, args=(worker, "start", worker), kwargs=where, daemon=True
        ).start()
    assert gate.wait_settled(5)
    assert [(p.worker, p.file, p.line) for p in gate.pending()] == [("T", "f.py", 7), ("U", "", 0)]


def test_a_parked_lane_is_drawn_waiting_for_the_scheduler_until_stepped(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    start(gate, [Lane(gate, "A", [("read", "x")], done)])
    assert lane_events(rec, "A") == [(Kind.RUN, ""), (Kind.WAIT, SCHEDULER)]
    gate.step("A", 5)
    assert lane_events(rec, "A") == [(Kind.RUN, SCHEDULER), (Kind.DONE, "")]


def test_a_worker_already_in_its_wait_parks_without_a_second_wait(rec: Recorder) -> None:
    """A worker stepped into an operation that cannot proceed draws the `wait` for
    that object itself (the traced primitive does); parking again adds nothing."""
    gate = gated(rec)
    free = threading.Event()

    def waiter() -> None:
        with bind(rec, "W", LaneKind.THREAD):
            gate.before("W", "acquire", "lock", ready=free.is_set, waiting=True)

    gate.arriving("W")
    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    assert gate.wait_settled(5)
    [pending] = gate.pending()
    assert (pending.ready, pending.waiting) == (False, True)
    free.set()
    assert gate.pending()[0].ready  # asked again: the scheduler sees it can go on now
    assert gate.step("W", 5)
    thread.join(5)
    assert lane_events(rec, "W") == [(Kind.RUN, ""), (Kind.DONE, "")]


def test_a_waiting_worker_cannot_be_stepped_until_its_wait_can_end(rec: Recorder) -> None:
    gate = gated(rec)
    free = threading.Event()
    done: list[str] = []

    def waiter() -> None:
        with bind(rec, "W", LaneKind.THREAD):
            gate.before("W", "acquire", "lock", ready=free.is_set, waiting=True)
            done.append("W")

    gate.arriving("W")
    threading.Thread(target=waiter, daemon=True).start()
    assert gate.wait_settled(5)
    with pytest.raises(CannotStep, match=r"W is waiting in its acquire of lock: .*step another worker"):
        gate.step("W", 5)
    assert done == []
    assert gate.schedule == []
    free.set()
    assert gate.step("W", 5)
    assert done == ["W"]
    assert gate.schedule == ["W"]


def test_a_worker_not_yet_waiting_is_stepped_even_if_its_operation_would_block(rec: Recorder) -> None:
    """Stepping it into its wait is how the wait (and a deadlock) gets drawn."""
    gate = gated(rec)
    done: list[str] = []

    def blocked() -> None:
        with bind(rec, "W", LaneKind.THREAD):
            gate.before("W", "acquire", "lock", ready=lambda: False)
            done.append("W")

    gate.arriving("W")
    threading.Thread(target=blocked, daemon=True).start()
    assert gate.wait_settled(5)
    assert [(p.ready, p.waiting) for p in gate.pending()] == [(False, False)]
    assert gate.step("W", 5)
    assert done == ["W"]


def test_a_step_waits_for_the_untraced_code_after_the_operation(rec: Recorder) -> None:
    """Between two gates a worker runs plain code as long as it takes; the step
    answers only once it has parked again."""
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    go_on = threading.Event()
    start(gate, [Lane(gate, "A", [("read", "x"), ("write", "x")], done, between=go_on.wait)])
    answer: list[bool] = []
    stepper = threading.Thread(target=lambda: answer.append(gate.step("A", timeout=30)), daemon=True)
    stepper.start()
    wait_until(lambda: done == [("A", "read")], what="A's read")
    stepper.join(0.05)
    assert stepper.is_alive()  # A is still in its untraced code: no answer yet
    go_on.set()
    stepper.join(30)
    assert answer == [True]
    assert [(p.worker, p.op) for p in gate.pending()] == [("A", "write")]


def test_a_step_that_does_not_reach_the_next_gate_in_time_says_so(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    never = threading.Event()
    start(gate, [Lane(gate, "A", [("read", "x"), ("write", "x")], done, between=never.wait)])
    assert not gate.step("A", timeout=0.2)
    assert gate.pending() == []  # running: not offered for a step
    assert not gate.stuck()  # and not stuck: it runs
    with pytest.raises(CannotStep, match="A is not at a gate yet"):
        gate.step("A", timeout=0.2)
    never.set()
    assert gate.wait_settled(5)
    assert gate.pending()[0].op == "write"


def test_a_step_asked_before_the_worker_reaches_its_first_gate_waits_for_it(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    lane = Lane(gate, "A", [("read", "x")], done)
    gate.arriving("A")  # started, not yet at its first gate
    answer: list[bool] = []
    stepper = threading.Thread(target=lambda: answer.append(gate.step("A", timeout=30)), daemon=True)
    stepper.start()
    stepper.join(0.05)
    assert stepper.is_alive()  # it waits for A rather than refusing it
    lane.start()
    stepper.join(30)
    assert answer == [True]
    assert done == [("A", "read")]


def test_the_gate_is_not_settled_while_a_new_worker_is_on_its_way(rec: Recorder) -> None:
    gate = gated(rec)
    assert gate.wait_settled(5)  # nobody at all: settled
    gate.arriving("A")
    assert not gate.wait_settled(0.1)
    assert gate.live() == ["A"]
    gate.left("A")  # it ended before reaching any gate (an error in its first line)
    assert gate.wait_settled(5)
    assert gate.has_left("A")
    with pytest.raises(CannotStep, match="A has finished: it has no operation left"):
        gate.step("A", 5)


def test_a_scheduler_waiting_for_a_worker_is_let_go_when_the_run_stops(rec: Recorder) -> None:
    gate = gated(rec)
    gate.arriving("A")  # never arrives
    answer: list[bool] = []
    waiter = threading.Thread(target=lambda: answer.append(gate.wait_settled(60)), daemon=True)
    waiter.start()
    rec.stop("the learner pressed stop")
    waiter.join(5)
    assert answer == [False]


def test_once_the_run_stops_parked_workers_unwind_and_nobody_parks_again(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    lanes = [Lane(gate, "A", [("read", "x"), ("write", "x")], done)]
    start(gate, lanes)
    rec.stop("deadlock")
    lanes[0].join(5)
    assert not lanes[0].is_alive()
    assert done == [("A", "read"), ("A", "write")]  # the gate no longer holds anyone
    # drawn: waiting for the scheduler, then its end; no `run` (it did not run a step)
    assert lane_events(rec, "A") == [(Kind.RUN, ""), (Kind.WAIT, SCHEDULER), (Kind.DONE, "")]
    with pytest.raises(CannotStep, match=r"the run has been stopped \(deadlock\)"):
        gate.step("B", 5)
    assert not gate.wait_settled(5)


def test_stepping_an_unknown_worker_names_the_live_ones(rec: Recorder) -> None:
    gate = gated(rec)
    with pytest.raises(UnknownWorker, match=r"no worker 'T' in this run; the live workers: none yet"):
        gate.step("T", 5)
    done: list[tuple[str, str]] = []
    start(gate, [Lane(gate, "A", [("read", "x")], done), Lane(gate, "B", [("read", "x")], done)])
    gate.step("A", 5)  # A has finished
    with pytest.raises(UnknownWorker, match=r"the live workers: B$"):
        gate.step("T", 5)


def test_stuck_only_when_every_live_worker_waits_and_none_can_go_on(rec: Recorder) -> None:
    gate = gated(rec)
    assert not gate.stuck()  # nobody: nothing is stuck
    free = {"A": threading.Event(), "B": threading.Event()}

    def waiter(name: str) -> None:
        with bind(rec, name, LaneKind.THREAD):
            gate.before(name, "acquire", "lock", ready=free[name].is_set, waiting=True)

    done: list[tuple[str, str]] = []
    ended = Lane(gate, "E", [("print", "")], done)
    start(gate, [ended])
    gate.step("E", 5)  # ended lanes do not count
    for name in free:
        gate.arriving(name)
        threading.Thread(target=waiter, args=(name,), daemon=True).start()
    assert gate.wait_settled(5)
    assert gate.stuck()
    free["B"].set()  # B's wait could end now, when stepped
    assert not gate.stuck()
    free["B"].clear()
    gate.arriving("C")  # on its way: it may yet free someone
    assert not gate.stuck()
    gate.left("C")  # it ended before its first gate
    assert gate.stuck()


def test_a_parked_worker_not_in_a_wait_is_not_stuck(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    start(gate, [Lane(gate, "A", [("acquire", "lock")], done)])

    def waiter() -> None:
        with bind(rec, "W", LaneKind.THREAD):
            gate.before("W", "acquire", "lock", ready=lambda: False, waiting=True)

    gate.arriving("W")
    threading.Thread(target=waiter, daemon=True).start()
    assert gate.wait_settled(5)
    assert not gate.stuck()  # A may still be stepped


def test_a_step_runs_clock_leaves_out_the_time_everyone_waited_for_the_step(rec: Recorder) -> None:
    gate = gated(rec, skip_idle=True)
    done: list[tuple[str, str]] = []
    began = time.monotonic_ns()
    start(gate, [Lane(gate, "A", [("read", "x"), ("write", "x")], done)])
    t0 = rec.t0_ns
    idle_from = time.monotonic_ns()  # everyone is parked by now
    idle_to = time.monotonic_ns()
    gate.step("A", 5)
    ended = time.monotonic_ns()
    skipped = rec.t0_ns - t0
    assert idle_to - idle_from <= skipped <= ended - began


def test_without_skip_idle_the_clock_runs_on_while_workers_are_parked(rec: Recorder) -> None:
    gate = gated(rec)  # replay and explore: nobody thinks between the steps
    done: list[tuple[str, str]] = []
    start(gate, [Lane(gate, "A", [("read", "x"), ("write", "x")], done)])
    t0 = rec.t0_ns
    gate.step("A", 5)
    assert rec.t0_ns == t0


def test_a_gated_sleep_lasts_as_written_unless_the_gate_says_the_clock_does_not_matter() -> None:
    for real_sleep, seconds in ((None, 0.1), (False, 60.0)):
        rec = Recorder()
        gate = gated(rec) if real_sleep is None else gated(rec, real_sleep=real_sleep)

        def sleeper(rec: Recorder = rec, seconds: float = seconds) -> None:
            with bind(rec, "S", LaneKind.THREAD):
                traced_time.sleep(seconds)

        gate.arriving("S")
        thread = threading.Thread(target=sleeper, daemon=True)
        thread.start()
        assert gate.wait_settled(5)
        assert gate.step("S", 5)  # explore's minute-long sleep is one step, not a minute
        thread.join(5)
        events = [e for e in rec.take() if e.worker == "S"]
        asleep = next(i for i, e in enumerate(events) if e.kind == Kind.IO)
        assert events[asleep + 1].kind == Kind.RUN
        slept = events[asleep + 1].t_ns - events[asleep].t_ns
        if real_sleep is None:
            assert slept >= 0.1e9  # step mode: the default; a lesson's sleep is real
        else:
            assert slept < 5e9
        rec.stop("over")


def test_a_worker_nobody_announced_is_reported_once_it_parks(rec: Recorder) -> None:
    gate = gated(rec)
    done: list[tuple[str, str]] = []
    lane = Lane(gate, "A", [("read", "x")], done)
    lane.start()  # no arriving(): the gate learns of it at its first gate
    parked(gate, "A")
    assert gate.live() == ["A"]
    assert gate.step("A", 5)
    assert done == [("A", "read")]


def test_the_cpu_sampler_leaves_a_parked_lane_alone_and_watches_it_again_once_stepped(rec: Recorder) -> None:
    """Explore replays its failing schedule on lanes the CPU sampler draws: a lane
    parked at the gate waits for the scheduler, not for the GIL or a core; once let
    through, it is a running lane again, whose waits off the CPU the sampler shows."""
    gate = gated(rec)
    rec.keep_history()
    sampler = Sampler(rec).start()
    try:
        done: list[tuple[str, str]] = []
        go_on = threading.Event()  # A's untraced code waits for it: runnable to the sampler, off the CPU
        start(gate, [Lane(gate, "A", [("read", "x"), ("write", "x")], done, between=go_on.wait)])
        ticks = sampler.ticks
        wait_until(lambda: sampler.ticks >= ticks + 30, timeout=30, what="the sampler looking 30 times")
        stepper = threading.Thread(target=gate.step, args=("A", 30), daemon=True)
        stepper.start()

        def off_cpu() -> bool:
            return any(e.worker == "A" and e.kind == Kind.GIL for e in rec.events_so_far())

        wait_until(off_cpu, timeout=30, what="A drawn off the CPU in its untraced wait")
        go_on.set()
        stepper.join(30)
    finally:
        sampler.stop()
    events = [e for e in rec.events_so_far() if e.worker == "A"]
    parked_from = next(e.t_ns for e in events if (e.kind, e.obj) == (Kind.WAIT, SCHEDULER))
    parked_to = next(e.t_ns for e in events if (e.kind, e.obj) == (Kind.RUN, SCHEDULER))
    assert [e for e in events if e.kind == Kind.GIL and parked_from < e.t_ns < parked_to] == []
