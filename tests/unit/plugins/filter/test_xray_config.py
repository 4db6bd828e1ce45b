# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The xray_config filter: registration, documentation, errors, omit and tagged values; the
xray_fail_closed filter on the configs it builds.

The builder itself is tested in tests/unit/plugins/module_utils/test_xray_config_builder.py.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from ansible._internal._datatag._tags import Origin
from ansible._internal._templating._utils import Omit
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.edgerelay.proxy.plugins.filter import xray_config as plugin
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config import xray_config
from ansible_collections.edgerelay.proxy.plugins.filter.xray_fail_closed import xray_fail_closed
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    DEFAULTS,
    TRANSPORTS,
    VARIABLES,
    XHTTP_MODES,
    ConfigError,
    build_config,
)
from hypothesis import given
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[4]
PRESETS_DIR = REPO_ROOT / "roles" / "xray" / "files" / "presets"
DOCUMENTATION = yaml.safe_load(plugin.DOCUMENTATION)
INPUT = DOCUMENTATION["options"]["_input"]


def presets():
    return {path.stem: yaml.safe_load(path.read_text()) for path in PRESETS_DIR.glob("*.yml")}


def node(role="proxy"):
    """Both public transports; the relay transport, its options and the fingerprint are the
    defaults, so the documented example gives the same config whether it passes them or not."""
    return {
        "node_role": role,
        "log_level": "warning",
        "dns_hosts": {},
        "public": {
            "inbounds": [
                {"transport": "tcp-vision", "port": 443},
                {"transport": "xhttp", "port": 8444, "path": "/edge", "mode": "auto"},
            ],
            "users": [
                {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice"},
                {"id": "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50", "email": "bob"},
            ],
            "reality": {
                "target": "www.microsoft.com:443",
                "server_names": ["www.microsoft.com"],
                "private_key": "kPo1FMsWZNN0hdTNNanxb1tCnIx9T6B_YTNZ5VUR7VY",
                "short_id": "abcd",
            },
        },
        "relay": {
            "transport": "xhttp",
            "options": {},
            "name": "proxy-service@cluster",
            "server_name": "www.microsoft.com",
            "port": 8443,
            "identity": {
                "uuid": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11",
                "private_key": "yBaw532IIUNuQWDTncozoBaLJmcd1JZzvsHUgVPxMk8",
                "public_key": "7xhH4b_VkliBxGulljcyPOH-bYUA2dl-XAdZAsfhk04",
                "short_id": "0a1b2c3d",
            },
        },
        "pool": {"address": "127.0.0.1", "port": 10443},
        "presets": presets(),
        "preset": "ru",
        "fingerprint": "chrome",
        "own_addresses": ["203.0.113.5", "fe80::1%eth0"],
        "allowed_private_networks": ["10.0.0.0/8"],
    }


def filter_error(document):
    with pytest.raises(AnsibleFilterError) as excinfo:
        xray_config(document)
    return str(excinfo.value)


# Input values documented as a whole: their suboptions (if documented) are the keys of a
# list element or the options of a transport, not input keys of their own.
WHOLE = ("public.inbounds", "relay.options")


def leaves(options, prefix=""):
    """Dotted paths of the documented options without suboptions, with their specs."""
    for name, spec in options.items():
        path = f"{prefix}{name}"
        if "suboptions" in spec and path not in WHOLE:
            yield from leaves(spec["suboptions"], f"{path}.")
        else:
            yield path, spec


# --------------------------------------------------------------------------- registration, docs


def test_filter_is_registered():
    assert plugin.FilterModule().filters() == {"xray_config": xray_config}


def test_documentation():
    yaml.safe_load(plugin.EXAMPLES)
    returned = yaml.safe_load(plugin.RETURN)
    assert DOCUMENTATION["name"] == "xray_config"
    assert DOCUMENTATION["version_added"] == "0.1.0"
    assert DOCUMENTATION["author"] == "edgerelay.proxy contributors"
    assert list(inspect.signature(xray_config).parameters) == ["node"]
    assert list(DOCUMENTATION["options"]) == ["_input"]
    assert set(returned["_value"]["contains"]) == set(build_config(node()))


def test_documented_keys_are_the_builders():
    documented = dict(leaves(INPUT["suboptions"]))
    # Every input value is documented, and names the variable errors about it start with.
    assert set(documented) == set(VARIABLES) | {"presets"}
    for path, variable in VARIABLES.items():
        description = documented[path]["description"]
        text = " ".join(description) if isinstance(description, list) else description
        assert f"C({variable})" in text, path
    # Defaults and transport choices as the builder has them.
    assert {path: spec["default"] for path, spec in documented.items() if "default" in spec} == {
        path: dict(value)
        if isinstance(value, Mapping)
        else list(value)
        if isinstance(value, tuple)
        else value
        for path, value in DEFAULTS.items()
    }
    assert documented["relay.transport"]["choices"] == list(TRANSPORTS)
    inbounds = documented["public.inbounds"]
    assert (inbounds["type"], inbounds["elements"], inbounds.get("required")) == (
        "list",
        "dict",
        True,
    )
    assert documented["relay.options"]["type"] == "dict"
    # Documented keys of an inbound and the relay options: every transport's options.
    options = {name for transport in TRANSPORTS.values() for name in transport.options}
    if "suboptions" in inbounds:
        assert set(inbounds["suboptions"]) == {"transport", "port"} | options
        assert inbounds["suboptions"]["transport"]["choices"] == list(TRANSPORTS)
        if "choices" in inbounds["suboptions"].get("mode", {}):
            assert inbounds["suboptions"]["mode"]["choices"] == list(XHTTP_MODES)
    if "suboptions" in documented["relay.options"]:
        assert set(documented["relay.options"]["suboptions"]) == options


def _trusted(value):
    """Strings of ``value`` marked as templates, as Ansible marks those of a playbook."""
    if isinstance(value, dict):
        return {key: _trusted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_trusted(item) for item in value]
    return trust_as_template(value) if isinstance(value, str) else value


def _role_variables(role, attached):
    """The role's variables for ``node(role)``."""
    document = node(role)
    public, relay = document["public"], document["relay"]
    return {
        "xray_node_role": role,
        "xray_log_level": document["log_level"],
        "xray_api_port": 10085,
        "xray_dns_hosts": document["dns_hosts"],
        "xray_inbounds": public["inbounds"],
        "xray_users": public["users"],
        "xray_reality_target": public["reality"]["target"],
        "xray_reality_server_names": public["reality"]["server_names"],
        "xray_public_keys": {
            "private_key": public["reality"]["private_key"],
            "short_id": public["reality"]["short_id"],
        },
        "xray_relay_attached": attached,
        "xray_relay_transport": relay["transport"],
        "xray_relay_transport_options": relay["options"],
        "xray_relay_name": relay["name"],
        "xray_relay_server_name": relay["server_name"],
        "xray_relay_port": relay["port"],
        "xray_relay_identity": {"changed": False, **relay["identity"]},
        "xray_pool_port": document["pool"]["port"],
        "xray_presets_all": document["presets"],
        "proxy_preset": document["preset"],
        "xray_fingerprint": document["fingerprint"],
        "xray_own_addresses": document["own_addresses"],
        "xray_allowed_private_networks": document["allowed_private_networks"],
    }


@pytest.mark.parametrize(
    ("role", "attached"), [("proxy", True), ("proxy", False), ("backend", True), ("backend", False)]
)
def test_the_documented_example_builds_the_config(role, attached):
    """The EXAMPLES task's input, rendered by Ansible's templar, then through the filter."""
    task = yaml.safe_load(plugin.EXAMPLES)[0]
    variables = {**_trusted(task["vars"]), **_role_variables(role, attached)}
    rendered = Templar(loader=DataLoader(), variables=variables).template(variables["xray_node"])
    expected = node(role)
    if role == "backend" and not attached:
        expected["relay"] = None
    assert xray_config(rendered) == build_config(expected)


# --------------------------------------------------------------------------- behaviour


def test_returns_the_built_config():
    for role in ("proxy", "backend"):
        assert xray_config(node(role)) == build_config(node(role))


def test_the_input_is_not_changed():
    document = node()
    before = copy.deepcopy(document)
    xray_config(document)
    assert document == before


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["public"]["users"][1].update(id="bob"),
            "xray_users[1].id: must be a UUID in canonical form",
        ),
        (lambda d: d.update(preset="xx"), "proxy_preset: unknown preset 'xx' (known: ru)"),
        (lambda d: d.update(node_role="vpn"), "xray_node_role: must be proxy or backend"),
        (lambda d: d.update(relay=None), "xray_relay_identity: is required on a proxy"),
        (
            lambda d: d["public"]["reality"].update(target="microsoft"),
            "xray_reality_target: must be host:port",
        ),
        (lambda d: d.update(extra=1), "xray_config: the input: unknown key 'extra'"),
    ],
)
def test_errors_start_with_the_variable(change, expected):
    document = node()
    change(document)
    message = filter_error(document)
    assert message.startswith(expected), message
    with pytest.raises(ConfigError) as excinfo:
        build_config(document)
    assert message == str(excinfo.value)


@pytest.mark.parametrize("value", [None, "proxy", ["proxy"]])
def test_the_input_must_be_a_mapping(value):
    assert filter_error(value).startswith("xray_config: the input must be a mapping")


@pytest.mark.parametrize("omit", [Omit, "__omit_place_holder__0123abcd"], ids=["2.19", "old"])
def test_omitted_values_count_as_left_out(omit):
    document = node("backend")
    document["relay"] = omit
    document["dns_hosts"] = omit
    document["public"]["inbounds"][1]["path"] = omit
    document["public"]["inbounds"].append(omit)
    document["public"]["users"].append(omit)
    expected = node("backend")
    del expected["relay"], expected["dns_hosts"]
    del expected["public"]["inbounds"][1]["path"]
    assert xray_config(document) == build_config(expected)

    document = node("backend")
    document["relay"]["transport"] = omit
    document["relay"]["options"] = omit
    assert xray_config(document) == build_config(node("backend"))

    document = node("proxy")
    document["fingerprint"] = omit
    document["pool"]["address"] = omit
    assert xray_config(document) == build_config(node("proxy"))


def _origin_tagged(value):
    """``value`` with Ansible's data tags on every container and scalar, as vars are."""
    origin = Origin(path="/inventory/group_vars/all.yml", line_num=1)
    if isinstance(value, dict):
        return origin.tag({key: _origin_tagged(item) for key, item in value.items()})
    if isinstance(value, list):
        return origin.tag([_origin_tagged(item) for item in value])
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return origin.tag(value)
    return value


def _types(value):
    if isinstance(value, dict):
        yield type(value)
        for key, item in value.items():
            yield type(key)
            yield from _types(item)
    elif isinstance(value, list):
        yield type(value)
        for item in value:
            yield from _types(item)
    else:
        yield type(value)


@pytest.mark.parametrize("role", ["proxy", "backend"])
def test_tagged_values_give_a_plain_config(role):
    tagged = _origin_tagged(node(role))
    assert type(tagged["public"]["inbounds"][0]["port"]) is not int  # really tagged
    config = xray_config(tagged)
    assert config == build_config(node(role))
    assert set(_types(config)) <= {dict, list, str, int, bool}


# --------------------------------------------------------------------------- properties

CHANGES = st.sampled_from(
    [
        (("public", "inbounds", 0, "port"), "0", "xray_inbounds[0].port"),
        (("public", "inbounds", 1, "port"), True, "xray_inbounds[1].port"),
        (("public", "inbounds", 1, "port"), 443, "xray_inbounds[1].port"),
        (("public", "inbounds", 1, "mode"), "fast", "xray_inbounds[1].mode"),
        (("public", "inbounds", 0, "path"), "/", "xray_inbounds[0].path"),
        (("public", "inbounds"), [], "xray_inbounds"),
        (("public", "users", 1, "fingerprint"), "unsafe", "xray_users[1].fingerprint"),
        (("relay", "options"), {"path": "relay"}, "xray_relay_transport_options.path"),
        (("relay", "transport"), "tcp", "xray_relay_transport"),
        (("fingerprint",), "unsafe", "xray_fingerprint"),
        (("pool", "port"), 8444, "xray_pool_port"),
        (("public", "users"), "alice", "xray_users"),
        (("public", "users", 0, "email"), "", "xray_users[0].email"),
        (("public", "users", 0, "email"), "../alice", "xray_users[0].email"),
        (("api_port",), 8444, "xray_api_port"),
        (("public", "reality", "short_id"), "xyz", "xray_reality_short_id"),
        (("public", "reality", "server_names"), [], "xray_reality_server_names"),
        (("relay", "server_name"), "bad name", "xray_relay_server_name"),
        (("relay", "identity", "uuid"), "relay", "xray_relay_identity.uuid"),
        (("pool", "port"), 65536, "xray_pool_port"),
        (("log_level",), "a\nb", "xray_log_level"),
        (("preset",), 5, "proxy_preset"),
    ]
)


@given(CHANGES, st.sampled_from(["proxy", "backend"]))
def test_every_error_is_a_filter_error_naming_the_variable(change, role):
    path, value, variable = change
    document = node(role)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    if role == "backend" and path[0] in ("pool", "preset", "fingerprint"):
        assert xray_config(document) == build_config(node(role))  # ignored on a backend
        return
    assert filter_error(document).startswith(f"{variable}: ")


# --------------------------------------------------------------------------- xray_fail_closed


def test_the_fail_closed_filter_checks_the_node_itself_when_given_own_addresses():
    """The built configs pass the filter with their own addresses; a direct rule moved
    ahead of the block rules fails, prefixed, and only when own_addresses is given."""
    document = node()
    config = xray_config(document)
    own = document["own_addresses"]
    assert xray_fail_closed(config, own_addresses=own) is config
    rules = config["routing"]["rules"]
    rules.insert(0, rules.pop(2))  # the first preset rule (geosite, to direct) goes first
    assert xray_fail_closed(config) is config
    with pytest.raises(AnsibleFilterError) as excinfo:
        xray_fail_closed(config, own_addresses=own)
    assert str(excinfo.value).startswith(
        "xray_fail_closed: routing.rules[0]: can send traffic to direct outbound 'direct' "
        "before 0.0.0.0/8, 127.0.0.0/8"
    )
