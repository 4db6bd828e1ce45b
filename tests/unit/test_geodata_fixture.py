# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/geodata_fixture.py writes geosite.dat / geoip.dat in xray-core's format.

The encoder is checked by decoding its output with a small protobuf reader written here
(independent of the encoder) against xray-core's message definitions, and the command line
by running the script. tests/integration/test_geodata_fixture.py feeds the files to a real
Xray.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.geodata import IPS, SCRIPT, SITES, gf

# --- a minimal protobuf reader (independent of the encoder under test) ----------------------


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        assert shift < 64, "varint too long"


def read_fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """[(field number, int or bytes)] for varint and length-delimited fields."""
    fields, pos = [], 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos : pos + length], pos + length
            assert len(value) == length, "truncated field"
        else:
            raise AssertionError(f"unexpected wire type {wire_type} for field {number}")
        fields.append((number, value))
    return fields


def only(fields, number):
    values = [v for n, v in fields if n == number]
    assert len(values) <= 1, f"field {number} repeated"
    return values[0] if values else None


def every(fields, number):
    return [v for n, v in fields if n == number]


def decode_geosite_list(data: bytes) -> dict[str, list[tuple[int, str, list[str]]]]:
    """GeoSiteList -> {code: [(type, value, [attribute keys])]}."""
    assert {n for n, _ in read_fields(data)} <= {1}
    result = {}
    for entry in every(read_fields(data), 1):
        site = read_fields(entry)
        assert {n for n, _ in site} <= {1, 2}
        domains = []
        for raw in every(site, 2):
            domain = read_fields(raw)
            assert {n for n, _ in domain} <= {1, 2, 3}
            attrs = []
            for raw_attr in every(domain, 3):
                attr = read_fields(raw_attr)
                assert only(attr, 2) == 1  # bool_value = true
                attrs.append(only(attr, 1).decode())
            domains.append((only(domain, 1) or 0, only(domain, 2).decode(), attrs))
        result[only(site, 1).decode()] = domains
    return result


def decode_geoip_list(data: bytes) -> dict[str, list[str]]:
    """GeoIPList -> {code: ["net/prefix"]}; reverse_match must be unset."""
    result = {}
    for entry in every(read_fields(data), 1):
        geoip = read_fields(entry)
        assert {n for n, _ in geoip} <= {1, 2, 3}
        assert not only(geoip, 3)
        cidrs = []
        for raw in every(geoip, 2):
            cidr = read_fields(raw)
            ip, prefix = only(cidr, 1), only(cidr, 2) or 0
            assert len(ip) in (4, 16)
            cidrs.append(f"{ipaddress.ip_address(ip)}/{prefix}")
        result[only(geoip, 1).decode()] = cidrs
    return result


# --- encoder ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02")],
)
def test_varint_known_values(value, encoded):
    assert gf.varint(value) == encoded


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint_round_trips(value):
    encoded = gf.varint(value)
    assert read_varint(encoded, 0) == (value, len(encoded))


def test_geosite_fields_and_types():
    data = gf.build_geosite(
        {
            "ru-available-only-inside": [
                "domain:inside.example",
                "full:X.Test",
                "keyword:Tracker",
                "plain:ads",
                r"regexp:^Cdn\d+\.example$",
                "bare.example",
                "domain:tagged.example @ads @Cn",
            ]
        }
    )
    assert decode_geosite_list(data) == {
        "RU-AVAILABLE-ONLY-INSIDE": [
            (2, "inside.example", []),  # Domain (suffix)
            (3, "x.test", []),  # Full, lower-cased
            (0, "tracker", []),  # Plain (substring), lower-cased
            (0, "ads", []),
            (1, r"^Cdn\d+\.example$", []),  # Regex, as given
            (2, "bare.example", []),  # no type: domain
            (2, "tagged.example", ["ads", "cn"]),
        ]
    }


def test_geoip_fields_v4_and_v6():
    data = gf.build_geoip({**IPS, "v6": ["2001:db8::/32", "::1", "0.0.0.0/0"]})
    decoded = decode_geoip_list(data)
    assert decoded == {
        "RU": ["10.77.0.0/16"],
        "PRIVATE": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"],
        "V6": ["2001:db8::/32", "::1/128", "0.0.0.0/0"],
    }
    # ip is raw bytes: 4 for IPv4, 16 for IPv6.
    v6_entry = every(read_fields(data), 1)[2]
    ips = [only(read_fields(raw), 1) for raw in every(read_fields(v6_entry), 2)]
    assert [len(ip) for ip in ips] == [16, 16, 4]


def test_entries_start_with_the_country_code():
    """Xray finds an entry by comparing its first bytes with 0x0a <len> CODE."""
    for data in (gf.build_geosite(SITES), gf.build_geoip(IPS)):
        for entry in every(read_fields(data), 1):
            code = only(read_fields(entry), 1)
            assert entry[:2] == bytes([0x0A, len(code)])
            assert entry[2 : 2 + len(code)] == code


def test_codes_upper_cased_and_merged():
    sites = gf.build_geosite({"ru": ["domain:a.example"], "RU": ["a.example", "full:b.example"]})
    assert decode_geosite_list(sites) == {"RU": [(2, "a.example", []), (3, "b.example", [])]}
    ips = gf.build_geoip({"Private": ["10.0.0.0/8"], "private": ["10.0.0.0/8", "127.0.0.0/8"]})
    assert decode_geoip_list(ips) == {"PRIVATE": ["10.0.0.0/8", "127.0.0.0/8"]}


@given(
    st.dictionaries(
        st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True),
        st.lists(
            st.tuples(
                st.sampled_from(["domain", "full", "keyword", "regexp"]),
                st.from_regex(r"[a-z0-9][a-z0-9.-]{0,40}", fullmatch=True),
            ),
            max_size=5,
        ),
        max_size=4,
    )
)
def test_geosite_round_trips(spec):
    types = {"domain": 2, "full": 3, "keyword": 0, "regexp": 1}
    data = gf.build_geosite({code: [f"{t}:{v}" for t, v in rules] for code, rules in spec.items()})
    expected = {}
    for code, rules in spec.items():
        bucket = expected.setdefault(code.upper(), [])
        for t, v in rules:
            if (types[t], v, []) not in bucket:
                bucket.append((types[t], v, []))
    assert decode_geosite_list(data) == expected


def test_empty_input_gives_empty_lists(tmp_path):
    paths = gf.write_fixtures(tmp_path)
    assert paths["geosite"].read_bytes() == b""
    assert paths["geoip"].read_bytes() == b""


@pytest.mark.parametrize(
    ("sites", "ips", "message"),
    [
        ({"bad code": ["a.example"]}, {}, "invalid category code"),
        ({"!cn": ["a.example"]}, {}, "invalid category code"),
        ({"x" * 128: ["a.example"]}, {}, "longer than 127"),
        ({"x": ["bogus:a.example"]}, {}, "unknown domain rule type"),
        ({"x": ["domain:"]}, {}, "invalid domain rule"),
        ({"x": ["regexp:"]}, {}, "empty regexp"),
        ({"x": ["a.example @Bad/attr"]}, {}, "invalid attribute"),
        ({}, {"x": ["10.0.0.1/8"]}, "host bits set"),
        ({}, {"x": ["not-an-ip"]}, "invalid CIDR"),
    ],
)
def test_invalid_input_is_rejected(tmp_path, sites, ips, message):
    with pytest.raises(gf.FixtureError, match=message):
        gf.write_fixtures(tmp_path, sites, ips)
    assert not (tmp_path / "geosite.dat").exists()


# --- command line ----------------------------------------------------------------------------


def run_tool(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_site_and_ip_arguments(tmp_path):
    result = run_tool(
        "--out",
        str(tmp_path / "assets"),
        "--site",
        "ru-available-only-inside=domain:inside.example,full:x.test",
        "--site",
        "ru-available-only-inside=keyword:tracker",
        "--ip",
        "ru=10.77.0.0/16",
        "--ip",
        "private=" + ",".join(IPS["private"]),
    )
    assert result.returncode == 0, result.stderr
    assert "RU-AVAILABLE-ONLY-INSIDE" in result.stdout
    assert decode_geosite_list((tmp_path / "assets" / "geosite.dat").read_bytes()) == {
        "RU-AVAILABLE-ONLY-INSIDE": [
            (2, "inside.example", []),
            (3, "x.test", []),
            (0, "tracker", []),
        ]
    }
    assert decode_geoip_list((tmp_path / "assets" / "geoip.dat").read_bytes()) == {
        "RU": ["10.77.0.0/16"],
        "PRIVATE": IPS["private"],
    }


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_cli_spec_file_merged_with_arguments(tmp_path, fmt):
    spec = {"geosite": {"ads": ["domain:ads.example @ads"]}, "geoip": {"ru": ["10.77.0.0/16"]}}
    spec_file = tmp_path / f"spec.{fmt}"
    if fmt == "json":
        spec_file.write_text(json.dumps(spec))
    else:
        spec_file.write_text(
            "geosite:\n  ads:\n    - domain:ads.example @ads\ngeoip:\n  ru:\n    - 10.77.0.0/16\n"
        )
    result = run_tool("--out", str(tmp_path), "--spec", str(spec_file), "--ip", "ru=10.78.0.0/16")
    assert result.returncode == 0, result.stderr
    assert decode_geosite_list((tmp_path / "geosite.dat").read_bytes()) == {
        "ADS": [(2, "ads.example", ["ads"])]
    }
    assert decode_geoip_list((tmp_path / "geoip.dat").read_bytes()) == {
        "RU": ["10.77.0.0/16", "10.78.0.0/16"]
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "ru=10.77.0.1/16"], "host bits set"),
        (["--site", "x=weird:a.example"], "unknown domain rule type"),
        (["--site", "no-equals-sign"], "expected CODE=ITEM"),
    ],
)
def test_cli_errors_exit_2(tmp_path, args, message):
    result = run_tool("--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert message in result.stderr
