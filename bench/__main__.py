"""`python -m bench [--write docs/PERFORMANCE.md]`: run the benchmarks, print a
Markdown report, and optionally replace the generated section of the docs file."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
from pathlib import Path

from bench import browser_draw, explore_speed, history, hotpath, sampler_cost, start_methods, tracing_overhead
from bench.report import replace_section


def report() -> str:
    lines = [
        f"Measured {datetime.date.today()} by `make bench` on {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()} ({sys.implementation.name}).",
        "",
        "### Recording cost",
        "",
    ]
    per_event = hotpath.per_event_ns()
    compiled, interpreted = per_event["compiled"], per_event["interpreted"]
    lines += [
        f"Each recorder in its own process (ran: {compiled['recorder']}, {interpreted['recorder']}). "
        "Targets for the compiled one: ≤ 100 ns each.",
        "",
        "| what | compiled | interpreted |",
        "|---|---|---|",
        f"| `Recorder.emit` (one event) | {compiled['emit_ns']:.0f} ns | {interpreted['emit_ns']:.0f} ns |",
        f"| traced `print()` (binding lookup + stop check + event) | {compiled['print_ns']:.0f} ns "
        f"| {interpreted['print_ns']:.0f} ns |",
        f"| traced `with lock:` uncontended, extra over a plain Lock, per event | "
        f"{compiled['lock_extra_ns_per_event']:.0f} ns | {interpreted['lock_extra_ns_per_event']:.0f} ns |",
        "",
    ]
    lines += hotpath.report_lines(hotpath.measure())
    lines += [
        "### Lock counter, traced vs plain `threading` (2+2 threads)",
        "",
        "| case | plain | traced | ratio | events recorded | extra cost per event |",
        "|---|---|---|---|---|---|",
    ]
    cases = [
        ("50,000 iterations, no hold: pure lock traffic (worst case)", {"iterations": 50_000}),
        ("20 iterations, 2 ms hold (the lesson's default hold)", {"iterations": 20, "hold_s": 0.002}),
    ]
    for label, kwargs in cases:
        counter = tracing_overhead.lock_counter_ratio(**kwargs)  # type: ignore[arg-type]
        lines.append(
            f"| {label} | {counter['plain_ms']:.1f} ms | {counter['traced_ms']:.1f} ms | {counter['ratio']:.2f}× "
            f"| {counter['events']:,} | {counter['extra_ns_per_event']:.0f} ns |"
        )
    lines.append("")
    lines += [
        "### CPU-clock sampler: a CPU-bound lesson with and without it (goal ≤ 1.05×)",
        "",
        "| program (counts primes) | sampler off | sampler on | wall ratio | CPU ratio | samples/s |",
        "|---|---|---|---|---|---|",
    ]
    for label, row in sampler_cost.measure():
        lines.append(
            f"| {label} | {row['plain_ms']:.1f} ms | {row['sampled_ms']:.1f} ms | {row['ratio']:.3f}× "
            f"| {row['cpu_ratio']:.3f}× | {row['samples_per_s']:.0f} |"
        )
    lines.append("")
    starts = start_methods.measure(rounds=5, at_once=8)
    lines += [
        "### Process start cost: `start()` to the child's first recorded event (median)",
        "",
        "| start method | one process | 8 started at once |",
        "|---|---|---|",
    ]
    for method in ("spawn", "forkserver", "fork"):
        if method in starts:
            row = starts[method]
            lines.append(f"| {method} | {row['single_ms']:.1f} ms | {row['at_once_ms']:.1f} ms |")
    lines += [
        "",
        f"{starts['note']}. fork: {starts['fork']['note']}." if "fork" in starts else starts["note"],
        "",
    ]
    lines += browser_draw.report_lines(browser_draw.measure())
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="replace the generated section of this Markdown file")
    args = parser.parse_args()
    text = report()
    print(text)
    if args.write:
        replace_section(args.write, "bench", text)
    # Its own section: explore mode's searches, schedules per second.
    explored = explore_speed.report()
    print(explored)
    if args.write:
        replace_section(args.write, "explore", explored)
    # Its own section: a 1M-event run on real servers (bytes per event, stream, store, reload).
    kept = history.report()
    print(kept)
    if args.write:
        replace_section(args.write, "history", kept)


if __name__ == "__main__":
    main()
