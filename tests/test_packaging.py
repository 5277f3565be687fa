"""`pip install .` into a clean virtual environment outside the checkout serves the
page: the static files and templates travel as package data.

The wheel is built from the checkout (pip wheel, no dependencies), installed with
--no-deps into a venv in a temporary folder; the venv borrows the test venv's
installed dependencies through a .pth line (so nothing is downloaded), and the server
runs from a folder with no checkout in it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import httpx

from tests.live import ROOT, pick_free_port, wait_for_server


def test_pip_install_outside_the_checkout_serves_the_page(tmp_path: Path) -> None:
    wheels, env_dir, elsewhere = tmp_path / "wheels", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("interleave-*.whl")

    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    # The test venv's dependencies, borrowed (appended after the new venv's own site-packages).
    Path(site, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    where = subprocess.run(
        [python, "-c", "import app.assets as a; print(a.__file__, a.STATIC, a.TEMPLATES, sep='\\n')"],
        capture_output=True, text=True, cwd=elsewhere,
    ).stdout.split()  # fmt: skip
    assert all(path.startswith(site) for path in where), where  # the installed copy, not the checkout

    port = pick_free_port()
    env = os.environ | {
        "INTERLEAVE_PORT": str(port),
        "INTERLEAVE_DATABASE": str(tmp_path / "runs.sqlite"),
        "INTERLEAVE_WARM_UP_PROCESSES": "false",
        "INTERLEAVE_LOG_LEVEL": "warning",
    }
    env.pop("PYTHONPATH", None)
    server = subprocess.Popen([env_dir / "bin" / "interleave", "serve"], cwd=elsewhere, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url, server)
        page = httpx.get(url + "/")
        assert page.status_code == 200
        assert "Interleave" in page.text
        assets = sorted(set(re.findall(r"""(?:href|src)=["'](/static/[^"'?#]+)""", page.text)))
        assert assets
        for asset in assets:
            assert httpx.get(url + asset).status_code == 200, asset
        assert httpx.get(url + "/history").status_code == 200
        assert httpx.get(url + "/static/js/history.js").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
