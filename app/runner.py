"""RunManager: starts runs, watches them, enforces limits, and keeps their event logs.

Structure, one direction only:

    POST /runs -> RunManager.start() -> _drive() task on the event loop
                                         |-- run_in_executor(_execute): the scenario, in its own
                                         |   "director" thread, bound to the run's Recorder
                                         '-- every frame: Recorder.take() -> Run.publish()
                                             (+ watchdog: deadlock, time and event limits)

`_drive` is the one bridge between worker threads and asyncio: workers only append to
the recorder's buffer; the loop drains it and wakes viewers. Nothing in a worker
touches an asyncio object. No FastAPI here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from app.config import Settings
from app.sampler import Sampler
from app.scenarios.base import Params, Result, Scenario
from app.timeline import FINAL_STATES, JSON, STATES, Event, Kind, LaneKind, joining
from app.tracing import Recorder, bind, describe_error

MAIN_LANE = "main"
_log = logging.getLogger("interleave.runner")


SHUTTING_DOWN = "the server is shutting down"
_managers: weakref.WeakSet[RunManager] = weakref.WeakSet()


def stop_all_runs(reason: str = SHUTTING_DOWN) -> None:
    """Stop every run of every manager in this process: called when the server is
    told to exit, so that open event streams end with `done` instead of holding
    the shutdown until their runs finish."""
    for manager in list(_managers):
        manager.stop_all(reason)


class RunStatus(StrEnum):
    RUNNING = "running"  # the scenario is executing; events are streaming
    DONE = "done"  # the program finished normally
    FAILED = "failed"  # the program raised: `error` says what
    STOPPED = "stopped"  # ended early by the server: `reason` says why (deadlock, limit...)


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, decided once from what its program did and why it stopped."""

    status: RunStatus
    duration_ns: int
    result: Result | None = None
    error: str | None = None
    reason: str | None = None

    @classmethod
    def of(cls, outcome: Result | BaseException, recorder: Recorder) -> RunOutcome:
        """A run whose program returned or raised. A stop reason wins over both: a
        stopped run is `stopped`, keeping a result its program still returned (the
        scenario words it as partial)."""
        duration = recorder.now()
        reason = recorder.stop_reason
        result = outcome if isinstance(outcome, Result) else None
        if reason is not None:
            return cls(RunStatus.STOPPED, duration, result=result, reason=reason)
        if result is not None:
            return cls(RunStatus.DONE, duration, result=result)
        assert isinstance(outcome, BaseException)
        return cls(RunStatus.FAILED, duration, error=describe_error(outcome))

    @classmethod
    def abandoned(cls, recorder: Recorder) -> RunOutcome:
        """A stopped run whose program did not unwind in time: it ends without it."""
        reason = f"{recorder.stop_reason}; the program did not unwind in time and was left behind"
        return cls(RunStatus.STOPPED, recorder.now(), reason=reason)


def _director_patience(settings: Settings) -> float:
    """How long a stopped run's program gets to return: the grace period for its
    workers, then the time its processes take to be terminated and killed, then the
    same again for its finalizers to reap them."""
    return 2 * (settings.stop_grace_seconds + 1.0)


class TooManyRuns(Exception):
    """The server is already running as many runs as its settings allow."""


@dataclass
class Run:
    """One execution of a scenario and its append-only event log."""

    id: str
    scenario: Scenario
    params: Params
    recorder: Recorder
    client: str = ""  # who started it (an address): per-client limits count its runs
    control: str = ""  # the credential that may stop it (see app/service.py)
    created_at: float = field(default_factory=time.time)
    status: RunStatus = RunStatus.RUNNING
    result: Result | None = None
    error: str | None = None
    reason: str | None = None
    duration_ns: int | None = None
    events: list[Event] = field(default_factory=list)
    # Replaced on every publish: viewers wait on the current one ("generation" wake-up).
    _more: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING

    def controlled_by(self, control: str | None) -> bool:
        """Is `control` this run's control credential? (Constant time: it is a secret.)"""
        return bool(control) and bool(self.control) and secrets.compare_digest(control or "", self.control)

    def publish(self, events: list[Event]) -> None:
        """Append to the log and wake every viewer. Loop thread only."""
        self.events.extend(events)
        self._wake()

    def finish(self, outcome: RunOutcome) -> None:
        """Record how the run ended and wake every viewer for the last time. Loop thread only."""
        self.status, self.result, self.error, self.reason = (
            outcome.status,
            outcome.result,
            outcome.error,
            outcome.reason,
        )
        self.duration_ns = outcome.duration_ns
        self._wake()

    def _wake(self) -> None:
        woken, self._more = self._more, asyncio.Event()
        woken.set()

    async def follow(self, start: int, most: int) -> AsyncIterator[tuple[int, list[Event]]]:
        """Yield (index of first, events) batches from `start` until the run ends.

        Each batch holds what arrived since the last one (about a frame), up to `most`.
        """
        index = start
        while True:
            more = self._more
            if index < len(self.events):
                batch = self.events[index : index + most]
                yield index, batch
                index += len(batch)
                continue
            if self.finished:
                return
            await more.wait()

    def summary(self) -> dict[str, JSON]:
        return {
            "id": self.id,
            "scenario": self.scenario.slug,
            "title": self.scenario.title,
            "expects_stop": self.scenario.expects_stop,
            "params": self.params.model_dump(),
            "status": str(self.status),
            "reason": self.reason,
            "error": self.error,
            "result": None
            if self.result is None
            else {"summary": self.result.summary, "values": self.result.values, "notice": self.result.notice},
            "events": len(self.events),
            "created_at": self.created_at,
            "started_at": self.recorder.t0_wall,
            "duration_ms": None if self.duration_ns is None else round(self.duration_ns / 1e6, 3),
        }


class RunManager:
    """Owns every run of this server process.

    Usage (inside a running event loop)::

        manager = RunManager(settings)
        run = manager.start(scenario, params)
        async for first, batch in run.follow(0, 500): ...
        await manager.close()
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runs: OrderedDict[str, Run] = OrderedDict()
        _managers.add(self)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        return sum(1 for run in self.runs.values() if not run.finished)

    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def start(self, scenario: Scenario, params: Params, *, client: str = "", control: str = "") -> Run:
        if self.active >= self.settings.max_concurrent_runs:
            raise TooManyRuns(
                f"{self.settings.max_concurrent_runs} runs are already running, the most this "
                "server allows at once; try again when one has finished"
            )
        recorder = Recorder(
            max_workers=self.settings.max_workers_per_run, stop_grace_s=self.settings.stop_grace_seconds
        )
        run = Run(
            id=secrets.token_hex(6),
            scenario=scenario,
            params=params,
            recorder=recorder,
            client=client,
            control=control,
        )
        self.runs[run.id] = run
        self._forget_old_runs()
        task = asyncio.get_running_loop().create_task(self._drive(run), name=f"run-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def stop(self, run: Run, reason: str) -> None:
        run.recorder.stop(reason)

    def stop_all(self, reason: str) -> None:
        """Ask every running run to stop; each ends (and its streams close) shortly."""
        for run in list(self.runs.values()):
            if not run.finished:
                run.recorder.stop(reason)

    async def close(self) -> None:
        """Stop every run and wait (bounded) for them to unwind."""
        self.stop_all(SHUTTING_DOWN)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.stop_grace_seconds + 1)

    # --- inside the event loop ----------------------------------------------------
    async def _drive(self, run: Run) -> None:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(run, self.settings, time.monotonic())
        director = self._direct(run)
        abandon_at: float | None = None  # set once the run is stopped: when to stop waiting
        while True:
            done, _ = await asyncio.wait({director}, timeout=self.settings.frame_seconds)
            run.publish(run.recorder.take())
            if done:
                break
            watchdog.check()
            if run.recorder.stop_reason is not None and abandon_at is None:
                abandon_at = loop.time() + _director_patience(self.settings)
            if abandon_at is not None and loop.time() > abandon_at:
                # The program did not unwind (a thread stuck where no traced call comes):
                # its processes are ended by the hub's own timer; the run ends here.
                _log.warning("run %s: the program did not unwind after its stop; left behind", run.id)
                run.finish(RunOutcome.abandoned(run.recorder))
                return
        try:
            outcome: Result | BaseException = director.result()
        except BaseException as error:  # the scenario's own failure, shown to the user
            outcome = error
        run.publish(run.recorder.take())
        run.finish(RunOutcome.of(outcome, run.recorder))

    def _direct(self, run: Run) -> asyncio.Future[Result]:
        """Run the scenario in a thread of its own (a "director"), and return a future
        of its result. A director that never returns costs one parked thread, not a
        run slot: the run ends without it (see `_drive`)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()

        def settle(result: Result | None, error: BaseException | None) -> None:
            if not future.done():
                if error is not None:
                    future.set_exception(error)
                else:
                    future.set_result(result)  # type: ignore[arg-type]

        def direct() -> None:
            try:
                result = _execute(run.scenario, run.params, run.recorder, self.settings)
            except BaseException as error:
                outcome: tuple[Result | None, BaseException | None] = (None, error)
            else:
                outcome = (result, None)
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=direct, name=f"interleave-run-{run.id}", daemon=True).start()
        return future

    def _forget_old_runs(self) -> None:
        """Drop the oldest finished runs beyond the count and memory budgets."""
        kept_events = sum(len(run.events) for run in self.runs.values())
        for run_id, run in list(self.runs.items()):
            over = len(self.runs) > self.settings.kept_runs or kept_events > self.settings.kept_events
            if not over:
                break
            if run.finished:
                kept_events -= len(run.events)
                del self.runs[run_id]


class Watchdog:
    """Checks a running run once a frame: time limit, event limit, deadlock.

    Two kinds of deadlock, both read from what blocked workers wait on (waits with a
    timeout do not count: they end by themselves):
    - a cycle in the wait-for graph: worker -> lock it waits on -> worker holding
      that lock -> ... (locks have one owner, so the chain is exact);
    - every live lane of the run blocked at once, on anything (a semaphore whose
      slots its own waiters hold, a condition nobody will notify, a join of one of
      them): nobody is left who could wake anybody.
    The graph is read without locks while workers change it, so a finding only counts
    once it has been seen unchanged on checks `_DEADLOCK_CONFIRM_S` apart: a real
    deadlock never changes.
    """

    _DEADLOCK_CONFIRM_S = 0.3  # generous: a starved machine can delay a woken thread

    def __init__(
        self, run: Run, settings: Settings, started: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.run = run
        self.settings = settings
        self.started = started
        self._clock = clock  # seconds, as `started`; tests pass a clock they move by hand
        self._suspect: tuple[str, tuple[tuple[str, str], ...]] | None = None
        self._suspect_since = 0.0
        self._suspect_index = 0  # events already checked for the suspect's lanes moving
        self._lane_state: dict[str, Kind] = {}  # each lane's latest published state
        self._seen = 0  # events of the log folded into _lane_state

    def check(self) -> None:
        rec = self.run.recorder
        if rec.stop_reason is not None:
            return
        now = self._clock()
        if now - self.started > self.settings.max_run_seconds:
            self._stop(f"time limit: the run took longer than {self.settings.max_run_seconds:g} s")
        elif len(self.run.events) >= self.settings.max_events_per_run:
            self._stop(f"event limit: the run recorded {self.settings.max_events_per_run} events")
        else:
            finding = self._find_deadlock(dict(rec.waiting_for), rec.owners)
            if finding is None or finding != self._suspect or self._moved(finding):
                self._suspect, self._suspect_since = finding, now
                self._suspect_index = len(self.run.events)
            elif now - self._suspect_since >= self._DEADLOCK_CONFIRM_S:
                shape, pairs = finding
                waits = [f"{worker} waits for {obj}" for worker, obj in pairs]
                if shape == "stuck":
                    text = "every thread is waiting and none can wake another: " + "; ".join(waits)
                else:
                    text = " -> ".join(waits)
                rec.emit(MAIN_LANE, Kind.MARK, "deadlock", detail={shape: [list(pair) for pair in pairs]})
                self._stop(f"deadlock: {text}")

    def _moved(self, finding: tuple[str, tuple[tuple[str, str], ...]]) -> bool:
        """Did a lane of the finding record anything since it was first seen? Two
        threads passing a condition back and forth can both be caught waiting on
        every check; a deadlocked lane never records again."""
        involved = {worker for worker, _ in finding[1]}
        fresh = self.run.events[self._suspect_index :]
        self._suspect_index += len(fresh)  # each event is looked at once
        return any(event.worker in involved for event in fresh)

    def _find_deadlock(
        self, waiting_for: dict[str, str], owners: dict[str, str]
    ) -> tuple[str, tuple[tuple[str, str], ...]] | None:
        cycle = find_wait_cycle(waiting_for, owners)
        if cycle is not None:
            return "cycle", cycle
        for event in self.run.events[self._seen :]:
            if event.kind in STATES:
                self._lane_state[event.worker] = event.kind
        self._seen = len(self.run.events)
        live = [lane for lane, state in self._lane_state.items() if state not in FINAL_STATES]
        finished = {joining(lane) for lane, state in self._lane_state.items() if state in FINAL_STATES}
        # A lane whose latest events are not yet published counts as live and not
        # waiting; a join of a lane that has said its last word ends by itself (the
        # thread or process is still exiting): the check errs towards "no deadlock".
        if live and all(lane in waiting_for and waiting_for[lane] not in finished for lane in live):
            return "stuck", tuple(sorted((lane, waiting_for[lane]) for lane in live))
        return None

    def _stop(self, reason: str) -> None:
        self.run.recorder.emit(MAIN_LANE, Kind.MARK, "stop", detail=reason)
        self.run.recorder.stop(reason)


def find_wait_cycle(
    waiting_for: dict[str, str], owners: dict[str, str]
) -> tuple[tuple[str, str], ...] | None:
    """A cycle of (worker, object it waits for) pairs, or None; canonical rotation."""
    for first in sorted(waiting_for):
        path: list[tuple[str, str]] = []
        seen: set[str] = set()
        worker: str | None = first
        while worker is not None and worker in waiting_for and worker not in seen:
            seen.add(worker)
            obj = waiting_for[worker]
            path.append((worker, obj))
            worker = owners.get(obj)
        if worker is not None and worker in seen:
            cycle = path[[w for w, _ in path].index(worker) :]
            smallest = min(range(len(cycle)), key=lambda i: cycle[i][0])
            return tuple(cycle[smallest:] + cycle[:smallest])
    return None


# --- inside the director thread ----------------------------------------------------
def _execute(scenario: Scenario, params: Params, recorder: Recorder, settings: Settings) -> Result:
    """Run the scenario as the `main` lane, then make sure no worker outlives the run."""
    # Time zero is when the program starts, not when the request arrived: the gap
    # (a thread starting) is ours, not the lesson's.
    recorder.start_clock()
    sampler = Sampler(recorder).start()  # GIL and CPU waits, for as long as the program runs
    try:
        with bind(recorder, MAIN_LANE, LaneKind.MAIN):
            return scenario.main(params)
    finally:
        try:
            _reap_threads(recorder, settings.stop_grace_seconds)
        finally:
            sampler.stop()
            recorder.finalize()


def _reap_threads(recorder: Recorder, grace_s: float) -> None:
    """Wait for the run's threads; if any is still alive (the program forgot to join,
    or was stopped), stop the run so they unwind at their next traced call."""
    mine = recorder.threads()
    if any(t.is_alive() for t in mine):
        recorder.stop(recorder.stop_reason or "the program ended while threads were still running")
    deadline = time.monotonic() + grace_s
    for t in mine:
        # The plain join: the traced one needs a bound lane, and this thread's is over.
        threading.Thread.join(t, max(0.0, deadline - time.monotonic()))
