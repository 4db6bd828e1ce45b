# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The haproxy role's config, rendered by Ansible as each stack hands it its servers.

The template knows one server shape ({name, address, port}); the stacks map their own data
to it in playbooks/vars/. Every rendering is checked by the real HAProxy of Debian 12
(`haproxy -c`), as the role's template task does before it installs a config.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import replica_plan

from tests.conftest import REPO_ROOT

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(
    not shutil.which("haproxy") and not (REPO_ROOT / HAPROXY).exists(),
    reason="needs Debian's haproxy package (scripts/bootstrap.sh installs it)",
)

ROLE_DEFAULTS = [
    REPO_ROOT / "roles/shared/defaults/main.yml",
    REPO_ROOT / "roles/haproxy/defaults/main.yml",
]
MTPROXY = [REPO_ROOT / "roles/mtproxy/defaults/main.yml", REPO_ROOT / "playbooks/vars/mtproxy.yml"]
FOREIGN_POOL = [
    REPO_ROOT / "roles/xray/defaults/main.yml",
    REPO_ROOT / "playbooks/vars/foreign_pool.yml",
]


def render(run_playbook, tmp_path, vars_files, extra_vars):
    dest = tmp_path / "haproxy.cfg"
    result = run_playbook(
        [
            {
                "name": "Render haproxy.cfg",
                "ansible.builtin.template": {
                    "src": str(REPO_ROOT / "roles/haproxy/templates/haproxy.cfg.j2"),
                    "dest": str(dest),
                    "mode": "0644",
                },
            }
        ],
        extra_vars=extra_vars,
        vars_files=ROLE_DEFAULTS + vars_files,
    )
    assert result.rc == 0, result.output
    config = dest.read_text(encoding="utf-8")
    check = subprocess.run([HAPROXY, "-c", "-f", str(dest)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return config


def section(config, header):
    lines = config.split(f"\n{header}\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in lines.splitlines() if line.strip()]


def mtproxy_plan(replicas, client_ip_mode="tproxy", balance=None):
    """The plan as the mtproxy pre-flight registers it (the role defaults' ports and subnet)."""
    return {
        "replicas": replica_plan(replicas, 10000, "10.250.0.0/24"),
        "client_ip_mode": client_ip_mode,
        "balance": balance or {"algorithm": "leastconn", "hash_payload": {}},
    }


@pytest.mark.parametrize("tproxy", [True, False])
def test_mtproxy_stack(run_playbook, tmp_path, tproxy):
    mode = "tproxy" if tproxy else "none"
    config = render(
        run_playbook,
        tmp_path,
        MTPROXY,
        {"mtproxy_plan": mtproxy_plan(3, mode), "mtproxy_client_ip_mode": mode},
    )
    assert "frontend mtproxy" in config
    backend = section(config, "backend mtproxies")
    servers = [line for line in backend if line.startswith("server ")]
    if tproxy:
        assert "source 0.0.0.0 usesrc clientip" in backend
        assert servers == [
            "server mtp1 10.250.0.2:443",
            "server mtp2 10.250.0.3:443",
            "server mtp3 10.250.0.4:443",
        ]
    else:
        assert not any(line.startswith("source ") for line in backend)
        assert servers == [
            "server mtp1 127.0.0.1:10000",
            "server mtp2 127.0.0.1:10001",
            "server mtp3 127.0.0.1:10002",
        ]


def test_mtproxy_stack_faketls_replay_proof_and_proxy_protocol(run_playbook, tmp_path):
    """FakeTLS with a replay cache: the ClientHello's random picks the replica; PROXY v2."""
    balance = {
        "algorithm": "hash",
        "hash_payload": {"offset": 11, "length": 32, "wait_prefix": "16"},
    }
    config = render(
        run_playbook,
        tmp_path,
        MTPROXY,
        {
            "mtproxy_plan": mtproxy_plan(3, "proxy_protocol", balance),
            "mtproxy_client_ip_mode": "proxy_protocol",
        },
    )
    frontend = section(config, "frontend mtproxy")
    # The frontend waits for the 43 bytes up to the end of the key, but only for data that
    # starts like a TLS handshake record; anything else goes on at once (to be masked).
    assert "tcp-request content accept if { req.len ge 43 }" in frontend
    assert (
        "tcp-request content accept if { req.len ge 1 } !{ req.payload(0,1) -m bin 16 }" in frontend
    )
    backend = section(config, "backend mtproxies")
    assert (
        "tcp-request content set-var(txn.balance_key) req.payload(11,32) if { req.len ge 43 }"
        in frontend
    )
    assert "balance hash var(txn.balance_key)" in backend
    assert "hash-type consistent" in backend
    assert not any(line.startswith("source ") for line in backend)
    assert any(line.endswith(" send-proxy-v2") for line in backend if "default-server" in line)
    assert [line for line in backend if line.startswith("server ")] == [
        "server mtp1 127.0.0.1:10000",
        "server mtp2 127.0.0.1:10001",
        "server mtp3 127.0.0.1:10002",
    ]


def test_foreign_pool_of_an_xray_proxy_node(run_playbook, tmp_path):
    pool = [
        {"name": "vpn-de", "address": "192.0.2.10", "port": 8443},
        {"name": "vpn-nl", "address": "vpn-nl.example.net", "port": 9443},
    ]
    config = render(run_playbook, tmp_path, FOREIGN_POOL, {"xray_plan": {"pool": pool}})
    frontend = section(config, "frontend foreign-pool-in")
    assert "bind 127.0.0.1:10443" in frontend
    backend = section(config, "backend foreign-pool")
    assert not any(line.startswith("source ") for line in backend)
    assert [line for line in backend if line.startswith("server ")] == [
        "server vpn-de 192.0.2.10:8443",
        "server vpn-nl vpn-nl.example.net:9443",
    ]
    # vpn-nl.example.net does not resolve here: HAProxy still accepts (and would start with)
    # the config, the server starting in maintenance (init-addr).
    assert any("init-addr last,libc,none" in line for line in backend)


def test_the_template_has_one_server_line():
    template = (REPO_ROOT / "roles/haproxy/templates/haproxy.cfg.j2").read_text(encoding="utf-8")
    assert len(re.findall(r"^\s*server ", template, re.MULTILINE)) == 1
    for stack_variable in ("mtproxy", "tproxy_enabled", "xray"):
        assert stack_variable not in template
