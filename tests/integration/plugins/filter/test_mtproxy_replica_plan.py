# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""edgerelay.proxy.mtproxy_replica_plan in a real ansible-playbook run."""

from __future__ import annotations

from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import replica_plan


def test_filter_through_ansible(run_playbook):
    """The FQCN resolves and works in a real template, including an error case."""
    expression = (
        "{{ mtproxy_replicas | edgerelay.proxy.mtproxy_replica_plan("
        "base_port=mtproxy_base_port, subnet=mtproxy_network_subnet) }}"
    )
    tasks = [
        {"name": "plan", "ansible.builtin.set_fact": {"plan": expression}},
        {"name": "show", "ansible.builtin.debug": {"var": "plan"}},
    ]
    run = run_playbook(
        tasks,
        extra_vars={
            "mtproxy_replicas": 2,
            "mtproxy_base_port": 10000,
            "mtproxy_network_subnet": "10.250.0.0/24",
        },
    )
    assert run.rc == 0, run.output
    assert run.results()[1]["plan"] == replica_plan(2, 10000, "10.250.0.0/24")

    failed = run_playbook(
        tasks,
        extra_vars={
            "mtproxy_replicas": 2,
            "mtproxy_base_port": 10000,
            "mtproxy_network_subnet": "10.250.0.7/24",
        },
    )
    assert failed.rc != 0
    message = failed.results()[0]["msg"]
    assert "mtproxy_replica_plan: subnet: 10.250.0.7/24 has host bits set" in message
    assert "did you mean 10.250.0.0/24" in message
