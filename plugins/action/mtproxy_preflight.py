# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin; the documentation lives in plugins/modules/mtproxy_preflight.py."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    DEFAULT_CONTAINER_PORT,
    DEFAULT_REPLICAS_MAX,
    PlanError,
    validate,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_profile import (
    ProfileError,
    validate_profile,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import unknown_keys

# Types are enforced with Ansible's argument spec validator; the semantic checks
# (ranges, collisions, subnet size, secret format, choices) live in validate() so that
# its messages name the variable and never echo the secret.
ARGUMENT_SPEC = {
    "mtproxy_secret": {"type": "raw", "no_log": True, "default": ""},
    "mtproxy_users": {"type": "list", "elements": "dict", "default": []},
    "mtproxy_generated_secrets": {"type": "dict", "default": {}, "no_log": True},
    "mtproxy_implementation": {"type": "str", "default": "the implementation"},
    "mtproxy_profile": {"type": "dict"},
    "mtproxy_tls_domain": {"type": "str", "default": ""},
    "mtproxy_mask_host": {"type": "str", "default": ""},
    "mtproxy_mask_port": {"type": "int", "default": 443},
    "mtproxy_client_ip_mode": {"type": "str", "default": "tproxy"},
    "mtproxy_balance": {"type": "str", "default": "auto"},
    "mtproxy_replay_cache_size": {"type": "int", "default": 32768},
    "mtproxy_replicas": {"type": "int"},
    "mtproxy_replicas_max": {"type": "int", "default": DEFAULT_REPLICAS_MAX},
    "mtproxy_base_port": {"type": "int"},
    "mtproxy_network_subnet": {"type": "str"},
    "haproxy_port": {"type": "int"},
    "haproxy_stats_port": {"type": "int"},
    "haproxy_balance_algorithm": {"type": "str"},
    "mtproxy_container_port": {"type": "int", "default": DEFAULT_CONTAINER_PORT},
}


def check_argument_types(args):
    """Coerce ``args`` to the types of ARGUMENT_SPEC, one argument at a time.

    Validating each argument on its own lets a failure name exactly one variable.
    Missing arguments are left out (validate() reports them); raises PlanError.
    """
    unsupported = unknown_keys(args, ARGUMENT_SPEC)
    if unsupported:
        raise PlanError(
            unsupported[0],
            "is not a parameter of edgerelay.proxy.mtproxy_preflight "
            f"(supported: {', '.join(sorted(ARGUMENT_SPEC))})",
        )
    checked = {}
    for name, spec in ARGUMENT_SPEC.items():
        value = args.get(name)
        if value is None and "default" not in spec:
            continue
        single = {name: value} if value is not None else {}
        result = ArgumentSpecValidator({name: spec}).validate(single)
        if result.error_messages:
            message = "; ".join(result.error_messages)
            raise PlanError(name, message.replace(f"argument '{name}' ", "", 1))
        checked[name] = result.validated_parameters[name]
    return checked


class ActionModule(ActionBase):
    """Validate the MTProxy deployment variables on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp

        try:
            args = check_argument_types(self._task.args)
            if args.get("mtproxy_profile") is not None:
                args["mtproxy_profile"] = validate_profile(
                    args["mtproxy_profile"], args["mtproxy_implementation"]
                )
            plan = validate(args)
        except (PlanError, ProfileError) as exc:
            result.update(failed=True, changed=False, msg=str(exc), variable=exc.variable)
            return result

        result.update(changed=False, profile=args.get("mtproxy_profile"), **plan)
        return result
