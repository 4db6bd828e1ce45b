#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""A masking host for the lab: what MTProxy relays bad clients to (MTPROXY_MASK_HOST).

A TLS 1.3-only HTTPS server (Python ssl) with a self-signed certificate that it makes at
start for --name (cryptography; subject CN and DNS name = --name), answering every request
with a fixed page that names the host. Plain HTTP on the same port gets what a real HTTPS
site answers (400, "plain HTTP request was sent to HTTPS port"). Each connection is logged
as one JSON line to --log: kind (tls, plain), peer, SNI, whether the TLS handshake finished,
and the request line.

  mask_server.py --name mask.lab.example --port 8443 --log /run/mask-server.jsonl

Standard library and cryptography only (Debian 12: python3-cryptography).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PAGE = "edgerelay mask host {name}: this is an ordinary web site\n"


def self_signed(name: str, directory: str) -> tuple[str, str]:
    """A fresh P-256 key and a self-signed certificate for name; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(cert.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


class MaskServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, name: str, context: ssl.SSLContext, log: str):
        super().__init__(address, MaskHandler)
        self.name, self.context, self.log_path = name, context, log
        self.lock = threading.Lock()

    def record(self, entry: dict) -> None:
        with self.lock, open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"time": round(time.time(), 3), **entry}) + "\n")


class MaskHandler(socketserver.BaseRequestHandler):
    server: MaskServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        entry = {"peer": self.client_address[0], "peer_port": self.client_address[1]}
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first:
            self.server.record({**entry, "kind": "empty"})
            return
        if first != b"\x16":
            request = self._read_request(sock)
            body = b"400 Bad Request: the plain HTTP request was sent to HTTPS port\n"
            self._answer(sock, "400 Bad Request", body)
            self.server.record({**entry, "kind": "plain", "request": request})
            return
        sni: dict = {}
        context = self.server.context
        try:
            with context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False) as tls:
                tls.sni_holder = sni
                try:
                    tls.do_handshake()
                except (ssl.SSLError, OSError) as error:
                    self.server.record(
                        {
                            **entry,
                            "kind": "tls",
                            "sni": sni.get("name"),
                            "handshake": False,
                            "error": type(error).__name__,
                        }
                    )
                    return
                request = self._read_request(tls)
                self._answer(tls, "200 OK", PAGE.format(name=self.server.name).encode())
                self.server.record(
                    {
                        **entry,
                        "kind": "tls",
                        "sni": sni.get("name"),
                        "handshake": True,
                        "version": tls.version(),
                        "request": request,
                    }
                )
        except OSError:
            return

    @staticmethod
    def _read_request(sock) -> str:
        data = b""
        with contextlib.suppress(OSError, ssl.SSLError):
            while b"\r\n\r\n" not in data and len(data) < 8192:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.split(b"\r\n", 1)[0].decode("latin-1")

    @staticmethod
    def _answer(sock, status: str, body: bytes) -> None:
        head = (
            f"HTTP/1.1 {status}\r\nServer: edgerelay-mask\r\nContent-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(OSError, ssl.SSLError):
            sock.sendall(head.encode() + body)


def make_context(name: str, directory: str) -> ssl.SSLContext:
    cert, key = self_signed(name, directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)

    def remember_sni(tls, server_name, _context):
        holder = getattr(tls, "sni_holder", None)
        if holder is not None:
            holder["name"] = server_name

    context.sni_callback = remember_sni
    return context


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--name", default="mask.lab.example")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--log", default="/run/mask-server.jsonl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mask-server-") as directory:
        context = make_context(args.name, directory)
        server = MaskServer((args.address, args.port), args.name, context, args.log)
        print(f"mask server {args.name} on {args.address}:{args.port}", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
