# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    DEFAULT_NAME,
    KINDS,
    IdentityError,
    generate_identity,
    load_identity,
    loose_permissions,
    store_identity,
)

DOCUMENTATION = r"""
module: relay_identity
short_description: Create once and keep on the controller the relay identity or REALITY keys
version_added: 1.0.0
author: edgerelay.proxy contributors
description:
  - Returns the identity stored in O(path) on the controller, creating it on first use.
  - "O(kind=relay): the shared relay identity (default name C(proxy-service@cluster)) the
    entry nodes (group C(proxy_servers)) use towards the foreign backends (group
    C(vpn_servers)): a VLESS C(uuid) (UUID4), an X25519 key pair and a REALITY C(short_id)."
  - "O(kind=reality): REALITY keys of a public inbound: an X25519 key pair and a
    C(short_id), no C(uuid)."
  - Keys are raw 32-byte X25519 keys in URL-safe base64 without padding, as C(xray x25519)
    prints them. C(short_id) is 8 lowercase hexadecimal characters (4 random bytes).
  - If O(path) exists it is read and validated (format version, kind, name, UUID, public
    key derived from the private key, short id) and returned unchanged, C(changed=false).
    A file that does not validate fails the task; it is never overwritten.
  - Otherwise a new identity is generated and written as JSON with mode C(0600), its
    directory created with mode C(0700); C(changed=true). The file is created atomically
    and only if still absent, so hosts running the task in parallel all get the identity
    written first.
  - Runs entirely on the controller; it never connects to the target host and executes
    no module. This is an action plugin without a module.
options:
  path:
    description:
      - Absolute path of the JSON file on the controller, for example
        C({{ inventory_dir }}/.edgerelay/relay-identity.json). C(~) is expanded.
      - Keep it out of version control, or encrypt it.
    type: path
    required: true
  name:
    description:
      - Name of the identity (the VLESS C(email) of the relay client). Stored in the file;
        an existing file with another name fails the task.
      - For O(kind=reality) a label only.
    type: str
    default: proxy-service@cluster
  kind:
    description: C(relay) for the relay identity, C(reality) for REALITY inbound keys.
    type: str
    default: relay
    choices: [relay, reality]
attributes:
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
  - An existing file readable by group or others is used, with a warning.
"""

EXAMPLES = r"""
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

- name: Client side of the relay hop (entry node outbound to the foreign pool)
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
  returned: success
  type: str
public_key:
  description: X25519 public key for clients (REALITY C(publicKey)), same encoding.
  returned: success
  type: str
  sample: Gf3bqFz3ZyqnPWG1MPvP0s4jmkCJuYVhdYFgFx1dF3I
short_id:
  description: REALITY short id, 8 lowercase hexadecimal characters.
  returned: success
  type: str
  sample: 3fa2c9d1
path:
  description: Absolute path of the file on the controller.
  returned: when the arguments are valid (also on errors about the file)
  type: str
  sample: /srv/inventory/.edgerelay/relay-identity.json
"""

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "name": {"type": "str", "default": DEFAULT_NAME},
    "kind": {"type": "str", "default": "relay", "choices": list(KINDS)},
}

RETURNED = ("name", "kind", "uuid", "private_key", "public_key", "short_id")

NO_LOG_WARNING = (
    "edgerelay.proxy.relay_identity returns a private key; set `no_log: true` on this task"
)


class ActionModule(ActionBase):
    """Create or load an identity file on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            result.update(failed=True, changed=False, msg="; ".join(validation.error_messages))
            return result
        args = validation.validated_parameters
        path = args["path"]
        if not os.path.isabs(path):
            result.update(
                failed=True,
                changed=False,
                msg=f"path must be absolute, got {path!r} "
                "(e.g. '{{ inventory_dir }}/.edgerelay/relay-identity.json')",
            )
            return result
        result["path"] = path
        warnings = [] if self._task.no_log else [NO_LOG_WARNING]

        try:
            identity, changed = self._identity(path, args["name"], args["kind"], warnings)
        except IdentityError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        except OSError as exc:
            result.update(
                failed=True,
                changed=False,
                msg=f"{exc.filename or path}: {exc.strerror or exc}",
            )
            return result

        result.update(
            changed=changed, **{key: identity[key] for key in RETURNED if key in identity}
        )
        if warnings:
            result["warnings"] = warnings
        return result

    def _identity(self, path, name, kind, warnings):
        """Return (identity, changed)."""
        if os.path.lexists(path):
            return self._load(path, name, kind, warnings), False
        identity = generate_identity(name, kind)
        if self._task.check_mode:
            return identity, True
        if store_identity(path, identity):
            return identity, True
        # Another fork wrote it first: everybody uses that one.
        return self._load(path, name, kind, warnings), False

    @staticmethod
    def _load(path, name, kind, warnings):
        if not os.path.isfile(path):
            raise IdentityError(f"{path}: exists but is not a regular file")
        identity = load_identity(path, name, kind)
        mode = loose_permissions(path)
        if mode is not None:
            warnings.append(
                f"{path} holds a private key and has mode {mode:04o}; run chmod 600 on it"
            )
        return identity
