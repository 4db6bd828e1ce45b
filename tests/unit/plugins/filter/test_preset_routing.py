# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preset_routing and xray_fail_closed filters, called directly."""

from __future__ import annotations

import inspect

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter import preset_routing as routing_plugin
from ansible_collections.edgerelay.proxy.plugins.filter import xray_fail_closed as check_plugin
from ansible_collections.edgerelay.proxy.plugins.filter.preset_routing import preset_routing
from ansible_collections.edgerelay.proxy.plugins.filter.xray_fail_closed import xray_fail_closed
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.preset_routing import RU_RULES, config, presets


def filter_error(function, *args, **kwargs):
    with pytest.raises(AnsibleFilterError) as excinfo:
        function(*args, **kwargs)
    return str(excinfo.value)


# --------------------------------------------------------------------------- registration, docs


def test_filters_are_registered():
    assert routing_plugin.FilterModule().filters() == {"preset_routing": preset_routing}
    assert check_plugin.FilterModule().filters() == {"xray_fail_closed": xray_fail_closed}


@pytest.mark.parametrize("plugin", [routing_plugin, check_plugin], ids=lambda p: p.__name__)
def test_documentation_matches_the_signature(plugin):
    name = plugin.__name__.rsplit(".", 1)[-1]
    documentation = yaml.safe_load(plugin.DOCUMENTATION)
    yaml.safe_load(plugin.EXAMPLES)
    yaml.safe_load(plugin.RETURN)
    assert documentation["name"] == name
    parameters = list(inspect.signature(getattr(plugin, name)).parameters)
    assert sorted(documentation["options"]) == sorted(["_input", *parameters[1:]])
    for option, spec in documentation["options"].items():
        if "default" in spec:
            assert (
                inspect.signature(getattr(plugin, name)).parameters[option].default
                == (spec["default"])
            )


# --------------------------------------------------------------------------- preset_routing


def test_ru():
    assert preset_routing(presets(), "ru") == {"domainStrategy": "IPIfNonMatch", "rules": RU_RULES}


def test_unknown_preset_message():
    message = filter_error(preset_routing, {**presets(), "by": {}}, "xx")
    assert message == "proxy_preset: unknown preset 'xx' (known: by, ru)"


def test_name_is_required():
    assert filter_error(preset_routing, presets()) == "proxy_preset: the preset name is required"


def test_schema_errors_are_prefixed():
    document = {"name": "ru", "direct": [{"type": "geoip", "value": "ru"}, {"type": "x"}]}
    message = filter_error(preset_routing, {"ru": document}, "ru")
    assert message.startswith("proxy_preset: preset 'ru' direct[1]: type must be one of")


class _OmitType:
    """Stands in for ansible-core 2.19's omit sentinel (matched by type name)."""


@pytest.mark.parametrize(
    "omitted", [None, _OmitType(), "__omit_place_holder__0123abcd"], ids=["none", "2.19", "old"]
)
def test_omitted_inbound_tags_mean_all_inbounds(omitted):
    routing = preset_routing(presets(), "ru", inbound_tags=omitted)
    assert routing["rules"] == RU_RULES


def test_inbound_tags_and_tags_are_passed_on():
    routing = preset_routing(
        presets(), "ru", direct_tag="d", pool_tag="p", inbound_tags=["in"], domain_strategy="AsIs"
    )
    assert routing["domainStrategy"] == "AsIs"
    assert {rule["outboundTag"] for rule in routing["rules"]} == {"d", "p"}
    assert all(rule["inboundTag"] == ["in"] for rule in routing["rules"])


# --------------------------------------------------------------------------- xray_fail_closed


def test_fail_closed_returns_the_config_unchanged():
    document = config(preset_routing(presets(), "ru"))
    assert xray_fail_closed(document) is document


def test_fail_closed_error_is_prefixed():
    document = config(preset_routing(presets(), "ru"))
    document["outbounds"].reverse()
    message = filter_error(xray_fail_closed, document)
    assert message.startswith("xray_fail_closed: outbounds[0]: is 'direct'; Xray sends")


def test_fail_closed_custom_tags():
    routing = preset_routing(presets(), "ru", direct_tag="out", pool_tag="pool")
    document = {"outbounds": [{"tag": "pool"}, {"tag": "out"}], "routing": routing}
    assert xray_fail_closed(document, pool_tag="pool", direct_tag="out") is document
    assert "must be the pool 'foreign-pool'" in filter_error(xray_fail_closed, document)


@given(st.sampled_from(RU_RULES[:-1]), st.integers(0, 4))
def test_moving_the_catch_all_is_caught(rule, position):
    rules = [dict(r) for r in RU_RULES[:-1]]
    rules.remove(rule)
    rules.insert(position, dict(RU_RULES[-1]))
    rules.append(rule)
    message = filter_error(xray_fail_closed, config({"rules": rules}))
    assert message.startswith("xray_fail_closed: routing.rules[")
