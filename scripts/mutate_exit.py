"""A pytest plugin for each mutant's run (scripts/mutate.py loads it): once the session
has failed, end the process as soon as its report is out.

A mutant that breaks a process or thread test often leaves a non-daemon lesson thread
waiting; the interpreter's exit then waits for it forever, and the run lasted until
the driver's timeout (minutes, with the CPU idle) although its verdict was printed.
A session that passed exits as usual: a mutant that only hangs the exit still shows
as a timeout."""

from __future__ import annotations

import os
import sys

import pytest

_failed: list[int] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if exitstatus != 0:
        _failed.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if _failed:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_failed[0])
