# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning and validation logic for an MTProxy-behind-HAProxy deployment.

Nothing here talks to a host: the functions turn the deployment variables into
a per-replica plan (names, published host ports, bridge addresses) and check
the variables for mistakes that would otherwise only show up as a broken
HAProxy backend or a container that refuses to start.

Error messages never contain the value of ``mtproxy_secret``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping

from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_secret import (
    weak_secret_reason,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name, unknown_keys

try:
    import netaddr
except ImportError:  # pragma: no cover - reported when a plan is made
    netaddr = None

__all__ = [
    "BALANCE_ALGORITHMS",
    "DEFAULT_CONTAINER_PORT",
    "DEFAULT_REPLICAS_MAX",
    "NAME_PREFIX",
    "SERVER_PREFIX",
    "PlanError",
    "haproxy_servers",
    "network_gateway",
    "replica_plan",
    "validate",
    "weak_secret_reason",
]

DEFAULT_REPLICAS_MAX = 64

# HAProxy balance algorithms that make sense for a plain TCP backend
# (uri/url_param/hdr/rdp-cookie need HTTP or RDP inspection).
BALANCE_ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "first", "source", "random")

PARAMETERS = (
    "mtproxy_secret",
    "mtproxy_replicas",
    "mtproxy_replicas_max",
    "mtproxy_base_port",
    "mtproxy_network_subnet",
    "haproxy_port",
    "haproxy_stats_port",
    "haproxy_balance_algorithm",
    "mtproxy_container_port",
)
# Optional: mtproxy_replicas_max and mtproxy_container_port have defaults; the balance
# algorithm is checked when given (the haproxy role's argument spec checks it in a deployment).
OPTIONAL_PARAMETERS = (
    "mtproxy_replicas_max",
    "haproxy_balance_algorithm",
    "mtproxy_container_port",
)
DEFAULT_CONTAINER_PORT = 443

# Names of replica i: container f"{NAME_PREFIX}{i}", HAProxy server f"{SERVER_PREFIX}{i}".
NAME_PREFIX = "mtproxy"
SERVER_PREFIX = "mtp"

_PORT_MIN = 1
_PORT_MAX = 65535

_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_BASE64URL_RE = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")
# Docker container names and HAProxy server names share a safe subset.
_NAME_PREFIX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DOTTED_QUAD_RE = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})")

# Ranges a Docker bridge network cannot sensibly use: (first, last, description).
_UNUSABLE_RANGES = tuple(
    (int(network.network_address), int(network.broadcast_address), description)
    for network, description in (
        (ipaddress.ip_network("0.0.0.0/8"), "the 'this network' range 0.0.0.0/8"),
        (ipaddress.ip_network("127.0.0.0/8"), "the loopback range 127.0.0.0/8"),
        (ipaddress.ip_network("169.254.0.0/16"), "the link-local range 169.254.0.0/16"),
        (ipaddress.ip_network("224.0.0.0/4"), "the multicast range 224.0.0.0/4"),
        (ipaddress.ip_network("240.0.0.0/4"), "the reserved range 240.0.0.0/4"),
    )
)

_SECRET_HINT = (
    "leave mtproxy_secret empty to have one generated on the controller, "
    "or generate one with `openssl rand -hex 16`"
)


class PlanError(ValueError):
    """A deployment variable is invalid.

    ``variable`` is the name of the offending variable, ``message`` says what is
    wrong with it. ``str(error)`` is ``"<variable>: <message>"``.
    """

    def __init__(self, variable, message):
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


def _check_int(value, variable, minimum=None, maximum=None):
    """Return ``value`` as a plain int or raise PlanError (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlanError(variable, f"must be an integer, got {type_name(value)} {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            raise PlanError(variable, f"must be at least {minimum}, got {value}")
        if minimum is None:
            raise PlanError(variable, f"must be at most {maximum}, got {value}")
        raise PlanError(variable, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _check_port(value, variable):
    return _check_int(value, variable, _PORT_MIN, _PORT_MAX)


def _check_name_prefix(value, variable):
    if not isinstance(value, str) or not _NAME_PREFIX_RE.fullmatch(value):
        raise PlanError(
            variable,
            "must be a non-empty string of letters, digits, '_', '.' or '-' starting with a "
            f"letter or digit, got {value!r}",
        )
    return str(value)


def _usable_hosts(network):
    """Number of assignable host addresses (network and broadcast excluded)."""
    return max(network.size - 2, 0)


def _smallest_prefix_for(hosts_needed):
    prefix = 30
    while prefix > 0 and (2 ** (32 - prefix) - 2) < hosts_needed:
        prefix -= 1
    return prefix


def _require_netaddr():
    if netaddr is None:
        raise PlanError(
            "netaddr",
            "the Python package netaddr is required on the controller (pip install netaddr)",
        )


def _parse_subnet(value, variable):
    """Parse an IPv4 CIDR given as its network address; return a netaddr.IPNetwork."""
    _require_netaddr()
    if not isinstance(value, str):
        raise PlanError(
            variable,
            f"must be an IPv4 network in CIDR notation such as 10.250.0.0/24, "
            f"got {type_name(value)} {value!r}",
        )
    text = value
    if text != text.strip():
        raise PlanError(variable, f"{text!r} has leading or trailing whitespace; remove it")
    match = _DOTTED_QUAD_RE.fullmatch(text)
    if ":" in text:
        raise PlanError(variable, f"{text!r} is not an IPv4 network; only IPv4 is supported")
    if match is None:
        raise PlanError(
            variable,
            f"{text!r} is not an IPv4 network in CIDR notation "
            "(expected four dotted decimal octets and a /prefix, e.g. 10.250.0.0/24)",
        )
    octets = match.groups()[:4]
    prefix = match.group(5)
    if any(len(octet) > 1 and octet.startswith("0") for octet in octets) or (
        len(prefix) > 1 and prefix.startswith("0")
    ):
        raise PlanError(variable, f"{text!r} has leading zeros; write it without them")
    if any(int(octet) > 255 for octet in octets):
        raise PlanError(variable, f"{text!r} has an octet above 255")
    if int(prefix) > 32:
        raise PlanError(variable, f"{text!r} has a prefix length above 32")
    try:
        network = netaddr.IPNetwork(text, version=4)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:  # pragma: no cover
        raise PlanError(variable, f"{text!r} is not a valid IPv4 network: {exc}") from None
    if network.ip != network.network:
        raise PlanError(
            variable,
            f"{text} has host bits set; did you mean {network.cidr}? "
            "Give the network address, the gateway is derived from it",
        )
    for first, last, description in _UNUSABLE_RANGES:
        if network.first <= last and first <= network.last:
            raise PlanError(
                variable,
                f"{network.cidr} overlaps {description}, which cannot be used for a "
                "Docker bridge network; pick a private range such as 10.250.0.0/24",
            )
    return network


def _check_capacity(network, replicas, variable):
    needed = replicas + 1
    usable = _usable_hosts(network)
    if usable < needed:
        noun = "replica needs" if replicas == 1 else "replicas need"
        raise PlanError(
            variable,
            f"{network.cidr} has {usable} usable host addresses, but {replicas} {noun} "
            f"{needed} (one per replica plus the bridge gateway); "
            f"use a /{_smallest_prefix_for(needed)} or larger",
        )


def _check_port_span(base_port, replicas, variable, replicas_variable):
    last = base_port + replicas - 1
    if last > _PORT_MAX:
        raise PlanError(
            variable,
            f"{replicas} replicas starting at port {base_port} would need host ports up to "
            f"{last}, above {_PORT_MAX}; lower {variable} to at most "
            f"{_PORT_MAX - replicas + 1} or reduce {replicas_variable}",
        )


def network_gateway(subnet):
    """Return the address Docker uses as bridge gateway: the subnet's first usable host.

    >>> network_gateway("10.250.0.0/24")
    '10.250.0.1'
    """
    network = _parse_subnet(subnet, "subnet")
    if _usable_hosts(network) < 1:
        raise PlanError(
            "subnet",
            f"{network.cidr} has no usable host address for the gateway; use a /30 or larger",
        )
    return str(netaddr.IPAddress(network.first + 1, 4))


def replica_plan(
    replicas,
    base_port,
    subnet,
    name_prefix=NAME_PREFIX,
    server_prefix=SERVER_PREFIX,
    container_port=443,
):
    """Return one dict per replica, in order, describing where it lives.

    Replica ``i`` (1-based) is ``{"index": i, "name": f"{name_prefix}{i}",
    "server": f"{server_prefix}{i}", "host_port": base_port + i - 1,
    "address": <bridge address>, "container_port": container_port}``. The subnet's
    first usable host is the Docker bridge gateway; replica ``i`` gets the address
    ``i`` above it.

    Raises PlanError (a ValueError) naming the offending argument on bad input.
    """
    replicas = _check_int(replicas, "replicas", minimum=1)
    base_port = _check_port(base_port, "base_port")
    container_port = _check_port(container_port, "container_port")
    name_prefix = _check_name_prefix(name_prefix, "name_prefix")
    server_prefix = _check_name_prefix(server_prefix, "server_prefix")
    _check_port_span(base_port, replicas, "base_port", "replicas")
    network = _parse_subnet(subnet, "subnet")
    _check_capacity(network, replicas, "subnet")

    gateway = network.first + 1
    return [
        {
            "index": index,
            "name": f"{name_prefix}{index}",
            "server": f"{server_prefix}{index}",
            "host_port": base_port + index - 1,
            "address": str(netaddr.IPAddress(gateway + index, 4)),
            "container_port": container_port,
        }
        for index in range(1, replicas + 1)
    ]


def _is_hex(text):
    return bool(_HEX_RE.fullmatch(text))


def _looks_like_base64_faketls(text):
    """True for the base64 spelling of an ``ee`` FakeTLS secret (as printed by mtg)."""
    if len(text) < 24 or not _BASE64URL_RE.fullmatch(text):
        return False
    padded = text.replace("-", "+").replace("_", "/")
    padded += "=" * (-len(padded) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(raw) > 17 and raw[0] == 0xEE


def _check_secret(value):
    """Return (server_secret, client_secret, mode). Messages never echo the value."""
    variable = "mtproxy_secret"
    if not isinstance(value, str):
        raise PlanError(
            variable,
            f"must be a string of 32 hexadecimal characters, got a value of type "
            f"{type_name(value)}; quote it in YAML so it is not read as a number",
        )
    if value != value.strip():
        raise PlanError(variable, "has leading or trailing whitespace; remove it")
    if not value:
        raise PlanError(variable, f"is empty; {_SECRET_HINT}")
    lowered = value.lower()
    if len(lowered) == 32 and _is_hex(lowered):
        _check_strength(lowered, variable)
        return lowered, lowered, "plain"
    if len(lowered) == 34 and lowered.startswith("dd") and _is_hex(lowered):
        _check_strength(lowered[2:], variable)
        return lowered[2:], lowered, "dd"
    if (lowered.startswith("ee") and len(lowered) >= 34) or _looks_like_base64_faketls(value):
        raise PlanError(
            variable,
            "looks like an 'ee' FakeTLS secret; the MTProxy image (telegrammessenger/proxy) "
            "does not support FakeTLS. Use 32 hexadecimal characters, or 'dd' followed by "
            "32 hexadecimal characters for random padding",
        )
    if lowered.startswith("dd") and len(lowered) > 32:
        raise PlanError(
            variable,
            "starts with 'dd' but is not 'dd' followed by exactly 32 hexadecimal characters "
            f"(got {len(lowered) - 2} characters after 'dd'"
            f"{'' if _is_hex(lowered) else ', some not hexadecimal'})",
        )
    detail = f"got {len(value)} characters"
    if not _is_hex(value):
        detail += ", some not hexadecimal"
    raise PlanError(
        variable,
        "must be 32 hexadecimal characters, or 'dd' followed by 32 hexadecimal characters "
        f"for random padding ({detail}); {_SECRET_HINT}",
    )


def _check_strength(core, variable):
    reason = weak_secret_reason(core)
    if reason:
        raise PlanError(
            variable,
            f"is a well-known or guessable value ({reason}); anyone could connect with it. "
            f"{_SECRET_HINT[0].upper()}{_SECRET_HINT[1:]}",
        )


def _replica_label(index):
    offset = "mtproxy_base_port" if index == 1 else f"mtproxy_base_port + {index - 1}"
    return f"replica port of mtproxy{index} ({offset})"


def validate(params):
    """Validate the deployment variables and return the derived plan.

    ``params`` maps the Ansible variable names (see ``PARAMETERS``) to values;
    ``mtproxy_replicas_max`` defaults to 64 and ``mtproxy_container_port`` to 443,
    ``haproxy_balance_algorithm`` is checked only when given, every other key is required.
    Raises PlanError naming the offending variable. Returns::

        {"replicas": [...replica_plan() output...], "gateway": "10.250.0.1",
         "name_prefix": "mtproxy", "server_prefix": "mtp",
         "server_secret": "<32 lowercase hex>", "client_secret": "<as given, lowercase>",
         "secret_mode": "plain" | "dd"}
    """
    if not isinstance(params, Mapping):
        raise PlanError("params", f"must be a mapping, got {type_name(params)}")
    unknown = unknown_keys(params, PARAMETERS)
    if unknown:
        raise PlanError(
            unknown[0], f"is not a known parameter (known: {', '.join(sorted(PARAMETERS))})"
        )
    values = dict(params)
    if values.get("mtproxy_replicas_max") is None:
        values["mtproxy_replicas_max"] = DEFAULT_REPLICAS_MAX
    for name in PARAMETERS:
        if values.get(name) is None and name not in OPTIONAL_PARAMETERS:
            raise PlanError(name, "is required")

    server_secret, client_secret, secret_mode = _check_secret(values["mtproxy_secret"])

    replicas_max = _check_int(values["mtproxy_replicas_max"], "mtproxy_replicas_max", minimum=1)
    replicas = _check_int(values["mtproxy_replicas"], "mtproxy_replicas", minimum=1)
    if replicas > replicas_max:
        raise PlanError(
            "mtproxy_replicas",
            f"must be between 1 and {replicas_max} (mtproxy_replicas_max), got {replicas}",
        )

    base_port = _check_port(values["mtproxy_base_port"], "mtproxy_base_port")
    container_port = values.get("mtproxy_container_port")
    container_port = _check_port(
        DEFAULT_CONTAINER_PORT if container_port is None else container_port,
        "mtproxy_container_port",
    )
    haproxy_port = _check_port(values["haproxy_port"], "haproxy_port")
    stats_port = _check_port(values["haproxy_stats_port"], "haproxy_stats_port")
    _check_port_span(base_port, replicas, "mtproxy_base_port", "mtproxy_replicas")

    if base_port <= haproxy_port < base_port + replicas:
        raise PlanError(
            "haproxy_port",
            f"{haproxy_port} collides with {_replica_label(haproxy_port - base_port + 1)}",
        )
    if stats_port == haproxy_port:
        raise PlanError("haproxy_stats_port", f"{stats_port} is the same port as haproxy_port")
    if base_port <= stats_port < base_port + replicas:
        raise PlanError(
            "haproxy_stats_port",
            f"{stats_port} collides with {_replica_label(stats_port - base_port + 1)}",
        )

    network = _parse_subnet(values["mtproxy_network_subnet"], "mtproxy_network_subnet")
    _check_capacity(network, replicas, "mtproxy_network_subnet")

    algorithm = values.get("haproxy_balance_algorithm")
    if algorithm is not None and (
        not isinstance(algorithm, str) or algorithm not in BALANCE_ALGORITHMS
    ):
        raise PlanError(
            "haproxy_balance_algorithm",
            f"must be one of {', '.join(BALANCE_ALGORITHMS)} (HAProxy TCP-mode algorithms), "
            f"got {algorithm!r}",
        )

    return {
        "replicas": replica_plan(
            replicas, base_port, str(network.cidr), container_port=container_port
        ),
        "gateway": network_gateway(str(network.cidr)),
        "name_prefix": NAME_PREFIX,
        "server_prefix": SERVER_PREFIX,
        "server_secret": server_secret,
        "client_secret": client_secret,
        "secret_mode": secret_mode,
    }


def haproxy_servers(replicas, transparent, local_address="127.0.0.1"):
    """Map the replica plan to the haproxy role's server shape ``[{name, address, port}]``.

    With ``transparent`` (TPROXY on) HAProxy connects to each replica's bridge address and
    container port, with the client's address as source; without it, to the replica's
    published port on ``local_address``. Raises PlanError naming the offending argument.
    """
    if not isinstance(transparent, bool):
        raise PlanError("tproxy_enabled", f"must be a boolean, got {type_name(transparent)}")
    if isinstance(replicas, (str, bytes)) or not isinstance(replicas, (list, tuple)):
        raise PlanError("replicas", f"must be the replica plan (a list), got {type_name(replicas)}")
    if not transparent:
        _require_netaddr()
        try:
            address = netaddr.IPAddress(str(local_address), 4)
        except (netaddr.AddrFormatError, ValueError, TypeError):
            raise PlanError(
                "local_address", f"must be an IPv4 address, got {local_address!r}"
            ) from None
    servers = []
    for index, replica in enumerate(replicas):
        if not isinstance(replica, Mapping) or not {
            "server",
            "address",
            "host_port",
            "container_port",
        } <= set(replica):
            raise PlanError(
                f"replicas[{index}]",
                "must be a replica of the plan (keys server, address, host_port, container_port)",
            )
        if transparent:
            target = (str(replica["address"]), _check_port(replica["container_port"], "port"))
        else:
            target = (str(address), _check_port(replica["host_port"], "port"))
        servers.append({"name": str(replica["server"]), "address": target[0], "port": target[1]})
    return servers
