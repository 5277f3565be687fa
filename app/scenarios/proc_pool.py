"""The tutorial's Pool.map: square a list of numbers in a pool of worker processes."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from pydantic import Field, field_validator

from app.scenarios.base import Params, Result, Scenario
from app.scenarios.proc_work import square
from app.traced import multiprocessing

LONGER = list(range(1, 41))


class PoolParams(Params):
    processes: int = Field(3, ge=1, le=8, description="Worker processes in the pool")
    chunksize: int = Field(1, ge=1, le=20, description="Inputs sent to a worker in one message")
    numbers: list[Annotated[int, Field(ge=-10_000, le=10_000)]] = Field(
        [1, 2, 3, 4, 5], min_length=1, max_length=40, description="The inputs to square (1 to 40 of them)"
    )
    longer: bool = Field(
        False, description="Square 1 to 40 instead: watch the chunks spread over the workers"
    )
    work: float = Field(0.05, ge=0, le=0.2, description="Seconds of CPU work per square, so each task shows")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How the pool's processes are started"
    )

    @field_validator("numbers", mode="before")
    @classmethod
    def _from_text(cls, raw: object) -> object:
        """The page's form sends "1, 2, 3": split it; JSON lists pass through."""
        if isinstance(raw, str):
            return [part.strip() for part in raw.replace(",", " ").split()]
        return raw


def main(p: PoolParams) -> Result:
    numbers = LONGER if p.longer else p.numbers
    mp = multiprocessing.get_context(p.start_method)
    with mp.Pool(p.processes) as pool:
        squares = pool.map(partial(square, work=p.work), numbers, chunksize=p.chunksize)
        pool.close()  # no more tasks...
        pool.join()  # ...and wait for the workers to exit: the shutdown, drawn
    return Result(f"{numbers} squared: {squares}", {"numbers": numbers, "squares": squares})


SCENARIO = Scenario(
    slug="pool-map",
    title="Pool.map",
    group="Processes",
    notice=(
        "Each worker lane starts with interpreter start-up, then takes tasks: every green "
        "block is one square(x), labelled with its x; red is a worker waiting for its next "
        "task. Raise chunksize and each worker gets several inputs per message: fewer "
        "round trips, but a slow chunk can leave other workers idle at the end."
    ),
    params=PoolParams,
    main=main,
    order=20,
    code=(square, main),
)
