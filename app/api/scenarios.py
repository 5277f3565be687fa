"""/scenarios: what can be run, with parameter bounds and source."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from app.api.deps import ScenarioDep
from app.scenarios.base import Scenario
from app.scenarios.params import field_specs
from app.scenarios.registry import SCENARIOS
from app.timeline import JSON

router = APIRouter(prefix="/scenarios", tags=["scenarios"])


def describe(scenario: Scenario) -> dict[str, JSON]:
    return {
        "slug": scenario.slug,
        "title": scenario.title,
        "group": scenario.group,
        "notice": scenario.notice,
        "params": [asdict(spec) | {"allowed": spec.allowed} for spec in field_specs(scenario.params)],
        "source": scenario.source,
    }


@router.get("")
async def list_scenarios() -> list[dict[str, JSON]]:
    """Every scenario, with its parameters and source."""
    return [describe(s) for s in SCENARIOS.values()]


@router.get("/{slug}")
async def read_scenario(scenario: ScenarioDep) -> dict[str, JSON]:
    """One scenario, with its parameters and source."""
    return describe(scenario)
