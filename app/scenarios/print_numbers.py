"""The tutorial's first example: N threads each run print_numbers()."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario
from app.traced import print, threading, time


class PrintParams(Params):
    threads: int = Field(3, ge=1, le=16, description="How many threads run print_numbers")
    pace: float = Field(
        0.005, ge=0, le=0.1, description="Seconds of work after each print: makes the interleaving visible"
    )
    work: Literal["sleep", "cpu"] = Field(
        "sleep", description="sleep: wait like I/O (threads overlap); cpu: burn CPU (the GIL serialises them)"
    )


def print_numbers(pace: float, work: str) -> None:
    for i in range(1, 11):
        print(i)
        if work == "sleep":
            time.sleep(pace)  # I/O-like: releases the GIL
        else:
            time.spin(pace)  # pure-Python CPU work: holds the GIL


def main(p: PrintParams) -> Result:
    threads = [threading.Thread(target=print_numbers, args=(p.pace, p.work)) for _ in range(p.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Result(f"{p.threads} threads printed 1 to 10 each", {"lines": 10 * p.threads})


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
    code=(print_numbers, main),
)
