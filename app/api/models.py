"""The API's bodies as pydantic models: what /docs shows is what is validated.

`RunRequest` is a union discriminated by `scenario`, generated from the registry:
each member pairs one scenario's slug with that scenario's own parameter model, so
the schema states every parameter's type and bounds per scenario (and a
schema-driven client's valid requests really are valid).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from app.runner import RunStatus
from app.scenarios.base import Scenario
from app.scenarios.params import FieldSpec, field_specs
from app.scenarios.registry import SCENARIOS
from app.stepping import Mode, supports

MAX_SCHEDULE = 100_000  # steps a replay request may list


# A schedule goes with replay mode, and only with it (stated in the schema, so a
# schema-driven client never sends one the server refuses).
_REPLAY_NEEDS_A_SCHEDULE = {
    "allOf": [
        {
            "if": {"properties": {"mode": {"const": "replay"}}, "required": ["mode"]},
            "then": {"required": ["schedule"], "properties": {"schedule": {"minItems": 1}}},
            "else": {"properties": {"schedule": {"maxItems": 0}}},
        }
    ]
}
MODE_HELP = (
    "Who schedules the threads: normal (the OS); step (each worker stops before each traced "
    "operation until POST /runs/{id}/step lets it through); replay (step mode following "
    "`schedule`); explore (the server searches schedules for one that fails the lesson's check)"
)


def _request_model(scenario: Scenario) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in scenario.slug.split("-"))
    fields: dict[str, Any] = {
        "scenario": (Literal[scenario.slug], Field(description=scenario.title)),
        "params": (
            scenario.params,
            Field(default_factory=scenario.params, description="Omitted parameters take their defaults"),
        ),
    }
    extra: dict[str, Any] | None = None
    if supports(scenario):
        fields["mode"] = (Mode, Field(Mode.NORMAL, description=MODE_HELP))
        fields["schedule"] = (
            list[Annotated[str, Field(min_length=1, max_length=100)]],
            Field(
                default_factory=list,
                max_length=MAX_SCHEDULE,
                description="replay mode: the workers to step, in order (a step run's values.schedule)",
            ),
        )
        extra = _REPLAY_NEEDS_A_SCHEDULE
    else:  # processes and asyncio are not gated: only the OS schedules them
        fields["mode"] = (
            Literal[Mode.NORMAL],
            Field(
                Mode.NORMAL, description="normal only: step, replay and explore are for the thread lessons"
            ),
        )
    return create_model(
        f"Run{name}",
        __config__=ConfigDict(extra="forbid", title=f"Run “{scenario.title}”", json_schema_extra=extra),
        **fields,
    )


_MEMBERS = tuple(_request_model(scenario) for scenario in SCENARIOS.values())
RunRequest = Annotated[Union[_MEMBERS], Field(discriminator="scenario")]  # type: ignore[valid-type]  # noqa: UP007


def scheduling(request: BaseModel) -> tuple[Mode, list[str] | None]:
    """The mode and the schedule of a validated request."""
    return Mode(request.mode), getattr(request, "schedule", None) or None  # type: ignore[attr-defined]


def scenario_and_params(request: BaseModel) -> tuple[str, dict[str, Any]]:
    """The slug and the raw parameters of a validated request (the service validates
    them again for the pages' sake: one rule, two doors)."""
    params: BaseModel = request.params  # type: ignore[attr-defined]
    slug: str = request.scenario  # type: ignore[attr-defined]
    return slug, params.model_dump()


class RunResult(BaseModel):
    summary: str = Field(description="One sentence from the run's own numbers")
    values: dict[str, Any] = Field(description="The numbers behind it")
    notice: str = Field("", description="What to notice in this run's lanes, from its parameters and numbers")
    focus: list[int] | None = Field(
        None,
        description="Where to look first: [start, end] in ns since the run's start (the page zooms there)",
    )


class RunSummary(BaseModel):
    """A run: what ran, how it stands, and what it produced."""

    id: str
    scenario: str
    title: str
    expects_stop: bool = Field(description="The lesson's point is an early stop (a deadlock caught)")
    params: dict[str, Any]
    status: RunStatus
    reason: str | None = Field(description="Why a stopped run stopped")
    error: str | None = Field(description="What a failed run raised")
    result: RunResult | None
    events: int = Field(description="Events recorded so far")
    created_at: float = Field(description="When it was asked for (Unix time, seconds)")
    started_at: float | None = Field(description="When its program started: event times count from here")
    duration_ms: float | None
    interpreter: str = Field(
        description="The Python that ran it and its recorder, e.g. cpython 3.11.7 · compiled recorder"
    )
    recorder: str = Field(
        description="Which recorder recorded it: compiled (the hot path built with mypyc) or interpreted"
    )


class CreatedRun(RunSummary):
    control: str = Field(
        description="The run's control credential, returned only here: send it as the "
        "X-Run-Control header to stop the run (the page that started it holds it as a cookie)"
    )


class ParamInfo(BaseModel):
    name: str
    label: str
    help: str
    kind: Literal["int", "float", "bool", "choice", "int-list"]
    default: Any
    minimum: float | None
    maximum: float | None
    choices: list[str]
    allowed: str = Field(description="The allowed values, in words")

    @classmethod
    def of(cls, spec: FieldSpec) -> ParamInfo:
        return cls(
            name=spec.name,
            label=spec.label,
            help=spec.help,
            kind=spec.kind,
            default=spec.default,
            minimum=spec.minimum,
            maximum=spec.maximum,
            choices=list(spec.choices),
            allowed=spec.allowed,
        )


class ScenarioInfo(BaseModel):
    """A lesson: its parameters with their bounds, and the exact code its workers run."""

    slug: str
    title: str
    group: str
    notice: str
    params: list[ParamInfo]
    source: str

    @classmethod
    def of(cls, scenario: Scenario) -> ScenarioInfo:
        return cls(
            slug=scenario.slug,
            title=scenario.title,
            group=scenario.group,
            notice=scenario.notice,
            params=[ParamInfo.of(spec) for spec in field_specs(scenario.params)],
            source=scenario.source,
        )


class PendingOp(BaseModel):
    """What one live worker of a step run stands before."""

    worker: str
    op: str = Field(
        description="acquire, release, wait, notify, set, put, get, print, read, write, sleep, "
        "start, join, begin (a new thread's first line)..."
    )
    obj: str = Field(description="The object it is about (a lock's name...), or empty")
    line: int | None = Field(description="The line of the lesson's code (as GET /scenarios shows it, from 1)")
    ready: bool = Field(description="Could it go on now? False: it would block, or waits")
    waiting: bool = Field(description="Already in its wait: stepping it is refused until it is ready")


class StepStateBody(BaseModel):
    """Where a step run stands."""

    run: str
    status: RunStatus
    workers: list[PendingOp] = Field(description="Each live worker parked at a gate, in lane order")
    live: list[str] = Field(description="Workers that have not ended")
    schedule: list[str] = Field(
        description="The workers stepped so far, in order: replay it with mode replay"
    )


class StepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: str = Field(min_length=1, max_length=100, description="The worker to let through, e.g. Thread-1")


class RunToEndRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: Literal["round-robin", "random"] = Field(
        "round-robin", description="round-robin: the next ready worker in lane order; random: seeded"
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="random: the same seed steps the same way")
