# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import inspect

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter import backend_pool as plugin
from ansible_collections.edgerelay.proxy.plugins.filter.backend_pool import (
    FilterModule,
    backend_pool,
)
from hypothesis import given
from hypothesis import strategies as st

HOSTVARS = {
    "de1": {"ansible_host": "203.0.113.10", "xray_relay_port": 9443},
    "nl1": {},
    "fi1": {"ansible_host": "198.51.100.7", "xray_relay_port": "10443"},
    "entry1": {"ansible_host": "192.0.2.1"},
}
GROUPS = {
    "all": list(HOSTVARS),
    "vpn_servers": ["de1", "nl1", "fi1"],
    "proxy_servers": ["entry1"],
}


def pool_error(backends, hostvars=HOSTVARS, groups=GROUPS, **kwargs):
    with pytest.raises(AnsibleFilterError) as excinfo:
        backend_pool(backends, hostvars, groups, **kwargs)
    return str(excinfo.value)


def test_filter_is_registered():
    assert FilterModule().filters() == {"backend_pool": backend_pool}


def test_documentation_matches_the_signature():
    documentation = yaml.safe_load(plugin.DOCUMENTATION)
    yaml.safe_load(plugin.EXAMPLES)
    yaml.safe_load(plugin.RETURN)
    signature = inspect.signature(backend_pool).parameters
    assert sorted(documentation["options"]) == sorted(["_input", *list(signature)[1:]])
    for option in ("port_var", "default_port", "group"):
        assert documentation["options"][option]["default"] == signature[option].default


def test_example():
    assert backend_pool(["de1", "nl1", "fi1"], HOSTVARS, GROUPS) == [
        {"name": "de1", "address": "203.0.113.10", "port": 9443},
        {"name": "nl1", "address": "nl1", "port": 8443},
        {"name": "fi1", "address": "198.51.100.7", "port": 10443},
    ]


def test_port_var_and_default_port():
    hostvars = {**HOSTVARS, "nl1": {"relay": 7000}}
    pool = backend_pool(["nl1", "de1"], hostvars, GROUPS, port_var="relay", default_port="9000")
    assert pool == [
        {"name": "nl1", "address": "nl1", "port": 7000},
        {"name": "de1", "address": "203.0.113.10", "port": 9000},
    ]


def test_other_group():
    assert backend_pool(["entry1"], HOSTVARS, GROUPS, group="proxy_servers") == [
        {"name": "entry1", "address": "192.0.2.1", "port": 8443}
    ]


@pytest.mark.parametrize(
    ("backends", "kwargs", "message"),
    [
        (["entry1"], {}, "proxy_backends: 'entry1' is not in group vpn_servers"),
        (
            ["ghost"],
            {},
            "proxy_backends: 'ghost' is not in group vpn_servers; it is not in the inventory",
        ),
        (["de1", "nl1", "de1"], {}, "proxy_backends: 'de1' is listed twice"),
        ([], {}, "proxy_backends: needs at least one backend (a host of group vpn_servers)"),
        ("de1", {}, "proxy_backends: must be a list of inventory host names, got str 'de1'"),
        (None, {}, "proxy_backends: must be a list of inventory host names, got NoneType None"),
        (["de1", 5], {}, "proxy_backends: [1] must be an inventory host name, got int 5"),
        (["de1"], {"group": "edge"}, "proxy_backends: group edge is empty or not in the inventory"),
        (["de1"], {"default_port": 0}, "proxy_backends: default_port must be a port between"),
        (["nl1"], {"default_port": True}, "proxy_backends: default_port must be a port between"),
    ],
)
def test_errors(backends, kwargs, message):
    assert pool_error(backends, **kwargs).startswith(message)


@pytest.mark.parametrize("port", [0, 65536, "443x", 1.5, True, "-1"])
def test_bad_ports_name_host_and_variable(port):
    hostvars = {**HOSTVARS, "de1": {"xray_relay_port": port}}
    message = pool_error(["nl1", "de1"], hostvars)
    assert message.startswith("proxy_backends: 'de1': xray_relay_port must be a port between")


def test_same_endpoint_twice_is_an_error():
    hostvars = {**HOSTVARS, "fi1": {"ansible_host": "203.0.113.10", "xray_relay_port": 9443}}
    message = pool_error(["de1", "fi1"], hostvars)
    assert message == (
        "proxy_backends: 'fi1' and 'de1' are both 203.0.113.10:9443; list each backend once"
    )


def test_empty_ansible_host_is_an_error():
    hostvars = {**HOSTVARS, "nl1": {"ansible_host": " "}}
    assert "'nl1': ansible_host must be a non-empty string" in pool_error(["nl1"], hostvars)


def test_hostvars_and_groups_are_required():
    with pytest.raises(AnsibleFilterError, match="needs hostvars and groups"):
        backend_pool(["de1"])


# --------------------------------------------------------------------------- properties

NAMES = [f"vpn{index}" for index in range(12)]
INVENTORY = {name: {"ansible_host": f"198.51.100.{index + 1}"} for index, name in enumerate(NAMES)}
INVENTORY_GROUPS = {"vpn_servers": NAMES}


@given(st.lists(st.sampled_from(NAMES), min_size=1, unique=True))
def test_order_is_kept_and_names_are_unique(backends):
    pool = backend_pool(backends, INVENTORY, INVENTORY_GROUPS)
    assert [entry["name"] for entry in pool] == backends
    assert len({(entry["address"], entry["port"]) for entry in pool}) == len(pool)
    assert all(entry["port"] == 8443 for entry in pool)


@given(st.lists(st.sampled_from(NAMES), min_size=2).filter(lambda xs: len(set(xs)) < len(xs)))
def test_duplicates_are_always_rejected(backends):
    first_repeat = next(name for index, name in enumerate(backends) if name in backends[:index])
    message = pool_error(backends, INVENTORY, INVENTORY_GROUPS)
    assert message == f"proxy_backends: {first_repeat!r} is listed twice"
