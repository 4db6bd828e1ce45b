# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the replica subnet would collide with on this host; read-only, standard library only.

The mtproxy pre-flight feeds this file to the host's python3 on stdin (one round trip, before
any change, also on a first deploy where Docker is not installed yet):

    python3 - SUBNET NETWORK_NAME BRIDGE_NAME < host_networks.py

and prints one JSON object:

    {"docker": "up" | "absent" | "down", "docker_error": "...",
     "live_subnets": [...],   # subnets of the stack's own network (NETWORK_NAME) now
     "overlaps": [...]}       # what SUBNET overlaps, e.g. "Docker network bridge (172.17.0.0/16)"

Overlaps are looked for among the IPv4 routes of the main table (the default route aside),
the host's IPv4 addresses, and the IPv4 subnets of every Docker network; the stack's own
network and bridge are left out, they are what the subnet is for.
"""

import ipaddress
import json
import shutil
import subprocess
import sys


def _run(argv):
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr.strip()


def _network(text):
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def read_routes():
    """IPv4 routes of the main table as [{"dst": "a.b.c.d/n" | "default", "dev": ...}]."""
    if shutil.which("ip") is None:
        return []
    code, out, _ = _run(["ip", "-4", "-j", "route", "show", "table", "main"])
    return json.loads(out or "[]") if code == 0 else []


def read_addresses():
    """IPv4 addresses as [{"ifname": ..., "local": ..., "prefixlen": ...}]."""
    if shutil.which("ip") is None:
        return []
    code, out, _ = _run(["ip", "-4", "-j", "address", "show"])
    if code != 0:
        return []
    return [
        {"ifname": link.get("ifname"), "local": info["local"], "prefixlen": info["prefixlen"]}
        for link in json.loads(out or "[]")
        for info in link.get("addr_info", [])
        if info.get("family") == "inet" and "local" in info and "prefixlen" in info
    ]


def read_docker_networks():
    """(state, error, networks): networks as [{"Name": ..., "Subnets": [...]}]."""
    if shutil.which("docker") is None:
        return "absent", "", []
    code, out, err = _run(["docker", "network", "ls", "--quiet", "--no-trunc"])
    if code != 0:
        return "down", err, []
    ids = out.split()
    if not ids:
        return "up", "", []
    code, out, err = _run(["docker", "network", "inspect", *ids])
    if code != 0:
        return "down", err, []
    networks = [
        {
            "Name": network.get("Name"),
            "Subnets": [
                config["Subnet"]
                for config in ((network.get("IPAM") or {}).get("Config") or [])
                if config.get("Subnet")
            ],
        }
        for network in json.loads(out or "[]")
    ]
    return "up", "", networks


def overlaps(subnet, routes, addresses, networks, network_name, bridge_name):
    """What ``subnet`` overlaps, one description each (IPv4 only; own network/bridge skipped)."""
    wanted = ipaddress.ip_network(subnet, strict=False)
    found = []
    for route in routes:
        dst, dev = route.get("dst"), route.get("dev")
        if dst in (None, "default") or dev == bridge_name:
            continue
        network = _network(dst)
        if network is not None and network.version == 4 and network.overlaps(wanted):
            found.append(f"route {dst}" + (f" dev {dev}" if dev else ""))
    for address in addresses:
        if address["ifname"] == bridge_name:
            continue
        network = _network(f"{address['local']}/{address['prefixlen']}")
        if network is not None and network.overlaps(wanted):
            found.append(
                f"address {address['local']}/{address['prefixlen']} on {address['ifname']}"
            )
    for network in networks:
        if network["Name"] == network_name:
            continue
        for text in network["Subnets"]:
            other = _network(text)
            if other is not None and other.version == 4 and other.overlaps(wanted):
                found.append(f"Docker network {network['Name']} ({text})")
    return found


def live_subnets(networks, routes, network_name, bridge_name, docker_state):
    """The stack network's subnets now: Docker's word when it answers, else its bridge's routes."""
    if docker_state == "up":
        return [
            text
            for network in networks
            if network["Name"] == network_name
            for text in network["Subnets"]
            if ":" not in text
        ]
    return [
        route["dst"]
        for route in routes
        if route.get("dev") == bridge_name and route.get("dst") not in (None, "default")
    ]


def main(argv):
    subnet, network_name, bridge_name = argv
    routes = read_routes()
    addresses = read_addresses()
    state, error, networks = read_docker_networks()
    print(
        json.dumps(
            {
                "docker": state,
                "docker_error": error,
                "live_subnets": live_subnets(networks, routes, network_name, bridge_name, state),
                "overlaps": overlaps(
                    subnet, routes, addresses, networks, network_name, bridge_name
                ),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
