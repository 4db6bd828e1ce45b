# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No role's argument spec holds Jinja: Ansible templates the spec when it validates a role's
inputs, so a ``{{`` in a description (a docker --format example) fails every run."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT

SPECS = sorted((REPO_ROOT / "roles").glob("*/meta/argument_specs.yml"))


def test_specs_are_found():
    assert any(path.parts[-3] == "mtproxy" for path in SPECS)


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.parts[-3])
def test_no_template_markers(path):
    text = path.read_text(encoding="utf-8")
    found = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if "{{" in line or "{%" in line
    ]
    assert not found, found
