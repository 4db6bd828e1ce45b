# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml documents exactly the variables of defaults/main.yml.

Required inputs (``required: true``) are the only options without a default; a role's
``preflight`` entry point (run by playbooks/plan.yml) validates the same options as ``main``;
and no variable is defined in two roles' defaults (shared values live in roles/shared).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

ROLES_DIR = REPO_ROOT / "roles"
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if path.is_dir())


def _load(path: Path):
    # Ansible reads these files with PyYAML (YAML 1.1), so the comparison does too.
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _is_template(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _main_options(role: str) -> dict:
    spec_file = ROLES_DIR / role / "meta" / "argument_specs.yml"
    assert spec_file.is_file(), f"{role}: meta/argument_specs.yml is missing"
    specs = _load(spec_file)
    assert "main" in specs.get("argument_specs", {}), f"{role}: no entry point 'main'"
    options = specs["argument_specs"]["main"].get("options")
    assert isinstance(options, dict), f"{role}: entry point 'main' has no options"
    return options


def _defaults(role: str) -> dict:
    defaults_file = ROLES_DIR / role / "defaults" / "main.yml"
    assert defaults_file.is_file(), f"{role}: defaults/main.yml is missing"
    return _load(defaults_file) or {}


def test_roles_are_found():
    assert "haproxy" in ROLES
    assert "mtproxy" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_spec_options_match_defaults(role):
    options = _main_options(role)
    defaults = _defaults(role)
    required = {name for name, option in options.items() if option.get("required")}
    assert sorted(set(options) - required) == sorted(defaults), (
        f"{role}: only in argument_specs: {sorted(set(options) - required - set(defaults))}, "
        f"only in defaults: {sorted(set(defaults) - set(options))}"
    )
    assert not required & set(defaults), (
        f"{role}: required inputs must not have a default: {sorted(required & set(defaults))}"
    )


@pytest.mark.parametrize("role", [role for role in ROLES if role != "shared"])
def test_preflight_entry_point_validates_the_same_options(role):
    specs = _load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]
    assert "preflight" in specs, f"{role}: no entry point 'preflight' for playbooks/plan.yml"
    assert specs["preflight"]["options"] == specs["main"]["options"], role
    assert (ROLES_DIR / role / "tasks" / "preflight.yml").is_file(), (
        f"{role}: no tasks/preflight.yml"
    )


def test_the_shared_role_is_vars_only():
    shared = ROLES_DIR / "shared"
    assert sorted(path.name for path in shared.iterdir()) == ["defaults", "meta"]


def test_no_variable_is_defined_in_two_roles():
    owners = {}
    for role in ROLES:
        for name in _defaults(role):
            owners.setdefault(name, []).append(role)
    shared = {name: roles for name, roles in owners.items() if len(roles) > 1}
    assert not shared, f"defined in more than one role (move them to roles/shared): {shared}"


@pytest.mark.parametrize("role", [role for role in ROLES if role != "shared"])
def test_roles_reading_shared_values_depend_on_the_shared_role(role):
    shared_names = set(_defaults("shared"))
    text = "".join(
        path.read_text(encoding="utf-8")
        for folder in ("tasks", "templates", "defaults", "handlers")
        if (ROLES_DIR / role / folder).is_dir()
        for path in sorted((ROLES_DIR / role / folder).iterdir())
    )
    used = sorted(name for name in shared_names if name in text)
    meta = _load(ROLES_DIR / role / "meta" / "main.yml")
    dependencies = [
        entry["role"] if isinstance(entry, dict) else entry
        for entry in meta.get("dependencies") or []
    ]
    if used:
        assert "edgerelay.proxy.shared" in dependencies, (
            f"{role} reads {used} from roles/shared but does not depend on it"
        )


def test_no_literal_fallback_copies_another_roles_default():
    # `| default(<literal>)` on a variable some role defines would be a second copy of it.
    defined = {name for role in ROLES for name in _defaults(role)}
    offenders = []
    for path in sorted(ROLES_DIR.glob("*/**/*")):
        if path.suffix not in (".yml", ".j2") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"\b([a-z][a-z0-9_]*) \| default\(", text):
            if match.group(1) in defined:
                offenders.append(f"{path.relative_to(REPO_ROOT)}: {match.group(0)}")
    assert not offenders, offenders


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_description_and_type(role):
    for name, option in _main_options(role).items():
        description = option.get("description")
        if isinstance(description, list):
            assert description, f"{role}: {name} has an empty description"
            assert all(isinstance(line, str) and line.strip() for line in description), (
                f"{role}: {name} has an empty description line"
            )
        else:
            assert isinstance(description, str) and description.strip(), (
                f"{role}: {name} has no description"
            )
        assert isinstance(option.get("type"), str) and option["type"], f"{role}: {name} has no type"


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_role_defaults(role):
    defaults = _defaults(role)
    compared = 0
    for name, option in _main_options(role).items():
        if "default" not in option or name not in defaults or _is_template(defaults[name]):
            continue
        assert option["default"] == defaults[name], (
            f"{role}: {name} defaults to {defaults[name]!r} in defaults/main.yml "
            f"but to {option['default']!r} in meta/argument_specs.yml"
        )
        compared += 1
    # Guard against the loop silently comparing nothing (e.g. a renamed spec key).
    assert compared > 0 or all(_is_template(value) for value in defaults.values()), (
        f"{role}: no literal default was compared"
    )
