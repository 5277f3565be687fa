"""Does recording change what is recorded? The tutorial's tight lock counter run plain,
through the compiled recorder and through the same sources interpreted.

Each run is a fresh process (`python -m bench.hotpath --child MODE DRAIN`), so its
peak memory is its own; the modes alternate and the median of `ROUNDS` is reported.
A traced run is drained either once, at the end (the recording alone: its wall time
and its peak before anything is turned into events), or live every `DRAIN_S`, as the
runner does (the drainer turns the buffer into events under the same GIL as the
workers). Either way the events and the lock waits among them are counted, not kept:
what is measured is the recording, not the run store.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading as std_threading
import time
from pathlib import Path
from typing import Any

from app.observed import counter

PAIRS = 4  # incrementing + decrementing threads: 4 + 4, as in the issue
ITERATIONS = 100_000
ROUNDS = 5
DRAIN_S = 0.016  # about once a frame, like the runner
MODES = ("plain", "compiled", "interpreted")
DRAINS = ("end", "live")


def _peak_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries
    ru_maxrss over an exec from the process that forked it (the bench, tens of MiB)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _child(mode: str, drain: str) -> dict[str, Any]:
    if mode == "plain":
        wall = counter(std_threading.Lock(), std_threading.Thread, 2 * PAIRS, ITERATIONS)
        return {"wall_s": wall, "peak_mib": _peak_mib(), "events": 0, "waits": 0}
    from app import hotpath
    from app.timeline import Kind, LaneKind
    from app.traced import threading as traced_threading
    from app.tracing import Recorder, bind

    rec = Recorder(max_workers=2 * PAIRS + 1)
    counts = {"events": 0, "waits": 0}
    done = std_threading.Event()

    def take() -> None:
        for event in rec.take():
            counts["events"] += 1
            counts["waits"] += event.kind is Kind.WAIT and event.obj.startswith("Lock")

    def drain_live() -> None:
        while not done.wait(DRAIN_S):
            take()

    drainer = std_threading.Thread(target=drain_live)
    if drain == "live":
        drainer.start()
    with bind(rec, "main", LaneKind.MAIN):
        wall = counter(traced_threading.Lock(), traced_threading.Thread, 2 * PAIRS, ITERATIONS)
    done.set()
    if drain == "live":
        drainer.join()
    peak = _peak_mib()
    t0 = time.perf_counter()
    take()
    return {
        "wall_s": wall,
        "peak_mib": peak,
        "take_s": time.perf_counter() - t0,
        "recorder": hotpath.RECORDER,
        **counts,
    }


def _in_process(recorder: str, *args: str) -> dict[str, Any]:
    """Run `python -m bench.hotpath ARGS` in a fresh process with this recorder; its JSON."""
    env = {**os.environ, "INTERLEAVE_RECORDER": recorder}
    out = subprocess.run(
        [sys.executable, "-m", "bench.hotpath", *args], env=env, capture_output=True, text=True, check=True
    )
    return dict(json.loads(out.stdout))


def _run_child(mode: str, drain: str) -> dict[str, Any]:
    return _in_process("interpreted" if mode == "interpreted" else "compiled", "--child", mode, drain)


def per_event_ns() -> dict[str, dict[str, Any]]:
    """bench.tracing_overhead.per_event_ns on each recorder, each in its own process."""
    return {mode: _in_process(mode, "--per-event") for mode in MODES[1:]}


CASES = [("plain", "end"), *((mode, drain) for drain in DRAINS for mode in MODES[1:])]


def measure(rounds: int = ROUNDS) -> dict[tuple[str, str], dict[str, Any]]:
    """Per case (recorder, drain): median wall (s), peak memory (MiB), events, lock
    waits, the final take (s), and which recorder ran. Cases alternate in each round."""
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {case: [] for case in CASES}
    for _ in range(rounds):
        for case in CASES:
            runs[case].append(_run_child(*case))
    return {
        case: {
            **{
                key: statistics.median(r.get(key, 0) for r in rows)
                for key in ("wall_s", "peak_mib", "events", "waits", "take_s")
            },
            "recorder": rows[-1].get("recorder", "none"),
        }
        for case, rows in runs.items()
    }


def report_lines(result: dict[tuple[str, str], dict[str, Any]], rounds: int = ROUNDS) -> list[str]:
    plain = result[("plain", "end")]
    lines = [
        f"### The tight lock counter ({PAIRS}+{PAIRS} threads × {ITERATIONS:,} iterations, `with lock:`, no hold)",
        "",
        f"One fresh process per run, cases alternating, median of {rounds}. *drained at the end*: "
        "the recording alone (peak before any event is decoded; the decode of them all is timed apart). "
        f"*drained live*: a drainer takes the buffer every {DRAIN_S * 1000:.0f} ms, as the runner does, "
        "and decodes it under the same GIL. Events are counted, never kept. "
        "Targets: ≤ 3× plain wall, ≤ 80 MiB peak, no lock waits beyond the plain program's (none).",
        "",
        "| recorder | drained | wall | × plain | peak memory | events | lock waits recorded | final decode |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (mode, drain), row in result.items():
        label = "none (plain `threading`)" if mode == "plain" else f"{mode} (ran: {row['recorder']})"
        drained = "" if mode == "plain" else f"{'at the end' if drain == 'end' else 'live'}"
        decode = "" if mode == "plain" else f"{row['take_s'] * 1000:.0f} ms"
        lines.append(
            f"| {label} | {drained} | {row['wall_s'] * 1000:.0f} ms | {row['wall_s'] / plain['wall_s']:.2f}× "
            f"| {row['peak_mib']:.0f} MiB | {row['events']:,.0f} | {row['waits']:,.0f} | {decode} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DRAIN"))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--per-event", action="store_true", help="bench.tracing_overhead.per_event_ns here")
    args = parser.parse_args()
    if args.per_event:
        from app import hotpath
        from bench.tracing_overhead import per_event_ns as measured_here

        print(json.dumps({**measured_here(), "recorder": hotpath.RECORDER}))
        return
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    print("\n".join(report_lines(measure(args.rounds), args.rounds)))


if __name__ == "__main__":
    main()
