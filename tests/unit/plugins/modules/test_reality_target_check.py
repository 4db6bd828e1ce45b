# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/modules/reality_target_check.py: the certificate reader, name matching, the target
format and the check itself against TLS servers on 127.0.0.1 (threads, ephemeral ports)."""

from __future__ import annotations

import ast
import datetime
import inspect
import ipaddress
import json
import socket
import ssl
import sys
import threading

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.edgerelay.proxy.plugins.modules import reality_target_check as module
from ansible_collections.edgerelay.proxy.plugins.modules.reality_target_check import (
    ADVICE,
    ARGUMENT_SPEC,
    CertificateError,
    TargetCheckError,
    certificate_names,
    check_server_names,
    check_target,
    h2_warning,
    name_matches,
    parse_target,
    san_dns_names,
    subject_common_names,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from hypothesis import assume, given
from hypothesis import strategies as st

# Generous: the CI machine is busy. Nothing asserts how long anything took.
TIMEOUT = 10.0

# Ed25519 signs deterministically: the same inputs give the same certificate bytes, which
# hypothesis needs when it replays an example that draws positions in them.
KEY = ed25519.Ed25519PrivateKey.generate()
NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

# --------------------------------------------------------------------------- certificates


def make_certificate(san=None, common_names=("reality.test",), extensions_first=True):
    """A self-signed certificate; ``san`` a list of GeneralName or None for no SAN extension."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(KEY.public_key())
        .serial_number(0x1234567890ABCDEF1234567890ABCDEF)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_BEFORE + datetime.timedelta(days=3650))
    )
    others = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False),
    ]
    if not extensions_first:
        others.reverse()
    for extension, critical in others[:1]:
        builder = builder.add_extension(extension, critical=critical)
    if san is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    for extension, critical in others[1:]:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(KEY, None)


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


def dns_names_written(certificate):
    """What cryptography reads back as the SAN dNSNames ([] without SAN)."""
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return extension.value.get_values_for_type(x509.DNSName)


LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
labels = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(LETTERS),
    st.text(LETTERS + "-", max_size=20),
    st.sampled_from(LETTERS),
) | st.sampled_from(LETTERS)
hostnames = st.lists(labels, min_size=1, max_size=5).map(".".join)
# Names with at least two labels (a wildcard needs two labels after it).
bases = st.lists(labels, min_size=2, max_size=4).map(".".join)
dns_names = hostnames | bases.map(lambda base: "*." + base)

other_general_names = st.one_of(
    st.ip_addresses().map(x509.IPAddress),
    st.builds(lambda user, host: x509.RFC822Name(f"{user}@{host}"), labels, hostnames),
    hostnames.map(lambda host: x509.UniformResourceIdentifier(f"https://{host}/")),
    st.just(x509.RegisteredID(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"))),
    hostnames.map(
        lambda host: x509.DirectoryName(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])])
        )
    ),
    st.just(x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x0c\x03abc")),
)
general_names = st.lists(
    st.one_of(dns_names.map(x509.DNSName), other_general_names), min_size=1, max_size=40
)


@given(general_names, st.booleans())
def test_san_dns_names_are_what_cryptography_wrote(san, extensions_first):
    certificate = make_certificate(san, extensions_first=extensions_first)
    expected = [name.value for name in san if isinstance(name, x509.DNSName)]
    assert san_dns_names(der(certificate)) == expected == dns_names_written(certificate)


@given(st.lists(dns_names, min_size=1, max_size=60))
def test_certificate_names_are_the_dns_names_each_once(names):
    certificate = make_certificate([x509.DNSName(name) for name in names])
    assert certificate_names(der(certificate)) == list(dict.fromkeys(names))


@given(st.lists(hostnames.map(lambda host: host[:64]), min_size=1, max_size=3))
def test_no_san_falls_back_to_the_common_names(common_names):
    certificate = make_certificate(None, common_names)
    assert san_dns_names(der(certificate)) == []
    assert subject_common_names(der(certificate)) == common_names
    assert certificate_names(der(certificate)) == list(dict.fromkeys(common_names))


# At most 16 characters: cryptography allows 64 bytes of UTF-8.
@given(st.text(min_size=1, max_size=16).filter(lambda text: "\x00" not in text))
def test_common_name_in_utf8(common_name):
    certificate = make_certificate(None, [common_name])
    assert subject_common_names(der(certificate)) == [common_name]


def test_common_name_in_other_string_types():
    for asn1_type in ("PrintableString", "BMPString", "UniversalString", "IA5String"):
        kind = getattr(x509.name._ASN1Type, asn1_type)
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "DE"),
                x509.NameAttribute(NameOID.COMMON_NAME, "reality.test", _type=kind),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(KEY.public_key())
            .serial_number(1)
            .not_valid_before(NOT_BEFORE)
            .not_valid_after(NOT_BEFORE + datetime.timedelta(days=30))
            .sign(KEY, None)
        )
        assert certificate_names(der(certificate)) == ["reality.test"], asn1_type


def test_san_without_dns_names_falls_back_to_the_common_name():
    # RFC 6125 6.4.4: the CN counts when the certificate presents no DNS name.
    certificate = make_certificate(
        [x509.IPAddress(ipaddress.ip_address("192.0.2.1")), x509.RFC822Name("a@b.test")],
        ["reality.test"],
    )
    assert san_dns_names(der(certificate)) == []
    assert certificate_names(der(certificate)) == ["reality.test"]


def test_san_with_dns_names_hides_the_common_name():
    certificate = make_certificate([x509.DNSName("www.test")], ["reality.test"])
    assert certificate_names(der(certificate)) == ["www.test"]


def test_no_names_at_all():
    certificate = make_certificate(None, [])
    assert certificate_names(der(certificate)) == []


@given(st.data())
def test_truncated_certificates_are_refused(data):
    raw = der(make_certificate([x509.DNSName("reality.test")]))
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(CertificateError):
        san_dns_names(raw[:cut])


@given(st.data())
def test_damaged_certificates_raise_only_certificate_error(data):
    raw = bytearray(der(make_certificate(data.draw(general_names))))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        names = certificate_names(bytes(raw))
    except CertificateError:
        return
    assert all(isinstance(name, str) for name in names)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_certificate_error(raw):
    try:
        names = certificate_names(raw)
    except CertificateError:
        return
    assert all(isinstance(name, str) for name in names)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "not bytes",
        b"",
        b"\x30",
        b"\x30\x80\x00\x00",  # indefinite length
        b"\x30\x85\x01\x00\x00\x00\x00",  # five length bytes
        b"\x1f\x01\x00",  # multi-byte tag
        b"\x30\x00",  # empty SEQUENCE
        b"\x30\x00\x00",  # bytes after the certificate
    ],
)
def test_malformed_der(raw):
    with pytest.raises(CertificateError):
        san_dns_names(raw)


# --------------------------------------------------------------------------- name matching


@pytest.mark.parametrize(
    ("name", "pattern", "matches"),
    [
        ("a.example.com", "*.example.com", True),
        ("A.Example.COM", "*.EXAMPLE.com", True),
        ("example.com", "*.example.com", False),
        ("a.b.example.com", "*.example.com", False),
        ("example.com", "example.com", True),
        ("www.example.com", "example.com", False),
        ("example.com", "www.example.com", False),
        ("a.com", "*.com", False),
        ("com", "*", False),
        ("foo.example.com", "f*.example.com", False),
        ("foo.example.com", "*o.example.com", False),
        ("a.b.example.com", "a.*.example.com", False),
        ("a.example.com", "*.*.com", False),
        ("a.example.com", "**.example.com", False),
        ("example.com.", "example.com", False),
        ("a..example.com", "*..example.com", False),
        ("", "", False),
        ("ex\u00e4mple.com", "ex\u00e4mple.com", False),
        ("xn--exmple-cua.com", "XN--EXMPLE-CUA.com", True),
    ],
)
def test_name_matches_examples(name, pattern, matches):
    assert name_matches(name, pattern) is matches


@given(hostnames, st.randoms())
def test_a_name_matches_itself_in_any_case(name, random):
    changed = "".join(char.upper() if random.random() < 0.5 else char.lower() for char in name)
    assert name_matches(name, changed)
    assert name_matches(changed, name)


@given(hostnames, hostnames)
def test_different_names_do_not_match(name, other):
    assume(name.lower() != other.lower())
    assert not name_matches(name, other)


@given(labels, bases, labels)
def test_wildcard_stands_for_exactly_one_left_most_label(label, base, extra):
    pattern = "*." + base
    assert name_matches(f"{label}.{base}", pattern)
    assert name_matches(f"{label}.{base}".upper(), pattern)
    assert not name_matches(base, pattern)
    assert not name_matches(f"{extra}.{label}.{base}", pattern)
    assert not name_matches(f"{label}.x{base}", pattern)


@given(labels, labels, labels)
def test_wildcard_needs_two_labels_after_it(label, top, other):
    assert not name_matches(f"{label}.{top}", f"*.{top}")
    assert not name_matches(label, "*")
    # Not the left-most label, or not the whole label: no wildcard.
    assert not name_matches(f"{label}.{other}.{top}.test", f"{label}.*.{top}.test")
    assert not name_matches(f"{label}.{top}.test", f"{label[0]}*.{top}.test")


# --------------------------------------------------------------------------- target format


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("www.microsoft.com:443", ("www.microsoft.com", 443)),
        ("localhost:1", ("localhost", 1)),
        ("www.example.com:000443", ("www.example.com", 443)),
        ("172.29.0.20:8443", ("172.29.0.20", 8443)),
        ("[2001:db8::1]:443", ("2001:db8::1", 443)),
        ("[2001:DB8:0::1]:65535", ("2001:db8::1", 65535)),
        ("[::1]:8443", ("::1", 8443)),
    ],
)
def test_parse_target(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "must be host:port"),
        (None, "must be host:port"),
        ("www.example.com", "must be host:port"),
        (":443", "must be host:port"),
        ("www.example.com:", "'' is not a port between 1 and 65535"),
        ("www.example.com:0", "'0' is not a port between 1 and 65535"),
        ("www.example.com:65536", "'65536' is not a port between 1 and 65535"),
        ("www.example.com:" + "9" * 5000, "is not a port between 1 and 65535"),
        ("www.example.com:+443", "'+443' is not a port"),
        ("www.example.com:https", "'https' is not a port"),
        ("www.example.com:\u0664\u0664\u0663", "is not a port"),
        ("2001:db8::1", "'2001:db8:' is not a host name or IPv4 address (an IPv6 address goes"),
        ("[2001:db8::g]:443", "'[2001:db8::g]' is not an IPv6 address in brackets"),
        ("[192.0.2.1]:443", "is not an IPv6 address in brackets"),
        ("https://www.example.com:443", "'https://www.example.com' is not a host name"),
        ("exa mple.com:443", "is not a host name"),
        ("-example.com:443", "is not a host name"),
        ("example..com:443", "is not a host name"),
        ("\u212aelvin.example:443", "is not a host name"),
        ("www.example.com:443\n", "contains the control character '\\n'"),
    ],
)
def test_parse_target_refuses(text, problem):
    with pytest.raises(TargetCheckError) as excinfo:
        parse_target(text)
    assert excinfo.value.variable == "xray_reality_target"
    assert str(excinfo.value).startswith("xray_reality_target: ")
    assert problem in str(excinfo.value)
    assert str(excinfo.value).endswith(ADVICE)


@given(hostnames, st.integers(1, 65535))
def test_parse_target_host_names(host, port):
    assert parse_target(f"{host}:{port}") == (host, port)


@given(st.ip_addresses(v=4), st.integers(1, 65535))
def test_parse_target_ipv4(address, port):
    assert parse_target(f"{address}:{port}") == (str(address), port)


@given(st.ip_addresses(v=6), st.integers(1, 65535))
def test_parse_target_ipv6(address, port):
    assert parse_target(f"[{address}]:{port}") == (str(address), port)
    assert parse_target(f"[{address.exploded}]:{port}") == (str(address), port)


@given(hostnames, st.integers(65536, 10**6) | st.just(0))
def test_parse_target_port_range(host, port):
    with pytest.raises(TargetCheckError, match="is not a port between 1 and 65535"):
        parse_target(f"{host}:{port}", "lab_target")


def test_parse_target_names_the_variable():
    with pytest.raises(TargetCheckError, match=r"^lab_target: must be host:port") as excinfo:
        parse_target("nothing", "lab_target")
    assert excinfo.value.variable == "lab_target"


@pytest.mark.parametrize(
    ("names", "where", "problem"),
    [
        ([], "xray_reality_server_names", "must be a non-empty list of host names"),
        ("reality.test", "xray_reality_server_names", "must be a non-empty list"),
        (None, "xray_reality_server_names", "must be a non-empty list"),
        (["ok.test", "bad name"], "xray_reality_server_names[1]", "must be a host name"),
        (["ok.test", ""], "xray_reality_server_names[1]", "must be a host name"),
        (["*.reality.test"], "xray_reality_server_names[0]", "must be a host name"),
        (["192.0.2.1"], "xray_reality_server_names[0]", "is an IP address, not a server name"),
        (["::1"], "xray_reality_server_names[0]", "is an IP address"),
        (["a.test\r"], "xray_reality_server_names[0]", "control character '\\r'"),
        ([443], "xray_reality_server_names[0]", "must be a host name, got int"),
    ],
)
def test_check_server_names_refuses(names, where, problem):
    with pytest.raises(TargetCheckError) as excinfo:
        check_server_names(names)
    assert str(excinfo.value).startswith(f"{where}: ")
    assert problem in str(excinfo.value)


# --------------------------------------------------------------------------- TLS servers

SERVER_NAMES = ["reality.test", "*.wild.test"]


@pytest.fixture(scope="module")
def certificate_files(tmp_path_factory):
    """PEM files of the servers' certificates: one with SAN, one with the CN only."""
    directory = tmp_path_factory.mktemp("reality-target")
    key = directory / "key.pem"
    key.write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files = {}
    for name, certificate in (
        ("san", make_certificate([x509.DNSName(name) for name in SERVER_NAMES])),
        ("cn", make_certificate(None, ["cn-only.test"])),
    ):
        path = directory / f"{name}.pem"
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        files[name] = (str(path), str(key))
    return files


class TLSServer:
    """Accepts connections on 127.0.0.1 one after another, does the handshake, closes.

    ``context`` None: accepts TCP and never answers. ``server_names`` collects the SNI sent.
    """

    def __init__(self, context, host="127.0.0.1"):
        self.context = context
        self.server_names = []
        self.listener = socket.create_server((host, 0), family=_family(host))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.target = f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"
        self.stopped = threading.Event()
        self.held = []
        if context is not None:
            context.sni_callback = self._sni
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _sni(self, _connection, server_name, _context):
        self.server_names.append(server_name)

    def _serve(self):
        while not self.stopped.is_set():
            try:
                connection, _address = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.context is None:
                self.held.append(connection)
                continue
            connection.settimeout(TIMEOUT)
            try:
                with self.context.wrap_socket(connection, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                connection.close()

    def stop(self):
        self.stopped.set()
        self.thread.join(TIMEOUT)
        self.listener.close()
        for connection in self.held:
            connection.close()


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def server_context(files, minimum=ssl.TLSVersion.TLSv1_2, maximum=None, alpn=("h2", "http/1.1")):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = minimum
    if maximum is not None:
        context.maximum_version = maximum
    context.load_cert_chain(*files)
    if alpn:
        context.set_alpn_protocols(list(alpn))
    return context


@pytest.fixture
def serve():
    servers = []

    def start(context, host="127.0.0.1"):
        servers.append(TLSServer(context, host))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def check_error(*args, **kwargs):
    with pytest.raises(TargetCheckError) as excinfo:
        check_target(*args, **kwargs)
    assert str(excinfo.value).endswith(ADVICE)
    return excinfo.value


def test_tls13_target_with_h2(serve, certificate_files):
    server = serve(server_context(certificate_files["san"]))
    names = ["reality.test", "a.wild.test", "B.Wild.Test"]
    result = check_target(server.target, names, TIMEOUT)
    assert result == {
        "tls_version": "TLSv1.3",
        "alpn": "h2",
        "h2": True,
        "certificate_names": SERVER_NAMES,
        "checked": [
            {"server_name": name, "alpn": "h2", "certificate_names": SERVER_NAMES} for name in names
        ],
    }
    # One handshake per name, each with the name as SNI.
    assert [name.lower() for name in server.server_names] == [name.lower() for name in names]
    assert h2_warning(result, server.target) is None


@pytest.mark.parametrize(("alpn", "chosen"), [(("http/1.1",), "http/1.1"), ((), None)])
def test_tls13_target_without_h2_warns(serve, certificate_files, alpn, chosen):
    server = serve(server_context(certificate_files["san"], alpn=alpn))
    result = check_target(server.target, ["reality.test"], TIMEOUT)
    assert (result["alpn"], result["h2"]) == (chosen, False)
    warning = h2_warning(result, server.target)
    assert warning.startswith(f"{server.target} did not choose HTTP/2 (ALPN h2) for reality.test")


def test_tls12_only_target_fails(serve, certificate_files):
    server = serve(server_context(certificate_files["san"], maximum=ssl.TLSVersion.TLSv1_2))
    error = check_error(server.target, ["reality.test"], TIMEOUT)
    assert error.variable == "xray_reality_target"
    assert str(error).startswith(
        f"xray_reality_target: {server.target} does not answer TLS 1.3 for reality.test ("
    )
    assert "REALITY needs a TLS 1.3 target" in str(error)
    assert "_ssl.c" not in str(error)


def test_name_not_in_certificate_fails(serve, certificate_files):
    server = serve(server_context(certificate_files["san"]))
    error = check_error(server.target, ["reality.test", "other.test"], TIMEOUT)
    assert error.variable == "xray_reality_server_names[1]"
    assert str(error).startswith(
        f"xray_reality_server_names[1]: 'other.test' is not in the certificate of "
        f"{server.target} (it names: reality.test, *.wild.test). "
    )


def test_wildcard_does_not_cover_the_base_or_two_labels(serve, certificate_files):
    server = serve(server_context(certificate_files["san"]))
    for name in ("wild.test", "a.b.wild.test"):
        error = check_error(server.target, [name], TIMEOUT)
        assert str(error).startswith(f"xray_reality_server_names[0]: '{name}' is not in")


def test_certificate_without_san_uses_the_common_name(serve, certificate_files):
    server = serve(server_context(certificate_files["cn"]))
    result = check_target(server.target, ["cn-only.test"], TIMEOUT)
    assert result["certificate_names"] == ["cn-only.test"]
    error = check_error(server.target, ["reality.test"], TIMEOUT)
    assert "(it names: cn-only.test)" in str(error)


def test_closed_port_cannot_be_reached():
    # Bound and not listening: the kernel refuses connections, and no other test gets the port.
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        target = f"127.0.0.1:{bound.getsockname()[1]}"
        error = check_error(target, ["reality.test"], TIMEOUT)
    assert error.variable == "xray_reality_target"
    assert str(error).startswith(
        f"xray_reality_target: {target} cannot be reached from this node (Connection refused). "
    )


def test_name_resolution_failure_cannot_be_reached(monkeypatch):
    def fail(address, timeout):
        assert address == ("reality-target.invalid", 443)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(module.socket, "create_connection", fail)
    error = check_error("reality-target.invalid:443", ["reality.test"], TIMEOUT)
    assert str(error).startswith(
        "xray_reality_target: reality-target.invalid:443 cannot be reached from this node "
        "(name resolution failed: Name or service not known). "
    )


def test_silent_target_times_out(serve):
    server = serve(None)
    error = check_error(server.target, ["reality.test"], 0.5)
    assert str(error).startswith(
        f"xray_reality_target: {server.target} does not answer TLS 1.3 for reality.test "
        "(timed out after 0.5 s)"
    )


def test_ipv6_target(serve, certificate_files):
    try:
        server = serve(server_context(certificate_files["san"]), host="::1")
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    assert server.target == f"[::1]:{server.port}"
    assert check_target(server.target, ["reality.test"], TIMEOUT)["tls_version"] == "TLSv1.3"


def test_messages_name_the_given_variables(serve, certificate_files):
    server = serve(server_context(certificate_files["san"], maximum=ssl.TLSVersion.TLSv1_2))
    error = check_error(server.target, ["reality.test"], TIMEOUT, "lab_target", "lab_names")
    assert str(error).startswith(f"lab_target: {server.target} does not answer TLS 1.3")
    good = serve(server_context(certificate_files["san"]))
    error = check_error(good.target, ["x.test"], TIMEOUT, "lab_target", "lab_names")
    assert str(error).startswith("lab_names[0]: 'x.test' is not in the certificate")


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True])
def test_timeout_must_be_positive(timeout):
    error = check_error("127.0.0.1:443", ["reality.test"], timeout)
    assert str(error).startswith("timeout: must be a positive number of seconds")


def test_many_certificate_names_are_cut_short():
    names = [f"n{index}.test" for index in range(25)]
    assert module._shown(names) == ", ".join(names[:20]) + " and 5 more"
    assert module._shown([]) == "no host name"


# --------------------------------------------------------------------------- main()


def run_main(capsys, monkeypatch, args):
    """Exit code, result and warnings of main() with module arguments ``args``."""
    # Where a warning goes depends on what else the process imported (the controller's
    # display once controller code is loaded): record the calls instead.
    warnings = []
    monkeypatch.setattr(
        module.AnsibleModule, "warn", lambda _self, warning, **_kwargs: warnings.append(warning)
    )
    with patch_module_args(args), pytest.raises(SystemExit) as excinfo:
        module.main()
    return excinfo.value.code, json.loads(capsys.readouterr().out), warnings


def test_main_success_in_check_mode_warns_without_h2(serve, certificate_files, capsys, monkeypatch):
    server = serve(server_context(certificate_files["san"], alpn=("http/1.1",)))
    code, result, warnings = run_main(
        capsys,
        monkeypatch,
        {
            "target": server.target,
            "server_names": ["reality.test"],
            "timeout": TIMEOUT,
            "_ansible_check_mode": True,
        },
    )
    assert code == 0
    assert result["changed"] is False
    assert result["tls_version"] == "TLSv1.3"
    assert (result["alpn"], result["h2"]) == ("http/1.1", False)
    assert result["certificate_names"] == SERVER_NAMES
    assert result["checked"] == [
        {"server_name": "reality.test", "alpn": "http/1.1", "certificate_names": SERVER_NAMES}
    ]
    assert warnings == [
        f"{server.target} did not choose HTTP/2 (ALPN h2) for reality.test (http/1.1); REALITY "
        "targets should speak HTTP/2, a client that offers h2 and gets something else stands out."
    ]


def test_main_failure(serve, certificate_files, capsys, monkeypatch):
    server = serve(server_context(certificate_files["san"]))
    code, result, warnings = run_main(
        capsys,
        monkeypatch,
        {"target": server.target, "server_names": ["reality.test", "nope.test"]},
    )
    assert code == 1
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["variable"] == "xray_reality_server_names"
    assert result["msg"].startswith("xray_reality_server_names[1]: 'nope.test' is not in")
    assert result["msg"].endswith(ADVICE)
    assert warnings == []


def test_main_bad_target(capsys, monkeypatch):
    code, result, warnings = run_main(
        capsys, monkeypatch, {"target": "nothing", "server_names": ["a.test"]}
    )
    assert code == 1
    assert result["variable"] == "xray_reality_target"
    assert result["msg"].startswith("xray_reality_target: must be host:port")
    assert warnings == []


# --------------------------------------------------------------------------- documentation


def load(block):
    return yaml.safe_load(getattr(module, block))


def test_documented_options_are_the_argument_spec():
    documentation = load("DOCUMENTATION")
    assert documentation["module"] == "reality_target_check"
    assert documentation["version_added"] == "0.1.0"
    assert set(documentation["options"]) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        for key in ("type", "elements", "default"):
            assert option.get(key) == spec.get(key), (name, key)
        assert option.get("required", False) == spec.get("required", False), name
    assert load("EXAMPLES")


def test_documented_return_values_are_returned(serve, certificate_files):
    server = serve(server_context(certificate_files["san"]))
    result = check_target(server.target, ["reality.test"], TIMEOUT)
    returned = load("RETURN")
    assert {key for key, value in returned.items() if value["returned"] == "success"} == set(result)
    assert set(returned["checked"]["contains"]) == set(result["checked"][0])
    assert returned["variable"]["returned"] == "failure"


def test_module_needs_only_the_standard_library():
    tree = ast.parse(inspect.getsource(module))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    outside = {
        name
        for name in imported
        if name.partition(".")[0] not in sys.stdlib_module_names and name != "__future__"
    }
    assert outside == {"ansible.module_utils.basic"}
