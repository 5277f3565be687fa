"""A real server for tests, benchmarks and the load and fuzz tools: `python -m app`
(what `make run` starts) on a free port, with settings from the environment.

Usage::

    with live_server({"INTERLEAVE_MAX_RUN_SECONDS": "2"}) as server:
        httpx.get(server.url + "/scenarios")
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]


def pick_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    port: int
    process: subprocess.Popen[bytes]

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def rss_bytes(self) -> int:
        """The server process's resident memory now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


def wait_for_server(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Poll until the server answers (bounded), failing early if it died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/scenarios", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the server did not come up")
        time.sleep(0.05)


@contextmanager
def live_server(
    env: Mapping[str, str] | None = None, *, log: IO[bytes] | None = None
) -> Iterator[LiveServer]:
    """Start `python -m app` with `env` added to ours; always stop it afterwards."""
    port = pick_free_port()
    full_env = (
        os.environ | {"INTERLEAVE_PORT": str(port), "INTERLEAVE_LOG_LEVEL": "warning"} | dict(env or {})
    )
    process = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=full_env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, process)
        yield LiveServer(url, port, process)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
