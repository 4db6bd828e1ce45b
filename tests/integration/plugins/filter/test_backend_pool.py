# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""edgerelay.proxy.backend_pool with the real hostvars and groups of an ansible-playbook run."""

from __future__ import annotations

import json

INVENTORY_INI = """\
entry1 ansible_connection=local
[vpn_servers]
de1 ansible_host=203.0.113.10 xray_relay_port=9443
nl1
[vpn_servers:vars]
ansible_connection=local
[proxy_servers]
entry1
"""


def test_with_real_hostvars(run_playbook):
    tasks = [
        {
            "name": "pool",
            "ansible.builtin.debug": {
                "msg": "{{ proxy_backends | edgerelay.proxy.backend_pool(hostvars, groups) }}"
            },
        },
        {
            "name": "not a backend",
            "ansible.builtin.debug": {
                "msg": "{{ ['de1', 'entry1'] | edgerelay.proxy.backend_pool(hostvars, groups) }}"
            },
            "ignore_errors": True,
        },
    ]
    run = run_playbook(
        [{**task, "when": "inventory_hostname in groups.proxy_servers"} for task in tasks],
        extra_vars={"proxy_backends": ["nl1", "de1"]},
        inventory=INVENTORY_INI,
    )
    assert run.rc == 0, run.output
    document = json.loads(run.stdout)
    pool, error = (task["hosts"]["entry1"] for task in document["plays"][0]["tasks"])
    assert pool["msg"] == [
        {"name": "nl1", "address": "nl1", "port": 8443},
        {"name": "de1", "address": "203.0.113.10", "port": 9443},
    ]
    assert "proxy_backends: 'entry1' is not in group vpn_servers" in error["msg"]
