# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import copy
import ipaddress
import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_routing import (
    CATCH_ALL_NETWORK,
    CATCH_ALL_PROBES,
    ENTRY_TYPES,
    FailClosedError,
    PresetError,
    catch_all_rule,
    check_fail_closed,
    check_rules,
    entry_patterns,
    preset_routing,
    validate_preset,
)
from hypothesis import assume, given, settings
from hypothesis import strategies as st

REPO_ROOT = Path(__file__).resolve().parents[4]
PRESETS_DIR = REPO_ROOT / "roles" / "xray" / "files" / "presets"
RELEASES = "https://github.com/runetfreedom/russia-v2ray-rules-dat/releases/latest/download"

RU_ROUTING = {
    "domainStrategy": "IPIfNonMatch",
    "rules": [
        {
            "type": "field",
            "domain": ["geosite:ru-available-only-inside"],
            "outboundTag": "direct",
        },
        {
            "type": "field",
            "domain": ["domain:ru", "domain:su", "domain:xn--p1ai"],
            "outboundTag": "direct",
        },
        {"type": "field", "ip": ["geoip:ru"], "outboundTag": "direct"},
        {"type": "field", "ip": ["geoip:private"], "outboundTag": "direct"},
        {"type": "field", "network": "tcp,udp", "outboundTag": "foreign-pool"},
    ],
}

GEODATA = {
    "geosite": {"url": "https://example.org/geosite.dat", "sha256": "a" * 64},
    "geoip": {"url": "https://example.org/geoip.dat", "sha256_url": "https://example.org/s"},
}


def shipped_presets():
    return {path.stem: yaml.safe_load(path.read_text()) for path in PRESETS_DIR.glob("*.yml")}


def preset(*entries, name="test", geodata=GEODATA):
    document = {"name": name, "direct": list(entries)}
    if geodata is not None:
        document["geodata"] = geodata
    return document


def outbounds(*tags):
    protocols = {"foreign-pool": "vless", "direct": "freedom", "block": "blackhole"}
    return [{"tag": tag, "protocol": protocols.get(tag, "vless")} for tag in tags]


def config_for(routing, order=("foreign-pool", "direct", "block")):
    return {"outbounds": outbounds(*order), "routing": routing}


def preset_error(presets, name="test", **kwargs):
    with pytest.raises(PresetError) as excinfo:
        preset_routing(presets, name, **kwargs)
    return str(excinfo.value)


def fail_closed_error(config, **kwargs):
    with pytest.raises(FailClosedError) as excinfo:
        check_fail_closed(config, **kwargs)
    return excinfo.value


# --------------------------------------------------------------------------- shipped presets


def test_ru_preset_renders_in_order():
    assert preset_routing(shipped_presets(), "ru") == RU_ROUTING


def test_every_shipped_preset_is_valid_and_named_after_its_file():
    presets = shipped_presets()
    assert "ru" in presets
    for name, document in presets.items():
        checked = validate_preset(document, name)
        assert checked["name"] == name
        check_fail_closed(config_for(preset_routing(presets, name)))


def test_ru_preset_geodata_sources():
    geodata = validate_preset(shipped_presets()["ru"])["geodata"]
    assert geodata == {
        kind: {"url": f"{RELEASES}/{kind}.dat", "sha256_url": f"{RELEASES}/{kind}.dat.sha256sum"}
        for kind in ("geosite", "geoip")
    }


def test_ru_routing_with_inbound_tags_and_custom_tags():
    routing = preset_routing(
        shipped_presets(),
        "ru",
        direct_tag="out-direct",
        pool_tag="pool",
        inbound_tags=["vless-in"],
        domain_strategy="AsIs",
    )
    assert routing["domainStrategy"] == "AsIs"
    assert all(rule["inboundTag"] == ["vless-in"] for rule in routing["rules"])
    assert [rule["outboundTag"] for rule in routing["rules"]] == ["out-direct"] * 4 + ["pool"]
    assert routing["rules"][-1] == {
        "type": "field",
        "network": "tcp,udp",
        "inboundTag": ["vless-in"],
        "outboundTag": "pool",
    }


# --------------------------------------------------------------------------- preset examples


def test_unknown_preset_lists_known_ones():
    presets = {"ru": {}, "by": {}}
    assert preset_error(presets, "xx") == "unknown preset 'xx' (known: by, ru)"
    assert preset_error({}, "ru") == "unknown preset 'ru' (known: none)"


def test_new_preset_needs_no_code_change():
    document = preset(
        {"type": "domain_full", "value": "Intranet.Example.ORG"},
        {"type": "domain_keyword", "values": ["yandex"]},
        {"type": "domain_regex", "value": r"\.gov\.kz$"},
        {"type": "ip_cidr", "values": ["192.0.2.0/24", "2001:DB8::/32", "198.51.100.7"]},
        {"type": "geosite", "value": "category-gov-KZ@cn", "comment": "attribute"},
        name="kz",
    )
    routing = preset_routing({"kz": document}, "kz")
    assert routing["rules"][:-1] == [
        {"type": "field", "domain": ["full:intranet.example.org"], "outboundTag": "direct"},
        {"type": "field", "domain": ["keyword:yandex"], "outboundTag": "direct"},
        {"type": "field", "domain": [r"regexp:\.gov\.kz$"], "outboundTag": "direct"},
        {
            "type": "field",
            "ip": ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"],
            "outboundTag": "direct",
        },
        {"type": "field", "domain": ["geosite:category-gov-kz@cn"], "outboundTag": "direct"},
    ]
    assert routing["rules"][-1] == catch_all_rule()


def test_empty_direct_list_sends_everything_to_the_pool():
    routing = preset_routing({"none": preset(name="none", geodata=None)}, "none")
    assert routing["rules"] == [
        {"type": "field", "network": CATCH_ALL_NETWORK, "outboundTag": "foreign-pool"}
    ]


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ({"type": "geoip", "value": "!ru"}, "negated geoip code"),
        ({"type": "geoip", "value": "r u"}, "is not a geoip code"),
        ({"type": "geosite", "value": "-ru"}, "not a geosite list name"),
        ({"type": "domain_suffix", "value": ".ru"}, "starts with a dot; write 'ru'"),
        ({"type": "domain_suffix", "value": "рф"}, "punycode: 'xn--p1ai'"),
        ({"type": "domain_suffix", "value": "a..b"}, "is not a domain name"),
        ({"type": "domain_suffix", "values": ["ru", "RU"]}, "'RU' is listed twice"),
        ({"type": "domain_suffix", "values": []}, "values must be a non-empty list"),
        ({"type": "domain_suffix", "values": "ru"}, "values must be a non-empty list"),
        ({"type": "domain_suffix", "value": ""}, "values must be non-empty strings"),
        ({"type": "domain_suffix", "value": 7}, "got int 7"),
        ({"type": "domain_suffix", "value": " ru"}, "leading or trailing whitespace"),
        ({"type": "domain_suffix", "value": "ru", "values": ["su"]}, "exactly one of value"),
        ({"type": "domain_suffix"}, "exactly one of value and values"),
        ({"type": "domain_keyword", "value": "."}, "matches every domain"),
        ({"type": "domain_keyword", "value": "a b"}, "contains whitespace"),
        ({"type": "domain_regex", "value": ".*"}, "matches every domain"),
        ({"type": "domain_regex", "value": "(unclosed"}, "not a valid regular expression"),
        ({"type": "ip_cidr", "value": "0.0.0.0/0"}, "covers every address"),
        ({"type": "ip_cidr", "value": "10.0.0.1/8"}, "did you mean 10.0.0.0/8"),
        ({"type": "ip_cidr", "value": "10.0.0.0/33"}, "is not an IP address or network"),
        (
            {"type": "ip_cidr", "values": ["0.0.0.0/1", "128.0.0.0/1"]},
            "together cover every address",
        ),
        ({"type": "geo", "value": "ru"}, "type must be one of geosite, domain_suffix"),
        ({"type": "geoip", "value": "ru", "note": "x"}, "unknown key 'note'"),
        ({"type": "geoip", "value": "ru", "comment": 1}, "comment must be a string"),
        ("geoip:ru", "must be a mapping with type and value"),
    ],
)
def test_bad_entries_name_preset_and_index(entry, fragment):
    document = preset({"type": "geoip", "value": "ru"}, entry)
    message = preset_error({"test": document})
    assert message.startswith("preset 'test' direct[1]"), message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ("ru", "preset 'test': must be a mapping, got str"),
        ({"name": "other", "direct": []}, "its name is 'other'; the key and name must agree"),
        ({"name": "Test", "direct": []}, "name must be lowercase"),
        ({"name": "test"}, "direct is required"),
        ({"name": "test", "direct": {"a": 1}}, "direct must be a list, got dict"),
        ({"name": "test", "direct": [], "dirct": []}, "unknown key 'dirct'"),
        ({"name": "test", "direct": [], "description": 5}, "description must be a string"),
        (
            preset({"type": "geosite", "value": "ru"}, geodata=None),
            "geodata.geosite: is required, the preset uses geosite entries (direct[0])",
        ),
        (
            preset({"type": "geoip", "value": "ru"}, geodata={"geosite": GEODATA["geosite"]}),
            "geodata.geoip: is required",
        ),
        (
            preset(geodata={"geoip": {"url": "http://example.org/g", "sha256": "a" * 64}}),
            "geodata.geoip.url: must be an https:// URL",
        ),
        (
            preset(geodata={"geoip": {"url": "https://example.org/g"}}),
            "give exactly one of sha256_url and sha256",
        ),
        (
            preset(geodata={"geoip": {"url": "https://e.org/g", "sha256": "xyz"}}),
            "sha256: must be 64 hexadecimal characters",
        ),
        (preset(geodata={"geoips": {}}), "unknown key 'geoips'"),
        (preset(geodata={"geoip": {"sha256": "a" * 64}}), "geodata.geoip.url: is required"),
    ],
)
def test_bad_presets(document, fragment):
    message = preset_error({"test": document})
    assert fragment in message, message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"direct_tag": "foreign-pool"}, "direct_tag and pool_tag are both 'foreign-pool'"),
        ({"pool_tag": ""}, "pool_tag: must be an outbound/inbound tag"),
        ({"direct_tag": "di rect"}, "direct_tag: must be an outbound/inbound tag"),
        ({"inbound_tags": {"a": 1}}, "inbound_tags: must be a list of tags"),
        ({"inbound_tags": ["a", "a"]}, "inbound_tags: lists a tag twice"),
        ({"domain_strategy": "UseIP"}, "domain_strategy: must be one of AsIs"),
    ],
)
def test_bad_arguments(kwargs, fragment):
    message = preset_error({"test": preset()}, **kwargs)
    assert fragment in message, message


def test_presets_must_be_a_mapping():
    assert "presets: must be a mapping" in preset_error([preset()])


def test_single_inbound_tag_string_is_accepted():
    routing = preset_routing({"test": preset()}, "test", inbound_tags="vless-in")
    assert routing["rules"][-1]["inboundTag"] == ["vless-in"]


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
        (lambda c: _rules(c).pop(), "routing.rules[4]", "the last rule must be the explicit"),
        (lambda c: c["routing"].update(rules=[]), "routing.rules", "must be a non-empty list"),
        (
            lambda c: _rules(c)[-1].update(outboundTag="direct"),
            "routing.rules[5]",
            "without a destination condition",
        ),
        (
            lambda c: _rules(c)[-1].update(outboundTag="block"),
            "routing.rules[5]",
            "the catch-all must send to outboundTag 'foreign-pool', not 'block'",
        ),
        (
            lambda c: _rules(c)[-1].update(network="tcp"),
            "routing.rules[5]",
            "the last rule must be the explicit catch-all",
        ),
        (
            lambda c: _rules(c)[-1].update(port="443"),
            "routing.rules[5]",
            "the last rule must be the explicit catch-all",
        ),
        (
            lambda c: _rules(c)[-1].pop("network"),
            "routing.rules[5]",
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
            "routing.rules[5]",
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

# Built from sampled characters rather than st.from_regex(), which is much slower to draw.
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_CHAR = st.sampled_from(_ALNUM)


def _word(alphabet=_ALNUM + "-", max_size=8):
    """A letter or digit, then up to ``max_size`` characters of ``alphabet``."""
    return st.builds(lambda first, rest: first + rest, _CHAR, st.text(alphabet, max_size=max_size))


_LABEL = st.one_of(_CHAR, st.builds(lambda word, last: word + last, _word(), _CHAR))
_DOMAIN = st.lists(_LABEL, min_size=1, max_size=3).map(".".join)
_IPV4 = st.builds(
    lambda address, prefix: str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)),
    st.ip_addresses(v=4),
    st.integers(8, 32),
)
_IPV6 = st.builds(
    lambda address, prefix: str(ipaddress.ip_network(f"{address}/{prefix}", strict=False)),
    st.ip_addresses(v=6),
    st.integers(16, 128),
)
VALUES = {
    "geosite": st.builds(
        lambda name, attribute: name + (f"@{attribute}" if attribute else ""),
        _word(),
        st.text("abcdefghijklmnopqrstuvwxyz", max_size=4),
    ),
    "geoip": _word(),
    "domain_suffix": _DOMAIN,
    "domain_full": _DOMAIN,
    # No dot: cannot be a substring of both "a.b" and "c.d" (see CATCH_ALL_PROBES).
    "domain_keyword": st.text(_ALNUM + "-", min_size=1, max_size=10),
    "domain_regex": _DOMAIN.map(lambda domain: re.escape(domain) + "$"),
    "ip_cidr": st.one_of(_IPV4, _IPV6),
}


@st.composite
def entries(draw):
    kind = draw(st.sampled_from(sorted(ENTRY_TYPES)))
    values = draw(st.lists(VALUES[kind], min_size=1, max_size=4, unique=True))
    if len(values) == 1 and draw(st.booleans()):
        return {"type": kind, "value": values[0]}
    return {"type": kind, "values": values}


PRESET_NAMES = _word(_ALNUM + "_-")
TAGS = _word()


@st.composite
def presets(draw):
    name = draw(PRESET_NAMES)
    return name, preset(*draw(st.lists(entries(), max_size=8)), name=name)


# Properties on top of the main one reuse its generator; fewer examples keep the suite fast.
FEWER = settings(max_examples=60)


def entry_values(entry):
    return entry["values"] if "values" in entry else [entry["value"]]


@given(presets(), TAGS, TAGS, st.lists(TAGS, max_size=2, unique=True))
def test_rules_keep_order_and_end_with_the_catch_all(named, direct_tag, pool_tag, inbound):
    assume(direct_tag != pool_tag)
    name, document = named
    routing = preset_routing({name: document}, name, direct_tag, pool_tag, inbound or None)
    rules = routing["rules"]
    assert routing["domainStrategy"] == "IPIfNonMatch"
    assert len(rules) == len(document["direct"]) + 1
    for entry, rule in zip(document["direct"], rules, strict=False):
        field, prefix = ENTRY_TYPES[entry["type"]]
        assert rule[field] == [f"{prefix}{value}" for value in entry_values(entry)]
        assert rule["outboundTag"] == direct_tag
        assert set(rule) == {"type", field, "outboundTag"} | ({"inboundTag"} if inbound else set())
    expected_last = {"type": "field", "network": "tcp,udp", "outboundTag": pool_tag}
    if inbound:
        expected_last["inboundTag"] = inbound
    assert rules[-1] == expected_last
    # No catch-all ever reaches direct: every direct rule has a destination condition.
    assert all(rule.get("domain") or rule.get("ip") for rule in rules[:-1])
    assert not any(rule.get("outboundTag") == direct_tag for rule in rules[-1:])
    config = {
        "outbounds": [{"tag": pool_tag}, {"tag": direct_tag, "protocol": "freedom"}],
        "routing": routing,
    }
    check_fail_closed(config, pool_tag=pool_tag, direct_tag=direct_tag)


@FEWER
@given(presets())
def test_validate_preset_is_idempotent(named):
    name, document = named
    checked = validate_preset(document, name)
    again = validate_preset(
        {
            **checked,
            "direct": [{"type": e["type"], "values": e["values"]} for e in checked["direct"]],
        },
        name,
    )
    assert again == checked
    assert [entry_patterns(e) for e in checked["direct"]] == [
        (ENTRY_TYPES[e["type"]][0], [ENTRY_TYPES[e["type"]][1] + v for v in entry_values(e)])
        for e in document["direct"]
    ]


BAD_ENTRIES = st.sampled_from(
    [
        {"type": "geoip", "value": "!ru"},
        {"type": "ip_cidr", "value": "::/0"},
        {"type": "domain_regex", "value": ".*"},
        {"type": "domain_keyword", "value": "."},
        {"type": "domain_suffix", "values": []},
        {"type": "nope", "value": "x"},
        {"type": "geosite"},
    ]
)


@FEWER
@given(presets(), BAD_ENTRIES, st.data())
def test_bad_entry_anywhere_is_reported_with_its_index(named, bad, data):
    name, document = named
    index = data.draw(st.integers(0, len(document["direct"])))
    document = copy.deepcopy(document)
    document["direct"].insert(index, bad)
    with pytest.raises(PresetError) as excinfo:
        preset_routing({name: document}, name)
    assert str(excinfo.value).startswith(f"preset {name!r} direct[{index}]")


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


@given(st.sampled_from(CATCH_ALL_PROBES))
def test_probes_are_valid_domains(probe):
    assert validate_preset(preset({"type": "domain_full", "value": probe}, geodata=None))
