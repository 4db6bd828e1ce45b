# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# The imports follow DOCUMENTATION, EXAMPLES and RETURN, as ansible-test validate-modules wants.
# ruff: noqa: E402
"""Pre-flight check of a REALITY target, run on the node; Python standard library only."""

from __future__ import annotations

DOCUMENTATION = r"""
module: reality_target_check
short_description: Check from the node that a REALITY target answers TLS 1.3 for the server names
version_added: 0.1.0
author: edgerelay.proxy contributors (@edgerelay)
description:
  - A REALITY inbound of Xray borrows the TLS handshake of a target site
    (C(xray_reality_target)) for its server names (C(xray_reality_server_names)). This module
    checks, from the node itself and before any configuration changes, that the target can be
    reached, answers TLS 1.3 and presents a certificate that holds each server name.
  - "For each name of O(server_names): a TCP connection to O(target), a TLS handshake with
    that name as SNI, TLS 1.3 only (minimum and maximum version), offering the ALPN protocols
    C(h2) and C(http/1.1). The certificate is not verified: REALITY needs the names, not a
    trusted chain."
  - The names of the leaf certificate are its subjectAltName C(dNSName) entries; a certificate
    without any falls back to the common names (CN) of its subject. A server name matches a
    certificate name as in RFC 6125, without regard to case; a wildcard counts only as the
    whole left-most label (C(*.example.com) matches C(a.example.com), neither C(example.com)
    nor C(a.b.example.com)) and needs two labels after it.
  - "The task fails with C(msg) of the form C(<variable>: <message>), naming the variable
    (O(target_variable), O(server_names_variable) with the index of the name, or C(timeout))
    and the reason, followed by a sentence of advice. It fails when O(target) is not
    C(host:port), a server name is not a host name, the target cannot be reached (connection
    refused, timeout, name resolution), the handshake with TLS 1.3 fails (for example a TLS
    1.2 only server) or a server name is not in the certificate."
  - The module warns when the target did not choose C(h2) by ALPN for a server name; REALITY
    targets should speak HTTP/2.
  - Runs on the node with the Python standard library only (it reads the certificate with a
    small DER parser of its own). It never changes anything, C(changed=false), and runs in
    check mode too.
options:
  target:
    description:
      - The REALITY target, C(host:port); an IPv6 address goes in brackets,
        C([2001:db8::1]:443). The host is a host name or an address.
    type: str
    required: true
  server_names:
    description:
      - The server names (SNI) to check, at least one. Each must be a host name (dot-separated
        labels of letters, digits and C(-)); an IP address is no server name, TLS sends none
        for it.
    type: list
    elements: str
    required: true
  timeout:
    description:
      - Seconds allowed for each connection and each TLS handshake. Must be positive.
    type: float
    default: 5
  target_variable:
    description: Name of the variable that holds O(target), for messages.
    type: str
    default: xray_reality_target
  server_names_variable:
    description: Name of the variable that holds O(server_names), for messages.
    type: str
    default: xray_reality_server_names
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The check only reads; it runs in check mode as in a normal run.
  diff_mode:
    support: none
  platform:
    platforms: posix
notes:
  - Choose a target in the node's own ASN (or the operator's own site on the node) that answers
    TLS 1.3 and HTTP/2 without a redirect. The roles skip this check with
    C(xray_reality_target_check=false).
  - Each server name costs one TCP connection and one TLS handshake to the target; nothing is
    sent after the handshake.
"""

EXAMPLES = r"""
- name: Check the REALITY target from the node
  edgerelay.proxy.reality_target_check:
    target: "{{ xray_reality_target }}"
    server_names: "{{ xray_reality_server_names }}"
  when: xray_reality_target_check | default(true)

- name: Check a target given by another variable, with a longer timeout
  edgerelay.proxy.reality_target_check:
    target: "{{ lab_reality_target }}"
    server_names: [reality.lab.example]
    timeout: 10
    target_variable: lab_reality_target
    server_names_variable: lab_reality_server_names
  register: reality_target
"""

RETURN = r"""
tls_version:
  description: The TLS version negotiated, always C(TLSv1.3) on success.
  returned: success
  type: str
  sample: TLSv1.3
alpn:
  description: The ALPN protocol the target chose for the first server name, null when it
    chose none.
  returned: success
  type: str
  sample: h2
h2:
  description: Whether the target chose C(h2) by ALPN for every server name.
  returned: success
  type: bool
  sample: true
certificate_names:
  description:
    - The names of the certificates the target presented (subjectAltName C(dNSName) entries,
      else the subject common names), each once, in the order seen.
  returned: success
  type: list
  elements: str
  sample: [www.example.com, example.com]
checked:
  description: One entry per server name, in the order of O(server_names).
  returned: success
  type: list
  elements: dict
  contains:
    server_name:
      description: The server name sent as SNI.
      type: str
    alpn:
      description: The ALPN protocol the target chose, null when none.
      type: str
    certificate_names:
      description: The names of the certificate presented for this server name.
      type: list
      elements: str
  sample:
    - {server_name: www.example.com, alpn: h2, certificate_names: [www.example.com, example.com]}
variable:
  description: The variable the failure message names (without an index).
  returned: failure
  type: str
  sample: xray_reality_server_names
"""

import ipaddress
import math
import re
import socket
import ssl
import unicodedata

from ansible.module_utils.basic import AnsibleModule

ARGUMENT_SPEC = {
    "target": {"type": "str", "required": True},
    "server_names": {"type": "list", "elements": "str", "required": True},
    "timeout": {"type": "float", "default": 5},
    "target_variable": {"type": "str", "default": "xray_reality_target"},
    "server_names_variable": {"type": "str", "default": "xray_reality_server_names"},
}

TARGET_VARIABLE = "xray_reality_target"
SERVER_NAMES_VARIABLE = "xray_reality_server_names"
ALPN_OFFERED = ("h2", "http/1.1")
ADVICE = (
    "Choose a target in this node's own ASN (or the operator's own site on this node) that "
    "answers TLS 1.3 and HTTP/2 without a redirect; xray_reality_target_check: false skips "
    "this check."
)
# At most this many certificate names in a message; a CDN certificate can hold hundreds.
NAMES_SHOWN = 20

_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_PORT_RE = re.compile(r"[0-9]+")
_CONTROL_CATEGORIES = frozenset(("Cc", "Zl", "Zp"))


class TargetCheckError(Exception):
    """The check failed. ``str()`` is the whole message: variable, problem and advice."""

    def __init__(self, variable, problem):
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}. {ADVICE}")


class CertificateError(ValueError):
    """The DER bytes are not a certificate this module can read."""


# --- Input ---------------------------------------------------------------------------------


def _control_character(text):
    for char in text:
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return repr(char)
    return None


def is_hostname(text):
    """Dot-separated labels of ASCII letters, digits and '-', at most 253 characters."""
    return (
        isinstance(text, str)
        and 0 < len(text) <= 253
        and all(_LABEL_RE.fullmatch(label) for label in text.split("."))
    )


def _is_ip_address(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_target(text, variable=TARGET_VARIABLE):
    """``host:port`` or ``[ipv6]:port`` as ``(host, port)``; the brackets are removed.

    Raises TargetCheckError naming ``variable``.
    """
    if not isinstance(text, str) or not text:
        raise TargetCheckError(
            variable, f"must be host:port (e.g. www.microsoft.com:443), got {text!r}"
        )
    control = _control_character(text)
    if control:
        raise TargetCheckError(variable, f"{text!r} contains the control character {control}")
    host, separator, port = text.rpartition(":")
    if not separator or not host:
        raise TargetCheckError(
            variable, f"must be host:port (e.g. www.microsoft.com:443), got {text!r}"
        )
    if host.startswith("[") and host.endswith("]"):
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise TargetCheckError(
                variable, f"{host!r} is not an IPv6 address in brackets"
            ) from None
    elif not is_hostname(host):
        raise TargetCheckError(
            variable,
            f"{host!r} is not a host name or IPv4 address (an IPv6 address goes in brackets: "
            "[2001:db8::1]:443)",
        )
    # Leading zeros as the config builder takes them; the length check keeps int() small.
    if not _PORT_RE.fullmatch(port) or len(port) > 16 or not 1 <= int(port) <= 65535:
        raise TargetCheckError(variable, f"{port!r} is not a port between 1 and 65535")
    return host, int(port)


def check_server_names(names, variable=SERVER_NAMES_VARIABLE):
    """The server names as a list of str; raises TargetCheckError naming ``variable[i]``."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)) or not names:
        raise TargetCheckError(variable, "must be a non-empty list of host names")
    for index, name in enumerate(names):
        where = f"{variable}[{index}]"
        if not isinstance(name, str):
            raise TargetCheckError(where, f"must be a host name, got {type(name).__name__}")
        control = _control_character(name)
        if control:
            raise TargetCheckError(where, f"{name!r} contains the control character {control}")
        if _is_ip_address(name):
            raise TargetCheckError(
                where, f"{name!r} is an IP address, not a server name (TLS sends no SNI for it)"
            )
        if not is_hostname(name):
            raise TargetCheckError(
                where,
                f"must be a host name (dot-separated labels of letters, digits and '-'), "
                f"got {name!r}",
            )
    return list(names)


# --- Certificate (DER) ---------------------------------------------------------------------

_SEQUENCE = 0x30
_SET = 0x31
_OID = 0x06
_CONTEXT_0 = 0xA0  # [0] EXPLICIT version
_CONTEXT_3 = 0xA3  # [3] EXPLICIT extensions
_OCTET_STRING = 0x04
_DNS_NAME = 0x82  # GeneralName dNSName: [2] IMPLICIT IA5String, primitive
_OID_SUBJECT_ALT_NAME = bytes((0x55, 0x1D, 0x11))  # 2.5.29.17
_OID_COMMON_NAME = bytes((0x55, 0x04, 0x03))  # 2.5.4.3
# DirectoryString and friends, the encodings a subject CN comes in.
_STRING_CODECS = {
    0x0C: "utf-8",  # UTF8String
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (T.61; latin-1 is what everybody does)
    0x16: "ascii",  # IA5String
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


def _tlv(data, offset, end):
    """``(tag, start, stop)`` of the DER element at ``offset``: its content is data[start:stop]."""
    if offset + 2 > end:
        raise CertificateError(f"truncated element at byte {offset}")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise CertificateError(f"multi-byte tag at byte {offset}")
    length = data[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise CertificateError(f"indefinite length at byte {offset}")
        if count > 4:
            raise CertificateError(f"length of {count} bytes at byte {offset}")
        if start + count > end:
            raise CertificateError(f"truncated length at byte {offset}")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    stop = start + length
    if stop > end:
        raise CertificateError(f"element at byte {offset} runs past its container")
    return tag, start, stop


def _children(data, start, stop):
    """The elements between ``start`` and ``stop``, each as ``(tag, start, stop)``."""
    offset = start
    while offset < stop:
        element = _tlv(data, offset, stop)
        yield element
        offset = element[2]


def _expect(element, tag, what):
    if element[0] != tag:
        raise CertificateError(f"{what}: expected tag 0x{tag:02x}, found 0x{element[0]:02x}")
    return element


def _tbs_fields(der):
    """``(subject, extensions)`` of a certificate; extensions is None when absent."""
    if not isinstance(der, (bytes, bytearray, memoryview)):
        raise CertificateError(f"expected bytes, got {type(der).__name__}")
    der = bytes(der)
    certificate = _expect(_tlv(der, 0, len(der)), _SEQUENCE, "Certificate")
    if certificate[2] != len(der):
        raise CertificateError("bytes after the certificate")
    parts = list(_children(der, certificate[1], certificate[2]))
    if len(parts) != 3:
        raise CertificateError(f"Certificate has {len(parts)} parts, not 3")
    tbs = _expect(parts[0], _SEQUENCE, "tbsCertificate")
    fields = list(_children(der, tbs[1], tbs[2]))
    if fields and fields[0][0] == _CONTEXT_0:
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then
    # [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions, all optional.
    if len(fields) < 6:
        raise CertificateError("tbsCertificate is too short")
    subject = _expect(fields[4], _SEQUENCE, "subject")
    _expect(fields[5], _SEQUENCE, "subjectPublicKeyInfo")
    extensions = None
    for field in fields[6:]:
        if field[0] == _CONTEXT_3:
            if extensions is not None:
                raise CertificateError("two extensions fields")
            inner = list(_children(der, field[1], field[2]))
            if len(inner) != 1:
                raise CertificateError("extensions: expected one SEQUENCE")
            extensions = _expect(inner[0], _SEQUENCE, "extensions")
        elif field[0] not in (0x81, 0x82, 0xA1, 0xA2):
            raise CertificateError(f"unexpected field 0x{field[0]:02x} in tbsCertificate")
    return der, subject, extensions


def _decode_ia5(raw):
    # IA5 is 7-bit; anything else is shown escaped and can never match a host name.
    return raw.decode("ascii", "backslashreplace")


def san_dns_names(der):
    """The subjectAltName dNSName entries of a DER certificate, in order ([] without SAN).

    Raises CertificateError when the bytes are not a certificate it can read.
    """
    der, _subject, extensions = _tbs_fields(der)
    if extensions is None:
        return []
    found = None
    for extension in _children(der, extensions[1], extensions[2]):
        _expect(extension, _SEQUENCE, "Extension")
        parts = list(_children(der, extension[1], extension[2]))
        if len(parts) not in (2, 3):
            raise CertificateError(f"Extension has {len(parts)} parts, not 2 or 3")
        oid = _expect(parts[0], _OID, "extnID")
        if der[oid[1] : oid[2]] != _OID_SUBJECT_ALT_NAME:
            continue
        if found is not None:
            raise CertificateError("two subjectAltName extensions")
        value = _expect(parts[-1], _OCTET_STRING, "subjectAltName extnValue")
        inner = list(_children(der, value[1], value[2]))
        if len(inner) != 1:
            raise CertificateError("subjectAltName: expected one SEQUENCE")
        names = _expect(inner[0], _SEQUENCE, "subjectAltName")
        found = [
            _decode_ia5(der[start:stop])
            for tag, start, stop in _children(der, names[1], names[2])
            if tag == _DNS_NAME
        ]
    return found or []


def subject_common_names(der):
    """The common names (2.5.4.3) of the subject of a DER certificate, in order."""
    der, subject, _extensions = _tbs_fields(der)
    names = []
    for rdn in _children(der, subject[1], subject[2]):
        _expect(rdn, _SET, "RelativeDistinguishedName")
        for attribute in _children(der, rdn[1], rdn[2]):
            _expect(attribute, _SEQUENCE, "AttributeTypeAndValue")
            parts = list(_children(der, attribute[1], attribute[2]))
            if len(parts) != 2:
                raise CertificateError("AttributeTypeAndValue: expected type and value")
            oid = _expect(parts[0], _OID, "AttributeType")
            if der[oid[1] : oid[2]] != _OID_COMMON_NAME:
                continue
            tag, start, stop = parts[1]
            codec = _STRING_CODECS.get(tag)
            if codec is None:
                raise CertificateError(f"common name of unknown string type 0x{tag:02x}")
            names.append(der[start:stop].decode(codec, "backslashreplace"))
    return names


def certificate_names(der):
    """The names a certificate holds for host names: SAN dNSNames, else the subject CNs.

    RFC 6125 6.4.4: the CN counts only when the certificate presents no DNS name. Each name
    once, in order.
    """
    names = san_dns_names(der) or subject_common_names(der)
    return list(dict.fromkeys(names))


# --- Matching ------------------------------------------------------------------------------


def name_matches(name, pattern):
    """Whether host name ``name`` matches certificate name ``pattern`` (RFC 6125 6.4).

    Case-insensitive (ASCII). ``*`` is a wildcard only as the whole left-most label of a
    pattern with at least two more labels, and stands for exactly one non-empty label.
    """
    if not isinstance(name, str) or not isinstance(pattern, str):
        return False
    if not name.isascii() or not pattern.isascii():
        return False
    name_labels = name.lower().split(".")
    pattern_labels = pattern.lower().split(".")
    if "" in name_labels or "" in pattern_labels:
        return False
    if pattern_labels[0] == "*" and len(pattern_labels) >= 3:
        return len(name_labels) == len(pattern_labels) and name_labels[1:] == pattern_labels[1:]
    if "*" in pattern:
        # Partial (f*.example.com) or misplaced wildcards match nothing.
        return False
    return name_labels == pattern_labels


def matching_name(name, patterns):
    """The first of ``patterns`` that ``name`` matches, or None."""
    for pattern in patterns:
        if name_matches(name, pattern):
            return pattern
    return None


# --- The check -----------------------------------------------------------------------------


def _reason(exc, timeout):
    """A short, readable reason for a connection or handshake error."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, socket.gaierror):
        return f"name resolution failed: {exc.strerror or exc}"
    if isinstance(exc, ssl.SSLError):
        # "[SSL: TLSV1_ALERT_PROTOCOL_VERSION] tlsv1 alert protocol version (_ssl.c:1006)"
        text = re.sub(r"^\[[^\]]*\]\s*", "", str(exc))
        text = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)
        return text or getattr(exc, "reason", None) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _client_context():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(list(ALPN_OFFERED))
    return context


def _shown(names):
    if not names:
        return "no host name"
    if len(names) <= NAMES_SHOWN:
        return ", ".join(names)
    return ", ".join(names[:NAMES_SHOWN]) + f" and {len(names) - NAMES_SHOWN} more"


def _handshake(context, host, port, server_name, timeout, target, target_variable):
    """``(tls_version, alpn, der)`` of one handshake with ``server_name`` as SNI."""
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except (OSError, ValueError) as exc:
        raise TargetCheckError(
            target_variable,
            f"{target} cannot be reached from this node ({_reason(exc, timeout)})",
        ) from None
    try:
        raw.settimeout(timeout)
        try:
            tls = context.wrap_socket(raw, server_hostname=server_name)
        except (OSError, ValueError) as exc:
            raise TargetCheckError(
                target_variable,
                f"{target} does not answer TLS 1.3 for {server_name} ({_reason(exc, timeout)}); "
                "REALITY needs a TLS 1.3 target",
            ) from None
        try:
            return tls.version(), tls.selected_alpn_protocol(), tls.getpeercert(binary_form=True)
        finally:
            tls.close()
    finally:
        raw.close()


def check_target(
    target,
    server_names,
    timeout=5.0,
    target_variable=TARGET_VARIABLE,
    server_names_variable=SERVER_NAMES_VARIABLE,
):
    """Check ``target`` for each of ``server_names``; the result of the module.

    Raises TargetCheckError with the message the task fails with.
    """
    host, port = parse_target(target, target_variable)
    names = check_server_names(server_names, server_names_variable)
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, (int, float))
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise TargetCheckError("timeout", f"must be a positive number of seconds, got {timeout!r}")
    context = _client_context()
    checked = []
    seen = {}
    for index, name in enumerate(names):
        version, alpn, der = _handshake(context, host, port, name, timeout, target, target_variable)
        if version != "TLSv1.3":
            raise TargetCheckError(
                target_variable,
                f"{target} negotiated {version} for {name}; REALITY needs a TLS 1.3 target",
            )
        if not der:
            raise TargetCheckError(target_variable, f"{target} presented no certificate for {name}")
        try:
            names_in_certificate = certificate_names(der)
        except CertificateError as exc:
            raise TargetCheckError(
                target_variable,
                f"the certificate {target} presented for {name} cannot be read ({exc})",
            ) from None
        if matching_name(name, names_in_certificate) is None:
            raise TargetCheckError(
                f"{server_names_variable}[{index}]",
                f"'{name}' is not in the certificate of {target} "
                f"(it names: {_shown(names_in_certificate)})",
            )
        seen.update(dict.fromkeys(names_in_certificate))
        checked.append(
            {"server_name": name, "alpn": alpn, "certificate_names": names_in_certificate}
        )
    return {
        "tls_version": "TLSv1.3",
        "alpn": checked[0]["alpn"],
        "h2": all(entry["alpn"] == "h2" for entry in checked),
        "certificate_names": list(seen),
        "checked": checked,
    }


def h2_warning(result, target):
    """The warning for server names the target did not choose h2 for, or None."""
    without = [entry for entry in result["checked"] if entry["alpn"] != "h2"]
    if not without:
        return None
    listed = ", ".join(f"{entry['server_name']} ({entry['alpn'] or 'none'})" for entry in without)
    return (
        f"{target} did not choose HTTP/2 (ALPN h2) for {listed}; REALITY targets should "
        "speak HTTP/2, a client that offers h2 and gets something else stands out."
    )


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        result = check_target(
            params["target"],
            params["server_names"],
            params["timeout"],
            params["target_variable"],
            params["server_names_variable"],
        )
    except TargetCheckError as exc:
        module.fail_json(msg=str(exc), variable=exc.variable.partition("[")[0], changed=False)
    warning = h2_warning(result, params["target"])
    if warning:
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
