"""Which recorder runs: the compiled hot path, or the same sources interpreted.

`MODULES` (the recorder and the traced primitives) are compiled by mypyc when the
package is built (setup.py) into one library named after a hash of their sources,
`interleave_<hash>__mypyc`. Compiled, a traced call runs no bytecode, so the
interpreter cannot switch threads inside it: recording does not invent contention.

`select()` runs once, at the first import of `app` (in the server and in every child
process), before any of `MODULES` is imported:
- the library built from the sources on disk now is there, and `INTERLEAVE_RECORDER`
  is not "interpreted": the compiled modules load. `RECORDER` is "compiled";
- otherwise a finder placed first on `sys.meta_path` loads their .py files instead:
  `RECORDER` is "interpreted" and `REASON` says why. A library built from other
  sources (an edited checkout) is never loaded: stale code would run silently.

Only the standard library here: this runs before anything else of ours.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

MODULES: tuple[str, ...] = (
    "app.tracing",
    "app.traced",
    "app.traced.threading",
    "app.traced.queue",
    "app.traced.shared",
    "app.traced.time",
)
ENV = "INTERLEAVE_RECORDER"  # "interpreted": run the sources even where a compiled build exists
COMPILED, INTERPRETED = "compiled", "interpreted"
_ROOT = Path(__file__).resolve().parent.parent  # the folder holding the `app` package

RECORDER = INTERPRETED  # which one this process runs, set by `select()`
REASON = "not selected yet"  # why it runs interpreted ("" when compiled)


def source_file(module: str, root: Path = _ROOT) -> Path:
    """The .py file of one of `MODULES`."""
    path = root.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def library_name(root: Path = _ROOT) -> str:
    """The name of the compiled library built from the sources under `root` now."""
    digest = hashlib.sha256()
    for module in MODULES:
        digest.update(module.encode() + b"\0" + source_file(module, root).read_bytes() + b"\0")
    return f"interleave_{digest.hexdigest()[:16]}"


class _Sources(importlib.abc.MetaPathFinder):
    """Finds `MODULES` as their .py files, ahead of any compiled module of that name."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        # For an __init__.py the loader says "package" and the spec gets its folder.
        return importlib.util.spec_from_file_location(fullname, source_file(fullname))


def _compiled_unavailable() -> str:
    """Why the compiled modules cannot run in this process ("" if they can)."""
    if os.environ.get(ENV, COMPILED) == INTERPRETED:
        return f"{ENV}={INTERPRETED}"
    return build_missing()


def build_missing() -> str:
    """Why no compiled build of these sources can run here ("" if one can), whichever
    recorder this process chose: for a lesson that starts a process of each."""
    try:
        name = library_name() + "__mypyc"
    except OSError as error:
        return f"cannot read the recorder's sources: {error}"
    if importlib.util.find_spec(name) is None:
        stale = any(
            source_file(m).with_name(source_file(m).stem + suffix).exists()
            for m in MODULES
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
        )
        return (
            "the compiled recorder was built from other sources: rebuild it (make)"
            if stale
            else "no compiled recorder was built (no C compiler when installed?)"
        )
    try:
        importlib.import_module(name)
    except ImportError as error:  # e.g. an installed librt too old for it
        return f"the compiled recorder does not load: {error}"
    return ""


def select() -> None:
    """Decide once per process which recorder runs (see the module docstring)."""
    global RECORDER, REASON
    if RECORDER == COMPILED or any(isinstance(f, _Sources) for f in sys.meta_path):
        return
    loaded = [m for m in MODULES if m in sys.modules]
    if loaded:
        raise RuntimeError(f"app.hotpath.select() must run before {loaded} are imported")
    REASON = _compiled_unavailable()
    if REASON:
        sys.meta_path.insert(0, _Sources())
        RECORDER = INTERPRETED
    else:
        RECORDER = COMPILED


def describe() -> str:
    """One line for the server's log."""
    return f"recorder: {RECORDER}" + (f" ({REASON})" if REASON else "")
