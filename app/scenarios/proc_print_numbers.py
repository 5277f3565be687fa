"""The tutorial's print_numbers, in N processes: the start-up cost made visible."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.measure import Phase, lane_states, measured
from app.scenarios.base import Params, Result, Scenario, how_it_ended, plural, stop_reason
from app.scenarios.proc_work import print_numbers
from app.timeline import JSON
from app.traced import multiprocessing
from app.tracing import here

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
    with measured("processes") as phase:
        processes = [mp.Process(target=print_numbers, args=(p.pace,)) for _ in range(p.processes)]
        for proc in processes:
            proc.start()
        for proc in processes:
            proc.join()
    return outcome(p, phase, processes)


def outcome(p: ProcPrintParams, phase: Phase, processes: list[multiprocessing.Process]) -> Result:
    codes = [proc.exitcode for proc in processes]
    values: dict[str, JSON] = {"exit_codes": codes}
    if (reason := stop_reason()) is not None:
        return Result("stopped before every process had printed 1 to 10", values | {"stopped": reason})
    died = [proc for proc in processes if proc.exitcode]
    if died:
        told = ", ".join(f"{proc.name} {how_it_ended(proc.exitcode)}" for proc in died)
        return Result(
            f"{told}; the other {len(processes) - len(died)} printed 1 to 10",
            values | {"died": [proc.name for proc in died]},
            notice="A process that dies takes only itself down: the others' lanes go on to the end.",
        )
    start_ms = lane_states(here()[0].events_so_far(), phase.lanes)["start"] / 1e6 / len(processes)
    how = "forking the warm forkserver" if p.start_method == "forkserver" else "a fresh interpreter each"
    return Result(
        f"{plural(p.processes, 'process')} ({p.start_method}) printed 1 to 10 each",
        values | {"lines": 10 * p.processes, "start_ms": round(start_ms, 1)},
        notice=(
            f"Each lane begins with its start-up in purple: {start_ms:.1f} ms on average with "
            f"{p.start_method} ({how}), before print_numbers runs. Then each process prints on its "
            "own, with its own interpreter and GIL."
        ),
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
    code=(print_numbers, main, outcome),
)
