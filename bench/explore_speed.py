"""Explore mode's speed: schedules searched per second, and how many schedules each
of the issue's searches needed (`python -m bench.explore_speed`).

Every schedule is a whole gated run of the lesson on real threads (app.stepping), so
schedules per second measures the gate's hand-overs and thread starts, not a model.
"""

from __future__ import annotations

from typing import Any

from app.scenarios.registry import SCENARIOS
from app.stepping import Bounds, explore_lesson

BOUNDS = Bounds(preemptions=2, schedules=100_000, seconds=120.0, max_workers=64)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "race, 2 threads × 1, no window, no lock",
        "race-condition",
        {"threads": 2, "iterations": 1, "window": 0.0},
    ),
    (
        "race, 2 threads × 2, no window, no lock",
        "race-condition",
        {"threads": 2, "iterations": 2, "window": 0.0},
    ),
    (
        "race, 2 threads × 2, no window, with the lock",
        "race-condition",
        {"threads": 2, "iterations": 2, "window": 0.0, "use_lock": True},
    ),
    ("deadlock, 2 threads, 1 round", "deadlock", {"threads": 2, "rounds": 1}),
    ("semaphore, 3 threads, 2 slots, 1 use", "semaphore", {"threads": 3, "slots": 2, "uses": 1}),
]


def measure() -> list[dict[str, Any]]:
    rows = []
    for label, slug, params in CASES:
        scenario = SCENARIOS[slug]
        found = explore_lesson(scenario, scenario.params(**params), BOUNDS)
        executions = found.schedules_tried + found.pruned
        rows.append(
            {
                "label": label,
                "tried": found.schedules_tried,
                "pruned": found.pruned,
                "failure": found.failure,
                "exhausted": found.exhausted,
                "seconds": found.seconds,
                "per_second": executions / found.seconds if found.seconds else 0.0,
                "steps": len(found.failing_schedule or []),
            }
        )
    return rows


def report(rows: list[dict[str, Any]] | None = None) -> str:
    rows = measure() if rows is None else rows
    lines = [
        f"Preemption bound {BOUNDS.preemptions}; every execution is a whole gated run on real threads "
        "(pruned ones too: sleep sets prune a schedule only once it reaches the repeat).",
        "",
        "| search | schedules tried | pruned | found | seconds | executions/s |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["failure"]:
            found = f"{row['failure'].split(':')[0]} ({row['steps']} steps)"
        else:
            found = "nothing: whole bounded space" if row["exhausted"] else "nothing within the bounds"
        lines.append(
            f"| {row['label']} | {row['tried']} | {row['pruned']} | {found} | {row['seconds']:.2f} "
            f"| {row['per_second']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(report())
