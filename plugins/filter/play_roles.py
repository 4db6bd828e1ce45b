# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name

DOCUMENTATION = r"""
name: play_roles
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: The roles a host will run, read from the plays of a playbook
description:
  - Takes the plays of a playbook (its YAML, parsed) and the groups of a host, and returns the
    roles of every play that targets one of those groups, each once, in an order that keeps
    the order of every one of those plays (a role comes after every role a play runs before
    it; ties go to the role seen first). For the groups of all hosts it gives one order in
    which every host's roles can be walked, whatever its stack.
  - Plays that run roles in contradicting orders fail.
  - The playbook's own C(roles) lists are the one source; the input validation of
    C(playbooks/plan.yml) uses this to run each role's pre-flight on exactly the hosts that
    will run the role.
  - C(import_playbook) entries are skipped; pass the plays of each imported playbook.
  - Role names are returned without the O(namespace) prefix (C(edgerelay.proxy.haproxy) gives
    C(haproxy)). A role of another collection fails, as its pre-flight cannot be run here.
positional: _input, group_names
options:
  _input:
    description: The plays, as C(lookup('ansible.builtin.file', path) | from_yaml) returns them.
    type: list
    elements: dict
    required: true
  group_names:
    description: The groups of the host (the C(group_names) magic variable).
    type: list
    elements: str
    required: true
  namespace:
    description: Collection prefix of the roles.
    type: str
    default: edgerelay.proxy
notes:
  - C(hosts) must be C(all), a group name, or group names joined by C(:) or C(,), or a list of
    those. Other patterns (C(!), C(&), wildcards, templates) fail, because a role list that
    silently missed a host would skip its validation.
"""

EXAMPLES = r"""
- name: Validate the inputs of every role this host will run
  ansible.builtin.include_role:
    name: "edgerelay.proxy.{{ item }}"
    tasks_from: preflight.yml
  loop: >-
    {{ lookup('ansible.builtin.file', playbook_dir ~ '/mtproxy.yml') | from_yaml
       | edgerelay.proxy.play_roles(group_names) }}
"""

RETURN = r"""
_value:
  description: Role names without the namespace, each once, in an order that keeps every play's.
  type: list
  elements: str
  sample: [common, tproxy, mtproxy, haproxy, monitoring, verify]
"""

_GROUP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _targets(hosts, index):
    parts = []
    for item in hosts if isinstance(hosts, list) else [hosts]:
        if not isinstance(item, str):
            raise AnsibleFilterError(f"play_roles: plays[{index}].hosts must be a string or a list")
        parts.extend(part.strip() for part in re.split(r"[:,]", item) if part.strip())
    for part in parts:
        if not _GROUP_RE.fullmatch(part):
            raise AnsibleFilterError(
                f"play_roles: plays[{index}].hosts {hosts!r} is not 'all' or group names joined by "
                f"':' or ','; {part!r} cannot be resolved here"
            )
    return set(parts)


def _role_name(entry, index, namespace):
    name = entry.get("role", entry.get("name")) if isinstance(entry, Mapping) else entry
    if not isinstance(name, str) or not name:
        raise AnsibleFilterError(
            f"play_roles: plays[{index}].roles has an entry without a role name"
        )
    prefix = f"{namespace}."
    if name.startswith(prefix):
        return name[len(prefix) :]
    if "." in name:
        raise AnsibleFilterError(
            f"play_roles: plays[{index}] uses the role {name!r} of another collection"
        )
    return name


def play_roles(plays, group_names=None, namespace="edgerelay.proxy"):
    """Roles of the plays that target one of ``group_names``, in order, each once."""
    if group_names is None:
        raise AnsibleFilterError("play_roles: group_names is required")
    if isinstance(plays, (str, bytes, Mapping)) or not isinstance(plays, Sequence):
        raise AnsibleFilterError(f"play_roles: expects a list of plays, got {type_name(plays)}")
    groups = {str(name) for name in group_names} | {"all"}
    sequences = []
    for index, play in enumerate(plays):
        if not isinstance(play, Mapping):
            raise AnsibleFilterError(f"play_roles: plays[{index}] is not a play")
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            continue
        if not _targets(play.get("hosts"), index) & groups:
            continue
        sequence = []
        for entry in play.get("roles") or []:
            name = _role_name(entry, index, namespace)
            if name not in sequence:
                sequence.append(name)
        sequences.append(sequence)
    return _merged(sequences)


def _merged(sequences):
    """One order of the roles of all ``sequences`` that keeps the order of each: a role comes
    after every role some play runs before it; ties go to the role seen first."""
    seen = []
    before = {}
    for sequence in sequences:
        for position, name in enumerate(sequence):
            if name not in seen:
                seen.append(name)
            before.setdefault(name, set()).update(sequence[:position])
    roles = []
    while len(roles) < len(seen):
        ready = [name for name in seen if name not in roles and before[name] <= set(roles)]
        if not ready:
            left = [name for name in seen if name not in roles]
            raise AnsibleFilterError(
                f"play_roles: the plays run the roles {', '.join(left)} in contradicting orders"
            )
        roles.append(ready[0])
    return roles


class FilterModule:
    """edgerelay.proxy playbook introspection."""

    def filters(self):
        return {"play_roles": play_roles}
