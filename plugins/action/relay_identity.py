# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin; the documentation lives in plugins/modules/relay_identity.py."""

from __future__ import annotations

import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    DEFAULT_NAME,
    KINDS,
    IdentityError,
    check_private,
    generate_identity,
    load_identity,
    store_identity,
)

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "name": {"type": "str", "default": DEFAULT_NAME},
    "kind": {"type": "str", "default": "relay", "choices": list(KINDS)},
    "aliases": {"type": "list", "elements": "str", "default": []},
}

RETURNED = ("name", "kind", "uuid", "private_key", "public_key", "short_id", "secret")

NO_LOG_WARNING = (
    "edgerelay.proxy.relay_identity returns a private key or secret; "
    "set `no_log: true` on this task"
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
            identity, changed = self._identity(
                path, args["name"], args["kind"], tuple(args["aliases"])
            )
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

    def _identity(self, path, name, kind, aliases=()):
        """Return (identity, changed)."""
        # Before anything is read or written: a directory or file others may use fails.
        check_private(path)
        if os.path.lexists(path):
            return self._load(path, name, kind, aliases), False
        identity = generate_identity(name, kind)
        if self._task.check_mode:
            return identity, True
        if store_identity(path, identity):
            return identity, True
        # Another fork wrote it first: everybody uses that one.
        return self._load(path, name, kind, aliases), False

    @staticmethod
    def _load(path, name, kind, aliases=()):
        if not os.path.isfile(path):
            raise IdentityError(f"{path}: exists but is not a regular file")
        check_private(path)
        return load_identity(path, name, kind, aliases)
