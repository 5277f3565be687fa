"""`python -m bench.fuzz [--seed N] [--max-examples K] [--write FILE.md]`: a schema-driven fuzz of the API.

Schemathesis reads the server's own OpenAPI document and throws generated requests at
a real server (`python -m app`): valid ones (which must be accepted), invalid ones
(which must be refused with a documented 4xx), and chains that follow the documented
links (start a run, read it, stream it, stop it with its control token). Every check
it has is on: no 5xx, documented statuses, content types and bodies, and so on.

`make test` runs it with a fixed seed and a few hundred cases (tests/test_fuzz.py);
`make fuzz` runs it longer with a random seed, printed so a failure can be replayed.
Runs are capped at 2 s here: generated parameters may ask for minutes of work.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import replace_section
from tests.live import live_server

FUZZ_SERVER = {"INTERLEAVE_MAX_RUN_SECONDS": "2", "INTERLEAVE_STOP_GRACE_SECONDS": "0.5"}


@dataclass(frozen=True)
class FuzzResult:
    seed: int
    exit_code: int
    generated: int
    failures: int
    seconds: float
    output: str


def fuzz(seed: int, max_examples: int) -> FuzzResult:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    started = time.monotonic()
    with live_server(FUZZ_SERVER) as server:
        done = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "all",
                "--seed",
                str(seed),
                "--max-examples",
                str(max_examples),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
    output = done.stdout + done.stderr
    counts = re.search(r"(\d+) generated, (?:(\d+) found )?.*", output)
    generated = int(counts.group(1)) if counts else 0
    failures = int(counts.group(2)) if counts and counts.group(2) else 0
    return FuzzResult(seed, done.returncode, generated, failures, time.monotonic() - started, output)


def report(result: FuzzResult, max_examples: int) -> str:
    """The fuzz section of docs/PERFORMANCE.md."""
    return (
        f"Command: `make fuzz` (`python -m bench.fuzz --max-examples {max_examples} --seed {result.seed}`), "
        "schemathesis with every check on, against a real server (runs capped at 2 s).\n\n"
        "| seed | requests generated | failures | time | schemathesis exit code |\n"
        "|---|---|---|---|---|\n"
        f"| {result.seed} | {result.generated:,} | {result.failures} | {result.seconds:.0f} s | {result.exit_code} |\n\n"
        "`make test` runs the same fuzz with the fixed seed 20261125 and fewer cases (tests/test_fuzz.py)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=None, help="default: a random one (printed)")
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--write", type=Path, help="replace the fuzz section of this Markdown file")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"fuzzing with seed {seed} (replay: python -m bench.fuzz --seed {seed})", flush=True)
    result = fuzz(seed, args.max_examples)
    print(result.output)
    print(
        f"seed {seed}: {result.generated} requests generated, {result.failures} failures, "
        f"{result.seconds:.0f} s, schemathesis exit code {result.exit_code}"
    )
    if args.write:
        replace_section(args.write, "fuzz", report(result, args.max_examples))
    sys.exit(result.exit_code)


if __name__ == "__main__":
    main()
