# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: backend_pool
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Resolve the backends of an proxy node from the inventory
description:
  - Turns a list of inventory host names (the C(proxy_backends) variable of an proxy node)
    into the HAProxy "foreign-pool" servers, in the given order.
  - Each backend must be a host of group O(group) (C(vpn_servers)). Its address is its
    C(ansible_host), or the inventory name without one; its port is the host variable named
    O(port_var), or O(default_port) when unset.
  - Strings of decimal digits are accepted as ports (extra vars given as C(-e key=value)
    are strings); booleans and other types are rejected.
positional: _input, hostvars, groups
options:
  _input:
    description: Inventory names of the backends, at least one, each once.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  port_var:
    description: Host variable holding the port the backend's relay listens on.
    type: str
    default: xray_relay_port
  default_port:
    description: Port used when a backend does not define O(port_var).
    type: int
    default: 8443
  group:
    description: Group every backend must belong to.
    type: str
    default: vpn_servers
notes:
  - "Errors name the variable and the host: C(proxy_backends: 'x' is not in group
    vpn_servers), C(proxy_backends: 'x' is listed twice), C(proxy_backends: needs at least
    one backend). Two names resolving to the same address and port are an error too."
"""

EXAMPLES = r"""
# host_vars/entry1.yml: proxy_backends: [de1, nl1]
- name: Foreign pool of this proxy node
  ansible.builtin.set_fact:
    xray_foreign_pool: "{{ proxy_backends | edgerelay.proxy.backend_pool(hostvars, groups) }}"

# With de1 (ansible_host=203.0.113.10, xray_relay_port=9443) and nl1 (no port set):
# xray_foreign_pool:
#   - {name: de1, address: 203.0.113.10, port: 9443}
#   - {name: nl1, address: nl1, port: 8443}

- name: One HAProxy server line per backend
  ansible.builtin.debug:
    msg: "server {{ item.name }} {{ item.address }}:{{ item.port }} check"
  loop: "{{ proxy_backends | edgerelay.proxy.backend_pool(hostvars, groups) }}"
"""

RETURN = r"""
_value:
  description: One entry per backend, in the order of the input.
  type: list
  elements: dict
  contains:
    name:
      description: Inventory name.
      type: str
      sample: de1
    address:
      description: C(ansible_host) of the backend, or its inventory name.
      type: str
      sample: 203.0.113.10
    port:
      description: Value of O(port_var) for the backend, or O(default_port).
      type: int
      sample: 8443
"""

_DECIMAL_RE = re.compile(r"[0-9]+")
_VARIABLE = "proxy_backends"


def _fail(message):
    raise AnsibleFilterError(f"{_VARIABLE}: {message}")


def _type_name(value):
    for cls in type(value).__mro__:
        if cls.__module__ == "builtins" and cls is not object:
            return cls.__name__
    return type(value).__name__


def _port(value, where):
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        _fail(f"{where} must be a port between 1 and 65535, got {_type_name(value)} {value!r}")
    return int(value)


def _group_members(groups, group):
    members = groups.get(group) if isinstance(groups, Mapping) else None
    if not members:
        _fail(f"group {group} is empty or not in the inventory")
    return {str(member) for member in members}


def backend_pool(
    backends,
    hostvars=None,
    groups=None,
    port_var="xray_relay_port",
    default_port=8443,
    group="vpn_servers",
):
    """Resolve inventory names to ``[{"name", "address", "port"}]``, in order."""
    if hostvars is None or groups is None:
        _fail("backend_pool needs hostvars and groups: backend_pool(hostvars, groups)")
    if isinstance(backends, (str, bytes)) or not isinstance(backends, Sequence):
        _fail(f"must be a list of inventory host names, got {_type_name(backends)} {backends!r}")
    if not backends:
        _fail(f"needs at least one backend (a host of group {group})")
    default_port = _port(default_port, "default_port")
    members = _group_members(groups, group)

    pool = []
    seen = set()
    endpoints = {}
    for index, name in enumerate(backends):
        if not isinstance(name, str) or not name:
            _fail(f"[{index}] must be an inventory host name, got {_type_name(name)} {name!r}")
        name = str(name)
        if name in seen:
            _fail(f"{name!r} is listed twice")
        seen.add(name)
        if name not in members:
            unknown = "" if name in hostvars else "; it is not in the inventory"
            _fail(f"{name!r} is not in group {group}{unknown}")
        host = hostvars[name]
        address = host.get("ansible_host", name)
        if not isinstance(address, str) or not address.strip():
            _fail(f"{name!r}: ansible_host must be a non-empty string, got {address!r}")
        port = host.get(port_var)
        port = default_port if port is None else _port(port, f"{name!r}: {port_var}")
        endpoint = (str(address).strip().lower(), port)
        if endpoint in endpoints:
            _fail(
                f"{name!r} and {endpoints[endpoint]!r} are both {address}:{port}; "
                "list each backend once"
            )
        endpoints[endpoint] = name
        pool.append({"name": name, "address": str(address).strip(), "port": port})
    return pool


class FilterModule:
    """edgerelay.proxy foreign pool filters."""

    def filters(self):
        return {"backend_pool": backend_pool}
