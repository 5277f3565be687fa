"""/scenarios: what can be run, with parameter bounds and source."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import ScenarioDep
from app.api.errors import responses
from app.api.models import ScenarioInfo
from app.scenarios.registry import SCENARIOS

router = APIRouter(prefix="/scenarios", tags=["scenarios"])


@router.get("", response_model=list[ScenarioInfo])
async def list_scenarios() -> list[ScenarioInfo]:
    """Every scenario, with its parameters and source."""
    return [ScenarioInfo.of(s) for s in SCENARIOS.values()]


@router.get("/{slug}", response_model=ScenarioInfo, responses=responses(404))
async def read_scenario(scenario: ScenarioDep) -> ScenarioInfo:
    """One scenario, with its parameters and source."""
    return ScenarioInfo.of(scenario)
