# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import ipaddress

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter.mtproxy_replica_plan import (
    FilterModule,
    mtproxy_replica_plan,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import replica_plan
from hypothesis import given
from hypothesis import strategies as st


def test_filter_is_registered():
    assert FilterModule().filters() == {"mtproxy_replica_plan": mtproxy_replica_plan}


def test_filter_example():
    plan = mtproxy_replica_plan(2, base_port=10000, subnet="10.250.0.0/24")
    assert plan == [
        {
            "index": 1,
            "name": "mtproxy1",
            "server": "mtp1",
            "host_port": 10000,
            "address": "10.250.0.2",
            "container_port": 443,
        },
        {
            "index": 2,
            "name": "mtproxy2",
            "server": "mtp2",
            "host_port": 10001,
            "address": "10.250.0.3",
            "container_port": 443,
        },
    ]


def test_filter_passes_prefixes_and_container_port():
    plan = mtproxy_replica_plan(
        1, 9000, "10.1.0.0/30", name_prefix="relay", server_prefix="r", container_port="8443"
    )
    assert plan == [
        {
            "index": 1,
            "name": "relay1",
            "server": "r1",
            "host_port": 9000,
            "address": "10.1.0.2",
            "container_port": 8443,
        }
    ]


def test_filter_accepts_decimal_strings():
    # Extra vars given with -e key=value arrive as strings.
    assert mtproxy_replica_plan("3", base_port="10000", subnet="10.250.0.0/24") == replica_plan(
        3, 10000, "10.250.0.0/24"
    )


@pytest.mark.parametrize(
    ("replicas", "kwargs", "fragment"),
    [
        (0, {}, "replicas: must be at least 1"),
        (True, {}, "replicas: must be an integer"),
        ("3.0", {}, "replicas: must be an integer"),
        (" 3", {}, "replicas: must be an integer"),
        (3, {"base_port": 65534}, "base_port: "),
        (3, {"base_port": "-1"}, "base_port: "),
        (3, {"subnet": "10.250.0.1/24"}, "did you mean 10.250.0.0/24"),
        (3, {"subnet": "10.250.0.0/30"}, "subnet: "),
        (3, {"subnet": None}, "subnet is required"),
        (3, {"base_port": None}, "base_port is required"),
        (3, {"name_prefix": "bad name"}, "name_prefix: "),
    ],
)
def test_filter_errors(replicas, kwargs, fragment):
    arguments = {"base_port": 10000, "subnet": "10.250.0.0/24", **kwargs}
    with pytest.raises(AnsibleFilterError) as excinfo:
        mtproxy_replica_plan(replicas, **arguments)
    message = str(excinfo.value)
    assert message.startswith("mtproxy_replica_plan: ")
    assert fragment in message


@st.composite
def layouts(draw):
    prefix = draw(st.integers(min_value=16, max_value=30))
    block = 2 ** (32 - prefix)
    slot = draw(st.integers(min_value=0, max_value=2**24 // block - 1))
    network = ipaddress.IPv4Network((int(ipaddress.IPv4Address("10.0.0.0")) + slot * block, prefix))
    replicas = draw(st.integers(min_value=1, max_value=min(network.num_addresses - 3, 128)))
    base_port = draw(st.integers(min_value=1, max_value=65535 - replicas + 1))
    return replicas, base_port, network


@given(layouts(), st.booleans())
def test_filter_properties(layout, as_strings):
    replicas, base_port, network = layout
    args = (str(replicas), str(base_port)) if as_strings else (replicas, base_port)
    plan = mtproxy_replica_plan(args[0], base_port=args[1], subnet=str(network))
    assert plan == replica_plan(replicas, base_port, str(network))
    gateway = network.network_address + 1
    assert len({p["name"] for p in plan}) == replicas
    assert len({p["server"] for p in plan}) == replicas
    assert [p["host_port"] for p in plan] == list(range(base_port, base_port + replicas))
    addresses = [ipaddress.IPv4Address(p["address"]) for p in plan]
    assert len(set(addresses)) == replicas
    for address in addresses:
        assert address in network
        assert address not in (network.network_address, network.broadcast_address, gateway)


junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**16),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(junk, junk, st.one_of(junk, st.just("10.250.0.0/24")), junk)
def test_filter_fails_only_with_ansible_filter_error(replicas, base_port, subnet, name_prefix):
    """Whatever a template passes in, the filter returns a plan or a clean filter error."""
    try:
        plan = mtproxy_replica_plan(replicas, base_port=base_port, subnet=subnet)
        plan = mtproxy_replica_plan(
            replicas, base_port=base_port, subnet=subnet, name_prefix=name_prefix
        )
    except AnsibleFilterError as exc:
        assert str(exc).startswith("mtproxy_replica_plan: ")
    else:
        assert isinstance(plan, list)
        assert plan
