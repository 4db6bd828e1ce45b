# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Users added and removed on a running Xray without a restart, as the xray role does it.

A real Xray runs a backend config of the builder (the users' inbound, the relay inbound,
the API on loopback), on this machine; a second Xray is the client (built from the users'
share links by molecule/shared/files/vless_client.py), one SOCKS port per user. Alice holds
three connections open to a TCP echo server, carol one, over each transport. Then the
config file is rewritten with bob added and carol removed, and the module
edgerelay.proxy.xray_users_live (what roles/xray/tasks/configure.yml runs) is run through
ansible-playbook on localhost. Then:

* the Xray process is the same one, never restarted;
* alice's held connections still pass data, bob connects, carol's new connections fail;
* carol's connection opened before the removal keeps passing data: Xray checks a user's
  id when a connection starts and does not close the open connections of a removed user
  (measured with Xray 26.3.27; the module's documentation says so);
* the relay identity is untouched, a second run changes nothing, check mode changes
  nothing, and an unreachable API fails without an id in the message.

The role's own run of this (configure.yml under systemd: live or restart, and why) is
proved on real hosts by the Molecule scenario xray (molecule/xray/users.yml).

The Xray binary is the one scripts/build_xray.sh builds into .cache/bin; without it, or
without an address of this machine in a private network for the echo server (the config
blocks loopback), the tests are skipped.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import socket
import socketserver
import struct
import subprocess
import threading
import time

import pytest
import yaml
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config import xray_config
from ansible_collections.edgerelay.proxy.plugins.filter.xray_links import xray_links
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    generate_keypair,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import TRANSPORTS

from tests.conftest import REPO_ROOT, load_module
from tests.helpers.xray import XRAY, free_port, needs_xray, xray_env
from tests.helpers.xray import run_xray as xray
from tests.integration.plugins.filter.test_xray_config import lan_address
from tests.integration.plugins.filter.test_xray_links import (
    SERVER_NAME,
    on_loopback,
    reality_target,  # noqa: F401  (a fixture)
)

vless_client = load_module("molecule/shared/files/vless_client.py")

pytestmark = needs_xray

ALICE = {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice"}
BOB = {"id": "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50", "email": "bob"}
CAROL = {"id": "3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "email": "carol"}
RELAY_UUID = "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11"
IDS = [ALICE["id"], BOB["id"], CAROL["id"], RELAY_UUID]
HELD = 3
TIMEOUT = 5
CONFIGURE = REPO_ROOT / "roles" / "xray" / "tasks" / "configure.yml"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def echo():
    """A TCP echo server on a private address of this machine: ``(address, port)``."""
    address = lan_address()
    if address is None:
        pytest.skip("this machine has no address in a private network to listen on")

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(60)
            with contextlib.suppress(OSError):
                while data := self.request.recv(4096):
                    self.request.sendall(data)

    server = socketserver.ThreadingTCPServer((address, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield address, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def socks_connect(socks_port, host, port):
    """A connection to ``host:port`` through the SOCKS5 inbound on 127.0.0.1."""
    sock = socket.create_connection(("127.0.0.1", socks_port), timeout=TIMEOUT)
    sock.settimeout(TIMEOUT)
    sock.sendall(b"\x05\x01\x00")
    assert sock.recv(2) == b"\x05\x00"
    sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(host) + struct.pack(">H", port))
    reply = sock.recv(10)  # IPv4 bound address: 4 + 4 + 2 bytes
    # Xray answers CONNECT before it reaches the server: a refusal shows in the data.
    assert reply[:2] == b"\x05\x00", reply
    return sock


def passes(sock, label):
    """Whether ``sock`` echoes a fresh payload back within TIMEOUT."""
    payload = f"{label}-{time.monotonic_ns()}\n".encode()
    try:
        sock.sendall(payload)
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while len(data) < len(payload) and time.monotonic() < deadline:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        return False
    return data == payload


def connects(socks_port, target):
    """Whether a new connection through ``socks_port`` passes data."""
    with contextlib.closing(socks_connect(socks_port, *target)) as sock:
        return passes(sock, "new")


def api(server, *args):
    return subprocess.run(
        [str(XRAY), "api", *args, f"--server={server}"],
        env=xray_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def live_users(server, tag):
    """``{email: id}`` of inbound ``tag`` of the running Xray."""
    result = api(server, "inbounduser", f"-tag={tag}")
    assert result.returncode == 0, result.stderr
    users = json.loads(result.stdout or "{}").get("users", [])
    return {user["email"]: user["account"]["id"] for user in users}


def document(transport, ports, users, keys, target, echo_address):
    """The builder's input of a backend with the users' inbound and the relay inbound."""
    (private_key, _), (relay_private, relay_public) = keys
    return {
        "node_role": "backend",
        "api_port": ports["api"],
        "public": {
            "inbounds": [{"transport": transport, "port": ports["public"]}],
            "users": copy.deepcopy(users),
            "reality": {
                "target": target,
                "server_names": [SERVER_NAME],
                "private_key": private_key,
                "short_id": "abcd",
            },
        },
        "relay": {
            "transport": "tcp-vision",
            "name": "proxy-service@cluster",
            "server_name": SERVER_NAME,
            "port": ports["relay"],
            "identity": {
                "uuid": RELAY_UUID,
                "private_key": relay_private,
                "public_key": relay_public,
                "short_id": "0a1b2c3d",
            },
        },
        "own_addresses": [],
        "allowed_private_networks": [f"{echo_address}/32"],
    }


def assert_no_id(output):
    """No user id in an ansible-playbook output (Ansible's own task ids are UUIDs too)."""
    assert not [user_id for user_id in IDS if user_id.lower() in output.lower()], output


def write_config(path, config):
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def live_task(config_path, **extra):
    return {
        "name": "Give the running Xray the users of its config file",
        "edgerelay.proxy.xray_users_live": {
            "config": str(config_path),
            "binary": str(XRAY),
            **extra,
        },
    }


def module_result(run):
    assert run.rc == 0, run.output
    (result,) = run.results()
    return result


# --------------------------------------------------------------------------- live users


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
def test_users_change_live_without_a_restart(
    transport,
    tmp_path,
    echo,
    reality_target,  # noqa: F811
    run_playbook,
):
    ports = {name: free_port() for name in ("public", "relay", "api")}
    assert len(set(ports.values())) == 3
    server = f"127.0.0.1:{ports['api']}"
    keys = (generate_keypair(), generate_keypair())
    before = document(transport, ports, [ALICE, CAROL], keys, reality_target, echo[0])
    after = document(transport, ports, [ALICE, BOB], keys, reality_target, echo[0])
    tag = f"client-{ports['public']}"
    old_config = on_loopback(xray_config(before))
    new_config = on_loopback(xray_config(after))
    assert old_config["api"]["listen"] == server

    # One SOCKS port per user, each going out through that user's link.
    links = {
        entry["user"]: entry["link"]
        for doc in (before, after)
        for entry in xray_links(doc, "127.0.0.1")
    }
    socks = {user: free_port() for user in ("alice", "bob", "carol")}
    client = vless_client.client_config([(socks[user], links[user]) for user in socks])

    config_path = tmp_path / "config.json"
    write_config(config_path, old_config)
    with (
        xray(old_config, tmp_path, "node", [ports["public"], ports["relay"]]) as node,
        xray(client, tmp_path, "client", list(socks.values())),
    ):
        # The node runs the file's config (xray() wrote the same JSON next to it).
        pid = node.pid
        held = [socks_connect(socks["alice"], *echo) for _ in range(HELD)]
        carol_open = socks_connect(socks["carol"], *echo)
        try:
            assert [passes(sock, "alice") for sock in held] == [True] * HELD
            assert passes(carol_open, "carol")
            assert not connects(socks["bob"], echo)  # not a user yet
            assert live_users(server, tag) == {"alice": ALICE["id"], "carol": CAROL["id"]}
            assert live_users(server, "relay") == {"proxy-service@cluster": RELAY_UUID}
            # The StatsService counts each user's traffic.
            stats = api(server, "statsquery", "-pattern", "user>>>")
            assert "user>>>alice>>>traffic>>>uplink" in stats.stdout, stats.stdout + stats.stderr

            # What the role does: the new file first (the template task), then the module.
            write_config(config_path, new_config)
            check = module_result(run_playbook([live_task(config_path)], args=("--check",)))
            assert (check["changed"], check["added"], check["removed"]) == (
                True,
                {tag: ["bob"]},
                {tag: ["carol"]},
            )
            assert set(live_users(server, tag)) == {"alice", "carol"}  # check mode: nothing

            run = run_playbook([live_task(config_path)])
            result = module_result(run)
            assert result["changed"] is True
            assert (result["added"], result["removed"]) == ({tag: ["bob"]}, {tag: ["carol"]})
            assert result["users"] == {tag: 2} and result["server"] == server
            assert_no_id(run.output)

            # Same process, never restarted.
            assert node.poll() is None and node.pid == pid
            assert live_users(server, tag) == {"alice": ALICE["id"], "bob": BOB["id"]}
            assert live_users(server, "relay") == {"proxy-service@cluster": RELAY_UUID}

            # Alice's held connections still pass data; bob connects; carol cannot.
            assert [passes(sock, "alice") for sock in held] == [True] * HELD
            assert connects(socks["bob"], echo)
            assert connects(socks["alice"], echo)
            assert not connects(socks["carol"], echo)
            # Measured: carol's connection opened before her removal still passes data,
            # also a while later (Xray does not close a removed user's connections).
            assert passes(carol_open, "carol")
            time.sleep(1)
            assert passes(carol_open, "carol")
            assert not connects(socks["carol"], echo)

            # A second run changes nothing.
            again = module_result(run_playbook([live_task(config_path)]))
            assert (again["changed"], again["added"], again["removed"]) == (False, {}, {})
            assert node.poll() is None
        finally:
            for sock in [*held, carol_open]:
                sock.close()


def test_a_changed_id_and_an_unreachable_api(tmp_path, reality_target, run_playbook):  # noqa: F811
    """Alice's id changed in the file: removed and added again. An API nobody listens on:
    the task fails, naming the inbound and the address, with no id in its output."""
    ports = {name: free_port() for name in ("public", "relay", "api")}
    server = f"127.0.0.1:{ports['api']}"
    keys = (generate_keypair(), generate_keypair())
    old = document("tcp-vision", ports, [ALICE], keys, reality_target, "10.0.0.1")
    new_alice = {**ALICE, "id": CAROL["id"]}
    new = document("tcp-vision", ports, [new_alice], keys, reality_target, "10.0.0.1")
    tag = f"client-{ports['public']}"
    config_path = tmp_path / "config.json"
    old_config = on_loopback(xray_config(old))
    write_config(config_path, old_config)
    with xray(old_config, tmp_path, "node", [ports["public"]]):
        write_config(config_path, on_loopback(xray_config(new)))
        result = module_result(run_playbook([live_task(config_path)]))
        assert (result["added"], result["removed"]) == ({tag: ["alice"]}, {tag: ["alice"]})
        assert live_users(server, tag) == {"alice": CAROL["id"]}

    down = run_playbook([live_task(config_path)])
    assert down.rc != 0
    (failed,) = down.results()
    assert failed["msg"].startswith(
        f"cannot read the users of inbound {tag} from Xray's API at {server}: "
    ), failed["msg"]
    assert_no_id(down.output)

    outside = run_playbook([live_task(config_path, server="192.0.2.1:10085")])
    (failed,) = outside.results()
    assert "is not address:port on loopback" in failed["msg"]


# --------------------------------------------------------------------------- the role's expressions


def _configure_tasks():
    return yaml.safe_load(CONFIGURE.read_text())


def _task(name_start):
    (task,) = [t for t in _configure_tasks() if t["name"].startswith(name_start)]
    return task


@pytest.mark.parametrize(
    ("installed", "active", "unit_changed", "live", "mode", "expected"),
    [
        (
            "old",
            "active",
            False,
            None,
            "live",
            "xray: users changed live (removed: bob), no restart",
        ),
        ("new", "active", False, None, "none", "xray: no change"),
        (
            "new",
            "active",
            False,
            {"changed": True, "added": {"client-443": ["bob"]}, "removed": {}},
            "none",
            "xray: the running users differed from the config file, changed live (added: bob; "
            "removed: none), no restart",
        ),
        (
            "old",
            "inactive",
            False,
            None,
            "restart",
            "xray: restart needed: xray.service is not running; users of client-443",
        ),
        (
            "old",
            "active",
            True,
            None,
            "restart",
            "xray: restart needed: users of client-443; the systemd unit changed",
        ),
        (None, "active", False, None, "restart", "xray: restart needed: no config installed yet"),
    ],
)
def test_the_role_says_what_it_does(
    installed, active, unit_changed, live, mode, expected, run_playbook
):
    """configure.yml's comparison (the slurped file, whether xray runs, whether the unit
    changed) and its one line, through ansible-playbook."""
    keys = (generate_keypair(), generate_keypair())
    ports = {"public": 443, "relay": 8443, "api": 10085}
    target = "www.example.com:443"
    configs = {
        "old": xray_config(document("tcp-vision", ports, [ALICE, BOB], keys, target, "10.0.0.1")),
        "new": xray_config(document("tcp-vision", ports, [ALICE], keys, target, "10.0.0.1")),
    }
    slurped = (
        {"content": base64.b64encode(json.dumps(configs[installed]).encode()).decode()}
        if installed
        else {"failed": True, "msg": "file not found"}
    )
    variables = {
        "xray_plan": {"config": configs["new"]},
        "_xray_installed_config": slurped,
        "_xray_active": {"rc": 0 if active == "active" else 3},
        "_xray_unit": {"changed": unit_changed},
        "_xray_live": live or {"skipped": True, "changed": False},
    }
    tasks = [
        _task("Compare the new Xray configuration"),
        {"name": "Show the mode", "ansible.builtin.debug": {"var": "_xray_change.mode"}},
        _task("Say what this run does"),
    ]
    run = run_playbook(tasks, extra_vars=variables)
    assert run.rc == 0, run.output
    _compare, shown, line = run.results()
    assert line["msg"] == expected
    assert shown["_xray_change.mode"] == mode
    assert_no_id(run.output)
