"""The page and the htmx fragments it swaps: scenario panel, run panel."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from app import palette
from app.api.deps import AppSettings, ClientAddress, RunDep, ScenarioDep, Service
from app.api.errors import retry_headers, status_of
from app.api.runs import hand_over_control
from app.assets import TEMPLATES
from app.scenarios.base import Scenario
from app.scenarios.params import field_specs
from app.scenarios.registry import SCENARIOS
from app.service import InvalidParams, Problem, Refusal
from app.stepping import Mode, supports

router = APIRouter(tags=["pages"], include_in_schema=False)
templates = Jinja2Templates(directory=TEMPLATES)
# the words, colours and speeds every page draws with: one source, app/palette.py
templates.env.globals.update(
    legend=palette.legend(), speeds=palette.speed_choices(), default_speed=f"{palette.DEFAULT_SPEED:g}"
)


def _groups() -> dict[str, list[Scenario]]:
    groups: dict[str, list[Scenario]] = defaultdict(list)
    for scenario in SCENARIOS.values():
        groups[scenario.group].append(scenario)
    return dict(groups)


def _scenario_context(
    scenario: Scenario, watched: dict[str, object] | None = None, preset: dict[str, Any] | None = None
) -> dict[str, object]:
    """The lesson panel; `watched`: a run's own parameters, shown read-only;
    `preset`: a replay link's parameters, mode and schedule, filled into the form."""
    return {
        "scenario": scenario,
        "fields": field_specs(scenario.params),
        "watched": watched,
        "gated": supports(scenario),
        "preset": preset or {"params": {}, "mode": "normal", "schedule": ""},
    }


def _preset(scenario: Scenario, mode: str | None, schedule: str | None, params: str | None) -> dict[str, Any]:
    """What a replay link asks the form to hold; anything unusable is left out (the
    form's own defaults stand, and the server checks what is sent anyway)."""
    try:
        values = json.loads(params) if params else {}
    except json.JSONDecodeError:
        values = {}
    usable = mode in {str(m) for m in Mode} and supports(scenario)
    return {
        "params": values if isinstance(values, dict) else {},
        "mode": mode if usable else "normal",
        "schedule": schedule if usable and mode == Mode.REPLAY and schedule else "",
    }


@router.get("/", response_class=HTMLResponse)
async def index(
    request: Request,
    scenario: Annotated[str | None, Query()] = None,
    mode: Annotated[str | None, Query(max_length=20)] = None,
    schedule: Annotated[str | None, Query(max_length=200_000)] = None,
    params: Annotated[str | None, Query(max_length=10_000)] = None,
) -> HTMLResponse:
    """The simulator page; a replay link adds `mode=replay`, the `schedule` (workers,
    comma-separated) and the `params` (JSON)."""
    chosen = SCENARIOS.get(scenario or "") or next(iter(SCENARIOS.values()))
    preset = _preset(chosen, mode, schedule, params)
    context = {"groups": _groups(), "run": None} | _scenario_context(chosen, preset=preset)
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/watch/{run_id}", response_class=HTMLResponse)
async def watch(request: Request, run: RunDep) -> HTMLResponse:
    """A shareable page for one run, with its own parameters: students open the teacher's
    link and watch it (read-only)."""
    context = {"groups": _groups(), "run": run, "can_stop": False}
    return templates.TemplateResponse(
        request, "index.html", context | _scenario_context(run.scenario, run.params.model_dump())
    )


@router.get("/ui/scenarios/{slug}", response_class=HTMLResponse)
async def scenario_panel(request: Request, scenario: ScenarioDep) -> HTMLResponse:
    """Fragment: a scenario's description, parameter form and code."""
    return templates.TemplateResponse(request, "_scenario.html", _scenario_context(scenario))


@router.post("/ui/runs", response_class=HTMLResponse)
async def start_from_form(
    request: Request, service: Service, settings: AppSettings, client: ClientAddress
) -> HTMLResponse:
    """Fragment: start a run from the form and return its live panel (or the errors)."""
    form = await request.form()
    slug = str(form.get("scenario", ""))
    # The last value wins: a checkbox posts after its hidden "false" fallback.
    raw = {key: str(form.getlist(key)[-1]) for key in form if key not in ("scenario", "mode", "schedule")}
    try:
        mode = _mode(str(form.get("mode", Mode.NORMAL)))
        schedule = [w.strip() for w in str(form.get("schedule", "")).split(",") if w.strip()]
        started = service.start(
            slug, raw, client, from_text=True, mode=mode, schedule=schedule if mode is Mode.REPLAY else None
        )
    except Refusal as refusal:
        context = {"message": refusal.message, "problems": refusal.problems}
        return templates.TemplateResponse(
            request, "_errors.html", context, status_code=status_of(refusal), headers=retry_headers(refusal)
        )
    response = templates.TemplateResponse(
        request,
        "_run.html",
        {"run": started.run, "can_stop": True, "stepping": mode in (Mode.STEP, Mode.REPLAY)},
        status_code=201,
    )
    hand_over_control(response, started.run, started.control, settings)
    return response


def _mode(text: str) -> Mode:
    try:
        return Mode(text)
    except ValueError:
        allowed = ", ".join(str(m) for m in Mode)
        raise InvalidParams(
            "unknown mode", [Problem("mode", f"{text!r}; allowed: one of {allowed}")]
        ) from None
