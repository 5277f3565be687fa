"""The tutorial's print_numbers, in N processes: the start-up cost made visible."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario
from app.scenarios.proc_work import print_numbers
from app.traced import multiprocessing

StartMethod = Literal["forkserver", "spawn"]


class ProcPrintParams(Params):
    processes: int = Field(3, ge=1, le=8, description="How many processes run print_numbers")
    pace: float = Field(0.005, ge=0, le=0.1, description="Seconds each process sleeps after each print")
    start_method: StartMethod = Field(
        "forkserver",
        description=(
            "forkserver: fork a ready helper (fast); spawn: a fresh interpreter each time. "
            "Plain fork is not offered: forking a multi-threaded server is unsafe"
        ),
    )


def main(p: ProcPrintParams) -> Result:
    mp = multiprocessing.get_context(p.start_method)
    processes = [mp.Process(target=print_numbers, args=(p.pace,)) for _ in range(p.processes)]
    for proc in processes:
        proc.start()
    for proc in processes:
        proc.join()
    codes = [proc.exitcode for proc in processes]
    return Result(
        f"{p.processes} processes ({p.start_method}) printed 1 to 10 each",
        {"lines": 10 * p.processes, "exit_codes": codes},
    )


SCENARIO = Scenario(
    slug="processes-print-numbers",
    title="Processes print numbers",
    group="Processes",
    notice=(
        "Each lane begins with a purple start segment: the new interpreter coming up "
        "before print_numbers runs. Compare it with a thread's start (a few microseconds) "
        "and switch start method: spawn starts a fresh Python each time, forkserver forks "
        "a warm helper. Once running, processes print independently, each with its own GIL."
    ),
    params=ProcPrintParams,
    main=main,
    order=10,
    code=(print_numbers, main),
)
