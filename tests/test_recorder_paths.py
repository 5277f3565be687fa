"""Which recorder runs, and the compiled and interpreted recorders record the same.

The recorder's modules (app/hotpath.py) run compiled wherever `make` could build them
and interpreted elsewhere; `INTERLEAVE_RECORDER=interpreted` asks for the sources even
where a build exists (CI's second pass runs the whole fast suite that way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from app import hotpath
from app.scenarios.registry import SCENARIOS
from app.stepping import supports
from app.store import interpreter_name, recorder_of
from tests.helpers import finished_run

ROOT = Path(__file__).resolve().parents[1]
STEPPABLE = [slug for slug, lesson in SCENARIOS.items() if supports(lesson)]


def can_build() -> bool:
    """What `make` needs to compile the recorder: a C compiler and Python's headers."""
    return shutil.which("cc") is not None and Path(sysconfig.get_paths()["include"], "Python.h").exists()


def test_the_compiled_recorder_runs_wherever_it_can_be_built() -> None:
    if os.environ.get(hotpath.ENV) == hotpath.INTERPRETED:
        assert hotpath.RECORDER == hotpath.INTERPRETED
        assert f"{hotpath.ENV}={hotpath.INTERPRETED}" == hotpath.REASON
    elif can_build():  # `make test` built it: CI must be testing the compiled path
        assert hotpath.RECORDER == hotpath.COMPILED, hotpath.describe()
        assert hotpath.REASON == ""
        from app import tracing

        assert not tracing.__file__.endswith(".py"), tracing.__file__
    else:
        assert hotpath.RECORDER == hotpath.INTERPRETED
        assert hotpath.REASON, "an interpreted recorder always says why"


def recorded_steps(recorder: str) -> dict[str, object]:
    env = {**os.environ, hotpath.ENV: recorder}
    out = subprocess.run(
        [sys.executable, "-m", "tests.recorded_steps", *STEPPABLE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found: dict[str, object] = json.loads(out.stdout)
    return found


def test_both_recorders_record_the_same_events_for_every_stepped_lesson() -> None:
    """Each thread lesson at its defaults, stepped by one fixed rule: with the order of
    steps fixed, the recorder's build is the only difference, and it must not show."""
    compiled = recorded_steps(hotpath.COMPILED)
    interpreted = recorded_steps(hotpath.INTERPRETED)
    assert interpreted["recorder"] == hotpath.INTERPRETED
    if can_build() and os.environ.get(hotpath.ENV) != hotpath.INTERPRETED:
        assert compiled["recorder"] == hotpath.COMPILED
    lessons_c = compiled["lessons"]
    lessons_i = interpreted["lessons"]
    assert isinstance(lessons_c, dict)
    assert isinstance(lessons_i, dict)
    assert sorted(lessons_c) == sorted(STEPPABLE)
    for slug in STEPPABLE:
        assert sum(len(lane) for lane in lessons_c[slug].values()) > 10, slug  # it ran
        assert lessons_c[slug] == lessons_i[slug], slug


@pytest.mark.anyio
async def test_a_runs_summary_says_which_recorder_recorded_it(client: httpx.AsyncClient) -> None:
    summary, events = await finished_run(client, "threads-print-numbers")
    assert events
    assert summary["recorder"] == hotpath.RECORDER
    assert summary["interpreter"].endswith(f" · {hotpath.RECORDER} recorder"), summary["interpreter"]
    listed = (await client.get(f"/runs/{summary['id']}")).json()
    assert listed["recorder"] == hotpath.RECORDER


def test_runs_kept_from_before_there_was_a_compiled_recorder_ran_interpreted() -> None:
    assert recorder_of("cpython 3.11.7") == hotpath.INTERPRETED
    assert recorder_of("cpython 3.11.7 · compiled recorder") == hotpath.COMPILED
    assert recorder_of(interpreter_name()) == hotpath.RECORDER
