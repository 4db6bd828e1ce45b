# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The share links of the xray_links filter, used by a real Xray client against real Xray
nodes built by the xray_config filter, all on this machine.

A proxy and a backend (public inbounds tcp-vision and xhttp each; the relay hop over each
transport in turn, the proxy's foreign-pool outbound going straight to the backend's relay
inbound, no HAProxy), a local TLS 1.3 server as their REALITY target, and the test client
of the lab (molecule/shared/files/vless_client.py) built from the printed links alone: every
link of both nodes reaches an HTTP listener on an allowed private address of this machine;
through the proxy that means through the backend (the preset sends it to foreign-pool, the
proxy's only way out). Links with a wrong short id or public key get nowhere, so a pass is
not a client that reaches the listener whatever the link says.

The Xray binary is the one scripts/build_xray.sh builds into .cache/bin; without it, or
without an address in a private network to listen on, the tests are skipped. The nodes'
inbounds listen on 127.0.0.1 here (0.0.0.0 in the built configs).
"""

from __future__ import annotations

import contextlib
import shutil
import socketserver
import ssl
import subprocess
import threading

import pytest
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config import xray_config
from ansible_collections.edgerelay.proxy.plugins.filter.xray_links import xray_links
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    generate_keypair,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import TRANSPORTS

from tests.conftest import load_module
from tests.helpers.geodata import IPS, SITES, gf
from tests.helpers.preset_routing import presets
from tests.helpers.xray import free_port, needs_xray
from tests.helpers.xray import run_xray as xray
from tests.integration.plugins.filter.test_xray_config import (
    BODY,
    _serve,
    lan_address,
    socks_get,
)

vless_client = load_module("molecule/shared/files/vless_client.py")

pytestmark = [
    needs_xray,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl for the target"),
]

SERVER_NAME = "www.example.com"
ALICE = {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice"}
# Her own fingerprint: her links say firefox, bob's the node's (chrome).
BOB = {"id": "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50", "email": "bob", "fingerprint": "firefox"}


@pytest.fixture
def assets(tmp_path):
    directory = tmp_path / "assets"
    gf.write_fixtures(directory, SITES, IPS)
    return directory


@pytest.fixture
def site():
    """An HTTP listener on a private address of this machine: ``(address, port, server)``."""
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no address in a private network to listen on")
    server = _serve(address)
    try:
        yield address, server.server_address[1], server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def reality_target(tmp_path):
    """A TLS 1.3 server on 127.0.0.1 with a self-signed certificate (as the lab's)."""
    cert, key = tmp_path / "target.crt", tmp_path / "target.key"
    openssl = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    subprocess.run(
        [*openssl.split(), "-subj", f"/CN={SERVER_NAME}", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)

    class Handler(socketserver.BaseRequestHandler):
        """The handshake in the connection's own thread (REALITY keeps some open), then
        read until the peer closes."""

        def handle(self):
            self.request.settimeout(30)
            with (
                contextlib.suppress(OSError),
                context.wrap_socket(self.request, server_side=True) as tls,
            ):
                while tls.recv(4096):
                    pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def on_loopback(config):
    """``config`` with its inbounds on 127.0.0.1 instead of every address."""
    for inbound in config["inbounds"]:
        assert inbound["listen"] == "0.0.0.0"
        inbound["listen"] = "127.0.0.1"
    return config


def node(role, ports, relay, target, keys, site_address):
    """One node of the pair: public inbounds on ``ports`` (tcp-vision, xhttp), the relay
    hop over ``relay`` between the proxy's pool port and the backend's relay port."""
    (private_key, _), (relay_private, relay_public) = keys
    relay_options = {"path": "/relay", "mode": "auto"} if relay == "xhttp" else {}
    return {
        "node_role": role,
        # Each node's API on a port of its own (two Xray processes on one machine).
        "api_port": ports["api"][role],
        "public": {
            "inbounds": [
                {"transport": "tcp-vision", "port": ports[role][0]},
                {"transport": "xhttp", "port": ports[role][1], "path": "/edge"},
            ],
            "users": [dict(ALICE), dict(BOB)],
            "reality": {
                "target": target,
                "server_names": [SERVER_NAME],
                "private_key": private_key,
                "short_id": "abcd",
            },
        },
        "relay": {
            "transport": relay,
            "options": relay_options,
            "name": "proxy-service@cluster",
            "server_name": SERVER_NAME,
            "port": ports["relay"],
            "identity": {
                "uuid": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11",
                "private_key": relay_private,
                "public_key": relay_public,
                "short_id": "0a1b2c3d",
            },
        },
        "pool": {"port": ports["relay"]},
        "presets": presets(),
        "preset": "ru",
        "own_addresses": [],
        "allowed_private_networks": [f"{site_address}/32"],
    }


def _distinct_free_ports(count):
    ports = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@pytest.mark.parametrize("relay", sorted(TRANSPORTS))
def test_every_link_reaches_the_site(relay, tmp_path, assets, site, reality_target):
    address, port, listener = site
    free = _distinct_free_ports(5 + 8 + 2 + 2)
    ports = {
        "proxy": free[0:2],
        "backend": free[2:4],
        "relay": free[4],
        "api": {"proxy": free[-2], "backend": free[-1]},
    }
    keys = (generate_keypair(), generate_keypair())
    documents = {
        role: node(role, ports, relay, reality_target, keys, address)
        for role in ("proxy", "backend")
    }
    proxy = on_loopback(xray_config(documents["proxy"]))
    backend = on_loopback(xray_config(documents["backend"]))
    assert proxy["outbounds"][0]["streamSettings"]["network"] == TRANSPORTS[relay].network

    links = {role: xray_links(documents[role], "127.0.0.1") for role in documents}
    entries = links["proxy"] + links["backend"]
    assert len(entries) == 8  # 2 users x 2 inbounds x 2 nodes
    good = [entry["link"] for entry in entries]
    # The same link with a short id or public key the nodes do not have.
    bad = [
        good[0].replace("&sid=abcd&", "&sid=abce&"),
        good[1].replace(f"&pbk={keys[0][1]}&", f"&pbk={keys[1][1]}&"),
    ]
    socks = free[5:15]
    client = vless_client.client_config(list(zip(socks, good + bad, strict=True)))

    with (
        xray(backend, tmp_path, "backend", [*ports["backend"], ports["relay"]]),
        xray(proxy, tmp_path, "proxy", ports["proxy"], assets),
        xray(client, tmp_path, "client", socks),
    ):
        reached = {}
        for socks_port, entry in zip(socks, entries, strict=False):
            before = listener.hits
            data = socks_get(socks_port, address, port)
            remark = vless_client.parse_link(entry["link"])["remark"]
            reached[remark] = (BODY in data, listener.hits - before)
        refused = [BODY in socks_get(socks_port, address, port) for socks_port in socks[8:]]
    logs = {name: (tmp_path / f"{name}.out").read_text() for name in ("proxy", "backend")}
    assert reached == {
        f"{user}-{transport}-{p}": (True, 1)
        for ports_of in (ports["proxy"], ports["backend"])
        for user in ("alice", "bob")
        for transport, p in zip(("tcp-vision", "xhttp"), ports_of, strict=True)
    }, logs
    assert refused == [False, False], logs
