# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter.relay_attached import (
    FilterModule,
    relay_attached,
)
from hypothesis import given
from hypothesis import strategies as st

GROUPS = {"proxy_servers": ["p1", "p2"], "vpn_servers": ["b1", "b2", "b3"]}
HOSTVARS = {
    "p1": {"proxy_backends": ["b1"]},
    "p2": {"proxy_backends": ["b1", "b2"]},
    "b1": {},
    "b2": {},
    "b3": {},
}


def test_filter_is_registered():
    assert FilterModule().filters() == {"relay_attached": relay_attached}


@pytest.mark.parametrize(
    ("host", "attached"),
    [("p1", True), ("p2", True), ("b1", True), ("b2", True), ("b3", False)],
)
def test_attachment(host, attached):
    assert relay_attached(host, HOSTVARS, GROUPS) is attached


def test_a_proxy_without_backends_is_not_attached():
    hostvars = {"p1": {}, "p2": {"proxy_backends": []}, "b1": {}}
    for host in ("p1", "p2", "b1"):
        assert relay_attached(host, hostvars, GROUPS) is False


def test_no_proxy_group():
    assert relay_attached("b1", HOSTVARS, {"vpn_servers": ["b1"]}) is False


def test_a_bad_proxy_backends_names_the_proxy():
    hostvars = dict(HOSTVARS, p2={"proxy_backends": "b1"})
    with pytest.raises(AnsibleFilterError, match=r"proxy_backends: must be a list .* on p2"):
        relay_attached("b3", hostvars, GROUPS)


def test_missing_arguments_fail():
    with pytest.raises(AnsibleFilterError, match="needs hostvars and groups"):
        relay_attached("b1")
    with pytest.raises(AnsibleFilterError, match="expects an inventory host name"):
        relay_attached("", HOSTVARS, GROUPS)


@given(
    lists=st.lists(
        st.lists(st.sampled_from(["b1", "b2", "b3"]), unique=True, max_size=3),
        min_size=1,
        max_size=3,
    )
)
def test_a_backend_is_attached_exactly_when_some_proxy_lists_it(lists):
    proxies = [f"p{i}" for i in range(len(lists))]
    hostvars = {p: {"proxy_backends": backends} for p, backends in zip(proxies, lists, strict=True)}
    groups = {"proxy_servers": proxies}
    for backend in ("b1", "b2", "b3"):
        assert relay_attached(backend, hostvars, groups) == any(backend in b for b in lists)
    for proxy, backends in zip(proxies, lists, strict=True):
        assert relay_attached(proxy, hostvars, groups) == bool(backends)
