"""Crash isolation: one worker dies mid-run. A process takes only itself down; a thread
that raises ends only its own lane too, but a hard exit in a thread would end them all."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Rule, Scenario, how_it_ended, stop_reason
from app.scenarios.proc_work import count_then_maybe_die
from app.traced import multiprocessing, threading


class CrashParams(Params):
    workers: Literal["processes", "threads"] = Field("processes", description="Who does the counting")
    count: int = Field(3, ge=2, le=6, description="How many workers; the second one dies")
    death: Literal["exception", "os._exit", "SIGKILL"] = Field(
        "os._exit",
        description="exception: raise; os._exit: end at once; SIGKILL: killed by the OS (processes only)",
    )
    pace: float = Field(0.01, ge=0, le=0.1, description="Seconds each worker sleeps after each number")
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How processes are started"
    )

    rules = (
        Rule(
            when=("workers", "threads"),
            only=("death", ("exception",)),
            because="a thread can only die by an exception here: os._exit or SIGKILL in a thread "
            "ends the whole process, which is this server",
        ),
    )


def main(p: CrashParams) -> Result:
    doomed = 2
    if p.workers == "threads":
        threads = [
            threading.Thread(target=count_then_maybe_die, args=(n, doomed, p.death, p.pace))
            for n in range(1, p.count + 1)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        crashed = [t.name for t in threads if t.error is not None]
        if (reason := stop_reason()) is not None:
            return Result(
                f"stopped; crashed before the stop: {crashed}", {"crashed": crashed, "stopped": reason}
            )
        return Result(
            f"{', '.join(crashed)} raised; the other {p.count - len(crashed)} threads finished",
            {"crashed": crashed},
            notice=(
                f"{', '.join(crashed)} raised ZeroDivisionError: its lane ends in a crash, reported "
                f"by threading.excepthook; the other {p.count - len(crashed)} threads counted on to 10."
            ),
        )
    mp = multiprocessing.get_context(p.start_method)
    procs = [
        mp.Process(target=count_then_maybe_die, args=(n, doomed, p.death, p.pace))
        for n in range(1, p.count + 1)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    codes = {proc.name: proc.exitcode for proc in procs}
    crashed = [name for name, code in codes.items() if code != 0]
    values = {"exit_codes": codes, "crashed": crashed}
    if (reason := stop_reason()) is not None:
        return Result(f"stopped; exit codes {codes}", values | {"stopped": reason})
    survivors = [proc.name for proc in procs if proc.exitcode == 0]
    return Result(
        f"exit codes {codes}: only {', '.join(crashed)} died"
        if crashed
        else f"exit codes {codes}: nobody died",
        values,
        notice=(
            f"{procs[doomed - 1].name} {how_it_ended(procs[doomed - 1].exitcode)}; "
            f"{', '.join(survivors)} counted on to 10 and exited with 0: a process that dies takes "
            "only itself down."
        ),
    )


SCENARIO = Scenario(
    slug="crash-isolation",
    title="Crash isolation",
    group="Processes",
    notice=(
        "Worker 2 dies after printing 4. Its lane ends in a crash with the traceback, or, "
        "for os._exit and SIGKILL, with the exit code the parent read, since the child "
        "could say nothing. The other workers and this server carry on. With threads an "
        "exception also ends only its own thread (threading.excepthook reports it), but "
        "the threads share one process: a hard exit there would end everything."
    ),
    params=CrashParams,
    main=main,
    order=50,
    code=(count_then_maybe_die, main),
)
