# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MTProxy implementation profiles: what an implementation can do and how it is configured.

A profile is data (``roles/mtproxy/files/profiles/<name>.yml``, schema in the README next
to them). This module checks one and turns the planned settings into what reaches the
containers: environment variables, command-line arguments and files (with the signal that
makes the implementation re-read a file without a restart).

Pure Python without third-party imports; errors name ``mtproxy_implementation`` (or the
variable that asks for something the profile cannot do) and never quote a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ansible_collections.edgerelay.proxy.plugins.module_utils.types import type_name

__all__ = [
    "FEATURES",
    "SECRET_MODES",
    "SETTINGS",
    "ProfileError",
    "container_settings",
    "validate_profile",
]

SCHEMA = 1
SECRET_MODES = ("classic", "dd", "faketls")
# Feature flags a profile declares (besides secret_modes).
FEATURES = ("masking", "proxy_protocol", "several_users", "replay_cache")
# The settings the plan can hand to an implementation, and the formats each one allows.
SETTINGS = {
    "users": ("secrets_csv", "name_secret_csv", "name_secret_lines"),
    "tls_domain": ("plain",),
    "tls_only": ("bool01", "truefalse"),
    "mask_host": ("plain",),
    "mask_port": ("plain",),
    "proxy_protocol": ("bool01", "truefalse"),
    "port": ("plain",),
    "replay_cache_size": ("plain",),
}
VIAS = ("env", "arg", "file")
_TOP_KEYS = {
    "schema": True,
    "description": True,
    "image": True,
    "build": False,
    "container_port": True,
    "user": False,
    "capabilities": True,
    "read_only": True,
    "features": True,
    "settings": True,
}
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ARG_RE = re.compile(r"-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*=?")
# An absolute path of at least two parts, none of them "." or ".." (its directory is mounted).
_PATH_RE = re.compile(r"(/(?!\.\.?(/|$))[A-Za-z0-9_.-]+){2,}")
_BUILD_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_IMAGE_RE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
_USER_RE = re.compile(r"\d+(:\d+)?")
_SIGNAL_RE = re.compile(r"SIG[A-Z0-9]+")
_CAPABILITY_RE = re.compile(r"CAP_[A-Z_]+")
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


class ProfileError(ValueError):
    """A profile is malformed, or a setting asks for what the profile cannot do."""

    def __init__(self, variable, message):
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


def _fail(source, message):
    raise ProfileError("mtproxy_implementation", f"profile {source}: {message}")


def _require(data, key, kind, source, where=""):
    value = data.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        expected = (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        _fail(source, f"{where}{key} must be a {expected}, got {type_name(value)}")
    return value


def validate_profile(data, source="profile"):
    """Check a loaded profile (a mapping) and return it normalised.

    ``source`` names it in messages (e.g. ``mtprotoproxy`` or a file path). Raises
    ProfileError naming ``mtproxy_implementation``.
    """
    if not isinstance(data, Mapping):
        _fail(source, f"must be a mapping, got {type_name(data)}")
    for key in data:
        if key not in _TOP_KEYS:
            _fail(source, f"unknown key {key!r} (known: {', '.join(_TOP_KEYS)})")
    for key, required in _TOP_KEYS.items():
        if required and key not in data:
            _fail(source, f"{key} is required")
    schema = data["schema"]
    if not isinstance(schema, int) or isinstance(schema, bool) or schema != SCHEMA:
        _fail(source, f"schema must be {SCHEMA}, got {data['schema']!r}")
    profile = {"description": str(_require(data, "description", str, source))}
    image = _require(data, "image", str, source)
    if not _IMAGE_RE.fullmatch(image):
        _fail(source, f"image {image!r} is not an image reference")
    profile["image"] = image
    build = data.get("build", "")
    if not isinstance(build, str) or (build and not _BUILD_RE.fullmatch(build)):
        _fail(source, f"build must be the name of a recipe directory, got {build!r}")
    profile["build"] = build or ""
    port = data["container_port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        _fail(source, f"container_port must be a port number, got {port!r}")
    profile["container_port"] = port
    user = data.get("user", "")
    if not isinstance(user, str) or (user and not _USER_RE.fullmatch(user)):
        _fail(source, f"user must be uid or uid:gid (numbers), got {user!r}")
    profile["user"] = user or ""
    capabilities = _require(data, "capabilities", list, source)
    for capability in capabilities:
        if not isinstance(capability, str) or not _CAPABILITY_RE.fullmatch(capability):
            _fail(source, f"capabilities: {capability!r} is not a CAP_ name")
    profile["capabilities"] = list(capabilities)
    profile["read_only"] = _require(data, "read_only", bool, source)
    profile["features"] = _features(_require(data, "features", Mapping, source), source)
    profile["settings"] = _settings(_require(data, "settings", Mapping, source), source)
    if "users" not in profile["settings"]:
        _fail(source, "settings.users is required (how the secrets reach the container)")
    return profile


def _features(features, source):
    known = ("secret_modes", *FEATURES)
    for key in features:
        if key not in known:
            _fail(source, f"features: unknown key {key!r} (known: {', '.join(known)})")
    modes = _require(features, "secret_modes", list, source, "features.")
    if (
        not modes
        or any(mode not in SECRET_MODES for mode in modes)
        or len(set(modes)) != len(modes)
    ):
        _fail(source, f"features.secret_modes must list some of {', '.join(SECRET_MODES)}")
    result = {"secret_modes": list(modes)}
    for key in FEATURES:
        result[key] = _require(features, key, bool, source, "features.")
    return result


def _settings(settings, source):
    result = {}
    targets = {}
    for name, spec in settings.items():
        if name not in SETTINGS:
            _fail(source, f"settings: unknown setting {name!r} (known: {', '.join(SETTINGS)})")
        if not isinstance(spec, Mapping):
            _fail(source, f"settings.{name} must be a mapping, got {type_name(spec)}")
        where = f"settings.{name}."
        allowed = {"via", "name", "path", "format", "reload"}
        for key in spec:
            if key not in allowed:
                _fail(source, f"{where}{key} is not a known key ({', '.join(sorted(allowed))})")
        via = spec.get("via")
        if via not in VIAS:
            _fail(source, f"{where}via must be one of {', '.join(VIAS)}, got {via!r}")
        fmt = spec.get("format", SETTINGS[name][0])
        if fmt not in SETTINGS[name]:
            _fail(source, f"{where}format must be one of {', '.join(SETTINGS[name])}, got {fmt!r}")
        entry = {"via": via, "format": fmt}
        if via == "env":
            target = spec.get("name")
            if not isinstance(target, str) or not _ENV_NAME_RE.fullmatch(target):
                _fail(source, f"{where}name must be an environment variable name, got {target!r}")
            entry["name"] = target
        elif via == "arg":
            target = spec.get("name")
            if not isinstance(target, str) or not _ARG_RE.fullmatch(target):
                _fail(
                    source,
                    f"{where}name must be an option such as --port or --port=, got {target!r}",
                )
            entry["name"] = target
        else:
            path = spec.get("path")
            if not isinstance(path, str) or not _PATH_RE.fullmatch(path):
                _fail(
                    source,
                    f"{where}path must be an absolute path in the container, got {path!r}",
                )
            entry["path"] = path
            reload = spec.get("reload", "")
            if reload and (not isinstance(reload, str) or not _SIGNAL_RE.fullmatch(reload)):
                _fail(
                    source,
                    f"{where}reload must be a signal name such as SIGUSR2, got {reload!r}",
                )
            entry["reload"] = reload or ""
        if via != "file" and ("reload" in spec or "path" in spec):
            _fail(source, f"{where}reload and path are only for via: file")
        if via == "file" and "name" in spec:
            _fail(source, f"{where}name is not for via: file (it has a path)")
        target = (via, entry.get("name") or entry.get("path"))
        if target in targets:
            _fail(
                source, f"{where}{target[0]} {target[1]} is also used by settings.{targets[target]}"
            )
        targets[target] = name
        result[name] = entry
    return result


def _format(fmt, value):
    if fmt == "bool01":
        return "1" if value else "0"
    if fmt == "truefalse":
        return "true" if value else "false"
    if fmt == "secrets_csv":
        return ",".join(user["secret"] for user in value)
    if fmt == "name_secret_csv":
        return ",".join(f"{user['name']}:{user['secret']}" for user in value)
    if fmt == "name_secret_lines":
        return "".join(f"{user['name']} {user['secret']}\n" for user in value)
    return str(value)


def container_settings(profile, settings):
    """Map planned settings to the container: ``{"env", "args", "files"}``.

    ``settings`` maps setting names (SETTINGS) to values; ``users`` is a list of
    ``{name, secret}`` with 32-hex server secrets. A setting whose value is None is left
    out. ``files`` is a list of ``{path, content, reload}``, one per file setting. A setting
    with a value that the profile has no way to pass raises ProfileError naming it (the
    plan has already turned a feature the profile lacks into a message on the variable).
    """
    env, args, files = {}, [], []
    for name, value in settings.items():
        if value is None:
            continue
        spec = profile["settings"].get(name)
        if spec is None:
            if name in ("tls_only", "proxy_protocol") and value is False:
                continue
            if name in ("port", "replay_cache_size"):
                continue
            raise ProfileError(
                "mtproxy_implementation", f"the profile has no way to pass the setting {name}"
            )
        text = _format(spec["format"], value)
        if spec["via"] == "env":
            env[spec["name"]] = text
        elif spec["via"] == "arg":
            args.extend(
                [spec["name"] + text] if spec["name"].endswith("=") else [spec["name"], text]
            )
        else:
            files.append({"path": spec["path"], "content": text, "reload": spec["reload"]})
    return {"env": env, "args": args, "files": files}


def check_name(value):
    """True for a user name every format can carry (no separators, no whitespace)."""
    return isinstance(value, str) and bool(_NAME_RE.fullmatch(value)) and len(value) <= 64
