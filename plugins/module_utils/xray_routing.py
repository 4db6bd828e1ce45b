# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Country presets to Xray routing, and the fail-closed check of a full Xray config.

Pure Python, nothing here talks to a host.

A preset (``roles/xray/files/presets/<name>.yml``) lists, in order, what leaves the
entry node directly; everything else goes to the local HAProxy "foreign-pool".
``preset_routing()`` turns one preset into the Xray ``routing`` object: one rule per
direct entry, in preset order, then an explicit catch-all rule to the pool.

Xray sends traffic that matches no rule to the FIRST outbound, so the entry node
fails closed only if

* the first outbound is the pool,
* the last rule is an unconditional catch-all to the pool (no earlier rule matches
  everything),
* every rule that can reach a direct (``freedom``) outbound restricts the destination
  with ``domain`` or ``ip`` entries, none of which matches everything,
* no balancer falls back to, or is used by a catch-all to reach, a direct outbound.

``check_fail_closed()`` verifies exactly that on a complete config and raises
FailClosedError naming the offending path (``routing.rules[3]``, ``outbounds[0]``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name, unknown_keys

__all__ = [
    "CATCH_ALL_NETWORK",
    "DEFAULT_DIRECT_TAG",
    "DEFAULT_DOMAIN_STRATEGY",
    "DEFAULT_POOL_TAG",
    "DOMAIN_STRATEGIES",
    "ENTRY_TYPES",
    "FailClosedError",
    "PresetError",
    "catch_all_rule",
    "check_fail_closed",
    "check_rules",
    "entry_patterns",
    "preset_routing",
    "validate_preset",
]

DEFAULT_DIRECT_TAG = "direct"
DEFAULT_POOL_TAG = "foreign-pool"
DEFAULT_DOMAIN_STRATEGY = "IPIfNonMatch"
DOMAIN_STRATEGIES = ("AsIs", "IPIfNonMatch", "IPOnDemand")
# Xray refuses a rule without any condition ("this rule has no effective fields"),
# so the catch-all carries the one condition every connection meets.
CATCH_ALL_NETWORK = "tcp,udp"

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

# Domains a keyword or regular expression is tried on. One that matches all of them
# matches (practically) every destination and is treated as a catch-all. "a.b" and
# "c.d" share no letter, so no plain keyword without a dot matches both.
CATCH_ALL_PROBES = ("example.com", "www.google.com", "xn--80ak6aa92e.com", "a.b", "c.d")

# Rule keys that never narrow which connections a rule matches.
_NON_CONDITION_KEYS = frozenset(
    ("type", "outboundTag", "balancerTag", "ruleTag", "domainMatcher", "network")
)
# Keys allowed on the final catch-all (inboundTag scopes it; traffic of other inbounds
# still falls through to the first outbound, the pool).
_CATCH_ALL_KEYS = _NON_CONDITION_KEYS | {"inboundTag"}
# Only these restrict the destination; port, protocol, network or source alone
# would send whole classes of traffic out directly.
_DESTINATION_KEYS = ("domain", "domains", "ip")
_KNOWN_RULE_KEYS = _NON_CONDITION_KEYS | {
    "domain",
    "domains",
    "ip",
    "port",
    "sourcePort",
    "source",
    "sourceIP",
    "user",
    "inboundTag",
    "protocol",
    "attrs",
    "localIP",
    "localPort",
    "vlessRoute",
    "process",
}


class PresetError(ValueError):
    """A preset or a preset_routing() argument is invalid; the message says where."""


class FailClosedError(ValueError):
    """An Xray config would let traffic out directly by default.

    ``path`` locates the problem (``outbounds[0]``, ``routing.rules[3]``);
    ``str(error)`` is ``"<path>: <message>"``.
    """

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _is_list(value):
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


# --------------------------------------------------------------------------- values


def _matches_everything(pattern, kind):
    """True if a keyword / regular expression matches every probe domain."""
    if kind == "keyword":
        return all(pattern in probe for probe in CATCH_ALL_PROBES)
    return all(re.search(pattern, probe) for probe in CATCH_ALL_PROBES)


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
    if _matches_everything(keyword, "keyword"):
        raise ValueError(f"keyword {text!r} matches every domain; it would be a catch-all")
    return keyword


def _check_regex(text):
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"{text!r} is not a valid regular expression: {exc}") from None
    if _matches_everything(text, "regex"):
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


def _covers_a_family(networks):
    """True if the networks together cover all of IPv4 or all of IPv6."""
    for version in (4, 6):
        family = [net for net in networks if net.version == version]
        if any(net.prefixlen == 0 for net in ipaddress.collapse_addresses(family)):
            return True
    return False


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
        if not _is_list(raw_values) or not raw_values:
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
        try:
            value = _VALUE_CHECKS[kind](str(raw))
        except ValueError as exc:
            raise PresetError(f"{where}: {exc}") from None
        if value in values:
            raise PresetError(f"{where}: {raw!r} is listed twice")
        values.append(value)
    if kind == "ip_cidr" and _covers_a_family([ipaddress.ip_network(v) for v in values]):
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
    if not _is_list(direct):
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
    if not _is_list(inbound_tags):
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


# --------------------------------------------------------------------------- fail-closed


def _as_list(value):
    """Xray accepts a string or a list for most rule fields; return a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value else []
    if _is_list(value):
        return list(value)
    return [value]


def _networks(value):
    return {str(item).strip().lower() for item in _as_list(value)}


def _covers_tcp_and_udp(rule):
    return "network" not in rule or {"tcp", "udp"} <= _networks(rule["network"])


def _present_keys(rule):
    """Keys of ``rule`` with a non-empty value."""
    return {key for key, value in rule.items() if value not in (None, "", [], {})}


def _is_unconditional(rule):
    """Matches every connection of every inbound."""
    return _present_keys(rule) <= _NON_CONDITION_KEYS and _covers_tcp_and_udp(rule)


def _is_final_catch_all(rule):
    """Matches every connection (of the listed inbounds, if any)."""
    return _present_keys(rule) <= _CATCH_ALL_KEYS and _covers_tcp_and_udp(rule)


def _domain_catch_all(pattern):
    """Why a domain pattern would send every destination, or None."""
    text = str(pattern)
    prefix, _, rest = text.partition(":")
    if prefix in ("regexp",):
        try:
            catch_all = _matches_everything(rest, "regex")
        except re.error:
            return None  # Xray refuses to start on it: fails closed.
        return f"regular expression {rest!r} matches every domain" if catch_all else None
    if prefix in ("domain", "full", "geosite", "ext", "keyword") and rest == "":
        return f"{text!r} has an empty value"
    if prefix == "keyword" or ":" not in text:
        keyword = rest if prefix == "keyword" else text
        if _matches_everything(keyword.lower(), "keyword"):
            return f"keyword {keyword!r} matches every domain"
    return None


def _ip_catch_all(pattern, literals):
    """Why an ip pattern would send every destination, or None; collects literals."""
    text = str(pattern).strip()
    lowered = text.lower()
    if lowered.startswith("geoip:!"):
        return f"{text!r} is negated and matches everything outside the list"
    if lowered.startswith(("geoip:", "ext:", "ext-ip:")):
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None  # Xray refuses to start on it: fails closed.
    if network.prefixlen == 0:
        return f"{text!r} covers every address"
    literals.append(network)
    return None


def _rule_targets(rule, balancers):
    """Outbound tags a rule can send to (balancer selections and fallback included)."""
    if rule.get("outboundTag"):
        return {str(rule["outboundTag"])}
    balancer = balancers.get(str(rule.get("balancerTag")))
    return set(balancer) if balancer is not None else set()


def _check_direct_destination(rule, where, targets, literals):
    keys = _present_keys(rule)
    destination = [key for key in _DESTINATION_KEYS if key in keys]
    direct = ", ".join(repr(tag) for tag in sorted(targets))
    if not destination:
        ignored = sorted(str(key) for key in keys - _KNOWN_RULE_KEYS)
        hint = f" (keys Xray does not know and ignores: {', '.join(ignored)})" if ignored else ""
        raise FailClosedError(
            where,
            f"sends traffic to direct outbound {direct} without a destination condition "
            f"(domain or ip); that is a catch-all to direct{hint}",
        )
    for key in destination:
        for index, pattern in enumerate(_as_list(rule[key])):
            is_ip = key == "ip"
            reason = _ip_catch_all(pattern, literals) if is_ip else _domain_catch_all(pattern)
            if reason:
                raise FailClosedError(
                    f"{where}.{key}[{index}]",
                    f"{reason}; it would send all traffic to direct outbound {direct}",
                )


def check_rules(
    rules, pool_tag=DEFAULT_POOL_TAG, direct_tags=(DEFAULT_DIRECT_TAG,), balancers=None
):
    """Check a routing rule list for fail-closed order; raise FailClosedError.

    ``direct_tags`` are the outbound tags that egress directly; ``balancers`` maps a
    balancer tag to the set of outbound tags it can pick (fallback included).
    """
    balancers = balancers or {}
    direct_tags = set(direct_tags)
    if not _is_list(rules) or not rules:
        raise FailClosedError(
            "routing.rules",
            f"must be a non-empty list ending with the catch-all to {pool_tag!r}",
        )
    literals = []
    last = len(rules) - 1
    for index, rule in enumerate(rules):
        where = f"routing.rules[{index}]"
        if not isinstance(rule, Mapping):
            raise FailClosedError(where, f"must be a mapping, got {type_name(rule)}")
        if rule.get("type", "field") != "field":
            raise FailClosedError(where, f"type must be 'field', got {rule.get('type')!r}")
        targets = _rule_targets(rule, balancers)
        reached = targets & direct_tags
        if reached:
            _check_direct_destination(rule, where, reached, literals)
        if index < last and _is_unconditional(rule):
            raise FailClosedError(
                where,
                f"matches all traffic, so the rules after it are never used; only the last "
                f"rule may be the catch-all to {pool_tag!r}",
            )
    if _covers_a_family(literals):
        raise FailClosedError(
            "routing.rules",
            "the ip networks sent to direct outbounds together cover every address",
        )
    final = rules[last]
    where = f"routing.rules[{last}]"
    if not _is_final_catch_all(final) or "network" not in final:
        raise FailClosedError(
            where,
            f"the last rule must be the explicit catch-all "
            f"{{'type': 'field', 'network': '{CATCH_ALL_NETWORK}', 'outboundTag': "
            f"'{pool_tag}'}}, got {dict(final)!r}",
        )
    if final.get("outboundTag") != pool_tag or final.get("balancerTag"):
        raise FailClosedError(
            where,
            f"the catch-all must send to outboundTag {pool_tag!r}, "
            f"not {final.get('outboundTag') or final.get('balancerTag')!r}",
        )


def _balancer_targets(balancers_config, outbound_tags, direct_tags):
    """Map balancer tag -> outbound tags it may select; reject direct fallbacks."""
    balancers = {}
    for index, balancer in enumerate(_as_list(balancers_config)):
        where = f"routing.balancers[{index}]"
        if not isinstance(balancer, Mapping):
            raise FailClosedError(where, f"must be a mapping, got {type_name(balancer)}")
        fallback = balancer.get("fallbackTag")
        if fallback in direct_tags:
            raise FailClosedError(
                f"{where}.fallbackTag",
                f"falls back to direct outbound {fallback!r}; fall back to the pool or a "
                "blackhole instead",
            )
        selectors = [str(item) for item in _as_list(balancer.get("selector"))]
        chosen = {tag for tag in outbound_tags if any(tag.startswith(s) for s in selectors)}
        if fallback:
            chosen.add(str(fallback))
        balancers[str(balancer.get("tag"))] = chosen
    return balancers


def check_fail_closed(config, pool_tag=DEFAULT_POOL_TAG, direct_tag=DEFAULT_DIRECT_TAG):
    """Validate that a complete Xray config fails closed; raise FailClosedError.

    Direct outbounds are ``direct_tag`` and every outbound with protocol ``freedom``.
    See the module docstring for the properties checked. Returns None.
    """
    if not isinstance(config, Mapping):
        raise FailClosedError("config", f"must be a mapping, got {type_name(config)}")
    outbounds = config.get("outbounds")
    if not _is_list(outbounds) or not outbounds:
        raise FailClosedError(
            "outbounds", f"must be a non-empty list starting with the pool {pool_tag!r}"
        )
    tags = []
    protocols = {}
    for index, outbound in enumerate(outbounds):
        if not isinstance(outbound, Mapping):
            raise FailClosedError(f"outbounds[{index}]", "must be a mapping")
        tag = outbound.get("tag")
        if tag and tag in tags:
            raise FailClosedError(f"outbounds[{index}]", f"tag {tag!r} is used twice")
        tags.append(tag)
        protocols[tag] = outbound.get("protocol")
    direct_tags = {str(direct_tag)} | {
        str(tag) for tag, protocol in protocols.items() if protocol == "freedom" and tag
    }
    if tags[0] != pool_tag:
        raise FailClosedError(
            "outbounds[0]",
            f"is {tags[0]!r}; Xray sends unmatched traffic to the first outbound, so it "
            f"must be the pool {pool_tag!r}",
        )
    if protocols[pool_tag] == "freedom":
        raise FailClosedError(
            "outbounds[0]",
            f"the pool {pool_tag!r} uses protocol freedom, which egresses directly",
        )
    routing = config.get("routing")
    if not isinstance(routing, Mapping):
        raise FailClosedError(
            "routing", f"is required and must end with the catch-all to {pool_tag!r}"
        )
    balancers = _balancer_targets(
        routing.get("balancers"), [str(tag) for tag in tags if tag], direct_tags
    )
    check_rules(routing.get("rules"), pool_tag, direct_tags, balancers)
