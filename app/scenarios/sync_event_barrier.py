"""A start signal (Event) and a meeting point each phase (Barrier)."""

from __future__ import annotations

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.traced import print, threading, time


class PhaseParams(Params):
    workers: int = Field(4, ge=1, le=32, description="Threads that work in phases")
    phases: int = Field(3, ge=1, le=10, description="How many phases they work through")
    work: float = Field(
        0.006, ge=0, le=0.05, description="Seconds of work per phase (some threads take 2 or 3 times this)"
    )
    get_ready: float = Field(0.02, ge=0, le=0.5, description="Seconds main prepares before the start signal")


def main(p: PhaseParams) -> Result:
    start = threading.Event(name="start")
    barrier = threading.Barrier(p.workers, name="barrier")
    met: list[int] = []  # the phases everyone reached

    def worker(i: int) -> None:
        start.wait()  # everyone waits for the start signal
        for phase in range(1, p.phases + 1):
            time.sleep(p.work * (1 + (i + phase) % 3))  # uneven work: some finish early
            if barrier.wait() == 0:  # meet the others; one of them reports
                print(f"phase {phase} done")
                met.append(phase)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(p.workers)]
    for t in threads:
        t.start()
    time.sleep(p.get_ready)  # main gets things ready; the workers wait
    start.set()  # go!
    for t in threads:
        t.join()
    if (reason := stop_reason()) is not None:
        return Result(
            f"stopped after {len(met)} of {p.phases} meetings",
            {"workers": p.workers, "phases_met": len(met), "stopped": reason},
        )
    return Result(
        f"{p.workers} workers started together and met {len(met)} times",
        {"workers": p.workers, "phases": len(met)},
        notice=(
            f"All {p.workers} workers waited for main's start signal, then met at the barrier "
            f"{len(met)} times: each time the last to arrive released everyone at once."
        ),
    )


SCENARIO = Scenario(
    slug="event-barrier",
    title="Event and Barrier",
    group="Synchronisation",
    notice=(
        "Every worker waits (red) for main's start signal, then all start at once: the arrows "
        "fan out from main. Each phase, early finishers wait at the barrier for the slowest; "
        "its arrival releases everyone at the same instant, a fan of arrows across the lanes."
    ),
    params=PhaseParams,
    main=main,
    order=50,
)
