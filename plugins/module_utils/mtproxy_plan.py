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

from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_profile import (
    ProfileError,
    check_name,
    container_settings,
)
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
BALANCE_ALGORITHMS = (
    "roundrobin",
    "static-rr",
    "leastconn",
    "first",
    "source",
    "random",
    "hash",
)

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
    "mtproxy_implementation",
    "mtproxy_profile",
    "mtproxy_users",
    "mtproxy_generated_secrets",
    "mtproxy_tls_domain",
    "mtproxy_mask_host",
    "mtproxy_mask_port",
    "mtproxy_client_ip_mode",
    "mtproxy_balance",
    "mtproxy_replay_cache_size",
)
# Optional: mtproxy_replicas_max and mtproxy_container_port have defaults; the balance
# algorithm is checked when given (the haproxy role's argument spec checks it in a deployment).
# Without mtproxy_profile nothing is checked against an implementation's features and the
# plan has no container settings (the unit tests of the replica plan).
REQUIRED_PARAMETERS = (
    "mtproxy_replicas",
    "mtproxy_base_port",
    "mtproxy_network_subnet",
    "haproxy_port",
    "haproxy_stats_port",
)
OPTIONAL_PARAMETERS = tuple(name for name in PARAMETERS if name not in REQUIRED_PARAMETERS)
CLIENT_IP_MODES = ("tproxy", "proxy_protocol", "none")
# Handshakes each replica remembers against replays (mtprotoproxy's REPLAY_CHECK_LEN). A
# replay that has left the cache is caught only by the clock check (hellos more than 10 minutes
# old are refused).
DEFAULT_REPLAY_CACHE_SIZE = 32768
REPLAY_CACHE_MIN = 1024
REPLAY_CACHE_MAX = 10_000_000
BALANCE_CHOICES = ("auto", "hash", "leastconn")
# The user of the one-user shorthand (mtproxy_secret, or a generated secret).
DEFAULT_USER = "default"
# Where the bytes that identify a handshake are (HAProxy hashes them, so that a replay reaches
# the replica whose replay cache saw the original): the FakeTLS ClientHello's random (the
# record starts with 0x16) and the obfuscated2 init's key and IV.
FAKETLS_KEY = {"offset": 11, "length": 32, "wait_prefix": "16"}
OBFUSCATED2_KEY = {"offset": 8, "length": 48, "wait_prefix": ""}
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
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


def _decode_base64_faketls(text):
    """The hex spelling of a base64 ``ee`` secret (as mtg prints it), or None."""
    if not _looks_like_base64_faketls(text):
        return None
    padded = text.replace("-", "+").replace("_", "/")
    padded += "=" * (-len(padded) % 4)
    return base64.b64decode(padded).hex()


def _check_secret(value, variable="mtproxy_secret", tls_domain=""):
    """Return (core, mode) of one secret; mode is classic, dd or faketls.

    A 32-hex core is used in the deployment's mode (FakeTLS when ``tls_domain`` is set);
    ``dd`` + 32 hex asks for random padding; ``ee`` + 32 hex + the hex of a domain (or its
    base64 spelling) is a FakeTLS secret whose domain must be ``tls_domain``. Messages never
    echo the value.
    """
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
    base64_form = _decode_base64_faketls(value) if not _is_hex(lowered) else None
    if base64_form is not None:
        lowered = base64_form
    if len(lowered) == 32 and _is_hex(lowered):
        _check_strength(lowered, variable)
        return lowered, "faketls" if tls_domain else "classic"
    if len(lowered) == 34 and lowered.startswith("dd") and _is_hex(lowered):
        _check_strength(lowered[2:], variable)
        if tls_domain:
            raise PlanError(
                variable,
                "is a 'dd' secret, but mtproxy_tls_domain turns FakeTLS on, whose links carry "
                "'ee' secrets; give the 32 hexadecimal characters alone (or the 'ee' form)",
            )
        return lowered[2:], "dd"
    if lowered.startswith("ee") and len(lowered) >= 34:
        if not _is_hex(lowered) or len(lowered) % 2:
            raise PlanError(
                variable,
                "starts with 'ee' but is not 'ee', 32 hexadecimal characters and the hex of a "
                "domain name",
            )
        core = lowered[2:34]
        try:
            domain = bytes.fromhex(lowered[34:]).decode("ascii")
        except UnicodeDecodeError:
            domain = ""
        if not domain or not _HOSTNAME_RE.fullmatch(domain):
            raise PlanError(
                variable,
                "is an 'ee' FakeTLS secret whose domain part is not the hex of a domain name",
            )
        if not tls_domain:
            raise PlanError(
                variable,
                f"is an 'ee' FakeTLS secret for {domain}, but mtproxy_tls_domain is empty; set "
                f"mtproxy_tls_domain: {domain} (and an implementation that has FakeTLS)",
            )
        if domain.lower() != tls_domain.lower():
            raise PlanError(
                variable,
                f"is an 'ee' FakeTLS secret for {domain}, but mtproxy_tls_domain is {tls_domain}; "
                "the server does not check the name, so a client would show a different name "
                "than the server's masking answers with: make them agree",
            )
        _check_strength(core, variable)
        return core, "faketls"
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
        "must be 32 hexadecimal characters, 'dd' followed by 32 hexadecimal characters "
        "for random padding, or an 'ee' FakeTLS secret "
        f"({detail}); {_SECRET_HINT}",
    )


def link_secret(core, mode, tls_domain=""):
    """The secret as a client link carries it: core, dd + core, or ee + core + hex(domain)."""
    if mode == "dd":
        return "dd" + core
    if mode == "faketls":
        return "ee" + core + tls_domain.lower().encode("ascii").hex()
    return core


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
         "users": [{name, secret, mode, link_secret}], "server_secret": "<first user's 32 hex>",
         "client_secret": "<first user's link secret>", "secret_mode": "classic" | "dd" | "faketls",
         "tls_domain", "mask", "client_ip_mode", "balance", "container"}
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

    tls_domain = _check_tls_domain(values.get("mtproxy_tls_domain"))
    users = _plan_users(values, tls_domain)

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

    plan = {
        "replicas": replica_plan(
            replicas, base_port, str(network.cidr), container_port=container_port
        ),
        "gateway": network_gateway(str(network.cidr)),
        "name_prefix": NAME_PREFIX,
        "server_prefix": SERVER_PREFIX,
        "users": users,
        # The first user's secrets (the one-user shorthand mtproxy_secret).
        "server_secret": users[0]["secret"],
        "client_secret": users[0]["link_secret"],
        "secret_mode": users[0]["mode"],
        "tls_domain": tls_domain,
    }
    plan.update(_plan_implementation(values, plan, container_port))
    return plan


def _check_tls_domain(value):
    variable = "mtproxy_tls_domain"
    if value is None or value == "":
        return ""
    if (
        not isinstance(value, str)
        or not _HOSTNAME_RE.fullmatch(value)
        or "." not in value
        or _DOTTED_QUAD_RE.fullmatch(value + "/32")
    ):
        raise PlanError(
            variable,
            f"must be a domain name such as www.example.org (the name clients show in their "
            f"TLS ClientHello), got {value!r}",
        )
    return value.lower()


def _plan_users(values, tls_domain):
    """The users [{name, secret, mode, link_secret}] from mtproxy_users or mtproxy_secret."""
    given = values.get("mtproxy_users") or []
    shorthand = values.get("mtproxy_secret")
    generated = values.get("mtproxy_generated_secrets") or {}
    if not isinstance(generated, Mapping):
        raise PlanError("mtproxy_generated_secrets", "must be a mapping of user to secret")
    if not isinstance(given, (list, tuple)):
        raise PlanError(
            "mtproxy_users", f"must be a list of {{name, secret}}, got {type_name(given)}"
        )
    if given and shorthand:
        raise PlanError(
            "mtproxy_secret",
            "is the one-user shorthand; with mtproxy_users give each user's secret there "
            "(or none, to have one generated) and leave mtproxy_secret empty",
        )
    if not given:
        given = [{"name": DEFAULT_USER, "secret": shorthand or ""}]
    users, seen = [], set()
    for index, user in enumerate(given):
        where = f"mtproxy_users[{index}]"
        if not isinstance(user, Mapping):
            raise PlanError(where, f"must be a mapping {{name, secret}}, got {type_name(user)}")
        extra = sorted(set(user) - {"name", "secret"})
        if extra:
            raise PlanError(where, f"has unknown key {extra[0]!r} (known: name, secret)")
        name = user.get("name")
        if not check_name(name):
            raise PlanError(
                f"{where}.name",
                "must be 1 to 64 letters, digits, '_', '.' or '-' (it names the user in links "
                f"and in the implementation's config), got {name!r}",
            )
        if name in seen:
            raise PlanError("mtproxy_users", f"names the user {name!r} twice; names are unique")
        seen.add(name)
        secret = user.get("secret") or ""
        variable = (
            "mtproxy_secret" if values.get("mtproxy_users") in (None, []) else f"{where}.secret"
        )
        if not secret:
            secret = generated.get(name)
            if not secret:
                raise PlanError(variable, f"is empty and no secret was generated for {name!r}")
        core, mode = _check_secret(secret, variable, tls_domain)
        users.append(
            {
                "name": name,
                "secret": core,
                "mode": mode,
                "link_secret": link_secret(core, mode, tls_domain),
            }
        )
    cores = [user["secret"] for user in users]
    if len(set(cores)) != len(cores):
        raise PlanError("mtproxy_users", "two users have the same secret; each needs its own")
    return users


def _check_mask(values, tls_domain):
    host = values.get("mtproxy_mask_host") or ""
    port = values.get("mtproxy_mask_port")
    if not isinstance(host, str) or (host and not _HOSTNAME_RE.fullmatch(host)):
        raise PlanError(
            "mtproxy_mask_host",
            f"must be a host name or IPv4 address (a real TLS site), got {host!r}",
        )
    port = 443 if port in (None, "") else _check_port(port, "mtproxy_mask_port")
    host = host or tls_domain
    return {"host": host, "port": port} if host else None


def _plan_implementation(values, plan, container_port):
    """What the implementation profile makes of the plan: mask, balance, container settings."""
    profile = values.get("mtproxy_profile")
    name = values.get("mtproxy_implementation") or "the implementation"
    mode = values.get("mtproxy_client_ip_mode")
    mode = "tproxy" if mode in (None, "") else mode
    if mode not in CLIENT_IP_MODES:
        raise PlanError(
            "mtproxy_client_ip_mode", f"must be one of {', '.join(CLIENT_IP_MODES)}, got {mode!r}"
        )
    balance = values.get("mtproxy_balance")
    balance = "auto" if balance in (None, "") else balance
    if balance not in BALANCE_CHOICES:
        raise PlanError(
            "mtproxy_balance", f"must be one of {', '.join(BALANCE_CHOICES)}, got {balance!r}"
        )
    tls_domain = plan["tls_domain"]
    mask = _check_mask(values, tls_domain)
    users = plan["users"]
    features = profile["features"] if profile else None
    if features is not None:
        if "faketls" in features["secret_modes"] and not tls_domain:
            raise PlanError(
                "mtproxy_tls_domain",
                f"is required with {name}: it turns on FakeTLS, the minimum that DPI in Russia "
                "and Iran does not block (classic and dd MTProxy are detected). Choose a domain "
                "whose site answers TLS 1.3, is reachable and not blocked in your clients' "
                "country and ideally sits in this server's own network, or your own site on this "
                "host; connections that fail to authenticate are forwarded to it "
                "(mtproxy_mask_host)",
            )
        if "port" not in profile["settings"] and container_port != profile["container_port"]:
            raise PlanError(
                "mtproxy_container_port",
                f"{name} listens on {profile['container_port']} and has no setting for another "
                f"port, got {container_port}",
            )
        for user in users:
            if user["mode"] not in features["secret_modes"]:
                variable = "mtproxy_tls_domain" if user["mode"] == "faketls" else "mtproxy_users"
                wanted = "FakeTLS" if user["mode"] == "faketls" else f"{user['mode']} secrets"
                raise PlanError(
                    variable,
                    f"asks for {wanted}, "
                    f"which {name} cannot do (it has: {', '.join(features['secret_modes'])}); "
                    "choose mtproxy_implementation: mtprotoproxy",
                )
        if mask and not features["masking"]:
            raise PlanError(
                "mtproxy_mask_host",
                f"masking is not something {name} can do; "
                "choose mtproxy_implementation: mtprotoproxy",
            )
        if mode == "proxy_protocol" and not features["proxy_protocol"]:
            raise PlanError(
                "mtproxy_client_ip_mode",
                f"proxy_protocol needs an implementation that reads the PROXY protocol; {name} "
                "does not (use tproxy)",
            )
        if len(users) > 1 and not features["several_users"]:
            raise PlanError("mtproxy_users", f"{name} takes one secret only")
    replay_cache = bool(features and features["replay_cache"])
    replay_cache_size = values.get("mtproxy_replay_cache_size")
    replay_cache_size = _check_int(
        DEFAULT_REPLAY_CACHE_SIZE if replay_cache_size in (None, "") else replay_cache_size,
        "mtproxy_replay_cache_size",
        REPLAY_CACHE_MIN,
        REPLAY_CACHE_MAX,
    )
    if balance == "auto":
        balance = "hash" if replay_cache else "leastconn"
    hash_payload = {}
    if balance == "hash":
        hash_payload = dict(FAKETLS_KEY if tls_domain else OBFUSCATED2_KEY)
    result = {
        "mask": mask,
        "client_ip_mode": mode,
        "balance": {"algorithm": balance, "hash_payload": hash_payload},
        "container": {"env": {}, "args": [], "files": []},
    }
    if profile:
        settings = {
            "users": [{"name": u["name"], "secret": u["secret"]} for u in users],
            "tls_domain": tls_domain or None,
            "tls_only": bool(tls_domain),
            "mask_host": mask["host"] if mask else None,
            "mask_port": mask["port"] if mask else None,
            "proxy_protocol": mode == "proxy_protocol",
            "port": container_port,
            "replay_cache_size": replay_cache_size if replay_cache else None,
        }
        try:
            result["container"] = container_settings(profile, settings)
        except ProfileError as exc:
            raise PlanError(exc.variable, exc.message) from None
    return result


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
