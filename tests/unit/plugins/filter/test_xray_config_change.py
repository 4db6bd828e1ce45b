# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The xray_config_change filter: registration, documentation, arguments.

The classification itself: tests/unit/plugins/module_utils/test_xray_change.py; the role's
expression through ansible-playbook: tests/integration/roles/test_xray_live_users.py.
"""

from __future__ import annotations

import inspect
import json

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter import xray_config_change as plugin
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config import xray_config
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config_change import (
    xray_config_change,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_change import plan

# The node of the xray_config filter's tests: alice and bob, two public inbounds.
from test_xray_config import node

DOCUMENTATION = yaml.safe_load(plugin.DOCUMENTATION)


def test_filter_is_registered():
    assert plugin.FilterModule().filters() == {"xray_config_change": xray_config_change}


def test_documentation():
    yaml.safe_load(plugin.EXAMPLES)
    returned = yaml.safe_load(plugin.RETURN)
    assert DOCUMENTATION["name"] == "xray_config_change"
    assert DOCUMENTATION["version_added"] == "0.1.0"
    assert DOCUMENTATION["author"] == "edgerelay.proxy contributors"
    parameters = list(inspect.signature(xray_config_change).parameters)
    assert parameters == ["installed", "new", "running", "restart_reasons"]
    assert list(DOCUMENTATION["options"]) == ["_input", "new", "running", "restart_reasons"]
    result = xray_config_change(None, xray_config(node()))
    assert set(returned["_value"]["contains"]) == set(result)


def test_returns_the_plan():
    old, new = xray_config(node()), xray_config(node("backend"))
    assert xray_config_change(json.dumps(old), new) == plan(json.dumps(old), new)
    assert xray_config_change(old, old, running=False, restart_reasons=["x"])["mode"] == "restart"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((None, None), "xray_config_change: the new config must be a mapping, got NoneType"),
        ((None, [1]), "xray_config_change: the new config must be a mapping, got list"),
        ((None, {}, True, "unit"), "xray_config_change: restart_reasons must be a list of strings"),
        ((None, {}, True, [1]), "xray_config_change: restart_reasons must be a list of strings"),
    ],
)
def test_bad_arguments(args, message):
    with pytest.raises(AnsibleFilterError) as excinfo:
        xray_config_change(*args)
    assert str(excinfo.value) == message
