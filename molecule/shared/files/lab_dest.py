#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Lab destination for the Xray scenario.

:80   HTTP: answers every request with ``peer <ip> host <Host header>`` and appends the
      same line, with a timestamp, to --log. Tests read which address (proxy or backend)
      reached which destination name. ``GET /bulk/<bytes>`` answers that many bytes instead
      (at most 1 GiB; throughput benchmarks), logged the same way.
:443  TLS 1.3 server with a self-signed certificate: the REALITY target ("dest") of the lab
      Xray inbounds, so nothing is fetched from a real site.
:8443 TLS 1.2 only server (maximum version TLS 1.2) with the same certificate and handler: a
      target the pre-flight check (edgerelay.proxy.reality_target_check) must refuse, as
      REALITY needs TLS 1.3 (xray_reality_target: 172.29.0.20:8443).
:7000 TCP echo: greets ``peer <ip> <port> backend dest`` (the address that reached it),
      then echoes every line; the held connections of the user tests live on it.
"""

import argparse
import http.server
import socketserver
import ssl
import subprocess
import threading
import time


def make_handler(log_path: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            line = f"peer {self.client_address[0]} host {self.headers.get('Host', '-')}"
            with open(log_path, "a") as log:
                log.write(f"{time.time():.3f} {line}\n")
            size = self.path.removeprefix("/bulk/")
            if self.path.startswith("/bulk/") and size.isdigit() and int(size) <= 1 << 30:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", size)
                self.end_headers()
                chunk, left = bytes(65536), int(size)
                while left > 0:
                    self.wfile.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
                return
            body = (line + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        peer, port = self.client_address[:2]
        self.request.sendall(f"peer {peer} {port} backend dest\n".encode())
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            self.request.sendall(data)


# socketserver's listen backlog is 5: a burst of connections (the benchmark holds 100 open
# through Xray) would lose SYNs and wait for their retransmission.
BACKLOG = 1024


class EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = BACKLOG


class HTTPServer(http.server.ThreadingHTTPServer):
    request_queue_size = BACKLOG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log", default="/root/dest.log")
    parser.add_argument("--cert-dir", default="/root")
    args = parser.parse_args()
    cert, key = f"{args.cert_dir}/dest.crt", f"{args.cert_dir}/dest.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "7",
            "-subj",
            "/CN=reality.lab.example",
            "-addext",
            "subjectAltName=DNS:reality.lab.example",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    handler = make_handler(args.log)
    plain = HTTPServer(("0.0.0.0", 80), handler)
    tls = HTTPServer(("0.0.0.0", 443), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    tls12 = HTTPServer(("0.0.0.0", 8443), handler)
    context12 = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context12.maximum_version = ssl.TLSVersion.TLSv1_2
    context12.load_cert_chain(cert, key)
    tls12.socket = context12.wrap_socket(tls12.socket, server_side=True)
    threading.Thread(target=tls12.serve_forever, daemon=True).start()
    print("lab-dest: HTTP on :80, TLS 1.3 on :443, TLS 1.2 only on :8443", flush=True)
    echo = EchoServer(("0.0.0.0", 7000), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    plain.serve_forever()


if __name__ == "__main__":
    main()
