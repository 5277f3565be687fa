"""The CPU-clock sampler: where a lane that should be running is not on a CPU.

One `Sampler` thread per run (and one inside each child process), started and stopped
with the run. It is the run's `Recorder.watcher`: a lane registers from its own thread
when it is bound (its CPU clock from `time.pthread_getcpuclockid`, its scheduler
statistics in /proc), and the traced drop-ins tell it when the lane blocks and resumes.
About every `SAMPLE_S` (or as soon as the interpreter lets it run: it needs the GIL
too) it reads the CPU clock of every lane that should be running: bound, not blocked.

What an interval [t0, t1] of such a lane becomes:
- it gained at least half of the wall time in CPU: `run`. A short steal by another
  thread, the server's own included, does not show;
- less: its time off the CPU is split in two. Waiting for the GIL (`gil`, obj "GIL")
  is the time it was neither on a CPU nor queued for one (the thread's run-queue delay,
  /proc/self/task/<tid>/schedstat, second field), but no more than the time the run's
  other lanes were on a CPU or queued for one meanwhile: one of them held the
  interpreter. The server's own threads (its event loop, this sampler) must not show up
  as the lesson's GIL. The rest is waiting for a CPU core (`gil`, obj "CPU"). They are drawn in that order,
  before the part it ran. A child process's lane alone in its interpreter (our own
  threads there are not lanes) has nobody to wait for but a core: all of it is "CPU".
- an interval opens where the lane starts or resumes, in its own thread: it holds the
  interpreter there, so what follows is drawn running first, then waiting. (Opened at
  the next tick instead, a sampler kept from the interpreter by the lanes it watches
  would leave them drawn running until it got it back: beside other load, four counting
  threads were once drawn running 95 % of their time.) An interval a tick opens starts
  with the wait: the sampler held the interpreter there.
- the kernel adds a run-queue wait to the delay only when the thread gets a CPU again,
  so an interval without any CPU progress stays open until the lane runs (or blocks, or
  ends). Meanwhile `Recorder.hold_from` keeps later events back, so that every lane's
  events leave in time order although ours are back-dated.

An estimate from clocks, not a trace of the interpreter; the page's legend says so.
Linux only: where a thread's CPU clock cannot be read, nothing is drawn.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from app.timeline import Kind, LaneKind
from app.tracing import Recorder

SAMPLE_S = 0.001
IDLE_S = 0.005  # while every lane is blocked there is nothing to sample: wake up less often
MIN_PART_NS = 200_000  # shorter pieces of an interval are not drawn on their own
MAX_OPEN_NS = 100_000_000  # an interval without CPU progress is decided after this at most
GIL, CORE, RUN = "GIL", "CPU", "run"  # what a piece of an interval is drawn as


@dataclass(eq=False)
class _Lane:
    name: str
    clock: int  # the thread's CPU clock id
    sched: int | None  # an open fd on its /proc schedstat, or None where there is none
    # Written by the lane's thread (no lock: single writes, read once per tick).
    blocked: bool = False  # a lane blocks once at a time; saying it twice changes nothing
    changes: int = 0
    # The sampler's, under its lock.
    seen: int = -1  # `changes` when last looked at: a new lane counts as changed
    t0: int | None = None  # start of the open interval (ns since the run's t0)
    pending: bool = False  # the interval outlived a tick for want of CPU progress
    cpu0: int = 0
    queued0: int = 0
    others0: int = 0  # the run's lanes' busy total at t0
    read: int | None = None  # its CPU clock plus run-queue delay at the last tick
    drawn: str = RUN  # what the lane shows now, as far as we know
    ran_first: bool = False  # the open interval began with the lane holding the interpreter

    def open_at(self, t0: int, cpu: int, queued: int, others: int, *, ran_first: bool) -> None:
        """Open the lane's next interval at t0, with its clocks and the run's busy total then."""
        self.t0, self.cpu0, self.queued0, self.others0 = t0, cpu, queued, others
        self.pending, self.ran_first = False, ran_first


class Sampler:
    """Draws `gil` (GIL or CPU waits) on the lanes of one recorder.

    Usage::

        sampler = Sampler(recorder).start()
        try:
            with bind(recorder, "main", LaneKind.MAIN): ...
        finally:
            sampler.stop()
    """

    def __init__(self, rec: Recorder, interval_s: float = SAMPLE_S) -> None:
        self.rec = rec
        self.interval_s = interval_s
        self.ticks = 0
        self.own_cpu_ns = 0  # CPU time the sampler's thread used, once it has stopped
        # ns the watched lanes were on a CPU or queued for one since they registered, all together
        self._busy_total = 0
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sampling = True  # until the sampler's thread ends: then nothing more is drawn
        self._thread = threading.Thread(target=self._loop, name="interleave-sampler", daemon=True)

    def start(self) -> Sampler:
        self.rec.watcher = self
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling and release everything held back (the run is over)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            if self.rec.watcher is self:
                self.rec.watcher = None
            for lane in self._lanes.values():
                _close_fd(lane)
            self._lanes.clear()
            self.rec.hold_from = None

    # --- LaneWatcher: called in the lane's own thread -------------------------------
    def started(self, worker: str, lane: LaneKind) -> None:
        try:
            clock = time.pthread_getcpuclockid(threading.get_ident())
        except (AttributeError, OSError):  # not Linux: nothing to measure with
            return
        try:
            sched: int | None = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            sched = None
        watched = _Lane(worker, clock, sched)
        cpu, queued = time.thread_time_ns(), _queued(watched)
        with self._lock:
            if self._stopping.is_set():
                _close_fd(watched)
                return
            self._lanes[worker] = watched
            self._open_here(watched, cpu, queued)

    def paused(self, worker: str) -> None:
        lane = self._lanes.get(worker)
        if lane is None:
            return
        # Settled only if it can draw a wait (one shorter than MIN_PART_NS is not drawn):
        # this runs before every wait of the program.
        opened = lane.t0
        if lane.pending or (opened is not None and self.rec.now() - opened >= MIN_PART_NS):
            self._settle(lane)
        lane.blocked = True
        lane.changes += 1

    def resumed(self, worker: str) -> None:
        lane = self._lanes.get(worker)
        if lane is not None and lane.blocked:
            cpu, queued = time.thread_time_ns(), _queued(lane)
            with self._lock:
                lane.blocked = False
                lane.changes += 1
                self._open_here(lane, cpu, queued)

    def _open_here(self, lane: _Lane, cpu: int, queued: int) -> None:
        """Open the lane's interval now, in its own thread, under the lock; see the module
        docstring. `cpu` and `queued` were read just before: reading the run-queue delay
        and taking the lock may give up the interpreter, and the interval must begin
        where the lane holds it again, right before the event that says it runs. Its
        pieces land from then on: nothing the run records later may leave before them."""
        lane.seen = lane.changes
        if not self._sampling:
            return
        now = self.rec.now()
        lane.open_at(now, cpu, queued, self._busy_total, ran_first=True)
        lane.drawn = RUN
        held = self.rec.hold_from
        self.rec.hold_from = now if held is None else min(held, now)

    def ended(self, worker: str) -> None:
        lane = self._lanes.get(worker)
        if lane is None:
            return
        if lane.t0 is not None:
            self._settle(lane)
        with self._lock:
            self._lanes.pop(worker, None)
            _close_fd(lane)

    @contextmanager
    def between_samples(self) -> Iterator[None]:
        """No sample is being drawn while the block runs: a lane that has just said it
        blocks gets nothing back-dated from then on, so all its events may leave."""
        with self._lock:
            yield

    def settle(self, worker: str) -> None:
        """Decide the lane's open interval now (called in its own thread): then all it
        recorded so far may leave, as before a block. For a process that may die any
        moment, such as a pool worker starting a task."""
        lane = self._lanes.get(worker)
        if lane is not None:
            self._settle(lane)

    def _settle(self, lane: _Lane) -> None:
        """The lane is about to block or end: decide its open interval now, with its
        own clocks, so that what it waited for lands before what it does next."""
        with self._lock:
            if lane.t0 is None or lane.changes != lane.seen:
                return
            self._close(lane, self.rec.now(), time.thread_time_ns(), _queued(lane))
            lane.t0, lane.pending = None, False

    # --- the sampler's thread ----------------------------------------------------------
    def _loop(self) -> None:
        try:
            # time.sleep, not Event.wait: one C call, the least work per wake-up. A
            # stopped run is unwinding, or its program is stuck and left behind by the
            # runner: either way there is nothing left to draw.
            while not self._stopping.is_set() and self.rec.stop_reason is None:
                time.sleep(self.interval_s if self.sample() else IDLE_S)
        finally:
            with self._lock:
                self._sampling = False
                self.rec.hold_from = None  # whatever happened, never keep the run's events back
            self.own_cpu_ns = time.thread_time_ns()

    def sample(self) -> bool:
        """Sample every running lane once (the sampler's thread does, every `interval_s`;
        a test may, at moments of its choosing); False if none was running."""
        with self._lock:
            start = self.rec.now()
            held = [lane.t0 for lane in self._lanes.values() if lane.t0 is not None]
            # Every interval opened in this tick starts at or after `start`.
            self.rec.hold_from = min([*held, start])
            readings = {}
            for lane in list(self._lanes.values()):
                if lane.blocked:
                    continue
                try:
                    now, cpu = self.rec.now(), time.clock_gettime_ns(lane.clock)
                except OSError:  # the thread has ended; `ended` removes it
                    continue
                queued = _queued(lane)
                readings[lane.name] = (now, cpu, queued)
                self._busy_total += 0 if lane.read is None else cpu + queued - lane.read
                lane.read = cpu + queued
            for lane in list(self._lanes.values()):
                self._look(lane, readings.get(lane.name))
            opened = [lane.t0 for lane in self._lanes.values() if lane.t0 is not None]
            self.rec.hold_from = min(opened) if opened else None
            self.ticks += 1
            return bool(readings)

    def _look(self, lane: _Lane, reading: tuple[int, int, int] | None) -> None:
        changes = lane.changes
        if changes != lane.seen:  # it blocked since: it drew its own state
            lane.seen = changes
            lane.t0, lane.pending = None, False
            lane.drawn = RUN
        if lane.blocked or reading is None:
            lane.t0, lane.pending = None, False
            return
        now, cpu, queued = reading
        if lane.t0 is None:
            lane.open_at(now, cpu, queued, self._busy_total, ran_first=False)
        elif cpu != lane.cpu0 or now - lane.t0 >= MAX_OPEN_NS:
            self._close(lane, now, cpu, queued)
        else:  # not a nanosecond of CPU since t0: it stays open (see the module docstring)
            lane.pending = True

    def _close(self, lane: _Lane, t1: int, cpu1: int, queued1: int) -> None:
        """Draw the interval [lane.t0, t1] and open the next one at t1."""
        assert lane.t0 is not None
        ran, queued = cpu1 - lane.cpu0, queued1 - lane.queued0
        others = self._busy_total - lane.others0 - max(ran, 0) - max(queued, 0)  # the other lanes, meanwhile
        for at, state in split_interval(lane.t0, t1, ran, queued, others, ran_first=lane.ran_first):
            if state != lane.drawn:
                if state == RUN:
                    self.rec.emit_at(at, lane.name, Kind.RUN)
                else:
                    self.rec.emit_at(at, lane.name, Kind.GIL, state)
                lane.drawn = state
        lane.open_at(t1, cpu1, queued1, self._busy_total, ran_first=False)


def split_interval(
    t0: int, t1: int, ran: int, queued: int, others: int, *, ran_first: bool = False
) -> list[tuple[int, str]]:
    """What the interval [t0, t1] (ns) of a lane that should be running is drawn as:
    (start, state) pieces in time order, states GIL, CORE or RUN (see the module
    docstring). `ran`: the CPU time the lane gained; `queued`: the time it spent in the
    run queue; `others`: the CPU and queue time of the run's other lanes meanwhile (a
    holder of the GIL among them). The waits come first, unless `ran_first` (the lane
    held the interpreter at t0): then the part it ran, already drawn, comes first."""
    wall = t1 - t0
    if ran * 2 >= wall:
        return [(t0, RUN)]
    off, queued = wall - max(ran, 0), max(0, queued)
    gil = max(0, min(off - queued, others))
    core = off - gil
    waits = [(state, length) for state, length in ((GIL, gil), (CORE, core)) if length >= MIN_PART_NS]
    if ran_first:  # the run part stays where the lane drew it, however short
        pieces, at = [(t0, RUN)], t0 + wall - off
    else:
        pieces, at = [], t0
    for state, length in waits:
        pieces.append((at, state))
        at += length
    if not ran_first and (t1 - at >= MIN_PART_NS or not pieces):
        pieces.append((at, RUN))
    return pieces


def _queued(lane: _Lane) -> int:
    """The thread's total run-queue delay so far (ns), or 0 where it cannot be read."""
    if lane.sched is None:
        return 0
    try:
        return int(os.pread(lane.sched, 64, 0).split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _close_fd(lane: _Lane) -> None:
    if lane.sched is not None:
        os.close(lane.sched)
        lane.sched = None
