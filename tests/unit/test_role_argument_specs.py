# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml documents exactly the variables of defaults/main.yml."""

from __future__ import annotations

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
    assert sorted(options) == sorted(defaults), (
        f"{role}: only in argument_specs: {sorted(set(options) - set(defaults))}, "
        f"only in defaults: {sorted(set(defaults) - set(options))}"
    )


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
    assert compared > 0, f"{role}: no literal default was compared"
