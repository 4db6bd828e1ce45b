# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import without_omitted
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    ConfigError,
    client_links,
)

DOCUMENTATION = r"""
name: xray_links
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: The vless:// share links of an Xray node's own inbounds
description:
  - Builds one C(vless://) link per user (O(_input.public.users)) and per inbound
    (O(_input.public.inbounds)) from the same input as C(edgerelay.proxy.xray_config),
    validated the same way, so the links carry exactly what the config serves.
  - "The form is the VLESS share link that v2rayN, Hiddify, Streisand, sing-box and Xray's
    importers read: C(vless://<uuid>@<host>:<port>?encryption=none&security=reality&sni=<first
    server name>&fp=<fingerprint>&pbk=<public key>&sid=<short id>&<transport>#<remark>),
    where C(<transport>) is C(flow=xtls-rprx-vision&type=tcp&headerType=none) for
    C(tcp-vision) and C(type=xhttp&path=<path>&mode=<mode>) for C(xhttp). Every value is
    percent-encoded; an IPv6 host is in brackets."
  - The fingerprint is the user's own C(fingerprint) when set, else O(_input.fingerprint)
    (C(xray_fingerprint)).
  - The remark (fragment) is C(<email>-<transport>-<port>).
positional: _input, host
options:
  _input:
    description: The node, the mapping C(edgerelay.proxy.xray_config) takes.
    type: dict
    required: true
  host:
    description: The name or address clients dial (C(proxy_domain) on a proxy node).
    type: str
    required: true
  public_key:
    description: The REALITY public key of the inbounds; derived from
      O(_input.public.reality.private_key) when left out (needs the Python package
      C(cryptography) on the controller).
    type: str
notes:
  - The links hold the users' ids and the node's REALITY public key and short id; write them
    to a file only the controller user can read, and set C(no_log) on the task.
seealso:
  - plugin: edgerelay.proxy.xray_config
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Build the client links of this node
  ansible.builtin.set_fact:
    xray_client_links: "{{ xray_node | edgerelay.proxy.xray_links(proxy_domain) }}"
  no_log: true

# With two inbounds, [{transport: tcp-vision, port: 443}, {transport: xhttp, port: 8444}],
# and one user alice, xray_client_links is (query shortened):
#   - user: alice
#     transport: tcp-vision
#     port: 443
#     link: "vless://<uuid>@proxy.example.ru:443?encryption=none&security=reality&...
#            &flow=xtls-rprx-vision&type=tcp&headerType=none#alice-tcp-vision-443"
#   - user: alice
#     transport: xhttp
#     port: 8444
#     link: "vless://<uuid>@proxy.example.ru:8444?encryption=none&security=reality&...
#            &type=xhttp&path=%2F&mode=auto#alice-xhttp-8444"
"""

RETURN = r"""
_value:
  description: One entry per user and inbound, users in order, then inbounds in order.
  type: list
  elements: dict
  contains:
    user:
      description: The user's email.
      type: str
    transport:
      description: The inbound's transport.
      type: str
    port:
      description: The inbound's port.
      type: int
    link:
      description: The C(vless://) link.
      type: str
"""


def xray_links(node, host, public_key=None):
    """Filter wrapper around module_utils.xray_config.client_links()."""
    try:
        return client_links(without_omitted(node), host, public_key)
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """edgerelay.proxy Xray share links."""

    def filters(self):
        return {"xray_links": xray_links}
