"""The `interleave` command, end to end: the console script pip installed, run as a
user runs it, with its own history file."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.store.sqlite import SqliteStore

SCRIPT = shutil.which("interleave", path=str(Path(sys.executable).parent))


def interleave(*args: str, database: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    if SCRIPT is None:
        pytest.fail("the `interleave` console script is not installed: `pip install -e '.[test]'`")
    env = os.environ | {"INTERLEAVE_DATABASE": str(database), "INTERLEAVE_WARM_UP_PROCESSES": "false"}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_run_a_lesson_with_set_values_and_export_it_as_csv_then_json(tmp_path: Path) -> None:
    database = tmp_path / "runs.sqlite"
    sets = ["--set", "pairs=2", "--set", "iterations=30", "--set", "hold=0", "--set", "use_lock=true"]
    done = interleave("run", "lock-counter", *sets, "--export", "run.csv", database=database, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Lock counter" in out
    assert "· done" in out
    assert "final counter 0, expected 0" in out
    for lane in ("main", "increment-1", "increment-2", "decrement-1", "decrement-2"):
        assert f"\n{lane}" in out  # each lane's own line
    assert "run " in out
    assert "→ done" in out
    rows = list(csv.DictReader(io.StringIO((tmp_path / "run.csv").read_text())))
    assert {row["worker"] for row in rows} >= {"main", "increment-1", "decrement-2"}
    assert sum(row["kind"] == "acquire" for row in rows) == 4 * 30
    run_id = out.split(" · run ")[1].split(" ")[0]
    store = SqliteStore(database)  # kept in the history, like a run from the page
    try:
        stored = store.record(run_id)
        assert stored is not None
        assert stored.status == "done"
        assert stored.events == len(rows)
        assert stored.params == {"pairs": 2, "iterations": 30, "hold": 0.0, "use_lock": True}
    finally:
        store.close()

    as_json = interleave(
        "run", "lock-counter", "--set", "iterations=3", "--export", "run.json", "--json",
        database=database, cwd=tmp_path,
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    printed = json.loads(as_json.stdout)
    assert printed["run"]["status"] == "done"
    assert printed["run"]["params"]["iterations"] == 3
    assert {lane["lane"] for lane in printed["lanes"]} == {
        "main",
        "increment-1",
        "increment-2",
        "decrement-1",
        "decrement-2",
    }
    trace = json.loads((tmp_path / "run.json").read_text())
    assert any(
        e.get("name") == "thread_name" and e["args"]["name"] == "increment-1" for e in trace["traceEvents"]
    )


def test_an_unknown_lesson_is_named_with_the_known_ones_and_exits_2(tmp_path: Path) -> None:
    refused = interleave("run", "lock-countr", database=tmp_path / "runs.sqlite", cwd=tmp_path)
    assert refused.returncode == 2
    assert "unknown scenario 'lock-countr'" in refused.stderr
    assert "lock-counter" in refused.stderr
    assert "interleave lessons" in refused.stderr
    assert refused.stdout == ""


def test_a_bad_value_says_what_is_allowed_and_exits_2(tmp_path: Path) -> None:
    database = tmp_path / "runs.sqlite"
    refused = interleave(
        "run", "lock-counter", "--set", "pairs=99", "--set", "hold=x", database=database, cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "--set pairs:" in refused.stderr
    assert "from 1 to 16" in refused.stderr
    assert "--set hold:" in refused.stderr
    assert "from 0 to 0.05" in refused.stderr
    unknown = interleave("run", "lock-counter", "--set", "speed=3", database=database, cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown parameter" in unknown.stderr
    assert "pairs" in unknown.stderr
    malformed = interleave("run", "lock-counter", "--set", "pairs", database=database, cwd=tmp_path)
    assert malformed.returncode == 2
    assert "NAME=VALUE" in malformed.stderr
    wrong_file = interleave("run", "lock-counter", "--export", "run.txt", database=database, cwd=tmp_path)
    assert wrong_file.returncode == 2
    assert ".json" in wrong_file.stderr
    assert ".csv" in wrong_file.stderr


def test_lessons_lists_every_lesson_with_its_parameters_and_bounds(tmp_path: Path) -> None:
    listed = interleave("lessons", database=tmp_path / "runs.sqlite", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "lock-counter: Lock counter" in listed.stdout
    assert "pairs=2  (a whole number from 1 to 16)" in listed.stdout
    as_json = json.loads(interleave("lessons", "--json", database=tmp_path / "r.sqlite", cwd=tmp_path).stdout)
    counter = next(lesson for lesson in as_json if lesson["lesson"] == "lock-counter")
    assert {p["name"] for p in counter["params"]} == {"pairs", "iterations", "hold", "use_lock"}


def test_help_teaches_each_command(tmp_path: Path) -> None:
    top = interleave("--help", database=tmp_path / "runs.sqlite", cwd=tmp_path)
    assert top.returncode == 0
    for command in ("serve", "lessons", "run"):
        assert command in top.stdout
    run_help = interleave("run", "--help", database=tmp_path / "runs.sqlite", cwd=tmp_path)
    assert "NAME=VALUE" in run_help.stdout
    assert "exit status" in run_help.stdout


# A stand-in for .venv/bin/interleave (its first line imports app.cli), starting one
# forkserver child whose target reports which of our modules the child has imported.
CONSOLE_SCRIPT = """
import multiprocessing, sys
import app.cli
from child_target import modules_of_ours

if __name__ == "__main__":
    if sys.argv[1] == "light":
        app.cli._light_main_for_children()
    context = multiprocessing.get_context("forkserver")
    queue = context.Queue()
    child = context.Process(target=modules_of_ours, args=(queue,))
    child.start()
    print(" ".join(queue.get(timeout=60)))
    child.join()
"""
CHILD_TARGET = """
import sys

def modules_of_ours(queue):
    queue.put(sorted(name for name in sys.modules if name.startswith("app")))
"""


@pytest.mark.parametrize("main", ["as a script", "light"])
def test_a_child_of_the_console_script_does_not_import_the_command_line(tmp_path: Path, main: str) -> None:
    """A forkserver child re-imports its parent's main script before its target runs:
    for `interleave`, app.cli and through it pydantic and the runner (~350 ms of CPU in
    every lesson process). The entry point names the light `app.__main__` as the main
    module instead, which children skip."""
    (tmp_path / "console_script.py").write_text(CONSOLE_SCRIPT)
    (tmp_path / "child_target.py").write_text(CHILD_TARGET)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "console_script.py"), main],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    imported_in_child = done.stdout.split()
    if main == "light":
        assert "app.cli" not in imported_in_child, imported_in_child
    else:  # what the entry point avoids: the child imported the whole command line
        assert "app.cli" in imported_in_child, imported_in_child
