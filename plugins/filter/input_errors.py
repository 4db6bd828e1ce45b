# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.inputs import KINDS
from ansible_collections.edgerelay.proxy.plugins.module_utils.inputs import (
    input_errors as check_inputs,
)

DOCUMENTATION = r"""
name: input_errors
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Check strings that reach a config file for what they are
description:
  - Takes a mapping of variable name to C([kind, value]) and returns one message per bad
    value, C(<variable>) followed by a colon and what is wrong, or an empty list.
  - Every string that reaches C(haproxy.cfg), the Xray config, a systemd unit or the tproxy
    rule script is checked this way in the roles' pre-flights, so that a line break or another
    directive cannot be smuggled into a config (a newline in a name would add a listener).
  - "Kinds: C(name) (HAProxy names, Xray tags), C(duration) (C(500ms), C(10s), C(1h30m)),
    C(address) (C(*), an IP address or a host name), C(ip), C(hostname), C(host_port),
    C(path) (absolute, no spaces), C(octal_mode), C(chain) (iptables), C(capability)
    (C(CAP_...)), C(text) (no line breaks or control characters), C(secret) (like text, no
    whitespace, never quoted in a message), and C(any) (any value; only control characters
    anywhere inside it are reported, also in lists and mappings)."
  - A list value is checked element by element, C(variable[i]) in the message.
  - With O(kind), the input maps variable names to their values, all checked as that kind,
    for example every input of a host with C(kind=any).
positional: _input
options:
  _input:
    description: Mapping of variable name to a two-element list C([kind, value]), or to the
      value itself when O(kind) is given.
    type: dict
    required: true
  kind:
    description: Check every value of the input as this kind.
    type: str
notes:
  - An unknown kind fails templating, naming it.
"""

EXAMPLES = r"""
- name: Check the strings that reach haproxy.cfg
  ansible.builtin.assert:
    that: _haproxy_input_errors | length == 0
    fail_msg: "{{ _haproxy_input_errors | join('; ') }}"
    quiet: true
  vars:
    _haproxy_input_errors: >-
      {{ {'haproxy_frontend_name': ['name', haproxy_frontend_name],
          'haproxy_stats_refresh': ['duration', haproxy_stats_refresh],
          'haproxy_bind_address': ['address', haproxy_bind_address]}
         | edgerelay.proxy.input_errors }}
- name: No input of this host holds a line break or control character
  ansible.builtin.assert:
    that: _errors | length == 0
    fail_msg: "{{ _errors | join('; ') }}"
  vars:
    _errors: >-
      {{ hostvars[inventory_hostname] | dict2items
         | selectattr('key', 'match', '^(haproxy|mtproxy)_') | items2dict
         | edgerelay.proxy.input_errors(kind='any') }}

# With haproxy_stats_refresh: "10s\n stats admin if TRUE":
#   ["haproxy_stats_refresh: contains a line break or control character,
#     got '10s\\n stats admin if TRUE'"]
"""

RETURN = r"""
_value:
  description: One message per bad value (the variable, a colon, what is wrong); empty when all
    are good.
  type: list
  elements: str
"""


def input_errors(checks, kind=None):
    """Filter wrapper around module_utils.inputs.input_errors()."""
    try:
        if kind is not None:
            if not isinstance(checks, dict):
                raise ValueError(f"expects a mapping of variable to value, got {type(checks)}")
            checks = {variable: [kind, value] for variable, value in checks.items()}
        return check_inputs(checks)
    except ValueError as exc:
        raise AnsibleFilterError(
            f"input_errors: {exc} (kinds: {', '.join(sorted(KINDS))}, any)"
        ) from None


class FilterModule:
    """edgerelay.proxy input checks."""

    def filters(self):
        return {"input_errors": input_errors}
