# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The xray role's per-user traffic exporter against a real Xray, all on loopback.

A real Xray server with the statistics the role's config carries (``api`` with StatsService
on 127.0.0.1, ``stats: {}``, the policy's statsUserUplink/statsUserDownlink) and a VLESS
inbound with three clients: ``alice``, ``bob@example.org`` and one whose email is a UUID. A real
Xray client (one SOCKS inbound per user) sends a known number of bytes to a local sink
through it, as each user, and reads a known number back. Then the exporter runs once, as the
timer's unit runs it (``python3 -I``), and its textfile is compared with Xray's own
``statsquery``: each user's uplink and downlink are at least what was sent and received and
equal to Xray's counters; the UUID-named user is left out and counted, and no UUID is in the
file. With Xray stopped, the next run writes ``edgerelay_xray_stats_up 0`` and no counters.

The Xray binary is the pinned one of .cache/bin (scripts/build_xray.sh); without it the test
is skipped.
"""

from __future__ import annotations

import json
import os
import re
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.xray import XRAY, free_port, needs_xray, xray_env
from tests.helpers.xray import run_xray as xray

pytestmark = needs_xray

SCRIPT = REPO_ROOT / "roles" / "xray" / "files" / "xray_stats_exporter.py"
PROMTOOL = REPO_ROOT / ".cache" / "bin" / "promtool"
USERS = {
    "alice": "b831381d-6324-4d53-ad4f-8cda48b30811",
    "bob@example.org": "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50",
    "6a2b0c1e-3d4f-4a5b-8c6d-7e8f90a1b2c3": "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
}
# Bytes each user sends to the sink, and asks it to send back.
TRAFFIC = {
    "alice": (300_000, 700_000),
    "bob@example.org": (20_000, 150_000),
    "6a2b0c1e-3d4f-4a5b-8c6d-7e8f90a1b2c3": (5_000, 9_000),
}
UUID_TEXT = re.compile(
    r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE
)
TIMEOUT = 20


class _Sink(socketserver.BaseRequestHandler):
    """Reads an 8-byte header (bytes to read, bytes to send back), then those bytes, then
    answers with that many bytes and closes."""

    def handle(self):
        self.request.settimeout(TIMEOUT)
        header = _read_exactly(self.request, 8)
        upload, download = struct.unpack(">II", header)
        _read_exactly(self.request, upload)
        self.request.sendall(b"d" * download)


def _read_exactly(sock, count):
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(min(65536, count - len(data)))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return bytes(data)


@pytest.fixture
def sink():
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Sink)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def server_config(api_port, vless_port):
    return {
        "log": {"loglevel": "warning"},
        "api": {"tag": "api", "listen": f"127.0.0.1:{api_port}", "services": ["StatsService"]},
        "stats": {},
        "policy": {"levels": {"0": {"statsUserUplink": True, "statsUserDownlink": True}}},
        "inbounds": [
            {
                "tag": "vless-in",
                "listen": "127.0.0.1",
                "port": vless_port,
                "protocol": "vless",
                "settings": {
                    "decryption": "none",
                    "clients": [{"id": uid, "email": name} for name, uid in USERS.items()],
                },
            }
        ],
        "outbounds": [{"tag": "direct", "protocol": "freedom"}],
    }


def client_config(vless_port, socks_ports):
    config = {"log": {"loglevel": "warning"}, "inbounds": [], "outbounds": []}
    rules = []
    for index, (uid, port) in enumerate(zip(USERS.values(), socks_ports, strict=True)):
        config["inbounds"].append(
            {
                "tag": f"socks{index}",
                "listen": "127.0.0.1",
                "port": port,
                "protocol": "socks",
                "settings": {"udp": False},
            }
        )
        config["outbounds"].append(
            {
                "tag": f"user{index}",
                "protocol": "vless",
                "settings": {
                    "vnext": [
                        {
                            "address": "127.0.0.1",
                            "port": vless_port,
                            "users": [{"id": uid, "encryption": "none"}],
                        }
                    ]
                },
            }
        )
        rules.append(
            {"type": "field", "inboundTag": [f"socks{index}"], "outboundTag": f"user{index}"}
        )
    config["routing"] = {"rules": rules}
    return config


def exchange(socks_port, sink_port, upload, download):
    """Through the SOCKS inbound to the sink: send ``upload`` bytes, read ``download`` back."""
    with socket.create_connection(("127.0.0.1", socks_port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(b"\x05\x01\x00")
        assert _read_exactly(sock, 2) == b"\x05\x00"
        address = socket.inet_aton("127.0.0.1")
        sock.sendall(b"\x05\x01\x00\x01" + address + struct.pack(">H", sink_port))
        reply = _read_exactly(sock, 10)
        assert reply[:2] == b"\x05\x00", reply
        sock.sendall(struct.pack(">II", upload, download) + b"u" * upload)
        assert _read_exactly(sock, download) == b"d" * download


def statsquery(api_port):
    """Xray's own counters: {(name, direction): bytes}."""
    completed = subprocess.run(
        [str(XRAY), "api", "statsquery", f"--server=127.0.0.1:{api_port}", "-pattern", "user>>>"],
        env=xray_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    stats = json.loads(completed.stdout).get("stat", []) if completed.stdout.strip() else []
    counters = {}
    for entry in stats:
        _, name, _, direction = entry["name"].split(">>>")
        counters[(name, direction)] = int(entry.get("value", 0))
    return counters


def settled_statsquery(api_port):
    """Xray's counters once two queries in a row agree (the last bytes are counted as the
    connections close)."""
    previous = statsquery(api_port)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(0.3)
        current = statsquery(api_port)
        if current == previous:
            return current
        previous = current
    raise AssertionError(f"Xray's counters did not settle: {previous}")


def run_exporter(api_port, output):
    """One run, as edgerelay-xray-stats.service runs it."""
    subprocess.run(
        [
            *(sys.executable, "-I", str(SCRIPT), "--xray", str(XRAY)),
            *("--server", f"127.0.0.1:{api_port}", "--output", str(output)),
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return output.read_text(encoding="utf-8")


def parse(text):
    """{(metric, user or None): value} of the textfile (the label values hold no escapes)."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.fullmatch(r'(\w+)(?:\{user="([^"\\]*)"\})? (\d+)', line)
        assert match, line
        samples[(match.group(1), match.group(2))] = int(match.group(3))
    return samples


def test_the_exporter_writes_xrays_own_per_user_counters(tmp_path, sink):
    ports = set()
    while len(ports) < 2 + len(USERS):
        ports.add(free_port())
    api_port, vless_port, *socks_ports = sorted(ports)
    output = tmp_path / "edgerelay_xray_users.prom"
    server = server_config(api_port, vless_port)
    with (
        xray(server, tmp_path, "server", [vless_port, api_port]),
        xray(client_config(vless_port, socks_ports), tmp_path, "client", socks_ports),
    ):
        for name, port in zip(USERS, socks_ports, strict=True):
            exchange(port, sink, *TRAFFIC[name])
        counters = settled_statsquery(api_port)
        text = run_exporter(api_port, output)
        assert statsquery(api_port) == counters  # nothing moved while it ran
    logs = (tmp_path / "server.out").read_text()

    samples = parse(text)
    assert samples[("edgerelay_xray_stats_up", None)] == 1, logs
    for name in ("alice", "bob@example.org"):
        upload, download = TRAFFIC[name]
        uplink = samples[("edgerelay_xray_user_uplink_bytes_total", name)]
        downlink = samples[("edgerelay_xray_user_downlink_bytes_total", name)]
        assert uplink >= upload and downlink >= download, (name, uplink, downlink)
        assert (uplink, downlink) == (counters[(name, "uplink")], counters[(name, "downlink")])
    # The third user had traffic too, but its name is a UUID: counted, never written.
    assert counters[("6a2b0c1e-3d4f-4a5b-8c6d-7e8f90a1b2c3", "uplink")] >= 5_000
    assert samples[("edgerelay_xray_stats_skipped_users", None)] == 1
    assert {user for _, user in samples if user} == {"alice", "bob@example.org"}
    assert not UUID_TEXT.search(text)
    assert oct(output.stat().st_mode & 0o777) == "0o644"
    if os.access(PROMTOOL, os.X_OK):
        checked = subprocess.run(
            [str(PROMTOOL), "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr

    # Xray stopped: the API does not answer.
    text = run_exporter(api_port, output)
    assert parse(text) == {("edgerelay_xray_stats_up", None): 0}
