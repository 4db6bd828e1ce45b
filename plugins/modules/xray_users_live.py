# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The imports follow DOCUMENTATION, EXAMPLES and RETURN, as ansible-test validate-modules wants.
# ruff: noqa: E402
"""Give a running Xray the users of its config file through its API, without a restart."""

from __future__ import annotations

DOCUMENTATION = r"""
module: xray_users_live
short_description: Add and remove the users of a running Xray through its API, without a restart
version_added: 0.1.0
author: edgerelay.proxy contributors (@edgerelay)
description:
  - Reads the Xray config file O(config) on the node and makes the users of the running Xray
    equal to the file's, through Xray's gRPC API (HandlerService) on loopback, the address of
    the config's C(api.listen) (or O(server)). Xray keeps running; connections of the users
    that stay are not touched.
  - "The users of every inbound with C(settings.clients) are synchronised, except the inbound
    C(relay): the relay identity a proxy node connects with is never changed by this module."
  - "For each inbound it reads the live users (C(xray api inbounduser)); removes those the file
    does not have, or has with another id or flow (C(xray api rmu)); then adds the file's users
    that are missing (C(xray api adu), from a temporary JSON file of mode C(0600) in the
    module's private temporary directory, removed afterwards); then reads the live users again
    and fails unless they are exactly the file's (name, id and flow), naming the users that
    differ."
  - Xray's C(adu) and C(rmu) exit with status 0 when a user could not be added or removed; the
    module counts the users they report and fails when one is missing.
  - The module's result and messages name inbounds and users, never a user's id; the config
    file and the API output, which hold the ids, are never returned.
options:
  config:
    description: Path of the Xray config file on the node, for example the role's
      C(/usr/local/etc/xray/config.json). It must have C(api.listen) unless O(server) is given.
    type: path
    required: true
  server:
    description: The API's C(address:port), on loopback (C(127.0.0.0/8), C(::1) or
      C(localhost)). Default the config's C(api.listen).
    type: str
  binary:
    description: Path of the C(xray) binary that runs the C(xray api) commands.
    type: path
    default: /usr/local/bin/xray
  timeout:
    description: Seconds each C(xray api) call may take (its C(-timeout)).
    type: int
    default: 5
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the live users are read and compared with the file; nothing is
      added or removed.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - "Measured with Xray 26.3.27 (tests/integration/roles/test_xray_live_users.py): removing a
    user stops new connections with that user's id at once, but connections the user opened
    before the removal keep passing data until they close (Xray checks the id only when a
    connection starts and does not close a removed user's connections). To cut a removed
    user off completely, restart Xray (C(systemctl restart xray)), which drops everyone's
    connections."
  - A user changed in place (same name, another id or flow) is removed and added again; for the
    few milliseconds between the two, that user's new connections fail.
  - The config's C(api) must be on loopback; whoever reaches Xray's API can add users.
seealso:
  - plugin: edgerelay.proxy.xray_config_change
    plugin_type: filter
  - plugin: edgerelay.proxy.xray_config
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Give the running Xray the users of its config file
  edgerelay.proxy.xray_users_live:
    config: /usr/local/etc/xray/config.json
  register: xray_users

- name: Through another binary and API address
  edgerelay.proxy.xray_users_live:
    config: /etc/xray/config.json
    binary: /usr/bin/xray
    server: 127.0.0.1:10085
"""

RETURN = r"""
server:
  description: The API address used.
  returned: always
  type: str
  sample: 127.0.0.1:10085
added:
  description: Inbound tag to the names of the users added (or, in check mode, to add).
  returned: always
  type: dict
  sample: {public-443: [bob]}
removed:
  description: Inbound tag to the names of the users removed (or, in check mode, to remove).
    A user whose id or flow changed is in both.
  returned: always
  type: dict
  sample: {public-443: [carol]}
users:
  description: Inbound tag to the number of users the running Xray has on it afterwards (in
    check mode, the file's).
  returned: always
  type: dict
  sample: {public-443: 2}
"""

import ipaddress
import json
import os
import re
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_change import (
    client_key,
    user_inbounds,
    users_to_apply,
)

ARGUMENT_SPEC = {
    "config": {"type": "path", "required": True},
    "server": {"type": "str"},
    "binary": {"type": "path", "default": "/usr/local/bin/xray"},
    "timeout": {"type": "int", "default": 5},
}

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ADDED = re.compile(r"^Added (\d+) user\(s\) in total\.$", re.M)
_REMOVED = re.compile(r"^Removed (\d+) user\(s\) in total\.$", re.M)


class LiveUsersError(Exception):
    """Something the module reports as its failure message (never holding an id)."""


def scrub(text):
    """``text`` without anything of a UUID's shape, on one line, shortened."""
    text = _UUID.sub("<id>", text or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " / ".join(lines)[:600]


def loopback_server(server):
    """``server`` when it is ``address:port`` on loopback, else LiveUsersError."""
    host, _, port = str(server).rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise LiveUsersError(
            f"the API address {server!r} is not address:port on loopback (127.0.0.1, ::1): "
            "Xray's API must never be reachable from elsewhere"
        )
    return str(server)


def normalised(client):
    """What Xray keeps of a VLESS client: name, id (lower case), flow."""
    return {
        "email": client["email"],
        "id": str(client.get("id", "")).lower(),
        "flow": client.get("flow") or "",
    }


class XrayApi:
    """The ``xray api`` commands, run with ``run(argv) -> (rc, stdout, stderr)``."""

    def __init__(self, run, binary, server, timeout):
        self.run = run
        self.base = [binary, "api"]
        self.flags = [f"--server={server}", f"-timeout={timeout}"]
        self.server = server

    def _call(self, command, *args):
        rc, out, err = self.run([*self.base, command, *self.flags, *args])
        return rc, out or "", err or ""

    def users(self, tag):
        """The live users of inbound ``tag``: ``[{"email", "id", "flow"}]``."""
        rc, out, err = self._call("inbounduser", f"-tag={tag}")
        if rc != 0:
            raise LiveUsersError(
                f"cannot read the users of inbound {tag} from Xray's API at {self.server}: "
                f"{scrub(err or out)}"
            )
        try:
            document = json.loads(out or "{}")
        except ValueError:
            raise LiveUsersError(
                f"xray api inbounduser -tag={tag} printed something that is not JSON"
            ) from None
        users = []
        for user in document.get("users", []):
            account = user.get("account") or {}
            users.append(
                normalised(
                    {
                        "email": user.get("email", ""),
                        "id": account.get("id", ""),
                        "flow": account.get("flow"),
                    }
                )
            )
        return users

    def remove(self, tag, emails):
        rc, out, err = self._call("rmu", f"-tag={tag}", *emails)
        done = _REMOVED.search(out)
        if rc != 0 or not done or int(done.group(1)) != len(emails):
            raise LiveUsersError(
                f"xray api rmu removed {done.group(1) if done else 'no'} of the {len(emails)} "
                f"user(s) {', '.join(emails)} from inbound {tag}: {scrub(out + err)}"
            )

    def add(self, document, count, directory):
        """Add the users of ``document`` (``{"inbounds": [...]}``) from a 0600 file."""
        path = os.path.join(directory, "users.json")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        try:
            rc, out, err = self._call("adu", path)
        finally:
            os.unlink(path)
        done = _ADDED.search(out)
        if rc != 0 or not done or int(done.group(1)) != count:
            names = [c["email"] for i in document["inbounds"] for c in i["settings"]["clients"]]
            raise LiveUsersError(
                f"xray api adu added {done.group(1) if done else 'no'} of the {count} user(s) "
                f"{', '.join(names)}: {scrub(out + err)}"
            )


def read_config(path):
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except OSError as exc:
        raise LiveUsersError(f"cannot read the Xray config {path}: {exc.strerror}") from None
    except ValueError:
        raise LiveUsersError(f"the Xray config {path} is not valid JSON") from None
    if not isinstance(config, dict):
        raise LiveUsersError(f"the Xray config {path} is not a JSON object")
    return config


def wanted(config, path):
    """``{tag: (inbound, [clients])}`` of the config's user inbounds (every inbound with
    clients but relay), each client with a name, no name twice in an inbound."""
    inbounds = {inbound["tag"]: inbound for inbound in config.get("inbounds", [])}
    result = {}
    for tag in user_inbounds(config):
        clients = inbounds[tag]["settings"]["clients"]
        keys = [client_key(client) for client in clients]
        if None in keys or len(set(keys)) != len(keys):
            raise LiveUsersError(
                f"inbound {tag} of {path}: a user without a name, or two with the same name"
            )
        result[tag] = (inbounds[tag], clients)
    return result


def differences(live, clients):
    """``(missing, unexpected, different)`` names between live users and the file's."""
    live_by = {client_key(user): user for user in live}
    file_by = {client_key(client): normalised(client) for client in clients}
    missing = [file_by[key]["email"] for key in file_by if key not in live_by]
    unexpected = [live_by[key]["email"] for key in live_by if key not in file_by]
    different = [
        file_by[key]["email"] for key in file_by if key in live_by and live_by[key] != file_by[key]
    ]
    return missing, unexpected, different


def synchronise(api, config, path, check_mode, tmpdir):
    """Make the live users of every user inbound the config's; the module's result."""
    inbounds = wanted(config, path)
    added, removed, plans = {}, {}, {}
    for tag, (_inbound, clients) in inbounds.items():
        live = api.users(tag)
        try:
            add, remove = users_to_apply(live, [normalised(client) for client in clients])
        except ValueError:
            raise LiveUsersError(
                f"the running Xray has a user without a name on inbound {tag}, which its API "
                "cannot remove: restart xray to load the file"
            ) from None
        by_key = {client_key(client): client for client in clients}
        plans[tag] = ([by_key[client_key(client)] for client in add], remove)
        if add:
            added[tag] = [client["email"] for client in add]
        if remove:
            removed[tag] = remove
    result = {
        "changed": bool(added or removed),
        "server": api.server,
        "added": added,
        "removed": removed,
        "users": {tag: len(clients) for tag, (_inbound, clients) in inbounds.items()},
    }
    if check_mode or not result["changed"]:
        return result
    for tag, (_add, remove) in plans.items():
        if remove:
            api.remove(tag, remove)
    document = {
        "inbounds": [
            {
                "tag": tag,
                # `adu` builds each inbound before it reads the users: it wants a port.
                "port": inbounds[tag][0].get("port"),
                "protocol": inbounds[tag][0].get("protocol", "vless"),
                "settings": {"clients": add, "decryption": "none"},
            }
            for tag, (add, _remove) in plans.items()
            if add
        ]
    }
    count = sum(len(add) for add, _remove in plans.values())
    if count:
        directory = tempfile.mkdtemp(prefix="xray-users-", dir=tmpdir)
        try:
            api.add(document, count, directory)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    for tag, (_inbound, clients) in inbounds.items():
        missing, unexpected, different = differences(api.users(tag), clients)
        if missing or unexpected or different:
            parts = [
                f"{label}: {', '.join(names)}"
                for label, names in (
                    ("missing", missing),
                    ("not in the config", unexpected),
                    ("with another id or flow", different),
                )
                if names
            ]
            raise LiveUsersError(
                f"after the change, the users of inbound {tag} in the running Xray are not "
                f"those of {path} ({'; '.join(parts)}); restart xray to load the file"
            )
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        config = read_config(params["config"])
        server = params["server"]
        if server is None:
            api_section = config.get("api")
            if not isinstance(api_section, dict) or not api_section.get("listen"):
                raise LiveUsersError(
                    f"the Xray config {params['config']} has no api.listen: the running Xray "
                    "has no API to change users through (restart it with a config that has)"
                )
            server = api_section["listen"]
        server = loopback_server(server)
        if params["timeout"] < 1:
            raise LiveUsersError(f"timeout must be at least 1 second, got {params['timeout']}")
        api = XrayApi(
            lambda argv: module.run_command(argv, check_rc=False),
            params["binary"],
            server,
            params["timeout"],
        )
        result = synchronise(api, config, params["config"], module.check_mode, module.tmpdir)
    except LiveUsersError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
