"""What a scenario is: a title, bounded parameters, the program it runs, what to notice.

A scenario's `main` runs as the run's `main` lane, with the run's recorder bound, and
uses the traced drop-ins in `app.traced`; it returns a `Result`. No FastAPI here.
"""

from __future__ import annotations

import inspect
import signal
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.timeline import JSON
from app.tracing import here


class Params(BaseModel):
    """Base for scenario parameters: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Result:
    """What a run produced: one sentence for the page, the numbers behind it, and what
    to notice in this run's lanes (from its parameters and what was measured)."""

    summary: str
    values: dict[str, JSON] = field(default_factory=dict)
    notice: str = ""


def plural(n: int, noun: str) -> str:
    """ "1 thread", "3 threads"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}{'es' if noun.endswith('s') else 's'}"


def how_it_ended(exitcode: int | None) -> str:
    """A process's exit code in words: "exited with code 3", "was killed by SIGKILL"."""
    if exitcode is None:
        return "had not ended"
    if exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode}"


def stop_reason() -> str | None:
    """Why the calling scenario's run is being stopped, or None while it is not.

    A scenario whose workers were stopped may still reach its `return` (a join of a
    thread that already ended does not raise): it must then say so, and report only
    what it measured before the stop, never a verdict on work that did not happen.
    """
    rec, _ = here()
    return rec.stop_reason


@dataclass(frozen=True)
class Scenario:
    """A runnable lesson.

    Usage::

        SCENARIO = Scenario(
            slug="lock-counter", title="Lock counter", group="Threads",
            notice="What to notice...", params=CounterParams, main=main,
        )
    """

    slug: str
    title: str
    group: str  # heading in the picker: "Threads", "Processes"...
    notice: str  # "what to notice": short enough for a teacher to read aloud
    params: type[Params]
    main: Callable[[Any], Result]
    code: tuple[Callable[..., Any], ...] = ()  # shown beside the lanes; default: main
    order: int = 100  # position within its group in the picker
    # Set for scenarios whose whole point is an early end (a deadlock): a stop caught
    # by the watchdog is then the lesson, not a failure.
    expects_stop: bool = False

    @cached_property
    def source(self) -> str:
        """The exact source the workers run, as shown on the page."""
        parts = self.code or (self.main,)
        return "\n\n".join(textwrap.dedent(inspect.getsource(part)).rstrip() for part in parts)

    def defaults(self) -> Params:
        return self.params()
