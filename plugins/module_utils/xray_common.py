# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the preset renderer and the fail-closed checker agree on.

The default outbound tags, the catch-all rule's condition, and what counts as
"matches everything": a keyword or regular expression that matches every probe
domain, or IP networks that together cover all of IPv4 or all of IPv6. The preset
renderer (``xray_presets``) rejects such entries; the fail-closed checker
(``xray_fail_closed``) rejects such rules to a direct outbound.

Also what no string of a rendered config may contain: control characters and line
breaks (``control_character()``), checked by the preset renderer and the config
builder (``xray_config``); and which destinations are the node itself
(``NODE_LOCAL_NETWORKS``), which the config builder blocks and the fail-closed checker
requires blocked (``uncovered()``).

Pure Python, nothing here talks to a host.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Sequence

__all__ = [
    "CATCH_ALL_NETWORK",
    "CATCH_ALL_PROBES",
    "DEFAULT_DIRECT_TAG",
    "DEFAULT_POOL_TAG",
    "NODE_LOCAL_NETWORKS",
    "control_character",
    "covers_a_family",
    "is_list",
    "matches_everything",
    "uncovered",
]

DEFAULT_DIRECT_TAG = "direct"
DEFAULT_POOL_TAG = "foreign-pool"
# Xray refuses a rule without any condition ("this rule has no effective fields"),
# so the catch-all carries the one condition every connection meets.
CATCH_ALL_NETWORK = "tcp,udp"

# Domains a keyword or regular expression is tried on. One that matches all of them
# matches (practically) every destination and is treated as a catch-all. "a.b" and
# "c.d" share no letter, so no plain keyword without a dot matches both.
CATCH_ALL_PROBES = ("example.com", "www.google.com", "xn--80ak6aa92e.com", "a.b", "c.d")

# Destinations that are the node itself or its link: "this network" and the unspecified
# addresses (a connection to 0.0.0.0 or :: reaches the node's own services), loopback, and
# link-local (169.254.169.254 is the cloud metadata service). No Xray user may reach them;
# the fail-closed checker requires them, and the node's own addresses, blocked before any
# rule to a direct outbound.
NODE_LOCAL_NETWORKS = (
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "::/128",
    "::1/128",
    "fe80::/10",
)


def is_list(value):
    """A list-like value that is not a string (Ansible's tagged lists included)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def matches_everything(pattern, kind):
    """True if a keyword / regular expression matches every probe domain.

    ``kind`` is ``"keyword"`` (substring) or ``"regex"``; an invalid regular
    expression raises ``re.error``.
    """
    if kind == "keyword":
        return all(pattern in probe for probe in CATCH_ALL_PROBES)
    return all(re.search(pattern, probe) for probe in CATCH_ALL_PROBES)


def covers_a_family(networks):
    """True if the networks together cover all of IPv4 or all of IPv6."""
    for version in (4, 6):
        family = [net for net in networks if net.version == version]
        if any(net.prefixlen == 0 for net in ipaddress.collapse_addresses(family)):
            return True
    return False


def uncovered(required, networks):
    """The networks of ``required`` that ``networks`` together do not cover entirely."""
    merged = {
        version: list(ipaddress.collapse_addresses(n for n in networks if n.version == version))
        for version in (4, 6)
    }
    missing = []
    for network in required:
        # Collapsed networks are disjoint, so their overlaps with ``network`` add up.
        covered = 0
        for block in merged[network.version]:
            if block.subnet_of(network):
                covered += block.num_addresses
            elif network.subnet_of(block):
                covered += network.num_addresses
        if covered < network.num_addresses:
            missing.append(network)
    return missing


# Cc: C0 and C1 controls (newline, tab, NUL, DEL, NEL...); Zl, Zp: the Unicode line and
# paragraph separators.
_CONTROL_CATEGORIES = frozenset(("Cc", "Zl", "Zp"))


def control_character(text):
    """The first control character or line break in ``text`` (``repr`` form), or None."""
    for char in text:
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return repr(char)
    return None
