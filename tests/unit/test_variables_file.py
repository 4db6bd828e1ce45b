# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""group_vars/all.yml, the roles' defaults, their argument specs and the README agree.

group_vars/all.yml is the one user-facing variables file: every value in it is the default of
the role that owns the variable, the same default the role's argument spec documents, and the
README's variables table lists exactly these variables with these defaults.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import REPO_ROOT

ROLES_DIR = REPO_ROOT / "roles"


def _load(path):
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


VARIABLES = _load(REPO_ROOT / "group_vars" / "all.yml")


def _owner(name):
    owners = [
        role.name
        for role in sorted(ROLES_DIR.iterdir())
        if name in _load(role / "defaults" / "main.yml")
    ]
    assert len(owners) == 1, f"{name}: defined by {owners or 'no role'}"
    return owners[0]


def _readme_table():
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Variables\n", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.fullmatch(r"\| `([a-z0-9_]+)` \| `([^`]*)` \| .+ \|", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_the_file_holds_variables():
    assert "mtproxy_replicas" in VARIABLES
    assert len(VARIABLES) >= 10


@pytest.mark.parametrize("name", sorted(VARIABLES))
def test_value_is_the_owning_roles_default(name):
    role = _owner(name)
    defaults = _load(ROLES_DIR / role / "defaults" / "main.yml")
    assert VARIABLES[name] == defaults[name], (
        f"{name}: group_vars/all.yml says {VARIABLES[name]!r}, "
        f"roles/{role}/defaults/main.yml {defaults[name]!r}"
    )
    spec = _load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]
    assert spec["options"][name].get("default") == VARIABLES[name], (
        f"{name}: roles/{role}/meta/argument_specs.yml documents another default"
    )


def test_readme_table_lists_exactly_these_variables_with_their_defaults():
    table = _readme_table()
    assert sorted(table) == sorted(VARIABLES), (
        f"only in the README: {sorted(set(table) - set(VARIABLES))}, "
        f"only in group_vars/all.yml: {sorted(set(VARIABLES) - set(table))}"
    )
    for name, shown in table.items():
        assert yaml.safe_load(shown) == VARIABLES[name], f"{name}: README shows {shown}"


SECRET_NAME = re.compile(r"(secret|token|password|private_key|short_id)$")


def test_no_secret_value_is_shipped():
    for name, value in VARIABLES.items():
        if SECRET_NAME.search(name):
            assert value in ("", None), f"{name} ships a value"


def test_no_secret_default_in_any_role():
    checked = []
    for role in sorted(ROLES_DIR.iterdir()):
        for name, value in _load(role / "defaults" / "main.yml").items():
            if SECRET_NAME.search(name):
                checked.append(name)
                assert value in ("", None), f"roles/{role.name}: {name} has a default value"
    assert {"mtproxy_secret", "xray_reality_private_key", "monitoring_telegram_bot_token"} <= set(
        checked
    )
