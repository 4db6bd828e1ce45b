# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_change import plan

DOCUMENTATION = r"""
name: xray_config_change
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Whether a new Xray config can be applied live (users only) or needs a restart
description:
  - Compares the Xray config installed on a node with the new one (both as
    C(edgerelay.proxy.xray_config) builds them) and says how to apply it.
  - "C(mode=none): the two are equal."
  - "C(mode=live): they differ only in the users (C(settings.clients)) of inbounds other than
    C(relay): the running Xray takes the change through its API (HandlerService, C(xray api
    rmu) then C(xray api adu); the module C(edgerelay.proxy.xray_users_live)) and is not
    restarted; the file is rewritten for its next start. The relay identity's inbound on a
    backend is never changed live: a change there is a restart."
  - "C(mode=restart): anything else changed, for example a port, a transport, REALITY keys, an
    inbound added or removed, the routing, the outbounds, the API port or the log; or there is
    no readable installed config; or O(running) is false for a live change; or
    O(restart_reasons) is not empty."
  - A user whose id or flow changed (same name) is removed and added again. Names are
    compared ignoring case, as Xray does.
positional: _input, new
options:
  _input:
    description: The installed config, its JSON text (for example the decoded content of
      C(ansible.builtin.slurp)) or a mapping; null or empty when the node has none.
    type: raw
    required: true
  new:
    description: The new config (a mapping).
    type: dict
    required: true
  running:
    description: Whether Xray runs on the node; a live change needs its API, so without it
      a live change is a restart.
    type: bool
    default: true
  restart_reasons:
    description: Plain words for what restarts Xray anyway (for example its systemd unit
      changed); any of them makes the mode C(restart). Added to RV(_value.reasons) as given.
    type: list
    elements: str
    default: []
notes:
  - The result's C(add) holds user ids; set C(no_log) on the task that keeps it. C(reasons) and
    C(summary) name inbounds, settings and user names only, never an id, a key or a short id.
seealso:
  - plugin: edgerelay.proxy.xray_config
    plugin_type: filter
  - module: edgerelay.proxy.xray_users_live
"""

EXAMPLES = r"""
- name: Read the installed Xray config
  ansible.builtin.slurp:
    src: /usr/local/etc/xray/config.json
  register: xray_installed
  failed_when: false
  no_log: true

- name: Compare it with the new one
  ansible.builtin.set_fact:
    xray_change: >-
      {{ xray_installed.content | default('') | b64decode
         | edgerelay.proxy.xray_config_change(xray_plan.config, running=xray_running) }}
  no_log: true

- name: Say what this run does with Xray
  ansible.builtin.debug:
    msg: "{{ xray_change.summary }}"

# Alice's id changed, bob was added and carol removed, on both inbounds:
#   mode: live
#   reasons: [users of public-443, users of public-8444]
#   add:
#     public-443: [{id: <uuid>, email: alice, flow: xtls-rprx-vision},
#                  {id: <uuid>, email: bob, flow: xtls-rprx-vision}]
#     public-8444: [{id: <uuid>, email: alice}, {id: <uuid>, email: bob}]
#   remove: {public-443: [alice, carol], public-8444: [alice, carol]}
#   summary: "xray: users changed live (added: bob; removed: carol; changed: alice), no restart"
# The xhttp inbound moved to port 8445 instead:
#   mode: restart
#   reasons: [inbound public-8445 added, inbound public-8444 removed]
#   summary: "xray: restart needed: inbound public-8445 added; inbound public-8444 removed"
"""

RETURN = r"""
_value:
  description: How to apply the new config.
  type: dict
  contains:
    mode:
      description: C(none), C(live) or C(restart).
      type: str
    reasons:
      description:
        - "For C(restart), what changed, for example C(inbound public-443: port), C(REALITY
          keys of public-443), C(inbound client-8444 added), C(routing), C(outbounds), C(log),
          C(the relay identity (inbound relay)), C(no config installed yet); then
          O(restart_reasons)."
        - For C(live), the inbounds whose users changed (C(users of public-443)).
      type: list
      elements: str
    add:
      description: Inbound tag to the clients to add, as in the new config (C(live) only).
      type: dict
    remove:
      description: Inbound tag to the names (emails) of the clients to remove (C(live) only).
      type: dict
    summary:
      description: "One line for the run's output, for example C(xray: users changed live
        (added: bob; removed: carol), no restart) or C(xray: restart needed: inbound
        public-443: port)."
      type: str
"""


def xray_config_change(installed, new, running=True, restart_reasons=()):
    """Filter wrapper around module_utils.xray_change.plan()."""
    if not isinstance(new, Mapping):
        raise AnsibleFilterError(
            f"xray_config_change: the new config must be a mapping, got {type_name(new)}"
        )
    if isinstance(restart_reasons, (str, bytes)) or not all(
        isinstance(reason, str) for reason in restart_reasons
    ):
        raise AnsibleFilterError("xray_config_change: restart_reasons must be a list of strings")
    return plan(installed, new, bool(running), restart_reasons)


class FilterModule:
    """edgerelay.proxy: live or restart for a new Xray config."""

    def filters(self):
        return {"xray_config_change": xray_config_change}
