"""Builds the compiled recorder: app/hotpath.py's MODULES, compiled by mypyc into one
library named after a hash of their sources (metadata lives in pyproject.toml).

Where that cannot happen (no mypy in the build environment, no C compiler or Python
headers), the package installs without it and the same sources run interpreted:
one line says so here, and the server says which recorder runs when it starts.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from app import hotpath  # noqa: E402  (the one list of compiled modules)

FALLBACK = "interleave: building the compiled recorder failed ({}); the recorder will run interpreted"


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class OptionalBuildExt(build_ext):
    """Builds the extensions, or none of them: any failure leaves the pure-Python package."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:
            self.extensions = []
            say(FALLBACK.format(_one_line(error)))



def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


def compiled_extensions() -> list[object]:
    try:
        from mypyc.build import mypycify
    except ImportError as error:
        say(FALLBACK.format(f"no mypyc: {error}"))
        return []
    sources = [str(hotpath.source_file(module, HERE).relative_to(HERE)) for module in hotpath.MODULES]
    # Our own mypy settings name a plugin (pydantic's) that the build environment
    # lacks and that none of these modules needs: a config with only [mypy].
    config = Path(tempfile.mkdtemp()) / "mypyc.ini"
    config.write_text("[mypy]\n")
    try:
        return list(
            mypycify(
                ["--config-file", str(config), "--strict", *sources],
                group_name=hotpath.library_name(HERE),
                opt_level="3",
            )
        )
    except BaseException as error:  # mypyc exits through SystemExit on a type error
        say(FALLBACK.format(_one_line(error)))
        return []


setup(ext_modules=compiled_extensions(), cmdclass={"build_ext": OptionalBuildExt})
