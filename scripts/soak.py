"""Run a test suite many times beside a CPU-bound process on every core, and report
every failure: `make soak` (the fast suite, N=30) and `make soak-browser` (the browser
suite, N=10).

A test that only passes on an idle machine is a flaky test: the hogs make the
machine as busy as a classroom server or a CI box shared with other jobs. Each run
is a fresh pytest; the hogs are killed however this script ends (they also die with
it: PR_SET_PDEATHSIG), so nothing is left spinning.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITES = {
    "fast": ["tests", "--ignore=tests/e2e", "--ignore=tests/container"],
    "browser": ["tests/e2e"],
}
LOGS = ROOT / ".soak"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def cores() -> int:
    return len(os.sched_getaffinity(0))


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    spin = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", spin], preexec_fn=_die_with_parent) for _ in range(count)]


def run_suite(command: list[str]) -> tuple[int, str]:
    """One pytest in a process group of its own: whatever it started (a uvicorn, a
    Chromium, a forkserver) is killed with it, even if this script is interrupted."""
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        output, _ = proc.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc.returncode, output.decode(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--hogs", type=int, default=cores(), help="CPU-bound processes (default: one per core)"
    )
    args = parser.parse_args()
    # SIGTERM (a CI timeout, a kill) unwinds through `finally` like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    LOGS.mkdir(exist_ok=True)
    hogs = start_hogs(args.hogs)
    failures: list[tuple[int, list[str]]] = []
    print(f"soak {args.suite}: {args.runs} runs beside {len(hogs)} CPU-bound processes", flush=True)
    try:
        for n in range(1, args.runs + 1):
            started = time.monotonic()
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES[args.suite]]
            code, output = run_suite(command)
            seconds = time.monotonic() - started
            summary = (output.strip().splitlines() or ["(no output)"])[-1]
            if code == 0:
                print(f"run {n}/{args.runs}: ok in {seconds:.0f} s ({summary.strip('= ')})", flush=True)
                continue
            log = LOGS / f"{args.suite}-{time.strftime('%Y%m%d-%H%M%S')}-run{n}.log"
            log.write_text(output)
            failed = re.findall(r"^(?:FAILED|ERROR) .*$", output, re.MULTILINE) or [summary]
            failures.append((n, failed))
            print(
                f"run {n}/{args.runs}: FAILED in {seconds:.0f} s (log: {log.relative_to(ROOT)})", flush=True
            )
            for line in failed:
                print(f"    {line}", flush=True)
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait()
    print(f"soak {args.suite}: {len(failures)} of {args.runs} runs failed", flush=True)
    for n, failed in failures:
        for line in failed:
            print(f"  run {n}: {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
