# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mtproxy role's bridge isolation script (edgerelay-mtproxy-firewall), for real.

The template is rendered with Jinja2 and run with the real iptables, in network namespaces of
the test's own (``unshare --net``; root only), never in the machine's. The traffic test
builds the stack's topology there: a client network namespace routed through a "host"
namespace to a replica namespace behind a bridge named like the stack's, with the tproxy
role's rules. It checks what the isolation is for: a client with a route to the replica
subnet cannot reach a replica, while the host's own connections to it (also transparent ones
that carry the client's address, as HAProxy's do) and the replica's own connections out
(to Telegram) keep working.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from ansible.plugins.filter.core import regex_replace

from tests.conftest import REPO_ROOT

TEMPLATE = REPO_ROOT / "roles" / "mtproxy" / "templates" / "edgerelay-mtproxy-firewall.sh.j2"
TPROXY_TEMPLATE = REPO_ROOT / "roles" / "tproxy" / "templates" / "edgerelay-tproxy.sh.j2"
RULE = (
    "-A DOCKER-USER -o {bridge} -m conntrack ! --ctstate RELATED,ESTABLISHED "
    "-m comment --comment edgerelay-mtproxy-isolation -j DROP"
)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True
    )
    env.filters["regex_replace"] = regex_replace
    return env


def render(bridge: str = "br-mtproxy") -> str:
    return (
        _env()
        .from_string(TEMPLATE.read_text(encoding="utf-8"))
        .render(ansible_managed="Ansible managed", mtproxy_bridge_name=bridge)
    )


def render_tproxy(subnet: str) -> str:
    return (
        _env()
        .from_string(TPROXY_TEMPLATE.read_text(encoding="utf-8"))
        .render(
            ansible_managed="Ansible managed",
            tproxy_chain="HAPROXY_TPROXY",
            tproxy_mark=1,
            tproxy_route_table=100,
            tproxy_backend_subnet=subnet,
            tproxy_sysctls={"net.ipv4.ip_forward": 1, "net.ipv4.ip_nonlocal_bind": 1},
        )
    )


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("iptables") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--net", "iptables", "-w", "-S", "FORWARD"], capture_output=True, check=False
    )
    return probe.returncode == 0


needs_netns = pytest.mark.skipif(
    not _can_unshare(), reason="needs root, unshare and iptables (a network namespace of its own)"
)


def run_in_netns(tmp_path: Path, steps: str, *, mount: bool = False) -> str:
    """Run a shell script in a new network namespace; ``$FW`` is the rendered script for
    br-mtproxy, ``$FW2`` the one for br-other."""
    (tmp_path / "fw.sh").write_text(render(), encoding="utf-8")
    (tmp_path / "fw2.sh").write_text(render("br-other"), encoding="utf-8")
    script = tmp_path / "steps.sh"
    script.write_text(
        f"FW={tmp_path}/fw.sh\nFW2={tmp_path}/fw2.sh\nPY={sys.executable}\n{steps}",
        encoding="utf-8",
    )
    command = ["unshare", "--net", *(["--mount", "--propagation", "private"] if mount else [])]
    proc = subprocess.run(
        [*command, "/bin/sh", str(script)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_renders_valid_shell(tmp_path):
    script = tmp_path / "edgerelay-mtproxy-firewall"
    script.write_text(render(), encoding="utf-8")
    subprocess.run(["/bin/sh", "-n", str(script)], check=True)
    usage = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, check=False)
    assert usage.returncode == 2
    assert "apply|remove|check" in usage.stderr


@needs_netns
def test_apply_then_check_then_remove(tmp_path):
    out = run_in_netns(
        tmp_path,
        'sh "$FW" check; echo "rc=$?"; echo --\n'
        'sh "$FW" apply; echo --\n'
        'sh "$FW" apply; sh "$FW" check; echo "rc=$?"; echo --\n'
        "iptables -w -S; echo --\n"
        'sh "$FW" remove; iptables -w -S DOCKER-USER\n',
    )
    before, apply, again, rules, removed = out.split("--\n")
    assert before.splitlines() == [
        "missing: DOCKER-USER rule that drops connections into br-mtproxy",
        "missing: FORWARD jump to DOCKER-USER",
        "rc=1",
    ]
    assert apply.splitlines() == [
        "changed: chain DOCKER-USER",
        "changed: DOCKER-USER drops connections into br-mtproxy",
        "changed: FORWARD jumps to DOCKER-USER",
    ]
    # A second apply changes nothing and says nothing.
    assert again == "rc=0\n"
    assert RULE.format(bridge="br-mtproxy") in rules.splitlines()
    assert "-A FORWARD -j DOCKER-USER" in rules.splitlines()
    assert removed.splitlines() == ["-N DOCKER-USER"]


@needs_netns
def test_a_rule_pushed_down_or_deleted_behind_its_back_is_reported_and_restored(tmp_path):
    # Docker keeps DOCKER-USER as it finds it and appends RETURN; an operator's rule
    # inserted above ours would let connections through.
    out = run_in_netns(
        tmp_path,
        "iptables -w -N DOCKER-USER; iptables -w -A DOCKER-USER -j RETURN\n"
        'iptables -w -I FORWARD -j DOCKER-USER; sh "$FW" apply >/dev/null\n'
        "iptables -w -I DOCKER-USER 1 -j ACCEPT\n"
        'sh "$FW" check; echo "rc=$?"; sh "$FW" apply; echo --\n'
        "iptables -w -F DOCKER-USER\n"
        'sh "$FW" check; echo "rc=$?"; sh "$FW" apply; sh "$FW" check; echo "rc=$?"; echo --\n'
        "iptables -w -S DOCKER-USER\n",
    )
    misplaced, deleted, rules = out.split("--\n")
    assert misplaced.splitlines() == [
        "misplaced: the DOCKER-USER rule for br-mtproxy is not the first of the chain",
        "rc=1",
        "changed: DOCKER-USER drops connections into br-mtproxy",
    ]
    assert deleted.splitlines() == [
        "missing: DOCKER-USER rule that drops connections into br-mtproxy",
        "rc=1",
        "changed: DOCKER-USER drops connections into br-mtproxy",
        "rc=0",
    ]
    assert rules.splitlines()[1] == RULE.format(bridge="br-mtproxy")


@needs_netns
def test_a_rule_for_a_renamed_bridge_is_stale(tmp_path):
    out = run_in_netns(
        tmp_path,
        'sh "$FW" apply >/dev/null; sh "$FW2" check; echo "rc=$?"; echo --\n'
        'sh "$FW2" apply; sh "$FW2" check; echo "rc=$?"; echo --\n'
        "iptables -w -S DOCKER-USER\n",
    )
    check, apply, rules = out.split("--\n")
    stale = RULE.format(bridge="br-mtproxy")
    assert check.splitlines() == [
        "missing: DOCKER-USER rule that drops connections into br-other",
        f"stale: {stale}",
        "rc=1",
    ]
    assert apply.splitlines() == [
        "changed: DOCKER-USER drops connections into br-other",
        f"changed: removed stale rule: {stale}",
        "rc=0",
    ]
    assert rules.splitlines()[1:] == [RULE.format(bridge="br-other")]


# The stack in network namespaces: client (10.99.1.2) -- host (10.99.1.1, bridge br-mtproxy
# 10.99.2.1) -- replica (10.99.2.2:443, default route via the bridge). The replica greets each
# connection with the address it sees; the client listens on 9443 as Telegram would.
TOPOLOGY = r"""
set -e
mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns
ip link set lo up
ip netns add cl
ip netns add rp
ip link add veth-cl type veth peer name eth0 netns cl
ip addr add 10.99.1.1/24 dev veth-cl
ip link set veth-cl up
ip -n cl link set lo up
ip -n cl addr add 10.99.1.2/24 dev eth0
ip -n cl link set eth0 up
# The client's route to the replica subnet through the host: an L2 neighbour at the hoster.
ip -n cl route add 10.99.2.0/24 via 10.99.1.1
ip link add br-mtproxy type bridge
ip addr add 10.99.2.1/24 dev br-mtproxy
ip link set br-mtproxy up
ip link add veth-rp type veth peer name eth0 netns rp
ip link set veth-rp master br-mtproxy up
ip -n rp link set lo up
ip -n rp addr add 10.99.2.2/24 dev eth0
ip -n rp link set eth0 up
ip -n rp route add default via 10.99.2.1
sh "$TPROXY" apply >/dev/null
SERVE='import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
while True:
    c, peer = s.accept(); c.sendall(("peer %s\n" % peer[0]).encode()); c.close()'
ip netns exec rp "$PY" -c "$SERVE" 10.99.2.2 443 >/dev/null 2>&1 &
SERVERS=$!
ip netns exec cl "$PY" -c "$SERVE" 10.99.1.2 9443 >/dev/null 2>&1 &
SERVERS="$SERVERS $!"
sleep 0.5
set +e
# connect SOURCE TARGET PORT: what the server greeted with, or "failed".
CONNECT='import socket, sys
s = socket.socket()
if sys.argv[1] != "-":
    s.setsockopt(socket.SOL_IP, 19, 1)  # IP_TRANSPARENT, as HAProxy usesrc clientip
    s.bind((sys.argv[1], 0))
s.settimeout(1.5)
try:
    s.connect((sys.argv[2], int(sys.argv[3]))); print(s.recv(100).decode().strip())
except OSError:
    print("failed")'
probe() {
  echo "client->replica: $(ip netns exec cl "$PY" -c "$CONNECT" - 10.99.2.2 443)"
  echo "host->replica: $(  "$PY" -c "$CONNECT" - 10.99.2.2 443)"
  echo "host(as client)->replica: $("$PY" -c "$CONNECT" 10.99.1.2 10.99.2.2 443)"
  echo "replica->outside: $(ip netns exec rp "$PY" -c "$CONNECT" - 10.99.1.2 9443)"
}
"""


@needs_netns
def test_isolation_blocks_routed_clients_only(tmp_path):
    (tmp_path / "tproxy.sh").write_text(render_tproxy("10.99.2.0/24"), encoding="utf-8")
    out = run_in_netns(
        tmp_path,
        f"TPROXY={tmp_path}/tproxy.sh\n{TOPOLOGY}"
        "probe; echo --\n"
        'sh "$FW" apply >/dev/null; probe\n'
        "kill $SERVERS; exit 0\n",
        mount=True,
    )
    before, after = out.split("--\n")
    # Without the rule a client with a route to the replica subnet gets straight in.
    assert before.splitlines() == [
        "client->replica: peer 10.99.1.2",
        "host->replica: peer 10.99.2.1",
        "host(as client)->replica: peer 10.99.1.2",
        "replica->outside: peer 10.99.2.2",
    ]
    assert after.splitlines() == [
        "client->replica: failed",
        "host->replica: peer 10.99.2.1",
        # HAProxy's transparent connection: the replica sees the client, the reply finds
        # its way back through the TPROXY return path.
        "host(as client)->replica: peer 10.99.1.2",
        "replica->outside: peer 10.99.2.2",
    ]
