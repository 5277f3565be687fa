"""Runs whose interleaving someone chooses: step, replay and explore modes.

- `Mode`: how a run's workers are scheduled. Only `normal` runs without a gate: the
  other modes cost nothing to a normal run.
- `Stepper`: the scheduler's side of one gated run (step mode, and replay, which is
  step mode driven by a recorded schedule): what every worker stands before, step one,
  run to the end round-robin or at random (seeded).
- `explore_lesson`: the systematic search of `app.explore`, each execution a fresh
  gated run of the lesson on a scratch recorder; what counts as a failure is the
  lesson's own check (`Scenario.check`), a deadlock, or an uncaught error.

No FastAPI here. The runner attaches a `Gate` to a run's recorder for the gated modes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from app.explore import Chooser, Execution, Explored, explore
from app.gate import Gate, NotWaiting, Pending
from app.scenarios.base import Params, Result, Scenario
from app.timeline import LaneKind
from app.tracing import Recorder, Stop, bind, describe_error

STEP_TIMEOUT_S = 5.0  # a step that has not reached its next gate by then is stuck in untraced code


class Mode(StrEnum):
    NORMAL = "normal"  # the threads run as the OS schedules them
    STEP = "step"  # each worker stops before each traced operation until someone steps it
    REPLAY = "replay"  # step mode, driven by a recorded schedule
    EXPLORE = "explore"  # the server searches schedules for one that makes the lesson fail


class Policy(StrEnum):
    ROUND_ROBIN = "round-robin"  # the next ready worker after the last one stepped
    RANDOM = "random"  # a ready worker at random (seeded: the same seed, the same run)


@dataclass(frozen=True)
class StepState:
    """Where a gated run stands: each parked worker's next operation, and the schedule."""

    pending: list[Pending]
    schedule: list[str]
    live: list[str]


class StuckStep(Exception):
    """A stepped worker did not reach its next gate in time (untraced code that never ends)."""


class Stepper:
    """The scheduler of one gated run."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate
        self._lock = threading.Lock()  # one step at a time, whoever asks

    def state(self) -> StepState:
        self.gate.wait_settled(STEP_TIMEOUT_S)
        return StepState(self.gate.pending(), list(self.gate.schedule), self.gate.live())

    def step(self, worker: str) -> StepState:
        """Let `worker` perform its next operation. Raises `NotWaiting` (unknown or
        finished worker) or `StuckStep`."""
        with self._lock:
            self.gate.wait_settled(STEP_TIMEOUT_S)
            if not self.gate.step(worker, STEP_TIMEOUT_S):
                raise StuckStep(f"{worker} has not reached its next traced operation after {STEP_TIMEOUT_S:g} s")
        return self.state()

    def follow(self, schedule: list[str]) -> StepState:
        """Step the workers in this order (a replay)."""
        for worker in schedule:
            self.step(worker)
        return self.state()

    def run_to_end(self, policy: Policy, seed: int = 0, most: int = 100_000) -> StepState:
        """Step ready workers until none is left (or `most` steps), by `policy`."""
        chance = random.Random(seed)
        last: str | None = None
        for _ in range(most):
            ready = [p.worker for p in self.state().pending if p.ready]
            if not ready:
                break
            if policy is Policy.RANDOM:
                worker = chance.choice(ready)
            else:
                later = [w for w in ready if last is not None and self._after(w, last)]
                worker = (later or ready)[0]
            self.step(worker)
            last = worker
        return self.state()

    def _after(self, worker: str, last: str) -> bool:
        order = self.gate.live() + [last]
        return order.index(worker) > order.index(last) if last in order else True


# --- explore ------------------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    preemptions: int
    schedules: int
    seconds: float
    max_workers: int


def explore_lesson(scenario: Scenario, params: Params, bounds: Bounds) -> Explored:
    """Search the lesson's schedules for one that fails its check."""

    def execute(chooser: Chooser) -> Execution:
        return run_once(scenario, params, chooser.choose, bounds.max_workers, chooser.execution)

    return explore(
        execute,
        preemption_bound=bounds.preemptions,
        max_schedules=bounds.schedules,
        max_seconds=bounds.seconds,
    )


def run_once(
    scenario: Scenario,
    params: Params,
    choose: Callable[[list[Pending]], str | None],
    max_workers: int,
    execution: Execution,
) -> Execution:
    """One gated execution of the lesson on a scratch recorder, scheduled by `choose`."""
    rec = Recorder(max_workers=max_workers, stop_grace_s=1.0)
    gate = Gate(rec)
    rec.gate = gate
    ended: dict[str, object] = {}

    def program() -> None:
        try:
            with bind(rec, "main", LaneKind.MAIN):
                ended["result"] = scenario.main(params)
        except Stop:
            pass
        except BaseException as error:
            ended["error"] = error
        finally:
            gate.left("main")

    gate.arriving("main")
    main = threading.Thread(target=program, name="interleave-explore", daemon=True)
    main.start()
    try:
        while gate.wait_settled(STEP_TIMEOUT_S) and gate.live():
            pending = gate.pending()
            worker = choose(pending)
            if worker is None:
                if not execution.pruned:
                    execution.failure = deadlock(pending, rec)
                break
            if not gate.step(worker, STEP_TIMEOUT_S):
                execution.failure = f"{worker} did not reach its next traced operation"
                break
    finally:
        rec.stop("this schedule has been explored")  # parked workers unwind
        main.join(STEP_TIMEOUT_S)
        for thread in rec.threads():
            threading.Thread.join(thread, STEP_TIMEOUT_S)
        rec.finalize()
    if execution.failure is None and not execution.pruned:
        execution.failure = failure_of(scenario, ended, rec)
    return execution


def deadlock(pending: list[Pending], rec: Recorder) -> str:
    """Nobody can go on, yet workers remain: who waits for what."""
    owners = rec.owners
    waits = []
    for p in pending:
        holder = owners.get(p.obj)
        waits.append(f"{p.worker} waits for {p.obj}" + (f" (held by {holder})" if holder else ""))
    return "deadlock: " + "; ".join(waits)


def failure_of(scenario: Scenario, ended: dict[str, object], rec: Recorder) -> str | None:
    """What went wrong in a finished execution, by the lesson's own measure."""
    error = ended.get("error")
    if isinstance(error, BaseException):
        return f"main raised {describe_error(error)}"
    crashed = [t.name for t in rec.threads() if getattr(t, "error", None) is not None]
    if crashed:
        return f"an uncaught error in {', '.join(crashed)}"
    result = ended.get("result")
    if isinstance(result, Result) and scenario.check is not None:
        return scenario.check(result)
    return None


__all__ = [
    "Bounds",
    "Mode",
    "NotWaiting",
    "Policy",
    "StepState",
    "Stepper",
    "StuckStep",
    "explore_lesson",
    "run_once",
]
