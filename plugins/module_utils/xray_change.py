# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What it takes to go from the installed Xray config of a node to a new one.

Pure Python, nothing here talks to a host.

``classify(installed, new)`` compares the two configs and returns one of three modes:

* ``none``: the configs are equal;
* ``live``: they differ only in the users (``settings.clients``) of inbounds other than
  ``relay`` (the relay identity's inbound on a backend is never changed by a user change),
  so the running Xray can take the change through its API (HandlerService: ``xray api rmu``,
  ``xray api adu``) without a restart, and the file is rewritten for the next start;
* ``restart``: anything else changed (a port, a transport, REALITY keys, an inbound added or
  removed, the routing, the outbounds, the API port, the log...), or there is no readable
  installed config: Xray must be restarted.

``reasons`` say in words what changed, naming inbounds by tag and settings by name, never a
value (no UUID, no key, no short id). ``add`` and ``remove`` are per inbound tag: the clients
to add (as in the new config) and the names (emails) to remove. A user whose id or flow
changed is removed and added again. Xray compares emails ignoring case, so do these.

``apply_change(config, change)`` applies ``add`` and ``remove`` to a config's clients, as
the API does; ``users_to_apply(live, desired)`` is the same comparison between the users a
running Xray reports (``xray api inbounduser``) and the config's, used by the
``edgerelay.proxy.xray_users_live`` module.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "MODES",
    "RELAY_TAG",
    "apply_change",
    "classify",
    "client_key",
    "plan",
    "summary",
    "user_inbounds",
    "users_to_apply",
]

MODES = ("none", "live", "restart")
RELAY_TAG = "relay"
CLIENTS = "clients"

# Top-level sections, as a reason names them.
_SECTIONS = {
    "log": "log",
    "dns": "dns",
    "api": "api (Xray's local API)",
    "stats": "stats",
    "policy": "policy",
    "inbounds": "inbounds",
    "outbounds": "outbounds",
    "routing": "routing",
}
# realitySettings keys, as a reason names them (values are never shown).
_REALITY = {
    "privateKey": "REALITY keys of {tag}",
    "shortIds": "REALITY short ids of {tag}",
    "target": "REALITY target of {tag}",
    "serverNames": "REALITY server names of {tag}",
}
_STREAM = {
    "network": "inbound {tag}: transport",
    "security": "inbound {tag}: security",
    "xhttpSettings": "inbound {tag}: xhttp settings",
}
_INBOUND = {
    "port": "inbound {tag}: port",
    "listen": "inbound {tag}: listen address",
    "protocol": "inbound {tag}: protocol",
}
# Names that may appear in a reason as they are: short, no value of a secret's shape.
_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
_HEX_ONLY = re.compile(r"[0-9a-fA-F._-]+")


def _plain(name, fallback):
    """``name`` when it is a short plain name that cannot be an id, a key or a short id
    (a key is 43 characters, a UUID 36; a short id is hexadecimal), else ``fallback``."""
    if isinstance(name, str) and _PLAIN_NAME.fullmatch(name) and not _HEX_ONLY.fullmatch(name):
        return name
    return fallback


def client_key(client):
    """A client's name as Xray compares it (lower case), or None when it has none."""
    email = client.get("email") if isinstance(client, Mapping) else None
    return email.lower() if isinstance(email, str) and email else None


def _is_list(value):
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _inbounds_by_tag(config):
    """``[(tag, inbound)]`` in order, or None when the inbounds are not a list of mappings
    with distinct string tags."""
    inbounds = config.get("inbounds", [])
    if not _is_list(inbounds):
        return None
    pairs = []
    for inbound in inbounds:
        if not isinstance(inbound, Mapping) or not isinstance(inbound.get("tag"), str):
            return None
        pairs.append((inbound["tag"], inbound))
    if len({tag for tag, _ in pairs}) != len(pairs):
        return None
    return pairs


def _same(old, new, key):
    """``key`` is in both mappings with equal values, or in neither (a key with a null value
    is not a missing key)."""
    return (key in old) == (key in new) and old.get(key) == new.get(key)


def _has_clients(inbound):
    settings = inbound.get("settings")
    return isinstance(settings, Mapping) and CLIENTS in settings


def user_inbounds(config):
    """Tags of the inbounds whose clients are users (every inbound with ``settings.clients``
    but ``relay``), in order."""
    pairs = _inbounds_by_tag(config) or []
    return [tag for tag, inbound in pairs if tag != RELAY_TAG and _has_clients(inbound)]


def _without_clients(inbound):
    """The inbound with its ``settings.clients`` left out."""
    stripped = dict(inbound)
    settings = dict(stripped["settings"])
    del settings[CLIENTS]
    stripped["settings"] = settings
    return stripped


def _inbound_reasons(tag, old, new):
    """What differs between two inbounds of the same tag, users of a user inbound aside."""
    name = _plain(tag, "an inbound")
    reasons = []
    users = tag != RELAY_TAG and _has_clients(old) and _has_clients(new)
    if users:
        old, new = _without_clients(old), _without_clients(new)
    for key in sorted(set(old) | set(new), key=str):
        if key == "tag" or _same(old, new, key):
            continue
        if key in _INBOUND:
            reasons.append(_INBOUND[key].format(tag=name))
        elif key == "settings":
            reasons += _settings_reasons(name, old.get(key), new.get(key), tag == RELAY_TAG)
        elif key == "streamSettings":
            reasons += _stream_reasons(name, old.get(key), new.get(key))
        else:
            reasons.append(f"inbound {name}: {_plain(key, 'a setting')}")
    return reasons


def _settings_reasons(name, old, new, relay):
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [f"inbound {name}: settings"]
    reasons = []
    if relay and not _same(old, new, CLIENTS):
        reasons.append("the relay identity (inbound relay)")
    rest_old = {key: value for key, value in old.items() if key != CLIENTS}
    rest_new = {key: value for key, value in new.items() if key != CLIENTS}
    if rest_old != rest_new or (not relay and not _same(old, new, CLIENTS)):
        reasons.append(f"inbound {name}: settings")
    return reasons


def _stream_reasons(name, old, new):
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return [f"inbound {name}: stream settings"]
    reasons = []
    for key in sorted(set(old) | set(new), key=str):
        if _same(old, new, key):
            continue
        if key in _STREAM:
            reasons.append(_STREAM[key].format(tag=name))
        elif key == "realitySettings":
            before, after = old.get(key), new.get(key)
            if not isinstance(before, Mapping) or not isinstance(after, Mapping):
                reasons.append(f"REALITY settings of {name}")
                continue
            for field in sorted(set(before) | set(after), key=str):
                if not _same(before, after, field):
                    template = _REALITY.get(field, "REALITY settings of {tag}")
                    reasons.append(template.format(tag=name))
        else:
            reasons.append(f"inbound {name}: {_plain(key, 'stream settings')}")
    return reasons


def _differences(old, new):
    """Reasons to restart: what differs between two configs, users of user inbounds aside."""
    reasons = []
    for key in sorted(set(old) | set(new), key=str):
        if key == "inbounds" or _same(old, new, key):
            continue
        reasons.append(_SECTIONS.get(key) or f"section {_plain(key, 'of the config')}")
    old_pairs, new_pairs = _inbounds_by_tag(old), _inbounds_by_tag(new)
    if old_pairs is None or new_pairs is None:
        if not _same(old, new, "inbounds"):
            reasons.append("inbounds")
        return _unique(reasons)
    if ("inbounds" in old) != ("inbounds" in new):
        reasons.append("inbounds")
    old_tags = dict(old_pairs)
    new_tags = dict(new_pairs)
    for tag, _ in new_pairs:
        if tag not in old_tags:
            reasons.append(f"inbound {_plain(tag, 'an inbound')} added")
    for tag, _ in old_pairs:
        if tag not in new_tags:
            reasons.append(f"inbound {_plain(tag, 'an inbound')} removed")
    common_old = [tag for tag, _ in old_pairs if tag in new_tags]
    common_new = [tag for tag, _ in new_pairs if tag in old_tags]
    if common_old != common_new:
        reasons.append("order of the inbounds")
    for tag in common_new:
        reasons += _inbound_reasons(tag, old_tags[tag], new_tags[tag])
    return _unique(reasons)


def _unique(items):
    return list(dict.fromkeys(items))


def _clients_by_key(clients):
    """``{name: client}``, or None when a client has no name or two share one."""
    if not _is_list(clients):
        return None
    by_key = {}
    for client in clients:
        key = client_key(client)
        if key is None or key in by_key:
            return None
        by_key[key] = client
    return by_key


def users_to_apply(current, desired):
    """``(add, remove)`` that turn the clients ``current`` into ``desired``: the clients of
    ``desired`` not in ``current`` as they are (same name, same id, flow...), and the names
    (as ``current`` has them) of the clients of ``current`` not in ``desired``. A client
    whose name is in both but with another id or flow is in both lists. ValueError when a
    client has no name or two share one (Xray compares names ignoring case)."""
    before = _clients_by_key(current)
    after = _clients_by_key(desired)
    if before is None or after is None:
        raise ValueError("a user without a name, or two users with the same name")
    remove = [
        client["email"]
        for key, client in before.items()
        if key not in after or dict(after[key]) != dict(client)
    ]
    add = [
        client
        for key, client in after.items()
        if key not in before or dict(before[key]) != dict(client)
    ]
    return add, remove


def _restart(reasons):
    return {"mode": "restart", "reasons": list(reasons), "add": {}, "remove": {}}


def _parse(installed):
    """The installed config as a mapping, or a reason why there is none."""
    if installed is None or (isinstance(installed, (str, bytes)) and not installed.strip()):
        return None, "no config installed yet"
    if isinstance(installed, (str, bytes)):
        try:
            installed = json.loads(installed)
        except ValueError:
            return None, "the installed config is not valid JSON"
    if not isinstance(installed, Mapping):
        return None, "the installed config is not a JSON object"
    return installed, None


def classify(installed, new):
    """How to go from the ``installed`` config to the ``new`` one (see the module docstring).

    ``installed`` is the config on the node: a mapping, its JSON text, or None or empty
    when there is none. ``new`` is the config to install (a mapping). Returns
    ``{"mode", "reasons", "add", "remove"}``; ``add`` maps an inbound tag to the clients to
    add, ``remove`` to the names to remove, both empty unless the mode is ``live``.
    """
    if not isinstance(new, Mapping):
        raise TypeError(f"the new config must be a mapping, got {type(new).__name__}")
    old, problem = _parse(installed)
    if problem:
        return _restart([problem])
    if old == new:
        return {"mode": "none", "reasons": [], "add": {}, "remove": {}}
    reasons = _differences(old, new)
    if reasons:
        return _restart(reasons)
    # Only the users of user inbounds differ.
    old_tags, new_tags = dict(_inbounds_by_tag(old)), dict(_inbounds_by_tag(new))
    add, remove, live_reasons = {}, {}, []
    for tag in user_inbounds(new):
        before = old_tags[tag]["settings"][CLIENTS]
        after = new_tags[tag]["settings"][CLIENTS]
        if before == after:
            continue
        name = _plain(tag, "an inbound")
        try:
            added, removed = users_to_apply(before, after)
        except ValueError:
            return _restart([f"inbound {name}: a user without a name, or two with the same name"])
        if added:
            add[tag] = [dict(client) for client in added]
        if removed:
            remove[tag] = removed
        live_reasons.append(f"users of {name}" if added or removed else f"order of users of {name}")
    return {"mode": "live", "reasons": live_reasons, "add": add, "remove": remove}


def plan(installed, new, running=True, restart_reasons=()):
    """``classify()``, then what the role does about it, and its ``summary`` line.

    ``running``: whether Xray runs, so that its API can take a live change; when it does not,
    a live change becomes a restart. ``restart_reasons``: plain words for what restarts Xray
    anyway (its systemd unit changed...); any turns the mode into ``restart``. The result
    is ``classify()``'s with ``summary`` added.
    """
    change = classify(installed, new)
    extra = [str(reason) for reason in restart_reasons]
    first = ["xray.service is not running"] if not running and change["mode"] == "live" else []
    if first or extra:
        reasons = change["reasons"] if change["mode"] != "none" else []
        change = _restart(_unique(first + reasons + extra))
    change["summary"] = summary(change, running)
    return change


def apply_change(config, change):
    """``config`` (a copy) with ``change``'s ``remove`` then ``add`` applied to the clients
    of its inbounds, as Xray's API applies them: the order of the clients is Xray's own
    business, so added clients come last."""
    result = copy.deepcopy(dict(config))
    for inbound in result.get("inbounds", []):
        tag = inbound.get("tag")
        if tag not in change["add"] and tag not in change["remove"]:
            continue
        removed = {email.lower() for email in change["remove"].get(tag, [])}
        clients = [c for c in inbound["settings"][CLIENTS] if client_key(c) not in removed]
        inbound["settings"][CLIENTS] = clients + copy.deepcopy(change["add"].get(tag, []))
    return result


def _names(change):
    """``(added, removed, changed)``: user names over every inbound, each once, in order."""
    added = _unique(c["email"] for clients in change["add"].values() for c in clients)
    removed = _unique(email for emails in change["remove"].values() for email in emails)
    added_keys = {name.lower() for name in added}
    removed_keys = {name.lower() for name in removed}
    changed = [name for name in added if name.lower() in removed_keys]
    return (
        [name for name in added if name.lower() not in removed_keys],
        [name for name in removed if name.lower() not in added_keys],
        changed,
    )


def summary(change, running=True):
    """One line saying what a run does with Xray and why, without ids or keys."""
    mode = change["mode"]
    if mode == "none":
        if running:
            return "xray: no change"
        return "xray: no change to the config; xray.service is not running, starting it"
    if mode == "restart":
        return "xray: restart needed: " + "; ".join(change["reasons"])
    added, removed, changed = _names(change)
    parts = [
        f"{label}: {', '.join(names)}"
        for label, names in (("added", added), ("removed", removed), ("changed", changed))
        if names
    ]
    what = "; ".join(parts) if parts else "order of the users only"
    return f"xray: users changed live ({what}), no restart"
