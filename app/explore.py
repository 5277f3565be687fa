"""Let the machine find the bad interleaving: systematic search over schedules.

A schedule is the list of workers let through a run's `Gate`, one traced operation
each. `explore` re-executes the lesson from scratch once per schedule (real threads,
gated: stateless model checking), depth-first:

- each execution follows a prefix of choices, then continues without preempting (the
  worker that ran last goes on while it can; else the first ready one), recording at
  every step which workers could have gone instead;
- afterwards, every such alternative beyond the prefix becomes a new prefix to try,
  as long as the path's preemptions (switching away from a worker that could have
  gone on) stay within `preemption_bound`: most concurrency bugs need one or two
  (the CHESS line of work, "iterative context bounding");
- partial-order reduction by sleep sets: an alternative whose operation is
  independent of what was chosen (another object; or two reads) would only reorder
  two commuting steps, so once one order was explored the other is put to sleep.
  This trusts that the untraced code a step runs after its operation touches only
  that operation's object or the thread's own state (true of the lessons, whose
  shared state is traced; `independent` is conservative where it is not sure).

The search stops at the first failing schedule it finds (so the "shortest found" is
the only one found: depth-first with few preemptions reaches short failing schedules
early, but that is not a guarantee), or when the bounds on schedules and time run out,
or when `stopped()` says the run was stopped. No FastAPI here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from app.gate import Pending

READS = frozenset({"read"})  # the operations of which two on one object commute


@dataclass(frozen=True)
class Choice:
    """One decision of an execution: who could go, and who went."""

    ready: tuple[str, ...]
    chosen: str
    ops: dict[str, tuple[str, str]]  # worker -> (op, obj) of its pending operation
    asleep: frozenset[str] = frozenset()


@dataclass
class Execution:
    """One run of the program under a schedule."""

    choices: list[Choice] = field(default_factory=list)
    failure: str | None = None  # what went wrong (a lost update, a deadlock...), or None
    pruned: bool = False  # every ready worker was asleep: a schedule already covered
    cut: bool = False  # the search's time ran out before this execution ended

    @property
    def schedule(self) -> list[str]:
        return [choice.chosen for choice in self.choices]


@dataclass
class Explored:
    schedules_tried: int = 0
    pruned: int = 0
    failing_schedule: list[str] | None = None
    failure: str | None = None
    exhausted: bool = False  # the whole bounded space was searched
    seconds: float = 0.0


class Chooser:
    """The policy one execution follows: a prefix, then no preemption; sleeping
    workers are never chosen. `choose` returns None when every ready worker sleeps."""

    def __init__(self, prefix: Sequence[str], asleep: frozenset[str]) -> None:
        self.prefix = list(prefix)
        self.asleep = set(asleep)  # the sleep set, at the end of the prefix
        self.execution = Execution()
        self._last: str | None = None

    def choose(self, pending: Sequence[Pending]) -> str | None:
        ready = tuple(p.worker for p in pending if p.ready)
        if not ready:
            return None
        ops = {p.worker: (p.op, p.obj) for p in pending}
        step = len(self.execution.choices)
        asleep = frozenset(self.asleep) if step >= len(self.prefix) else frozenset()
        if step < len(self.prefix):
            chosen = self.prefix[step]
            if chosen not in ready:  # a replay that no longer fits the program
                raise ValueError(f"step {step + 1}: {chosen} cannot go now; ready: {', '.join(ready)}")
        else:
            awake = [w for w in ready if w not in self.asleep]
            if not awake:
                self.execution.pruned = True
                return None
            chosen = self._last if self._last in awake else awake[0]
            # what it does commutes with what sleeps: those stay asleep, the rest wake
            self.asleep = {w for w in self.asleep if w in ops and independent(ops[w], ops[chosen])}
        self.execution.choices.append(Choice(ready, chosen, ops, asleep))
        self._last = chosen
        return chosen


def independent(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Do two pending steps commute? Steps on different objects do, and so do two
    reads of one. A step without an object (a sleep, a thread's first line) is taken
    to conflict with everything: a step also runs the untraced code up to the next
    gate, which may touch plain shared state (a list both threads append to), and a
    wrong "independent" would prune a schedule that differs."""
    (op_a, obj_a), (op_b, obj_b) = a, b
    if not obj_a or not obj_b:
        return False
    if obj_a != obj_b:
        return True
    return op_a in READS and op_b in READS


def preemptions(choices: Sequence[Choice], upto: int, alternative: str) -> int:
    """Preemptions of the path `choices[:upto]` then `alternative`."""
    count = 0
    last: str | None = None
    for i in range(upto + 1):
        chosen = alternative if i == upto else choices[i].chosen
        if last is not None and chosen != last and last in choices[i].ready:
            count += 1
        last = chosen
    return count


def explore(
    execute: Callable[[Chooser], Execution],
    *,
    preemption_bound: int,
    max_schedules: int,
    max_seconds: float,
    stopped: Callable[[], bool] = lambda: False,
) -> Explored:
    """Depth-first over schedules until one fails, or the bounds run out.

    `execute(chooser)` runs the program once from scratch, asking `chooser.choose` at
    every step, and returns the chooser's execution with `failure` filled in."""
    started = time.monotonic()
    result = Explored()
    stack: list[tuple[list[str], frozenset[str]]] = [([], frozenset())]
    while stack:
        if result.schedules_tried >= max_schedules or time.monotonic() - started > max_seconds or stopped():
            break
        prefix, asleep = stack.pop()
        execution = execute(Chooser(prefix, asleep))
        if execution.cut:
            break
        if execution.pruned:
            result.pruned += 1
            continue
        result.schedules_tried += 1
        if execution.failure is not None:
            result.failing_schedule = execution.schedule
            result.failure = execution.failure
            break
        # Children of every decision this execution made beyond its prefix. The stack
        # is last in, first out: deeper decisions are pushed last (depth first), and a
        # decision's alternatives so that the first is tried first; by the time one is
        # tried, everything in its sleep set has had its whole subtree explored.
        for i in range(len(prefix), len(execution.choices)):
            choice = execution.choices[i]
            alternatives = [
                w
                for w in choice.ready
                if w != choice.chosen
                and w not in choice.asleep
                and preemptions(execution.choices, i, w) <= preemption_bound
            ]
            children = []
            done = [*choice.asleep, choice.chosen]
            for alternative in alternatives:
                sleeping = frozenset(
                    w for w in done if w in choice.ops and independent(choice.ops[w], choice.ops[alternative])
                )
                children.append(([*execution.schedule[:i], alternative], sleeping))
                done.append(alternative)
            stack.extend(reversed(children))
    else:
        result.exhausted = True
    result.seconds = time.monotonic() - started
    return result
