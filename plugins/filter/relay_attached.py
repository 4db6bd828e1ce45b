# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name

DOCUMENTATION = r"""
name: relay_attached
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Whether an Xray node takes part in a relay
description:
  - The one place that decides whether a host of the Xray node uses the shared relay identity.
  - A proxy node (group O(proxy_group)) takes part when its own C(proxy_backends) lists at
    least one backend.
  - A backend takes part when the C(proxy_backends) of any proxy node lists it; then it gets
    the relay inbound.
  - Reads C(proxy_backends) of the proxy nodes from O(hostvars); a proxy without it lists
    nothing. Whether the listed names are backends is checked by
    C(edgerelay.proxy.backend_pool) on each proxy.
positional: _input, hostvars, groups
options:
  _input:
    description: Inventory name of the host (C(inventory_hostname)).
    type: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  proxy_group:
    description: Group of the proxy nodes.
    type: str
    default: proxy_servers
notes:
  - A C(proxy_backends) that is not a list of names fails templating, naming the proxy.
seealso:
  - plugin: edgerelay.proxy.backend_pool
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Find out whether this node takes part in a relay
  ansible.builtin.set_fact:
    _xray_attached: >-
      {{ inventory_hostname | edgerelay.proxy.relay_attached(hostvars, groups) }}
"""

RETURN = r"""
_value:
  description: True if the host is a proxy node with backends, or a backend some proxy lists.
  type: bool
"""


def _listed_backends(proxy, hostvars):
    backends = hostvars[proxy].get("proxy_backends", []) if proxy in hostvars else []
    if backends is None:
        return []
    if isinstance(backends, (str, bytes)) or not isinstance(backends, Sequence):
        raise AnsibleFilterError(
            f"proxy_backends: must be a list of inventory host names on {proxy}, "
            f"got {type_name(backends)}"
        )
    return [str(name) for name in backends]


def relay_attached(host, hostvars=None, groups=None, proxy_group="proxy_servers"):
    """True if ``host`` is a proxy with backends or a backend listed by a proxy."""
    if not isinstance(hostvars, Mapping) or not isinstance(groups, Mapping):
        raise AnsibleFilterError(
            "relay_attached: needs hostvars and groups: relay_attached(hostvars, groups)"
        )
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError(f"relay_attached: expects an inventory host name, got {host!r}")
    proxies = [str(name) for name in groups.get(proxy_group) or []]
    if host in proxies:
        return bool(_listed_backends(host, hostvars))
    return any(host in _listed_backends(proxy, hostvars) for proxy in proxies)


class FilterModule:
    """edgerelay.proxy relay attachment."""

    def filters(self):
        return {"relay_attached": relay_attached}
