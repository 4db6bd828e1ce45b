# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/mtproxy/files/host_networks.py: what the replica subnet collides with on a host.

The mtproxy pre-flight runs this file with the host's python3 before any change. Its pure
functions are tested here, and the whole script is run as the pre-flight runs it (source on
stdin) against fake ``ip`` and ``docker`` commands that print what Debian 12's iproute2 and
Docker 20.10 print: a host with docker0 and a live replica network, a host where the Docker
engine does not answer, and a first deploy without Docker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, load_module

SCRIPT = REPO_ROOT / "roles" / "mtproxy" / "files" / "host_networks.py"
host_networks = load_module(SCRIPT)

ROUTES = [
    {"dst": "default", "gateway": "203.0.113.1", "dev": "eth0"},
    {"dst": "203.0.113.0/24", "dev": "eth0", "prefsrc": "203.0.113.10"},
    {"dst": "172.17.0.0/16", "dev": "docker0", "prefsrc": "172.17.0.1", "flags": ["linkdown"]},
    {"dst": "10.250.0.0/24", "dev": "br-mtproxy", "prefsrc": "10.250.0.1"},
    {"dst": "192.168.77.5", "gateway": "203.0.113.1", "dev": "eth0"},
]
ADDRESSES = [
    {"ifname": "lo", "local": "127.0.0.1", "prefixlen": 8},
    {"ifname": "eth0", "local": "203.0.113.10", "prefixlen": 24},
    {"ifname": "docker0", "local": "172.17.0.1", "prefixlen": 16},
    {"ifname": "br-mtproxy", "local": "10.250.0.1", "prefixlen": 24},
]
NETWORKS = [
    {"Name": "bridge", "Subnets": ["172.17.0.0/16"]},
    {"Name": "host", "Subnets": []},
    {"Name": "mtproxy", "Subnets": ["10.250.0.0/24"]},
    {"Name": "monitoring", "Subnets": ["10.251.0.0/16", "fd00:1::/64"]},
]


def overlaps(subnet):
    return host_networks.overlaps(subnet, ROUTES, ADDRESSES, NETWORKS, "mtproxy", "br-mtproxy")


def test_the_stacks_own_network_and_bridge_are_no_collision():
    assert overlaps("10.250.0.0/24") == []


def test_docker0_is_found_as_route_address_and_docker_network():
    assert overlaps("172.17.0.0/24") == [
        "route 172.17.0.0/16 dev docker0",
        "address 172.17.0.1/16 on docker0",
        "Docker network bridge (172.17.0.0/16)",
    ]


@pytest.mark.parametrize(
    ("subnet", "expected"),
    [
        # The uplink: the host would lose its own network.
        ("203.0.113.128/25", ["route 203.0.113.0/24 dev eth0", "address 203.0.113.10/24 on eth0"]),
        # A host route inside the subnet.
        ("192.168.0.0/16", ["route 192.168.77.5 dev eth0"]),
        # Another Docker network that has no route on the host (IPv6 subnets are ignored).
        ("10.251.7.0/24", ["Docker network monitoring (10.251.0.0/16)"]),
        # Bigger than ours and covering another network.
        ("10.0.0.0/8", ["Docker network monitoring (10.251.0.0/16)"]),
        ("10.252.0.0/24", []),
    ],
)
def test_overlaps_in_either_direction(subnet, expected):
    assert overlaps(subnet) == expected


def test_a_new_bridge_name_does_not_hide_the_old_network():
    # Renaming the bridge and network while keeping the subnet: the old network is in the way.
    found = host_networks.overlaps(
        "10.250.0.0/24", ROUTES, ADDRESSES, NETWORKS, "mtproxy2", "br-mtproxy2"
    )
    assert found == [
        "route 10.250.0.0/24 dev br-mtproxy",
        "address 10.250.0.1/24 on br-mtproxy",
        "Docker network mtproxy (10.250.0.0/24)",
    ]


def test_live_subnets_from_docker_or_else_from_the_bridge_route():
    assert host_networks.live_subnets(NETWORKS, ROUTES, "mtproxy", "br-mtproxy", "up") == [
        "10.250.0.0/24"
    ]
    assert host_networks.live_subnets([], ROUTES, "mtproxy", "br-mtproxy", "down") == [
        "10.250.0.0/24"
    ]
    assert host_networks.live_subnets([], [], "mtproxy", "br-mtproxy", "absent") == []


# Fake commands, as iproute2 (ip -j) and Docker print them.
FAKE_IP = """#!/bin/sh
case "$*" in
  "-4 -j route show table main") /bin/cat "$FAKE_DIR/routes.json" ;;
  "-4 -j address show") /bin/cat "$FAKE_DIR/addresses.json" ;;
  *) echo "unexpected: ip $*" >&2; exit 2 ;;
esac
"""
FAKE_DOCKER = """#!/bin/sh
[ -e "$FAKE_DIR/docker-down" ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
case "$1 $2" in
  "network ls") printf 'aaa111\\nbbb222\\n' ;;
  "network inspect") /bin/cat "$FAKE_DIR/networks.json" ;;
  *) echo "unexpected: docker $*" >&2; exit 2 ;;
esac
"""
IP_ROUTES = [
    {"dst": "default", "gateway": "203.0.113.1", "dev": "eth0", "protocol": "dhcp", "flags": []},
    {"dst": "172.17.0.0/16", "dev": "docker0", "protocol": "kernel", "scope": "link"},
    {"dst": "10.250.0.0/24", "dev": "br-mtproxy", "protocol": "kernel", "scope": "link"},
]
IP_ADDRESSES = [
    {
        "ifindex": 3,
        "ifname": "docker0",
        "addr_info": [{"family": "inet", "local": "172.17.0.1", "prefixlen": 16}],
    },
    {"ifindex": 4, "ifname": "veth1", "addr_info": []},
]
DOCKER_NETWORKS = [
    {"Name": "bridge", "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.17.0.0/16"}]}},
    {
        "Name": "mtproxy",
        "IPAM": {"Config": [{"Subnet": "10.250.0.0/24", "Gateway": "10.250.0.1"}]},
    },
]


@pytest.fixture
def fake_host(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("ip", FAKE_IP), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(text, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    for name, data in (
        ("routes", IP_ROUTES),
        ("addresses", IP_ADDRESSES),
        ("networks", DOCKER_NETWORKS),
    ):
        (tmp_path / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def run_script(fake_host, *args, with_docker=True):
    bin_dir = fake_host / "bin"
    if not with_docker:
        (bin_dir / "docker").unlink()
    # As the pre-flight runs it: `python3 - SUBNET NETWORK BRIDGE` with the source on stdin.
    proc = subprocess.run(
        [sys.executable, "-", *args],
        input=SCRIPT.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": str(bin_dir), "FAKE_DIR": str(fake_host)},
    )
    return json.loads(proc.stdout)


def test_script_reports_docker0_for_a_subnet_inside_it(fake_host):
    assert run_script(fake_host, "172.17.0.0/24", "mtproxy", "br-mtproxy") == {
        "docker": "up",
        "docker_error": "",
        "live_subnets": ["10.250.0.0/24"],
        "overlaps": [
            "route 172.17.0.0/16 dev docker0",
            "address 172.17.0.1/16 on docker0",
            "Docker network bridge (172.17.0.0/16)",
        ],
    }


def test_script_reads_the_live_subnet_from_the_bridge_when_docker_does_not_answer(fake_host):
    (fake_host / "docker-down").touch()
    result = run_script(fake_host, "10.251.0.0/24", "mtproxy", "br-mtproxy")
    assert result["docker"] == "down"
    assert "Cannot connect" in result["docker_error"]
    assert result["live_subnets"] == ["10.250.0.0/24"]
    assert result["overlaps"] == []


def test_script_on_a_first_deploy_without_docker(fake_host):
    result = run_script(fake_host, "10.250.0.0/24", "mtproxy", "br-mtproxy", with_docker=False)
    assert result["docker"] == "absent"
    assert result["overlaps"] == []
