"""Every scenario, found by module: each module in app/scenarios that defines
`SCENARIO` is listed, ordered by group (GROUPS) then by its `order`.

Discovery rather than a hand-kept list, so adding a lesson is adding one module.
"""

from __future__ import annotations

import importlib
import pkgutil

import app.scenarios
from app.scenarios.base import Scenario

GROUPS = ("Threads", "Synchronisation", "Processes", "asyncio", "Compare")


def _discover() -> dict[str, Scenario]:
    found: list[Scenario] = []
    for module in pkgutil.iter_modules(app.scenarios.__path__):
        scenario = getattr(importlib.import_module(f"app.scenarios.{module.name}"), "SCENARIO", None)
        if isinstance(scenario, Scenario):
            found.append(scenario)
    found.sort(key=lambda s: (GROUPS.index(s.group) if s.group in GROUPS else len(GROUPS), s.order, s.title))
    return {s.slug: s for s in found}


SCENARIOS: dict[str, Scenario] = _discover()
