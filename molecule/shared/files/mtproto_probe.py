#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""MTProxy client probe for the lab: real MTProto handshakes through HAProxy.

Relay (the default): the probe opens a sink (a stand-in for a Telegram data centre that the
lab MTProxy is configured to relay to, LAB_UPSTREAM), connects to the proxy, performs the
client handshake with the given secret and sends one packet. A backend that accepts the
secret relays the session to the sink; one that rejects it drops (or masks) the client.
  --secret 32hex or dd+32hex   obfuscated2 handshake (secure intermediate)
  --secret ee+32hex+hexdomain  FakeTLS: a 517-byte TLS 1.3 ClientHello (SNI = the domain,
                               a real x25519 key share, browser-like extensions) whose random
                               is the HMAC of the secret and the time; the server's answer
                               must carry the matching HMAC; then obfuscated2 inside TLS
                               application-data records. --save-hello FILE keeps the hello.

Replay: --replay FILE --count N sends exactly the saved ClientHello N times, one connection
each, and counts the answers: accepted (a ServerHello whose HMAC verifies for that hello with
--secret), masked (something else answered, e.g. the masking host) or dropped (nothing).

Probes (--probe) report what answered, as an active prober would see it:
  tls           a TLS 1.3 client (Python ssl): the peer certificate's subject and names
  http          a plain HTTP GET: the first bytes of the response
  wrong-secret  a FakeTLS ClientHello made with a random secret: who answered it

Prints one JSON line and exits 0 when the outcome matches --expect:
  relay          the sink received the relayed session (the secret was accepted)
  drop           nothing reached the sink; in probe and replay modes also nothing answered
  mask           nothing reached the sink, and something other than the proxy answered
  none-accepted  replay: no copy of the hello was accepted
  some-accepted  replay: at least one copy was accepted

Standard library and cryptography only (Debian 12: python3-cryptography).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import socket
import ssl
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PROTO_TAG_SECURE = b"\xdd\xdd\xdd\xdd"
FORBIDDEN_STARTS = {
    b"HEAD",
    b"POST",
    b"GET ",
    b"OPTI",
    b"\xdd" * 4,
    b"\xee" * 4,
    b"\x16\x03\x01\x02",
}
HELLO_LEN = 517
RANDOM_POS, RANDOM_LEN = 11, 32
CHANGE_CIPHER_SPEC = b"\x14\x03\x03\x00\x01\x01"
MAX_RECORD = 16384


def client_init(dc_index: int) -> bytes:
    """64 random bytes shaped as an obfuscated2 client init (not mistakable for HTTP/TLS)."""
    while True:
        init = bytearray(os.urandom(64))
        if init[0] == 0xEF or bytes(init[:4]) in FORBIDDEN_STARTS or init[4:8] == b"\0" * 4:
            continue
        init[56:60] = PROTO_TAG_SECURE
        init[60:62] = dc_index.to_bytes(2, "little", signed=True)
        return bytes(init)


def handshake(secret: bytes, dc_index: int):
    init = client_init(dc_index)
    key = hashlib.sha256(init[8:40] + secret).digest()
    encryptor = Cipher(algorithms.AES(key), modes.CTR(init[40:56])).encryptor()
    encrypted = encryptor.update(init)
    return init[:56] + encrypted[56:64], encryptor


def parse_secret(text: str) -> tuple[bytes, str | None]:
    """(key, FakeTLS domain or None) from 32 hex, dd + 32 hex or ee + 32 hex + hex domain."""
    text = text.strip().lower()
    if len(text) == 34 and text.startswith("dd"):
        text = text[2:]
    if len(text) > 34 and text.startswith("ee"):
        return bytes.fromhex(text[2:34]), bytes.fromhex(text[34:]).decode("ascii")
    if len(text) != 32:
        raise SystemExit("--secret: 32 hex, dd + 32 hex or ee + 32 hex + hex domain")
    return bytes.fromhex(text), None


# --- FakeTLS --------------------------------------------------------------------------------


def _u8(n: int) -> bytes:
    return n.to_bytes(1, "big")


def _u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def _vec8(data: bytes) -> bytes:
    return _u8(len(data)) + data


def _vec16(data: bytes) -> bytes:
    return _u16(len(data)) + data


def _ext(kind: int, body: bytes) -> bytes:
    return _u16(kind) + _vec16(body)


def _grease_values(count: int) -> list[int]:
    """Distinct GREASE code points (RFC 8701), as a browser sends them."""
    values = [0x0A0A + 0x1010 * i for i in range(16)]
    picked = []
    while len(picked) < count:
        value = secrets.choice(values)
        if value not in picked:
            picked.append(value)
    return picked


def client_hello(key: bytes, sni: str, timestamp: int) -> bytes:
    """A 517-byte TLS record holding a browser-like TLS 1.3 ClientHello whose random is
    HMAC-SHA256(key, hello with a zero random) XOR (28 zero bytes + the time, little endian)."""
    g_suite, g_ext1, g_group, g_version, g_ext2 = _grease_values(5)
    public = (
        X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    suites = [g_suite, 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
    suites += [0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
    signature_algorithms = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    name = sni.encode("ascii")
    extensions = b"".join(
        [
            _ext(g_ext1, b""),
            _ext(0x0000, _vec16(b"\x00" + _vec16(name))),  # server_name
            _ext(0x0017, b""),  # extended_master_secret
            _ext(0xFF01, b"\x00"),  # renegotiation_info
            _ext(0x000A, _vec16(b"".join(_u16(g) for g in (g_group, 0x001D, 0x0017, 0x0018)))),
            _ext(0x000B, _vec8(b"\x00")),  # ec_point_formats: uncompressed
            _ext(0x0023, b""),  # session_ticket
            _ext(0x0010, _vec16(_vec8(b"h2") + _vec8(b"http/1.1"))),  # ALPN
            _ext(0x0005, b"\x01\x00\x00\x00\x00"),  # status_request (OCSP)
            _ext(0x000D, _vec16(b"".join(_u16(a) for a in signature_algorithms))),
            _ext(0x0012, b""),  # signed_certificate_timestamp
            _ext(0x0033, _vec16(_u16(g_group) + _vec16(b"\x00") + _u16(0x001D) + _vec16(public))),
            _ext(0x002D, _vec8(b"\x01")),  # psk_key_exchange_modes: psk_dhe_ke
            _ext(0x002B, _vec8(b"".join(_u16(v) for v in (g_version, 0x0304, 0x0303)))),
            _ext(0x001B, _vec8(_u16(0x0002))),  # compress_certificate: brotli
            _ext(g_ext2, b"\x00"),
        ]
    )
    head = (
        b"\x03\x03"
        + b"\x00" * RANDOM_LEN
        + _vec8(os.urandom(32))  # legacy_session_id
        + _vec16(b"".join(_u16(s) for s in suites))
        + _vec8(b"\x00")  # compression: null
    )
    body_len = HELLO_LEN - 5 - 4
    padding = body_len - len(head) - 2 - len(extensions) - 4
    if padding < 0:
        raise SystemExit(f"SNI too long for a {HELLO_LEN}-byte ClientHello: {sni}")
    extensions += _ext(0x0015, b"\x00" * padding)  # padding
    body = head + _vec16(extensions)
    hello = b"\x16\x03\x01" + _u16(4 + len(body)) + b"\x01" + len(body).to_bytes(3, "big") + body
    assert len(hello) == HELLO_LEN
    digest = hmac.new(key, hello, hashlib.sha256).digest()
    mask = b"\x00" * 28 + (timestamp & 0xFFFFFFFF).to_bytes(4, "little")
    random = bytes(a ^ b for a, b in zip(digest, mask, strict=True))
    return hello[:RANDOM_POS] + random + hello[RANDOM_POS + RANDOM_LEN :]


def _read_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_answer(sock: socket.socket, timeout: float) -> tuple[list[bytes], str]:
    """Up to three TLS records (header included) and why reading stopped."""
    records: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(records) < 3:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            header = _read_exact(sock, 5)
            if len(header) < 5:
                return records, "closed"
            body = _read_exact(sock, int.from_bytes(header[3:5], "big"))
        except TimeoutError:
            return records, "timeout"
        except OSError:
            return records, "reset"
        records.append(header + body)
    return records, "complete"


def answer_verifies(key: bytes, hello: bytes, records: list[bytes]) -> bool:
    """The proxy's ServerHello + ChangeCipherSpec + application data, whose random is
    HMAC-SHA256(key, the client's random + the answer with a zero random)."""
    if len(records) != 3 or [r[0] for r in records] != [0x16, 0x14, 0x17]:
        return False
    answer = b"".join(records)
    zeroed = answer[:RANDOM_POS] + b"\x00" * RANDOM_LEN + answer[RANDOM_POS + RANDOM_LEN :]
    client_random = hello[RANDOM_POS : RANDOM_POS + RANDOM_LEN]
    expected = hmac.new(key, client_random + zeroed, hashlib.sha256).digest()
    return hmac.compare_digest(answer[RANDOM_POS : RANDOM_POS + RANDOM_LEN], expected)


def describe_answer(records: list[bytes], how: str) -> dict:
    """What answered a ClientHello, as far as the cleartext shows."""
    if not records:
        return {"answered": "nothing", "ended": how}
    described = {"answered": "tls-server", "records": [r[0] for r in records], "ended": how}
    first = records[0]
    if first[0] == 0x16 and len(first) > 5 + 4 + 2 + 32 + 1 and first[5] == 2:
        session_len = first[5 + 4 + 2 + 32]
        suite_pos = 5 + 4 + 2 + 32 + 1 + session_len
        described["cipher_suite"] = first[suite_pos : suite_pos + 2].hex()
    elif first[0] == 0x15:
        described["answered"] = "tls-alert"
    elif first[:4] == b"HTTP":
        described = {"answered": "http", "response": first[:200].decode("latin-1")}
    return described


def app_records(data: bytes) -> bytes:
    return b"".join(
        b"\x17\x03\x03" + _u16(len(data[i : i + MAX_RECORD])) + data[i : i + MAX_RECORD]
        for i in range(0, len(data), MAX_RECORD)
    )


# --- connections ----------------------------------------------------------------------------


def connect(proxy: str, source: str | None, timeout: float) -> socket.socket:
    host, _, port = proxy.rpartition(":")
    return socket.create_connection(
        (host, int(port)), timeout=timeout, source_address=(source, 0) if source else None
    )


class Sink:
    """The stand-in Telegram data centre: did a relayed session arrive, and how much of it?"""

    def __init__(self, address: str, port: int):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, port))
        self.sock.listen(4)

    def wait(self, timeout: float, expected: int) -> dict:
        self.sock.settimeout(timeout)
        try:
            upstream, peer = self.sock.accept()
        except TimeoutError:
            return {"relayed": False, "sink_peer": None, "sink_bytes": 0}
        with upstream:
            upstream.settimeout(timeout)
            received = b""
            with contextlib.suppress(OSError):
                while len(received) < expected:
                    chunk = upstream.recv(4096)
                    if not chunk:
                        break
                    received += chunk
        return {"relayed": True, "sink_peer": peer[0], "sink_bytes": len(received)}

    def close(self) -> None:
        self.sock.close()


def relay(args, key: bytes, domain: str | None, sink: Sink) -> dict:
    """One session: handshake with the key, one packet, did it reach the sink?"""
    init, encryptor = handshake(key, dc_index=2)
    payload = os.urandom(32)
    packet = encryptor.update(len(payload).to_bytes(4, "little") + payload)
    result: dict = {"mode": "faketls" if domain else "obfuscated2"}
    started = time.monotonic()
    with connect(args.proxy, args.source, args.timeout) as client:
        if domain is None:
            client.sendall(init + packet)
        else:
            sni = args.sni or domain
            hello = client_hello(key, sni, int(time.time()) + args.time_offset)
            if args.save_hello:
                with open(args.save_hello, "wb") as handle:
                    handle.write(hello)
            client.sendall(hello)
            records, how = read_answer(client, args.timeout)
            result["accepted"] = answer_verifies(key, hello, records)
            if not result["accepted"]:
                result.update(describe_answer(records, how))
            else:
                result["answered"] = "proxy"
            # A real client goes on either way: a prober cannot tell by stopping here.
            with contextlib.suppress(OSError):
                client.sendall(CHANGE_CIPHER_SPEC + app_records(init + packet))
        wait = args.timeout if result.get("accepted", True) else args.sink_wait
        result.update(sink.wait(wait, 64 + len(packet)))
    result["seconds"] = round(time.monotonic() - started, 3)
    return result


def replay(args, key: bytes) -> dict:
    with open(args.replay, "rb") as handle:
        hello = handle.read()
    counts = {"accepted": 0, "masked": 0, "dropped": 0}
    for _ in range(args.count):
        try:
            with connect(args.proxy, args.source, args.timeout) as client:
                client.sendall(hello)
                records, _how = read_answer(client, args.timeout)
        except OSError:
            records = []
        if answer_verifies(key, hello, records):
            counts["accepted"] += 1
        elif records:
            counts["masked"] += 1
        else:
            counts["dropped"] += 1
    return {"mode": "replay", "count": args.count, **counts, "relayed": False}


def certificate_names(der: bytes) -> dict:
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = san.value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return {"subject": cert.subject.rfc4514_string(), "san": names}


def probe_tls(args, sni: str) -> dict:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # a prober looks at whatever certificate it gets
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    result: dict = {"mode": "probe-tls"}
    try:
        with (
            connect(args.proxy, args.source, args.timeout) as raw,
            context.wrap_socket(raw, server_hostname=sni) as tls,
        ):
            result.update(answered="tls-server", version=tls.version())
            result.update(certificate_names(tls.getpeercert(binary_form=True)))
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
            result["response"] = _read_some(tls, args.timeout)
    except (ssl.SSLError, OSError) as error:
        result.update(answered="nothing", error=type(error).__name__)
    return result


def _read_some(sock, timeout: float, limit: int = 4096) -> str:
    sock.settimeout(timeout)
    data = b""
    with contextlib.suppress(OSError, ssl.SSLError):
        while len(data) < limit:
            chunk = sock.recv(limit - len(data))
            if not chunk:
                break
            data += chunk
    return data[:300].decode("latin-1")


def probe_http(args, host: str) -> dict:
    result: dict = {"mode": "probe-http"}
    with connect(args.proxy, args.source, args.timeout) as client:
        client.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        response = _read_some(client, args.timeout)
    result.update(answered="http" if response else "nothing", response=response)
    return result


def outcome_matches(expect: str, result: dict, replayed: bool) -> bool:
    if replayed:
        return {
            "none-accepted": result["accepted"] == 0,
            "some-accepted": result["accepted"] > 0,
            "mask": result["accepted"] == 0 and result["masked"] == result["count"],
            "drop": result["accepted"] == 0 and result["masked"] == 0,
        }.get(expect, False)
    # "answered" is absent for obfuscated2, where the proxy says nothing either way.
    answered = result.get("answered")
    if expect == "relay":
        return result["relayed"] and result["sink_bytes"] >= 64
    if expect == "drop":
        return not result["relayed"] and answered in (None, "nothing")
    if expect == "mask":
        return not result["relayed"] and answered not in (None, "nothing", "proxy")
    return False


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--proxy", required=True, help="HOST:PORT of HAProxy or a replica")
    parser.add_argument("--secret", required=True, help="32 hex, dd + 32 hex, ee + 32 hex + domain")
    parser.add_argument("--sink-port", type=int, default=9443)
    parser.add_argument("--sink-address", default="0.0.0.0")
    parser.add_argument(
        "--expect",
        choices=["relay", "drop", "mask", "none-accepted", "some-accepted"],
        default="relay",
    )
    parser.add_argument("--timeout", type=float, default=8.0)
    parser.add_argument(
        "--sink-wait",
        type=float,
        default=3.0,
        help="seconds the sink waits when the handshake was not accepted",
    )
    parser.add_argument("--source", help="local address to connect from")
    parser.add_argument("--sni", help="server name to send instead of the secret's domain")
    parser.add_argument("--time-offset", type=int, default=0, help="added to the hello's time")
    parser.add_argument("--save-hello", help="FakeTLS: write the ClientHello sent to FILE")
    parser.add_argument("--replay", help="send the ClientHello saved in FILE again")
    parser.add_argument("--count", type=int, default=1, help="replay: how many times")
    parser.add_argument("--probe", choices=["tls", "http", "wrong-secret"])
    args = parser.parse_args()

    key, domain = parse_secret(args.secret)
    sni = args.sni or domain or "localhost"
    if args.replay:
        result = replay(args, key)
    elif args.probe in ("tls", "http"):
        sink = Sink(args.sink_address, args.sink_port)
        try:
            result = probe_tls(args, sni) if args.probe == "tls" else probe_http(args, sni)
            result.update(sink.wait(args.sink_wait, 64))
        finally:
            sink.close()
    else:
        if args.probe == "wrong-secret":
            key, domain = os.urandom(16), domain or sni
        sink = Sink(args.sink_address, args.sink_port)
        try:
            result = relay(args, key, domain, sink)
        finally:
            sink.close()
        if args.probe:
            result["mode"] = "probe-wrong-secret"
    print(json.dumps(result))
    return 0 if outcome_matches(args.expect, result, bool(args.replay)) else 1


if __name__ == "__main__":
    sys.exit(main())
