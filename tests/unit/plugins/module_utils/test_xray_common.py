# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The helpers the preset renderer, the fail-closed checker and the config builder share."""

from __future__ import annotations

import ipaddress

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    CATCH_ALL_PROBES,
    control_character,
    covers_a_family,
    is_list,
    matches_everything,
)
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("pattern", "kind", "expected"),
    [
        ("", "keyword", True),
        (".", "keyword", True),
        ("a", "keyword", False),
        ("google", "keyword", False),
        (".*", "regex", True),
        ("^", "regex", True),
        (r"\.", "regex", True),
        (r"\.ru$", "regex", False),
    ],
)
def test_matches_everything(pattern, kind, expected):
    assert matches_everything(pattern, kind) is expected


@pytest.mark.parametrize(
    ("networks", "expected"),
    [
        (["0.0.0.0/0"], True),
        (["0.0.0.0/1", "128.0.0.0/1"], True),
        (["::/1", "8000::/1"], True),
        (["0.0.0.0/1", "8000::/1"], False),
        (["10.0.0.0/8", "::/1"], False),
        ([], False),
    ],
)
def test_covers_a_family(networks, expected):
    assert covers_a_family([ipaddress.ip_network(net) for net in networks]) is expected


def test_is_list():
    assert is_list([]) and is_list(("a",))
    assert not is_list("ab") and not is_list(b"ab") and not is_list({"a": 1}) and not is_list(3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain-text_1@x.y", None),
        ("рф and 中文", None),
        ("tab\there", r"'\t'"),
        ("new\nline", r"'\n'"),
        ("nul\x00", r"'\x00'"),
        ("del\x7f", r"'\x7f'"),
        ("nel\x85", r"'\x85'"),
        ("sep\u2028", r"'\u2028'"),
        ("par\u2029", r"'\u2029'"),
    ],
)
def test_control_character(text, expected):
    assert control_character(text) == expected


@given(st.text(st.characters(blacklist_categories=("Cc", "Zl", "Zp"))))
def test_text_without_controls_passes(text):
    assert control_character(text) is None


def test_probes_are_distinct_domains():
    assert len(set(CATCH_ALL_PROBES)) == len(CATCH_ALL_PROBES)
    assert all("." in probe for probe in CATCH_ALL_PROBES)
