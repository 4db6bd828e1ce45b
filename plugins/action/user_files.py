# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin; the documentation lives in plugins/modules/user_files.py."""

from __future__ import annotations

import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.edgerelay.proxy.plugins.module_utils.user_files import (
    STACKS,
    UserFilesError,
    apply,
    normalize_users,
    plan,
)

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "stack": {"type": "str", "required": True, "choices": list(STACKS)},
    "users": {"type": "dict", "required": True},
}

NO_LOG_WARNING = (
    "edgerelay.proxy.user_files takes the links (they hold the secrets) as arguments; "
    "set `no_log: true` on this task"
)


def _describe(op, side):
    """One line of the diff: a file name and what happens to it, never its content."""
    name = op.name
    if op.kind == "chmod":
        return f"{name} mode {op.found if side == 'before' else op.mode:04o}"
    if op.kind == "write" and op.existed:
        return f"{name} ({'current' if side == 'before' else 'new'} content, not shown)"
    return name


def _diff(root, ops):
    before = [_describe(op, "before") for op in ops if op.kind in ("remove", "chmod")]
    before += [_describe(op, "before") for op in ops if op.kind == "write" and op.existed]
    after = [_describe(op, "after") for op in ops if op.kind in ("mkdir", "chmod", "write")]
    return {
        "before_header": root,
        "after_header": root,
        "before": "".join(f"{line}\n" for line in sorted(set(before))),
        "after": "".join(f"{line}\n" for line in sorted(set(after))),
    }


class ActionModule(ActionBase):
    """Write each user's links, QR codes and subscription on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            # The messages name options and types; an invalid users value is not quoted.
            result.update(failed=True, changed=False, msg="; ".join(validation.error_messages))
            return result
        args = validation.validated_parameters
        root = os.path.normpath(args["path"])
        stack = args["stack"]
        result["path"] = os.path.join(root, stack)

        try:
            users = normalize_users(args["users"])
            ops = plan(root, stack, users)
            if not self._task.check_mode:
                apply(ops)
        except UserFilesError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
            return result
        except OSError as exc:
            result.update(
                failed=True,
                changed=False,
                msg=f"{exc.filename or root}: {exc.strerror or exc}",
            )
            return result

        removed = sorted(op.name for op in ops if op.kind == "remove")
        changed_files = sorted({op.name for op in ops if op.kind in ("mkdir", "chmod", "write")})
        result.update(
            changed=bool(ops),
            users=sorted(users),
            changed_files=changed_files,
            removed=removed,
        )
        if self._task.diff and ops:
            result["diff"] = _diff(root, ops)
        if not self._task.no_log:
            result["warnings"] = [NO_LOG_WARNING]
        return result
