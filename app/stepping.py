"""Runs whose interleaving someone chooses: step, replay and explore modes.

- `Mode`: how a run's workers are scheduled. Only `normal` runs without a gate, so
  the other modes cost a normal run nothing.
- `gated_program`: what the runner runs instead of a lesson's main in the gated
  modes (`RunManager.start(program=...)`): step and replay attach a `Gate` to the
  run's recorder; replay follows its schedule from a thread of its own; explore
  searches, then replays the failing schedule it found so the lanes show it.
- `Stepper`: the scheduler's side of one gated run: what every worker stands
  before, step one, follow a schedule, run to the end round-robin or at random.
- `explore_lesson`: the systematic search of `app.explore`, each execution a fresh
  gated run of the lesson on a scratch recorder; what counts as a failure is the
  lesson's own check (`Scenario.check`), a deadlock, or an uncaught error.

No FastAPI here.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlencode

from app.explore import Chooser, Execution, Explored, explore
from app.gate import CannotStep, Gate, Pending, UnknownWorker
from app.scenarios.base import Params, Result, Scenario
from app.timeline import JSON, Kind, LaneKind
from app.tracing import Recorder, Stop, bind, describe_error

STEP_TIMEOUT_S = 5.0  # a step that has not reached its next gate by then is stuck in untraced code
MAIN = "main"
GATED_GROUPS = ("Threads", "Synchronisation")  # lessons whose workers are threads on traced primitives


class Mode(StrEnum):
    NORMAL = "normal"  # the threads run as the OS schedules them
    STEP = "step"  # each worker stops before each traced operation until someone steps it
    REPLAY = "replay"  # step mode, driven by a recorded schedule
    EXPLORE = "explore"  # the server searches schedules for one that makes the lesson fail


class Policy(StrEnum):
    ROUND_ROBIN = "round-robin"  # the next ready worker after the last one stepped
    RANDOM = "random"  # a ready worker at random (seeded: the same seed, the same run)


def supports(scenario: Scenario) -> bool:
    """Can this lesson be stepped, replayed and explored?"""
    return scenario.group in GATED_GROUPS


class StuckStep(Exception):
    """A stepped worker did not reach its next gate in time (untraced code that never ends)."""


@dataclass(frozen=True)
class StepState:
    """Where a gated run stands: each parked worker's next operation, and the schedule."""

    pending: list[Pending]
    schedule: list[str]
    live: list[str]


class Stepper:
    """The scheduler of one gated run (any number of them may share a gate: the gate
    lets one step through at a time)."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def state(self) -> StepState:
        self.gate.wait_settled(STEP_TIMEOUT_S)
        return StepState(self.gate.pending(), list(self.gate.schedule), self.gate.live())

    def step(self, worker: str) -> StepState:
        """Let `worker` perform its next operation. Raises `UnknownWorker`,
        `CannotStep` (finished, or waiting for another worker) or `StuckStep`."""
        if not self.gate.step(worker, STEP_TIMEOUT_S) and self.gate.rec.stop_reason is None:
            raise StuckStep(f"{worker} has not reached its next traced operation after {STEP_TIMEOUT_S:g} s")
        return self.state()

    def into_waits(self) -> None:
        """Nobody can go on: step every worker that stands before an operation that
        would block into its wait, so the waits (and a deadlock's cycle) are drawn and
        the runner's watchdog sees them."""
        for p in self.state().pending:
            if not p.ready and not p.waiting:
                self.step(p.worker)

    def run_to_end(self, policy: Policy, seed: int, most: int = 100_000) -> StepState:
        """Step ready workers until none is left (or `most` steps), by `policy`. A worker
        slow in untraced code is waited for: nobody is there to be told it is stuck, and
        the run's own limits end one that never comes back."""
        chance = random.Random(seed)
        last: str | None = None
        for _ in range(most):
            if self.gate.rec.stop_reason is not None:
                break
            state = self.state()
            ready = [p.worker for p in state.pending if p.ready]
            if not ready:
                self.into_waits()
                break
            if policy is Policy.RANDOM:
                worker = chance.choice(ready)
            else:  # the first ready worker after the last one stepped, in lane order
                order = state.live
                after = order.index(last) + 1 if last in order else 0
                rotated = order[after:] + order[:after]
                worker = next(w for w in rotated if w in ready)
            if not self._step_patiently(worker):
                break
            last = worker
        return self.state()

    def _step_patiently(self, worker: str) -> bool:
        """Step `worker` however long its untraced code takes; False if the run stopped."""
        try:
            self.step(worker)
        except StuckStep:
            while not self.gate.wait_settled(STEP_TIMEOUT_S):
                if self.gate.rec.stop_reason is not None:
                    return False
        return True


# --- the programs the runner runs in the gated modes --------------------------------
@dataclass(frozen=True)
class Bounds:
    """How far explore may search (from the settings)."""

    preemptions: int
    schedules: int
    seconds: float
    max_workers: int


def gated_program(
    scenario: Scenario, mode: Mode, schedule: Sequence[str], bounds: Bounds
) -> Callable[[Recorder], Callable[[Params], Result]]:
    """For `RunManager.start(program=...)`: given the run's recorder, the main to run."""

    def prepare(rec: Recorder) -> Callable[[Params], Result]:
        if mode is Mode.EXPLORE:
            return lambda params: _explore_and_show(scenario, params, bounds, rec)
        gate = attach_gate(rec, skip_idle=mode is Mode.STEP)

        def program(params: Params) -> Result:
            if schedule:
                _follow_in_background(gate, schedule)
            try:
                result = scenario.main(params)
            except Stop:
                # Stopped (a deadlock stepped into, a limit): the lesson has no result,
                # but the schedule that led here is kept, to be replayed
                steps = len(gate.schedule)
                return Result(
                    f"stopped after {steps} step{'' if steps == 1 else 's'}",
                    {"mode": str(mode), "schedule": list(gate.schedule)},
                )
            return replace(
                result, values=result.values | {"mode": str(mode), "schedule": list(gate.schedule)}
            )

        return program

    return prepare


def attach_gate(rec: Recorder, *, real_sleep: bool = True, skip_idle: bool = False) -> Gate:
    """Gate the run of `rec`, whose main lane is about to start. `skip_idle`: its clock
    leaves out the time spent waiting for a step (step mode: a person steps it)."""
    gate = Gate(rec, real_sleep=real_sleep, skip_idle=skip_idle)
    rec.gate = gate
    gate.arriving(MAIN)
    return gate


def _follow_in_background(gate: Gate, schedule: Sequence[str]) -> None:
    """Replay `schedule` from a thread of its own (the main lane is the lesson's). A
    schedule that does not fit the lesson stops the run, saying where."""

    def follow() -> None:
        stepper = Stepper(gate)
        for index, worker in enumerate(schedule):
            try:
                stepper.step(worker)
            except (CannotStep, UnknownWorker, StuckStep) as error:
                if gate.rec.stop_reason is None:
                    gate.rec.emit(MAIN, Kind.MARK, "stop", detail=f"replay: step {index + 1}: {error}")
                    gate.rec.stop(f"the schedule does not fit this lesson: step {index + 1}: {error}")
                return
        if gate.rec.stop_reason is None:
            stepper.into_waits()

    threading.Thread(target=follow, name="interleave-replay", daemon=True).start()


def _explore_and_show(scenario: Scenario, params: Params, bounds: Bounds, rec: Recorder) -> Result:
    """Explore mode's main: search, then replay the failing schedule on this run's
    own lanes (if one was found), and report both."""
    explored = explore_lesson(scenario, params, bounds, stopped=lambda: rec.stop_reason is not None)
    values: dict[str, JSON] = {
        "mode": str(Mode.EXPLORE),
        "schedules_tried": explored.schedules_tried,
        "pruned": explored.pruned,
        "failing_schedule": explored.failing_schedule,
        "failure": explored.failure,
        "exhausted": explored.exhausted,
        "seconds": round(explored.seconds, 3),
        "preemption_bound": bounds.preemptions,
        "replay": replay_request(scenario, params, explored.failing_schedule),
        "replay_link": replay_link(scenario, params, explored.failing_schedule),
    }
    if explored.failing_schedule is None:
        if explored.exhausted:
            whole = "the whole bounded space"
        elif rec.stop_reason is not None:  # not the bounds: the run's stop ended the search
            whole = "the run was stopped before the search ended"
        else:
            whole = "before the search's bounds ran out"
        return Result(
            f"no failing schedule in {explored.schedules_tried} schedules ({whole})",
            values,
            notice=(
                f"Explore ran the lesson under {explored.schedules_tried} different schedules "
                f"(at most {bounds.preemptions} preemptions each) and its check never failed"
                + (": with these parameters no interleaving breaks it." if explored.exhausted else ".")
            ),
        )
    gate = attach_gate(rec)
    _follow_in_background(gate, explored.failing_schedule)
    try:
        lesson: Result | None = scenario.main(params)
    except Stop:  # the replayed deadlock, caught by the watchdog: the lanes show it
        lesson = None
    if lesson is not None:
        values["lesson"] = lesson.values
    steps = len(explored.failing_schedule)
    return Result(
        f"explore found a failing schedule after {explored.schedules_tried} schedules: {explored.failure}",
        values,
        notice=(
            f"Explore tried {explored.schedules_tried} schedules before one failed the lesson's check: "
            f"{explored.failure}. The lanes show that schedule ({steps} steps) replayed; "
            "replay it yourself, step by step, with the replay request."
        ),
    )


def replay_request(scenario: Scenario, params: Params, schedule: Sequence[str] | None) -> JSON:
    """The POST /runs body that replays `schedule`, or None."""
    if schedule is None:
        return None
    return {
        "scenario": scenario.slug,
        "params": params.model_dump(),
        "mode": str(Mode.REPLAY),
        "schedule": list(schedule),
    }


def replay_link(scenario: Scenario, params: Params, schedule: Sequence[str] | None) -> str | None:
    """The page that opens the lesson ready to replay `schedule` (as the page's
    "share link to this schedule" does), or None."""
    if schedule is None:
        return None
    query = {
        "scenario": scenario.slug,
        "mode": str(Mode.REPLAY),
        "params": json.dumps(params.model_dump(), separators=(",", ":")),
        "schedule": ",".join(schedule),
    }
    return "/?" + urlencode(query)


# --- explore ------------------------------------------------------------------------
def explore_lesson(
    scenario: Scenario, params: Params, bounds: Bounds, stopped: Callable[[], bool] = lambda: False
) -> Explored:
    """Search the lesson's schedules for one that fails its check."""
    deadline = time.monotonic() + bounds.seconds

    def execute(chooser: Chooser) -> Execution:
        return run_once(
            scenario, params, chooser.choose, bounds.max_workers, chooser.execution, deadline=deadline
        )

    return explore(
        execute,
        preemption_bound=bounds.preemptions,
        max_schedules=bounds.schedules,
        max_seconds=bounds.seconds,
        stopped=stopped,
    )


def run_once(
    scenario: Scenario,
    params: Params,
    choose: Callable[[list[Pending]], str | None],
    max_workers: int,
    execution: Execution,
    *,
    deadline: float = math.inf,
) -> Execution:
    """One gated execution of the lesson on a scratch recorder, scheduled by `choose`;
    cut short (`execution.cut`) if it is still going at `deadline` (monotonic seconds)."""
    rec = Recorder(max_workers=max_workers)  # (a grace to unwind is for processes: none here)
    gate = attach_gate(rec, real_sleep=False)
    ended: dict[str, object] = {}

    def program() -> None:
        try:
            with bind(rec, MAIN, LaneKind.MAIN):
                ended["result"] = scenario.main(params)
        except Stop:
            pass
        except BaseException as error:
            ended["error"] = error

    main = threading.Thread(target=program, name="interleave-explore", daemon=True)
    main.start()
    stuck: str | None = None
    try:
        while gate.wait_settled(STEP_TIMEOUT_S) and gate.live():
            if time.monotonic() > deadline:
                execution.cut = True
                break
            pending = gate.pending()
            worker = choose(pending)
            if worker is None:
                if not execution.pruned:
                    execution.failure = deadlock(pending, rec)
                break
            if not gate.step(worker, STEP_TIMEOUT_S):
                stuck = f"{worker} did not reach its next traced operation within {STEP_TIMEOUT_S:g} s"
                break
    finally:
        rec.stop("this schedule has been explored")  # parked workers unwind
        main.join(STEP_TIMEOUT_S)
        for thread in rec.threads():
            if thread.ident is not None:  # (a thread the lesson made but never started)
                threading.Thread.join(thread, STEP_TIMEOUT_S)
        rec.finalize()
    if stuck is not None:
        raise StuckStep(stuck)
    if execution.failure is None and not execution.pruned and not execution.cut:
        execution.failure = failure_of(scenario, params, ended, rec)
    return execution


def deadlock(pending: list[Pending], rec: Recorder) -> str:
    """Nobody can go on, yet workers remain: who waits for what."""
    owners = rec.owners
    waits = []
    for p in pending:
        holder = owners.get(p.obj)
        waits.append(f"{p.worker} waits for {p.obj}" + (f" (held by {holder})" if holder else ""))
    return "deadlock: " + "; ".join(waits)


def failure_of(scenario: Scenario, params: Params, ended: dict[str, object], rec: Recorder) -> str | None:
    """What went wrong in a finished execution, by the lesson's own measure."""
    error = ended.get("error")
    if isinstance(error, BaseException):
        return f"main raised {describe_error(error)}"
    crashed = [t for t in rec.threads() if isinstance(getattr(t, "error", None), BaseException)]
    if crashed:
        return "an uncaught error: " + "; ".join(f"{t.name}: {describe_error(t.error)}" for t in crashed)  # type: ignore[attr-defined]
    result = ended.get("result")
    if isinstance(result, Result) and scenario.check is not None:
        return scenario.check(params, result)
    return None


__all__ = [
    "Bounds",
    "CannotStep",
    "Explored",
    "Mode",
    "Policy",
    "StepState",
    "Stepper",
    "StuckStep",
    "UnknownWorker",
    "attach_gate",
    "explore_lesson",
    "gated_program",
    "replay_request",
    "run_once",
    "supports",
]
