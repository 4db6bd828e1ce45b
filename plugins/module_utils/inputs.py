# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strings that reach a config file, checked for what they are.

A value that ends up in haproxy.cfg, the Xray config, a systemd unit or the tproxy rule script
must not be able to add a line (a newline in a name adds a listener) or another directive.
``check()`` validates one value against a kind (``name``, ``duration``, ``address``, ...);
``input_errors()`` checks many at once and returns one message per bad value, naming the
variable. The kind ``any`` walks any value (lists and mappings included) and only reports
control characters, which no input of this collection may contain
(``control_character_errors()``).

Messages quote the value only for kinds that are never secret.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence

from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name

__all__ = ["KINDS", "check", "control_character_errors", "input_errors"]

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME_RE = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")

# kind -> (regular expression or None, what the value must be)
KINDS = {
    # HAProxy frontend/backend/server names, Xray tags, systemd-safe words.
    "name": (
        re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"),
        "a name of letters, digits, '_', '.', ':' or '-'",
    ),
    # HAProxy/Prometheus time values: 500ms, 10s, 1h, 1h30m, or a bare number.
    "duration": (
        re.compile(r"[0-9]+(us|ms|s|m|h|d)?|([0-9]+(ms|s|m|h|d|w|y))+"),
        "a duration such as 500ms, 10s, 1h or 1h30m",
    ),
    # Where HAProxy binds or connects: '*', an IP address or a host name.
    "address": (None, "'*', an IPv4 or IPv6 address, or a host name"),
    "ip": (None, "an IPv4 or IPv6 address"),
    "hostname": (_HOSTNAME_RE, "a host name (letters, digits, '-', dot-separated labels)"),
    # host:port (IPv6 hosts in brackets).
    "host_port": (None, "host:port, e.g. 127.0.0.1:9090 or [::1]:9090"),
    "path": (
        re.compile(r"/[A-Za-z0-9_./@+-]*"),
        "an absolute path without spaces or special characters",
    ),
    "octal_mode": (re.compile(r"0?[0-7]{3}"), "a file mode such as 660 or 0640"),
    # iptables chain names (at most 28 characters).
    "chain": (
        re.compile(r"[A-Za-z0-9_-]{1,28}"),
        "an iptables chain name (letters, digits, '_', '-'; at most 28)",
    ),
    "capability": (re.compile(r"CAP_[A-Z_]+"), "a capability name such as CAP_NET_BIND_SERVICE"),
    # Free text without line breaks or control characters (descriptions, user names).
    "text": (
        re.compile(r"[^\x00-\x1f\x7f-\x9f]*"),
        "text without line breaks or control characters",
    ),
    # Secrets and keys: checked like text, never quoted.
    "secret": (
        re.compile(r"[^\x00-\x1f\x7f-\x9f\s]*"),
        "a value without whitespace or control characters",
    ),
}
_SECRET_KINDS = frozenset({"secret"})


def _is_ip(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_address(text):
    return text == "*" or _is_ip(text) or bool(_HOSTNAME_RE.fullmatch(text))


def _is_host_port(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        return False
    if host.startswith("[") and host.endswith("]"):
        return _is_ip(host[1:-1]) and ":" in host
    return _is_ip(host) or bool(_HOSTNAME_RE.fullmatch(host)) if ":" not in host else False


_CHECKS = {"address": _is_address, "ip": _is_ip, "host_port": _is_host_port}


def check(kind, value):
    """Return None if ``value`` is a valid ``kind``, else what is wrong (without the value
    for secret kinds)."""
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    pattern, expected = KINDS[kind]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return f"must be {expected}, got {type_name(value)}"
    text = str(value)
    shown = "" if kind in _SECRET_KINDS else f", got {text!r}"
    if _CONTROL_RE.search(text):
        return f"contains a line break or control character{shown}"
    valid = _CHECKS[kind](text) if kind in _CHECKS else bool(pattern.fullmatch(text))
    if not valid:
        return f"must be {expected}{shown}"
    return None


def input_errors(checks):
    """Check ``{variable: [kind, value]}``; return ``["<variable>: <message>", ...]``.

    A list value is checked element by element (``variable[1]: ...``). The kind ``any``
    accepts any value and reports only control characters, anywhere inside it.
    """
    if not isinstance(checks, Mapping):
        raise ValueError(f"expects a mapping of variable to [kind, value], got {type_name(checks)}")
    errors = []
    for variable, spec in checks.items():
        if (
            isinstance(spec, (str, bytes))
            or not isinstance(spec, Sequence)
            or len(spec) != 2
            or not isinstance(spec[0], str)
        ):
            raise ValueError(f"{variable}: expects [kind, value]")
        kind, value = spec
        if kind == "any":
            errors.extend(control_character_errors({variable: value}))
            continue
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
            items = [(f"{variable}[{index}]", item) for index, item in enumerate(value)]
        else:
            items = [(str(variable), value)]
        for name, item in items:
            problem = check(kind, item)
            if problem:
                errors.append(f"{name}: {problem}")
    return errors


def control_character_errors(values):
    """Walk ``{variable: value}`` (nested lists and mappings too); report control characters.

    Returns ``["<variable>[.key|[index]]: contains a line break or control character"]``.
    Values are never quoted: secrets go through here too.
    """
    errors = []

    def walk(path, value):
        if isinstance(value, str):
            if _CONTROL_RE.search(value):
                errors.append(f"{path}: contains a line break or control character")
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if isinstance(key, str) and _CONTROL_RE.search(key):
                    errors.append(f"{path}: a key contains a line break or control character")
                walk(f"{path}.{key}", item)
        elif isinstance(value, Sequence) and not isinstance(value, bytes):
            for index, item in enumerate(value):
                walk(f"{path}[{index}]", item)

    if not isinstance(values, Mapping):
        raise ValueError(f"expects a mapping of variable to value, got {type_name(values)}")
    for variable, value in values.items():
        walk(str(variable), value)
    return errors
