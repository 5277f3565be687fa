"""The page and the htmx fragments it swaps: scenario panel, run panel."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

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
from app.service import Refusal

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


def _scenario_context(scenario: Scenario, watched: dict[str, object] | None = None) -> dict[str, object]:
    """The lesson panel; `watched`: a run's own parameters, shown read-only."""
    return {"scenario": scenario, "fields": field_specs(scenario.params), "watched": watched}


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, scenario: Annotated[str | None, Query()] = None) -> HTMLResponse:
    """The simulator page."""
    chosen = SCENARIOS.get(scenario or "") or next(iter(SCENARIOS.values()))
    context = {"groups": _groups(), "run": None} | _scenario_context(chosen)
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
    raw = {key: str(form.getlist(key)[-1]) for key in form if key != "scenario"}
    try:
        started = service.start(slug, raw, client, from_text=True)
    except Refusal as refusal:
        context = {"message": refusal.message, "problems": refusal.problems}
        return templates.TemplateResponse(
            request, "_errors.html", context, status_code=status_of(refusal), headers=retry_headers(refusal)
        )
    response = templates.TemplateResponse(
        request, "_run.html", {"run": started.run, "can_stop": True}, status_code=201
    )
    hand_over_control(response, started.run, started.control, settings)
    return response
