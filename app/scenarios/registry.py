"""Every scenario, in the order the page lists them."""

from __future__ import annotations

from app.scenarios import lock_counter, print_numbers
from app.scenarios.base import Scenario

SCENARIOS: dict[str, Scenario] = {
    s.slug: s
    for s in (
        print_numbers.SCENARIO,
        lock_counter.SCENARIO,
    )
}


def get(slug: str) -> Scenario | None:
    return SCENARIOS.get(slug)
