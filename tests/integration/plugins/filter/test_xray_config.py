# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The configs of the xray_config filter, checked and run by the real Xray.

`xray run -test` accepts both node kinds' configs with their block rules (blackhole
outbound, ip rules with /32 and IPv6 entries, the DNS server that drops blocked answers)
and every transport as a public inbound and on the relay hop (xhttpSettings, flows), and
refuses a broken block entry. A running Xray (the built config's DNS, outbounds and
routing behind a SOCKS inbound on loopback) then proves the block: connections to
loopback, the unspecified address, IPv4-mapped loopback, a name that resolves to loopback
and the node's own address never reach a listener, while an allowed network is reached;
a UDP datagram to loopback is blocked too. Later datagrams of a UDP session are not routed
again by this Xray (a strict xfail marks that known issue).
The same requests through the config without the block (what the role deployed before)
do reach the listener, so a passing test is not an unreachable listener. Clients built
from the share links, through both node kinds: test_xray_links.py next to this file.

The Xray binary is the one scripts/build_xray.sh builds into .cache/bin; without it the
tests are skipped. Everything listens and connects on this machine only.
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import socket
import struct
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config import xray_config
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    PRIVATE_NETWORKS,
    TRANSPORTS,
)

from tests.helpers.geodata import IPS, SITES, gf
from tests.helpers.preset_routing import presets
from tests.helpers.xray import free_port, needs_xray, run_xray, xray_test

pytestmark = needs_xray

BODY = b"edgerelay-xray-block-test-reached"
TIMEOUT = 10


def node(role, **changes):
    """The filter's input as the role builds it (keys: throwaway values of the right shape)."""
    document = {
        "node_role": role,
        "log_level": "warning",
        "dns_hosts": {},
        "public": {
            "inbounds": [
                {"transport": "tcp-vision", "port": 443},
                {"transport": "xhttp", "port": 8444, "path": "/edge", "mode": "packet-up"},
            ],
            "users": [{"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice"}],
            "reality": {
                "target": "www.example.com:443",
                "server_names": ["www.example.com"],
                "private_key": "kPo1FMsWZNN0hdTNNanxb1tCnIx9T6B_YTNZ5VUR7VY",
                "short_id": "abcd",
            },
        },
        "relay": {
            "name": "proxy-service@cluster",
            "server_name": "www.example.com",
            "port": 8443,
            "identity": {
                "uuid": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11",
                "private_key": "yBaw532IIUNuQWDTncozoBaLJmcd1JZzvsHUgVPxMk8",
                "public_key": "7xhH4b_VkliBxGulljcyPOH-bYUA2dl-XAdZAsfhk04",
                "short_id": "0a1b2c3d",
            },
        },
        "pool": {"port": 10443},
        "presets": presets(),
        "preset": "ru",
        "own_addresses": ["45.67.89.10", "2a01:4f8::5", "fe80::1%eth0", "172.29.0.10"],
        "allowed_private_networks": ["172.29.0.0/24", "fd00:1::/64"],
    }
    document.update(changes)
    return document


@pytest.fixture
def assets(tmp_path):
    directory = tmp_path / "assets"
    gf.write_fixtures(directory, SITES, IPS)
    return directory


# --------------------------------------------------------------------------- xray run -test


@pytest.mark.parametrize("role", ["proxy", "backend"])
def test_xray_accepts_the_built_configs(role, assets, tmp_path):
    config = xray_config(node(role))
    # What this test is about is there: /32 and /128 entries, IPv6, blackhole, the DNS.
    rules = config["routing"]["rules"]
    assert {"45.67.89.10/32", "2a01:4f8::5/128", "172.29.0.10/32", "::1/128"} <= set(rules[0]["ip"])
    assert "fc00::/8" in rules[1]["ip"]  # fc00::/7 minus fd00:1::/64 starts with fc00::/8
    assert {"tag": "block", "protocol": "blackhole"} in config["outbounds"]
    assert config["dns"]["servers"][0]["unexpectedIPs"] == rules[0]["ip"] + rules[1]["ip"]
    result = xray_test(config, tmp_path, assets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration OK" in result.stdout


@pytest.mark.parametrize("relay", sorted(TRANSPORTS))
@pytest.mark.parametrize("role", ["proxy", "backend"])
def test_xray_accepts_every_transport(role, relay, assets, tmp_path):
    """Every transport as a public inbound and on the relay hop (the backend's relay inbound,
    the proxy's foreign-pool outbound), with and without options: `xray run -test` reads
    the xhttpSettings and flows the builder writes."""
    document = node(role)
    document["public"]["inbounds"] = [
        {"transport": name, "port": 8000 + index} for index, name in enumerate(sorted(TRANSPORTS))
    ] + [{"transport": "xhttp", "port": 9000, "path": "/a+b/c", "mode": "stream-one"}]
    document["relay"]["transport"] = relay
    if relay == "xhttp":
        document["relay"]["options"] = {"path": "/relay", "mode": "stream-up"}
    config = xray_config(document)
    networks = [inbound["streamSettings"]["network"] for inbound in config["inbounds"]]
    assert networks[: len(TRANSPORTS)] == [TRANSPORTS[name].network for name in sorted(TRANSPORTS)]
    result = xray_test(config, tmp_path, assets)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Configuration OK" in result.stdout


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda c: c["routing"]["rules"][0]["ip"].append("300.0.0.1/32"), "300.0.0.1"),
        (lambda c: c["dns"]["servers"][0]["unexpectedIPs"].append("fd00::1/129"), "fd00::1"),
    ],
)
def test_xray_refuses_a_broken_block_entry(break_it, message, tmp_path):
    """`xray run -test` does read these lists: one bad entry and the config is refused."""
    config = xray_config(node("backend"))
    break_it(config)
    result = xray_test(config, tmp_path)
    assert result.returncode != 0
    assert "Configuration OK" not in result.stdout
    assert message in result.stdout + result.stderr


# --------------------------------------------------------------------------- a running Xray


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.hits += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    hits = 0


class _Server6(_Server):
    address_family = socket.AF_INET6


def _serve(host):
    server = (_Server6 if ":" in host else _Server)((host, 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def lan_address():
    """An address of this machine in a private network (not loopback), or None."""
    try:
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10
        ).stdout
    except OSError:
        return None
    private = [ipaddress.ip_network(network) for network in PRIVATE_NETWORKS]
    for line in out.splitlines():
        fields = line.split()
        if "inet" not in fields:
            continue
        address = ipaddress.ip_interface(fields[fields.index("inet") + 1]).ip
        if any(address in network for network in private):
            with contextlib.suppress(OSError), socket.socket() as probe:
                probe.bind((str(address), 0))
                return str(address)
    return None


@pytest.fixture
def listeners():
    """HTTP servers answering BODY and counting requests: {"v4": 127.0.0.1, "v6": ::1, "lan"}."""
    servers = {"v4": _serve("127.0.0.1")}
    with contextlib.suppress(OSError):
        servers["v6"] = _serve("::1")
    lan = lan_address()
    if lan is not None:
        servers["lan"] = _serve(lan)
    try:
        yield servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


def _socks_address(host):
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode()
        return b"\x03" + bytes([len(name)]) + name
    return (b"\x01" if address.version == 4 else b"\x04") + address.packed


def socks_get(socks_port, host, port):
    """GET / through the SOCKS5 inbound; the bytes that came back (b"" when blocked)."""
    with socket.create_connection(("127.0.0.1", socks_port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(b"\x05\x01\x00")
        assert sock.recv(2) == b"\x05\x00"
        sock.sendall(b"\x05\x01\x00" + _socks_address(host) + struct.pack(">H", port))
        reply = sock.recv(4)
        # Xray answers CONNECT with success before it routes: a block shows in the data.
        assert reply[:2] == b"\x05\x00", reply
        # The bound address that follows (IPv4, IPv6 or a name), then the port.
        length = {1: 4, 4: 16}.get(reply[3]) or sock.recv(1)[0]
        sock.recv(length + 2)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except (ConnectionResetError, TimeoutError):
                break
            data += chunk
            if not chunk or BODY in data:
                break
        return data


@contextlib.contextmanager
def running(config, tmp_path, name, udp=False):
    """Xray with ``config``'s DNS, outbounds and routing behind a SOCKS inbound on loopback."""
    socks_port = free_port()
    settings = {"auth": "noauth", "udp": udp}
    if udp:
        settings["ip"] = "127.0.0.1"
    config = {
        **config,
        "log": {"loglevel": "warning"},
        # The API on a free port: another Xray of the tests may have the default one.
        "api": {**config["api"], "listen": f"127.0.0.1:{free_port()}"},
        "inbounds": [
            {
                "tag": "socks-in",
                "listen": "127.0.0.1",
                "port": socks_port,
                "protocol": "socks",
                "settings": settings,
            }
        ],
    }
    with run_xray(config, tmp_path, name, [socks_port]):
        yield socks_port


def before_the_block(config):
    """The config without what this change added: no block rules, no DNS filter, UseIPv4."""
    config = copy.deepcopy(config)
    config["routing"]["rules"] = [
        rule for rule in config["routing"]["rules"] if rule["outboundTag"] != "block"
    ]
    config["dns"].pop("servers")
    for outbound in config["outbounds"]:
        if outbound["protocol"] == "freedom":
            outbound["settings"]["domainStrategy"] = "UseIPv4"
    return config


def outcomes(socks_port, listeners, requests):
    """{request: (reached, hits on its listener)} for (label, host, listener) requests."""
    results = {}
    for label, host, listener in requests:
        server = listeners[listener]
        before = server.hits
        data = socks_get(socks_port, host, server.server_address[1])
        results[label] = (BODY in data, server.hits - before)
    return results


def _requests(listeners):
    requests = [
        ("loopback", "127.0.0.1", "v4"),
        ("localhost (a name)", "localhost", "v4"),
        ("unspecified", "0.0.0.0", "v4"),
        ("IPv4-mapped loopback", "::ffff:127.0.0.1", "v4"),
    ]
    if "v6" in listeners:
        requests.append(("IPv6 loopback", "::1", "v6"))
    return requests


def test_a_backend_blocks_the_node_itself_and_reaches_an_allowed_network(tmp_path, listeners):
    lan = listeners.get("lan")
    allowed = [f"{lan.server_address[0]}/32"] if lan else []
    config = xray_config(node("backend", own_addresses=[], allowed_private_networks=allowed))
    requests = _requests(listeners)
    with running(before_the_block(config), tmp_path, "before") as socks_port:
        before = outcomes(socks_port, listeners, requests)
    with running(config, tmp_path, "after") as socks_port:
        after = outcomes(socks_port, listeners, requests)
        if lan:
            reached = outcomes(socks_port, listeners, [("lan", lan.server_address[0], "lan")])
    # Before: every one of them was reachable through Xray.
    assert all(result == (True, 1) for result in before.values()), before
    # After: nothing of the node itself is reached, not even a connection.
    assert all(result == (False, 0) for result in after.values()), after
    if lan:
        assert reached == {"lan": (True, 1)}  # the allowed network: the block is selective


def test_a_backend_blocks_its_own_address_even_inside_an_allowed_network(tmp_path, listeners):
    lan = listeners.get("lan")
    if lan is None:
        pytest.skip("this machine has no address in a private network to listen on")
    address = lan.server_address[0]
    config = xray_config(
        node("backend", own_addresses=[address], allowed_private_networks=[f"{address}/32"])
    )
    requests = [("own address", address, "lan")]
    with running(before_the_block(config), tmp_path, "before") as socks_port:
        assert outcomes(socks_port, listeners, requests) == {"own address": (True, 1)}
    with running(config, tmp_path, "after") as socks_port:
        assert outcomes(socks_port, listeners, requests) == {"own address": (False, 0)}


def test_a_proxy_blocks_the_node_itself_even_where_its_preset_says_direct(tmp_path, listeners):
    """A preset that sends loopback and a zone directly: the block rules come first, and a
    name of that zone resolving to loopback fails too; a name resolving to an allowed
    network goes direct. The foreign pool is a closed port here."""
    lan = listeners.get("lan")
    lab = {
        "name": "lab",
        "direct": [
            {"type": "ip_cidr", "values": ["127.0.0.0/8", "::1"]},
            {"type": "domain_suffix", "value": "ru"},
        ],
    }
    hosts = {"loop.ru": "localhost"}  # a name Xray's DNS resolves further (to 127.0.0.1)
    if lan:
        hosts["lan.ru"] = lan.server_address[0]
    config = xray_config(
        node(
            "proxy",
            presets={"lab": lab},
            preset="lab",
            pool={"port": free_port()},
            own_addresses=[],
            allowed_private_networks=[f"{lan.server_address[0]}/32"] if lan else [],
            dns_hosts=hosts,
        )
    )
    requests = [("loopback", "127.0.0.1", "v4"), ("loop.ru (a name)", "loop.ru", "v4")]
    if "v6" in listeners:
        requests.append(("IPv6 loopback", "::1", "v6"))
    with running(before_the_block(config), tmp_path, "before") as socks_port:
        before = outcomes(socks_port, listeners, requests)
    with running(config, tmp_path, "after") as socks_port:
        after = outcomes(socks_port, listeners, requests)
        if lan:
            reached = outcomes(socks_port, listeners, [("lan.ru", "lan.ru", "lan")])
    assert all(result == (True, 1) for result in before.values()), before
    assert all(result == (False, 0) for result in after.values()), after
    if lan:
        assert reached == {"lan.ru": (True, 1)}


# --------------------------------------------------------------------------- UDP


class _Association:
    """A SOCKS5 UDP ASSOCIATE: send datagrams to any destination through Xray."""

    def __init__(self, socks_port):
        self.control = socket.create_connection(("127.0.0.1", socks_port), timeout=TIMEOUT)
        self.control.sendall(b"\x05\x01\x00")
        assert self.control.recv(2) == b"\x05\x00"
        self.control.sendall(b"\x05\x03\x00\x01" + bytes(6))
        reply = self.control.recv(10)
        assert reply[:2] == b"\x05\x00", reply
        self.relay = (socket.inet_ntoa(reply[4:8]), struct.unpack(">H", reply[8:10])[0])
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))

    def send(self, address, data):
        host, port = address
        header = b"\x00\x00\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port)
        self.socket.sendto(header + data, self.relay)

    def close(self):
        self.socket.close()
        self.control.close()


def _udp_listener(host):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((host, 0))
    listener.settimeout(3)
    return listener


def _received(listener):
    try:
        return listener.recvfrom(100)[0]
    except TimeoutError:
        return None


def test_a_udp_datagram_to_loopback_is_blocked(tmp_path):
    config = xray_config(node("backend", own_addresses=[]))
    loopback = _udp_listener("127.0.0.1")
    with running(before_the_block(config), tmp_path, "before", udp=True) as socks_port:
        association = _Association(socks_port)
        association.send(loopback.getsockname(), b"before")
        assert _received(loopback) == b"before"
        association.close()
    with running(config, tmp_path, "after", udp=True) as socks_port:
        association = _Association(socks_port)
        association.send(loopback.getsockname(), b"after")
        assert _received(loopback) is None
        association.close()
    loopback.close()


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="Xray before 26.4.15 routes only the first datagram of a UDP session (freedom has "
    "no finalRules): the changelog's known issue. Passing means the gap is closed: drop this "
    "mark and the known issue.",
)
def test_later_udp_datagrams_of_a_session_are_blocked_too(tmp_path, listeners):
    lan = listeners.get("lan")
    if lan is None:
        pytest.skip("this machine has no address in a private network to listen on")
    address = lan.server_address[0]
    config = xray_config(
        node("backend", own_addresses=[], allowed_private_networks=[f"{address}/32"])
    )
    allowed, loopback = _udp_listener(address), _udp_listener("127.0.0.1")
    try:
        with running(config, tmp_path, "after", udp=True) as socks_port:
            association = _Association(socks_port)
            association.send(allowed.getsockname(), b"first, allowed")
            if _received(allowed) != b"first, allowed":  # not the expected failure: fail
                pytest.fail("the first datagram, to an allowed address, did not arrive")
            association.send(loopback.getsockname(), b"second, to loopback")
            arrived = _received(loopback)
            association.close()
    finally:
        allowed.close()
        loopback.close()
    assert arrived is None, "a later datagram of the session reached loopback"
