# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fail-closed check of a complete Xray config of a proxy node.

Pure Python, nothing here talks to a host.

Xray sends traffic that matches no rule to the FIRST outbound, so the proxy node
fails closed only if

* the first outbound is the pool,
* the last rule is an unconditional catch-all to the pool (no earlier rule matches
  everything),
* every rule that can reach a direct (``freedom``) outbound restricts the destination
  with ``domain`` or ``ip`` entries, none of which matches everything,
* no balancer falls back to, or is used by a catch-all to reach, a direct outbound.

``check_fail_closed()`` verifies exactly that on a complete config and raises
FailClosedError naming the offending path (``routing.rules[3]``, ``outbounds[0]``).
``check_rules()`` is the part about the rule list; the preset renderer
(``xray_presets.preset_routing()``) runs it on every routing it renders.

``check_local_blocked()`` verifies, on the config of either node kind, that no Xray user
reaches the node itself: rules to a ``blackhole`` outbound block the node's local
networks (``xray_common.NODE_LOCAL_NETWORKS``: loopback, link-local, the unspecified
addresses) and its own addresses before any rule that can send to a direct outbound,
and before unmatched traffic falls through to the first outbound. The config builder
runs it on every config; ``check_fail_closed(own_addresses=...)`` runs it too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    CATCH_ALL_NETWORK,
    DEFAULT_DIRECT_TAG,
    DEFAULT_POOL_TAG,
    NODE_LOCAL_NETWORKS,
    covers_a_family,
    is_list,
    matches_everything,
    uncovered,
)

__all__ = [
    "FailClosedError",
    "check_fail_closed",
    "check_local_blocked",
    "check_rules",
]

# Rule keys that never narrow which connections a rule matches.
_NON_CONDITION_KEYS = frozenset(
    ("type", "outboundTag", "balancerTag", "ruleTag", "domainMatcher", "network")
)
# Keys allowed on the final catch-all (inboundTag scopes it; traffic of other inbounds
# still falls through to the first outbound, the pool).
_CATCH_ALL_KEYS = _NON_CONDITION_KEYS | {"inboundTag"}
# Keys a block rule may have besides its ip list and still block every connection there.
_BLOCK_RULE_KEYS = _NON_CONDITION_KEYS | {"ip"}
BLACKHOLE = "blackhole"
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


class FailClosedError(ValueError):
    """An Xray config would let traffic out directly by default.

    ``path`` locates the problem (``outbounds[0]``, ``routing.rules[3]``);
    ``str(error)`` is ``"<path>: <message>"``.
    """

    def __init__(self, path, message):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}")


def _as_list(value):
    """Xray accepts a string or a list for most rule fields; return a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value else []
    if is_list(value):
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
            catch_all = matches_everything(rest, "regex")
        except re.error:
            return None  # Xray refuses to start on it: fails closed.
        return f"regular expression {rest!r} matches every domain" if catch_all else None
    if prefix in ("domain", "full", "geosite", "ext", "keyword") and rest == "":
        return f"{text!r} has an empty value"
    if prefix == "keyword" or ":" not in text:
        keyword = rest if prefix == "keyword" else text
        if matches_everything(keyword.lower(), "keyword"):
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
    if not is_list(rules) or not rules:
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
    if covers_a_family(literals):
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


def _outbound_protocols(outbounds, pool_tag=None):
    """Tags and map tag -> protocol of a non-empty outbound list; reject repeated tags."""
    if not is_list(outbounds) or not outbounds:
        first = f" starting with the pool {pool_tag!r}" if pool_tag else ""
        raise FailClosedError("outbounds", f"must be a non-empty list{first}")
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
    return tags, protocols


def _direct_tags(protocols, direct_tag):
    return {str(direct_tag)} | {
        str(tag) for tag, protocol in protocols.items() if protocol == "freedom" and tag
    }


def _own_networks(own_addresses, local):
    """The own addresses as /32 or /128 networks, sorted; those inside ``local`` left out.

    An IPv6 zone (``%eth0``) is dropped; an IPv4-mapped IPv6 address is the IPv4 address
    (Xray reads it so).
    """
    networks = set()
    for index, text in enumerate(_as_list(own_addresses)):
        try:
            address = ipaddress.ip_address(str(text).split("%")[0])
        except ValueError:
            raise FailClosedError(
                f"own_addresses[{index}]", f"{text!r} is not an IP address"
            ) from None
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        network = ipaddress.ip_network(address)
        if not any(network.version == n.version and network.subnet_of(n) for n in local):
            networks.add(network)
    return sorted(networks, key=lambda network: (network.version, network))


def _blocked_networks(rule, block_tags):
    """The ip networks a rule sends to a blackhole outbound whatever else the connection is."""
    if str(rule.get("outboundTag")) not in block_tags or rule.get("balancerTag"):
        return []
    if not _present_keys(rule) <= _BLOCK_RULE_KEYS or not _covers_tcp_and_udp(rule):
        return []  # also limited by port, inbound, user...: blocks only part of the traffic
    networks = []
    for pattern in _as_list(rule.get("ip")):
        try:
            networks.append(ipaddress.ip_network(str(pattern).strip(), strict=False))
        except ValueError:
            continue  # geoip:, ext: lists: what they hold is not known here
    return networks


def _describe(networks):
    return ", ".join(str(network) for network in networks)


def check_local_blocked(config, own_addresses=(), direct_tag=DEFAULT_DIRECT_TAG):
    """Validate that no Xray user reaches the node itself; raise FailClosedError.

    ``config`` is the complete config of a proxy node or a backend. Rules to a
    ``blackhole`` outbound, each conditioned on ``ip`` only (literal networks; ``geoip:``
    lists do not count), must together block ``NODE_LOCAL_NETWORKS`` and
    ``own_addresses`` before the first rule that can send to a direct outbound
    (``direct_tag`` or any ``freedom`` outbound, also through a balancer), and before
    the end of the rules (where unmatched traffic goes to the first outbound). Returns None.
    """
    if not isinstance(config, Mapping):
        raise FailClosedError("config", f"must be a mapping, got {type_name(config)}")
    tags, protocols = _outbound_protocols(config.get("outbounds"))
    direct_tags = _direct_tags(protocols, direct_tag)
    block_tags = {str(tag) for tag, protocol in protocols.items() if protocol == BLACKHOLE and tag}
    required = [ipaddress.ip_network(network) for network in NODE_LOCAL_NETWORKS]
    required += _own_networks(own_addresses, required)
    routing = config.get("routing")
    rules = routing.get("rules") if isinstance(routing, Mapping) else None
    if not is_list(rules) or not rules:
        raise FailClosedError(
            "routing.rules",
            f"must start with rules sending {_describe(required)} to a blackhole outbound",
        )
    balancers = _balancer_targets(
        routing.get("balancers"), [str(tag) for tag in tags if tag], direct_tags
    )
    blocked = []
    for index, rule in enumerate(rules):
        where = f"routing.rules[{index}]"
        if not isinstance(rule, Mapping):
            raise FailClosedError(where, f"must be a mapping, got {type_name(rule)}")
        reached = _rule_targets(rule, balancers) & direct_tags
        missing = uncovered(required, blocked)
        if reached and missing:
            direct = ", ".join(repr(tag) for tag in sorted(reached))
            raise FailClosedError(
                where,
                f"can send traffic to direct outbound {direct} before {_describe(missing)} "
                "(the node itself: loopback, link-local, its own addresses) is blocked; "
                "rules sending them to a blackhole outbound must come first",
            )
        blocked += _blocked_networks(rule, block_tags)
    missing = uncovered(required, blocked)
    if missing:
        raise FailClosedError(
            "routing.rules",
            f"no rule blocks {_describe(missing)} (the node itself: loopback, link-local, its "
            "own addresses); send them to a blackhole outbound before any other rule",
        )


def check_fail_closed(
    config, pool_tag=DEFAULT_POOL_TAG, direct_tag=DEFAULT_DIRECT_TAG, own_addresses=None
):
    """Validate that a complete Xray config fails closed; raise FailClosedError.

    Direct outbounds are ``direct_tag`` and every outbound with protocol ``freedom``.
    See the module docstring for the properties checked. With ``own_addresses`` (a list,
    possibly empty) ``check_local_blocked()`` runs too. Returns None.
    """
    if not isinstance(config, Mapping):
        raise FailClosedError("config", f"must be a mapping, got {type_name(config)}")
    tags, protocols = _outbound_protocols(config.get("outbounds"), pool_tag)
    direct_tags = _direct_tags(protocols, direct_tag)
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
    if own_addresses is not None:
        check_local_blocked(config, own_addresses, direct_tag)
