"""Step, replay and explore below the API: the scheduler's side of a gated run on
real traced threads (`Stepper`, `run_once`, `explore_lesson`), with small lessons
made here for what the real ones never do (an error in a thread, a minute's sleep,
untraced code that waits). The lessons over HTTP: tests/test_stepping_api.py.
"""

from __future__ import annotations

import threading as std_threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app import stepping
from app.explore import Chooser, Execution
from app.gate import Gate, Pending
from app.scenarios.base import Params, Result, Scenario
from app.scenarios.registry import SCENARIOS
from app.scenarios.sync_deadlock import DeadlockParams
from app.scenarios.sync_race import RaceParams
from app.stepping import (
    MAIN,
    Bounds,
    Mode,
    Policy,
    Stepper,
    StuckStep,
    explore_lesson,
    gated_program,
    replay_link,
    replay_request,
    run_once,
)
from app.timeline import Kind, LaneKind
from app.traced import queue, threading, time
from app.traced.shared import Shared
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until

RACE = SCENARIOS["race-condition"]
DEADLOCK = SCENARIOS["deadlock"]
WIDE = Bounds(preemptions=2, schedules=1000, seconds=60.0, max_workers=16)


class NoParams(Params):
    pass


def lesson(main: Any, check: Any = None) -> Scenario:
    return Scenario(
        slug="test-lesson",
        title="A test's lesson",
        group="Threads",
        notice="",
        params=NoParams,
        main=main,
        check=check,
    )


def _two_readers(p: NoParams) -> Result:
    x = Shared(0, name="x")
    seen: list[int] = []

    def read_twice() -> None:
        seen.append(x.value)
        seen.append(x.value)

    workers = [threading.Thread(target=read_twice) for _ in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return Result("read", {"seen": len(seen)})


TWO_READERS = lesson(_two_readers)
UNTRACED = std_threading.Event()  # what a lesson's untraced code waits for


def _stalls(p: NoParams) -> Result:
    x = Shared(0, name="x")

    def read_wait_read() -> None:
        _ = x.value
        UNTRACED.wait(30)  # plain code, no gate: a step runs it to the next read
        _ = x.value

    t = threading.Thread(target=read_wait_read)
    t.start()
    t.join()
    return Result("done")


STALLS = lesson(_stalls)


@contextmanager
def gated(
    scenario: Scenario, params: Params, mode: Mode = Mode.STEP
) -> Iterator[tuple[Recorder, Stepper, dict[str, Any]]]:
    """A gated run of `scenario` as the runner starts one: its main lane runs the
    program `gated_program` makes; (its recorder, a stepper, what main returned)."""
    rec = Recorder()
    program = gated_program(scenario, mode, [], WIDE)(rec)
    gate = rec.gate
    assert isinstance(gate, Gate)
    ended: dict[str, Any] = {}

    def main() -> None:
        try:
            with bind(rec, MAIN, LaneKind.MAIN):
                ended["result"] = program(params)
        except Stop:
            pass

    thread = std_threading.Thread(target=main, daemon=True)
    thread.start()
    try:
        yield rec, Stepper(gate), ended
    finally:
        UNTRACED.set()
        rec.stop("the test is over")
        thread.join(5)
        for t in rec.threads():
            if t.ident is not None:
                std_threading.Thread.join(t, 5)
        UNTRACED.clear()


def test_round_robin_steps_the_next_ready_worker_after_the_last_one_in_lane_order() -> None:
    with gated(TWO_READERS, NoParams()) as (_, stepper, ended):
        state = stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
        assert state.schedule == [
            "main",  # starts Thread-1
            "Thread-1",  # its first line
            "main",  # starts Thread-2
            "Thread-1",  # reads
            "Thread-2",  # its first line
            "Thread-1",  # main cannot join it yet: Thread-1 reads again, and ends
            "main",  # joins Thread-1
            "Thread-2",  # main cannot join it yet
            "Thread-2",
            "main",  # joins Thread-2, returns
        ]
        assert state.pending == []
        assert state.live == []
    assert ended["result"].values == {"seen": 4, "mode": "step", "schedule": state.schedule}


def test_at_random_the_seed_decides_the_schedule() -> None:
    schedules = []
    for seed in (3, 3, 4, 5, 6):
        with gated(RACE, RaceParams(threads=3, iterations=2, window=0.0)) as (_, stepper, _):
            schedules.append(stepper.run_to_end(Policy.RANDOM, seed=seed).schedule)
    assert schedules[0] == schedules[1]
    assert len({tuple(s) for s in schedules[1:]}) > 1  # four seeds, not all one schedule


def test_run_to_the_end_steps_everyone_into_its_wait_when_nobody_can_go_on() -> None:
    """A deadlock walked into: every worker is stepped into its wait, so the lanes
    (and the watchdog) show the cycle rather than workers parked before it."""
    with gated(DEADLOCK, DeadlockParams(threads=2, rounds=1, hold=0.0)) as (rec, stepper, _):
        for worker in [
            "main",
            "main",
            "Thread-1",
            "Thread-1",
            "Thread-1",
            "Thread-2",
            "Thread-2",
            "Thread-2",
        ]:
            stepper.step(worker)  # each holds its first lock
        stepper.step("Thread-1")  # into its wait for lock-2: the others stand before theirs
        state = stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
        assert [(p.worker, p.ready, p.waiting) for p in state.pending] == [
            ("main", False, True),
            ("Thread-1", False, True),
            ("Thread-2", False, True),
        ]
        assert stepper.gate.stuck()
        assert rec.waiting_for == {"main": "join Thread-1", "Thread-1": "lock-2", "Thread-2": "lock-1"}


def test_a_step_into_untraced_code_that_does_not_end_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stepping, "STEP_TIMEOUT_S", 0.2)  # the learner's wait for an answer
    with gated(STALLS, NoParams()) as (_, stepper, _):
        for worker in ["main", "Thread-1"]:
            stepper.step(worker)
        with pytest.raises(
            StuckStep, match=r"^Thread-1 has not reached its next traced operation after 0.2 s$"
        ):
            stepper.step("Thread-1")
        UNTRACED.set()
        assert stepper.gate.wait_settled(30)
        assert [(p.worker, p.op) for p in stepper.state().pending] == [("main", "join"), ("Thread-1", "read")]


def test_a_step_cut_short_by_the_run_stopping_is_no_stuck_step(monkeypatch: pytest.MonkeyPatch) -> None:
    with gated(STALLS, NoParams()) as (rec, stepper, _):
        for worker in ["main", "Thread-1"]:
            stepper.step(worker)
        answered: list[object] = []

        def step() -> None:
            try:
                answered.append(stepper.step("Thread-1"))
            except StuckStep as error:
                answered.append(error)

        stepping_thread = std_threading.Thread(target=step)
        stepping_thread.start()
        wait_until(lambda: stepper.gate.pending()[-1].worker != "Thread-1", what="Thread-1 let through")
        rec.stop("time limit")  # while Thread-1 runs its untraced code
        stepping_thread.join(10)
        assert len(answered) == 1
        assert not isinstance(answered[0], StuckStep)


def test_run_to_the_end_waits_for_a_worker_slow_in_untraced_code(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody is there to be told a worker is slow (run to the end goes on in the
    background): it waits for the worker and the run ends as it would have."""
    monkeypatch.setattr(stepping, "STEP_TIMEOUT_S", 0.3)
    # Well past the step's timeout: if the machine is too slow for the step to time out
    # first, the test passes without trying the slow path, but never fails for it.
    let_go = std_threading.Timer(1.5, UNTRACED.set)
    with gated(STALLS, NoParams()) as (_, stepper, ended):
        let_go.start()
        state = stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
        assert state.pending == []
        assert state.live == []
    let_go.cancel()
    assert ended["result"].values == {"mode": "step", "schedule": state.schedule}
    assert state.schedule == ["main", "Thread-1", "Thread-1", "Thread-1", "main"]


def test_a_replay_that_does_not_fit_stops_at_its_step_and_marks_it() -> None:
    rec = Recorder()
    program = gated_program(TWO_READERS, Mode.REPLAY, ["main", "Thread-1", "Thread-2"], WIDE)(rec)
    with bind(rec, MAIN, LaneKind.MAIN):
        result = program(NoParams())
    reason = "step 3: no worker 'Thread-2' in this run; the live workers: main, Thread-1"
    assert rec.stop_reason == f"the schedule does not fit this lesson: {reason}"
    assert (result.values["mode"], result.values["schedule"]) == ("replay", ["main", "Thread-1"])
    marks = [(e.obj, e.detail) for e in rec.take() if e.kind == Kind.MARK]
    assert marks == [("stop", f"replay: {reason}")]


def test_a_replay_cut_before_the_deadlock_still_walks_into_it() -> None:
    """A schedule that ends with everyone parked before their waits: the replay
    steps them in, so the stop is the deadlock, not a run left hanging."""
    rec = Recorder()
    schedule = ["main", "main", "Thread-1", "Thread-1", "Thread-1", "Thread-2", "Thread-2", "Thread-2"]
    program = gated_program(DEADLOCK, Mode.REPLAY, schedule, WIDE)(rec)
    gate = rec.gate
    assert isinstance(gate, Gate)

    def watchdog() -> None:  # its part: once nobody can go on, the run stops
        wait_until(gate.stuck, timeout=10, what="every worker in its wait")
        rec.stop("deadlock")

    stopper = std_threading.Thread(target=watchdog, daemon=True)
    stopper.start()
    with bind(rec, MAIN, LaneKind.MAIN):
        result = program(DeadlockParams(threads=2, rounds=1, hold=0.0))
    stopper.join(5)
    assert result.summary == "stopped after 11 steps"
    assert result.values["schedule"] == [*schedule, "main", "Thread-1", "Thread-2"]


def test_replay_request_and_link_replay_exactly_that_schedule() -> None:
    params = RaceParams(threads=2, iterations=1, window=0.0, use_lock=True)
    assert replay_request(RACE, params, None) is None
    assert replay_link(RACE, params, None) is None
    assert replay_request(RACE, params, ["main", "Thread-1"]) == {
        "scenario": "race-condition",
        "params": {"threads": 2, "iterations": 1, "window": 0.0, "use_lock": True},
        "mode": "replay",
        "schedule": ["main", "Thread-1"],
    }
    assert replay_link(RACE, params, ["main", "Thread-1"]) == (
        "/?scenario=race-condition&mode=replay"
        "&params=%7B%22threads%22%3A2%2C%22iterations%22%3A1%2C%22window%22%3A0.0%2C%22use_lock%22%3Atrue%7D"
        "&schedule=main%2CThread-1"
    )


# --- explore --------------------------------------------------------------------------
RACE_PARAMS = RaceParams(threads=2, iterations=1, window=0.0)


def test_without_preemptions_the_race_loses_nothing_in_the_whole_space() -> None:
    found = explore_lesson(
        RACE, RACE_PARAMS, Bounds(preemptions=0, schedules=1000, seconds=60, max_workers=16)
    )
    assert (found.failing_schedule, found.failure, found.exhausted) == (None, None, True)
    with_one = explore_lesson(
        RACE, RACE_PARAMS, Bounds(preemptions=1, schedules=1000, seconds=60, max_workers=16)
    )
    assert with_one.failure == "lost update: counter is 1, expected 2"
    assert with_one.schedules_tried > found.schedules_tried or with_one.failing_schedule is not None


def test_explore_stops_at_its_schedule_budget_and_says_the_space_was_not_exhausted() -> None:
    found = explore_lesson(RACE, RACE_PARAMS, Bounds(preemptions=2, schedules=1, seconds=60, max_workers=16))
    assert found.schedules_tried == 1  # the first schedule runs each thread whole: no loss
    assert found.failure is None
    assert not found.exhausted


def test_explore_of_a_stopped_run_tries_nothing() -> None:
    found = explore_lesson(RACE, RACE_PARAMS, WIDE, stopped=lambda: True)
    assert (found.schedules_tried, found.exhausted, found.failure) == (0, False, None)


def test_an_execution_past_the_search_deadline_is_cut_and_judged_by_nobody() -> None:
    execution = run_once(RACE, RACE_PARAMS, Chooser([], frozenset()).choose, 16, Execution(), deadline=0.0)
    assert execution.cut
    assert execution.failure is None


def _slow_to_unwind(p: NoParams) -> Result:
    """Two threads take two locks in opposite orders; stopped, each takes a while to unwind."""
    a, b = threading.Lock(name="a"), threading.Lock(name="b")

    def take(first: threading.Lock, second: threading.Lock) -> None:
        try:
            with first, second:
                pass
        except Stop:
            std_threading.Event().wait(0.1)  # untraced clean-up
            raise

    workers = [threading.Thread(target=take, args=(a, b)), threading.Thread(target=take, args=(b, a))]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return Result("both done")


def test_explore_leaves_no_thread_behind_even_when_a_schedule_deadlocks() -> None:
    before = set(std_threading.enumerate())
    found = explore_lesson(lesson(_slow_to_unwind), NoParams(), WIDE)
    assert found.failure == (
        "deadlock: main waits for join Thread-1; Thread-1 waits for b (held by Thread-2); "
        "Thread-2 waits for a (held by Thread-1)"
    )
    assert [t for t in std_threading.enumerate() if t not in before and t.is_alive()] == []


def test_explore_runs_a_lessons_sleep_as_one_step_not_as_time() -> None:
    def sleeps(p: NoParams) -> Result:
        t = threading.Thread(target=time.sleep, args=(60,))
        t.start()
        t.join()
        return Result("slept")

    found = explore_lesson(lesson(sleeps), NoParams(), WIDE)
    assert found.exhausted
    assert found.failure is None


def test_an_uncaught_error_in_a_thread_is_a_failure_explore_reports() -> None:
    def fails(p: NoParams) -> Result:
        def boom() -> None:
            raise ValueError("boom")

        t = threading.Thread(target=boom)
        t.start()
        t.join()
        return Result("ended")

    found = explore_lesson(lesson(fails), NoParams(), WIDE)
    assert found.failure == "an uncaught error: Thread-1: ValueError: boom"
    assert found.schedules_tried == 1


def test_an_error_in_main_is_a_failure_and_so_is_breaking_the_worker_limit() -> None:
    found = explore_lesson(
        RACE, RaceParams(threads=3, iterations=1, window=0.0), Bounds(2, 1000, 60, max_workers=2)
    )
    assert found.failure == "main raised LimitExceeded: this run may start at most 2 workers"


def test_a_lesson_without_a_check_fails_only_by_deadlock_or_error() -> None:
    found = explore_lesson(TWO_READERS, NoParams(), WIDE)
    assert found.failure is None
    assert found.exhausted


def test_a_deadlock_names_who_waits_for_what_and_who_holds_it() -> None:
    from app.stepping import deadlock

    rec = Recorder()
    pending = [
        Pending("main", "join", "join Thread-1", False, True, "", 0),
        Pending("Thread-1", "acquire", "lock-2", False, True, "", 0),
    ]
    assert deadlock(pending, rec) == "deadlock: main waits for join Thread-1; Thread-1 waits for lock-2"


def test_an_explore_run_stopped_before_its_search_tries_nothing_and_says_why() -> None:
    rec = Recorder()
    rec.stop("the learner pressed stop")
    program = gated_program(RACE, Mode.EXPLORE, [], WIDE)(rec)
    with bind(rec, MAIN, LaneKind.MAIN):
        result = program(RACE_PARAMS)
    assert result.values["schedules_tried"] == 0
    assert (
        result.summary == "no failing schedule in 0 schedules (the run was stopped before the search ended)"
    )
    assert result.notice == (
        "Explore ran the lesson under 0 different schedules (at most 2 preemptions each) and its check never failed."
    )


def test_explore_cuts_an_execution_that_outlasts_its_time_budget() -> None:
    def forever(p: NoParams) -> Result:
        x = Shared(0, name="x")
        while True:
            _ = x.value

    found = explore_lesson(
        lesson(forever), NoParams(), Bounds(preemptions=2, schedules=1000, seconds=0.2, max_workers=16)
    )
    assert (found.schedules_tried, found.failure, found.exhausted) == (0, None, False)


def test_a_step_runs_sleep_lasts_as_long_as_the_lesson_says() -> None:
    def naps(p: NoParams) -> Result:
        time.sleep(0.1)
        return Result("rested")

    with gated(lesson(naps), NoParams()) as (rec, stepper, _):
        stepper.step("main")
        events = [e for e in rec.take() if e.worker == "main"]
    asleep = next(i for i, e in enumerate(events) if e.kind == Kind.IO)
    assert events[asleep + 1].kind == Kind.RUN
    assert events[asleep + 1].t_ns - events[asleep].t_ns >= 0.1e9


def _put_on_a_full_queue(p: NoParams) -> Result:
    q = queue.Queue(maxsize=1, name="q")
    q.put("a")
    t = threading.Thread(target=lambda: q.put("b"))
    t.start()
    q.get()
    t.join()
    return Result("done")


def _get_on_an_empty_queue(p: NoParams) -> Result:
    q = queue.Queue(name="q")
    t = threading.Thread(target=q.get)
    t.start()
    q.put("a")
    t.join()
    return Result("done")


def _join_before_the_task_is_done(p: NoParams) -> Result:
    q = queue.Queue(name="q")
    q.put("a")
    t = threading.Thread(target=q.join)
    t.start()
    q.get()
    q.task_done()
    t.join()
    return Result("done")


@pytest.mark.parametrize(
    ("program", "op"),
    [(_put_on_a_full_queue, "put"), (_get_on_an_empty_queue, "get"), (_join_before_the_task_is_done, "join")],
)
def test_a_queue_call_that_would_wait_is_not_ready_until_the_other_side_moves(program: Any, op: str) -> None:
    """Thread-1's call would wait until main moves: the learner sees it not ready, steps
    it into its wait, and sees it ready once main has moved."""
    with gated(lesson(program), NoParams()) as (_, stepper, ended):

        def thread_1() -> tuple[str, bool, bool]:
            return next((p.op, p.ready, p.waiting) for p in stepper.state().pending if p.worker == "Thread-1")

        while not any(p.worker == "Thread-1" for p in stepper.state().pending):
            stepper.step("main")
        while thread_1()[0] != op:
            stepper.step("Thread-1")
        assert thread_1() == (op, False, False)
        stepper.step("Thread-1")  # into its wait
        assert thread_1() == (op, False, True)
        moved = ""
        while thread_1() == (op, False, True):
            moved = next(p.op for p in stepper.state().pending if p.worker == "main")
            stepper.step("main")
        assert thread_1() == (op, True, True)
        assert moved == {"put": "get", "get": "put", "join": "task_done"}[op]  # each is a step of its own
        stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
    assert ended["result"].summary == "done"


def _start_three_readers_then_join_them(p: NoParams) -> Result:
    x = Shared(0, name="x")

    def read() -> None:
        x.value  # noqa: B018  # a traced read: one step

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    return Result("done")


@contextmanager
def slow_threads(*, arrive: float = 0.0, leave: float = 0.0) -> Iterator[None]:
    """Every new thread is `arrive` s late to its first line of Python and `leave` s
    late to exit after its last, as on a machine whose cores are all busy (a profile
    hook each thread runs; the delays are the slowness, not a synchronisation)."""
    before = std_threading.getprofile()
    arrived: set[int] = set()
    bootstrap = std_threading.Thread._bootstrap_inner.__code__  # type: ignore[attr-defined]

    def hook(frame: Any, event: str, arg: Any) -> None:
        if std_threading.get_ident() not in arrived:
            arrived.add(std_threading.get_ident())
            std_threading.Event().wait(arrive)
        elif event == "return" and frame.f_code is bootstrap:
            std_threading.Event().wait(leave)

    std_threading.setprofile(hook)
    try:
        yield
    finally:
        std_threading.setprofile(before)  # type: ignore[arg-type]


def test_a_started_thread_stands_at_its_def_line_and_a_join_waits_as_a_join() -> None:
    """Each step of main's starts shows the new thread at once, before the line its
    target begins at; a join that would wait is listed as a join, stepped into its wait
    and ready once the thread ended; a finished wait leaves the wait-for graph."""
    begins_at = (__file__, _start_three_readers_then_join_them.__code__.co_firstlineno + 3)
    with (
        slow_threads(arrive=0.2),
        gated(lesson(_start_three_readers_then_join_them), NoParams()) as (rec, stepper, ended),
    ):

        def standing(worker: str) -> tuple[str, bool, bool] | None:
            return next(
                ((p.op, p.ready, p.waiting) for p in stepper.state().pending if p.worker == worker), None
            )

        for reader in ("Thread-1", "Thread-2", "Thread-3"):
            state = stepper.step("main")  # start
            [begin] = [p for p in state.pending if p.worker == reader]
            assert (begin.op, (begin.file, begin.line)) == ("begin", begins_at)
        assert standing("main") == ("join", False, False)
        stepper.step("main")  # into its wait
        assert standing("main") == ("join", False, True)
        assert rec.waiting_for == {"main": "join Thread-1"}
        while standing("Thread-1") is not None:
            stepper.step("Thread-1")
        assert standing("main") == ("join", True, True)
        stepper.step("main")  # out of its wait, to its next join
        assert "main" not in rec.waiting_for
        stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
    assert ended["result"].summary == "done"


def _join_each_and_look(p: NoParams) -> Result:
    readers = [threading.Thread(target=lambda: None) for _ in range(2)]
    for reader in readers:
        reader.start()
    alive_after_join = []
    for reader in readers:
        reader.join()
        alive_after_join.append(reader.is_alive())
    return Result("joined", {"alive": alive_after_join})


def test_a_stepped_join_returns_only_once_the_thread_is_gone() -> None:
    """Stepped, a thread says its last word to the scheduler before its OS thread ends:
    a join must still return only once it has ended, as `is_alive()` says."""
    with slow_threads(leave=0.2), gated(lesson(_join_each_and_look), NoParams()) as (_, stepper, ended):
        stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
    assert ended["result"].values["alive"] == [False, False]


def _hand_an_rlock_over(p: NoParams) -> Result:
    r = threading.RLock(name="r")

    def take_it_twice() -> None:
        with r, r:
            pass

    t = threading.Thread(target=take_it_twice)
    with r:
        t.start()
    t.join()
    return Result("done")


def test_an_rlock_acquire_is_a_step_ready_for_its_holder_and_once_it_is_free() -> None:
    with gated(lesson(_hand_an_rlock_over), NoParams()) as (_, stepper, ended):

        def standing(worker: str) -> tuple[str, str, bool] | None:
            return next(((p.op, p.obj, p.ready) for p in stepper.state().pending if p.worker == worker), None)

        assert standing("main") == ("acquire", "r", True)
        stepper.step("main")
        stepper.step("main")  # start
        stepper.step("Thread-1")  # begin
        assert standing("Thread-1") == ("acquire", "r", False)  # main holds it
        stepper.step("Thread-1")  # into its wait: still an acquire, still not ready
        assert standing("Thread-1") == ("acquire", "r", False)
        assert [p.waiting for p in stepper.state().pending if p.worker == "Thread-1"] == [True]
        assert standing("main") == ("release", "r", True)
        stepper.step("main")
        assert standing("Thread-1") == ("acquire", "r", True)
        stepper.step("Thread-1")  # out of its wait: it holds it
        assert standing("Thread-1") == ("acquire", "r", True)  # again: its holder never waits
        stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
    assert ended["result"].summary == "done"


def _wait_for_a_slot(p: NoParams) -> Result:
    slots = threading.Semaphore(1, name="s")
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(slots.acquire()))
    got.append(slots.acquire())
    t.start()
    slots.release()
    t.join()
    return Result("done", {"got": got})


def test_a_semaphore_acquire_is_a_step_not_ready_while_no_slot_is_free() -> None:
    with gated(lesson(_wait_for_a_slot), NoParams()) as (_, stepper, ended):

        def standing(worker: str) -> tuple[str, str, bool, bool] | None:
            return next(
                ((p.op, p.obj, p.ready, p.waiting) for p in stepper.state().pending if p.worker == worker),
                None,
            )

        assert standing("main") == ("acquire", "s", True, False)
        stepper.step("main")
        stepper.step("main")  # start
        stepper.step("Thread-1")  # begin
        assert standing("Thread-1") == ("acquire", "s", False, False)  # main has the only slot
        stepper.step("Thread-1")  # into its wait
        assert standing("Thread-1") == ("acquire", "s", False, True)
        assert standing("main") == ("release", "s", True, False)
        stepper.step("main")
        assert standing("Thread-1") == ("acquire", "s", True, True)
        stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
    assert ended["result"].values["got"] == [True, True]


def _notify_a_waiter(p: NoParams) -> Result:
    cond = threading.Condition(name="c")
    ready: list[int] = []

    def consume() -> None:
        with cond:
            while not ready:
                cond.wait()

    t = threading.Thread(target=consume)
    t.start()
    with cond:
        ready.append(1)
        cond.notify()
    t.join()
    return Result("done")


def step_through(stepper: Stepper, first: str) -> list[tuple[str, str, str]]:
    """Step to the end, `first` whenever it can go, else the first worker ready;
    (worker, op, obj) of every step."""
    stepped = []
    while pending := stepper.state().pending:
        chosen = next((p for p in pending if p.ready and p.worker == first), None) or next(
            p for p in pending if p.ready
        )
        stepped.append((chosen.worker, chosen.op, chosen.obj))
        stepper.step(chosen.worker)
    return stepped


@pytest.mark.parametrize("first", ["main", "Thread-1"])
def test_a_notify_and_a_conditions_release_are_steps_of_their_own(first: str) -> None:
    """Whether the notify comes before or after the waiter waits is the lesson: the
    learner must be able to choose it, so each is a step (the wait lets go of the
    condition's lock first, a step too)."""
    with gated(lesson(_notify_a_waiter), NoParams()) as (_, stepper, ended):
        stepped = step_through(stepper, first)
    assert ended["result"].summary == "done"
    assert ("main", "notify", "c") in stepped
    if first == "Thread-1":  # it waits before main notifies
        waits = stepped.index(("Thread-1", "release", "c.lock"))
        assert ("main", "notify", "c") in stepped[waits + 1 :]


def _set_an_event(p: NoParams) -> Result:
    flag = threading.Event(name="e")
    t = threading.Thread(target=flag.wait)
    t.start()
    flag.set()
    t.join()
    return Result("done")


def _meet_at_a_barrier(p: NoParams) -> Result:
    barrier = threading.Barrier(2, name="b")
    t = threading.Thread(target=barrier.wait)
    t.start()
    barrier.wait()
    t.join()
    return Result("done")


@pytest.mark.parametrize(("program", "obj"), [(_set_an_event, "e"), (_meet_at_a_barrier, "b")])
def test_an_event_or_barrier_wait_is_a_step_ready_only_once_it_could_return(program: Any, obj: str) -> None:
    with gated(lesson(program), NoParams()) as (_, stepper, ended):

        def standing(worker: str) -> tuple[str, str, bool, bool] | None:
            return next(
                ((p.op, p.obj, p.ready, p.waiting) for p in stepper.state().pending if p.worker == worker),
                None,
            )

        stepper.step("main")  # start
        stepper.step("Thread-1")  # begin
        if obj == "e":  # nobody has set it: the wait would block
            assert standing("Thread-1") == ("wait", "e", False, False)
        else:  # the first party to arrive: it can always arrive
            assert standing("Thread-1") == ("wait", "b", True, False)
        stepper.step("Thread-1")  # into its wait
        assert standing("Thread-1") == ("wait", obj, False, True)
        assert standing("main")[:2] == {"e": ("set", "e"), "b": ("wait", "b")}[obj]  # type: ignore[index]
        stepper.step("main")
        assert standing("Thread-1") == ("wait", obj, True, True)
        stepper.run_to_end(Policy.ROUND_ROBIN, seed=0)
    assert ended["result"].summary == "done"
