# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fail-closed check of a complete Xray config of a proxy node, and the check that
no Xray user reaches the node itself (both node kinds)."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_fail_closed import (
    FailClosedError,
    check_fail_closed,
    check_local_blocked,
    check_rules,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import (
    preset_routing,
)
from hypothesis import given
from hypothesis import strategies as st
from xray_strategies import FEWER, config_for, outbounds, preset, presets, shipped_presets


def fail_closed_error(config, **kwargs):
    with pytest.raises(FailClosedError) as excinfo:
        check_fail_closed(config, **kwargs)
    return excinfo.value


# --------------------------------------------------------------------------- fail-closed examples


def good_config():
    routing = preset_routing(shipped_presets(), "ru")
    routing["rules"].insert(0, {"type": "field", "inboundTag": ["api"], "outboundTag": "api"})
    config = config_for(routing, ("foreign-pool", "direct", "block", "api"))
    config["routing"]["balancers"] = [
        {"tag": "pool-lb", "selector": ["foreign-"], "fallbackTag": "block"}
    ]
    return config


def test_good_config_passes():
    check_fail_closed(good_config())


def test_untagged_outbounds_may_repeat():
    config = good_config()
    config["outbounds"] += [{"protocol": "blackhole"}, {"protocol": "blackhole"}]
    check_fail_closed(config)


def test_final_catch_all_may_be_limited_to_inbounds():
    config = good_config()
    config["routing"]["rules"][-1]["inboundTag"] = ["vless-in"]
    check_fail_closed(config)


def mutate(change):
    config = good_config()
    change(config)
    return config


def _rules(config):
    return config["routing"]["rules"]


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (
            lambda c: c["outbounds"].reverse(),
            "outbounds[0]",
            "is 'api'; Xray sends unmatched traffic to the first outbound",
        ),
        (
            lambda c: c["outbounds"].insert(0, c["outbounds"].pop(1)),
            "outbounds[0]",
            "must be the pool 'foreign-pool'",
        ),
        (
            lambda c: c["outbounds"][0].update(protocol="freedom"),
            "outbounds[0]",
            "uses protocol freedom",
        ),
        (
            lambda c: c["outbounds"].append({"tag": "direct", "protocol": "freedom"}),
            "outbounds[4]",
            "tag 'direct' is used twice",
        ),
        (lambda c: c.update(outbounds=[]), "outbounds", "must be a non-empty list"),
        (lambda c: c.pop("routing"), "routing", "is required"),
        (lambda c: _rules(c).pop(), "routing.rules[3]", "the last rule must be the explicit"),
        (lambda c: c["routing"].update(rules=[]), "routing.rules", "must be a non-empty list"),
        (
            lambda c: _rules(c)[-1].update(outboundTag="direct"),
            "routing.rules[4]",
            "without a destination condition",
        ),
        (
            lambda c: _rules(c)[-1].update(outboundTag="block"),
            "routing.rules[4]",
            "the catch-all must send to outboundTag 'foreign-pool', not 'block'",
        ),
        (
            lambda c: _rules(c)[-1].update(network="tcp"),
            "routing.rules[4]",
            "the last rule must be the explicit catch-all",
        ),
        (
            lambda c: _rules(c)[-1].update(port="443"),
            "routing.rules[4]",
            "the last rule must be the explicit catch-all",
        ),
        (
            lambda c: _rules(c)[-1].pop("network"),
            "routing.rules[4]",
            "the last rule must be the explicit catch-all",
        ),
        (
            lambda c: _rules(c).insert(2, {"network": "tcp,udp", "outboundTag": "block"}),
            "routing.rules[2]",
            "matches all traffic, so the rules after it are never used",
        ),
        (
            lambda c: _rules(c).insert(1, {"port": "443", "outboundTag": "direct"}),
            "routing.rules[1]",
            "to direct outbound 'direct' without a destination condition",
        ),
        (
            lambda c: _rules(c).insert(1, {"inboundTag": ["x"], "outboundTag": "direct"}),
            "routing.rules[1]",
            "that is a catch-all to direct",
        ),
        (
            lambda c: _rules(c).insert(1, {"domian": ["ru"], "outboundTag": "direct"}),
            "routing.rules[1]",
            "keys Xray does not know and ignores: domian",
        ),
        (
            lambda c: _rules(c).insert(1, {"ip": ["geoip:!ru"], "outboundTag": "direct"}),
            "routing.rules[1].ip[0]",
            "is negated and matches everything outside the list",
        ),
        (
            lambda c: _rules(c).insert(1, {"ip": ["10.0.0.0/8", "::/0"], "outboundTag": "direct"}),
            "routing.rules[1].ip[1]",
            "'::/0' covers every address",
        ),
        (
            lambda c: _rules(c).insert(1, {"domain": ["regexp:."], "outboundTag": "direct"}),
            "routing.rules[1].domain[0]",
            "regular expression '.' matches every domain",
        ),
        (
            lambda c: _rules(c).insert(1, {"domain": ["."], "outboundTag": "direct"}),
            "routing.rules[1].domain[0]",
            "keyword '.' matches every domain",
        ),
        (
            lambda c: _rules(c).insert(1, {"domain": ["domain:"], "outboundTag": "direct"}),
            "routing.rules[1].domain[0]",
            "has an empty value",
        ),
        (
            lambda c: _rules(c).insert(
                1, {"domain": [], "outboundTag": "direct", "network": "tcp"}
            ),
            "routing.rules[1]",
            "without a destination condition",
        ),
        (
            lambda c: (
                _rules(c).insert(1, {"ip": ["0.0.0.0/1"], "outboundTag": "direct"}),
                _rules(c).insert(1, {"ip": ["128.0.0.0/1"], "outboundTag": "direct"}),
            ),
            "routing.rules",
            "together cover every address",
        ),
        (
            lambda c: c["routing"]["balancers"][0].update(fallbackTag="direct"),
            "routing.balancers[0].fallbackTag",
            "falls back to direct outbound 'direct'",
        ),
        (
            lambda c: (
                c["routing"]["balancers"].append({"tag": "lb", "selector": ["dir"]}),
                _rules(c).insert(1, {"port": "443", "balancerTag": "lb"}),
            ),
            "routing.rules[1]",
            "to direct outbound 'direct' without a destination condition",
        ),
        (
            lambda c: (
                c["outbounds"].append({"tag": "exit2", "protocol": "freedom"}),
                _rules(c).insert(1, {"network": "udp", "outboundTag": "exit2"}),
            ),
            "routing.rules[1]",
            "direct outbound 'exit2'",
        ),
        (
            lambda c: _rules(c)[-1].update(outboundTag=None, balancerTag="pool-lb"),
            "routing.rules[4]",
            "the catch-all must send to outboundTag 'foreign-pool'",
        ),
        (
            lambda c: _rules(c).insert(1, {"type": "chinaip", "outboundTag": "block"}),
            "routing.rules[1]",
            "type must be 'field'",
        ),
    ],
)
def test_fail_closed_violations(change, path, fragment):
    error = fail_closed_error(mutate(change))
    assert error.path == path, str(error)
    assert fragment in error.message, str(error)
    assert str(error) == f"{path}: {error.message}"


def test_fail_closed_rejects_non_mappings():
    assert fail_closed_error([]).path == "config"
    assert fail_closed_error({"outbounds": ["x"]}).path == "outbounds[0]"
    config = good_config()
    config["routing"]["rules"].insert(0, "rule")
    assert fail_closed_error(config).path == "routing.rules[0]"


def test_custom_tags():
    routing = preset_routing(shipped_presets(), "ru", direct_tag="out", pool_tag="pool")
    config = {"outbounds": [{"tag": "pool"}, {"tag": "out", "protocol": "freedom"}]}
    config["routing"] = routing
    check_fail_closed(config, pool_tag="pool", direct_tag="out")
    assert fail_closed_error(config).path == "outbounds[0]"  # default pool tag differs


def test_check_rules_is_reused_by_preset_routing():
    rules = preset_routing({"test": preset({"type": "geoip", "value": "ru"})}, "test")["rules"]
    check_rules(rules)
    with pytest.raises(FailClosedError):
        check_rules(rules[:-1])


# --------------------------------------------------------------------------- properties


@FEWER
@given(presets(), st.data())
def test_any_outbound_order_but_pool_first_is_rejected(named, data):
    name, document = named
    config = config_for(preset_routing({name: document}, name))
    order = data.draw(st.permutations(["foreign-pool", "direct", "block"]))
    config["outbounds"] = outbounds(*order)
    if order[0] == "foreign-pool":
        check_fail_closed(config)
    else:
        assert fail_closed_error(config).path == "outbounds[0]"


LEAKS = st.sampled_from(
    [
        {"network": "tcp,udp", "outboundTag": "direct"},
        {"network": "tcp", "outboundTag": "direct"},
        {"port": "1-65535", "outboundTag": "direct"},
        {"protocol": ["tls"], "outboundTag": "direct"},
        {"ip": ["0.0.0.0/0"], "outboundTag": "direct"},
        {"domain": ["regexp:.*"], "outboundTag": "direct"},
        {"domain": ["keyword:"], "outboundTag": "direct"},
    ]
)


@FEWER
@given(presets(), LEAKS, st.data())
def test_a_catch_all_to_direct_anywhere_is_rejected(named, leak, data):
    name, document = named
    config = config_for(preset_routing({name: document}, name))
    rules = config["routing"]["rules"]
    index = data.draw(st.integers(0, len(rules)))
    rules.insert(index, dict(leak))
    error = fail_closed_error(config)
    assert error.path.startswith("routing.rules")


# --------------------------------------------------------------------------- the node itself

NODE_LOCAL = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10"]
OWN = ["203.0.113.5", "2001:db8::5"]
BLOCK_RULE = {"type": "field", "ip": [*NODE_LOCAL, "203.0.113.5/32"], "outboundTag": "block"}
BLOCK_RULE_6 = {"type": "field", "ip": ["2001:db8::5/128"], "outboundTag": "block"}


def local_error(config, own=OWN):
    with pytest.raises(FailClosedError) as excinfo:
        check_local_blocked(config, own)
    return excinfo.value


def proxy_config():
    """The ru preset's routing behind the block rules, outbounds pool, direct, block."""
    config = config_for(preset_routing(shipped_presets(), "ru"))
    _rules(config)[:0] = copy.deepcopy([BLOCK_RULE, BLOCK_RULE_6])
    return config


def backend_config():
    """Direct first (it takes what no rule matches), the block rules only."""
    return {
        "outbounds": outbounds("direct", "block"),
        "routing": {"rules": copy.deepcopy([BLOCK_RULE, BLOCK_RULE_6])},
    }


def test_the_node_blocked_first_passes():
    check_local_blocked(proxy_config(), OWN)
    check_local_blocked(backend_config(), OWN)
    check_fail_closed(proxy_config(), own_addresses=OWN)
    # Own addresses: an IPv6 zone is dropped, IPv4-mapped IPv6 is IPv4, loopback is covered.
    check_local_blocked(backend_config(), ["fe80::1%eth0", "::ffff:203.0.113.5", "127.0.0.2"])


def test_without_own_addresses_check_fail_closed_does_not_ask_for_block_rules():
    """A routing of preset_routing() alone (no block rules) still passes the plain check."""
    config = config_for(preset_routing(shipped_presets(), "ru"))
    check_fail_closed(config)
    error = fail_closed_error(config, own_addresses=[])
    assert error.path == "routing.rules[0]", str(error)


def test_a_blackhole_outbound_is_not_a_direct_egress():
    """Block rules to a blackhole pass the fail-closed check wherever block is listed."""
    for order in (("foreign-pool", "block", "direct"), ("foreign-pool", "direct", "block")):
        config = proxy_config()
        config["outbounds"] = outbounds(*order)
        check_fail_closed(config, own_addresses=OWN)


@pytest.mark.parametrize(
    ("build", "change", "path", "fragment"),
    [
        # A direct rule before the block rules.
        (
            proxy_config,
            lambda c: _rules(c).insert(0, {"ip": ["geoip:ru"], "outboundTag": "direct"}),
            "routing.rules[0]",
            "can send traffic to direct outbound 'direct' before 0.0.0.0/8, 127.0.0.0/8, "
            "169.254.0.0/16, ::/128, ::1/128, fe80::/10, 203.0.113.5/32, 2001:db8::5/128 "
            "(the node itself",
        ),
        (
            proxy_config,
            lambda c: _rules(c).insert(1, {"domain": ["domain:ru"], "outboundTag": "direct"}),
            "routing.rules[1]",
            "can send traffic to direct outbound 'direct' before 2001:db8::5/128 (the node",
        ),
        (
            backend_config,
            lambda c: _rules(c).insert(0, {"port": "9090", "outboundTag": "direct"}),
            "routing.rules[0]",
            "can send traffic to direct outbound 'direct' before 0.0.0.0/8",
        ),
        # Missing: no rules, one local network, an own address.
        (
            backend_config,
            lambda c: c["routing"].update(rules=[]),
            "routing.rules",
            "must start with rules sending 0.0.0.0/8, 127.0.0.0/8",
        ),
        (
            backend_config,
            lambda c: c.pop("routing"),
            "routing.rules",
            "must start with rules sending",
        ),
        (
            backend_config,
            lambda c: _rules(c)[0]["ip"].remove("169.254.0.0/16"),
            "routing.rules",
            "no rule blocks 169.254.0.0/16 (the node itself",
        ),
        (
            backend_config,
            lambda c: _rules(c).pop(1),
            "routing.rules",
            "no rule blocks 2001:db8::5/128",
        ),
        (
            proxy_config,
            lambda c: _rules(c)[0]["ip"].remove("127.0.0.0/8"),
            "routing.rules[2]",
            "can send traffic to direct outbound 'direct' before 127.0.0.0/8 (the node itself",
        ),
        # Rules that do not block everything there do not count.
        (
            backend_config,
            lambda c: _rules(c)[0].update(port="1-1024"),
            "routing.rules",
            "no rule blocks 0.0.0.0/8",
        ),
        (
            backend_config,
            lambda c: _rules(c)[0].update(inboundTag=["relay"]),
            "routing.rules",
            "no rule blocks 0.0.0.0/8",
        ),
        (
            backend_config,
            lambda c: _rules(c)[0].update(network="tcp"),
            "routing.rules",
            "no rule blocks 0.0.0.0/8",
        ),
        (
            backend_config,
            lambda c: _rules(c)[0].update(ip=["geoip:private", "203.0.113.5/32"]),
            "routing.rules",
            "no rule blocks 0.0.0.0/8",
        ),
        # "block" that is a freedom outbound is a direct egress, not a block.
        (
            backend_config,
            lambda c: c["outbounds"][1].update(protocol="freedom"),
            "routing.rules[0]",
            "can send traffic to direct outbound 'block'",
        ),
        # Through a balancer whose selection includes direct.
        (
            proxy_config,
            lambda c: (
                c["routing"].update(balancers=[{"tag": "lb", "selector": ["dir"]}]),
                _rules(c).insert(0, {"ip": ["geoip:ru"], "balancerTag": "lb"}),
            ),
            "routing.rules[0]",
            "can send traffic to direct outbound 'direct' before",
        ),
    ],
)
def test_the_node_open_is_rejected(build, change, path, fragment):
    config = build()
    change(config)
    error = local_error(config)
    assert error.path == path, str(error)
    assert error.message.startswith(fragment), str(error)


def test_own_addresses_must_be_addresses():
    error = local_error(backend_config(), ["203.0.113.5", "proxy.example.org"])
    assert str(error) == "own_addresses[1]: 'proxy.example.org' is not an IP address"


@FEWER
@given(presets(), st.data())
def test_any_preset_behind_the_block_rules_passes_and_any_direct_rule_before_them_fails(
    named, data
):
    """For any preset: its routing behind the block rules passes both checks; a rule of the
    preset moved ahead of (or between) the block rules fails, naming that rule."""
    name, document = named
    config = config_for(preset_routing({name: document}, name))
    rules = _rules(config)
    rules[:0] = copy.deepcopy([BLOCK_RULE, BLOCK_RULE_6])
    check_fail_closed(config, own_addresses=OWN)
    direct = [index for index, rule in enumerate(rules) if rule["outboundTag"] == "direct"]
    if not direct:
        return
    moved = rules.pop(data.draw(st.sampled_from(direct)))
    position = data.draw(st.integers(0, 1))
    rules.insert(position, moved)
    error = fail_closed_error(config, own_addresses=OWN)
    assert error.path == f"routing.rules[{position}]", str(error)


@FEWER
@given(st.sampled_from([*NODE_LOCAL, "203.0.113.5/32"]), st.booleans())
def test_dropping_any_required_network_is_rejected(network, proxy):
    config = proxy_config() if proxy else backend_config()
    _rules(config)[0]["ip"].remove(network)
    error = local_error(config)
    assert network in error.message, str(error)
