"""What a scenario is: a title, bounded parameters, the program it runs, what to notice.

A scenario's `main` runs as the run's `main` lane, with the run's recorder bound, and
uses the traced drop-ins in `app.traced`; it returns a `Result`. No FastAPI here.
"""

from __future__ import annotations

import inspect
import signal
import textwrap
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator

from app.timeline import JSON
from app.tracing import here


@dataclass(frozen=True)
class Rule:
    """One parameter allows only some values while another has a given value, e.g.
    `Rule(when=("channel", "pipe"), only=("consumers", (1,)), because="...")`.
    Checked on every run request, and stated in the JSON schema (if/then), so a
    schema-driven client never sends a request the server would refuse for it."""

    when: tuple[str, object]
    only: tuple[str, tuple[object, ...]]
    because: str


def _rules_in_schema(schema: dict[str, Any], model: type[Params]) -> None:
    conditions = []
    for rule in model.rules:
        (when, value), (field_name, allowed) = rule.when, rule.only
        then: dict[str, Any] = {"properties": {field_name: {"enum": list(allowed)}}}
        if model.model_fields[field_name].default not in allowed:
            then["required"] = [field_name]  # left out, its default would break the rule
        conditions.append({"if": {"properties": {when: {"const": value}}, "required": [when]}, "then": then})
    if conditions:
        schema["allOf"] = conditions


def _counts(annotation: Any) -> bool:
    """Is this an int parameter, or a list of ints (however annotated)?"""
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        annotation = typing.get_args(item)[0] if typing.get_origin(item) is typing.Annotated else item
    return annotation is int


def _whole(value: Any) -> Any:
    if isinstance(value, list):
        return [_whole(item) for item in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


class Params(BaseModel):
    """Base for scenario parameters: unknown fields are an error, not silently ignored,
    and JSON values are taken as they are (no `false` for a number); the form's text
    is converted when parsed (`app.scenarios.params.parse`)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_rules_in_schema)
    rules: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _whole_numbers_as_json_means_them(cls, data: Any) -> Any:
        """JSON has one number type: 3.0 is a whole number there (and in the JSON schema),
        so an integer parameter takes it; 3.5, true or "3" stay refused (strict mode)."""
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            name: _whole(value) if name in fields and _counts(fields[name].annotation) else value
            for name, value in data.items()
        }

    @model_validator(mode="after")
    def _follow_the_rules(self) -> Params:
        for rule in self.rules:
            (when, value), (field_name, allowed) = rule.when, rule.only
            if getattr(self, when) == value and getattr(self, field_name) not in allowed:
                raise ValueError(rule.because)
        return self


@dataclass(frozen=True)
class Result:
    """What a run produced: one sentence for the page, the numbers behind it, and what
    to notice in this run's lanes (from its parameters and what was measured)."""

    summary: str
    values: dict[str, JSON] = field(default_factory=dict)
    notice: str = ""
    # Where in the run to look first, [start, end] in ns since t0 (the page opens the
    # finished run's lanes on it), when the lesson's point is a small part of its run.
    focus: list[int] | None = None


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
    # The lesson's own measure of a bad run, for explore mode (app.stepping): what went
    # wrong (a lost update, more holders than slots...) in words, or None if all is well.
    check: Callable[[Any, Result], str | None] | None = None

    @cached_property
    def source(self) -> str:
        """The exact source the workers run, as shown on the page."""
        return "\n\n".join(text for text, _, _ in self._parts)

    @cached_property
    def _parts(self) -> list[tuple[str, str, int]]:
        """Each part of the source as shown, with its file and first line there."""
        parts = []
        for part in self.code or (self.main,):
            first = inspect.getsourcelines(part)[1]
            parts.append(
                (textwrap.dedent(inspect.getsource(part)).rstrip(), inspect.getsourcefile(part) or "", first)
            )
        return parts

    def panel_line(self, file: str, line: int) -> int | None:
        """The line (from 1) of `source` showing `line` of `file`, or None if the
        source does not show it."""
        shown = 1
        for text, part_file, first in self._parts:
            count = text.count("\n") + 1
            if part_file == file and first <= line < first + count:
                return shown + line - first
            shown += count + 1  # the blank line between two parts
        return None
