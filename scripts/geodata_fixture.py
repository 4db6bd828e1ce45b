#!/usr/bin/env python3
"""Write small geosite.dat / geoip.dat files in Xray's protobuf formats (test fixtures).

Tests of the Xray node must never download geodata: this writes the two asset files Xray
reads for ``geosite:CODE`` and ``geoip:CODE`` rules from a few categories given on the command
line or in a spec file. Standard library only (protobuf is encoded by hand).

Usage:
  geodata_fixture.py --out DIR [--spec FILE]
                     [--site CODE=RULE[,RULE...]]... [--ip CODE=CIDR[,CIDR...]]...

  RULE   TYPE:VALUE, optionally followed by " @attr" attributes (geosite:CODE@attr filters).
         TYPE: domain (the domain and its subdomains; the default when no TYPE is given),
               full (exactly this name), plain / keyword (substring), regexp / regex.
  CIDR   10.0.0.0/8, 2001:db8::/32, or a single address (a /32 or /128).

  --site/--ip may repeat, also for the same CODE (the lists are merged). A spec file is JSON,
  or YAML when PyYAML happens to be importable (JSON is valid YAML):

      {"geosite": {"ru-available-only-inside": ["domain:inside.example", "full:x.test"]},
       "geoip": {"ru": ["10.77.0.0/16"], "private": ["10.0.0.0/8", "192.168.0.0/16"]}}

  Both files are always written (an empty list when no category is given). Category codes
  are written upper case: Xray upper-cases the code of every geosite:/geoip: reference before
  it looks it up, so ``geosite:ru`` finds only an entry coded ``RU``.

Wire format (xray-core app/router/config.proto; router/routercommon/common.proto before):
  GeoSiteList { repeated GeoSite entry = 1; }
  GeoSite     { string country_code = 1; repeated Domain domain = 2; }
  Domain      { Type type = 1; string value = 2; repeated Attribute attribute = 3; }
              Type: Plain = 0 (substring), Regex = 1, Domain = 2 (suffix), Full = 3
  Attribute   { string key = 1; oneof typed_value { bool bool_value = 2; int64 int_value = 3; } }
  GeoIPList   { repeated GeoIP entry = 1; }
  GeoIP       { string country_code = 1; repeated CIDR cidr = 2; bool reverse_match = 3; }
  CIDR        { bytes ip = 1; uint32 prefix = 2; }   ip: 4 or 16 raw bytes

Xray does not parse the whole list: it scans the entries and compares the first bytes of
each with ``0x0a <len> CODE``. So country_code must be the first field of an entry (as
protobuf encoders write it) and a code is at most 127 bytes (a one-byte length).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Domain.Type
PLAIN, REGEX, DOMAIN, FULL = 0, 1, 2, 3
DOMAIN_TYPES = {
    "domain": DOMAIN,
    "full": FULL,
    "plain": PLAIN,
    "keyword": PLAIN,
    "regexp": REGEX,
    "regex": REGEX,
}

# Protobuf wire types.
VARINT, LEN = 0, 2

CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ATTR_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
MAX_CODE_BYTES = 127


class FixtureError(ValueError):
    """Invalid input for a fixture (bad code, rule or CIDR)."""


# --- protobuf encoding ---------------------------------------------------------------------


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if value < 0:
        raise ValueError(f"varint of a negative number: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def field_varint(number: int, value: int) -> bytes:
    """A varint field; proto3 leaves a zero (default) value out."""
    return tag(number, VARINT) + varint(value) if value else b""


def field_bytes(number: int, value: bytes | str) -> bytes:
    """A length-delimited field (string, bytes or an embedded message)."""
    data = value.encode() if isinstance(value, str) else value
    return tag(number, LEN) + varint(len(data)) + data


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DomainRule:
    type: int
    value: str
    attributes: tuple[str, ...] = field(default=())


def encode_domain(rule: DomainRule) -> bytes:
    out = field_varint(1, rule.type) + field_bytes(2, rule.value)
    for key in rule.attributes:
        # Attribute { key = 1; bool_value = 2 } (a oneof member is written even when set).
        out += field_bytes(3, field_bytes(1, key) + tag(2, VARINT) + varint(1))
    return out


def encode_geosite(code: str, rules: Iterable[DomainRule]) -> bytes:
    """One GeoSite message, code written as given (country_code first)."""
    out = field_bytes(1, code)
    for rule in rules:
        out += field_bytes(2, encode_domain(rule))
    return out


def encode_cidr(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bytes:
    return field_bytes(1, network.network_address.packed) + field_varint(2, network.prefixlen)


def encode_geoip(
    code: str,
    networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
    reverse_match: bool = False,
) -> bytes:
    """One GeoIP message, code written as given (country_code first)."""
    out = field_bytes(1, code)
    for network in networks:
        out += field_bytes(2, encode_cidr(network))
    return out + field_varint(3, int(reverse_match))


def encode_list(entries: Iterable[bytes]) -> bytes:
    """GeoSiteList / GeoIPList: every entry is field 1."""
    return b"".join(field_bytes(1, entry) for entry in entries)


# --- input parsing ---------------------------------------------------------------------------


def normalize_code(code: str) -> str:
    code = code.strip()
    if not CODE_RE.fullmatch(code):
        raise FixtureError(
            f"invalid category code {code!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    code = code.upper()
    if len(code.encode()) > MAX_CODE_BYTES:
        raise FixtureError(f"category code longer than {MAX_CODE_BYTES} bytes: {code!r}")
    return code


def parse_domain_rule(text: str) -> DomainRule:
    """``TYPE:VALUE [@attr ...]`` (v2fly domain-list-community style) -> DomainRule."""
    parts = text.strip().split()
    if not parts:
        raise FixtureError("empty domain rule")
    # Attributes are the trailing words starting with '@'; the rest is the rule itself.
    attributes: list[str] = []
    while len(parts) > 1 and parts[-1].startswith("@"):
        attributes.insert(0, parts.pop()[1:].lower())
    body = " ".join(parts)
    kind, sep, value = body.partition(":")
    if not sep:
        kind, value = "domain", body
    elif kind.lower() not in DOMAIN_TYPES:
        raise FixtureError(
            f"unknown domain rule type {kind!r} in {text!r} (known: {', '.join(DOMAIN_TYPES)})"
        )
    rule_type = DOMAIN_TYPES[kind.lower()]
    if rule_type != REGEX:
        # Xray lower-cases the target domain (and domain/full patterns) before matching, but
        # not substring patterns: lower-case them all so none can silently never match.
        value = value.strip().lower()
        if not value or any(ch.isspace() for ch in value):
            raise FixtureError(f"invalid domain rule {text!r}")
    elif not value:
        raise FixtureError(f"empty regexp in {text!r}")
    for attr in attributes:
        if not ATTR_RE.fullmatch(attr):
            raise FixtureError(f"invalid attribute @{attr} in {text!r}")
    return DomainRule(rule_type, value, tuple(attributes))


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise FixtureError(f"invalid CIDR {text!r}: {exc}") from None


def _merge(target: dict[str, list], code: str, items: Iterable) -> None:
    bucket = target.setdefault(normalize_code(code), [])
    for item in items:
        if item not in bucket:
            bucket.append(item)


def build_geosite(sites: Mapping[str, Sequence[str]]) -> bytes:
    """GeoSiteList bytes from {code: [rule text, ...]} (codes upper-cased and merged)."""
    merged: dict[str, list[DomainRule]] = {}
    for code, rules in sites.items():
        _merge(merged, code, (parse_domain_rule(rule) for rule in rules))
    return encode_list(encode_geosite(code, rules) for code, rules in merged.items())


def build_geoip(ips: Mapping[str, Sequence[str]]) -> bytes:
    """GeoIPList bytes from {code: [cidr, ...]} (codes upper-cased and merged)."""
    merged: dict[str, list] = {}
    for code, cidrs in ips.items():
        _merge(merged, code, (parse_network(cidr) for cidr in cidrs))
    return encode_list(encode_geoip(code, networks) for code, networks in merged.items())


def write_fixtures(
    out_dir: Path,
    sites: Mapping[str, Sequence[str]] | None = None,
    ips: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Path]:
    """Write geosite.dat and geoip.dat into ``out_dir``; return their paths."""
    site_data = build_geosite(sites or {})
    ip_data = build_geoip(ips or {})
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"geosite": out_dir / "geosite.dat", "geoip": out_dir / "geoip.dat"}
    paths["geosite"].write_bytes(site_data)
    paths["geoip"].write_bytes(ip_data)
    return paths


# --- command line ----------------------------------------------------------------------------


def _category_arg(text: str) -> tuple[str, list[str]]:
    code, sep, items = text.partition("=")
    if not sep or not code.strip():
        raise argparse.ArgumentTypeError(f"expected CODE=ITEM[,ITEM...], got {text!r}")
    return code, [item for item in items.split(",") if item.strip()]


def load_spec(path: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    text = path.read_text()
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as json_error:
        try:
            import yaml  # optional: only for spec files that are not JSON
        except ImportError:
            raise FixtureError(
                f"{path}: not JSON ({json_error}); YAML specs need PyYAML installed"
            ) from None
        spec = yaml.safe_load(text)
    if not isinstance(spec, dict) or set(spec) - {"geosite", "geoip"}:
        raise FixtureError(f"{path}: expected a mapping with keys 'geosite' and/or 'geoip'")
    result = []
    for key in ("geosite", "geoip"):
        section = spec.get(key) or {}
        if not isinstance(section, dict) or not all(
            isinstance(v, list) and all(isinstance(i, str) for i in v) for v in section.values()
        ):
            raise FixtureError(f"{path}: '{key}' must map codes to lists of strings")
        result.append({str(code): items for code, items in section.items()})
    return result[0], result[1]


def _add(target: dict[str, list[str]], code: str, items: list[str]) -> None:
    target.setdefault(code, []).extend(items)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write geosite.dat and geoip.dat test fixtures in Xray's protobuf format.",
        epilog="Example: %(prog)s --out fixtures --site ru-available-only-inside="
        "domain:inside.example,full:x.test --ip private=10.0.0.0/8,192.168.0.0/16",
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--spec", type=Path, help="JSON (or YAML) spec with geosite/geoip maps")
    parser.add_argument(
        "--site",
        action="append",
        default=[],
        type=_category_arg,
        metavar="CODE=RULE[,RULE...]",
        help="geosite category; RULE is domain:|full:|plain:|keyword:|regexp:VALUE [@attr]",
    )
    parser.add_argument(
        "--ip",
        action="append",
        default=[],
        type=_category_arg,
        metavar="CODE=CIDR[,CIDR...]",
        help="geoip category",
    )
    args = parser.parse_args(argv)

    sites: dict[str, list[str]] = {}
    ips: dict[str, list[str]] = {}
    try:
        if args.spec:
            spec_sites, spec_ips = load_spec(args.spec)
            for code, items in spec_sites.items():
                _add(sites, code, items)
            for code, items in spec_ips.items():
                _add(ips, code, items)
        for code, items in args.site:
            _add(sites, code, items)
        for code, items in args.ip:
            _add(ips, code, items)
        paths = write_fixtures(args.out, sites, ips)
    except (FixtureError, OSError) as exc:
        print(f"geodata_fixture: error: {exc}", file=sys.stderr)
        return 2

    site_codes = sorted({normalize_code(code) for code in sites})
    ip_codes = sorted({normalize_code(code) for code in ips})
    for kind, codes in (("geosite", site_codes), ("geoip", ip_codes)):
        print(f"wrote {paths[kind]}: {len(codes)} categories {' '.join(codes) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
