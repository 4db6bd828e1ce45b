# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The classification of a config change: none, live (users only) or restart, and why.

Examples on the builder's configs, then properties: applying ``add`` and ``remove`` to the
old config's clients gives the new config; a change anywhere but the users of a user
inbound is never live; reasons and summaries never hold an id or a key.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_change import (
    apply_change,
    classify,
    plan,
    summary,
    user_inbounds,
    users_to_apply,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import build_config
from hypothesis import given
from hypothesis import strategies as st
from test_xray_config_builder import ALICE, BOB, node, xhttp_node
from xray_strategies import FEWER, nodes

BOTH = ("proxy", "backend")
CAROL = {"id": "3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "email": "carol"}
NEW_ID = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def with_users(document, users):
    document = copy.deepcopy(document)
    document["public"]["users"] = copy.deepcopy(users)
    return document


def by_email(clients):
    return {client["email"].lower(): client for client in clients}


def same_but_order(left, right):
    """Two configs equal but for the order of the clients of their inbounds."""
    left, right = copy.deepcopy(left), copy.deepcopy(right)
    for config in (left, right):
        for inbound in config.get("inbounds", []):
            inbound["settings"]["clients"] = sorted(
                inbound["settings"]["clients"], key=lambda c: c["email"].lower()
            )
    return left == right


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("role", BOTH)
def test_equal_configs_change_nothing(role):
    config = build_config(xhttp_node(role))
    for installed in (config, json.dumps(config, indent=2), copy.deepcopy(config)):
        assert classify(installed, config) == {
            "mode": "none",
            "reasons": [],
            "add": {},
            "remove": {},
        }
    assert plan(json.dumps(config), config)["summary"] == "xray: no change"


@pytest.mark.parametrize("role", BOTH)
def test_users_added_removed_and_changed_live(role):
    """bob removed, carol added, alice's id changed: on every user inbound, never relay."""
    old = build_config(xhttp_node(role))
    new_users = [{**ALICE, "id": NEW_ID}, CAROL]
    new = build_config(with_users(xhttp_node(role), new_users))
    change = plan(json.dumps(old), new)
    base = "public" if role == "proxy" else "client"
    tags = [f"{base}-443", f"{base}-8444"]
    flows = {tags[0]: {"flow": "xtls-rprx-vision"}, tags[1]: {}}
    assert change["mode"] == "live"
    assert change["reasons"] == [f"users of {tag}" for tag in tags]
    assert change["remove"] == {tag: ["alice", BOB["email"]] for tag in tags}
    assert change["add"] == {
        tag: [{**ALICE, "id": NEW_ID, **flows[tag]}, {**CAROL, **flows[tag]}] for tag in tags
    }
    assert "relay" not in change["add"] and "relay" not in change["remove"]
    assert change["summary"] == (
        "xray: users changed live (added: carol; removed: bob@example.org; changed: alice), "
        "no restart"
    )
    assert same_but_order(apply_change(old, change), new)


def test_only_the_order_of_the_users_changed():
    old = build_config(node())
    new = build_config(with_users(node(), [BOB, ALICE]))
    change = plan(old, new)
    assert (change["mode"], change["add"], change["remove"]) == ("live", {}, {})
    assert change["reasons"] == ["order of users of public-443"]
    assert change["summary"] == "xray: users changed live (order of the users only), no restart"


def test_a_renamed_user_by_case_is_removed_and_added():
    old = build_config(node())
    new = build_config(with_users(node(), [{**ALICE, "email": "Alice"}, BOB]))
    change = classify(old, new)
    assert change["remove"] == {"public-443": ["alice"]}
    assert [client["email"] for client in change["add"]["public-443"]] == ["Alice"]


def _changed(role, change):
    document = xhttp_node(role)
    change(document)
    return build_config(document)


@pytest.mark.parametrize(
    ("role", "change", "reasons"),
    [
        (
            "proxy",
            lambda d: d["public"]["inbounds"][1].update(port=8445),
            ["inbound public-8445 added", "inbound public-8444 removed"],
        ),
        (
            "proxy",
            lambda d: d["public"]["inbounds"][1].update(mode="stream-up"),
            ["inbound public-8444: xhttp settings"],
        ),
        (
            "proxy",
            lambda d: d["public"]["inbounds"].__setitem__(
                1, {"transport": "tcp-vision", "port": 8444}
            ),
            # The clients get Vision's flow: a user change, part of the restart.
            ["inbound public-8444: transport", "inbound public-8444: xhttp settings"],
        ),
        (
            "proxy",
            lambda d: d["public"]["reality"].update(
                private_key="yBaw532IIUNuQWDTncozoBaLJmcd1JZzvsHUgVPxMk8"
            ),
            ["REALITY keys of public-443", "REALITY keys of public-8444"],
        ),
        (
            "proxy",
            lambda d: d["public"]["reality"].update(short_id="abcdef"),
            ["REALITY short ids of public-443", "REALITY short ids of public-8444"],
        ),
        (
            "proxy",
            lambda d: d["public"]["reality"].update(target="www.example.org:443"),
            ["REALITY target of public-443", "REALITY target of public-8444"],
        ),
        (
            "proxy",
            lambda d: d["public"]["reality"].update(server_names=["www.microsoft.com"]),
            ["REALITY server names of public-443", "REALITY server names of public-8444"],
        ),
        (
            "proxy",
            lambda d: d.update(preset="t", presets={"t": {"name": "t", "direct": []}}),
            ["routing"],
        ),
        ("proxy", lambda d: d["pool"].update(port=10444), ["outbounds"]),
        ("proxy", lambda d: d.update(fingerprint="firefox"), ["outbounds"]),
        ("proxy", lambda d: d.update(log_level="info"), ["log"]),
        ("proxy", lambda d: d.update(dns_hosts={}), ["dns"]),
        ("proxy", lambda d: d.update(api_port=10086), ["api (Xray's local API)"]),
        (
            "backend",
            lambda d: d["relay"]["identity"].update(uuid=NEW_ID),
            ["the relay identity (inbound relay)"],
        ),
        (
            "backend",
            lambda d: d["relay"].update(name="relay"),
            ["the relay identity (inbound relay)"],
        ),
        ("backend", lambda d: d["relay"].update(port=9443), ["inbound relay: port"]),
        ("backend", lambda d: d.update(relay=None), ["inbound relay removed"]),
        (
            "backend",
            lambda d: d["public"]["inbounds"].append({"transport": "xhttp", "port": 8445}),
            ["inbound client-8445 added"],
        ),
    ],
)
def test_what_needs_a_restart_and_why(role, change, reasons):
    old = build_config(xhttp_node(role))
    new = _changed(role, change)
    result = plan(json.dumps(old), new)
    assert (result["mode"], result["add"], result["remove"]) == ("restart", {}, {})
    assert result["reasons"] == reasons
    assert result["summary"] == "xray: restart needed: " + "; ".join(reasons)


def test_a_user_change_with_a_restart_is_a_restart():
    old = build_config(node())
    document = with_users(node(), [CAROL])
    document["log_level"] = "info"
    assert classify(old, build_config(document)) == {
        "mode": "restart",
        "reasons": ["log"],
        "add": {},
        "remove": {},
    }


def test_a_port_change_that_keeps_the_tag():
    old = build_config(node())
    new = copy.deepcopy(old)
    new["inbounds"][0]["port"] = 444
    new["inbounds"][0]["listen"] = "127.0.0.1"
    assert classify(old, new)["reasons"] == [
        "inbound public-443: listen address",
        "inbound public-443: port",
    ]


def test_a_key_added_with_a_null_value_or_inbounds_left_out_are_changes():
    old = build_config(node("backend"))
    new = copy.deepcopy(old)
    new["inbounds"][0]["sniffing"] = None
    assert classify(old, new)["reasons"] == ["inbound client-443: sniffing"]
    new = copy.deepcopy(old)
    new["inbounds"][1]["streamSettings"]["realitySettings"]["show"] = None
    assert classify(old, new)["reasons"] == ["REALITY settings of relay"]
    new = copy.deepcopy(old)
    new["reverse"] = None
    assert classify(old, new)["reasons"] == ["section reverse"]
    assert classify({**old, "inbounds": []}, {**old, "inbounds": []})["mode"] == "none"
    without = {key: value for key, value in old.items() if key != "inbounds"}
    assert classify(without, {**without, "inbounds": []})["reasons"] == ["inbounds"]


@pytest.mark.parametrize(
    ("installed", "reason"),
    [
        (None, "no config installed yet"),
        ("", "no config installed yet"),
        (" \n", "no config installed yet"),
        ('{"log": ', "the installed config is not valid JSON"),
        ("[1, 2]", "the installed config is not a JSON object"),
        ([1, 2], "the installed config is not a JSON object"),
    ],
)
def test_without_a_readable_installed_config_it_is_a_restart(installed, reason):
    change = plan(installed, build_config(node()))
    assert (change["mode"], change["reasons"]) == ("restart", [reason])
    assert change["summary"] == f"xray: restart needed: {reason}"


def test_not_running_and_other_restart_reasons():
    old = build_config(node())
    new = build_config(with_users(node(), [ALICE]))
    change = plan(old, new, running=False)
    assert (change["mode"], change["add"], change["remove"]) == ("restart", {}, {})
    assert change["reasons"] == ["xray.service is not running", "users of public-443"]
    assert plan(old, old, running=False) == {
        "mode": "none",
        "reasons": [],
        "add": {},
        "remove": {},
        "summary": "xray: no change to the config; xray.service is not running, starting it",
    }
    unit = plan(old, old, restart_reasons=["the systemd unit changed"])
    assert (unit["mode"], unit["reasons"]) == ("restart", ["the systemd unit changed"])
    both = plan(old, new, restart_reasons=["the systemd unit changed"])
    assert both["reasons"] == ["users of public-443", "the systemd unit changed"]
    assert both["add"] == {} and both["remove"] == {}


def test_clients_without_names_or_with_the_same_name_are_a_restart():
    old = build_config(node())
    new = copy.deepcopy(old)
    new["inbounds"][0]["settings"]["clients"].append({"id": CAROL["id"]})
    assert classify(old, new)["reasons"] == [
        "inbound public-443: a user without a name, or two with the same name"
    ]
    new["inbounds"][0]["settings"]["clients"][-1]["email"] = "ALICE"
    assert classify(old, new)["mode"] == "restart"


def test_the_new_config_must_be_a_mapping():
    with pytest.raises(TypeError):
        classify(None, [])


def test_user_inbounds_leave_out_relay():
    assert user_inbounds(build_config(xhttp_node("backend"))) == ["client-443", "client-8444"]
    assert user_inbounds(build_config(xhttp_node("proxy"))) == ["public-443", "public-8444"]
    assert user_inbounds({"inbounds": "x"}) == []


def test_users_to_apply():
    alice = {"email": "alice", "id": "1"}
    assert users_to_apply([alice], [alice]) == ([], [])
    assert users_to_apply([alice], [{"email": "ALICE", "id": "1"}]) == (
        [{"email": "ALICE", "id": "1"}],
        ["alice"],
    )
    assert users_to_apply([], [alice]) == ([alice], [])
    assert users_to_apply([alice], []) == ([], ["alice"])
    with pytest.raises(ValueError):
        users_to_apply([{"id": "1"}], [])
    with pytest.raises(ValueError):
        users_to_apply([], [alice, {"email": "Alice", "id": "2"}])


def test_summary_lists_each_name_once():
    change = {
        "mode": "live",
        "reasons": [],
        "add": {"a": [{"email": "bob"}], "b": [{"email": "bob"}]},
        "remove": {"a": ["carol"], "b": ["carol"]},
    }
    assert summary(change) == "xray: users changed live (added: bob; removed: carol), no restart"


# --------------------------------------------------------------------------- properties

# Few names and ids, so that old and new users overlap, change ids and change case.
_POOL_IDS = [
    "00000000-0000-4000-8000-000000000001",
    "00000000-0000-4000-8000-000000000002",
    "00000000-0000-4000-8000-000000000003",
    "00000000-0000-4000-8000-000000000004",
    "00000000-0000-4000-8000-000000000005",
]
_POOL_NAMES = ["alice", "Alice", "bob", "carol", "dave@example.org", "eve+1"]
POOL_USERS = st.lists(
    st.tuples(st.sampled_from(_POOL_NAMES), st.sampled_from(_POOL_IDS)),
    max_size=5,
    unique_by=(lambda pair: pair[0].lower(), lambda pair: pair[1]),
).map(lambda pairs: [{"id": user_id, "email": name} for name, user_id in pairs])


@given(st.sampled_from(BOTH).flatmap(nodes), POOL_USERS, POOL_USERS)
def test_applying_the_change_gives_the_new_config(document, old_users, new_users):
    old = build_config(with_users(document, old_users))
    new = build_config(with_users(document, new_users))
    change = classify(json.dumps(old), new)
    assert change["mode"] == ("none" if old == new else "live")
    applied = apply_change(old, change)
    assert same_but_order(applied, new)
    for inbound_old, inbound_new in zip(old["inbounds"], new["inbounds"], strict=True):
        tag = inbound_new["tag"]
        if tag == "relay":
            assert tag not in change["add"] and tag not in change["remove"]
            continue
        before = by_email(inbound_old["settings"]["clients"])
        after = by_email(inbound_new["settings"]["clients"])
        removed = {email.lower() for email in change["remove"].get(tag, [])}
        added = by_email(change["add"].get(tag, []))
        # Only what differs: kept users are neither removed nor added.
        assert removed == {k for k in before if k not in after or before[k] != after[k]}
        assert added == {k: c for k, c in after.items() if k not in before or before[k] != c}


def _paths(value, path=()):
    """Every path into a config: ``(path, value)``, containers too."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _under_user_clients(config, path):
    """A path inside the clients of a user inbound (what may change live)."""
    if len(path) < 4 or path[0] != "inbounds" or path[2:4] != ("settings", "clients"):
        return False
    return config["inbounds"][path[1]]["tag"] != "relay"


SENTINELS = st.sampled_from(["changed-value", 4242, None, True, [], {"x": 1}])


@st.composite
def mutations(draw, config):
    """``config`` changed at one place that is not the users of a user inbound: a value
    replaced, a key deleted, or a key added to a mapping."""
    candidates = [
        path for path, _ in _paths(config) if path and not _under_user_clients(config, path)
    ]
    path = draw(st.sampled_from(candidates))
    changed = copy.deepcopy(config)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent[path[-1]], dict):
        parent[path[-1]]["edgerelayExtra"] = draw(SENTINELS)
    else:
        value = draw(SENTINELS.filter(lambda v: v != parent[path[-1]]))
        parent[path[-1]] = value
    return changed


@FEWER
@given(st.sampled_from(BOTH).flatmap(nodes), POOL_USERS, st.data())
def test_anything_but_the_users_is_never_live(document, new_users, data):
    old = build_config(document)
    with_new_users = build_config(with_users(document, new_users))
    changed = data.draw(mutations(with_new_users))
    assert changed != old
    change = classify(json.dumps(old), changed)
    assert change["mode"] == "restart", change["reasons"]
    assert change["reasons"] and change["add"] == {} and change["remove"] == {}


def _secrets(*documents):
    """The ids and keys of builder inputs, and their short ids."""
    long_secrets, short_ids = set(), set()
    for document in documents:
        reality = document["public"]["reality"]
        long_secrets.add(reality["private_key"])
        short_ids.add(reality["short_id"])
        long_secrets |= {user["id"] for user in document["public"]["users"]}
        relay = document.get("relay")
        if relay:
            identity = relay["identity"]
            long_secrets |= {identity["uuid"], identity["private_key"], identity["public_key"]}
            short_ids.add(identity["short_id"])
    return long_secrets, short_ids


def _assert_no_secret(texts, long_secrets, short_ids):
    text = "\n".join(texts)
    assert not UUID_RE.search(text), text
    for secret in long_secrets:
        assert secret.lower() not in text.lower(), text
    # Short ids as whole words; all-digit ones would be ports of inbound tags.
    words = {word.lower() for word in re.split(r"[^0-9A-Za-z]+", text)}
    assert not {s.lower() for s in short_ids if not s.isdigit()} & words, text


@FEWER
@given(st.sampled_from(BOTH).flatmap(nodes), st.sampled_from(BOTH).flatmap(nodes), st.data())
def test_reasons_never_hold_an_id_or_a_key(first, second, data):
    """Between any two configs (other node, other keys, other users, changed by hand), the
    reasons and the summary name no id, no key, no short id."""
    old = build_config(first)
    new = build_config(
        data.draw(st.sampled_from([second, with_users(first, second["public"]["users"])]))
    )
    if data.draw(st.booleans()):
        new = data.draw(mutations(new))
    long_secrets, short_ids = _secrets(first, second)
    for installed in (old, json.dumps(old), None):
        change = plan(installed, new, running=data.draw(st.booleans()))
        _assert_no_secret([*change["reasons"], change["summary"]], long_secrets, short_ids)
