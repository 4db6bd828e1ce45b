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
  - Checks the deployment variables of the collection (users and secrets, FakeTLS domain,
    masking host, client address mode, replica count, ports, Docker bridge subnet, HAProxy
    balance algorithm) against what the chosen implementation profile can do, and returns the
    derived plan - replicas, users with their link secrets, the HAProxy balance key and the
    settings that reach the containers.
  - Runs entirely on the controller; it never connects to the target host and executes
    no module, so it is safe as the very first task of a play and in check mode.
  - >-
    On error the task fails with C(msg) of the form C(<variable>: <message>), naming the
    offending variable. The value of O(mtproxy_secret) is never part of an error message.
options:
  mtproxy_secret:
    description:
      - The one-user shorthand (user C(default)); leave empty with O(mtproxy_users).
      - 32 hexadecimal characters (case-insensitive), used in the deployment's mode (FakeTLS
        when O(mtproxy_tls_domain) is set).
      - Or C(dd) followed by 32 hexadecimal characters to force random padding for
        clients; the server is then given the 32-character core.
      - Or an C(ee) FakeTLS secret (C(ee), 32 hex and the hex of the domain, or its base64
        spelling); its domain must be O(mtproxy_tls_domain).
      - Well-known or guessable values (one digit repeated, a repeated pattern, few different
        digits, digits that mostly count up or down) are rejected.
      - Must be a string; quote all-digit secrets in YAML.
    type: raw
    default: ""
  mtproxy_users:
    description:
      - The users, each C({name, secret}); a secret has the forms of O(mtproxy_secret), a user
        without one takes it from O(mtproxy_generated_secrets). Names are unique.
    type: list
    elements: dict
    default: []
  mtproxy_generated_secrets:
    description: Secrets generated on the controller for the users that have none, by user name.
    type: dict
    default: {}
  mtproxy_implementation:
    description: Name of the implementation profile, for messages.
    type: str
    default: the implementation
  mtproxy_profile:
    description:
      - The implementation profile (a loaded C(roles/mtproxy/files/profiles/*.yml)), as checked
        by the profile schema. Without it nothing is checked against an implementation.
    type: dict
  mtproxy_tls_domain:
    description: FakeTLS domain; empty turns FakeTLS off.
    type: str
    default: ""
  mtproxy_mask_host:
    description: Where connections that do not authenticate go; empty means O(mtproxy_tls_domain).
    type: str
    default: ""
  mtproxy_mask_port:
    description: Port of O(mtproxy_mask_host).
    type: int
    default: 443
  mtproxy_client_ip_mode:
    description: How the replicas learn the client's address.
    type: str
    choices: [tproxy, proxy_protocol, none]
    default: tproxy
  mtproxy_balance:
    description:
      - C(hash) sends a handshake and its replays to the same replica (its replay cache has seen
        it); C(auto) is C(hash) when the implementation has a replay cache, else C(leastconn).
    type: str
    choices: [auto, hash, leastconn]
    default: auto
  mtproxy_replay_cache_size:
    description:
      - Handshakes each replica remembers against replays, 1024 to 10000000; passed only to an
        implementation with a replay cache.
    type: int
    default: 32768
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
    choices: [roundrobin, static-rr, leastconn, first, source, random, hash]
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
    The result contains the secrets (RV(users), RV(server_secret), RV(client_secret),
    RV(container)). Set
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
users:
  description:
    - One entry per user - C(name), C(secret) (the 32-hex server secret), C(mode) (C(classic),
      C(dd) or C(faketls)) and C(link_secret) (what a client link carries).
  returned: success
  type: list
  elements: dict
server_secret:
  description: The first user's 32 lowercase hexadecimal server secret.
  returned: success
  type: str
client_secret:
  description: The first user's link secret (with C(dd) or C(ee) and the domain).
  returned: success
  type: str
secret_mode:
  description: The first user's mode, C(classic), C(dd) or C(faketls).
  returned: success
  type: str
  sample: faketls
tls_domain:
  description: The FakeTLS domain, lowercase; empty when FakeTLS is off.
  returned: success
  type: str
mask:
  description: C({host, port}) of the masking host, or null when masking is off.
  returned: success
  type: dict
client_ip_mode:
  description: C(tproxy), C(proxy_protocol) or C(none).
  returned: success
  type: str
balance:
  description:
    - C(algorithm) (C(hash) or C(leastconn)) and C(hash_payload) (C({offset, length, wait_prefix})
      of the handshake bytes HAProxy hashes, empty without hash), in the haproxy role's shape.
  returned: success
  type: dict
container:
  description:
    - What reaches the containers, by the profile - C(env) (a mapping), C(args) (a list) and
      C(files) (C({path, content, reload}) each).
  returned: success
  type: dict
variable:
  description: Name of the offending variable.
  returned: failure
  type: str
  sample: haproxy_stats_port
"""
