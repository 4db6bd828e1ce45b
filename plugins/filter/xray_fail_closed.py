# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    DEFAULT_DIRECT_TAG,
    DEFAULT_POOL_TAG,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_fail_closed import (
    FailClosedError,
    check_fail_closed,
)

DOCUMENTATION = r"""
name: xray_fail_closed
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Assert that an Xray config of a proxy node fails closed
description:
  - Returns the Xray config unchanged if it can only send traffic directly where a routing
    rule explicitly says so, and fails templating otherwise.
  - Direct outbounds are O(direct_tag) and every outbound with protocol C(freedom).
  - "Checks: the B(first) outbound (where Xray sends traffic matching no rule) is
    O(pool_tag) and not a C(freedom) outbound; outbound tags are unique; the last routing
    rule is the explicit catch-all C({type: field, network: 'tcp,udp', outboundTag: <pool_tag>})
    (an C(inboundTag) limit is allowed); no earlier rule matches all traffic; every rule
    that can reach a direct outbound (through C(outboundTag) or a balancer) has a
    C(domain) or C(ip) condition, and none of its patterns matches everything (C(geoip:!xx),
    C(0.0.0.0/0), C(::/0), empty values, keywords or regular expressions matching every
    probe domain); the C(ip) networks sent directly do not together cover every address;
    no balancer has a direct outbound as C(fallbackTag)."
  - A rule to a direct outbound restricted only by C(port), C(network), C(protocol),
    C(source), C(user) or C(inboundTag) counts as a catch-all to direct. Keys Xray does not
    know are ignored by Xray and therefore count as no condition.
  - "With O(own_addresses) also: no Xray user reaches the node itself. Rules to a
    C(blackhole) outbound, conditioned on C(ip) only, block loopback (C(127.0.0.0/8),
    C(::1)), link-local (C(169.254.0.0/16), C(fe80::/10)), the unspecified addresses
    (C(0.0.0.0/8), C(::)) and O(own_addresses) before any rule that can send to a direct
    outbound; only literal networks count, not C(geoip:) lists. The configs of
    C(edgerelay.proxy.xray_config) always pass it."
positional: _input
options:
  _input:
    description: The complete Xray config (C(outbounds), C(routing), ...), as a mapping.
    type: dict
    required: true
  pool_tag:
    description: Tag of the outbound to the local HAProxy foreign pool.
    type: str
    default: foreign-pool
  direct_tag:
    description: Tag of the direct (C(freedom)) outbound.
    type: str
    default: direct
  own_addresses:
    description:
      - The node's own IP addresses. Given (also as an empty list), the check that the node
        itself is blocked first runs too; left out, it does not (a routing of
        C(edgerelay.proxy.preset_routing) alone has no block rules).
    type: list
    elements: str
notes:
  - >-
    Errors read C(xray_fail_closed: <path>: <reason>), for example
    C(xray_fail_closed: outbounds[0]: is 'direct'; Xray sends unmatched traffic to the
    first outbound, so it must be the pool 'foreign-pool').
  - The regular expression check uses Python's C(re) on a fixed set of probe domains; it
    catches catch-all patterns such as C(.*) or C(\.), it cannot prove a pattern harmless.
seealso:
  - plugin: edgerelay.proxy.preset_routing
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Write the Xray config, refusing any config that could leak by default
  ansible.builtin.copy:
    dest: /usr/local/etc/xray/config.json
    content: "{{ xray_config | edgerelay.proxy.xray_fail_closed | to_nice_json }}"
    mode: "0640"
  vars:
    xray_config:
      inbounds: "{{ xray_inbounds }}"
      outbounds:
        # The pool FIRST: unmatched traffic goes to the first outbound.
        - {tag: foreign-pool, protocol: vless, settings: "{{ xray_pool_settings }}"}
        - {tag: direct, protocol: freedom}
        - {tag: block, protocol: blackhole}
      routing: "{{ xray_presets | edgerelay.proxy.preset_routing(proxy_preset) }}"

- name: Also refuse a config that lets Xray users reach the node itself
  ansible.builtin.assert:
    that: xray_config | edgerelay.proxy.xray_fail_closed(own_addresses=xray_own) is mapping
  vars:
    xray_own: "{{ ansible_facts['all_ipv4_addresses'] + ansible_facts['all_ipv6_addresses'] }}"
"""

RETURN = r"""
_value:
  description: The input config, unchanged.
  type: dict
"""


def xray_fail_closed(
    config, pool_tag=DEFAULT_POOL_TAG, direct_tag=DEFAULT_DIRECT_TAG, own_addresses=None
):
    """Return ``config`` unchanged if check_fail_closed() accepts it."""
    try:
        check_fail_closed(
            config, pool_tag=pool_tag, direct_tag=direct_tag, own_addresses=own_addresses
        )
    except FailClosedError as exc:
        raise AnsibleFilterError(f"xray_fail_closed: {exc}") from None
    return config


class FilterModule:
    """edgerelay.proxy Xray config checks."""

    def filters(self):
        return {"xray_fail_closed": xray_fail_closed}
