# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    PlanError,
    replica_plan,
)

DOCUMENTATION = r"""
name: mtproxy_replica_plan
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Plan names, host ports and bridge addresses of the MTProxy replicas
description:
  - Turns a replica count into a list with one entry per MTProxy container, in order
    C(mtproxy1) to C(mtproxyN).
  - Replica I(i) publishes its container port on host port O(base_port) + I(i) - 1.
  - The first usable host of O(subnet) is reserved for the Docker bridge gateway,
    replica I(i) gets the address I(i) above it (C(10.250.0.2), C(10.250.0.3), ... for
    C(10.250.0.0/24)).
  - Strings of decimal digits are accepted for the integer arguments (extra vars given
    as C(-e key=value) are strings); booleans and other types are rejected.
positional: _input
options:
  _input:
    description: Number of replicas, at least 1.
    type: int
    required: true
  base_port:
    description: Host port published by the first replica; the following replicas use the
      next ports. The last one must not exceed 65535.
    type: int
    required: true
  subnet:
    description:
      - IPv4 network of the dedicated Docker bridge in CIDR notation, given as its network
        address (C(10.250.0.0/24), not C(10.250.0.1/24)).
      - Must hold at least one usable address per replica plus the gateway.
    type: str
    required: true
  name_prefix:
    description: Container name prefix; the replica index is appended.
    type: str
    default: mtproxy
  server_prefix:
    description: HAProxy backend server name prefix; the replica index is appended.
    type: str
    default: mtp
  container_port:
    description: Port MTProxy listens on inside each container.
    type: int
    default: 443
notes:
  - Invalid input fails templating with a message naming the offending argument.
  - Use the C(edgerelay.proxy.mtproxy_preflight) action to validate the whole
    deployment (secret, port collisions with HAProxy, balance algorithm) before use.
"""

EXAMPLES = r"""
- name: Compute the replica layout
  ansible.builtin.set_fact:
    mtproxy_plan: >-
      {{ mtproxy_replicas | edgerelay.proxy.mtproxy_replica_plan(
           base_port=mtproxy_base_port, subnet=mtproxy_network_subnet) }}

# With mtproxy_replicas=2, mtproxy_base_port=10000, mtproxy_network_subnet=10.250.0.0/24:
# mtproxy_plan:
#   - {index: 1, name: mtproxy1, server: mtp1, host_port: 10000,
#      address: 10.250.0.2, container_port: 443}
#   - {index: 2, name: mtproxy2, server: mtp2, host_port: 10001,
#      address: 10.250.0.3, container_port: 443}

- name: One HAProxy server line per replica (TPROXY mode uses the bridge address)
  ansible.builtin.debug:
    msg: "server {{ item.server }} {{ item.address }}:{{ item.container_port }} check"
  loop: "{{ 3 | edgerelay.proxy.mtproxy_replica_plan(base_port=10000, subnet='10.250.0.0/24') }}"
"""

RETURN = r"""
_value:
  description: One entry per replica, ordered by index.
  type: list
  elements: dict
  contains:
    index:
      description: Replica number, starting at 1.
      type: int
    name:
      description: Container name, O(name_prefix) followed by the index.
      type: str
      sample: mtproxy1
    server:
      description: HAProxy server name, O(server_prefix) followed by the index.
      type: str
      sample: mtp1
    host_port:
      description: Host port the container port is published on (HAProxy target when
        TPROXY is off, on 127.0.0.1).
      type: int
      sample: 10000
    address:
      description: Address on the Docker bridge network (HAProxy target in TPROXY mode).
      type: str
      sample: 10.250.0.2
    container_port:
      description: Port MTProxy listens on inside the container.
      type: int
      sample: 443
"""

_DECIMAL_RE = re.compile(r"[0-9]+")


def _coerce_int(value):
    """Accept a string of decimal digits as an int; leave everything else to the planner."""
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        return int(value)
    return value


def mtproxy_replica_plan(
    replicas,
    base_port=None,
    subnet=None,
    name_prefix="mtproxy",
    server_prefix="mtp",
    container_port=443,
):
    """Filter wrapper around module_utils.mtproxy_plan.replica_plan()."""
    for argument, value in (("base_port", base_port), ("subnet", subnet)):
        if value is None:
            raise AnsibleFilterError(f"mtproxy_replica_plan: {argument} is required")
    try:
        return replica_plan(
            _coerce_int(replicas),
            _coerce_int(base_port),
            subnet,
            name_prefix=name_prefix,
            server_prefix=server_prefix,
            container_port=_coerce_int(container_port),
        )
    except PlanError as exc:
        raise AnsibleFilterError(f"mtproxy_replica_plan: {exc}") from None


class FilterModule:
    """edgerelay.proxy MTProxy planning filters."""

    def filters(self):
        return {"mtproxy_replica_plan": mtproxy_replica_plan}
