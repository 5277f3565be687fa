"""What the CPU-clock sampler costs a CPU-bound lesson: the same traced program with
the sampler on and off, repeats interleaved, median wall time of each.

`python -m bench.sampler_cost` prints the table."""

from __future__ import annotations

import statistics
import threading as std_threading
import time
from collections.abc import Callable

from app.sampler import Sampler
from app.scenarios.proc_work import count_primes
from app.timeline import LaneKind
from app.traced import threading
from app.tracing import Recorder, bind, here

REPEATS = 9
BELOW = 40_000  # one job: ~0.1 s of CPU here


def _threads(workers: int) -> Callable[[], None]:
    def program() -> None:
        threads = [threading.Thread(target=count_primes, args=(BELOW,)) for _ in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return program


def _process_lane() -> None:
    """What a child process runs: one CPU-bound lane and its own sampler thread (the
    child's sampler is the same class, watching the process's lane, kind PROCESS)."""
    rec, _ = here()

    def lane() -> None:
        with bind(rec, "Process-1", LaneKind.PROCESS):
            count_primes(4 * BELOW)

    worker = std_threading.Thread(target=lane)
    worker.start()
    worker.join()  # untraced: main's lane is not sampled meanwhile, as in a child


def _once(program: Callable[[], None], sampled: bool) -> tuple[int, int, int]:
    """Wall ns of one traced run, CPU ns it took (its lanes', plus the sampler's own
    thread), and how many samples the sampler took."""
    rec = Recorder()
    sampler = Sampler(rec) if sampled else None
    if sampler is not None:
        sampler.start()
    try:
        t0 = time.perf_counter_ns()
        with bind(rec, "main", LaneKind.MAIN):
            program()
        elapsed = time.perf_counter_ns() - t0
    finally:
        if sampler is not None:
            sampler.stop()
        rec.finalize()
    lanes = sum(cpu for lane, cpu in rec.lane_cpu.items() if lane != "main")  # main only waits
    cpu = lanes + (0 if sampler is None else sampler.own_cpu_ns)
    return elapsed, cpu, 0 if sampler is None else sampler.ticks


def ratio(program: Callable[[], None], repeats: int = REPEATS) -> dict[str, float]:
    """Sampler on against off, repeats interleaved: wall time (what a learner waits;
    noisy on a shared machine) and CPU time (what the sampling itself costs)."""
    runs: dict[bool, list[tuple[int, int, int]]] = {False: [], True: []}
    for _ in range(repeats):
        for sampled in (False, True):
            runs[sampled].append(_once(program, sampled))

    def median(sampled: bool, i: int) -> float:
        return statistics.median(run[i] for run in runs[sampled])

    return {
        "plain_ms": median(False, 0) / 1e6,
        "sampled_ms": median(True, 0) / 1e6,
        "ratio": median(True, 0) / median(False, 0),
        "cpu_ratio": median(True, 1) / median(False, 1),
        "samples_per_s": median(True, 2) / (median(True, 0) / 1e9),
    }


CASES: list[tuple[str, Callable[[], None]]] = [
    ("1 thread", _threads(1)),
    ("4 threads", _threads(4)),
    ("a process's lane (in the child, sampled by its own thread)", _process_lane),
]


def measure() -> list[tuple[str, dict[str, float]]]:
    return [(label, ratio(program)) for label, program in CASES]


if __name__ == "__main__":
    for label, row in measure():
        print(
            f"{label:60} off {row['plain_ms']:7.1f} ms  on {row['sampled_ms']:7.1f} ms  "
            f"{row['ratio']:.3f}x wall  {row['cpu_ratio']:.3f}x CPU  {row['samples_per_s']:.0f} samples/s"
        )
