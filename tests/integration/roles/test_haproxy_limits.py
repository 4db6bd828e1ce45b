# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The haproxy role's limits against one abusive source, on a real HAProxy on loopback.

The config is rendered by Ansible from the role's template and defaults (with short
timeouts and small limits so that the test takes seconds), then Debian's HAProxy runs it in
front of an echo server of the test. Measured before these limits: 8100 idle connections
from one client to the stats port held HAProxy at its global maxconn, and the client port
accepted nothing more for the hour of `timeout client`.

Nothing here depends on timing beyond generous deadlines: every wait polls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import socketserver
import subprocess
import threading
import time

import pytest

from tests.helpers.haproxy import needs_haproxy, render_haproxy
from tests.helpers.net import free_port

pytestmark = needs_haproxy

# A small global limit, so that a flood of the stats port could use it all up.
GLOBAL_MAXCONN = 100
STATS_MAXCONN = 20
SOURCE_MAX = 30


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        with contextlib.suppress(OSError):
            while data := self.request.recv(4096):
                self.request.sendall(data)


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


@pytest.fixture(scope="module")
def haproxy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("haproxy")
    echo = EchoServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    ports = {"client": free_port(), "stats": free_port()}
    config = render_haproxy(
        tmp,
        {
            "haproxy_port": ports["client"],
            "haproxy_stats_port": ports["stats"],
            "haproxy_servers": [
                {"name": "echo", "address": "127.0.0.1", "port": echo.server_address[1]}
            ],
            "haproxy_maxconn": GLOBAL_MAXCONN,
            "haproxy_stats_maxconn": STATS_MAXCONN,
            "haproxy_stats_timeout": "1s",
            "haproxy_source_max_connections": SOURCE_MAX,
            "haproxy_client_first_timeout": "1s",
        },
    )
    pidfile = tmp / "haproxy.pid"
    started = subprocess.run(
        ["haproxy", "-D", "-p", str(pidfile), "-f", str(config)], capture_output=True, text=True
    )
    assert started.returncode == 0, started.stdout + started.stderr
    wait_until(lambda: connectable(ports["client"]), "HAProxy listens")
    yield {**ports, "config": config.read_text()}
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGTERM)
    echo.shutdown()


def wait_until(condition, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


def connectable(port):
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False


def open_idle(port, count, source="127.0.0.1"):
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sockets.append(sock)
    return sockets


def closed_by_peer(sock):
    """True once the peer has closed (EOF or reset), after whatever it sent last (the stats
    listener answers 408 before it closes); never blocks."""
    sock.setblocking(False)
    try:
        while True:
            if sock.recv(65536) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def refused(port, source):
    """HAProxy resets the connection at once (during or right after the handshake)."""
    try:
        sock = open_idle(port, 1, source=source)[0]
    except (ConnectionResetError, ConnectionRefusedError):
        return True
    with sock:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if closed_by_peer(sock):
                return True
            time.sleep(0.05)
    return False


def echoes(port, source="127.0.0.1", payload=b"ping\n"):
    with socket.socket() as sock:
        sock.settimeout(5)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(payload)
        return sock.recv(len(payload)) == payload


def test_the_rendered_limits(haproxy):
    config = haproxy["config"]
    assert f"maxconn {STATS_MAXCONN}" in config
    assert "timeout http-request 1s" in config
    assert "stats hide-version" in config
    assert f"sc0_conn_cur gt {SOURCE_MAX}" in config
    assert "tcp-request inspect-delay 1s" in config


def test_a_stats_flood_does_not_starve_the_client_port(haproxy):
    # Twice the global limit: without the stats listener's own limit, these idle connections
    # would hold every slot and the client port would accept nothing.
    flood = open_idle(haproxy["stats"], 2 * GLOBAL_MAXCONN)
    try:
        # The client port serves while the flood is held.
        assert echoes(haproxy["client"])
        # HAProxy closes the idle stats connections it accepted after timeout http-request.
        wait_until(
            lambda: sum(closed_by_peer(sock) for sock in flood) >= STATS_MAXCONN,
            f"the first {STATS_MAXCONN} idle stats connections are closed",
            timeout=60,
        )
        assert echoes(haproxy["client"])
    finally:
        for sock in flood:
            sock.close()


def test_one_source_cannot_take_every_connection(haproxy):
    held = []
    try:
        for _ in range(SOURCE_MAX):
            sock = socket.create_connection(
                ("127.0.0.1", haproxy["client"]), timeout=5, source_address=("127.0.0.3", 0)
            )
            sock.sendall(b"x")  # past the handshake deadline: a real, active client
            assert sock.recv(1) == b"x"
            held.append(sock)
        for _ in range(5):
            assert refused(haproxy["client"], source="127.0.0.3"), "beyond the per-source limit"
        # Another source address still gets through, and the held ones still work.
        assert echoes(haproxy["client"], source="127.0.0.2")
        held[0].sendall(b"y")
        assert held[0].recv(1) == b"y"
    finally:
        for sock in held:
            sock.close()


def test_a_silent_connection_is_closed_at_the_handshake_deadline(haproxy):
    # Its own source addresses: the other tests' connections count against 127.0.0.1.
    silent = open_idle(haproxy["client"], 1, source="127.0.0.4")[0]
    talking = socket.create_connection(
        ("127.0.0.1", haproxy["client"]), timeout=5, source_address=("127.0.0.5", 0)
    )
    try:
        talking.sendall(b"hello")
        assert talking.recv(5) == b"hello"
        wait_until(lambda: closed_by_peer(silent), "the silent connection is closed")
        # The connection that spoke first is a session; it stays open past the deadline.
        time.sleep(1.5)
        assert not closed_by_peer(talking)
        talking.sendall(b"again")
        assert talking.recv(5) == b"again"
    finally:
        silent.close()
        talking.close()
