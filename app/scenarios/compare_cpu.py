"""The same CPU-bound work in turn, in N threads and in N processes, on one time axis:
does the tutorial's "threads take advantage of multicore processors" hold?"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.measure import measured
from app.scenarios.base import Params, Result, Scenario
from app.scenarios.compare import compare_result
from app.scenarios.proc_work import count_primes
from app.traced import multiprocessing, threading


class CompareCpuParams(Params):
    workers: int = Field(4, ge=1, le=8, description="N: how many jobs, and how many threads or processes")
    below: int = Field(
        50_000,
        ge=1_000,
        le=150_000,
        description="Each job counts the primes below this number: the same fixed work in every model",
    )
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How the processes are started"
    )


def in_turn(jobs: list[int]) -> None:
    for below in jobs:
        count_primes(below)


def main(p: CompareCpuParams) -> Result:
    jobs = [p.below] * p.workers
    with measured("sequential") as sequential:
        alone = threading.Thread(target=in_turn, args=(jobs,), name="sequential")
        alone.start()
        alone.join()
    with measured("threads") as in_threads:
        threads = [threading.Thread(target=count_primes, args=(below,)) for below in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    mp = multiprocessing.get_context(p.start_method)
    with measured("processes") as in_processes:
        processes = [mp.Process(target=count_primes, args=(below,)) for below in jobs]
        for proc in processes:
            proc.start()
        for proc in processes:
            proc.join()
    died = [t.name for t in [alone, *threads] if t.error is not None]
    died += [proc.name for proc in processes if proc.exitcode != 0]
    return compare_result(
        [sequential, in_threads, in_processes], p.workers, f"count the primes below {p.below:,}", died
    )


SCENARIO = Scenario(
    slug="compare-cpu",
    title="CPU-bound: threads or processes?",
    group="Compare",
    notice=(
        "The same jobs three ways, on one time axis: one after another, in N threads, in N "
        "processes. Threads share one interpreter and its GIL: grey is a thread that could "
        "run but waits for the GIL, so N threads take as long as one. Processes each have "
        "their own interpreter and run on all the cores; tan is a process waiting for a "
        "free core. Grey and tan are estimated from CPU clocks, every millisecond or so."
    ),
    params=CompareCpuParams,
    main=main,
    order=10,
    code=(count_primes, in_turn, main),
)
