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
    # A host of both groups: one order that keeps both plays' (haproxy before xray).
    assert play_roles(PLAYS, ["proxy_servers", "vpn_servers"]) == ["common", "haproxy", "xray"]
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


def _stack_plays():
    return [
        play
        for name in ("mtproxy.yml", "xray.yml")
        for play in yaml.safe_load((PLAYBOOKS / name).read_text(encoding="utf-8"))
    ]


def test_the_roles_of_all_stacks_in_one_order_that_keeps_each_plays():
    """What playbooks/plan.yml walks on every host: xray before monitoring and verify,
    although the MTProxy play, which has no xray, comes first."""
    groups = ["mtproxy_servers", "proxy_servers", "vpn_servers"]
    assert play_roles(_stack_plays(), groups) == [
        "common",
        "tproxy",
        "mtproxy",
        "haproxy",
        "xray",
        "monitoring",
        "verify",
    ]


def test_plays_in_contradicting_orders_fail():
    plays = [
        {"hosts": "a", "roles": ["edgerelay.proxy.x", "edgerelay.proxy.y"]},
        {"hosts": "b", "roles": ["edgerelay.proxy.y", "edgerelay.proxy.x"]},
    ]
    assert play_roles(plays, ["a"]) == ["x", "y"]
    with pytest.raises(AnsibleFilterError, match="contradicting orders"):
        play_roles(plays, ["a", "b"])


_NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])


@st.composite
def consistent_plays(draw):
    """Plays whose role lists are subsequences of one hidden order."""
    order = draw(st.permutations(["a", "b", "c", "d", "e", "f"]))
    plays = []
    for index in range(draw(st.integers(1, 4))):
        chosen = draw(st.sets(_NAMES, min_size=1))
        roles = [f"edgerelay.proxy.{name}" for name in order if name in chosen]
        plays.append({"hosts": f"g{index}", "roles": roles})
    return plays


@given(consistent_plays())
def test_every_play_keeps_its_order_in_the_merged_list(plays):
    groups = [play["hosts"] for play in plays]
    merged = play_roles(plays, groups)
    assert sorted(merged) == sorted({role.split(".")[-1] for p in plays for role in p["roles"]})
    for play in plays:
        names = [role.split(".")[-1] for role in play["roles"]]
        positions = [merged.index(name) for name in names]
        assert positions == sorted(positions)
        # One group alone: exactly that play's roles, in its order.
        assert (
            play_roles(plays, [play["hosts"]]) == names
            or len([p for p in plays if p["hosts"] == play["hosts"]]) > 1
        )
