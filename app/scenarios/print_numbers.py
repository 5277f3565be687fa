"""The tutorial's first example: N threads each run print_numbers()."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.measure import Phase, measured
from app.scenarios.base import Params, Result, Scenario, plural, stop_reason
from app.scenarios.compare import measure_models
from app.scenarios.proc_work import sum_of_squares
from app.traced import print, threading, time


class PrintParams(Params):
    threads: int = Field(3, ge=1, le=16, description="How many threads run print_numbers")
    work: Literal["sleep", "cpu"] = Field(
        "sleep", description="sleep: wait like I/O (threads overlap); cpu: compute (the GIL serialises them)"
    )
    pace: float = Field(0.005, ge=0, le=0.1, description="sleep: seconds each thread sleeps after each print")
    squares: int = Field(
        20_000,
        ge=0,
        le=1_000_000,
        description="cpu: how many squares each thread adds up after each print (fixed work)",
    )


def print_numbers(work: str, pace: float, squares: int) -> None:
    for i in range(1, 11):
        print(i)
        if work == "sleep":
            time.sleep(pace)  # I/O-like: releases the GIL
        else:
            sum_of_squares(squares)  # pure-Python CPU work: needs the GIL


def main(p: PrintParams) -> Result:
    with measured("threads") as phase:
        threads = [
            threading.Thread(target=print_numbers, args=(p.work, p.pace, p.squares)) for _ in range(p.threads)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return outcome(p, phase, [t.name for t in threads if t.error is not None])


def outcome(p: PrintParams, phase: Phase, crashed: list[str]) -> Result:
    if (reason := stop_reason()) is not None:
        return Result(
            "stopped before every thread had printed 1 to 10", {"threads": p.threads, "stopped": reason}
        )
    if crashed:
        return Result(f"{', '.join(crashed)} crashed before printing 1 to 10", {"crashed": crashed})
    [model], cores = measure_models([phase])
    values = {"lines": 10 * p.threads, "gil_share": model.states["gil"], "cpu_ms": round(model.cpu_ms, 1)}
    if p.work == "sleep":
        notice = (
            f"The prints of {plural(p.threads, 'thread')} interleave: each sleeps {p.pace * 1000:g} ms "
            "after a print (blue), and another runs meanwhile."
        )
    else:
        notice = (
            f"{plural(p.threads, 'thread')} computing: {model.states['gil']:.0%} of their time went "
            f"waiting for the GIL (grey); together they kept {model.cpu_ms / model.wall_ms:.2f} of "
            f"{cores:g} cores busy."
        )
    return Result(f"{plural(p.threads, 'thread')} printed 1 to 10 each", values, notice=notice)


SCENARIO = Scenario(
    slug="threads-print-numbers",
    title="Threads print numbers",
    group="Threads",
    notice=(
        "Each thread prints 1 to 10, yet the output mixes them: the operating system "
        "switches between threads whenever one sleeps. Switch work to cpu and watch "
        "the lanes turn grey: only one thread can run Python code at a time (the GIL)."
    ),
    params=PrintParams,
    main=main,
    order=10,
    code=(print_numbers, main, outcome),
)
