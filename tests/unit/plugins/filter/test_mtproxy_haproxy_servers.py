# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter.mtproxy_haproxy_servers import (
    FilterModule,
    mtproxy_haproxy_servers,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import replica_plan
from hypothesis import given
from hypothesis import strategies as st


def test_filter_is_registered():
    assert FilterModule().filters() == {"mtproxy_haproxy_servers": mtproxy_haproxy_servers}


def test_transparent_uses_bridge_addresses_and_container_port():
    plan = replica_plan(2, 10000, "10.250.0.0/24")
    assert mtproxy_haproxy_servers(plan, transparent=True) == [
        {"name": "mtp1", "address": "10.250.0.2", "port": 443},
        {"name": "mtp2", "address": "10.250.0.3", "port": 443},
    ]


def test_not_transparent_uses_published_ports():
    plan = replica_plan(2, 10000, "10.250.0.0/24")
    assert mtproxy_haproxy_servers(plan, transparent=False, local_address="127.0.0.2") == [
        {"name": "mtp1", "address": "127.0.0.2", "port": 10000},
        {"name": "mtp2", "address": "127.0.0.2", "port": 10001},
    ]


@given(
    replicas=st.integers(min_value=1, max_value=64),
    base_port=st.integers(min_value=1, max_value=60000),
    transparent=st.booleans(),
)
def test_one_server_per_replica_with_unique_targets(replicas, base_port, transparent):
    plan = replica_plan(replicas, base_port, "10.250.0.0/24")
    servers = mtproxy_haproxy_servers(plan, transparent=transparent)
    assert [server["name"] for server in servers] == [replica["server"] for replica in plan]
    assert all(set(server) == {"name", "address", "port"} for server in servers)
    targets = {(server["address"], server["port"]) for server in servers}
    assert len(targets) == replicas
    if transparent:
        assert all(server["port"] == 443 for server in servers)
        assert [s["address"] for s in servers] == [r["address"] for r in plan]
    else:
        assert all(server["address"] == "127.0.0.1" for server in servers)
        assert [s["port"] for s in servers] == [r["host_port"] for r in plan]


@pytest.mark.parametrize(
    ("replicas", "message"),
    [
        ([{"server": "mtp1"}], "replicas[0]: must be a replica of the plan"),
        ("mtp1", "replicas: must be the replica plan"),
        ({"server": "mtp1"}, "replicas: must be the replica plan"),
    ],
)
def test_bad_plan_is_rejected(replicas, message):
    with pytest.raises(AnsibleFilterError) as caught:
        mtproxy_haproxy_servers(replicas, transparent=True)
    assert str(caught.value).startswith(f"mtproxy_haproxy_servers: {message}")


def test_transparent_is_required_and_boolean():
    plan = replica_plan(1, 10000, "10.250.0.0/24")
    with pytest.raises(AnsibleFilterError, match="transparent is required"):
        mtproxy_haproxy_servers(plan)
    with pytest.raises(AnsibleFilterError, match="tproxy_enabled: must be a boolean"):
        mtproxy_haproxy_servers(plan, transparent="yes")


def test_bad_local_address_is_rejected():
    plan = replica_plan(1, 10000, "10.250.0.0/24")
    with pytest.raises(AnsibleFilterError, match="local_address: must be an IPv4 address"):
        mtproxy_haproxy_servers(plan, transparent=False, local_address="localhost\n")
