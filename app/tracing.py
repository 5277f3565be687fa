"""The recorder that workers call, and how a thread finds the recorder of its run.

Structure:
- `Recorder` holds one run's event buffer: three columns of 64-bit integers (a
  `librt.vecs.vec[i64]` each) and a list for the few events that carry a detail.
  Every string (lane, object, link) is interned once per run as a small integer and
  every kind is its code (`app.timeline.KIND_CODES`), so an event is 24 bytes::

      t     ns since the run started
      a     kind | has_detail << 5 | lane << 6
      b     obj | link << 32

  Writers from any thread append under one native mutex; the runner drains the
  buffer about once a frame with `take()`, which turns the columns back into `Event`s.
- `Lane` is a thread's binding: its recorder, its lane's name and id. `bind()`
  attaches a thread to a recorder under a lane name; `current_lane()` (and `here()`,
  the same as a tuple) returns it. The traced drop-ins in `app.traced` call it so
  scenario code reads exactly like the tutorial (`threading.Lock()`, `print(i)`) yet
  is recorded: `lane.record(ACQUIRE_CODE, obj_id)` is the hot path.
- `Stop` is raised inside workers when the run is cancelled (deadlock found, time
  limit, event limit, user cancel): every traced call checks the recorder's flag, so
  a run ends without killing threads.
- `LaneWatcher` is what the CPU-clock sampler (`app.sampler`) offers the recorder:
  bound lanes register with it, and the traced drop-ins tell it when a lane blocks
  (`blocked`/`unblocked`), so it knows which lanes should be running. The sampler
  draws `gil` states back-dated to the start of what it measured; `hold_from` keeps
  events from that point on out of `take()` until it has decided, so every lane's
  events leave in time order.

Compiled with mypyc where a C compiler exists (see app/hotpath.py and setup.py): then
a traced call runs no bytecode, so the interpreter cannot switch threads inside it and
recording does not change which thread meets a held lock. The same source runs
interpreted everywhere else. This module never imports FastAPI or asyncio: it runs in
worker threads and, for process scenarios, in child processes.
"""

from __future__ import annotations

import gc
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from librt.threading import Lock as Mutex
from librt.vecs import append, vec
from mypy_extensions import i64, mypyc_attr

from app.timeline import JSON, KIND_CODES, KINDS, Event, Kind, LaneKind

if TYPE_CHECKING:
    from app.gate import Gate

RawEvent = tuple[int, str, Kind, str, JSON, str]

_clock: Final = time.monotonic_ns
# tuple.__new__, not Event(...): a C call, no bytecode (Event's own __new__ and _make are
# Python functions: the interpreter could switch threads in each, mid-drain)
_new_tuple: Final = tuple.__new__

# The codes of the kinds the hot paths record (C constants once compiled).
RUN_CODE: Final[i64] = KIND_CODES[Kind.RUN]
ACQUIRE_CODE: Final[i64] = KIND_CODES[Kind.ACQUIRE]
RELEASE_CODE: Final[i64] = KIND_CODES[Kind.RELEASE]
NOTIFY_CODE: Final[i64] = KIND_CODES[Kind.NOTIFY]
PUT_CODE: Final[i64] = KIND_CODES[Kind.PUT]
GET_CODE: Final[i64] = KIND_CODES[Kind.GET]
PRINT_CODE: Final[i64] = KIND_CODES[Kind.PRINT]
READ_CODE: Final[i64] = KIND_CODES[Kind.READ]
WRITE_CODE: Final[i64] = KIND_CODES[Kind.WRITE]
LEVEL_CODE: Final[i64] = KIND_CODES[Kind.LEVEL]

_KIND_BITS: Final = 5  # 21 kinds today, 32 at most
_KIND_MASK: Final[i64] = (1 << _KIND_BITS) - 1
_HAS_DETAIL: Final[i64] = 1 << _KIND_BITS
_LANE_SHIFT: Final = _KIND_BITS + 1
_LINK_SHIFT: Final = 32
_OBJ_MASK: Final[i64] = (1 << _LINK_SHIFT) - 1
_NOW: Final[i64] = -(1 << 62)  # `put_at`'s time for "read the clock"
assert len(KINDS) <= 1 << _KIND_BITS, "a kind code no longer fits in the buffer's bits"


class Exclusive(Protocol):
    """An object one worker holds at a time (a traced Lock or RLock)."""

    name: str

    @property
    def holder(self) -> str: ...


class LaneWatcher(Protocol):
    """Told about each lane's life, in the lane's own thread (the sampler)."""

    def started(self, worker: str, lane: LaneKind) -> None: ...

    def paused(self, worker: str) -> None: ...  # about to block (wait, I/O, sleep)

    def resumed(self, worker: str) -> None: ...  # no longer blocked

    def ended(self, worker: str) -> None: ...


class Stop(BaseException):
    """Raised in a worker when its run was cancelled. A BaseException so that a
    scenario's own `except Exception` cannot swallow it."""


class LimitExceeded(Exception):
    """A scenario asked for more than the run allows (e.g. too many workers)."""


@mypyc_attr(allow_interpreted_subclasses=True)
class Recorder:
    """Collects one run's events.

    Usage::

        rec = Recorder(max_workers=16)
        with bind(rec, "main", LaneKind.MAIN):
            rec.emit("main", Kind.PRINT, detail="hello")
        events = rec.take()
    """

    def __init__(self, *, max_workers: int = 64, stop_grace_s: float = 3.0, t0_ns: int | None = None) -> None:
        self.t0_ns: i64 = _clock() if t0_ns is None else t0_ns
        self.t0_wall: float | None = None  # the wall clock at t0, once the program starts
        self.max_workers = max_workers
        # Once stopped, how long workers get to unwind before the run's processes are
        # ended and its threads given up on.
        self.stop_grace_s = stop_grace_s
        # The buffer (see the module docstring): every writer holds `_guard` while it
        # appends to all four, so the columns always have the same length.
        self._guard = Mutex()
        self._t = vec[i64]()
        self._a = vec[i64]()
        self._b = vec[i64]()
        self._details: list[JSON] = []
        # Interned strings: id -> text and text -> id; "" is 0. Only ever grows.
        self._strings: list[str] = [""]
        self._ids: dict[str, int] = {"": 0}
        self._pending: list[RawEvent] = []  # taken, but held back by `hold_from`
        self._names: dict[str, int] = {}
        self._lanes = 0
        self.stop_reason: str | None = None  # set once: why the run must end early
        # Wait-for bookkeeping, read by the runner's deadlock watchdog: the run's
        # exclusive objects (locks know their holder), and which object each blocked
        # worker waits on.
        self._exclusive: list[Exclusive] = []
        self.waiting_for: dict[str, str] = {}
        # Called (in the director thread) once the program and its threads are done:
        # process scenarios join their drain thread and reap children here.
        self._finalizers: list[Callable[[], None]] = []
        # Called from whichever thread stops the run, e.g. to tell child processes.
        self._stop_hooks: list[Callable[[str], None]] = []
        self.watcher: LaneWatcher | None = None  # the CPU-clock sampler, while it runs
        # Events at or after this time (ns since t0) stay in the buffer: the sampler
        # may still record states back-dated to it. None: nothing is held back.
        self.hold_from: int | None = None
        self.band = ""  # lanes started now are drawn under this heading (app.measure.measured)
        self.bands: dict[str, str] = {}  # lane -> its band, for lanes started with one
        self.lane_kinds: dict[str, LaneKind] = {}  # lane -> what it is (not main)
        self.lane_cpu: dict[str, int] = {}  # lane -> CPU time (ns) it used, once it ended
        self._history: list[RawEvent] | None = None  # every taken event, if asked (`keep_history`)
        # Held by take() while a batch is on its way from the buffer to the history, for
        # `events_so_far` to wait on. Python's lock: a waiter must give up the GIL.
        self._moving = threading.Lock()
        self._threads: list[threading.Thread] = []  # the run's own threads, for the runner to reap
        # Step, replay and explore modes: every traced call parks here until it is let
        # through (app.gate). None in a normal run: one attribute check per traced call.
        self.gate: Gate | None = None
        # What a module keeps for this run, by its own key (the process hub): it lives
        # as long as the recorder does.
        self.services: dict[object, object] = {}

    # --- hot path -------------------------------------------------------------------
    @final
    def put(self, lane: i64, kind: i64, obj: i64, detail: JSON, link: i64) -> None:
        """Record one event now, from interned ids and a kind code (see `Lane.record`)."""
        self.put_at(_NOW, lane, kind, obj, detail, link)

    @final
    def put_at(self, t_ns: i64, lane: i64, kind: i64, obj: i64, detail: JSON, link: i64) -> None:
        """`put` for an event measured earlier (t_ns since t0), or now if `t_ns` is
        `_NOW`: the clock is then read under the guard, so the buffer stays in time
        order. (Not a default argument: an i64 default reads as 0 through an
        interpreted subclass, such as a child process's recorder.)"""
        a = kind | lane << _LANE_SHIFT
        if detail is not None:
            a |= _HAS_DETAIL
        guard = self._guard
        guard.acquire()
        try:
            self._t = append(self._t, _clock() - self.t0_ns if t_ns == _NOW else t_ns)
            self._a = append(self._a, a)
            self._b = append(self._b, obj | link << _LINK_SHIFT)
            if detail is not None:
                self._details.append(detail)
        finally:
            guard.release()

    @final
    def intern(self, text: str) -> i64:
        """The id of `text` in this run's string table (added if new)."""
        found = self._ids.get(text)
        if found is not None:
            return found
        guard = self._guard
        guard.acquire()
        try:
            found = self._ids.get(text)  # another thread may have added it meanwhile
            if found is None:
                found = self._ids[text] = len(self._strings)
                self._strings.append(text)
            return found
        finally:
            guard.release()

    def binding(self, worker: str) -> Lane:
        """A binding of this recorder to lane `worker` (see `bind`, `rebind`)."""
        return Lane(self, worker)

    def emit(self, worker: str, kind: Kind, obj: str = "", detail: JSON = None, link: str = "") -> None:
        """Record one event now, on any lane, from any thread."""
        self.put(
            self.intern(worker),
            KIND_CODES[kind],
            self.intern(obj) if obj else 0,
            detail,
            self.intern(link) if link else 0,
        )

    def emit_at(
        self,
        t_ns: int,
        worker: str,
        kind: Kind,
        obj: str = "",
        detail: JSON = None,
        link: str = "",
    ) -> None:
        """Record an event measured earlier (t_ns already relative to the run's start)."""
        self.put_at(
            t_ns,
            self.intern(worker),
            KIND_CODES[kind],
            self.intern(obj) if obj else 0,
            detail,
            self.intern(link) if link else 0,
        )

    def extend(self, raw: list[RawEvent]) -> None:
        """Add events recorded elsewhere (a child process's batch)."""
        for t_ns, worker, kind, obj, detail, link in raw:
            self.emit_at(t_ns, worker, kind, obj, detail, link)

    def buffered(self) -> int:
        """How many events wait in the buffer for the next `take()`."""
        return len(self._t)

    def start_lane(self, worker: str, kind: LaneKind, at_ns: int | None = None) -> None:
        """Draw `start` on a new lane (not main), under the current band if any: now, or
        at `at_ns` (ns since t0) for a lane recorded elsewhere."""
        if self.band:
            self.bands[worker] = self.band
        self.lane_kinds[worker] = kind
        if at_ns is None:
            self.emit(worker, Kind.START, self.band, str(kind))
        else:
            self.emit_at(at_ns, worker, Kind.START, self.band, str(kind))

    def blocked(self, worker: str) -> None:
        """`worker` is about to wait (lock, join, sleep...): not a lane that should run."""
        if self.watcher is not None:
            self.watcher.paused(worker)

    def unblocked(self, worker: str) -> None:
        if self.watcher is not None:
            self.watcher.resumed(worker)

    def track_thread(self, thread: threading.Thread) -> None:
        """Register a thread the run started: the runner waits for it at the end."""
        self._threads.append(thread)

    def threads(self) -> list[threading.Thread]:
        """The threads the run started, in creation order."""
        return list(self._threads)

    def track_exclusive(self, obj: Exclusive) -> None:
        """Register a lock-like object (one holder at a time) for `owners`."""
        self._exclusive.append(obj)

    @property
    def owners(self) -> dict[str, str]:
        """Which lane holds each exclusive object now. Derived from the objects, so
        acquiring and releasing a lock write nothing here."""
        return {obj.name: holder for obj in list(self._exclusive) if (holder := obj.holder)}

    def free_locks(self) -> set[str]:
        """The exclusive objects nobody holds now: a worker waiting for one will get it."""
        return {obj.name for obj in list(self._exclusive) if not obj.holder}

    def start_clock(self) -> None:
        """Time zero is now: when the program starts, not when the run was asked for.
        The wall clock is noted too, so a viewer can tell how late an event reached it."""
        self.t0_ns = _clock()
        self.t0_wall = time.time()

    def now(self) -> int:
        return _clock() - self.t0_ns

    def skip(self, ns: int) -> None:
        """Leave `ns` of time out of the run's clock: time in which nothing of the
        program ran (a step run waiting for the learner's next step), so that the lanes
        show the program's own time. Only while no worker runs and no sampler watches."""
        self.t0_ns += ns

    def check(self) -> None:
        """Raise `Stop` in the calling worker if the run has been cancelled."""
        if self.stop_reason is not None:
            raise Stop(self.stop_reason)

    # --- control ------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Ask every worker to end at its next traced call. The first reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
            for hook in list(self._stop_hooks):
                hook(reason)

    def on_stop(self, hook: Callable[[str], None]) -> None:
        """Call `hook(reason)` when the run is stopped (at once if it already was)."""
        self._stop_hooks.append(hook)
        if self.stop_reason is not None:
            hook(self.stop_reason)

    def add_finalizer(self, finalizer: Callable[[], None]) -> None:
        """Call `finalizer()` when the run's program is over, last added first."""
        self._finalizers.append(finalizer)

    def finalize(self) -> None:
        """Run the finalizers (once). Every one runs even if an earlier one fails."""
        finalizers, self._finalizers = self._finalizers[::-1], []
        self._stop_hooks.clear()  # the program is over; and they may hold OS resources
        self._exclusive.clear()
        self._history = None  # the lesson has its numbers; the run's log is the runner's
        call_all(finalizers)

    def new_lane(self, prefix: str, name: str | None = None) -> str:
        """A lane for a new worker: `name` if the program gave one (a role such as
        "producer-1"), else numbered per run: Thread-1, Thread-2... (Python's own
        names count across the whole server, which would confuse a learner). Every
        lane counts against the run's worker limit."""
        self._lanes += 1
        if self._lanes > self.max_workers:
            raise LimitExceeded(f"this run may start at most {self.max_workers} workers")
        return name or self.new_name(prefix)

    def new_name(self, prefix: str) -> str:
        """A fresh name for a traced object of this run: Lock-1, Queue-2..."""
        n = self._names.get(prefix, 0) + 1
        self._names[prefix] = n
        return f"{prefix}-{n}"

    # --- draining -------------------------------------------------------------------
    def take(self) -> list[Event]:
        """Remove and return what was recorded so far, ordered by time.

        Called by one drainer. Each lane keeps its program order even when two events
        share a timestamp (the sort is stable). Events from `hold_from` on stay for a
        later call.
        """
        events: list[Event] = self._take(as_events=True, held_too=False)
        return events

    def take_raw(self, held_too: bool = False) -> list[RawEvent]:
        """`take()` as plain tuples (what a child process ships to its parent: they
        pickle smaller); `held_too`: the events from `hold_from` on as well."""
        raw: list[RawEvent] = self._take(as_events=False, held_too=held_too)
        return raw

    def _take(self, as_events: bool, held_too: bool) -> list[Any]:
        # From the swap on, the batch is in neither the buffer nor the history until
        # the end: `events_so_far` must not read that moment as a whole.
        with self._moving:
            t, a, b, details = self._swap()
            if len(t) == 0 and not self._pending:
                return []
            raw = self._pending + self._decode(t, a, b, details, as_events)
            self._pending = []
            if not _in_time_order(raw):
                raw.sort(key=_time_of)
            hold = None if held_too else self.hold_from
            if hold is not None and raw and raw[-1][0] >= hold:
                cut = bisect_left(raw, hold, key=_time_of)
                self._pending = raw[cut:]
                raw = raw[:cut]
            if self._history is not None:
                self._history.extend(raw)
            return raw

    def _swap(self) -> tuple[vec[i64], vec[i64], vec[i64], list[JSON]]:
        """The buffer's columns, replaced by empty ones in one step."""
        guard = self._guard
        guard.acquire()
        try:
            taken = (self._t, self._a, self._b, self._details)
            self._t, self._a, self._b, self._details = vec[i64](), vec[i64](), vec[i64](), []
            return taken
        finally:
            guard.release()

    def _snapshot(self) -> tuple[vec[i64], vec[i64], vec[i64], list[JSON]]:
        """The buffer's columns as they are now, left in place. A vec is a value: later
        appends may grow the same storage, but never change what this one holds."""
        guard = self._guard
        guard.acquire()
        try:
            return self._t, self._a, self._b, list(self._details)
        finally:
            guard.release()

    def _decode(
        self, t: vec[i64], a: vec[i64], b: vec[i64], details: list[JSON], as_events: bool = False
    ) -> list[Any]:
        with _collector_paused():
            return self._decode_batch(t, a, b, details, as_events)

    def _decode_batch(
        self, t: vec[i64], a: vec[i64], b: vec[i64], details: list[JSON], as_events: bool
    ) -> list[Any]:
        """The columns as RawEvents, or straight as Events: one object an event, not a
        tuple copied into another (that copy made `take()` cost twice `take_raw()`)."""
        strings = self._strings
        out: list[Any] = []  # not list[RawEvent]: compiled, that would unbox an Event to a plain tuple
        next_detail = 0
        for i in range(len(t)):
            code = a[i]
            ids = b[i]
            detail: JSON = None
            if code & _HAS_DETAIL:
                detail = details[next_detail]
                next_detail += 1
            fields = (
                t[i],
                strings[code >> _LANE_SHIFT],
                KINDS[code & _KIND_MASK],
                strings[ids & _OBJ_MASK],
                detail,
                strings[ids >> _LINK_SHIFT],
            )
            out.append(_new_tuple(Event, fields) if as_events else fields)
        return out

    def keep_history(self) -> None:
        """From now on keep a copy of every taken event, for `events_so_far` (a
        lesson that computes its result from its own timeline)."""
        if self._history is None:
            self._history = []

    def events_so_far(self) -> list[Event]:
        """Every event recorded since `keep_history()`, taken or not, in time order."""
        with self._moving:
            taken = list(self._history or ())
            pending = self._pending + self._decode(*self._snapshot(), as_events=True)
        # Events already: what `take()` kept and held back, and the buffer decoded as such.
        events: list[Any] = taken + pending
        events.sort(key=_time_of)
        return events


@final
@mypyc_attr(acyclic=True)
class Lane:
    """A thread's binding to one lane of one run: what the hot path records with.

    Usage (in a traced drop-in)::

        lane = current_lane()
        lane.recorder.check()
        lane.record(ACQUIRE_CODE, lane.recorder.intern("Lock-1"))
    """

    def __init__(self, recorder: Recorder, name: str) -> None:
        self.recorder = recorder
        self.name = name
        self.id: i64 = recorder.intern(name)

    def record(self, kind: i64, obj: i64, detail: JSON = None, link: i64 = 0) -> None:
        """Record one event on this lane now: `kind` is a code (ACQUIRE_CODE...),
        `obj` and `link` ids from `recorder.intern`."""
        self.recorder.put(self.id, kind, obj, detail, link)

    def link_to(self, other: Lane | None) -> i64:
        """The id to record as `link` for an event caused by `other` (0: nobody)."""
        if other is None:
            return 0
        if other.recorder is self.recorder:
            return other.id
        return self.recorder.intern(other.name)


def call_all(calls: list[Callable[[], None]]) -> None:
    """Call each in turn even if one fails (a leaked process or block is worse than a
    second error), then raise the first error."""
    errors = []
    for call in calls:
        try:
            call()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]


def _time_of(raw: RawEvent) -> int:
    return raw[0]


def _in_time_order(raw: list[RawEvent]) -> bool:
    """Mostly true: writers append under the guard with the clock read inside it;
    back-dated events (the sampler's) and child batches are what need a sort."""
    previous = -(1 << 62)
    for event in raw:
        t = event[0]
        if t < previous:
            return False
        previous = t
    return True


@contextmanager
def _collector_paused() -> Iterator[None]:
    """For building a batch of new tuples (a drain: up to millions of events). They hold
    no cycles, yet each would count towards the cyclic collector's next pass, and a full
    pass walks every object of the process: the decoding cost 6x more with it running
    (measured). Paused, it makes one pass afterwards."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


# Each thread's binding: one attribute read per traced call (this is on the hot path).
_binding: Final = threading.local()


def current_lane() -> Lane:
    """The binding of the calling thread: its recorder and lane."""
    lane: Lane | None = getattr(_binding, "lane", None)
    if lane is None:
        raise RuntimeError("this thread is not bound to a run: traced primitives only work inside a run")
    return lane


def here() -> tuple[Recorder, str]:
    """The recorder and lane name of the calling thread."""
    lane = current_lane()
    return lane.recorder, lane.name


@contextmanager
def bind(recorder: Recorder, worker: str, lane: LaneKind | None = None) -> Iterator[Recorder]:
    """Attach the calling thread to `recorder` as lane `worker` for the block.

    With `lane`, the block is the lane's whole life: it records `start`/`run` on entry
    and `done` (or `crash`, with the error) on exit.
    """
    previous: Lane | None = getattr(_binding, "lane", None)
    _binding.lane = recorder.binding(worker)
    try:
        if lane is None:
            yield recorder
            return
        if lane is LaneKind.MAIN:
            recorder.emit(worker, Kind.START, detail=str(lane))
        cpu_at_start = time.thread_time_ns()  # a pooled thread has run before this lane
        watcher = recorder.watcher
        if watcher is not None:
            watcher.started(worker, lane)
        recorder.emit(worker, Kind.RUN)
        # How the lane ends, and why ("": nothing to say). A str, not an Optional: mypyc
        # (2.4) miscompiles an Optional local assigned in a generator's except clauses.
        ending, why = Kind.CRASH, "ended without a word"
        try:
            yield recorder
        except Stop as stop:
            ending, why = Kind.DONE, f"stopped: {stop}"
            raise
        except BaseException as error:
            ending, why = Kind.CRASH, describe_error(error)
            raise
        else:
            ending, why = Kind.DONE, ""
        finally:
            recorder.lane_cpu[worker] = time.thread_time_ns() - cpu_at_start
            if watcher is not None:
                watcher.ended(worker)  # its last measured states land before its end
            recorder.emit(worker, ending, detail=why or None)
            if recorder.gate is not None:
                recorder.gate.left(worker)
    finally:
        _binding.lane = previous


def rebind(current: Lane | None) -> Lane | None:
    """Make `current` the calling thread's binding and return the previous one: for
    code that runs several lanes on one thread, such as asyncio tasks on their loop."""
    previous: Lane | None = getattr(_binding, "lane", None)
    _binding.lane = current
    return previous


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
