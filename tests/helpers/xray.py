# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pinned Xray of .cache/bin for the integration tests, and the loopback helpers they share."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.net import free_port

__all__ = [
    "XRAY",
    "free_port",
    "needs_xray",
    "run_xray",
    "wait_for_port",
    "xray_env",
    "xray_test",
]

XRAY = Path(os.environ.get("EDGERELAY_CACHE", REPO_ROOT / ".cache")) / "bin" / "xray"

needs_xray = pytest.mark.skipif(
    not os.access(XRAY, os.X_OK),
    reason=f"no Xray binary at {XRAY}: run scripts/build_xray.sh to build the pinned one",
)


def xray_env(assets: Path | None = None) -> dict[str, str]:
    """The environment without any inherited Xray setting, assets read from ``assets``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("XRAY_", "XRAY."))}
    if assets is not None:
        env["XRAY_LOCATION_ASSET"] = str(assets)
    return env


def xray_test(config: dict, tmp_path: Path, assets: Path | None = None):
    """``xray run -test`` on ``config``; the completed process."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config, indent=2))
    return subprocess.run(
        [str(XRAY), "run", "-test", "-c", str(config_file)],
        env=xray_env(assets),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 20) -> None:
    """Poll until ``process`` listens on 127.0.0.1:``port`` (no fixed sleep: a busy machine
    only makes it slower); fail if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"xray exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"xray did not listen on 127.0.0.1:{port} within {timeout}s")


@contextlib.contextmanager
def run_xray(config: dict, tmp_path: Path, name: str, ports, assets: Path | None = None):
    """A real Xray with ``config`` (its output in ``<name>.out``), once it listens on every
    one of ``ports``; terminated on exit."""
    config_file = tmp_path / f"{name}.json"
    config_file.write_text(json.dumps(config, indent=2))
    with (tmp_path / f"{name}.out").open("w") as out:
        process = subprocess.Popen(
            [str(XRAY), "run", "-c", str(config_file)],
            env=xray_env(assets),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for port in ports:
            wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
