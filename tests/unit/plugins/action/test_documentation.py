# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugins document exactly the arguments they accept and what they return."""

from __future__ import annotations

import yaml
from ansible_collections.edgerelay.proxy.plugins.action import relay_identity as action_plugin


def test_action_documentation_matches_argument_spec():
    documentation = yaml.safe_load(action_plugin.DOCUMENTATION)
    yaml.safe_load(action_plugin.EXAMPLES)
    returned = yaml.safe_load(action_plugin.RETURN)
    assert documentation["module"] == "relay_identity"
    assert set(documentation["options"]) == set(action_plugin.ARGUMENT_SPEC)
    for name, spec in action_plugin.ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        assert option["type"] == spec["type"]
        assert option.get("default") == spec.get("default")
        assert option.get("choices") == spec.get("choices")
    assert set(returned) == {*action_plugin.RETURNED, "path"}
    assert "no_log: true" in action_plugin.DOCUMENTATION
