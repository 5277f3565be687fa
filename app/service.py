"""The domain operations every door shares: start a run, stop one, find one.

The JSON API, the htmx pages and the command line call these, never the runner's
internals, so a rule (a limit, who may stop a run) lives in one place. Each refusal
is a typed `Refusal` carrying what to do instead; the HTTP layer maps them to
statuses in one handler (`app/api/errors.py`). No FastAPI here.

A run is found in memory (running, or finished recently) or read back from the
history (`app.store`): every door reads both the same way (`Run`).

Usage::

    service = RunService(manager, settings, store)
    started = service.start("lock-counter", {"pairs": 2}, client="10.0.0.7")
    await service.stop(started.run.id, control=started.control)
    run = await service.find(run_id)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from app.columns import EventColumns
from app.config import Settings
from app.runner import LiveRun, Run, RunManager, TooManyRuns
from app.scenarios import params as scenario_params
from app.scenarios.base import Params, Result, Scenario
from app.scenarios.registry import SCENARIOS
from app.stepping import (
    GATED_GROUPS,
    Bounds,
    CannotStep,
    Mode,
    Policy,
    Stepper,
    StepState,
    StuckStep,
    UnknownWorker,
    gated_program,
    supports,
)
from app.store import RunRecord, RunStore
from app.tracing import Recorder

STOPPED_BY_OWNER = "stopped by a viewer"


# --- refusals -------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where, and what is allowed there."""

    field: str
    message: str


class Refusal(Exception):
    """A request turned down. `message` says what is wrong and what to do instead."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class UnknownScenario(Refusal):
    """No scenario has that slug."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"unknown scenario {slug!r}; known: {', '.join(SCENARIOS)}")


class InvalidParams(Refusal):
    """The parameters break their bounds; each problem says what is allowed."""


class RunNotFound(Refusal):
    """No run has that id (never existed, or pruned from the history)."""

    def __init__(
        self, run_id: str, why: str = "it never existed or has been pruned from the history"
    ) -> None:
        super().__init__(f"no run {run_id!r}: {why}; start one with POST /runs")


class NotAllowed(Refusal):
    """The caller may not do this to this run."""


class WorkerNotFound(Refusal):
    """A step run has no worker of that name."""


class Conflict(Refusal):
    """The run cannot do that in the state it is in (not a step run, finished...)."""


class Busy(Refusal):
    """Come back later: `retry_after_s` says when it is worth trying again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @property
    def retry_after(self) -> int:
        """Whole seconds, as the Retry-After header wants them (at least 1)."""
        return max(1, math.ceil(self.retry_after_s))


class ServerBusy(Busy):
    """Every run slot of the server is taken."""


class ClientBusy(Busy):
    """This client already has as many runs going, or started, as it may."""


# --- per-client limits ------------------------------------------------------------------
@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class ClientLimits:
    """How many runs one client (by address) may have running at once, and start per
    minute (a token bucket: a burst of `per_minute`, then one every 60/per_minute s)."""

    concurrent: int
    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=lambda: {"concurrent": 0, "per_minute": 0})

    def admit(self, client: str, running: int) -> None:
        """Take one start from `client`'s allowance, or raise `ClientBusy`."""
        if running >= self.concurrent:
            self.refused["concurrent"] += 1
            raise ClientBusy(
                f"you already have {running} runs going, the most one client may have at once; "
                "stop one or wait for it to finish",
                retry_after_s=1.0,
            )
        now = self.clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets[client] = _Bucket(float(self.per_minute), now)
        rate = self.per_minute / 60.0
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            self.refused["per_minute"] += 1
            raise ClientBusy(
                f"you started {self.per_minute} runs within a minute, the most one client may; "
                "wait a moment before the next",
                retry_after_s=(1.0 - bucket.tokens) / rate,
            )
        bucket.tokens -= 1.0
        self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        """Drop buckets that have refilled: an idle client costs nothing to remember."""
        if len(self._buckets) > 1024:
            full = 60.0
            for client in [c for c, b in self._buckets.items() if now - b.updated > full]:
                del self._buckets[client]


# --- the service --------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    """A run just started, and the credential that lets its starter stop it."""

    run: LiveRun
    control: str


class RunService:
    """Start, stop and find runs, enforcing every limit."""

    def __init__(self, manager: RunManager, settings: Settings, store: RunStore | None = None) -> None:
        self.manager = manager
        self.settings = settings
        self.store = store
        self.limits = ClientLimits(settings.max_runs_per_client, settings.runs_per_client_per_minute)
        self._loading: dict[str, asyncio.Future[Run]] = {}  # reads of stored runs under way
        self._finishing: set[asyncio.Task[None]] = set()  # step runs being run to their end

    def scenario(self, slug: str) -> Scenario:
        scenario = SCENARIOS.get(slug)
        if scenario is None:
            raise UnknownScenario(slug)
        return scenario

    async def find(self, run_id: str) -> Run:
        """A run of this server, or one read back from the history."""
        run = self.manager.get(run_id)
        if run is not None:
            return run
        if self.store is None:
            raise RunNotFound(run_id, "this server keeps no history, and no such run is in memory")
        loading = self._loading.get(run_id)
        if loading is None:  # the first to ask reads it; the others wait for that read
            loading = asyncio.ensure_future(asyncio.to_thread(self._read, run_id))
            self._loading[run_id] = loading
            loading.add_done_callback(lambda task: self._loaded(run_id, task))
        return await asyncio.shield(loading)

    def _loaded(self, run_id: str, task: asyncio.Future[Run]) -> None:
        del self._loading[run_id]
        if not task.cancelled() and task.exception() is None:
            run = task.result()
            if run.finished:  # a run still going in another process would go stale here
                self.manager.remember(run)

    def _read(self, run_id: str) -> Run:
        """Read a run back from the history (in a worker thread: it blocks)."""
        assert self.store is not None
        record = self.store.record(run_id)
        if record is None:
            raise RunNotFound(run_id)
        scenario = SCENARIOS.get(record.scenario)
        if scenario is None:
            raise RunNotFound(run_id, f"its lesson {record.scenario!r} is no longer on this server")
        return Run.stored(record, scenario, EventColumns.from_blocks(self.store.blocks(run_id)))

    async def history(self, scenario: str | None, limit: int, before: float | None = None) -> list[RunRecord]:
        """Stored runs, newest first (before `before`, of one lesson if given)."""
        if self.store is None:
            return []
        return await asyncio.to_thread(self.store.recent, scenario, limit, before)

    async def lessons_in_history(self) -> list[tuple[str, str, int]]:
        """(slug, title, runs) of each lesson with stored runs."""
        if self.store is None:
            return []
        return await asyncio.to_thread(self.store.scenarios)

    def start(
        self,
        slug: str,
        raw_params: Mapping[str, Any],
        client: str,
        *,
        from_text: bool = False,
        mode: Mode = Mode.NORMAL,
        schedule: Sequence[str] | None = None,
    ) -> Started:
        """Validate, check the limits, start. The returned `control` is the only way to
        stop the run later: hand it to the starter once (a cookie, a 201 body).
        `from_text`: the values are a form's strings, to be converted. `mode`: who
        schedules the workers (app.stepping); `schedule`: the one a replay follows."""
        scenario = self.scenario(slug)
        try:
            params = scenario_params.parse(scenario.params, raw_params, from_text=from_text)
        except ValidationError as error:
            problems = [Problem(**p) for p in scenario_params.explain(scenario.params, error)]
            raise InvalidParams("the parameters are not allowed; each problem says why", problems) from None
        program = self._program(scenario, mode, schedule)
        self.limits.admit(client, self.manager.running_for(client))
        control = secrets.token_urlsafe(24)
        try:
            run = self.manager.start(scenario, params, client=client, control=control, program=program)
        except TooManyRuns as error:
            raise ServerBusy(str(error), retry_after_s=1.0) from None
        return Started(run, control)

    def _program(
        self, scenario: Scenario, mode: Mode, schedule: Sequence[str] | None
    ) -> Callable[[Recorder], Callable[[Params], Result]] | None:
        """What the runner runs in a gated mode, after checking the mode fits."""
        if mode is not Mode.REPLAY and schedule:
            raise InvalidParams(
                "a schedule is only followed in replay mode",
                [Problem("schedule", f'send "mode": "replay" with it, or leave it out in {mode} mode')],
            )
        if mode is Mode.NORMAL:
            return None
        if not supports(scenario):
            lessons = ", ".join(slug for slug, s in SCENARIOS.items() if supports(s))
            message = (
                f"{mode} mode is for the thread lessons (groups {' and '.join(GATED_GROUPS)}): "
                f"{lessons}; {scenario.slug!r} is not one of them"
            )
            raise InvalidParams(message, [Problem("mode", message)])
        if mode is Mode.REPLAY and not schedule:
            raise InvalidParams(
                "replay mode needs the schedule to follow",
                [
                    Problem(
                        "schedule", "the list of workers to step, in order, e.g. a step run's values.schedule"
                    )
                ],
            )
        bounds = Bounds(
            preemptions=self.settings.explore_preemptions,
            schedules=self.settings.explore_max_schedules,
            seconds=self.settings.explore_max_seconds,
            max_workers=self.settings.max_workers_per_run,
        )
        return gated_program(scenario, mode, schedule or [], bounds)

    # --- step runs ------------------------------------------------------------------
    async def stepper(self, run_id: str, *, ended_too: bool = False) -> tuple[LiveRun, Stepper]:
        """A step or replay run still going (or, `ended_too`, one that has ended), and
        its scheduler."""
        run = await self.find(run_id)
        gate = run.recorder.gate if isinstance(run, LiveRun) else None
        if gate is None or not isinstance(run, LiveRun):
            raise Conflict(
                f'run {run_id} is not a step run: start one with POST /runs and "mode": "step" '
                '(or "replay" with a schedule)'
            )
        if run.finished and not ended_too:
            raise Conflict(f"run {run_id} has ended ({run.status}): no worker is left to step")
        return run, Stepper(gate)

    async def step_state(self, run_id: str) -> tuple[LiveRun, StepState]:
        """Where a step run stands (an ended one: nobody is left, the whole schedule)."""
        run, stepper = await self.stepper(run_id, ended_too=True)
        return run, await asyncio.to_thread(stepper.state)

    async def step(self, run_id: str, worker: str, control: str | None) -> tuple[LiveRun, StepState]:
        """Let one worker of a step run perform its next operation (its starter only)."""
        run, stepper = await self.stepper(run_id)
        self._may_control(run, control, "step")
        try:
            return run, await asyncio.to_thread(stepper.step, worker)
        except UnknownWorker as error:
            raise WorkerNotFound(str(error)) from None
        except (CannotStep, StuckStep) as error:
            raise Conflict(str(error)) from None

    async def run_to_end(
        self, run_id: str, policy: Policy, seed: int, control: str | None
    ) -> tuple[LiveRun, StepState]:
        """Step a step run to its end in the background (round-robin, or at random
        with `seed`); answers the state as it starts."""
        run, stepper = await self.stepper(run_id)
        self._may_control(run, control, "run to the end")
        finish = asyncio.create_task(asyncio.to_thread(_finish_quietly, stepper, policy, seed))
        self._finishing.add(finish)
        finish.add_done_callback(self._finishing.discard)
        return run, await asyncio.to_thread(stepper.state)

    def _may_control(self, run: Run, control: str | None, what: str) -> None:
        if not run.controlled_by(control):
            raise NotAllowed(
                f"only whoever started this run may {what} it: the browser that started it, or a "
                "script sending the control token POST /runs returned, in the X-Run-Control header"
            )

    async def stop(self, run_id: str, control: str | None) -> Run:
        """Stop a run for whoever started it (the holder of its control credential)."""
        run = await self.find(run_id)
        if not run.controlled_by(control):
            raise NotAllowed(
                "only whoever started this run may stop it: the browser that started it, or a "
                "script sending the control token POST /runs returned, in the X-Run-Control header"
            )
        self.manager.stop(run, STOPPED_BY_OWNER)
        return run


def _finish_quietly(stepper: Stepper, policy: Policy, seed: int) -> None:
    """Run a step run to its end; the run ending or stopping under it ends the stepping."""
    with contextlib.suppress(CannotStep, UnknownWorker):
        stepper.run_to_end(policy, seed)
