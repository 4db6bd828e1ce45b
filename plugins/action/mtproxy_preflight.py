# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    DEFAULT_REPLICAS_MAX,
    PlanError,
    validate,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import unknown_keys

DOCUMENTATION = r"""
module: mtproxy_preflight
short_description: Validate an MTProxy-behind-HAProxy deployment plan before touching hosts
version_added: 1.0.0
author: edgerelay.proxy contributors
description:
  - Checks the deployment variables of the collection (secret, replica count, ports,
    Docker bridge subnet, HAProxy balance algorithm) and returns the derived replica plan.
  - Runs entirely on the controller; it never connects to the target host and executes
    no module, so it is safe as the very first task of a play and in check mode.
  - >-
    On error the task fails with C(msg) of the form C(<variable>: <message>), naming the
    offending variable. The value of O(mtproxy_secret) is never part of an error message.
  - This is an action plugin without a module.
options:
  mtproxy_secret:
    description:
      - MTProxy secret, 32 hexadecimal characters (case-insensitive).
      - Or C(dd) followed by 32 hexadecimal characters to force random padding for
        clients; the server is then given the 32-character core.
      - C(ee) FakeTLS secrets are rejected, C(telegrammessenger/proxy) does not support them.
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
  haproxy_balance_algorithm:
    description: HAProxy balance algorithm for the TCP backend.
    type: str
    required: true
    choices: [roundrobin, static-rr, leastconn, first, source, random]
attributes:
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
  loop: "{{ mtproxy_preflight.plan }}"
"""

RETURN = r"""
plan:
  description: One entry per replica, as returned by the
    C(edgerelay.proxy.mtproxy_replica_plan) filter.
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

# Types are enforced with Ansible's argument spec validator; the semantic checks
# (ranges, collisions, subnet size, secret format, choices) live in validate() so that
# its messages name the variable and never echo the secret.
ARGUMENT_SPEC = {
    "mtproxy_secret": {"type": "raw", "no_log": True},
    "mtproxy_replicas": {"type": "int"},
    "mtproxy_replicas_max": {"type": "int", "default": DEFAULT_REPLICAS_MAX},
    "mtproxy_base_port": {"type": "int"},
    "mtproxy_network_subnet": {"type": "str"},
    "haproxy_port": {"type": "int"},
    "haproxy_stats_port": {"type": "int"},
    "haproxy_balance_algorithm": {"type": "str"},
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
            plan = validate(check_argument_types(self._task.args))
        except PlanError as exc:
            result.update(failed=True, changed=False, msg=str(exc), variable=exc.variable)
            return result

        result.update(changed=False, **plan)
        return result
