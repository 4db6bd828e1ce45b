# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter.play_roles import FilterModule, play_roles
from hypothesis import given
from hypothesis import strategies as st

PLAYBOOKS = Path(__file__).resolve().parents[4] / "playbooks"

PLAYS = [
    {"import_playbook": "plan.yml"},
    {
        "hosts": "vpn_servers",
        "roles": [{"role": "edgerelay.proxy.common", "tags": ["setup"]}, "edgerelay.proxy.xray"],
    },
    {
        "hosts": "proxy_servers",
        "roles": [
            {"role": "edgerelay.proxy.common"},
            {"role": "edgerelay.proxy.haproxy"},
            {"name": "edgerelay.proxy.xray"},
        ],
    },
]


def test_filter_is_registered():
    assert FilterModule().filters() == {"play_roles": play_roles}


def test_roles_of_the_host_groups_in_order_each_once():
    assert play_roles(PLAYS, ["vpn_servers"]) == ["common", "xray"]
    assert play_roles(PLAYS, ["proxy_servers"]) == ["common", "haproxy", "xray"]
    assert play_roles(PLAYS, ["proxy_servers", "vpn_servers"]) == ["common", "xray", "haproxy"]
    assert play_roles(PLAYS, ["mtproxy_servers"]) == []


@pytest.mark.parametrize("hosts", ["all", "a:b", "b,a", ["x", "a"], "x:a,y"])
def test_host_patterns_of_group_names(hosts):
    assert play_roles([{"hosts": hosts, "roles": ["edgerelay.proxy.r"]}], ["a"]) == ["r"]


@pytest.mark.parametrize("hosts", ["a:!b", "a:&b", "web*", "{{ groups }}", None, 3])
def test_patterns_that_could_miss_a_host_fail(hosts):
    with pytest.raises(AnsibleFilterError, match=r"play_roles: plays\[0\]"):
        play_roles([{"hosts": hosts, "roles": ["edgerelay.proxy.r"]}], ["a"])


def test_roles_of_other_collections_and_nameless_entries_fail():
    with pytest.raises(AnsibleFilterError, match="another collection"):
        play_roles([{"hosts": "a", "roles": ["community.general.x"]}], ["a"])
    with pytest.raises(AnsibleFilterError, match="without a role name"):
        play_roles([{"hosts": "a", "roles": [{"tags": ["x"]}]}], ["a"])


def test_bad_input_fails():
    with pytest.raises(AnsibleFilterError, match="expects a list of plays"):
        play_roles({"hosts": "a"}, ["a"])
    with pytest.raises(AnsibleFilterError, match="group_names is required"):
        play_roles(PLAYS)
    with pytest.raises(AnsibleFilterError, match=r"plays\[0\] is not a play"):
        play_roles(["x"], ["a"])


@pytest.mark.parametrize("playbook", ["mtproxy.yml", "xray.yml"])
def test_every_play_of_the_shipped_playbooks_is_readable(playbook):
    plays = yaml.safe_load((PLAYBOOKS / playbook).read_text())
    groups = {
        group
        for play in plays
        if "hosts" in play and "{{" not in str(play["hosts"])
        for group in str(play["hosts"]).split(":")
    }
    for group in groups:
        assert play_roles(plays, [group]), f"{playbook}: no role for {group}"


@given(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3))
def test_result_is_the_ordered_union_of_the_matching_plays(groups):
    plays = [
        {"hosts": "a", "roles": ["edgerelay.proxy.r1", "edgerelay.proxy.r2"]},
        {"hosts": "b:c", "roles": ["edgerelay.proxy.r2", "edgerelay.proxy.r3"]},
    ]
    expected = []
    for play in plays:
        if set(play["hosts"].split(":")) & (set(groups) | {"all"}):
            expected += [
                r.split(".")[-1] for r in play["roles"] if r.split(".")[-1] not in expected
            ]
    assert play_roles(plays, groups) == expected
