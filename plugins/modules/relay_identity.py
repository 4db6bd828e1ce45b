# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation only; the code is plugins/action/relay_identity.py."""

from __future__ import annotations

DOCUMENTATION = r"""
module: relay_identity
short_description: Generate once and keep relay identities, REALITY keys, MTProxy secrets
version_added: 0.1.0
author: edgerelay.proxy contributors (@edgerelay)
description:
  - Returns the identity stored in O(path) on the controller, creating it on first use.
  - "O(kind=relay): the shared relay identity (default name C(proxy-service@cluster)) the
    proxy nodes (group C(proxy_servers)) use towards the backends (group
    C(vpn_servers)): a VLESS C(uuid) (UUID4), an X25519 key pair and a REALITY C(short_id)."
  - "O(kind=reality): REALITY keys of a public inbound: an X25519 key pair and a
    C(short_id), no C(uuid)."
  - "O(kind=mtproxy): the MTProxy secret of a host that was given none: C(secret), 32
    lowercase hexadecimal characters (16 random bytes), no keys. A stored secret that is a
    well-known or guessable value (see C(edgerelay.proxy.mtproxy_preflight)) fails the task."
  - "O(kind=short_id): the REALITY C(short_id) of a public inbound whose private key was given
    without one, no keys."
  - Keys are raw 32-byte X25519 keys in URL-safe base64 without padding, as C(xray x25519)
    prints them. C(short_id) is 8 lowercase hexadecimal characters (4 random bytes); a stored
    one must have 2 to 16, never none (a REALITY inbound that lists the empty short id
    accepts clients that send none).
  - If O(path) exists it is read and validated (format version, kind, name, UUID, public
    key derived from the private key, short id) and returned unchanged, C(changed=false).
    A file that does not validate fails the task; it is never overwritten.
  - The task fails, before reading or writing anything, when the directory of O(path) can be
    used by group or others (any mode bit in C(0077); it must be C(0700) or stricter) or
    when an existing file can be read or written by them (it must be C(0600) or stricter).
    The message names the path and the C(chmod 700) or C(chmod 600) that fixes it, and never
    quotes a key or secret. Consider a key exposed if others could read it.
  - Otherwise a new identity is generated and written as JSON with mode C(0600), its
    directory created with mode C(0700); C(changed=true). The file is created atomically
    and only if still absent, so hosts running the task in parallel all get the identity
    written first.
  - Runs entirely on the controller; it never connects to the target host and executes
    no module.
options:
  path:
    description:
      - Absolute path of the JSON file on the controller, for example
        C({{ inventory_dir }}/.edgerelay/relay-identity.json). C(~) is expanded.
      - The directory holds private keys and secrets. Do not commit it to version control
        (list it in C(.gitignore)), or encrypt it; back it up.
    type: path
    required: true
  name:
    description:
      - Name of the identity (the VLESS C(email) of the relay client). Stored in the file;
        an existing file with another name fails the task.
      - For O(kind=reality) and O(kind=mtproxy) a label only.
    type: str
    default: proxy-service@cluster
  aliases:
    description:
      - Other names a stored file may hold and still be loaded (names earlier versions wrote,
        for example C(default@edge1) next to C(mtproxy@edge1)). A new file gets O(name).
    type: list
    elements: str
    default: []
  kind:
    description: C(relay) for the relay identity, C(reality) for REALITY inbound keys, C(mtproxy)
      for an MTProxy secret, C(short_id) for a REALITY short id alone.
    type: str
    default: relay
    choices: [relay, reality, mtproxy, short_id]
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
    details: With a missing file, reports C(changed) and returns a freshly generated identity
      without writing it; the real run generates another one.
  diff_mode:
    support: none
  platform:
    platforms: all
notes:
  - >-
    The result contains the private key. B(Always set C(no_log: true) on the task);
    the task warns when it is not set. Registered values stay usable in templates.
  - The file on the controller is the only copy of the private key; back it up.
  - The directory of O(path) must not be committed to version control.
"""

EXAMPLES = r"""
- name: Secret of this MTProxy host (when mtproxy_secret is empty)
  edgerelay.proxy.relay_identity:
    path: "{{ inventory_dir }}/.edgerelay/mtproxy-{{ inventory_hostname }}.json"
    name: "mtproxy@{{ inventory_hostname }}"
    kind: mtproxy
  register: mtproxy_generated
  no_log: true

- name: Shared relay identity of the cluster
  edgerelay.proxy.relay_identity:
    path: "{{ inventory_dir }}/.edgerelay/relay-identity.json"
  register: relay_identity
  no_log: true

- name: REALITY keys of the public inbound
  edgerelay.proxy.relay_identity:
    path: "{{ inventory_dir }}/.edgerelay/reality-{{ inventory_hostname }}.json"
    name: "reality@{{ inventory_hostname }}"
    kind: reality
  register: reality_keys
  no_log: true

- name: REALITY short id that goes with a private key given without one
  edgerelay.proxy.relay_identity:
    path: "{{ inventory_dir }}/.edgerelay/reality-short-id-{{ inventory_hostname }}.json"
    name: "reality@{{ inventory_hostname }}"
    kind: short_id
  register: reality_short_id
  no_log: true

- name: Client side of the relay hop (proxy node outbound to the foreign pool)
  ansible.builtin.set_fact:
    xray_pool_user: {id: "{{ relay_identity.uuid }}", email: "{{ relay_identity.name }}"}
    xray_pool_reality:
      publicKey: "{{ relay_identity.public_key }}"
      shortId: "{{ relay_identity.short_id }}"
"""

RETURN = r"""
name:
  description: Name of the identity.
  returned: success
  type: str
  sample: proxy-service@cluster
kind:
  description: O(kind) of the identity.
  returned: success
  type: str
  sample: relay
uuid:
  description: VLESS user id (UUID4, lowercase).
  returned: success and O(kind=relay)
  type: str
  sample: 0f3c8a52-6a57-4b8e-9c63-2d0c1f0e7a11
private_key:
  description: X25519 private key, URL-safe base64 without padding (REALITY C(privateKey)).
  returned: success and O(kind) is C(relay) or C(reality)
  type: str
public_key:
  description: X25519 public key for clients (REALITY C(publicKey)), same encoding.
  returned: success and O(kind) is C(relay) or C(reality)
  type: str
  sample: Gf3bqFz3ZyqnPWG1MPvP0s4jmkCJuYVhdYFgFx1dF3I
short_id:
  description: REALITY short id, 8 lowercase hexadecimal characters when generated.
  returned: success and O(kind) is C(relay), C(reality) or C(short_id)
  type: str
  sample: 3fa2c9d1
secret:
  description: MTProxy secret, 32 lowercase hexadecimal characters.
  returned: success and O(kind=mtproxy)
  type: str
path:
  description: Absolute path of the file on the controller.
  returned: when the arguments are valid (also on errors about the file)
  type: str
  sample: /srv/inventory/.edgerelay/relay-identity.json
"""
