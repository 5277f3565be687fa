"""An operator stops the server (docker stop sends SIGTERM) in the middle of a lesson:
it exits promptly, ends the viewers' streams, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import httpx

from tests.helpers import parse_sse, wait_until
from tests.live import ROOT, wait_for_server
from tests.proc_helpers import alive, descendants


def test_sigterm_during_runs_exits_promptly_ends_streams_and_leaves_no_process(free_port: int) -> None:
    env = os.environ | {"INTERLEAVE_PORT": str(free_port), "INTERLEAVE_LOG_LEVEL": "warning"}
    server = subprocess.Popen([sys.executable, "-m", "app"], cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_for_server(url, server)
        with httpx.Client(base_url=url, timeout=30) as http:
            # a long thread run (4 threads x 1000 holds of 50 ms) and a process run
            long_run = http.post(
                "/runs", json={"scenario": "lock-counter", "params": {"iterations": 1000, "hold": 0.05}}
            )
            procs = http.post("/runs", json={"scenario": "processes-print-numbers", "params": {"pace": 0.1}})
            assert long_run.status_code == procs.status_code == 201
            streamed: list[str] = []
            first_batch = threading.Event()

            def watch() -> None:
                with http.stream("GET", f"/runs/{long_run.json()['id']}/events") as stream:
                    for line in stream.iter_lines():
                        streamed.append(line)
                        first_batch.set()

            viewer = threading.Thread(target=watch)
            viewer.start()
            assert first_batch.wait(10)
            workers = descendants(server.pid)
            assert workers, "the process run's children should be running"
            server.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal once it has shut down cleanly
            assert server.wait(timeout=15) in (0, -signal.SIGTERM)
            viewer.join(10)
            assert not viewer.is_alive()
        messages = parse_sse("\n".join(streamed) + "\n\n")
        assert messages[-1].event == "done"
        assert messages[-1].data["status"] == "stopped"
        assert "shutting down" in messages[-1].data["reason"]
        # The forkserver and resource tracker notice their parent's exit a moment later.
        wait_until(lambda: not any(alive(pid) for pid in workers), timeout=5, what="every child to exit")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
