# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The FakeTLS load tool (molecule/shared/files/faketls_load.py) against the real
mtprotoproxy 1.0.6 on loopback: the replicas are the lab launcher's, HAProxy has the role's
config, and the tool's own sink is the replicas' LAB_UPSTREAM. What is checked is counts
(sessions held, survived, dropped; bytes that arrived), never timing.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess

import pytest

from tests.helpers.haproxy import needs_haproxy
from tests.helpers.mtproxy import (
    FILES,
    PYTHON,
    ee_secret,
    extract_mtprotoproxy,
    haproxy,
    sdist_problem,
    start_replica,
    wait_until,
)
from tests.helpers.net import free_port

pytestmark = pytest.mark.skipif(sdist_problem() is not None, reason=str(sdist_problem()))

TOOL = FILES / "faketls_load.py"
DOMAIN = "www.edgerelay.test"
KEY = secrets.token_hex(16)
SECRET = ee_secret(KEY, DOMAIN)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Two replicas with the same user, relaying to the sink port of the tool."""
    directory = tmp_path_factory.mktemp("faketls-load")
    script = extract_mtprotoproxy(directory)
    sink_port = free_port()
    replicas = []
    try:
        for index in (1, 2):
            replicas.append(replica(f"load{index}", script, directory, sink_port))
        yield {"dir": directory, "script": script, "sink": sink_port, "replicas": replicas}
    finally:
        for process in replicas:
            process.stop()


def replica(name, script, directory, sink_port):
    return start_replica(
        name,
        script,
        directory,
        free_port(),
        MTPROXY_USERS=f"bench:{KEY}",
        MTPROXY_TLS_DOMAIN=DOMAIN,
        LAB_UPSTREAM=f"127.0.0.1:{sink_port}",
    )


def port_of(process) -> int:
    return int(process.env["MTPROXY_PORT"])


def tool_argv(command: str, port: int, sink_port: int, *args: str) -> list[str]:
    return [
        PYTHON,
        str(TOOL),
        command,
        "--proxy",
        f"127.0.0.1:{port}",
        "--secret",
        SECRET,
        "--sink-address",
        "127.0.0.1",
        "--sink-port",
        str(sink_port),
        *args,
    ]


def run_tool(command: str, port: int, sink_port: int, *args: str) -> tuple[int, dict]:
    done = subprocess.run(
        tool_argv(command, port, sink_port, *args), capture_output=True, text=True, timeout=900
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"faketls_load.py printed nothing: {done.stderr}"
    return done.returncode, json.loads(lines[-1])


def servers(replicas) -> list[dict]:
    return [{"name": r.name, "address": "127.0.0.1", "port": port_of(r)} for r in replicas]


def current_sessions(stats_port: int) -> dict[str, int]:
    """scur of each backend server, from HAProxy's stats CSV."""
    with socket.create_connection(("127.0.0.1", stats_port), timeout=10) as sock:
        sock.sendall(b"GET /stats;csv HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    rows = [line.split(",") for line in data.decode(errors="replace").splitlines()]
    return {
        r[1]: int(r[4] or 0)
        for r in rows
        if len(r) > 17 and r[0] != "stats" and r[1] not in ("FRONTEND", "BACKEND", "svname")
    }


class Hold:
    """faketls_load.py hold in the background: ready, then released."""

    def __init__(self, directory, port: int, sink_port: int, count: int, *args: str):
        self.ready = directory / f"ready-{port}-{count}"
        self.release_file = directory / f"release-{port}-{count}"
        self.output = directory / f"hold-{port}-{count}.out"
        for path in (self.ready, self.release_file):
            path.unlink(missing_ok=True)
        argv = tool_argv(
            "hold",
            port,
            sink_port,
            "--count",
            str(count),
            "--ready-file",
            str(self.ready),
            "--release-file",
            str(self.release_file),
            "--timeout",
            "600",
            *args,
        )
        with open(self.output, "wb") as handle:
            self.popen = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT)

    def wait_ready(self) -> dict:
        wait_until(
            lambda: self.ready.exists() or self.popen.poll() is not None,
            "the sessions are held",
            timeout=300,
        )
        assert self.ready.exists(), self.output.read_text()
        return json.loads(self.ready.read_text())

    def release(self, expect_dropped: int | None = None) -> tuple[int, dict]:
        content = "" if expect_dropped is None else json.dumps({"expect_dropped": expect_dropped})
        tmp = self.release_file.with_suffix(".tmp")
        tmp.write_text(content)
        tmp.replace(self.release_file)
        rc = self.popen.wait(timeout=300)
        return rc, json.loads(self.output.read_text().strip().splitlines()[-1])

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)


def test_loop_relays_every_session(lab):
    rc, result = run_tool(
        "loop", port_of(lab["replicas"][0]), lab["sink"], "--count", "60", "--rate", "30"
    )
    assert rc == 0, result
    assert result["ok"] == 60 and result["failed"] == 0
    assert result["sink_first_packets"] == 60


def test_bulk_bytes_arrive_at_the_sink(lab):
    size = 8 << 20
    rc, result = run_tool(
        "bulk", port_of(lab["replicas"][1]), lab["sink"], "--bytes", str(size), "--streams", "2"
    )
    assert rc == 0, result
    assert result["bytes"] == 2 * size
    assert result["sink_bulk_bytes"] == 2 * size


def test_rate_counts_complete_sessions(lab):
    rc, result = run_tool(
        "rate", port_of(lab["replicas"][0]), lab["sink"], "--seconds", "2", "--parallel", "4"
    )
    assert rc == 0, result
    assert result["ok"] > 0 and result["failed"] == 0
    assert result["sink_first_packets"] == result["ok"]


def test_a_wrong_secret_is_a_failed_session(lab):
    wrong = ee_secret(secrets.token_hex(16), DOMAIN)
    argv = tool_argv("loop", port_of(lab["replicas"][0]), lab["sink"], "--count", "3")
    argv[argv.index(SECRET)] = wrong
    done = subprocess.run([*argv, "--rate", "0", "--timeout", "10"], capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 1, result
    assert result["ok"] == 0 and result["failed"] == 3
    assert result["sink_accepted"] == 0


def test_held_sessions_survive_on_one_replica(lab):
    hold = Hold(lab["dir"], port_of(lab["replicas"][0]), lab["sink"], 100)
    try:
        assert hold.wait_ready() == {"held": 100, "open_failures": {}}
        rc, result = hold.release()
    finally:
        hold.stop()
    assert rc == 0, result
    assert (result["held"], result["survived"], result["dropped"]) == (100, 100, 0)
    assert result["sink_first_packets"] == 100 and result["sink_moved"] == 0


@needs_haproxy
def test_held_sessions_and_a_loop_through_haproxy(lab):
    port, stats_port = free_port(), free_port()
    with haproxy(lab["dir"] / "haproxy", port, stats_port, servers(lab["replicas"])):
        hold = Hold(lab["dir"], port, lab["sink"], 200)
        try:
            assert hold.wait_ready()["held"] == 200
            spread = current_sessions(stats_port)
            # Both replicas carry held sessions (leastconn spreads them).
            assert sum(spread.values()) == 200 and all(spread.values()), spread
            # New sessions keep working while those are held.
            rc, loop = run_tool(
                "loop", port, lab["sink"], "--count", "40", "--rate", "20", "--no-sink"
            )
            assert rc == 0, loop
            rc, result = hold.release()
        finally:
            hold.stop()
    assert rc == 0, result
    assert (result["held"], result["survived"], result["dropped"]) == (200, 200, 0)


@needs_haproxy
def test_a_killed_replica_drops_exactly_its_sessions(lab, tmp_path):
    # Replicas of its own: one of them is killed.
    victims = [replica(f"kill{i}", lab["script"], tmp_path, lab["sink"]) for i in (1, 2)]
    port, stats_port = free_port(), free_port()
    try:
        with haproxy(tmp_path / "haproxy", port, stats_port, servers(victims)):
            hold = Hold(tmp_path, port, lab["sink"], 120)
            try:
                assert hold.wait_ready()["held"] == 120
                on_victim = current_sessions(stats_port)[victims[0].name]
                assert 0 < on_victim < 120
                victims[0].popen.kill()
                victims[0].popen.wait(timeout=30)
                rc, result = hold.release(expect_dropped=on_victim)
            finally:
                hold.stop()
    finally:
        for process in victims:
            process.stop()
    assert rc == 0, result
    assert result["held"] == 120
    assert result["dropped"] == on_victim, result
    assert result["survived"] == 120 - on_victim
