"""A process pool whose worker dies: ProcessPoolExecutor breaks as a whole."""

from __future__ import annotations

from functools import partial
from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.scenarios.proc_work import risky_square
from app.traced import multiprocessing
from app.traced import print as show


class BrokenPoolParams(Params):
    workers: int = Field(2, ge=1, le=6, description="Worker processes in the executor")
    numbers: int = Field(8, ge=3, le=30, description="Square 1..numbers")
    dies_on: int = Field(3, ge=1, le=30, description="The input whose worker calls os._exit(1)")
    work: int = Field(100_000, ge=0, le=2_000_000, description="How many squares each task adds up first")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How processes are started"
    )


def main(p: BrokenPoolParams) -> Result:
    mp = multiprocessing.get_context(p.start_method)
    task = partial(risky_square, work=p.work, dies_on=p.dies_on)
    done: dict[int, int] = {}
    broken = 0
    with mp.ProcessPoolExecutor(p.workers) as pool:
        futures = {x: pool.submit(task, x) for x in range(1, p.numbers + 1)}
        for x, future in futures.items():
            try:
                done[x] = multiprocessing.result_of(future)
            except multiprocessing.BrokenProcessPool as error:
                broken += 1
                show(f"square({x}): {type(error).__name__}")
    values = {"squares": done, "broken": broken}
    if (reason := stop_reason()) is not None:
        return Result(f"stopped after {len(done)} squares came back", values | {"stopped": reason})
    return Result(
        f"{len(done)} squares came back, {broken} futures raised BrokenProcessPool",
        values,
        notice=(
            f"square({p.dies_on}) killed its worker: {len(done)} results had come back before, and "
            f"the {broken} futures still pending when the executor noticed all raised BrokenProcessPool."
            if broken
            else f"No worker died: square({p.dies_on}) was never computed, so all {len(done)} came back."
        ),
    )


SCENARIO = Scenario(
    slug="broken-process-pool",
    title="A pool worker dies",
    group="Processes",
    notice=(
        "One worker calls os._exit mid-task. The executor cannot know which tasks that "
        "worker was holding, so it marks itself broken: every unfinished future raises "
        "BrokenProcessPool and the remaining workers are terminated. Results that came "
        "back before the crash are kept."
    ),
    params=BrokenPoolParams,
    main=main,
    order=60,
    code=(risky_square, main),
)
