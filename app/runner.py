"""RunManager: starts runs, watches them, enforces limits, keeps their event logs and
publishes each run to the history (app/store) as it goes.

Structure, one direction only:

    POST /runs -> RunManager.start() -> _drive() task on the event loop
                                         |-- run_in_executor(_execute): the scenario, in its own
                                         |   "director" thread, bound to the run's Recorder
                                         '-- every frame: Recorder.take() -> LiveRun.publish()
                                             (+ watchdog: deadlock, time and event limits)
                                             -> HistoryWriter.logged() (a queue put)

`_drive` is the one bridge between worker threads and asyncio: workers only append to
the recorder's buffer; the loop drains it and wakes viewers. Nothing in a worker
touches an asyncio object. No FastAPI here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from pydantic import ValidationError

from app.columns import EventColumns
from app.config import Settings
from app.sampler import Sampler
from app.scenarios.base import Params, Result, Scenario
from app.store import Ending, RunRecord, interpreter_name, recorder_of, this_process
from app.store.writer import HistoryWriter
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
    # the server died while it ran (found at the next start): the events recorded until
    # then are kept, its result is unknown
    INTERRUPTED = "interrupted"


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


def _digest(control: str) -> str:
    return hashlib.sha256(control.encode()).hexdigest()


@dataclass(kw_only=True, eq=False)
class Run:
    """A run as every door reads it: what ran, how it stands, its event log.

    A run of this server process is a `LiveRun` (it has a recorder and grows); a run
    from before a restart is a plain `Run` read back from the history (`Run.stored`):
    the same summary, the same stream, the same exports.
    """

    id: str
    scenario: Scenario
    params: Params
    created_at: float = field(default_factory=time.time)
    control_digest: str = ""  # sha256 of the credential that may stop it (see app/service.py)
    status: RunStatus = RunStatus.RUNNING
    result: Result | None = None
    error: str | None = None
    reason: str | None = None
    started_at: float | None = None  # Unix time its program started: t_ns counts from here
    duration_ns: int | None = None
    interpreter: str = field(default_factory=interpreter_name)
    events: EventColumns = field(default_factory=EventColumns)
    # Replaced on every publish: viewers wait on the current one ("generation" wake-up).
    _more: asyncio.Event = field(default_factory=asyncio.Event)

    growing: ClassVar[bool] = False  # does anything still add to its log?

    @property
    def finished(self) -> bool:
        return self.status is not RunStatus.RUNNING

    def controlled_by(self, control: str | None) -> bool:
        """Is `control` this run's control credential? (Constant time: it is a secret.)"""
        if not control or not self.control_digest:
            return False
        return secrets.compare_digest(_digest(control), self.control_digest)

    async def follow(self, start: int, most: int) -> AsyncIterator[tuple[int, int]]:
        """Yield (first, stop) index ranges of `events` from `start` until the run ends.

        Each range holds what arrived since the last one (about a frame), up to `most`.
        A run nothing adds to any more (finished, or stored by a process still running
        it elsewhere) ends after what it has.
        """
        index = start
        while True:
            more = self._more
            if index < len(self.events):
                stop = min(len(self.events), index + most)
                yield index, stop
                index = stop
                continue
            if self.finished or not self.growing:
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
            else {
                "summary": self.result.summary,
                "values": self.result.values,
                "notice": self.result.notice,
                "focus": list(self.result.focus) if self.result.focus else None,
            },
            "events": len(self.events),
            "created_at": self.created_at,
            "started_at": self.started_at,
            "duration_ms": None if self.duration_ns is None else round(self.duration_ns / 1e6, 3),
            "interpreter": self.interpreter,
            "recorder": recorder_of(self.interpreter),
        }

    @classmethod
    def stored(cls, record: RunRecord, scenario: Scenario, events: EventColumns) -> Run:
        """A run read back from the history."""
        try:
            params = scenario.params.model_validate(record.params)
        except ValidationError:  # the lesson's bounds changed since: show what ran
            params = scenario.params.model_construct(**record.params)
        result = None if record.result is None else Result(**record.result)
        return cls(
            id=record.id,
            scenario=scenario,
            params=params,
            created_at=record.created_at,
            control_digest=record.control_digest,
            status=RunStatus(record.status),
            result=result,
            error=record.error,
            reason=record.reason,
            started_at=record.started_at,
            duration_ns=record.duration_ns,
            interpreter=record.interpreter,
            events=events,
        )


@dataclass(kw_only=True, eq=False)
class LiveRun(Run):
    """A run of this server process: its recorder, and the log it publishes to."""

    recorder: Recorder
    client: str = ""  # who started it (an address): per-client limits count its runs
    # What the director runs instead of `scenario.main` (step, replay, explore: app.stepping)
    program: Callable[[Params], Result] | None = None

    growing: ClassVar[bool] = True

    def publish(self, events: list[Event]) -> None:
        """Append to the log and wake every viewer. Loop thread only."""
        self.events.extend(events)
        if self.started_at is None:
            self.started_at = self.recorder.t0_wall
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
        self.started_at = self.recorder.t0_wall
        self._wake()

    def _wake(self) -> None:
        woken, self._more = self._more, asyncio.Event()
        woken.set()

    def record(self, owner: str) -> RunRecord:
        """What the history keeps of it, as it starts."""
        return RunRecord(
            id=self.id,
            scenario=self.scenario.slug,
            title=self.scenario.title,
            params=self.params.model_dump(),
            interpreter=self.interpreter,
            created_at=self.created_at,
            owner=owner,
            control_digest=self.control_digest,
        )

    def ending(self) -> Ending:
        """What the history keeps of how it ended."""
        summary = self.summary()
        return Ending(
            status=str(self.status),
            started_at=self.started_at,
            duration_ns=self.duration_ns,
            reason=self.reason,
            error=self.error,
            result=summary["result"],
        )


class RunManager:
    """Owns every run of this server process, and keeps recent ones in memory.

    With a `history`, each run is published to it as it goes (created, its events once
    a frame, its end), and runs read back from it can be kept here too (`remember`).

    Usage (inside a running event loop)::

        manager = RunManager(settings, history=writer)
        run = manager.start(scenario, params)
        async for first, stop in run.follow(0, 500): ...
        await manager.close()
    """

    def __init__(self, settings: Settings, history: HistoryWriter | None = None) -> None:
        self.settings = settings
        self.history = history
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self._owner = this_process()
        _managers.add(self)
        self._tasks: set[asyncio.Task[None]] = set()

    def live(self) -> list[LiveRun]:
        """The runs of this process still running."""
        return [run for run in self.runs.values() if isinstance(run, LiveRun) and not run.finished]

    @property
    def active(self) -> int:
        return len(self.live())

    def running_for(self, client: str) -> int:
        return sum(1 for run in self.live() if run.client == client)

    def get(self, run_id: str) -> Run | None:
        return self.runs.get(run_id)

    def remember(self, run: Run) -> None:
        """Keep a finished run read back from the history, within the memory budgets."""
        self.runs[run.id] = run
        self._forget_old_runs()

    def start(
        self,
        scenario: Scenario,
        params: Params,
        *,
        client: str = "",
        control: str = "",
        program: Callable[[Recorder], Callable[[Params], Result]] | None = None,
    ) -> LiveRun:
        """`program(recorder)`: what to run instead of the lesson's own main, given the
        run's recorder before anything runs (the gated modes attach their gate there)."""
        if self.active >= self.settings.max_concurrent_runs:
            raise TooManyRuns(
                f"{self.settings.max_concurrent_runs} runs are already running, the most this "
                "server allows at once; try again when one has finished"
            )
        recorder = Recorder(
            max_workers=self.settings.max_workers_per_run, stop_grace_s=self.settings.stop_grace_seconds
        )
        run = LiveRun(
            id=secrets.token_hex(6),
            scenario=scenario,
            params=params,
            recorder=recorder,
            client=client,
            control_digest=_digest(control) if control else "",
            program=None if program is None else program(recorder),
        )
        self.runs[run.id] = run
        self._forget_old_runs()
        if self.history is not None:
            self.history.created(run.record(self._owner))
        task = asyncio.get_running_loop().create_task(self._drive(run), name=f"run-{run.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    def stop(self, run: Run, reason: str) -> None:
        if isinstance(run, LiveRun):
            run.recorder.stop(reason)

    def stop_all(self, reason: str) -> None:
        """Ask every running run to stop; each ends (and its streams close) shortly."""
        for run in self.live():
            run.recorder.stop(reason)

    async def close(self) -> None:
        """Stop every run and wait (bounded) for them to unwind."""
        self.stop_all(SHUTTING_DOWN)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.settings.stop_grace_seconds + 1)

    # --- inside the event loop ----------------------------------------------------
    def _publish(self, run: LiveRun) -> None:
        events = run.recorder.take()
        run.publish(events)
        if events and self.history is not None:
            self.history.logged(run.id, run.events, len(run.events))

    def _finish(self, run: LiveRun, outcome: RunOutcome) -> None:
        run.finish(outcome)
        if self.history is not None:
            self.history.ended(run.id, run.ending())

    async def _drive(self, run: LiveRun) -> None:
        loop = asyncio.get_running_loop()
        watchdog = Watchdog(run, self.settings, time.monotonic())
        director = self._direct(run)
        abandon_at: float | None = None  # set once the run is stopped: when to stop waiting
        while True:
            done, _ = await asyncio.wait({director}, timeout=self.settings.frame_seconds)
            self._publish(run)
            if done:
                break
            watchdog.check()
            if run.recorder.stop_reason is not None and abandon_at is None:
                abandon_at = loop.time() + _director_patience(self.settings)
            if abandon_at is not None and loop.time() > abandon_at:
                # The program did not unwind (a thread stuck where no traced call comes):
                # its processes are ended by the hub's own timer; the run ends here.
                _log.warning("run %s: the program did not unwind after its stop; left behind", run.id)
                self._finish(run, RunOutcome.abandoned(run.recorder))
                return
        try:
            outcome: Result | BaseException = director.result()
        except BaseException as error:  # the scenario's own failure, shown to the user
            outcome = error
        self._finish(run, RunOutcome.of(outcome, run.recorder))

    def _direct(self, run: LiveRun) -> asyncio.Future[Result]:
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
                main = run.program or run.scenario.main
                result = _execute(main, run.params, run.recorder, self.settings)
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
        self, run: LiveRun, settings: Settings, started: float, clock: Callable[[], float] = time.monotonic
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
        # A run someone steps by hand: the limit counts from its last step.
        since = self.started if rec.gate is None else max(self.started, rec.gate.touched)
        if now - since > self.settings.max_run_seconds:
            idle = "nobody stepped it for" if rec.gate is not None else "the run took longer than"
            self._stop(f"time limit: {idle} {self.settings.max_run_seconds:g} s")
        elif len(self.run.events) >= self.settings.max_events_per_run:
            self._stop(f"event limit: the run recorded {self.settings.max_events_per_run} events")
        else:
            finding = self._find_deadlock(dict(rec.waiting_for), rec.owners)
            if rec.gate is not None and not rec.gate.stuck():
                finding = None  # stepped by hand: a waiting worker may be free to go, when stepped
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
        # thread or process is still exiting), and so does a wait for a lock nobody
        # holds (its waiter has yet to get a core): the check errs towards "no deadlock".
        ends_by_itself = finished | self.run.recorder.free_locks()
        if live and all(lane in waiting_for and waiting_for[lane] not in ends_by_itself for lane in live):
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
def _execute(
    main: Callable[[Params], Result], params: Params, recorder: Recorder, settings: Settings
) -> Result:
    """Run the scenario as the `main` lane, then make sure no worker outlives the run."""
    # Time zero is when the program starts, not when the request arrived: the gap
    # (a thread starting) is ours, not the lesson's.
    recorder.start_clock()
    # GIL and CPU waits, for as long as the program runs; not in a gated run (step,
    # replay): one worker runs at a time there, so nobody waits for the GIL, and a step
    # run's clock leaves out the time between steps, which the sampler's would not
    sampler = Sampler(recorder).start() if recorder.gate is None else None
    try:
        with bind(recorder, MAIN_LANE, LaneKind.MAIN):
            return main(params)
    finally:
        try:
            _reap_threads(recorder, settings.stop_grace_seconds)
        finally:
            if sampler is not None:
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
