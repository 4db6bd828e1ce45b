# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation only; the code is plugins/action/mtproxy_preflight.py."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mtproxy_preflight
short_description: Validate an MTProxy-behind-HAProxy deployment plan before touching hosts
version_added: 0.1.0
author: edgerelay.proxy contributors (@edgerelay)
description:
  - Checks the deployment variables of the collection (secret, replica count, ports,
    Docker bridge subnet, HAProxy balance algorithm) and returns the derived replica plan.
  - Runs entirely on the controller; it never connects to the target host and executes
    no module, so it is safe as the very first task of a play and in check mode.
  - >-
    On error the task fails with C(msg) of the form C(<variable>: <message>), naming the
    offending variable. The value of O(mtproxy_secret) is never part of an error message.
options:
  mtproxy_secret:
    description:
      - MTProxy secret, 32 hexadecimal characters (case-insensitive).
      - Or C(dd) followed by 32 hexadecimal characters to force random padding for
        clients; the server is then given the 32-character core.
      - C(ee) FakeTLS secrets are rejected, C(telegrammessenger/proxy) does not support them.
      - Well-known or guessable values (one digit repeated, a repeated pattern, few different
        digits, digits that mostly count up or down) are rejected.
      - Must be a string; quote all-digit secrets in YAML.
    type: raw
    required: true
  mtproxy_replicas:
    description: Number of MTProxy containers, 1 to O(mtproxy_replicas_max).
    type: int
    required: true
  mtproxy_replicas_max:
    description: Upper bound for O(mtproxy_replicas).
    type: int
    default: 64
  mtproxy_base_port:
    description: Host port of the first replica; replica I(i) publishes on
      O(mtproxy_base_port) + I(i) - 1, the last one must not exceed 65535.
    type: int
    required: true
  mtproxy_network_subnet:
    description: IPv4 network of the dedicated Docker bridge, as network address in CIDR
      notation (C(10.250.0.0/24)). Needs one usable address per replica plus the gateway.
    type: str
    required: true
  haproxy_port:
    description: Port HAProxy listens on for clients. Must differ from the stats port and
      from every replica host port.
    type: int
    required: true
  haproxy_stats_port:
    description: Port of the HAProxy stats listener. Must differ from O(haproxy_port) and
      from every replica host port.
    type: int
    required: true
  mtproxy_container_port:
    description: Port MTProxy listens on inside each container (the plan's C(container_port)).
    type: int
    default: 443
  haproxy_balance_algorithm:
    description: HAProxy balance algorithm for the TCP backend. Checked only when given.
    type: str
    choices: [roundrobin, static-rr, leastconn, first, source, random]
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - >-
    The result contains the secret (RV(server_secret), RV(client_secret)). Set
    C(no_log: true) on the task if it is registered and printed with C(-v), or when its
    result could end up in logs.
"""

EXAMPLES = r"""
- name: Validate the MTProxy deployment plan
  edgerelay.proxy.mtproxy_preflight:
    mtproxy_secret: "{{ mtproxy_secret }}"
    mtproxy_replicas: "{{ mtproxy_replicas }}"
    mtproxy_base_port: "{{ mtproxy_base_port }}"
    mtproxy_network_subnet: "{{ mtproxy_network_subnet }}"
    haproxy_port: "{{ haproxy_port }}"
    haproxy_stats_port: "{{ haproxy_stats_port }}"
    haproxy_balance_algorithm: "{{ haproxy_balance_algorithm }}"
  register: mtproxy_preflight

- name: Use the plan
  ansible.builtin.debug:
    msg: "{{ item.name }} -> {{ item.address }} / 127.0.0.1:{{ item.host_port }}"
  loop: "{{ mtproxy_preflight.replicas }}"
"""

RETURN = r"""
replicas:
  description: One entry per replica, as returned by the
    P(edgerelay.proxy.mtproxy_replica_plan#filter) filter.
  returned: success
  type: list
  elements: dict
  sample:
    - {index: 1, name: mtproxy1, server: mtp1, host_port: 10000, address: 10.250.0.2,
       container_port: 443}
gateway:
  description: Docker bridge gateway, the first usable address of the subnet.
  returned: success
  type: str
  sample: 10.250.0.1
name_prefix:
  description: Container name of replica I(i) is this prefix followed by I(i).
  returned: success
  type: str
  sample: mtproxy
server_prefix:
  description: HAProxy server name of replica I(i) is this prefix followed by I(i).
  returned: success
  type: str
  sample: mtp
server_secret:
  description: The 32 lowercase hexadecimal characters to give to the MTProxy server.
  returned: success
  type: str
client_secret:
  description: The secret for client links, lowercase, with the C(dd) prefix if given.
  returned: success
  type: str
secret_mode:
  description: C(plain) for a 32-character secret, C(dd) for a random-padding secret.
  returned: success
  type: str
  sample: plain
variable:
  description: Name of the offending variable.
  returned: failure
  type: str
  sample: haproxy_stats_port
"""
