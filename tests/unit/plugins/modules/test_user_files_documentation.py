# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/modules/user_files.py documents exactly what the user_files action accepts and
returns: what is particular to it (test_documentation.py checks that the module file holds
only documentation and that the options' names, types and defaults are the action's)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import MagicMock

import yaml
from ansible_collections.edgerelay.proxy.plugins.action import user_files as action
from ansible_collections.edgerelay.proxy.plugins.module_utils.user_files import STACKS
from ansible_collections.edgerelay.proxy.plugins.modules import user_files as doc


def load(block="DOCUMENTATION"):
    return yaml.safe_load(getattr(doc, block))


def test_options_required_and_choices_match_the_argument_spec():
    documentation = load()
    for name, spec in action.ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        assert option.get("required", False) == spec.get("required", False), name
        assert option.get("choices") == spec.get("choices"), name
    assert documentation["options"]["stack"]["choices"] == list(STACKS)
    assert "no_log: true" in doc.DOCUMENTATION


def test_examples_use_the_documented_options():
    for task in load("EXAMPLES"):
        args = task.get("edgerelay.proxy.user_files")
        if args is not None:
            assert set(args) <= set(action.ARGUMENT_SPEC)
            assert task["no_log"] is True


def test_returns_what_is_documented(tmp_path):
    task = SimpleNamespace(
        args={"path": str(tmp_path), "stack": "xray", "users": {}},
        check_mode=False,
        diff=False,
        no_log=True,
        async_val=0,
        action="edgerelay.proxy.user_files",
    )
    result = action.ActionModule(task, MagicMock(), MagicMock(), None, None).run(task_vars={})
    assert set(result) - {"changed"} == set(load("RETURN"))
