"""app/hotpath.py: which build of the recorder a process runs, and why.

Each case runs a fresh interpreter (the choice is made once, at the first import of
`app`) on a copy of the package, so that the sources can be edited or the compiled
library left out without touching this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import hotpath
from tests.test_recorder_paths import can_build

ROOT = Path(__file__).resolve().parents[1]
REPORT = (
    "import json, app, app.hotpath as h, app.tracing as t; "
    "print(json.dumps({'recorder': h.RECORDER, 'reason': h.REASON, 'describe': h.describe(), 'file': t.__file__}))"
)


def copy_of_the_package(to: Path, *, with_build: bool) -> Path:
    """`app/` (and, if asked, the compiled library and its per-module shims) under `to`."""
    shutil.copytree(
        ROOT / "app",
        to / "app",
        ignore=shutil.ignore_patterns("__pycache__", *(() if with_build else ("*.so",))),
    )
    if with_build:
        for library in ROOT.glob("interleave_*__mypyc*"):
            shutil.copy2(library, to / library.name)
    return to


def report(root: Path, *, first: str = "", **env: str) -> dict[str, str]:
    """What a fresh interpreter that imports `app` from `root` (and runs `first`) runs."""
    clean = {k: v for k, v in os.environ.items() if k != hotpath.ENV}
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(root)!r}); {first or 'pass'}; {REPORT}",
        ],
        cwd=root,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    found: dict[str, str] = json.loads(out.stdout)
    return found


def stand_in_build(root: Path, code: str) -> None:
    """A module named as the compiled library for `root`'s sources would be."""
    (root / f"{hotpath.library_name(root)}__mypyc.py").write_text(code)


def test_asked_for_the_sources_a_process_runs_them_and_says_so(tmp_path: Path) -> None:
    found = report(copy_of_the_package(tmp_path, with_build=True), **{hotpath.ENV: hotpath.INTERPRETED})
    assert found["recorder"] == hotpath.INTERPRETED
    assert found["reason"] == f"{hotpath.ENV}={hotpath.INTERPRETED}"
    assert found["describe"] == f"recorder: interpreted ({hotpath.ENV}={hotpath.INTERPRETED})"
    assert found["file"].endswith("tracing.py")


def test_without_a_build_the_sources_run_and_the_reason_says_none_was_built(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path, with_build=False)
    # sources of their own: no library anywhere on the path (this checkout's included) fits them
    with (root / "app" / "tracing.py").open("a") as source:
        source.write("\n# sources nobody compiled\n")
    found = report(root)
    assert found["recorder"] == hotpath.INTERPRETED
    assert found["reason"].startswith("no compiled recorder was built"), found
    assert found["file"].endswith("tracing.py")


def test_a_library_named_for_these_sources_is_chosen_unless_the_sources_are_asked_for(tmp_path: Path) -> None:
    """The decision itself, where no compiler ran: a module with the library's name
    stands in for the build (the modules still load from their sources)."""
    root = copy_of_the_package(tmp_path, with_build=False)
    stand_in_build(root, "# stands in for the build\n")
    found = report(root)
    assert (found["recorder"], found["reason"], found["describe"]) == (
        hotpath.COMPILED,
        "",
        "recorder: compiled",
    )
    found = report(root, **{hotpath.ENV: hotpath.INTERPRETED})
    assert (found["recorder"], found["reason"]) == (
        hotpath.INTERPRETED,
        f"{hotpath.ENV}={hotpath.INTERPRETED}",
    )


def test_a_library_that_does_not_load_runs_the_sources_and_says_why(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path, with_build=False)
    stand_in_build(root, "raise ImportError('librt is too old')\n")
    found = report(root)
    assert found["recorder"] == hotpath.INTERPRETED
    assert found["reason"] == "the compiled recorder does not load: librt is too old"
    assert found["file"].endswith("tracing.py")


@pytest.mark.skipif(not can_build(), reason="no C compiler or Python headers here: nothing was compiled")
def test_the_build_runs_only_with_the_sources_it_was_built_from(tmp_path: Path) -> None:
    """An edited checkout must not run native code built from other sources."""
    root = copy_of_the_package(tmp_path, with_build=True)
    found = report(root)
    assert found["recorder"] == hotpath.COMPILED, found
    assert found["describe"] == "recorder: compiled"
    assert not found["file"].endswith(".py")
    with (root / "app" / "traced" / "queue.py").open("a") as source:
        source.write("\n# an edit after the build\n")
    found = report(root)
    assert found["recorder"] == hotpath.INTERPRETED
    assert found["reason"].startswith("the compiled recorder was built from other sources"), found
    assert found["file"].endswith("tracing.py")  # every one of them: not only the edited module


def test_the_librarys_name_follows_every_compiled_source(tmp_path: Path) -> None:
    root = copy_of_the_package(tmp_path, with_build=False)
    first = hotpath.library_name(root)
    assert first == hotpath.library_name(root)  # the same sources, the same name
    for module in hotpath.MODULES:
        source = hotpath.source_file(module, root)
        text = source.read_text()
        source.write_text(text + "\n")
        assert hotpath.library_name(root) != first, module
        source.write_text(text)
    assert hotpath.library_name(root) == first


def test_choosing_after_the_recorder_was_imported_is_refused() -> None:
    """Half of the modules compiled and half interpreted would not run: the choice
    must come first, and says so if it does not."""
    code = (
        "import sys, importlib.util as u; sys.path.insert(0, '.'); "
        "spec = u.spec_from_file_location('h', 'app/hotpath.py'); h = u.module_from_spec(spec); "
        "spec.loader.exec_module(h); sys.modules['app.tracing'] = h; h.select()"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode != 0
    assert "must run before ['app.tracing'] are imported" in out.stderr


@pytest.mark.parametrize("asked", [hotpath.COMPILED, hotpath.INTERPRETED])
def test_once_chosen_choosing_again_changes_nothing(asked: str) -> None:
    """Every `import app` calls select(); after the first, with the recorder imported,
    it must leave the choice as it is, whichever it was."""
    chosen = report(ROOT, **{hotpath.ENV: asked})
    again = report(ROOT, first="import app, app.tracing; app.hotpath.select()", **{hotpath.ENV: asked})
    assert again["recorder"] == chosen["recorder"]
    if asked == hotpath.INTERPRETED:
        assert again["recorder"] == hotpath.INTERPRETED


def test_the_observer_effect_without_a_compiled_build_records_the_interpreted_one_and_says_why(
    tmp_path: Path,
) -> None:
    """A server installed where no C compiler existed still runs the lesson: the
    recorder it has, and the reason the other is missing."""
    root = copy_of_the_package(tmp_path / "package", with_build=False)
    with (root / "app" / "tracing.py").open("a") as source:
        source.write("\n# sources nobody compiled\n")
    run = (
        f"import sys; sys.path.insert(0, {str(root)!r}); from app.cli import main; "
        "sys.exit(main(['run', 'observer-effect', '--set', 'iterations=1000', '--json']))"
    )
    clean = {k: v for k, v in os.environ.items() if k != hotpath.ENV}
    out = subprocess.run(
        [sys.executable, "-I", "-c", run],
        cwd=root,
        env={**clean, "INTERLEAVE_DATABASE": str(tmp_path / "runs.sqlite")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    summary = printed["run"]
    assert summary["status"] == "done", summary
    values = summary["result"]["values"]
    assert values["compiled_missing"].startswith("no compiled recorder was built"), values
    assert "the compiled recorder is not here to compare with" in summary["result"]["summary"]
    assert values["interpreted_events"] > 0
    lanes = {lane["lane"] for lane in printed["lanes"]}
    assert {f"interpreted Thread-{i}" for i in range(1, 5)} <= lanes
    assert not any(name.startswith("compiled ") for name in lanes)
