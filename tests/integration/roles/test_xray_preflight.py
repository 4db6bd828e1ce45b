# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The xray role's pre-flight in a real ansible-playbook run: the plan of both node kinds.

As playbooks/plan.yml runs it: facts gathered (min, network), then the role's preflight
entry point (argument spec included). The planned configs block the node's own addresses
(its interfaces' and ansible_host when that is an address), open exactly the allowed
networks, never carry an empty REALITY short id (a private key given without one gets a
generated short id, kept on the controller and stable), and pass `xray run -test`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.helpers.geodata import IPS, SITES, gf

XRAY = Path(os.environ.get("EDGERELAY_CACHE", REPO_ROOT / ".cache")) / "bin" / "xray"
# A REALITY private key of the right shape (never used to talk to anyone).
GIVEN_KEY = "kPo1FMsWZNN0hdTNNanxb1tCnIx9T6B_YTNZ5VUR7VY"
NEVER = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10"]


def inventory(proxy_host="45.67.89.10", backend_host="vpn1.example.org"):
    """edge1 (proxy node) with a public address as ansible_host, vpn1 with a name."""
    python = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    return (
        "[proxy_servers]\n"
        f"edge1 ansible_host={proxy_host} {python}\n"
        "[vpn_servers]\n"
        f"vpn1 ansible_host={backend_host} {python}\n"
    )


def plan_tasks():
    return [
        {
            "name": "Gather the facts plan.yml gathers",
            "ansible.builtin.setup": {"gather_subset": ["min", "network"]},
            "register": "facts",
        },
        {
            "name": "Plan",
            "ansible.builtin.include_role": {
                "name": "edgerelay.proxy.xray",
                "tasks_from": "preflight",
            },
        },
        {"name": "Show the plan", "ansible.builtin.debug": {"var": "xray_plan"}},
    ]


def plans(run):
    """{host: (facts, xray_plan)} from the json callback's output."""
    document = json.loads(run.stdout)
    tasks = {task["task"]["name"]: task["hosts"] for task in document["plays"][0]["tasks"]}
    return {
        host: (
            tasks["Gather the facts plan.yml gathers"][host]["ansible_facts"],
            result["xray_plan"],
        )
        for host, result in tasks["Show the plan"].items()
    }


@pytest.fixture
def secrets(tmp_path):
    return tmp_path / "inventory" / ".edgerelay"


def run_plan(run_playbook, secrets, **variables):
    extra_vars = {
        "edgerelay_secrets_dir": str(secrets),
        "proxy_backends": ["vpn1"],
        "xray_allowed_private_networks": ["172.29.0.0/24"],
        # Format only here; tests/integration/roles/test_reality_target_check.py checks a
        # real target through this pre-flight.
        "xray_reality_target": "reality.lab.example:443",
        "xray_reality_server_names": ["reality.lab.example"],
        "xray_reality_target_check": False,
        **variables,
    }
    return run_playbook(plan_tasks(), extra_vars=extra_vars, inventory=inventory())


def own_addresses(facts, ansible_host):
    addresses = facts["ansible_all_ipv4_addresses"] + facts["ansible_all_ipv6_addresses"]
    return [ipaddress.ip_address(text.split("%")[0]) for text in addresses] + (
        [ipaddress.ip_address(ansible_host)] if ansible_host else []
    )


def blocked(rules, address):
    """Blocked by the first two rules (the block rules)."""
    networks = [ipaddress.ip_network(text) for rule in rules[:2] for text in rule["ip"]]
    return any(address in network for network in networks)


def test_both_plans_block_the_own_addresses_and_open_the_allowed_network(run_playbook, secrets):
    run = run_plan(run_playbook, secrets)
    assert run.rc == 0, run.output
    planned = plans(run)
    assert sorted(planned) == ["edge1", "vpn1"]
    for host, ansible_host in (("edge1", "45.67.89.10"), ("vpn1", None)):
        facts, plan = planned[host]
        rules = plan["config"]["routing"]["rules"]
        assert rules[0]["outboundTag"] == rules[1]["outboundTag"] == "block"
        assert rules[0]["ip"][: len(NEVER)] == NEVER
        # Every interface address and ansible_host when it is an address is blocked.
        assert facts["ansible_all_ipv4_addresses"], "no addresses gathered: nothing is tested"
        for address in own_addresses(facts, ansible_host):
            assert blocked(rules, address), (host, address)
        # 172.16.0.0/12 is blocked except the lab network.
        lab = ipaddress.ip_network("172.29.0.0/24")
        private = [ipaddress.ip_network(text) for text in rules[1]["ip"]]
        assert not any(network.overlaps(lab) for network in private if network.version == 4)
        assert ipaddress.ip_network("172.16.0.0/13") in private
    # The public ansible_host of edge1 is listed; vpn1's is a name (nothing to list).
    assert "45.67.89.10/32" in planned["edge1"][1]["config"]["routing"]["rules"][0]["ip"]
    assert planned["edge1"][1]["config"]["routing"]["rules"][-1]["outboundTag"] == "foreign-pool"


def test_an_interface_address_in_an_allowed_network_stays_blocked(run_playbook, secrets):
    """Allow the network of one of this machine's private addresses: the address itself is
    still blocked (listed in the first rule), the rest of that network is open."""
    run = run_plan(run_playbook, secrets)
    assert run.rc == 0, run.output
    facts, _ = plans(run)["vpn1"]
    private = [
        address
        for address in own_addresses(facts, None)
        if address.version == 4
        and address.is_private
        and not (address.is_loopback or address.is_link_local)
    ]
    if not private:
        pytest.skip("this machine has no private IPv4 address on an interface")
    network = ipaddress.ip_network(f"{private[0]}/30", strict=False)
    run = run_plan(run_playbook, secrets, xray_allowed_private_networks=[str(network)])
    assert run.rc == 0, run.output
    rules = plans(run)["vpn1"][1]["config"]["routing"]["rules"]
    assert f"{private[0]}/32" in rules[0]["ip"]
    others = [host for host in network if host != private[0] and host not in private]
    assert others and not any(blocked(rules, host) for host in others)


def test_a_given_private_key_gets_a_generated_short_id_kept_stable(run_playbook, secrets):
    first = run_plan(run_playbook, secrets, xray_reality_private_key=GIVEN_KEY)
    assert first.rc == 0, first.output
    stored = {}
    for host, (_, plan) in plans(first).items():
        path = secrets / f"reality-short-id-{host}.json"
        stored[host] = json.loads(path.read_text())["short_id"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reality = plan["config"]["inbounds"][0]["streamSettings"]["realitySettings"]
        assert reality["privateKey"] == GIVEN_KEY
        assert reality["shortIds"] == [stored[host]] and len(stored[host]) == 8
        assert plan["public"]["short_id"] == stored[host]  # what the client links carry
    assert stored["edge1"] != stored["vpn1"]
    assert not (secrets / "reality-edge1.json").exists()  # no keys generated for nothing

    second = run_plan(run_playbook, secrets, xray_reality_private_key=GIVEN_KEY)
    assert second.rc == 0, second.output
    for host, (_, plan) in plans(second).items():
        reality = plan["config"]["inbounds"][0]["streamSettings"]["realitySettings"]
        assert reality["shortIds"] == [stored[host]]

    # A short id given with the key is used as it is; none is generated for it.
    given = run_plan(
        run_playbook, secrets, xray_reality_private_key=GIVEN_KEY, xray_reality_short_id="0a1b"
    )
    assert given.rc == 0, given.output
    for _, plan in plans(given).values():
        reality = plan["config"]["inbounds"][0]["streamSettings"]["realitySettings"]
        assert reality["shortIds"] == ["0a1b"]


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"xray_allowed_private_networks": ["127.0.0.0/8"]},
            "xray_allowed_private_networks[0]: 127.0.0.0/8 overlaps 127.0.0.0/8",
        ),
        (
            {"xray_own_addresses": ["198.51.100.7", "edge1.example.org"]},
            "xray_own_addresses[1]: 'edge1.example.org' is not an IP address",
        ),
        (
            {"xray_dns_hosts": {"metadata.lab": "169.254.169.254"}},
            "xray_dns_hosts['metadata.lab']: 169.254.169.254 is the node itself",
        ),
    ],
)
def test_bad_inputs_stop_the_plan_naming_the_variable(run_playbook, secrets, variables, message):
    run = run_plan(run_playbook, secrets, **variables)
    assert run.rc != 0
    assert message in run.output, run.output


@pytest.mark.skipif(not os.access(XRAY, os.X_OK), reason=f"no Xray binary at {XRAY}")
def test_xray_accepts_the_planned_configs(run_playbook, secrets, tmp_path):
    run = run_plan(run_playbook, secrets)
    assert run.rc == 0, run.output
    assets = tmp_path / "assets"
    gf.write_fixtures(assets, SITES, IPS)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("XRAY_", "XRAY."))}
    env["XRAY_LOCATION_ASSET"] = str(assets)
    for host, (_, plan) in plans(run).items():
        config_file = tmp_path / f"{host}.json"
        config_file.write_text(json.dumps(plan["config"]))
        result = subprocess.run(
            [str(XRAY), "run", "-test", "-c", str(config_file)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (host, result.stdout + result.stderr)
