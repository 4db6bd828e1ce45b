# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Country presets: schema, validation and the routing they render."""

from __future__ import annotations

import copy
import ipaddress

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    CATCH_ALL_NETWORK,
    CATCH_ALL_PROBES,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_fail_closed import (
    check_fail_closed,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import (
    ENTRY_TYPES,
    PresetError,
    catch_all_rule,
    entry_patterns,
    preset_routing,
    validate_preset,
)
from hypothesis import assume, given
from hypothesis import strategies as st
from xray_strategies import (
    FEWER,
    GEODATA,
    PRESETS_DIR,
    TAGS,
    config_for,
    entry_values,
    preset,
    presets,
    shipped_presets,
)

from tests.helpers.preset_routing import RU_RULES

# The pinned release of the ru preset's geodata and the digests it published.
RELEASE = "https://github.com/runetfreedom/russia-v2ray-rules-dat/releases/download/202412211537"
RU_SHA256 = {
    "geosite": "78013d9f3ac341423d4f3e17fa8a51c1dc897df981a662db4cf8f03b1a7c5775",
    "geoip": "dabcaf548e37c443cddc8b855aaec66c216407593bc653ec324481635251ef7e",
}

RU_ROUTING = {"domainStrategy": "IPIfNonMatch", "rules": RU_RULES}


def preset_error(presets, name="test", **kwargs):
    with pytest.raises(PresetError) as excinfo:
        preset_routing(presets, name, **kwargs)
    return str(excinfo.value)


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
    """Pinned: one release and its published sha256 digests, so every deploy installs the
    same files (no `latest`, no checksum fetched at deploy time)."""
    geodata = validate_preset(shipped_presets()["ru"])["geodata"]
    assert geodata == {
        kind: {"url": f"{RELEASE}/{kind}.dat", "sha256": RU_SHA256[kind]}
        for kind in ("geosite", "geoip")
    }


def test_no_shipped_preset_sends_private_or_local_networks_directly():
    """Private, loopback and link-local networks are blocked by the role on every node, an
    operator opts in to private ones; no shipped preset routes them (geoip:private, CIDRs)."""
    for name, document in shipped_presets().items():
        for entry in validate_preset(document, name)["direct"]:
            if entry["type"] == "geoip":
                assert "private" not in entry["values"], name
            if entry["type"] == "ip_cidr":
                for value in entry["values"]:
                    network = ipaddress.ip_network(value)
                    assert network.is_global and not network.is_multicast, (name, value)


def test_no_shipped_file_points_at_latest():
    for path in PRESETS_DIR.glob("*.yml"):
        assert "/latest/" not in path.read_text(), path


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
    assert [rule["outboundTag"] for rule in routing["rules"]] == ["out-direct"] * 3 + ["pool"]
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
        (
            {"type": "domain_keyword", "value": "ab\x00c"},
            "'ab\\x00c' contains the control character or line break '\\x00'",
        ),
        (
            {"type": "domain_regex", "value": "a\nb"},
            "contains the control character or line break '\\n'",
        ),
        (
            {"type": "domain_regex", "values": ["x", "a\u2028b"]},
            "contains the control character or line break '\\u2028'",
        ),
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


# --------------------------------------------------------------------------- properties


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


@given(st.sampled_from(CATCH_ALL_PROBES))
def test_probes_are_valid_domains(probe):
    assert validate_preset(preset({"type": "domain_full", "value": probe}, geodata=None))
