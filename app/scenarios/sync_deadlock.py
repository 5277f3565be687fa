"""Deadlock: threads take two locks in opposite order (with more threads: a ring)."""

from __future__ import annotations

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.traced import threading, time


class DeadlockParams(Params):
    threads: int = Field(
        2, ge=2, le=32, description="Threads in the ring; thread i takes lock i, then lock i+1"
    )
    rounds: int = Field(3, ge=1, le=20, description="How many times each thread takes both locks")
    hold: float = Field(
        0.02, ge=0, le=0.1, description="Seconds a thread holds its first lock before taking the second"
    )
    same_order: bool = Field(False, description="The fix: every thread takes the lower-numbered lock first")


def main(p: DeadlockParams) -> Result:
    locks = [threading.Lock(name=f"lock-{i + 1}") for i in range(p.threads)]
    rounds_done: list[int] = []

    def worker(i: int) -> None:
        first, second = locks[i], locks[(i + 1) % p.threads]
        if p.same_order:  # one global order: nobody can wait in a circle
            first, second = sorted((first, second), key=locks.index)
        for _ in range(p.rounds):
            with first:
                time.sleep(p.hold)
                with second:  # may wait for a thread that waits for us
                    time.sleep(p.hold / 4)
            rounds_done.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(p.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    values = {"rounds_done": len(rounds_done), "rounds_planned": p.threads * p.rounds}
    if (reason := stop_reason()) is not None:
        return Result(
            f"stopped after {len(rounds_done)} of {p.threads * p.rounds} rounds", values | {"stopped": reason}
        )
    return Result(
        f"{len(rounds_done)} of {p.threads * p.rounds} rounds completed",
        values,
        notice=(
            f"Every thread took its two locks in the same order: all {len(rounds_done)} rounds finished."
            if p.same_order
            else f"No circle of waits formed this time: all {len(rounds_done)} rounds finished by luck."
        ),
    )


SCENARIO = Scenario(
    slug="deadlock",
    title="Deadlock",
    group="Synchronisation",
    notice=(
        "Thread-1 holds lock-1 and wants lock-2; Thread-2 holds lock-2 and wants lock-1. "
        "Neither can go on. The server finds the circle of waits, stops the run and shows "
        "who holds what. Tick 'same order': both take lock-1 first, and the run finishes."
    ),
    params=DeadlockParams,
    main=main,
    order=70,
    expects_stop=True,
)
