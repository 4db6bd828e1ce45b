# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter.input_errors import (
    FilterModule,
    input_errors,
)


def test_filter_is_registered():
    assert FilterModule().filters() == {"input_errors": input_errors}


def test_measured_injections_are_caught():
    # Both were measured on a lab deployment: the first added a public listener on :4444,
    # the second put admin actions on the stats page.
    errors = input_errors(
        {
            "haproxy_frontend_name": ["name", "mtproxy\n    bind *:4444"],
            "haproxy_stats_refresh": ["duration", "10s\n    stats admin if TRUE"],
        }
    )
    assert [error.split(":")[0] for error in errors] == [
        "haproxy_frontend_name",
        "haproxy_stats_refresh",
    ]


def test_good_values_give_no_errors():
    assert input_errors({"haproxy_frontend_name": ["name", "mtproxy"]}) == []


def test_bad_use_fails_templating():
    with pytest.raises(AnsibleFilterError, match="input_errors: unknown input kind 'colour'"):
        input_errors({"x": ["colour", "red"]})
    with pytest.raises(AnsibleFilterError, match="input_errors: expects a mapping"):
        input_errors(["x"])


def test_one_kind_for_every_value():
    inputs = {"a": "ok", "b": ["x", "y\n"], "c": {"k": "v\r"}, "d": 3}
    assert input_errors(inputs, kind="any") == [
        "b[1]: contains a line break or control character",
        "c.k: contains a line break or control character",
    ]
    assert input_errors({"a": "x y"}, kind="name")[0].startswith("a: must be a name")
