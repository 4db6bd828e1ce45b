# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fixture files of scripts/geodata_fixture.py, checked with a real Xray.

The Xray binary is the one scripts/build_xray.sh builds into .cache/bin:
`xray run -test` must accept rules on the fixture categories and reject a missing one,
and a running Xray must route by them (SOCKS on loopback: a geosite category goes to
blackhole, everything else to freedom). All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.geodata import IPS, SITES, gf
from tests.helpers.xray import XRAY, free_port, needs_xray, run_xray, xray_test

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_xray.sh"
OUTBOUNDS = [
    {"protocol": "freedom", "tag": "direct"},
    {"protocol": "blackhole", "tag": "block"},
]


def routing_config(domain_ref="geosite:ru-available-only-inside", ip_refs=("geoip:ru",)):
    return {
        "log": {"loglevel": "warning"},
        "routing": {
            "rules": [
                {"type": "field", "domain": [domain_ref], "outboundTag": "block"},
                {"type": "field", "ip": list(ip_refs), "outboundTag": "block"},
                {"type": "field", "ip": ["geoip:private"], "outboundTag": "direct"},
            ]
        },
        "outbounds": OUTBOUNDS,
    }


@pytest.fixture
def assets(tmp_path):
    directory = tmp_path / "assets"
    gf.write_fixtures(directory, SITES, {**IPS, "lo-blocked": ["127.0.0.2/32"]})
    return directory


@needs_xray
def test_build_script_skips_the_pinned_build():
    pinned = re.search(
        r'^XRAY_VERSION="v1\.(\d\d)(\d\d)(\d\d)\.\d+"$', BUILD_SCRIPT.read_text(), re.M
    )
    release = ".".join(str(int(part)) for part in pinned.groups())
    version = subprocess.run(
        [str(XRAY), "version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    if not version.startswith(f"Xray {release} "):
        pytest.skip(f"{XRAY} is not the pinned Xray {release}: {version.splitlines()[0]}")
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"Xray {release} " in result.stdout
    assert "already built, skipped" in result.stdout
    assert re.search(r"sha256:\s+[0-9a-f]{64}", result.stdout)


@needs_xray
@pytest.mark.parametrize(
    "domain_ref",
    [
        "geosite:ru-available-only-inside",
        # Xray upper-cases the code of a reference: any case finds the entry.
        "geosite:RU-Available-Only-Inside",
    ],
)
def test_xray_accepts_fixture_categories(assets, tmp_path, domain_ref):
    result = xray_test(routing_config(domain_ref), tmp_path, assets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration OK" in result.stdout


@needs_xray
@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            routing_config(domain_ref="geosite:missing-category"),
            "code not found in geosite.dat: MISSING-CATEGORY",
        ),
        (
            routing_config(ip_refs=("geoip:missing-category",)),
            "code not found in geoip.dat: MISSING-CATEGORY",
        ),
    ],
)
def test_xray_rejects_a_missing_category(assets, tmp_path, config, message):
    result = xray_test(config, tmp_path, assets)
    assert result.returncode != 0
    assert "Configuration OK" not in result.stdout
    assert message in result.stdout + result.stderr


@needs_xray
def test_xray_does_not_find_a_lower_case_code(tmp_path):
    """Why the tool upper-cases codes: an entry coded in lower case is never found."""
    directory = tmp_path / "assets"
    directory.mkdir()
    rule = gf.DomainRule(gf.DOMAIN, "inside.example")
    (directory / "geosite.dat").write_bytes(
        gf.encode_list([gf.encode_geosite("ru-available-only-inside", [rule])])
    )
    (directory / "geoip.dat").write_bytes(gf.build_geoip(IPS))
    result = xray_test(routing_config(), tmp_path, directory)
    assert result.returncode != 0
    assert "code not found in geosite.dat: RU-AVAILABLE-ONLY-INSIDE" in result.stdout


# --- live routing over loopback --------------------------------------------------------------

BODY = b"edgerelay-geodata-fixture-ok"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_servers():
    """{address: port} of small HTTP servers on 127.0.0.1 and 127.0.0.2."""
    servers = [ThreadingHTTPServer((host, 0), _Handler) for host in ("127.0.0.1", "127.0.0.2")]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {server.server_address[0]: server.server_address[1] for server in servers}
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def socks_http_get(socks_port: int, host: str, port: int) -> bytes:
    """GET / through a SOCKS5 proxy on loopback (host sent as a domain name, ATYP 3)."""
    with socket.create_connection(("127.0.0.1", socks_port), timeout=10) as sock:
        sock.settimeout(10)
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        name = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack(">H", port))
        reply = sock.recv(10)
        # Xray answers CONNECT with success before it routes: a block shows in the data.
        assert reply[:2] == b"\x05\x00", reply
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            data += chunk
        return data


def wait_for_lines(path: Path, count: int, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count:
            break
        time.sleep(0.1)
    return lines


@needs_xray
def test_xray_routes_by_fixture_categories(assets, tmp_path, http_servers):
    """geosite/geoip rules steer real connections: blocked ones get blackhole's 403."""
    socks_port = free_port()
    port_1, port_2 = http_servers["127.0.0.1"], http_servers["127.0.0.2"]
    access_log = tmp_path / "access.log"
    config = {
        "log": {"loglevel": "warning", "access": str(access_log)},
        # Names resolve from this table only, to loopback: nothing is looked up outside.
        "dns": {"hosts": {"inside.example": "127.0.0.1", "outside.example": "127.0.0.1"}},
        "inbounds": [
            {
                "tag": "socks-in",
                "listen": "127.0.0.1",
                "port": socks_port,
                "protocol": "socks",
                "settings": {"auth": "noauth", "udp": False},
            }
        ],
        "routing": {
            "rules": [
                {
                    "type": "field",
                    "domain": ["geosite:ru-available-only-inside"],
                    "outboundTag": "block",
                },
                {"type": "field", "ip": ["geoip:lo-blocked", "geoip:ru"], "outboundTag": "block"},
            ]
        },
        "outbounds": [
            # Default route. UseIPv4: resolve with Xray's DNS (the hosts table above).
            {"protocol": "freedom", "tag": "direct", "settings": {"domainStrategy": "UseIPv4"}},
            {"protocol": "blackhole", "tag": "block", "settings": {"response": {"type": "http"}}},
        ],
    }
    with run_xray(config, tmp_path, "live", [socks_port], assets=assets):
        requests = [
            ("outside.example", port_1),  # no rule: freedom, via the hosts table
            ("inside.example", port_1),  # geosite:ru-available-only-inside: blackhole
            ("127.0.0.1", port_1),  # no rule: freedom
            ("127.0.0.2", port_2),  # geoip:lo-blocked: blackhole
        ]
        responses = {target: socks_http_get(socks_port, *target) for target in requests}
        lines = wait_for_lines(access_log, len(requests))

    # Both targets answer when reached directly: only the routing rules stand between.
    for host, port in (("127.0.0.1", port_1), ("127.0.0.2", port_2)):
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            assert BODY in sock.makefile("rb").read()

    for target, blocked in zip(requests, (False, True, False, True), strict=True):
        response = responses[target]
        if blocked:
            assert response.startswith(b"HTTP/1.1 403 Forbidden"), (target, response)
            assert BODY not in response
        else:
            assert response.startswith(b"HTTP/1.0 200 OK"), (target, response)
            assert response.endswith(BODY)

    # The access log names the route: "-> tag" for a matched rule, ">> tag" for the default.
    log = "\n".join(lines)
    assert f"accepted tcp:inside.example:{port_1} [socks-in -> block]" in log, log
    assert f"accepted tcp:127.0.0.2:{port_2} [socks-in -> block]" in log, log
    assert f"accepted tcp:outside.example:{port_1} [socks-in >> direct]" in log, log
    assert f"accepted tcp:127.0.0.1:{port_1} [socks-in >> direct]" in log, log
