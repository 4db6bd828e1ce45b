# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The doc-only modules document exactly what their action plugins accept and return."""

from __future__ import annotations

import ast
import inspect

import pytest
import yaml
from ansible_collections.edgerelay.proxy.plugins.action import mtproxy_preflight as preflight_action
from ansible_collections.edgerelay.proxy.plugins.action import relay_identity as identity_action
from ansible_collections.edgerelay.proxy.plugins.action import user_files as user_files_action
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    BALANCE_ALGORITHMS,
    PlanError,
    validate,
)
from ansible_collections.edgerelay.proxy.plugins.modules import mtproxy_preflight as preflight_doc
from ansible_collections.edgerelay.proxy.plugins.modules import relay_identity as identity_doc
from ansible_collections.edgerelay.proxy.plugins.modules import user_files as user_files_doc

DOC_BLOCKS = ("DOCUMENTATION", "EXAMPLES", "RETURN")
PAIRS = [
    (preflight_doc, preflight_action),
    (identity_doc, identity_action),
    (user_files_doc, user_files_action),
]
IDS = ["mtproxy_preflight", "relay_identity", "user_files"]

# Valid mtproxy_preflight arguments (a secret as `openssl rand -hex 16` gives one).
PREFLIGHT_ARGS = {
    "mtproxy_secret": "5e0c2a9f7b3d81e4c6a05f92d7b1e38a",
    "mtproxy_replicas": 3,
    "mtproxy_replicas_max": 64,
    "mtproxy_base_port": 10000,
    "mtproxy_network_subnet": "10.250.0.0/24",
    "haproxy_port": 443,
    "haproxy_stats_port": 8404,
    "haproxy_balance_algorithm": "leastconn",
}


def load(module, block="DOCUMENTATION"):
    return yaml.safe_load(getattr(module, block))


@pytest.mark.parametrize(("doc", "action"), PAIRS, ids=IDS)
def test_module_file_holds_only_documentation(doc, action):
    tree = ast.parse(inspect.getsource(doc))
    assigned = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            assigned += [target.id for target in node.targets]
        elif isinstance(node, ast.ImportFrom):
            assert node.module == "__future__"
        else:
            assert isinstance(node, ast.Expr) and isinstance(node.value.value, str)
    assert sorted(assigned) == sorted(DOC_BLOCKS)
    for block in DOC_BLOCKS:
        assert load(doc, block)
        # One copy only: the action plugin does not carry its own.
        assert not hasattr(action, block)


@pytest.mark.parametrize(("doc", "action"), PAIRS, ids=IDS)
def test_options_match_the_argument_spec(doc, action):
    documentation = load(doc)
    assert documentation["module"] == doc.__name__.rsplit(".", 1)[-1]
    assert documentation["version_added"] == "0.1.0"
    assert set(documentation["options"]) == set(action.ARGUMENT_SPEC)
    for name, spec in action.ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        assert option["type"] == spec["type"], name
        assert option.get("default") == spec.get("default"), name


def test_relay_identity_choices_required_and_returned():
    documentation = load(identity_doc)
    for name, spec in identity_action.ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        assert option.get("choices") == spec.get("choices")
        assert option.get("required", False) == spec.get("required", False)
    assert set(load(identity_doc, "RETURN")) == {*identity_action.RETURNED, "path"}
    assert "no_log: true" in identity_doc.DOCUMENTATION


def test_mtproxy_preflight_choices_and_required():
    """validate() enforces the choices and requiredness (its messages name the variable)."""
    options = load(preflight_doc)["options"]
    assert options["haproxy_balance_algorithm"]["choices"] == list(BALANCE_ALGORITHMS)
    for name, option in options.items():
        if name == "mtproxy_secret":
            # Optional because mtproxy_users or a generated secret can stand in for it.
            continue
        args = {key: value for key, value in PREFLIGHT_ARGS.items() if key != name}
        if option.get("required"):
            with pytest.raises(PlanError, match=f"^{name}: is required$"):
                validate(args)
        else:
            validate(args)


def test_mtproxy_preflight_returns_what_is_documented():
    returned = load(preflight_doc, "RETURN")
    assert {key for key, value in returned.items() if value["returned"] == "success"} == set(
        validate(PREFLIGHT_ARGS)
    )
    assert returned["variable"]["returned"] == "failure"
    assert set(returned) == {*validate(PREFLIGHT_ARGS), "variable"}
