# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    PlanError,
    haproxy_servers,
)

DOCUMENTATION = r"""
name: mtproxy_haproxy_servers
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Map the MTProxy replica plan to HAProxy servers
description:
  - Turns the replicas of the MTProxy plan (RV(edgerelay.proxy.mtproxy_preflight#module:replicas),
    handed on as C(mtproxy_plan.replicas)) into the server list of the C(edgerelay.proxy.haproxy)
    role, one C({name, address, port}) per replica, in order.
  - This is where TPROXY on or off is decided for the MTProxy stack. With O(transparent=true)
    HAProxy connects to each replica's address on the Docker bridge and its container port, with
    the client's address as source, so the replica sees the real client. With O(transparent=false)
    it connects to the replica's published port on O(local_address).
positional: _input
options:
  _input:
    description: The replicas of the plan (keys C(server), C(address), C(host_port),
      C(container_port)).
    type: list
    elements: dict
    required: true
  transparent:
    description: TPROXY on (the C(tproxy_enabled) variable).
    type: bool
    required: true
  local_address:
    description: Address the replica ports are published on, used with O(transparent=false).
    type: str
    default: 127.0.0.1
notes:
  - Invalid input fails templating with a message naming the argument.
seealso:
  - plugin: edgerelay.proxy.mtproxy_replica_plan
    plugin_type: filter
"""

EXAMPLES = r"""
# playbooks/vars/mtproxy.yml
haproxy_servers: >-
  {{ mtproxy_plan.replicas | edgerelay.proxy.mtproxy_haproxy_servers(
       transparent=tproxy_enabled, local_address=mtproxy_publish_address) }}

# With two replicas on 10.250.0.0/24, base port 10000:
#   transparent=true:  [{name: mtp1, address: 10.250.0.2, port: 443},
#                       {name: mtp2, address: 10.250.0.3, port: 443}]
#   transparent=false: [{name: mtp1, address: 127.0.0.1, port: 10000},
#                       {name: mtp2, address: 127.0.0.1, port: 10001}]
"""

RETURN = r"""
_value:
  description: One server per replica, in the order of the plan.
  type: list
  elements: dict
  contains:
    name:
      description: HAProxy server name (the plan's C(server)).
      type: str
      sample: mtp1
    address:
      description: Address HAProxy connects to.
      type: str
      sample: 10.250.0.2
    port:
      description: Port HAProxy connects to.
      type: int
      sample: 443
"""


def mtproxy_haproxy_servers(replicas, transparent=None, local_address="127.0.0.1"):
    """Filter wrapper around module_utils.mtproxy_plan.haproxy_servers()."""
    if transparent is None:
        raise AnsibleFilterError("mtproxy_haproxy_servers: transparent is required")
    try:
        return haproxy_servers(replicas, transparent, local_address)
    except PlanError as exc:
        raise AnsibleFilterError(f"mtproxy_haproxy_servers: {exc}") from None


class FilterModule:
    """edgerelay.proxy MTProxy to HAProxy mapping."""

    def filters(self):
        return {"mtproxy_haproxy_servers": mtproxy_haproxy_servers}
