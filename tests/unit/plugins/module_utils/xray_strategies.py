# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hypothesis strategies and small builders shared by the Xray tests of this directory.

Not a test module (no ``test_`` prefix); the test modules next to it import it by name.
"""

from __future__ import annotations

import ipaddress
import re
import string
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import encode_key
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    NODE_LOCAL_NETWORKS,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    DEFAULTS,
    FINGERPRINTS,
    PRIVATE_NETWORKS,
    TRANSPORTS,
    XHTTP_MODES,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import ENTRY_TYPES
from hypothesis import settings
from hypothesis import strategies as st

from tests.helpers import preset_routing

# The shipped presets, read by the shared test helper (its ``presets`` would clash with the
# strategy of that name here).
PRESETS_DIR = preset_routing.PRESETS_DIR
shipped_presets = preset_routing.presets

GEODATA = {
    "geosite": {"url": "https://example.org/geosite.dat", "sha256": "a" * 64},
    "geoip": {"url": "https://example.org/geoip.dat", "sha256_url": "https://example.org/s"},
}

# Properties on top of the main one reuse its generator; fewer examples keep the suite fast.
FEWER = settings(max_examples=60)


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


def entry_values(entry):
    return entry["values"] if "values" in entry else [entry["value"]]


# --------------------------------------------------------------------------- presets

# Built from sampled characters rather than st.from_regex(), which is much slower to draw.
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_CHAR = st.sampled_from(_ALNUM)


def _word(alphabet=_ALNUM + "-", max_size=8):
    """A letter or digit, then up to ``max_size`` characters of ``alphabet``."""
    return st.builds(lambda first, rest: first + rest, _CHAR, st.text(alphabet, max_size=max_size))


_LABEL = st.one_of(_CHAR, st.builds(lambda word, last: word + last, _word(), _CHAR))
DOMAINS = st.lists(_LABEL, min_size=1, max_size=3).map(".".join)
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
    "domain_suffix": DOMAINS,
    "domain_full": DOMAINS,
    # No dot: cannot be a substring of both "a.b" and "c.d" (see CATCH_ALL_PROBES).
    "domain_keyword": st.text(_ALNUM + "-", min_size=1, max_size=10),
    "domain_regex": DOMAINS.map(lambda domain: re.escape(domain) + "$"),
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
    """``(name, preset)`` with up to 8 valid direct entries of any type."""
    name = draw(PRESET_NAMES)
    return name, preset(*draw(st.lists(entries(), max_size=8)), name=name)


# --------------------------------------------------------------------------- node inputs

_HEX = "0123456789abcdef"
UUIDS = st.builds(lambda value: str(uuid.UUID(int=value)), st.integers(0, 2**128 - 1))
# User names as the builder accepts them (SAFE_NAME): a file name and a label value.
_NAME_CHARS = string.ascii_letters + string.digits
EMAILS = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(_NAME_CHARS),
    st.text(_NAME_CHARS + "_.@+-", max_size=23),
)
PORTS = st.integers(1, 65535)
# Never empty: an empty short id lets REALITY clients in without one.
SHORT_IDS = st.integers(1, 8).flatmap(
    lambda size: st.text(_HEX, min_size=2 * size, max_size=2 * size)
)
# 43 characters of URL-safe base64, the shape of an X25519 key as `xray x25519` prints it.
KEYS = st.text(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=43, max_size=43
)


FINGERPRINT_NAMES = st.sampled_from(FINGERPRINTS)
# Raw 32-byte X25519 keys as `xray x25519` prints them (any 32 bytes are a private key).
X25519_KEYS = st.binary(min_size=32, max_size=32).map(encode_key)


@st.composite
def user_lists(draw, max_size=6, fingerprints=False):
    """Xray users: distinct ids and distinct emails (ignoring case); with ``fingerprints``
    some carry their own ``fingerprint`` (a key of their links only)."""
    ids = draw(st.lists(UUIDS, max_size=max_size, unique=True))
    emails = draw(st.lists(EMAILS, min_size=len(ids), max_size=len(ids), unique_by=str.lower))
    users = [{"id": user_id, "email": email} for user_id, email in zip(ids, emails, strict=True)]
    if fingerprints:
        for user in users:
            if draw(st.booleans()):
                user["fingerprint"] = draw(FINGERPRINT_NAMES)
    return users


@st.composite
def identities(draw):
    """A relay identity as the relay_identity action returns it (keys not derived)."""
    return {
        "uuid": draw(UUIDS),
        "private_key": draw(KEYS),
        "public_key": draw(KEYS),
        "short_id": draw(SHORT_IDS),
    }


@st.composite
def reality_servers(draw):
    """The ``public.reality`` input: target, server names, key, short id."""
    return {
        "target": f"{draw(DOMAINS)}:{draw(PORTS)}",
        "server_names": draw(st.lists(DOMAINS, min_size=1, max_size=3)),
        "private_key": draw(KEYS),
        "short_id": draw(SHORT_IDS),
    }


# --------------------------------------------------------------------------- transports


@dataclass(frozen=True)
class TransportModel:
    """What a transport must put on both ends of a hop, written out here rather than read
    from TRANSPORTS: Xray's ``network``, the ``flow`` of clients and users (None: no key),
    the option defaults, a strategy per option, and the ``streamSettings`` entries its
    checked options give (besides network, security and realitySettings)."""

    network: str
    flow: str | None
    defaults: dict
    values: dict
    settings: Callable[[dict], dict]


# URL path characters the builder accepts in xhttp's path (no "%", "?" or "#").
_PATH_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/"
XHTTP_PATHS = st.text(_PATH_CHARS, max_size=127).map(lambda rest: "/" + rest)
TRANSPORT_MODELS = {
    "tcp-vision": TransportModel("tcp", "xtls-rprx-vision", {}, {}, lambda options: {}),
    "xhttp": TransportModel(
        "xhttp",
        None,
        {"path": "/", "mode": "auto"},
        {"path": XHTTP_PATHS, "mode": st.sampled_from(XHTTP_MODES)},
        lambda options: {"xhttpSettings": {"path": options["path"], "mode": options["mode"]}},
    ),
}
TRANSPORT_NAMES = st.sampled_from(sorted(TRANSPORTS))


def transport_options(name):
    """Options of transport ``name`` as an operator writes them: any subset, each a valid
    value or null (its default)."""
    values = TRANSPORT_MODELS[name].values
    return st.fixed_dictionaries(
        {}, optional={key: st.one_of(st.none(), value) for key, value in values.items()}
    )


def checked_options(name, given):
    """The options the builder must use: ``given`` (or null) over the defaults."""
    defaults = TRANSPORT_MODELS[name].defaults
    given = given or {}
    return {
        key: default if given.get(key) is None else given[key] for key, default in defaults.items()
    }


def flow_of(name):
    """The ``flow`` entry of a client or user of transport ``name``."""
    flow = TRANSPORT_MODELS[name].flow
    return {"flow": flow} if flow else {}


def stream_of(name, reality, given=None):
    """The ``streamSettings`` transport ``name`` with options ``given`` must produce."""
    model = TRANSPORT_MODELS[name]
    return {
        "network": model.network,
        "security": "reality",
        "realitySettings": reality,
        **model.settings(checked_options(name, given)),
    }


def inbound_options(inbound):
    """The transport options of an ``xray_inbounds`` entry."""
    return {key: value for key, value in inbound.items() if key not in ("transport", "port")}


@st.composite
def inbound_lists(draw, min_size=1, max_size=3):
    """``xray_inbounds``: 1 to 3 inbounds of any transports (repeats too), distinct ports
    (some as digit strings), each with any valid options."""
    names = draw(st.lists(TRANSPORT_NAMES, min_size=min_size, max_size=max_size))
    ports = draw(st.lists(PORTS, min_size=len(names), max_size=len(names), unique=True))
    inbounds = []
    for name, port in zip(names, ports, strict=True):
        options = draw(transport_options(name))
        inbounds.append(
            {"transport": name, "port": draw(st.sampled_from([port, str(port)])), **options}
        )
    return inbounds


@st.composite
def relays(draw, transport=None, ports=PORTS):
    """The ``relay`` input with every key of both roles, its port drawn from ``ports``;
    ``transport`` None: any. The default transport is sometimes left out; no options are
    left out, empty or null."""
    name = draw(TRANSPORT_NAMES) if transport is None else transport
    relay = {
        "server_name": draw(DOMAINS),
        "name": draw(st.sampled_from(["proxy-service@cluster", "relay"])),
        "port": draw(ports),
        "identity": draw(identities()),
    }
    if name != DEFAULTS["relay.transport"] or draw(st.booleans()):
        relay["transport"] = name
    options = draw(transport_options(name))
    if options:
        relay["options"] = options
    elif draw(st.booleans()):
        relay["options"] = draw(st.sampled_from([{}, None]))
    return relay


@st.composite
def nodes(draw, role, relay_transport=None):
    """A valid input of ``role`` (proxy: with one generated preset): 1 to 3 public inbounds,
    a relay of ``relay_transport`` (None: any), users with and without their own fingerprint,
    a REALITY private key that is a real X25519 key. The relay port (a backend's) and the
    pool port (a proxy's) are none of the inbound ports, the API port none of them all (left
    out sometimes when it is the default)."""
    name, preset = draw(presets())
    inbounds = draw(inbound_lists())
    taken = {int(inbound["port"]) for inbound in inbounds}
    free_ports = PORTS.filter(lambda port: port not in taken)
    relay = draw(relays(relay_transport, free_ports))
    pool_port = draw(free_ports)
    # The API's port: none of the others (the default when it is free).
    used = taken | {int(relay["port"]), pool_port}
    api_port = draw(st.one_of(st.just(DEFAULTS["api_port"]), PORTS).filter(lambda p: p not in used))
    reality = draw(reality_servers())
    reality["private_key"] = draw(X25519_KEYS)
    document = {
        "node_role": role,
        "public": {
            "inbounds": inbounds,
            "users": draw(user_lists(fingerprints=True)),
            "reality": reality,
        },
        "relay": relay if role == "proxy" or draw(st.booleans()) else None,
        "pool": {"port": pool_port},
        "presets": {name: preset},
        "preset": name,
        "own_addresses": draw(own_address_lists()),
        "allowed_private_networks": draw(allowed_network_lists()),
    }
    if draw(st.booleans()):
        document["fingerprint"] = draw(FINGERPRINT_NAMES)
    if api_port != DEFAULTS["api_port"] or draw(st.booleans()):
        document["api_port"] = api_port
    return document


def relay_transport(document):
    """The relay transport name of a ``nodes()`` input (the default when left out)."""
    return document["relay"].get("transport") or DEFAULTS["relay.transport"]


# --------------------------------------------------------------------------- addresses


def addresses_in(network):
    """An address inside ``network`` (strategy)."""
    network = ipaddress.ip_network(network)
    return st.integers(0, network.num_addresses - 1).map(lambda offset: network[offset])


# Every address that is the node itself, and public ones.
LOCAL_ADDRESSES = st.sampled_from(NODE_LOCAL_NETWORKS).flatmap(addresses_in)
PRIVATE_ADDRESSES = st.sampled_from(PRIVATE_NETWORKS).flatmap(addresses_in)
ANY_ADDRESSES = st.ip_addresses()


@st.composite
def own_address_lists(draw):
    """What the role passes: interface addresses (any kind, IPv6 link-local with a zone)."""
    addresses = draw(
        st.lists(st.one_of(ANY_ADDRESSES, PRIVATE_ADDRESSES, LOCAL_ADDRESSES), max_size=5)
    )
    texts = []
    for address in addresses:
        zone = address.version == 6 and address.is_link_local and draw(st.booleans())
        texts.append(f"{address}%eth0" if zone else str(address))
    return texts


@st.composite
def allowed_network_lists(draw):
    """Networks inside PRIVATE_NETWORKS (what xray_allowed_private_networks accepts)."""
    networks = []
    for _ in range(draw(st.integers(0, 3))):
        outer = ipaddress.ip_network(draw(st.sampled_from(PRIVATE_NETWORKS)))
        prefix = draw(st.integers(outer.prefixlen, outer.max_prefixlen))
        inner = draw(addresses_in(outer))
        networks.append(str(ipaddress.ip_network(f"{inner}/{prefix}", strict=False)))
    return networks


def normalised(address_text):
    """An own address as the builder reads it: zone dropped, IPv4-mapped IPv6 as IPv4."""
    address = ipaddress.ip_address(address_text.split("%")[0])
    return address.ipv4_mapped or address if address.version == 6 else address


def route_of_address(config, address, strict=True):
    """Where Xray sends a connection to ``address`` (an IP, not a name): ``(index, tag)``.

    A model of Xray's first-match routing for address destinations: rules with a
    ``domain`` condition never match one (a proxy's IPIfNonMatch never resolves, its last
    rule matching everything; a backend routes AsIs). A ``geoip:`` list may hold any
    address: reaching a rule to a direct (freedom) outbound that may match raises
    AssertionError, or with ``strict=False`` returns that rule. Unmatched traffic goes to
    the first outbound (index None).
    """
    protocols = {outbound["tag"]: outbound["protocol"] for outbound in config["outbounds"]}
    for index, rule in enumerate(config["routing"]["rules"]):
        assert set(rule) <= {"type", "domain", "ip", "network", "outboundTag"}, rule
        if "domain" in rule:
            continue
        if "ip" not in rule:
            return index, rule["outboundTag"]  # the catch-all
        literal = [item for item in rule["ip"] if not item.startswith("geoip:")]
        if any(address in ipaddress.ip_network(item) for item in literal):
            return index, rule["outboundTag"]
        if len(literal) < len(rule["ip"]) and protocols[rule["outboundTag"]] == "freedom":
            assert not strict, f"routing.rules[{index}] may send {address} directly (geoip)"
            return index, rule["outboundTag"]
    return None, config["outbounds"][0]["tag"]
