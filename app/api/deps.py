"""Shared dependencies, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.config import Settings
from app.runner import Run, RunManager
from app.scenarios.base import Scenario
from app.scenarios.registry import SCENARIOS


def get_manager(request: Request) -> RunManager:
    manager: RunManager = request.app.state.manager
    return manager


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_run(run_id: str, manager: Annotated[RunManager, Depends(get_manager)]) -> Run:
    run = manager.get(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}: it never existed or has been forgotten")
    return run


def find_scenario(slug: str) -> Scenario:
    scenario = SCENARIOS.get(slug)
    if scenario is None:
        raise HTTPException(404, f"unknown scenario {slug!r}; known: {', '.join(SCENARIOS)}")
    return scenario


Manager = Annotated[RunManager, Depends(get_manager)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
RunDep = Annotated[Run, Depends(get_run)]
ScenarioDep = Annotated[Scenario, Depends(find_scenario)]
