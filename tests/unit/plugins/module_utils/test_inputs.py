# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.inputs import (
    KINDS,
    check,
    control_character_errors,
    input_errors,
)
from hypothesis import given
from hypothesis import strategies as st

GOOD = {
    "name": ["mtproxy", "foreign-pool", "mtp1", "a.b:c_d-e"],
    "duration": ["500ms", "10s", "1h", "1h30m", "0", "2000", "15d"],
    "address": ["*", "127.0.0.1", "0.0.0.0", "::", "2001:db8::1", "vpn-de.example.net"],
    "ip": ["10.250.0.1", "::1"],
    "hostname": ["example.net", "www.example.net.", "a"],
    "host_port": ["127.0.0.1:9090", "[::1]:9090", "prometheus.internal:9090"],
    "path": ["/run/haproxy/admin.sock", "/usr/local/etc/xray", "/var/lib/node-exporter"],
    "octal_mode": ["660", "0640"],
    "chain": ["HAPROXY_TPROXY", "edge-1"],
    "capability": ["CAP_NET_RAW", "CAP_NET_BIND_SERVICE"],
    "text": ["Russia: .ru and .рф", ""],
    "secret": ["0123abcd", "AAAA-_="],
}

BAD = {
    "name": ["mtproxy\n  bind :4444", "a b", "", "-x", "x" * 65, "a;b"],
    "duration": ["10s\n stats admin if TRUE", "10 s", "ten", "-1s", "1x"],
    "address": ["127.0.0.1\nbind", "a b", "1.2.3.4:80", "", "*:*"],
    "ip": ["localhost", "10.0.0.256"],
    "hostname": ["-bad.example", "a..b", "a_b.example"],
    "host_port": ["127.0.0.1", "127.0.0.1:0", "::1:9090", "host:99999", "a b:1"],
    "path": ["relative/path", "/with space", "/tmp/x\n", "/a;b"],
    "octal_mode": ["666\n", "999", "rw"],
    "chain": ["HAPROXY TPROXY", "x" * 29, "A;B"],
    "capability": ["NET_RAW", "cap_net_raw"],
    "text": ["one\nline", "tab\there", "bell\x07"],
    "secret": ["with space", "line\n"],
}


def test_every_kind_has_good_and_bad_examples():
    assert set(GOOD) == set(KINDS) == set(BAD)


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in GOOD.items() for v in vs])
def test_good_values_pass(kind, value):
    assert check(kind, value) is None


@pytest.mark.parametrize(("kind", "value"), [(k, v) for k, vs in BAD.items() for v in vs])
def test_bad_values_fail(kind, value):
    assert check(kind, value) is not None


def test_a_newline_is_named_as_such_and_quoted_unless_secret():
    assert check("duration", "10s\n stats admin if TRUE") == (
        "contains a line break or control character, got '10s\\n stats admin if TRUE'"
    )
    assert check("secret", "abc\ndef") == "contains a line break or control character"
    assert "abc" not in check("secret", "abc def")


def test_non_strings_are_rejected_and_ints_accepted():
    assert check("duration", 2000) is None
    assert (
        check("name", True) == "must be a name of letters, digits, '_', '.', ':' or '-', got bool"
    )
    assert "got list" in check("path", ["/a"])


def test_unknown_kind_fails():
    with pytest.raises(ValueError, match="unknown input kind 'colour'"):
        check("colour", "red")


def test_input_errors_name_the_variable_and_each_list_element():
    errors = input_errors(
        {
            "haproxy_frontend_name": ["name", "mtproxy\n  bind :4444"],
            "haproxy_stats_refresh": ["duration", "10s"],
            "haproxy_capabilities": ["capability", ["CAP_NET_RAW", "NET_ADMIN"]],
            "xray_dns_hosts": ["any", {"a.example": ["10.0.0.1", "10.0.0.2\n"]}],
        }
    )
    assert errors == [
        "haproxy_frontend_name: contains a line break or control character, "
        "got 'mtproxy\\n  bind :4444'",
        "haproxy_capabilities[1]: must be a capability name such as CAP_NET_BIND_SERVICE, "
        "got 'NET_ADMIN'",
        "xray_dns_hosts.a.example[1]: contains a line break or control character",
    ]


@pytest.mark.parametrize("spec", ["name", ["name"], ["name", "x", "y"], [1, "x"]])
def test_input_errors_rejects_malformed_checks(spec):
    with pytest.raises(ValueError, match="v: expects \\[kind, value\\]"):
        input_errors({"v": spec})


def test_control_characters_anywhere_in_a_structure():
    assert control_character_errors(
        {"a": "ok", "b": ["ok", {"c\n": "ok", "d": "x\ty"}], "e": 5, "f": None}
    ) == [
        "b[1]: a key contains a line break or control character",
        "b[1].d: contains a line break or control character",
    ]


@given(st.text(min_size=1, max_size=20), st.sampled_from(sorted(KINDS)))
def test_any_control_character_fails_every_kind(text, kind):
    for char in ("\n", "\r", "\x00", "\x1b", "\x7f"):
        value = text[: len(text) // 2] + char + text[len(text) // 2 :]
        assert check(kind, value) is not None
        assert control_character_errors({"v": value}) == [
            "v: contains a line break or control character"
        ]
