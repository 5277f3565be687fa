"""The event vocabulary: the contract between workers, the server and the browser.

Every recorded fact is one `Event`. On the wire (SSE, exports) an event is the JSON
array ``[t_ns, worker, kind, obj, detail, link]`` in that order, so a batch of
thousands stays compact; `static/js/model.js` reads the same positions. How each state
looks and reads (colour, pattern, words) is `app/palette.py`.

A lane (one per worker) is always in exactly one *state*, from one state event to the
next. *Instants* happen at a point in time on a lane and never change its state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

JSON = Any  # what json.dumps accepts; detail payloads stay small and flat


class LaneKind(StrEnum):
    """What sort of worker a lane draws; carried as the `detail` of its `start`."""

    MAIN = "main"  # the thread that runs the scenario's main program
    THREAD = "thread"  # a threading.Thread
    PROCESS = "process"  # a multiprocessing.Process
    POOL_WORKER = "pool-worker"  # a process owned by a Pool / ProcessPoolExecutor
    TASK = "task"  # an asyncio task: runs on its event loop's thread, one step at a time


class Kind(StrEnum):
    """What happened. States first, then instants."""

    # --- states: the lane stays in one until the next state event ---
    START = "start"  # being created; for a process, includes interpreter start-up
    RUN = "run"  # on CPU, doing the scenario's work
    IO = "io"  # sleeping or blocked on I/O
    WAIT = "wait"  # blocked on a sync object (obj names it: lock, queue, join...)
    # runnable but not on a CPU, estimated from CPU clocks (app/sampler.py); obj says
    # what it waits for: "GIL" (the interpreter) or "CPU" (a core)
    GIL = "gil"
    DONE = "done"  # finished normally; the lane ends here
    CRASH = "crash"  # ended by an error (detail holds it); the lane ends here

    # --- instants: a point on the lane, the state does not change ---
    ACQUIRE = "acquire"  # got obj (lock, semaphore slot...); link = who released it
    RELEASE = "release"  # gave obj back
    NOTIFY = "notify"  # signalled obj (condition, event, barrier)
    PUT = "put"  # put an item into obj (queue, pipe)
    GET = "get"  # took an item from obj; link = who put it
    PRINT = "print"  # the program printed; detail is the text
    RESULT = "result"  # a value the worker produced; detail is its repr
    MARK = "mark"  # a note from the runner (deadlock found, limit hit...)
    READ = "read"  # read shared state (detail: the value seen)
    WRITE = "write"  # wrote shared state (detail: the value written)
    LEVEL = "level"  # a gauge changed: obj's value is now detail (free slots, queue size)


STATES: frozenset[Kind] = frozenset(
    {Kind.START, Kind.RUN, Kind.IO, Kind.WAIT, Kind.GIL, Kind.DONE, Kind.CRASH}
)
FINAL_STATES: frozenset[Kind] = frozenset({Kind.DONE, Kind.CRASH})

# Each kind as a small integer, for compact columns (the recorder's buffer, stored
# logs): the code is the kind's position in the enum above, so new kinds go last.
KINDS: tuple[Kind, ...] = tuple(Kind)
KIND_CODES: dict[Kind, int] = {kind: code for code, kind in enumerate(KINDS)}


class Event(NamedTuple):
    """One recorded fact. A NamedTuple: as cheap to build as a tuple, which matters
    because workers create one per traced call."""

    t_ns: int  # nanoseconds since the run started (time.monotonic_ns based)
    worker: str  # lane name, e.g. "main", "Thread-2", "Process-1"
    kind: Kind
    obj: str = ""  # the sync object or resource involved, e.g. "lock"
    detail: JSON = None  # kind-specific payload (printed text, error, lane kind...)
    link: str = ""  # the worker whose action ended this wait ("who woke whom")

    def to_wire(self) -> list[JSON]:
        return [self.t_ns, self.worker, str(self.kind), self.obj, self.detail, self.link]


def joining(lane: str) -> str:
    """The object a join waits on: "join Thread-2". One spelling, so the deadlock
    watchdog can tell a join whose lane has already finished (it ends by itself)."""
    return f"join {lane}"
