# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The complete Xray config of a node, built from the role's variables and checked.

Pure Python, nothing here talks to a host.

Two node roles:

* ``proxy`` (proxy node, group ``proxy_servers``): the public VLESS-REALITY inbound
  ``public``; the outbounds ``foreign-pool`` (VLESS-REALITY with the shared relay identity
  to the local HAProxy, which forwards to the backends' relay inbounds), ``direct``
  (freedom) and ``block`` (blackhole), in that order; the routing: the block rules, then
  the country preset's (one rule per direct entry, then the catch-all to
  ``foreign-pool``). The config passes ``xray_fail_closed.check_fail_closed()`` before
  it is returned.
* ``backend`` (backend, group ``vpn_servers``): the inbound ``client`` for its
  own users, plus the inbound ``relay`` for the shared relay identity when a proxy
  relays through it; the outbounds ``direct`` (first: what no rule matches) and
  ``block``; the routing: the block rules.

The block rules keep Xray's users away from the node itself and from private networks
(``blocked_networks()``, ``block_rules()``), on both node kinds and before any other
rule: the first sends the node's local networks (loopback, link-local, the unspecified
addresses; never reachable), multicast, the reserved 240.0.0.0/4 and the node's own
addresses to ``block``; the second the private and special-purpose networks
(``PRIVATE_NETWORKS``) minus those the operator opts in to
(``xray_allowed_private_networks``). Rules only see a destination's address when the
client sends one; a name is resolved by the ``direct`` outbound, with Xray's DNS only
(``ForceIPv4``: no fallback to the system resolver), whose answers in the blocked
networks are dropped (``unexpectedIPs``), so a name that resolves to a blocked address
fails too. Every config passes ``xray_fail_closed.check_local_blocked()``.

Both node kinds open Xray's gRPC API on loopback only (``api.listen``
``127.0.0.1:<xray_api_port>``, no inbound and no routing rule for it): the HandlerService,
through which the role adds and removes users without a restart (``xray api adu``/``rmu``),
and the StatsService with per-user traffic counters (``stats``, ``policy``), which the stats
exporter reads (``xray api statsquery``).

User names (``email``), and the relay identity's, are safe as a file name and as the
label value of a metric (``SAFE_NAME``): the verify role names the user's files after them,
the stats exporter labels the traffic counters with them.

``build_config()`` takes one flat mapping whose keys stand for the role's variables
(``VARIABLES``); errors are ConfigError and name the variable to fix
(``xray_users[1].id: ...``). The transports are a table (``TRANSPORTS``): one entry
knows the streamSettings of both ends of a VLESS-REALITY hop and the flow they use.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote, urlencode

from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    IdentityError,
    public_key_from_private,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name, unknown_keys
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    DEFAULT_DIRECT_TAG,
    DEFAULT_POOL_TAG,
    NODE_LOCAL_NETWORKS,
    control_character,
    is_list,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_fail_closed import (
    FailClosedError,
    check_fail_closed,
    check_local_blocked,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import (
    PresetError,
    preset_routing,
)

__all__ = [
    "API_SERVICES",
    "API_TAG",
    "BLOCK_TAG",
    "DEFAULTS",
    "FINGERPRINTS",
    "NEVER_ALLOWED_NETWORKS",
    "NODE_ROLES",
    "PRIVATE_NETWORKS",
    "RELAY_TAG",
    "SAFE_NAME",
    "TRANSPORTS",
    "VARIABLES",
    "XHTTP_MODES",
    "ConfigError",
    "Transport",
    "api_sections",
    "block_outbound",
    "block_rules",
    "blocked_networks",
    "build_config",
    "client_links",
    "direct_outbound",
    "fingerprint",
    "inbound_tag",
    "reality_client",
    "reality_server",
    "transport_options",
    "vless_link",
    "vless_reality_inbound",
    "vless_reality_outbound",
]

NODE_ROLES = ("proxy", "backend")
PUBLIC_TAG = "public"
CLIENT_TAG = "client"
RELAY_TAG = "relay"
POOL_TAG = DEFAULT_POOL_TAG
DIRECT_TAG = DEFAULT_DIRECT_TAG
BLOCK_TAG = "block"
LISTEN = "0.0.0.0"
# Xray's gRPC API (api.listen, Xray 1.8.12 and later: no dokodemo inbound, no routing rule),
# on loopback only: whoever reaches it can add users.
API_TAG = "api"
API_LISTEN = "127.0.0.1"
API_SERVICES = ("HandlerService", "StatsService")
VISION_FLOW = "xtls-rprx-vision"
# A backend routes nothing by name: its rules are all about addresses.
BACKEND_DOMAIN_STRATEGY = "AsIs"

# Never reachable through Xray, whatever xray_allowed_private_networks says: the node
# itself and its link, multicast, and the reserved 240.0.0.0/4 (broadcast included).
NEVER_ALLOWED_NETWORKS = (*NODE_LOCAL_NETWORKS, "224.0.0.0/4", "240.0.0.0/4", "ff00::/8")
# Private and special-purpose networks (IANA's registries: not globally reachable), blocked
# unless the operator lists them, or networks inside them, in xray_allowed_private_networks.
PRIVATE_NETWORKS = (
    "10.0.0.0/8",  # RFC 1918
    "100.64.0.0/10",  # shared address space (carrier-grade NAT)
    "172.16.0.0/12",  # RFC 1918
    "192.0.0.0/24",  # IETF protocol assignments
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "192.168.0.0/16",  # RFC 1918
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "100::/64",  # discard-only
    "2001:db8::/32",  # documentation
    "fc00::/7",  # unique local
    "fec0::/10",  # site-local (deprecated)
)

# Input key (dotted path) -> the role variable an error about it names.
VARIABLES = {
    "node_role": "xray_node_role",
    "log_level": "xray_log_level",
    "api_port": "xray_api_port",
    "dns_hosts": "xray_dns_hosts",
    "public.inbounds": "xray_inbounds",
    "public.users": "xray_users",
    "public.reality.target": "xray_reality_target",
    "public.reality.server_names": "xray_reality_server_names",
    "public.reality.private_key": "xray_reality_private_key",
    "public.reality.short_id": "xray_reality_short_id",
    "relay.transport": "xray_relay_transport",
    "relay.options": "xray_relay_transport_options",
    "relay.name": "xray_relay_name",
    "relay.server_name": "xray_relay_server_name",
    "relay.port": "xray_relay_port",
    "relay.identity": "xray_relay_identity",
    "pool.address": "xray_pool_address",
    "pool.port": "xray_pool_port",
    "preset": "proxy_preset",
    "fingerprint": "xray_fingerprint",
    "own_addresses": "xray_own_addresses",
    "allowed_private_networks": "xray_allowed_private_networks",
}
# Input keys that may be left out (or null), and their values then.
DEFAULTS = {
    "log_level": "warning",
    "api_port": 10085,
    "dns_hosts": MappingProxyType({}),
    "relay.transport": "xhttp",
    "relay.options": MappingProxyType({}),
    "pool.address": "127.0.0.1",
    "fingerprint": "chrome",
    "own_addresses": (),
    "allowed_private_networks": (),
}

_NODE_KEYS = (
    "node_role",
    "log_level",
    "api_port",
    "dns_hosts",
    "public",
    "relay",
    "pool",
    "presets",
    "preset",
    "fingerprint",
    "own_addresses",
    "allowed_private_networks",
)
_PUBLIC_KEYS = ("inbounds", "users", "reality")
_REALITY_KEYS = ("target", "server_names", "private_key", "short_id")
_RELAY_KEYS = ("transport", "options", "name", "server_name", "port", "identity")
_POOL_KEYS = ("address", "port")
_USER_KEYS = ("id", "email")
# Optional keys of a user: they reach the user's links, not Xray's config.
_USER_LINK_KEYS = ("fingerprint",)
_INBOUND_KEYS = ("transport", "port")
# uTLS ClientHello fingerprints Xray knows (transport/internet/tls), without "unsafe" and
# the empty one (Go's own ClientHello, which no browser sends).
FINGERPRINTS = (
    "chrome",
    "firefox",
    "safari",
    "ios",
    "android",
    "edge",
    "360",
    "qq",
    "random",
    "randomized",
    "randomizednoalpn",
)

_DECIMAL_RE = re.compile(r"[0-9]+")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_SHORT_ID_RE = re.compile(r"(?:[0-9a-f]{2}){1,8}", re.I)
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", re.I)
# A user name (Xray email): a file name (the verify role's per-user files) and a Prometheus
# label value (the stats exporter's), as is: no "/", quotes, backslash, whitespace, not "."
# or "..", at most 64 characters.
SAFE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}"
_SAFE_NAME_RE = re.compile(SAFE_NAME)
_REQUIRED = object()


class ConfigError(ValueError):
    """An input of the config builder is invalid.

    ``variable`` is the role variable to fix (``xray_users[1].id``), or ``xray_config``
    for a mistake in the shape of the input itself; ``str(error)`` is
    ``"<variable>: <message>"``.
    """

    def __init__(self, variable, message):
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


# --------------------------------------------------------------------------- transports


@dataclass(frozen=True)
class Transport:
    """How a VLESS-REALITY hop is carried: one entry of ``TRANSPORTS``.

    ``network`` is Xray's ``streamSettings.network``; ``flow`` is set on the inbound's
    clients and on the outbound's user (both ends must agree), None leaves it out.
    ``options`` are the settings an operator may give an inbound (``xray_inbounds[i]``) or
    the relay leg (``xray_relay_transport_options``) of this transport: option name ->
    ``(default, check)``, where ``check(value, variable)`` returns the value or raises
    ConfigError. ``settings`` turns the checked options into the transport's own
    ``streamSettings`` entries (e.g. ``xhttpSettings``), the same on both ends of a hop.
    ``link`` turns them into the query parameters of a ``vless://`` share link.
    """

    network: str
    flow: str | None
    options: Mapping
    settings: Callable[[dict], dict]
    link: Callable[[dict], dict]

    def stream(self, reality, options):
        """``streamSettings`` of either end; ``reality`` is its ``realitySettings``."""
        return {
            "network": self.network,
            "security": "reality",
            "realitySettings": reality,
            **self.settings(options),
        }


# XHTTP modes (Xray's xhttpSettings.mode). "auto": with REALITY the client uses stream-one
# (one HTTP/2 request carries both directions); the server accepts every mode.
XHTTP_MODES = ("auto", "packet-up", "stream-up", "stream-one")
_PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,127}")


def _xhttp_path(value, variable):
    path = _text(value, variable)
    if not _PATH_RE.fullmatch(path) or "%" in path:
        raise ConfigError(
            variable,
            "must be a URL path that starts with / (letters, digits and -._~!$&'()*+,;=:@/, "
            f"at most 128 characters, no query, no fragment, no percent escapes), got {path!r}",
        )
    return path


def _choice(choices):
    def check(value, variable):
        if not isinstance(value, str) or value not in choices:
            raise ConfigError(variable, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


# Transport name (an xray_inbounds[i].transport or xray_relay_transport value) -> Transport.
# A new transport is one entry here (and its name in the roles' argument specs).
TRANSPORTS = {
    # Raw TCP, REALITY, XTLS Vision: what every client imports, sing-box included.
    "tcp-vision": Transport(
        network="tcp",
        flow=VISION_FLOW,
        options=MappingProxyType({}),
        settings=lambda options: {},
        link=lambda options: {"flow": VISION_FLOW, "type": "tcp", "headerType": "none"},
    ),
    # VLESS + REALITY over XHTTP (HTTP/2 inside REALITY's TLS). No Vision flow: Xray accepts
    # it in the config, but no data passes (measured with 26.3.27).
    "xhttp": Transport(
        network="xhttp",
        flow=None,
        options=MappingProxyType(
            {"path": ("/", _xhttp_path), "mode": ("auto", _choice(XHTTP_MODES))}
        ),
        settings=lambda options: {
            "xhttpSettings": {"path": options["path"], "mode": options["mode"]}
        },
        link=lambda options: {"type": "xhttp", "path": options["path"], "mode": options["mode"]},
    ),
}


def reality_server(target, server_names, private_key, short_ids):
    """``realitySettings`` of an inbound."""
    return {
        "target": target,
        "serverNames": list(server_names),
        "privateKey": private_key,
        "shortIds": list(short_ids),
    }


def reality_client(server_name, public_key, short_id, fingerprint):
    """``realitySettings`` of an outbound."""
    return {
        "serverName": server_name,
        "publicKey": public_key,
        "shortId": short_id,
        "fingerprint": fingerprint,
    }


def _options(transport, options):
    """The transport's options: ``options`` as given, or its defaults."""
    if options is None:
        return {name: default for name, (default, _check) in transport.options.items()}
    return options


def _flow(transport):
    return {"flow": transport.flow} if transport.flow else {}


def vless_reality_inbound(tag, port, clients, transport, reality, options=None):
    """A VLESS-REALITY inbound on all addresses: the public, client and relay inbounds.

    ``clients`` are ``{"id", "email"}`` mappings; ``reality`` is ``reality_server()``;
    ``options`` the transport's checked options (its defaults when None).
    """
    return {
        "tag": tag,
        "listen": LISTEN,
        "port": port,
        "protocol": "vless",
        "settings": {
            "clients": [{**client, **_flow(transport)} for client in clients],
            "decryption": "none",
        },
        "streamSettings": transport.stream(reality, _options(transport, options)),
    }


def vless_reality_outbound(tag, address, port, user_id, transport, reality, options=None):
    """A VLESS-REALITY outbound to one server; ``reality`` is ``reality_client()``."""
    user = {"id": user_id, "encryption": "none", **_flow(transport)}
    return {
        "tag": tag,
        "protocol": "vless",
        "settings": {"vnext": [{"address": address, "port": port, "users": [user]}]},
        "streamSettings": transport.stream(reality, _options(transport, options)),
    }


def direct_outbound(tag=DIRECT_TAG):
    """The freedom outbound; IPv4 only, like the nodes' own uplinks.

    ``ForceIPv4``: a name is resolved with Xray's DNS (whose answers in the blocked
    networks are dropped) and the connection fails when that finds nothing; ``UseIPv4``
    would then ask the system resolver, which may answer 127.0.0.1.
    """
    return {"tag": tag, "protocol": "freedom", "settings": {"domainStrategy": "ForceIPv4"}}


def api_sections(port):
    """The ``api``, ``stats`` and ``policy`` sections: Xray's gRPC API on 127.0.0.1:``port``
    (HandlerService, StatsService) and traffic counters per user (``user>>>EMAIL>>>traffic
    >>>uplink``/``downlink``) for the users of level 0, which are all of them."""
    return {
        "api": {"tag": API_TAG, "listen": f"{API_LISTEN}:{port}", "services": list(API_SERVICES)},
        "stats": {},
        "policy": {"levels": {"0": {"statsUserUplink": True, "statsUserDownlink": True}}},
    }


def block_outbound(tag=BLOCK_TAG):
    """The blackhole outbound the block rules send to: the connection is closed."""
    return {"tag": tag, "protocol": "blackhole"}


def _host_network(address):
    return ipaddress.ip_network(address)  # an address is its own /32 or /128


def blocked_networks(own_addresses=(), allowed_networks=()):
    """The networks of the two block rules: ``(node, private)``, lists of strings.

    ``own_addresses`` are ``ipaddress`` addresses, ``allowed_networks`` networks inside
    ``PRIVATE_NETWORKS`` (validated by the caller). ``private`` is ``PRIVATE_NETWORKS``
    minus the allowed networks; ``node`` is ``NEVER_ALLOWED_NETWORKS`` and the own
    addresses as /32 or /128, sorted, except those the other entries block anyway (an
    interface in a private network: a Docker bridge coming or going changes nothing).
    """
    never = [ipaddress.ip_network(network) for network in NEVER_ALLOWED_NETWORKS]
    # Collapsed, the allowed networks are disjoint: each lies inside one remaining piece.
    allowed_networks = [
        network
        for version in (4, 6)
        for network in ipaddress.collapse_addresses(
            n for n in allowed_networks if n.version == version
        )
    ]
    private = []
    for text in PRIVATE_NETWORKS:
        remaining = [ipaddress.ip_network(text)]
        for allowed in allowed_networks:
            remaining = [
                part
                for network in remaining
                for part in (
                    network.address_exclude(allowed)
                    if network.version == allowed.version and allowed.subnet_of(network)
                    else [network]
                )
            ]
        private += sorted(remaining)
    own = sorted(
        {
            _host_network(address)
            for address in own_addresses
            if not any(address in network for network in never + private)
        },
        key=lambda network: (network.version, network),
    )
    return [str(network) for network in never + own], [str(network) for network in private]


def block_rules(node, private, tag=BLOCK_TAG):
    """The rules that come first on every node: ``node``, then ``private`` (if any) to ``tag``."""
    rules = [{"type": "field", "ip": list(node), "outboundTag": tag}]
    if private:
        rules.append({"type": "field", "ip": list(private), "outboundTag": tag})
    return rules


# --------------------------------------------------------------------------- values


def _quote_hint(value):
    """YAML reads unquoted digits as a number."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return " (quote it in YAML)" if number else ""


def _text(value, variable, secret=False):
    """A non-empty string without control characters; ``secret`` is never quoted."""
    shown = "" if secret else f" {value!r}"
    if not isinstance(value, str):
        hint = _quote_hint(value)
        raise ConfigError(variable, f"must be a string{hint}, got {type_name(value)}{shown}")
    if not value:
        raise ConfigError(variable, "must not be empty")
    control = control_character(value)
    if control:
        quoted = "" if secret else f"{value!r} "
        raise ConfigError(
            variable, f"{quoted}contains the control character or line break {control}"
        )
    return str(value)


def _name(value, variable):
    """A user name (Xray ``email``): ``SAFE_NAME``, else ConfigError saying why."""
    name = _text(value, variable)
    if not _SAFE_NAME_RE.fullmatch(name):
        raise ConfigError(
            variable,
            f"{name!r} is not a safe name: 1 to 64 letters, digits and _.@+- starting with a "
            "letter or digit (no whitespace, /, quotes or backslash), because it names the "
            "user's files and labels the user's traffic metrics",
        )
    return name


def _uuid(value, variable):
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        got = f"a string of {len(value)} characters" if isinstance(value, str) else type_name(value)
        raise ConfigError(
            variable,
            "must be a UUID in canonical form, 8-4-4-4-12 hexadecimal digits as `xray uuid` "
            "prints it (Xray silently derives an unrelated id from other strings of up to 30 "
            f"characters), got {got}",
        )
    return str(value)


def _short_id(value, variable):
    if not isinstance(value, str):
        hint = _quote_hint(value)
        raise ConfigError(
            variable,
            f"must be a string of hexadecimal digits{hint}, got {type_name(value)} {value!r}",
        )
    if not value:
        raise ConfigError(
            variable,
            "must not be empty: with an empty short id the REALITY inbound accepts clients "
            "that send none",
        )
    if not _SHORT_ID_RE.fullmatch(value):
        raise ConfigError(
            variable,
            f"must be 2 to 16 hexadecimal digits, an even number of them, got {value!r}",
        )
    return str(value)


def _port(value, variable):
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise ConfigError(
            variable, f"must be a port between 1 and 65535, got {type_name(value)} {value!r}"
        )
    return int(value)


def _is_hostname(text):
    labels = text.split(".")
    return len(text) <= 253 and all(_LABEL_RE.fullmatch(label) for label in labels)


def _hostname(value, variable):
    name = _text(value, variable)
    if not _is_hostname(name):
        raise ConfigError(
            variable,
            f"must be a host name (dot-separated labels of letters, digits and '-'), got {name!r}",
        )
    return name


def _target(value, variable):
    """REALITY ``target``: ``host:port``, an IPv6 host in brackets."""
    target = _text(value, variable)
    host, separator, port = target.rpartition(":")
    if not separator or not host:
        raise ConfigError(
            variable, f"must be host:port (e.g. www.microsoft.com:443), got {target!r}"
        )
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            raise ConfigError(variable, f"{host!r} is not an IPv6 address in brackets") from None
    elif not _is_hostname(host):
        raise ConfigError(
            variable,
            f"{host!r} is not a host name or IPv4 address (an IPv6 address goes in "
            "brackets: [2001:db8::1]:443)",
        )
    if not _DECIMAL_RE.fullmatch(port) or not 1 <= int(port) <= 65535:
        raise ConfigError(variable, f"{port!r} is not a port between 1 and 65535")
    return target


def _server_names(value, variable):
    if not is_list(value) or not value:
        shown = f" {value!r}" if isinstance(value, str) else ""
        raise ConfigError(
            variable, f"must be a non-empty list of host names, got {type_name(value)}{shown}"
        )
    return [_hostname(name, f"{variable}[{index}]") for index, name in enumerate(value)]


def _users(value, variable):
    """Users ``[{"id", "email"}]``: ids and emails unique (emails ignoring case, as Xray)."""
    if not is_list(value):
        raise ConfigError(
            variable, f"must be a list of users with id and email, got {type_name(value)}"
        )
    users = []
    ids = {}
    emails = {}
    for index, user in enumerate(value):
        where = f"{variable}[{index}]"
        if not isinstance(user, Mapping):
            raise ConfigError(where, f"must be a mapping with id and email, got {type_name(user)}")
        unknown = unknown_keys(user, _USER_KEYS + _USER_LINK_KEYS)
        if unknown:
            raise ConfigError(
                where, f"unknown key {unknown[0]!r} (a user has id, email and maybe fingerprint)"
            )
        if user.get("fingerprint") is not None:
            fingerprint(user["fingerprint"], f"{where}.fingerprint")
        for key in _USER_KEYS:
            if user.get(key) is None:
                raise ConfigError(f"{where}.{key}", "is required")
        user_id = _uuid(user["id"], f"{where}.id")
        email = _name(user["email"], f"{where}.email")
        if user_id.lower() in ids:
            raise ConfigError(f"{where}.id", f"is also the id of {ids[user_id.lower()]}")
        if email.lower() in emails:
            raise ConfigError(
                f"{where}.email",
                f"{email!r} is also the email of {emails[email.lower()]} (Xray compares "
                "emails ignoring case)",
            )
        ids[user_id.lower()] = where
        emails[email.lower()] = where
        users.append({"id": user_id, "email": email})
    return users


def _dns_hosts(value, variable):
    if not isinstance(value, Mapping):
        raise ConfigError(
            variable, f"must be a mapping of name to address(es), got {type_name(value)}"
        )
    hosts = {}
    for name, answer in value.items():
        name = _text(name, f"{variable} key {name!r}")
        where = f"{variable}[{name!r}]"
        if is_list(answer):
            if not answer:
                raise ConfigError(where, "must be an address or a non-empty list of addresses")
            hosts[name] = [_text(item, f"{where}[{index}]") for index, item in enumerate(answer)]
        else:
            hosts[name] = _text(answer, where)
    return hosts


def _address(value, variable):
    """An IP address; an IPv6 zone (``%eth0``) is dropped, IPv4-mapped IPv6 is IPv4."""
    if not isinstance(value, str):
        raise ConfigError(variable, f"must be an IP address, got {type_name(value)} {value!r}")
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        raise ConfigError(variable, f"{value!r} is not an IP address") from None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _own_addresses(value, variable):
    if not is_list(value):
        raise ConfigError(variable, f"must be a list of IP addresses, got {type_name(value)}")
    return [_address(item, f"{variable}[{index}]") for index, item in enumerate(value)]


def _same_family(network, others):
    return [other for other in others if other.version == network.version]


def _allowed_networks(value, variable):
    """Networks inside PRIVATE_NETWORKS; none touches NEVER_ALLOWED_NETWORKS."""
    if not is_list(value):
        raise ConfigError(
            variable, f"must be a list of networks such as 172.29.0.0/24, got {type_name(value)}"
        )
    never = [ipaddress.ip_network(network) for network in NEVER_ALLOWED_NETWORKS]
    private = [ipaddress.ip_network(network) for network in PRIVATE_NETWORKS]
    networks = []
    for index, item in enumerate(value):
        where = f"{variable}[{index}]"
        if not isinstance(item, str):
            raise ConfigError(
                where, f"must be a network such as 172.29.0.0/24, got {type_name(item)} {item!r}"
            )
        try:
            network = ipaddress.ip_network(item)
        except ValueError:
            try:
                network = ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(
                    where,
                    f"{item!r} is not a network or an address (e.g. 172.29.0.0/24, fd00:1::/64)",
                ) from None
            message = f"{item!r} has host bits set; did you mean {network}?"
            raise ConfigError(where, message) from None
        clash = next((n for n in _same_family(network, never) if n.overlaps(network)), None)
        if clash is not None:
            raise ConfigError(
                where,
                f"{network} overlaps {clash} (the node itself: loopback, link-local, unspecified; "
                "or multicast, reserved), which is never reachable through Xray",
            )
        if not any(network.subnet_of(p) for p in _same_family(network, private)):
            raise ConfigError(
                where,
                f"{network} is not inside one of the private or special-purpose networks, the "
                f"only ones blocked ({', '.join(PRIVATE_NETWORKS)}); there is nothing to allow",
            )
        networks.append(network)
    return networks


def _check_dns_answers(hosts, variable, node, private):
    """No static answer is an address the block rules keep Xray's users from."""
    node = [ipaddress.ip_network(network) for network in node]
    private = [ipaddress.ip_network(network) for network in private]
    for name, answer in hosts.items():
        answers = answer if is_list(answer) else [answer]
        for index, text in enumerate(answers):
            where = f"{variable}[{name!r}]" + (f"[{index}]" if is_list(answer) else "")
            try:
                address = _address(text, where)
            except ConfigError:
                continue  # a name: Xray's DNS resolves it and drops answers in blocked networks
            if any(address in network for network in node):
                raise ConfigError(
                    where,
                    f"{address} is the node itself (loopback, link-local, unspecified, one of its "
                    "own addresses) or multicast or reserved, which Xray users never reach",
                )
            if any(address in network for network in private):
                raise ConfigError(
                    where,
                    f"{address} is in a private network Xray users are blocked from; list it, or "
                    f"its network, in {VARIABLES['allowed_private_networks']} to let them reach it",
                )


# --------------------------------------------------------------------------- input


class _Section:
    """One mapping of the builder's input; errors about its keys name the role variable."""

    def __init__(self, value, path, known):
        where = path or "the input"
        if not isinstance(value, Mapping):
            raise ConfigError(
                "xray_config",
                f"{where} must be a mapping (see the filter's documentation), "
                f"got {type_name(value)}",
            )
        unknown = unknown_keys(value, known)
        if unknown:
            raise ConfigError(
                "xray_config", f"{where}: unknown key {unknown[0]!r} (known: {', '.join(known)})"
            )
        self.value = value
        self.path = path

    def key(self, name):
        return f"{self.path}.{name}" if self.path else name

    def variable(self, name):
        return VARIABLES[self.key(name)]

    def get(self, name):
        """The value of ``name``, its default when absent, ConfigError when required."""
        key = self.key(name)
        value = self.value.get(name)
        if value is not None:
            return value
        if key in DEFAULTS:
            return DEFAULTS[key]
        raise ConfigError(VARIABLES[key], f"is required (input key {key})")

    def section(self, name, known):
        """A nested mapping; missing or null reads as empty (its keys report themselves)."""
        value = self.value.get(name)
        return _Section({} if value is None else value, self.key(name), known)


def fingerprint(value, variable):
    """A uTLS fingerprint name of ``FINGERPRINTS``."""
    if not isinstance(value, str) or value not in FINGERPRINTS:
        raise ConfigError(
            variable,
            f"must be one of {', '.join(FINGERPRINTS)} (uTLS ClientHello fingerprints), "
            f"got {value!r}",
        )
    return str(value)


def transport_options(transport_name, options, variable, option_variable):
    """``(Transport, options)``: the named transport and its checked options, defaults filled.

    ``variable`` names the transport value in errors, ``option_variable(option)`` an option.
    """
    if not isinstance(transport_name, str) or transport_name not in TRANSPORTS:
        raise ConfigError(
            variable, f"must be one of {', '.join(TRANSPORTS)}, got {transport_name!r}"
        )
    transport = TRANSPORTS[transport_name]
    if not isinstance(options, Mapping):
        raise ConfigError(option_variable(None), f"must be a mapping, got {type_name(options)}")
    unknown = unknown_keys(options, tuple(transport.options))
    if unknown:
        takes = ", ".join(transport.options) or "no options"
        raise ConfigError(
            option_variable(unknown[0]),
            f"{transport_name} takes {takes}; {unknown[0]!r} is not one of them",
        )
    checked = {}
    for name, (default, check) in transport.options.items():
        value = options.get(name)
        checked[name] = default if value is None else check(value, option_variable(name))
    return transport, checked


def _inbounds(value, variable):
    """The public inbounds: ``[{"transport", "port", <options>}]``, ports unique."""
    if not is_list(value) or not value:
        raise ConfigError(
            variable,
            "must be a non-empty list of inbounds, each a mapping with transport and port "
            f"(e.g. [{{transport: tcp-vision, port: 443}}]), got {type_name(value)}",
        )
    inbounds = []
    ports = {}
    for index, item in enumerate(value):
        where = f"{variable}[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(
                where, f"must be a mapping with transport and port, got {type_name(item)}"
            )
        for key in _INBOUND_KEYS:
            if item.get(key) is None:
                raise ConfigError(f"{where}.{key}", "is required")
        port = _port(item["port"], f"{where}.port")
        if port in ports:
            raise ConfigError(f"{where}.port", f"{port} is also the port of {ports[port]}")
        ports[port] = where
        options = {key: option for key, option in item.items() if key not in _INBOUND_KEYS}
        transport, options = transport_options(
            item["transport"],
            options,
            f"{where}.transport",
            lambda option, where=where: f"{where}.{option}" if option else where,
        )
        inbounds.append(
            {
                "transport": transport,
                "name": str(item["transport"]),
                "port": port,
                "options": options,
            }
        )
    return inbounds


def _public(node):
    public = node.section("public", _PUBLIC_KEYS)
    reality = public.section("reality", _REALITY_KEYS)
    return {
        "inbounds": _inbounds(public.get("inbounds"), public.variable("inbounds")),
        "users": _users(public.get("users"), public.variable("users")),
        "target": _target(reality.get("target"), reality.variable("target")),
        "server_names": _server_names(
            reality.get("server_names"), reality.variable("server_names")
        ),
        "private_key": _text(
            reality.get("private_key"), reality.variable("private_key"), secret=True
        ),
        "short_id": _short_id(reality.get("short_id"), reality.variable("short_id")),
    }


def _identity(value, variable, keys):
    """The shared relay identity; other keys (of a registered result) are ignored."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            variable,
            f"must be the relay identity (uuid, private_key, public_key, short_id), "
            f"got {type_name(value)}",
        )
    if value.get("skipped") and "uuid" not in value:
        raise ConfigError(
            variable,
            "the relay identity was not loaded (its task was skipped: no proxy lists a "
            "backend in proxy_backends)",
        )
    identity = {}
    for key in keys:
        where = f"{variable}.{key}"
        if value.get(key) is None:
            raise ConfigError(where, "is required")
        if key == "uuid":
            identity[key] = _uuid(value[key], where)
        elif key == "short_id":
            identity[key] = _short_id(value[key], where)
        else:
            identity[key] = _text(value[key], where, secret=key == "private_key")
    return identity


def _relay(node, role):
    """The relay section, or None on a backend no proxy relays through."""
    if node.value.get("relay") is None:
        if role == "proxy":
            raise ConfigError(
                VARIABLES["relay.identity"],
                "is required on a proxy: its foreign-pool outbound uses the shared relay "
                "identity (input key relay is missing or null)",
            )
        return None
    relay = node.section("relay", _RELAY_KEYS)
    options_variable = relay.variable("options")
    transport, options = transport_options(
        relay.get("transport"),
        relay.get("options"),
        relay.variable("transport"),
        lambda option: f"{options_variable}.{option}" if option else options_variable,
    )
    checked = {
        "transport": transport,
        "options": options,
        "server_name": _hostname(relay.get("server_name"), relay.variable("server_name")),
    }
    if role == "proxy":
        keys = ("uuid", "public_key", "short_id")
    else:
        keys = ("uuid", "private_key", "short_id")
        checked["name"] = _name(relay.get("name"), relay.variable("name"))
        checked["port"] = _port(relay.get("port"), relay.variable("port"))
    checked["identity"] = _identity(relay.get("identity"), relay.variable("identity"), keys)
    return checked


# --------------------------------------------------------------------------- configs


def _api_port_free(api_port, port, variable):
    """The API port is not ``port``, the port ``variable`` gives the node."""
    if api_port == port:
        raise ConfigError(VARIABLES["api_port"], f"{api_port} is also the port of {variable}")


def _proxy_config(node, base, public, relay, blocking, own, api_port):
    pool = node.section("pool", _POOL_KEYS)
    address = _text(pool.get("address"), pool.variable("address"))
    pool_port = _port(pool.get("port"), pool.variable("port"))
    _port_free(pool_port, pool.variable("port"), public)
    _api_port_free(api_port, pool_port, pool.variable("port"))
    relay_fingerprint = fingerprint(node.get("fingerprint"), node.variable("fingerprint"))
    try:
        routing = preset_routing(
            node.value.get("presets"),
            node.get("preset"),
            direct_tag=DIRECT_TAG,
            pool_tag=POOL_TAG,
        )
    except PresetError as exc:
        raise ConfigError(node.variable("preset"), str(exc)) from None
    identity = relay["identity"]
    config = {
        **base,
        "inbounds": _public_inbounds(PUBLIC_TAG, public),
        "outbounds": [
            vless_reality_outbound(
                POOL_TAG,
                address,
                pool_port,
                identity["uuid"],
                relay["transport"],
                reality_client(
                    relay["server_name"],
                    identity["public_key"],
                    identity["short_id"],
                    relay_fingerprint,
                ),
                relay["options"],
            ),
            direct_outbound(),
            block_outbound(),
        ],
        "routing": {**routing, "rules": blocking + routing["rules"]},
    }
    try:
        check_fail_closed(config, pool_tag=POOL_TAG, direct_tag=DIRECT_TAG, own_addresses=own)
    except FailClosedError as exc:
        raise ConfigError("xray_config", f"refusing a config that could leak: {exc}") from None
    return config


def inbound_tag(base, port):
    """Tag of a public inbound: ``public-443`` on a proxy, ``client-443`` on a backend."""
    return f"{base}-{port}"


def _public_inbounds(base, public):
    """The node's own VLESS-REALITY inbounds, one per ``xray_inbounds`` entry: the same
    users and REALITY keys on each, ``public-<port>`` on a proxy, ``client-<port>`` on a
    backend."""
    reality = reality_server(
        public["target"], public["server_names"], public["private_key"], [public["short_id"]]
    )
    return [
        vless_reality_inbound(
            inbound_tag(base, inbound["port"]),
            inbound["port"],
            public["users"],
            inbound["transport"],
            reality,
            inbound["options"],
        )
        for inbound in public["inbounds"]
    ]


def _port_free(port, variable, public):
    """``port`` is not the port of a public inbound."""
    for index, inbound in enumerate(public["inbounds"]):
        if inbound["port"] == port:
            raise ConfigError(
                variable,
                f"{port} is also the port of {VARIABLES['public.inbounds']}[{index}]",
            )


def _backend_config(base, public, relay, blocking, own, api_port):
    inbounds = _public_inbounds(CLIENT_TAG, public)
    if relay is not None:
        _port_free(relay["port"], VARIABLES["relay.port"], public)
        _api_port_free(api_port, relay["port"], VARIABLES["relay.port"])
        identity = relay["identity"]
        inbounds.append(
            vless_reality_inbound(
                RELAY_TAG,
                relay["port"],
                [{"id": identity["uuid"], "email": relay["name"]}],
                relay["transport"],
                reality_server(
                    public["target"],
                    [relay["server_name"]],
                    identity["private_key"],
                    [identity["short_id"]],
                ),
                relay["options"],
            )
        )
    config = {
        **base,
        "inbounds": inbounds,
        # Direct first: it takes what no rule matches.
        "outbounds": [direct_outbound(), block_outbound()],
        "routing": {"domainStrategy": BACKEND_DOMAIN_STRATEGY, "rules": blocking},
    }
    try:
        check_local_blocked(config, own, direct_tag=DIRECT_TAG)
    except FailClosedError as exc:
        raise ConfigError("xray_config", f"refusing a config that could leak: {exc}") from None
    return config


def build_config(node):
    """The complete Xray config of one node (see the module docstring); ConfigError.

    ``node`` is the flat input mapping documented in the ``edgerelay.proxy.xray_config``
    filter. Keys another node role uses are ignored (not validated). A config is returned
    only if it passes ``check_local_blocked()``, a proxy config only if it passes
    ``check_fail_closed()`` too.
    """
    node = _Section(node, "", _NODE_KEYS)
    role = node.get("node_role")
    if role not in NODE_ROLES:
        raise ConfigError(node.variable("node_role"), f"must be proxy or backend, got {role!r}")
    own = _own_addresses(node.get("own_addresses"), node.variable("own_addresses"))
    allowed = _allowed_networks(
        node.get("allowed_private_networks"), node.variable("allowed_private_networks")
    )
    node_networks, private_networks = blocked_networks(own, allowed)
    hosts = _dns_hosts(node.get("dns_hosts"), node.variable("dns_hosts"))
    _check_dns_answers(hosts, node.variable("dns_hosts"), node_networks, private_networks)
    blocking = block_rules(node_networks, private_networks)
    blocked = node_networks + private_networks
    api_port = _port(node.get("api_port"), node.variable("api_port"))
    base = {
        "log": {"loglevel": _text(node.get("log_level"), node.variable("log_level"))},
        # Names resolve here, for the direct outbound too: answers in the blocked networks
        # are dropped, so a name cannot lead to an address the rules block.
        "dns": {"hosts": hosts, "servers": [{"address": "localhost", "unexpectedIPs": blocked}]},
        **api_sections(api_port),
    }
    public = _public(node)
    _port_free(api_port, node.variable("api_port"), public)
    relay = _relay(node, role)
    own_texts = [str(address) for address in own]
    if role == "proxy":
        return _proxy_config(node, base, public, relay, blocking, own_texts, api_port)
    return _backend_config(base, public, relay, blocking, own_texts, api_port)


# --------------------------------------------------------------------------- links


def _link_host(host):
    """``host`` as it goes between ``@`` and ``:port``: an IPv6 address in brackets."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{address}]" if address.version == 6 else str(address)


def vless_link(user_id, host, port, transport_name, options, reality, remark):
    """A ``vless://`` share link, the form v2rayN, Hiddify, Streisand, sing-box and Xray's
    share-link importers read (XTLS/Xray-core discussion 716).

    ``reality`` holds the client side: ``server_name``, ``public_key``, ``short_id``,
    ``fingerprint``. Every value is percent-encoded (``/`` too); the remark is the fragment.
    """
    transport = TRANSPORTS[transport_name]
    params = {
        "encryption": "none",
        "security": "reality",
        "sni": reality["server_name"],
        "fp": reality["fingerprint"],
        "pbk": reality["public_key"],
        "sid": reality["short_id"],
        **transport.link(options),
    }
    query = urlencode(params, quote_via=quote, safe="")
    return f"vless://{user_id}@{_link_host(host)}:{port}?{query}#{quote(remark, safe='@')}"


def client_links(node, host, public_key=None):
    """The share links of a node's own inbounds: one per user and ``xray_inbounds`` entry.

    ``node`` is ``build_config()``'s input, validated the same way (ConfigError); ``host``
    is the name or address clients dial (``proxy_domain``); ``public_key`` the REALITY
    public key, derived from the private key when None. The first server name is the SNI;
    a user's own ``fingerprint`` wins over ``xray_fingerprint``. Returns
    ``[{"user", "transport", "port", "link"}]``, users in order, then inbounds in order.
    """
    section = _Section(node, "", _NODE_KEYS)
    public = _public(section)
    host = _text(host, "proxy_domain")
    try:
        ipaddress.ip_address(host)
        if "%" in host:
            raise ValueError(host)
    except ValueError:
        if not _is_hostname(host):
            raise ConfigError(
                "proxy_domain",
                f"must be a host name or an IP address (no port, no IPv6 zone), got {host!r}",
            ) from None
    default_fingerprint = fingerprint(section.get("fingerprint"), section.variable("fingerprint"))
    if public_key is None:
        try:
            public_key = public_key_from_private(public["private_key"])
        except IdentityError as exc:
            raise ConfigError(VARIABLES["public.reality.private_key"], str(exc)) from None
    given = section.get("public").get("users") or []
    links = []
    for index, user in enumerate(public["users"]):
        chosen = given[index].get("fingerprint") or default_fingerprint
        reality = {
            "server_name": public["server_names"][0],
            "public_key": public_key,
            "short_id": public["short_id"],
            "fingerprint": chosen,
        }
        for inbound in public["inbounds"]:
            remark = f"{user['email']}-{inbound['name']}-{inbound['port']}"
            links.append(
                {
                    "user": user["email"],
                    "transport": inbound["name"],
                    "port": inbound["port"],
                    "link": vless_link(
                        user["id"],
                        host,
                        inbound["port"],
                        inbound["name"],
                        inbound["options"],
                        reality,
                        remark,
                    ),
                }
            )
    return links
