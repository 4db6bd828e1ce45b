# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/geodata_fixture.py writes geosite.dat / geoip.dat that a real Xray accepts.

Two layers:
- the encoder, checked by decoding its output with a small protobuf reader written here
  (independent of the encoder) against xray-core's message definitions;
- the files, checked with the Xray binary scripts/build_xray.sh builds into .cache/bin:
  `xray run -test` must accept rules on the fixture categories and reject a missing one,
  and a running Xray must route by them (SOCKS on loopback: a geosite category goes to
  blackhole, everything else to freedom). All traffic stays on 127.0.0.0/8.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "geodata_fixture.py"
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build_xray.sh"
XRAY = Path(os.environ.get("EDGERELAY_CACHE", REPO_ROOT / ".cache")) / "bin" / "xray"


def _load_tool():
    spec = importlib.util.spec_from_file_location("geodata_fixture", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("geodata_fixture", module)
    spec.loader.exec_module(module)
    return module


gf = _load_tool()

# The categories the Xray node's rules use.
SITES = {"ru-available-only-inside": ["domain:inside.example"]}
IPS = {
    "ru": ["10.77.0.0/16"],
    "private": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"],
}

# --- a minimal protobuf reader (independent of the encoder under test) ----------------------


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        assert shift < 64, "varint too long"


def read_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """[(field number, int or bytes)] for varint and length-delimited fields."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
            assert len(value) == length, "truncated field"
        else:
            raise AssertionError(f"unexpected wire type {wire_type} for field {number}")
        fields.append((number, value))
    return fields


def only(fields, number):
    values = [v for n, v in fields if n == number]
    assert len(values) <= 1, f"field {number} repeated"
    return values[0] if values else None


def every(fields, number):
    return [v for n, v in fields if n == number]


def decode_geosite_list(data: bytes) -> dict[str, list[tuple[int, str, list[str]]]]:
    """GeoSiteList -> {code: [(type, value, [attribute keys])]}."""
    assert {n for n, _ in read_fields(data)} <= {1}
    result = {}
    for entry in every(read_fields(data), 1):
        site = read_fields(entry)
        assert {n for n, _ in site} <= {1, 2}
        domains = []
        for raw in every(site, 2):
            domain = read_fields(raw)
            assert {n for n, _ in domain} <= {1, 2, 3}
            attrs = []
            for raw_attr in every(domain, 3):
                attr = read_fields(raw_attr)
                assert only(attr, 2) == 1  # bool_value = true
                attrs.append(only(attr, 1).decode())
            domains.append((only(domain, 1) or 0, only(domain, 2).decode(), attrs))
        result[only(site, 1).decode()] = domains
    return result


def decode_geoip_list(data: bytes) -> dict[str, list[str]]:
    """GeoIPList -> {code: ["net/prefix"]}; reverse_match must be unset."""
    result = {}
    for entry in every(read_fields(data), 1):
        geoip = read_fields(entry)
        assert {n for n, _ in geoip} <= {1, 2, 3}
        assert not only(geoip, 3)
        cidrs = []
        for raw in every(geoip, 2):
            cidr = read_fields(raw)
            ip, prefix = only(cidr, 1), only(cidr, 2) or 0
            assert len(ip) in (4, 16)
            cidrs.append(f"{ipaddress.ip_address(ip)}/{prefix}")
        result[only(geoip, 1).decode()] = cidrs
    return result


# --- encoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02")],
)
def test_varint_known_values(value, encoded):
    assert gf.varint(value) == encoded


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint_round_trips(value):
    encoded = gf.varint(value)
    assert read_varint(encoded, 0) == (value, len(encoded))


def test_geosite_fields_and_types():
    data = gf.build_geosite(
        {
            "ru-available-only-inside": [
                "domain:inside.example",
                "full:X.Test",
                "keyword:Tracker",
                "plain:ads",
                r"regexp:^Cdn\d+\.example$",
                "bare.example",
                "domain:tagged.example @ads @Cn",
            ]
        }
    )
    assert decode_geosite_list(data) == {
        "RU-AVAILABLE-ONLY-INSIDE": [
            (2, "inside.example", []),  # Domain (suffix)
            (3, "x.test", []),  # Full, lower-cased
            (0, "tracker", []),  # Plain (substring), lower-cased
            (0, "ads", []),
            (1, r"^Cdn\d+\.example$", []),  # Regex, as given
            (2, "bare.example", []),  # no type: domain
            (2, "tagged.example", ["ads", "cn"]),
        ]
    }


def test_geoip_fields_v4_and_v6():
    data = gf.build_geoip({**IPS, "v6": ["2001:db8::/32", "::1", "0.0.0.0/0"]})
    decoded = decode_geoip_list(data)
    assert decoded == {
        "RU": ["10.77.0.0/16"],
        "PRIVATE": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"],
        "V6": ["2001:db8::/32", "::1/128", "0.0.0.0/0"],
    }
    # ip is raw bytes: 4 for IPv4, 16 for IPv6.
    v6_entry = every(read_fields(data), 1)[2]
    ips = [only(read_fields(raw), 1) for raw in every(read_fields(v6_entry), 2)]
    assert [len(ip) for ip in ips] == [16, 16, 4]


def test_entries_start_with_the_country_code():
    """Xray finds an entry by comparing its first bytes with 0x0a <len> CODE."""
    for data in (gf.build_geosite(SITES), gf.build_geoip(IPS)):
        for entry in every(read_fields(data), 1):
            code = only(read_fields(entry), 1)
            assert entry[:2] == bytes([0x0A, len(code)])
            assert entry[2 : 2 + len(code)] == code


def test_codes_upper_cased_and_merged():
    sites = gf.build_geosite({"ru": ["domain:a.example"], "RU": ["a.example", "full:b.example"]})
    assert decode_geosite_list(sites) == {"RU": [(2, "a.example", []), (3, "b.example", [])]}
    ips = gf.build_geoip({"Private": ["10.0.0.0/8"], "private": ["10.0.0.0/8", "127.0.0.0/8"]})
    assert decode_geoip_list(ips) == {"PRIVATE": ["10.0.0.0/8", "127.0.0.0/8"]}


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
        st.lists(
            st.tuples(
                st.sampled_from(["domain", "full", "keyword", "regexp"]),
                st.from_regex(r"[a-z0-9][a-z0-9.-]{0,40}", fullmatch=True),
            ),
            max_size=5,
        ),
        max_size=4,
    )
)
def test_geosite_round_trips(spec):
    types = {"domain": 2, "full": 3, "keyword": 0, "regexp": 1}
    data = gf.build_geosite({code: [f"{t}:{v}" for t, v in rules] for code, rules in spec.items()})
    expected = {}
    for code, rules in spec.items():
        bucket = expected.setdefault(code.upper(), [])
        for t, v in rules:
            if (types[t], v, []) not in bucket:
                bucket.append((types[t], v, []))
    assert decode_geosite_list(data) == expected


def test_empty_input_gives_empty_lists(tmp_path):
    paths = gf.write_fixtures(tmp_path)
    assert paths["geosite"].read_bytes() == b""
    assert paths["geoip"].read_bytes() == b""


@pytest.mark.parametrize(
    ("sites", "ips", "message"),
    [
        ({"bad code": ["a.example"]}, {}, "invalid category code"),
        ({"!cn": ["a.example"]}, {}, "invalid category code"),
        ({"x" * 128: ["a.example"]}, {}, "longer than 127"),
        ({"x": ["bogus:a.example"]}, {}, "unknown domain rule type"),
        ({"x": ["domain:"]}, {}, "invalid domain rule"),
        ({"x": ["regexp:"]}, {}, "empty regexp"),
        ({"x": ["a.example @Bad/attr"]}, {}, "invalid attribute"),
        ({}, {"x": ["10.0.0.1/8"]}, "host bits set"),
        ({}, {"x": ["not-an-ip"]}, "invalid CIDR"),
    ],
)
def test_invalid_input_is_rejected(tmp_path, sites, ips, message):
    with pytest.raises(gf.FixtureError, match=message):
        gf.write_fixtures(tmp_path, sites, ips)
    assert not (tmp_path / "geosite.dat").exists()


# --- command line ----------------------------------------------------------------------------


def run_tool(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_site_and_ip_arguments(tmp_path):
    result = run_tool(
        "--out",
        str(tmp_path / "assets"),
        "--site",
        "ru-available-only-inside=domain:inside.example,full:x.test",
        "--site",
        "ru-available-only-inside=keyword:tracker",
        "--ip",
        "ru=10.77.0.0/16",
        "--ip",
        "private=" + ",".join(IPS["private"]),
    )
    assert result.returncode == 0, result.stderr
    assert "RU-AVAILABLE-ONLY-INSIDE" in result.stdout
    assert decode_geosite_list((tmp_path / "assets" / "geosite.dat").read_bytes()) == {
        "RU-AVAILABLE-ONLY-INSIDE": [
            (2, "inside.example", []),
            (3, "x.test", []),
            (0, "tracker", []),
        ]
    }
    assert decode_geoip_list((tmp_path / "assets" / "geoip.dat").read_bytes()) == {
        "RU": ["10.77.0.0/16"],
        "PRIVATE": IPS["private"],
    }


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_cli_spec_file_merged_with_arguments(tmp_path, fmt):
    spec = {"geosite": {"ads": ["domain:ads.example @ads"]}, "geoip": {"ru": ["10.77.0.0/16"]}}
    spec_file = tmp_path / f"spec.{fmt}"
    if fmt == "json":
        spec_file.write_text(json.dumps(spec))
    else:
        spec_file.write_text(
            "geosite:\n  ads:\n    - domain:ads.example @ads\ngeoip:\n  ru:\n    - 10.77.0.0/16\n"
        )
    result = run_tool("--out", str(tmp_path), "--spec", str(spec_file), "--ip", "ru=10.78.0.0/16")
    assert result.returncode == 0, result.stderr
    assert decode_geosite_list((tmp_path / "geosite.dat").read_bytes()) == {
        "ADS": [(2, "ads.example", ["ads"])]
    }
    assert decode_geoip_list((tmp_path / "geoip.dat").read_bytes()) == {
        "RU": ["10.77.0.0/16", "10.78.0.0/16"]
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "ru=10.77.0.1/16"], "host bits set"),
        (["--site", "x=weird:a.example"], "unknown domain rule type"),
        (["--site", "no-equals-sign"], "expected CODE=ITEM"),
    ],
)
def test_cli_errors_exit_2(tmp_path, args, message):
    result = run_tool("--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr


# --- against a real Xray ---------------------------------------------------------------------

needs_xray = pytest.mark.skipif(
    not os.access(XRAY, os.X_OK),
    reason=f"no Xray binary at {XRAY}: run scripts/build_xray.sh to build the pinned one",
)


def xray_env(assets: Path) -> dict[str, str]:
    """The environment without any inherited Xray setting, assets read from ``assets``."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("XRAY_", "XRAY."))}
    env["XRAY_LOCATION_ASSET"] = str(assets)
    return env


def xray_test(assets: Path, config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
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
    result = xray_test(assets, routing_config(domain_ref), tmp_path)
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
    result = xray_test(assets, config, tmp_path)
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
    result = xray_test(directory, routing_config(), tmp_path)
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"xray exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"xray did not listen on 127.0.0.1:{port} within {timeout}s")


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
    config_file = tmp_path / "live.json"
    config_file.write_text(json.dumps(config, indent=2))
    output = tmp_path / "xray.out"
    with output.open("w") as out:
        process = subprocess.Popen(
            [str(XRAY), "run", "-c", str(config_file)],
            env=xray_env(assets),
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(socks_port, process)
        requests = [
            ("outside.example", port_1),  # no rule: freedom, via the hosts table
            ("inside.example", port_1),  # geosite:ru-available-only-inside: blackhole
            ("127.0.0.1", port_1),  # no rule: freedom
            ("127.0.0.2", port_2),  # geoip:lo-blocked: blackhole
        ]
        responses = {target: socks_http_get(socks_port, *target) for target in requests}
        lines = wait_for_lines(access_log, len(requests))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

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
