# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The real MTProxy stack of the lab as plain processes on loopback, for integration tests.

* mtprotoproxy 1.0.6 from the cached, hash-checked sdist (.cache/dist, scripts/bootstrap.sh
  fetches it), extracted into a temporary directory: nothing is installed, nothing fetched;
* replicas run by the lab launcher (images/mtproxy-lab/mtproxy_lab.py), which runs the
  production launcher (roles/mtproxy/files/images/mtprotoproxy) and only adds the lab's
  never-dial-out settings (LAB_UPSTREAM instead of Telegram);
* the masking host (molecule/shared/files/mask_server.py) and the client probe
  (molecule/shared/files/mtproto_probe.py), the same files the molecule scenarios use;
* HAProxy with the haproxy role's template, rendered by Ansible.

Every wait polls with a generous deadline; nothing asserts on timing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.helpers.haproxy import render_haproxy

SDIST = REPO_ROOT / ".cache" / "dist" / "mtprotoproxy-1.0.6.tar.gz"
SDIST_SHA256 = "a397f0aa6b3cba85ab8eece3c872f052927c8d62f870f8e2e3dc0a52690e661d"
LAB_LAUNCHER = REPO_ROOT / "images" / "mtproxy-lab" / "mtproxy_lab.py"
PRODUCTION_LAUNCHER_DIR = REPO_ROOT / "roles" / "mtproxy" / "files" / "images" / "mtprotoproxy"
FILES = REPO_ROOT / "molecule" / "shared" / "files"
PROBE = FILES / "mtproto_probe.py"
MASK_SERVER = FILES / "mask_server.py"
# The interpreter of the replicas, the mask server and the probe: this one, or e.g. Debian's
# /usr/bin/python3 (python3-cryptography 38, what the lab containers have).
PYTHON = os.environ.get("EDGERELAY_MTPROXY_TEST_PYTHON", sys.executable)


def sdist_problem() -> str | None:
    """Why the cached sdist cannot be used, or None."""
    if not SDIST.is_file():
        return f"{SDIST.relative_to(REPO_ROOT)} missing (scripts/bootstrap.sh lab-images)"
    if hashlib.sha256(SDIST.read_bytes()).hexdigest() != SDIST_SHA256:
        return f"{SDIST.name} does not match its pinned sha256"
    return None


def extract_mtprotoproxy(directory: Path) -> Path:
    """mtprotoproxy.py from the sdist, unmodified."""
    with tarfile.open(SDIST) as archive:
        member = archive.getmember("mtprotoproxy-1.0.6/mtprotoproxy.py")
        archive.extract(member, directory, filter="data")
    return directory / "mtprotoproxy-1.0.6" / "mtprotoproxy.py"


def ee_secret(key_hex: str, domain: str) -> str:
    return "ee" + key_hex + domain.encode("ascii").hex()


def wait_until(condition, what: str, timeout: float = 60.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}")
        time.sleep(interval)


def connectable(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=2):
        return True
    return False


@dataclass
class Process:
    """A background process whose output goes to a log file."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **self.env}
        with open(self.log, "ab") as output:
            self.popen = subprocess.Popen(
                self.argv, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=self.log.parent
            )
        return self

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=20)


def start_replica(name: str, script: Path, directory: Path, port: int, **env: str) -> Process:
    """One replica: the lab launcher, listening on 127.0.0.1:port; env: MTPROXY_*/LAB_*."""
    replica = Process(
        name,
        [PYTHON, str(LAB_LAUNCHER)],
        directory / f"{name}.log",
        env={
            "MTPROTOPROXY_PATH": str(script),
            "EDGERELAY_LAUNCHER_DIR": str(PRODUCTION_LAUNCHER_DIR),
            "MTPROXY_PORT": str(port),
            "LAB_LISTEN_ADDR": "127.0.0.1",
            "MTPROXY_STATS_PRINT_PERIOD": "3600",
            "TMPDIR": str(directory),
            **env,
        },
    ).start()
    wait_until(
        lambda: (
            (not replica.alive() and _died(replica))
            or ("edgerelay-mtprotoproxy: port" in replica.output() and connectable(port))
        ),
        f"{name} listens on {port}",
    )
    return replica


def _died(process: Process):
    raise AssertionError(f"{process.name} exited: {process.output()}")


def start_mask_server(directory: Path, port: int, name: str) -> tuple[Process, Path]:
    log = directory / "mask.jsonl"
    server = Process(
        "mask",
        [PYTHON, str(MASK_SERVER), "--name", name, "--port", str(port), "--log", str(log)],
        directory / "mask.out",
    ).start()
    wait_until(lambda: connectable(port), f"the mask server listens on {port}")
    return server, log


def mask_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class ProbeResult:
    rc: int
    result: dict
    stderr: str


def probe(
    proxy_port: int, secret: str, *args: str, sink_port: int, timeout: float = 20
) -> ProbeResult:
    """Runs mtproto_probe.py (the file the molecule scenarios copy to their client)."""
    argv = [
        PYTHON,
        str(PROBE),
        "--proxy",
        f"127.0.0.1:{proxy_port}",
        "--secret",
        secret,
        "--sink-address",
        "127.0.0.1",
        "--sink-port",
        str(sink_port),
        "--timeout",
        str(timeout),
        *args,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout * 40 + 60)
    lines = done.stdout.strip().splitlines()
    assert lines, f"the probe printed nothing: {done.stderr}"
    return ProbeResult(done.returncode, json.loads(lines[-1]), done.stderr)


@contextlib.contextmanager
def haproxy(directory: Path, port: int, stats_port: int, servers: list[dict], **variables):
    """Debian's HAProxy with the role's config in front of servers; yields the config text."""
    directory.mkdir(parents=True, exist_ok=True)
    config = render_haproxy(
        directory,
        {
            "haproxy_port": port,
            "haproxy_stats_port": stats_port,
            "haproxy_servers": servers,
            **variables,
        },
    )
    checked = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    pidfile = directory / "haproxy.pid"
    started = subprocess.run(
        ["haproxy", "-D", "-p", str(pidfile), "-f", str(config)], capture_output=True, text=True
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        wait_until(lambda: connectable(port), f"HAProxy listens on {port}")
        wait_until(lambda: _all_servers_up(stats_port, len(servers)), "every server is UP")
        yield config.read_text()
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)


def _all_servers_up(stats_port: int, count: int) -> bool:
    """The stats page's CSV shows every server of the backend UP (health checks passed)."""
    try:
        with socket.create_connection(("127.0.0.1", stats_port), timeout=5) as sock:
            sock.sendall(b"GET /stats;csv HTTP/1.0\r\nHost: localhost\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    except OSError:
        return False
    rows = [line.split(",") for line in data.decode(errors="replace").splitlines()]
    servers = [r for r in rows if len(r) > 17 and r[1] not in ("FRONTEND", "BACKEND", "svname")]
    backend_servers = [r for r in servers if r[0] != "stats"]
    return len(backend_servers) >= count and all(r[17] == "UP" for r in backend_servers)
