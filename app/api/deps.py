"""Shared dependencies, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.runner import Run, RunManager
from app.scenarios.base import Scenario
from app.service import RunService

CONTROL_COOKIE = "run-control"  # one per run, scoped to its path: /runs/{id}


def get_service(request: Request) -> RunService:
    service: RunService = request.app.state.service
    return service


def get_manager(request: Request) -> RunManager:
    manager: RunManager = request.app.state.manager
    return manager


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_run(run_id: str, service: Annotated[RunService, Depends(get_service)]) -> Run:
    return await service.find(run_id)


def find_scenario(slug: str, service: Annotated[RunService, Depends(get_service)]) -> Scenario:
    return service.scenario(slug)


def client_address(request: Request) -> str:
    """Who is asking, for per-client limits: the peer address (behind a trusted proxy,
    uvicorn has already replaced it with the forwarded one)."""
    return request.client.host if request.client else "unknown"


Service = Annotated[RunService, Depends(get_service)]
Manager = Annotated[RunManager, Depends(get_manager)]
AppSettings = Annotated[Settings, Depends(get_app_settings)]
RunDep = Annotated[Run, Depends(get_run)]
ScenarioDep = Annotated[Scenario, Depends(find_scenario)]
ClientAddress = Annotated[str, Depends(client_address)]
