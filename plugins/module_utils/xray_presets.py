# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Country presets: their schema, their validation and their Xray routing.

Pure Python, nothing here talks to a host.

A preset (``roles/xray/files/presets/<name>.yml``) lists, in order, what leaves the
proxy node directly; everything else goes to the local HAProxy "foreign-pool".
``preset_routing()`` turns one preset into the Xray ``routing`` object: one rule per
direct entry, in preset order, then an explicit catch-all rule to the pool. The rules
it renders pass ``xray_fail_closed.check_rules()`` before they are returned.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name, unknown_keys
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    CATCH_ALL_NETWORK,
    DEFAULT_DIRECT_TAG,
    DEFAULT_POOL_TAG,
    control_character,
    covers_a_family,
    is_list,
    matches_everything,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_fail_closed import check_rules

__all__ = [
    "DEFAULT_DOMAIN_STRATEGY",
    "DOMAIN_STRATEGIES",
    "ENTRY_TYPES",
    "GEODATA_FILES",
    "PresetError",
    "catch_all_rule",
    "entry_patterns",
    "preset_routing",
    "validate_preset",
]

DEFAULT_DOMAIN_STRATEGY = "IPIfNonMatch"
DOMAIN_STRATEGIES = ("AsIs", "IPIfNonMatch", "IPOnDemand")

# Preset entry type -> (rule field, Xray prefix). A new preset only combines these.
ENTRY_TYPES = {
    "geosite": ("domain", "geosite:"),
    "domain_suffix": ("domain", "domain:"),
    "domain_full": ("domain", "full:"),
    "domain_keyword": ("domain", "keyword:"),
    "domain_regex": ("domain", "regexp:"),
    "geoip": ("ip", "geoip:"),
    "ip_cidr": ("ip", ""),
}
GEODATA_FILES = ("geosite", "geoip")

_PRESET_KEYS = ("name", "description", "direct", "geodata")
_ENTRY_KEYS = ("type", "value", "values", "comment")
_SOURCE_KEYS = ("url", "sha256_url", "sha256")

_PRESET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
# geosite list names may contain '!' inside ("geolocation-!cn") and an "@attribute".
_GEOSITE_RE = re.compile(r"[a-z0-9][a-z0-9_.!-]*(@[a-z0-9_.!-]+)?")
_GEOIP_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class PresetError(ValueError):
    """A preset or a preset_routing() argument is invalid; the message says where."""


# --------------------------------------------------------------------------- values


def _idna_hint(text):
    try:
        encoded = text.encode("idna").decode("ascii")
    except UnicodeError:
        return "write internationalised names in punycode (xn--...)"
    return f"write it in punycode: {encoded!r}"


def _check_geosite(text):
    code = text.lower()
    if not _GEOSITE_RE.fullmatch(code):
        raise ValueError(
            f"{text!r} is not a geosite list name (letters, digits, '-', '_', '.', '!' "
            "inside, optional '@attribute')"
        )
    return code


def _check_geoip(text):
    code = text.lower()
    if code.startswith("!"):
        raise ValueError(
            f"{text!r} is a negated geoip code; it matches everything outside the list "
            "and cannot be sent directly"
        )
    if not _GEOIP_RE.fullmatch(code):
        raise ValueError(f"{text!r} is not a geoip code (letters, digits, '-', '_', '.')")
    return code


def _check_domain(text):
    if not text.isascii():
        raise ValueError(f"{text!r} is not ASCII; {_idna_hint(text.lstrip('.'))}")
    name = text.lower()
    if name.startswith("."):
        raise ValueError(f"{text!r} starts with a dot; write {name.lstrip('.')!r}")
    name = name.removesuffix(".") if name.endswith(".") and len(name) > 1 else name
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise ValueError(
            f"{text!r} is not a domain name (dot-separated labels of letters, digits and "
            "'-', at most 63 characters each)"
        )
    return name


def _check_keyword(text):
    keyword = text.lower()
    if any(char.isspace() for char in keyword):
        raise ValueError(f"{text!r} contains whitespace")
    if matches_everything(keyword, "keyword"):
        raise ValueError(f"keyword {text!r} matches every domain; it would be a catch-all")
    return keyword


def _check_regex(text):
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from None
    if matches_everything(text, "regex"):
        raise ValueError(
            f"regular expression {text!r} matches every domain; it would be a catch-all"
        )
    return text


def _check_cidr(text):
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an IP address or network (e.g. 192.0.2.0/24, 2001:db8::/32)"
        ) from None
    if ipaddress.ip_address(text.split("/")[0]) != network.network_address:
        raise ValueError(f"{text!r} has host bits set; did you mean {network}?")
    if network.prefixlen == 0:
        raise ValueError(f"{text!r} covers every address; it would be a catch-all")
    return str(network) if "/" in text else str(network.network_address)


_VALUE_CHECKS = {
    "geosite": _check_geosite,
    "domain_suffix": _check_domain,
    "domain_full": _check_domain,
    "domain_keyword": _check_keyword,
    "domain_regex": _check_regex,
    "geoip": _check_geoip,
    "ip_cidr": _check_cidr,
}

# --------------------------------------------------------------------------- presets


def _check_url(value, where):
    if not isinstance(value, str) or not value.startswith("https://") or " " in value:
        raise PresetError(f"{where}: must be an https:// URL, got {value!r}")
    return str(value)


def _reject_unknown_keys(mapping, known, where):
    unknown = unknown_keys(mapping, known)
    if unknown:
        raise PresetError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})")


def _check_geodata(geodata, where, needed):
    if geodata is None:
        geodata = {}
    if not isinstance(geodata, Mapping):
        raise PresetError(f"{where}: must be a mapping, got {type_name(geodata)}")
    _reject_unknown_keys(geodata, GEODATA_FILES, where)
    checked = {}
    for kind in GEODATA_FILES:
        source = geodata.get(kind)
        if source is None:
            if kind in needed:
                raise PresetError(
                    f"{where}.{kind}: is required, the preset uses {kind} entries "
                    f"(direct[{needed[kind]}])"
                )
            continue
        at = f"{where}.{kind}"
        if not isinstance(source, Mapping):
            raise PresetError(f"{at}: must be a mapping with url and sha256_url or sha256")
        _reject_unknown_keys(source, _SOURCE_KEYS, at)
        if "url" not in source:
            raise PresetError(f"{at}.url: is required")
        if ("sha256_url" in source) == ("sha256" in source):
            raise PresetError(f"{at}: give exactly one of sha256_url and sha256")
        entry = {"url": _check_url(source["url"], f"{at}.url")}
        if "sha256_url" in source:
            entry["sha256_url"] = _check_url(source["sha256_url"], f"{at}.sha256_url")
        else:
            digest = source["sha256"]
            if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest.lower()):
                raise PresetError(f"{at}.sha256: must be 64 hexadecimal characters")
            entry["sha256"] = digest.lower()
        checked[kind] = entry
    return checked


def _check_entry(entry, where):
    if not isinstance(entry, Mapping):
        raise PresetError(
            f"{where}: must be a mapping with type and value or values, "
            f"got {type_name(entry)} {entry!r}"
        )
    _reject_unknown_keys(entry, _ENTRY_KEYS, where)
    kind = entry.get("type")
    if kind not in ENTRY_TYPES:
        raise PresetError(f"{where}: type must be one of {', '.join(ENTRY_TYPES)}, got {kind!r}")
    where = f"{where} ({kind})"
    if ("value" in entry) == ("values" in entry):
        raise PresetError(f"{where}: give exactly one of value and values")
    if "value" in entry:
        raw_values = [entry["value"]]
    else:
        raw_values = entry["values"]
        if not is_list(raw_values) or not raw_values:
            raise PresetError(f"{where}: values must be a non-empty list")
    if "comment" in entry and not isinstance(entry["comment"], str):
        raise PresetError(f"{where}: comment must be a string")
    values = []
    for raw in raw_values:
        if not isinstance(raw, str) or not raw:
            raise PresetError(
                f"{where}: values must be non-empty strings, got {type_name(raw)} {raw!r}"
            )
        if raw != raw.strip():
            raise PresetError(f"{where}: {raw!r} has leading or trailing whitespace")
        control = control_character(raw)
        if control:
            raise PresetError(
                f"{where}: {raw!r} contains the control character or line break {control}"
            )
        try:
            value = _VALUE_CHECKS[kind](str(raw))
        except ValueError as exc:
            raise PresetError(f"{where}: {exc}") from None
        if value in values:
            raise PresetError(f"{where}: {raw!r} is listed twice")
        values.append(value)
    if kind == "ip_cidr" and covers_a_family([ipaddress.ip_network(v) for v in values]):
        raise PresetError(f"{where}: the networks together cover every address (catch-all)")
    return {"type": kind, "values": values}


def validate_preset(preset, name=None):
    """Validate one preset; return it normalised.

    The result is ``{"name", "description", "direct": [{"type", "values": [...]}, ...],
    "geodata": {"geosite": {...}, "geoip": {...}}}`` with lowercased codes and names,
    ``value`` turned into a one-element ``values``, and ``comment`` dropped.
    ``name`` is the key the preset was found under; the preset's own ``name`` must match.
    Raises PresetError naming the preset and the entry index.
    """
    label = f"preset {name!r}" if name is not None else "preset"
    if not isinstance(preset, Mapping):
        raise PresetError(f"{label}: must be a mapping, got {type_name(preset)}")
    _reject_unknown_keys(preset, _PRESET_KEYS, label)
    own_name = preset.get("name")
    if not isinstance(own_name, str) or not _PRESET_NAME_RE.fullmatch(own_name):
        raise PresetError(
            f"{label}: name must be lowercase letters, digits, '-' or '_', got {own_name!r}"
        )
    if name is not None and own_name != name:
        raise PresetError(f"{label}: its name is {own_name!r}; the key and name must agree")
    label = f"preset {own_name!r}"
    description = preset.get("description", "")
    if not isinstance(description, str):
        raise PresetError(f"{label}: description must be a string")
    if "direct" not in preset:
        raise PresetError(
            f"{label}: direct is required (an empty list sends everything to the pool)"
        )
    direct = preset["direct"]
    if not is_list(direct):
        raise PresetError(f"{label}: direct must be a list, got {type_name(direct)}")
    entries = [
        _check_entry(entry, f"{label} direct[{index}]") for index, entry in enumerate(direct)
    ]
    needed = {}
    for index, entry in enumerate(entries):
        if entry["type"] in GEODATA_FILES:
            needed.setdefault(entry["type"], index)
    geodata = _check_geodata(preset.get("geodata"), f"{label} geodata", needed)
    return {
        "name": own_name,
        "description": str(description),
        "direct": entries,
        "geodata": geodata,
    }


def entry_patterns(entry):
    """The Xray rule field and list for one normalised entry: ``("ip", ["geoip:ru"])``."""
    field, prefix = ENTRY_TYPES[entry["type"]]
    return field, [f"{prefix}{value}" for value in entry["values"]]


def _check_tag(value, argument):
    if not isinstance(value, str) or not _TAG_RE.fullmatch(value):
        raise PresetError(
            f"{argument}: must be an outbound/inbound tag (letters, digits, '-', '_', '.', "
            f"'@'), got {value!r}"
        )
    return str(value)


def _check_inbound_tags(inbound_tags):
    if inbound_tags is None:
        return []
    if isinstance(inbound_tags, str):
        inbound_tags = [inbound_tags]
    if not is_list(inbound_tags):
        raise PresetError(f"inbound_tags: must be a list of tags, got {type_name(inbound_tags)}")
    tags = [_check_tag(tag, "inbound_tags") for tag in inbound_tags]
    if len(set(tags)) != len(tags):
        raise PresetError("inbound_tags: lists a tag twice")
    return tags


def catch_all_rule(pool_tag=DEFAULT_POOL_TAG, inbound_tags=None):
    """The explicit last rule: every TCP and UDP connection goes to the pool."""
    rule = {"type": "field", "network": CATCH_ALL_NETWORK}
    tags = _check_inbound_tags(inbound_tags)
    if tags:
        rule["inboundTag"] = tags
    rule["outboundTag"] = _check_tag(pool_tag, "pool_tag")
    return rule


def preset_routing(
    presets,
    name,
    direct_tag=DEFAULT_DIRECT_TAG,
    pool_tag=DEFAULT_POOL_TAG,
    inbound_tags=None,
    domain_strategy=DEFAULT_DOMAIN_STRATEGY,
):
    """Return the Xray ``routing`` object for preset ``name`` out of ``presets``.

    ``presets`` maps preset names to preset dicts. Only the selected preset is
    validated. One rule per direct entry, in order, then ``catch_all_rule()``.
    With ``inbound_tags`` every rule, the catch-all included, is limited to those
    inbounds. Raises PresetError.
    """
    if not isinstance(presets, Mapping):
        raise PresetError(f"presets: must be a mapping of name to preset, got {type_name(presets)}")
    if not isinstance(name, str) or name not in presets:
        known = ", ".join(sorted(str(key) for key in presets)) or "none"
        raise PresetError(f"unknown preset {name!r} (known: {known})")
    direct_tag = _check_tag(direct_tag, "direct_tag")
    pool_tag = _check_tag(pool_tag, "pool_tag")
    if direct_tag == pool_tag:
        raise PresetError(f"direct_tag and pool_tag are both {pool_tag!r}; they must differ")
    if domain_strategy not in DOMAIN_STRATEGIES:
        raise PresetError(
            f"domain_strategy: must be one of {', '.join(DOMAIN_STRATEGIES)}, "
            f"got {domain_strategy!r}"
        )
    tags = _check_inbound_tags(inbound_tags)
    preset = validate_preset(presets[name], name)

    rules = []
    for entry in preset["direct"]:
        field, patterns = entry_patterns(entry)
        rule = {"type": "field", field: patterns}
        if tags:
            rule["inboundTag"] = list(tags)
        rule["outboundTag"] = direct_tag
        rules.append(rule)
    rules.append(catch_all_rule(pool_tag, tags))
    # Belt and braces: the rendered rules pass the same check as a full config.
    check_rules(rules, pool_tag, {direct_tag})
    return {"domainStrategy": str(domain_strategy), "rules": rules}
