"""A semaphore: N threads share K slots."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.timeline import JSON
from app.traced import threading, time


class SemaphoreParams(Params):
    threads: int = Field(6, ge=1, le=32, description="N: how many threads want a slot")
    slots: int = Field(2, ge=1, le=16, description="K: how many may hold a slot at once")
    uses: int = Field(3, ge=1, le=20, description="How many times each thread takes a slot")
    hold: float = Field(0.01, ge=0, le=0.1, description="Seconds a thread keeps its slot")
    rest: float = Field(0.002, ge=0, le=0.1, description="Seconds between two uses")
    kind: Literal["Semaphore", "BoundedSemaphore"] = Field(
        "Semaphore", description="BoundedSemaphore also refuses a release without an acquire"
    )


def main(p: SemaphoreParams) -> Result:
    make = threading.BoundedSemaphore if p.kind == "BoundedSemaphore" else threading.Semaphore
    slots = make(p.slots, name="slots")
    inside: list[int] = []  # who holds a slot now (list.append/remove are atomic)
    counts: list[int] = []  # how many held one, seen by each new holder

    def use_a_slot(me: int) -> None:
        for _ in range(p.uses):
            with slots:  # waits while all K slots are taken
                inside.append(me)
                counts.append(len(inside))
                try:
                    time.sleep(p.hold)  # using the shared resource
                finally:
                    inside.remove(me)  # even if the run is stopped while it sleeps
            time.sleep(p.rest)

    threads = [threading.Thread(target=use_a_slot, args=(i,)) for i in range(p.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome(p, counts)


def outcome(p: SemaphoreParams, counts: list[int]) -> Result:
    most = max(counts, default=0)
    values: dict[str, JSON] = {"slots": p.slots, "uses": len(counts), "max_holders": most}
    if (reason := stop_reason()) is not None:
        values["stopped"] = reason
        return Result(
            f"stopped after {len(counts)} of {p.threads * p.uses} uses; at most {most} held a slot at once",
            values,
            notice=f"{p.slots} slots: at most {most} held at once before the stop, measured.",
        )
    waited = "so the others waited their turn (red)" if p.threads > p.slots else "so nobody had to wait"
    return Result(
        f"{p.threads} threads used {p.slots} slots {len(counts)} times; at most {most} at once",
        values,
        notice=(
            f"{p.slots} slots: at most {most} held at once, measured. {p.threads} threads wanted "
            f"them, {waited}; each arrow is a release handing a slot to a waiter."
        ),
    )


def check(p: SemaphoreParams, result: Result) -> str | None:
    """Explore mode's measure: the invariant, never more holders than slots."""
    most = result.values.get("max_holders")
    if not isinstance(most, int) or most <= p.slots:
        return None
    return f"broken invariant: {most} threads held a slot at once, with {p.slots} slots"


SCENARIO = Scenario(
    slug="semaphore",
    title="Semaphore: K slots",
    group="Synchronisation",
    notice=(
        "A semaphore is a counter of free slots, drawn under the lanes. Each thread takes a "
        "slot (orange bar) and gives it back; when the count reaches 0 the next thread waits "
        "in red until someone releases, and the arrow shows who. Never more than K bars overlap."
    ),
    params=SemaphoreParams,
    main=main,
    order=20,
    code=(main, outcome),
    check=check,
)
