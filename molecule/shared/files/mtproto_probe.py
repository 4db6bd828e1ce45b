#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""MTProxy client probe for the lab: a real obfuscated2 handshake through HAProxy.

The probe opens a sink (a stand-in for a Telegram data centre that the lab MTProxy is
configured to relay to, LAB_UPSTREAM), connects to the proxy, performs the MTProto
obfuscated2 client handshake with the given secret and sends one packet. A backend that
accepts the secret relays the session to the sink; one that rejects it drops the client.

Prints one JSON line and exits 0 when the outcome matches --expect:
  relay  the sink received the relayed session (the secret was accepted)
  drop   nothing reached the sink within --timeout seconds (the secret was rejected)
"""

import argparse
import hashlib
import json
import os
import socket
import sys
import time

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proxy", required=True, help="HOST:PORT of HAProxy")
    parser.add_argument("--secret", required=True, help="32 hex, or dd + 32 hex")
    parser.add_argument("--sink-port", type=int, default=9443)
    parser.add_argument("--expect", choices=["relay", "drop"], default="relay")
    parser.add_argument("--timeout", type=float, default=8.0)
    args = parser.parse_args()

    secret_hex = args.secret.lower()
    if len(secret_hex) == 34 and secret_hex.startswith("dd"):
        secret_hex = secret_hex[2:]
    secret = bytes.fromhex(secret_hex)
    host, _, port = args.proxy.rpartition(":")

    sink = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sink.bind(("0.0.0.0", args.sink_port))
    sink.listen(4)
    sink.settimeout(args.timeout)

    hello, encryptor = handshake(secret, dc_index=2)
    payload = os.urandom(32)
    packet = encryptor.update(len(payload).to_bytes(4, "little") + payload)
    client = socket.create_connection((host, int(port)), timeout=args.timeout)
    client.sendall(hello + packet)

    result = {"relayed": False, "sink_peer": None, "sink_bytes": 0}
    started = time.monotonic()
    try:
        upstream, peer = sink.accept()
        upstream.settimeout(args.timeout)
        received = b""
        while len(received) < 64 + len(packet):
            chunk = upstream.recv(4096)
            if not chunk:
                break
            received += chunk
        result.update(relayed=True, sink_peer=peer[0], sink_bytes=len(received))
        upstream.close()
    except TimeoutError:
        pass
    result["seconds"] = round(time.monotonic() - started, 3)
    client.close()
    sink.close()
    print(json.dumps(result))
    ok = (
        result["relayed"] and result["sink_bytes"] >= 64
        if args.expect == "relay"
        else not result["relayed"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
