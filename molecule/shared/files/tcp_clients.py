#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Test clients for the lab, talking to edgerelay/peer-echo backends through HAProxy.

Every backend greets a connection with ``peer <ip> <port> backend <name>`` (the address
it sees, i.e. the client's real address when TPROXY works) and then echoes lines.

  loop  short connections at a steady rate; each must be greeted within --timeout.
        Prints a JSON summary (attempts, failures, per-backend counts, peers seen,
        connections per second, time to the greeting p50/p99).
  socks-loop  the same with HTTP GETs to --host through a SOCKS5 proxy (an Xray client),
        each on a new connection; the lab destination's answer names the address that
        reached it.
  socks-bulk  one HTTP download of --bytes (``GET /bulk/<bytes>``, which the lab
        destination answers) from --host through a SOCKS5 proxy; prints MB/s.
  bulk  one connection that receives --bytes (throughput); prints MB/s.
  hold  opens --count long-lived connections (to --target, or with --host through the SOCKS5
        proxy --target to --host:--port, e.g. the lab destination's echo port 7000) and
        keeps exchanging echo lines on all of them every second until --stop-file appears
        or --duration passes. Writes its
        state (per connection: backend, alive, time of the last good echo) to
        --state-file once a second.

Bounded in count and time; only ever connects to --target (the SOCKS5 proxy asks for --host).
"""

import argparse
import json
import os
import re
import socket
import sys
import threading
import time
from collections import Counter


def parse_target(target: str) -> tuple[str, int]:
    host, _, port = target.rpartition(":")
    return host, int(port)


def greet(sock: socket.socket) -> dict:
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(256)
        if not chunk:
            raise ConnectionError("closed before the greeting")
        line += chunk
    fields = line.decode().split()
    if len(fields) != 5 or fields[0] != "peer" or fields[3] != "backend":
        raise ConnectionError(f"unexpected greeting {line!r}")
    return {"peer": fields[1], "backend": fields[4]}


def socks_connect(proxy: tuple[str, int], host: str, port: int, timeout: float) -> socket.socket:
    """A new connection through a SOCKS5 proxy (no auth, remote name resolution) to
    host:port; the caller closes it."""
    sock = socket.create_connection(proxy, timeout=timeout)
    try:
        sock.settimeout(timeout)
        sock.sendall(b"\x05\x01\x00")
        if _recv_exact(sock, 2) != b"\x05\x00":
            raise ConnectionError("SOCKS5 method refused")
        name = host.encode()
        sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
        head = _recv_exact(sock, 4)
        if head[1] != 0:
            raise ConnectionError(f"SOCKS5 connect failed with code {head[1]}")
        # Bound address and port: IPv4, IPv6 or a name with its length first.
        if head[3] == 3:
            _recv_exact(sock, _recv_exact(sock, 1)[0] + 2)
        else:
            _recv_exact(sock, (16 if head[3] == 4 else 4) + 2)
    except BaseException:
        sock.close()
        raise
    return sock


def socks_http_get(proxy: tuple[str, int], host: str, port: int, timeout: float) -> dict:
    """One HTTP GET through a SOCKS5 proxy (no auth, remote name resolution), on a new
    connection. The lab destination answers ``peer <ip> host <name>``: the address that
    reached it (proxy or backend) is returned as the peer."""
    with socks_connect(proxy, host, port, timeout) as sock:
        sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        # Read the headers, then exactly Content-Length bytes, and close (as curl does):
        # waiting for the proxy to close after the destination did adds Xray's idle timers.
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed in the headers: {response[:80]!r}")
            response += chunk
        head, _, body_bytes = response.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if not length:
            raise ConnectionError(f"no Content-Length in {head[:80]!r}")
        while len(body_bytes) < int(length.group(1)):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed in the body")
            body_bytes += chunk
        response = head + b"\r\n\r\n" + body_bytes
    body = body_bytes.decode(errors="replace").split()
    if not response.startswith(b"HTTP/1.") or b" 200 " not in response.split(b"\r\n", 1)[0]:
        raise ConnectionError(f"unexpected response {response[:80]!r}")
    if len(body) != 4 or body[0] != "peer" or body[2] != "host":
        raise ConnectionError(f"unexpected body {body!r}")
    return {"peer": body[1], "backend": body[1]}


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the SOCKS5 proxy")
        data += chunk
    return data


def percentile(values: list, fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far (all cores; /proc/stat is not
    namespaced, so this counts the client, the proxy, the backend and the kernel)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def receive_until(sock: socket.socket, received: int, total: int) -> int:
    """Receive until ``total`` bytes (``received`` of them already in hand) or EOF."""
    view = memoryview(bytearray(1 << 20))
    while received < total:
        n = sock.recv_into(view)
        if n == 0:
            break
        received += n
    return received


def report_bulk(received: int, total: int, started: float, busy_before: float) -> int:
    """Print the JSON summary of one download; 0 if all ``total`` bytes came."""
    seconds = time.monotonic() - started
    busy = machine_busy_seconds() - busy_before
    print(
        json.dumps(
            {
                "bytes": received,
                "seconds": round(seconds, 4),
                "mb_per_s": round(received / seconds / 1e6, 1),
                "machine_busy_s": round(busy, 3),
            }
        )
    )
    return 0 if received == total else 1


def run_bulk(args: argparse.Namespace) -> int:
    """Receive --bytes through one connection; print seconds and MB/s."""
    target = parse_target(args.target)
    with socket.create_connection(target, timeout=args.timeout) as sock:
        sock.settimeout(args.timeout)
        greet(sock)
        started = time.monotonic()
        busy_before = machine_busy_seconds()
        sock.sendall(f"bulk {args.bytes}\n".encode())
        received = receive_until(sock, 0, args.bytes)
    return report_bulk(received, args.bytes, started, busy_before)


def run_socks_bulk(args: argparse.Namespace) -> int:
    """Download --bytes from --host (``GET /bulk/<bytes>``) through the SOCKS5 proxy
    --target on a new connection; print seconds and MB/s (request sent to last byte)."""
    proxy = parse_target(args.target)
    with socks_connect(proxy, args.host, args.port, args.timeout) as sock:
        started = time.monotonic()
        busy_before = machine_busy_seconds()
        request = (
            f"GET /bulk/{args.bytes} HTTP/1.1\r\nHost: {args.host}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed in the headers: {response[:80]!r}")
            response += chunk
        head, _, rest = response.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        if b" 200 " not in head.split(b"\r\n", 1)[0] or not length:
            raise ConnectionError(f"unexpected response {head[:80]!r}")
        if int(length.group(1)) != args.bytes:
            raise ConnectionError(f"Content-Length {length.group(1)!r}, asked for {args.bytes}")
        received = receive_until(sock, len(rest), args.bytes)
    return report_bulk(received, args.bytes, started, busy_before)


def run_loop(args: argparse.Namespace) -> int:
    """--count short connections (connect, read the greeting, close) at --rate per second
    (0: as fast as possible) from --parallel workers; print counts and first-byte times."""
    target = parse_target(args.target)
    if args.command == "socks-loop":

        def probe() -> dict:
            return socks_http_get(target, args.host, args.port, args.timeout)

    else:

        def probe() -> dict:
            with socket.create_connection(target, timeout=args.timeout) as sock:
                sock.settimeout(args.timeout)
                return greet(sock)

    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    latencies = []
    backends: Counter = Counter()
    peers: Counter = Counter()
    failures = []
    lock = threading.Lock()
    started_at = time.time()
    started = time.monotonic()
    busy_before = machine_busy_seconds()

    def worker(first: int) -> None:
        for i in range(first, args.count, args.parallel):
            due = started + i * interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            t0 = time.monotonic()
            try:
                info = probe()
                with lock:
                    latencies.append(time.monotonic() - t0)
                    backends[info["backend"]] += 1
                    peers[info["peer"]] += 1
            except OSError as exc:
                with lock:
                    failures.append(
                        {
                            "n": i,
                            "at": round(t0 - started, 3),
                            "at_unix": round(started_at + (t0 - started), 3),
                            "error": str(exc),
                        }
                    )

    workers = [threading.Thread(target=worker, args=(w,)) for w in range(args.parallel)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    busy = machine_busy_seconds() - busy_before
    failures.sort(key=lambda failure: failure["n"])
    summary = {
        "attempts": args.count,
        "failed": len(failures),
        "failures": failures[: args.max_failures],
        "backends": dict(backends),
        "peers": dict(peers),
        "seconds": round(time.monotonic() - started, 3),
        "started_at": started_at,
        "ended_at": time.time(),
        "per_second": round(args.count / max(time.monotonic() - started, 1e-9), 1),
        "first_byte_ms_p50": round(percentile(latencies, 0.50) * 1000, 3),
        "first_byte_ms_p99": round(percentile(latencies, 0.99) * 1000, 3),
        "machine_busy_s": round(busy, 3),
    }
    print(json.dumps(summary))
    return 0


class Held:
    def __init__(self, index: int, target: tuple[str, int], timeout: float, via=None):
        self.index = index
        if via:  # (SOCKS5 proxy, destination name, destination port)
            self.sock = socks_connect(via[0], via[1], via[2], timeout)
        else:
            self.sock = socket.create_connection(target, timeout=timeout)
        self.sock.settimeout(timeout)
        info = greet(self.sock)
        self.backend = info["backend"]
        self.peer = info["peer"]
        self.alive = True
        self.last_ok = time.time()
        self.error = None
        self.counter = 0

    def echo(self) -> None:
        if not self.alive:
            return
        self.counter += 1
        line = f"ping {self.index} {self.counter}\n".encode()
        try:
            self.sock.sendall(line)
            got = b""
            while not got.endswith(b"\n"):
                chunk = self.sock.recv(256)
                if not chunk:
                    raise ConnectionError("closed by the proxy")
                got += chunk
            if got != line:
                raise ConnectionError(f"bad echo {got!r}")
            self.last_ok = time.time()
        except OSError as exc:
            self.alive = False
            self.error = str(exc)
            self.sock.close()


def run_hold(args: argparse.Namespace) -> int:
    target = parse_target(args.target)
    via = (target, args.host, args.port) if args.host else None
    held = [Held(i, target, args.timeout, via) for i in range(args.count)]
    deadline = time.monotonic() + args.duration

    def write_state() -> None:
        state = {
            "updated": time.time(),
            "connections": [
                {
                    "index": h.index,
                    "backend": h.backend,
                    "peer": h.peer,
                    "alive": h.alive,
                    "last_ok": h.last_ok,
                    "error": h.error,
                }
                for h in held
            ],
        }
        tmp = args.state_file + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(state, handle)
        os.replace(tmp, args.state_file)

    while time.monotonic() < deadline and not os.path.exists(args.stop_file):
        threads = [threading.Thread(target=h.echo) for h in held]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        write_state()
        time.sleep(1)
    for h in held:
        if h.alive:
            h.sock.close()
    write_state()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    loop = sub.add_parser("loop")
    loop.add_argument("--target", required=True)
    loop.add_argument("--count", type=int, default=500)
    loop.add_argument(
        "--rate", type=float, default=40.0, help="connections per second (0: flat out)"
    )
    loop.add_argument("--timeout", type=float, default=5.0)
    loop.add_argument("--parallel", type=int, default=1, help="concurrent workers")
    loop.add_argument("--max-failures", type=int, default=20, help="failures listed in full")
    socks = sub.add_parser("socks-loop", help="loop of HTTP GETs through a SOCKS5 proxy")
    socks.add_argument("--target", required=True, help="the SOCKS5 proxy, host:port")
    socks.add_argument("--host", required=True, help="destination name (resolved remotely)")
    socks.add_argument("--port", type=int, default=80)
    socks.add_argument("--count", type=int, default=500)
    socks.add_argument("--rate", type=float, default=20.0, help="requests per second")
    socks.add_argument("--timeout", type=float, default=10.0)
    socks.add_argument("--parallel", type=int, default=1, help="concurrent workers")
    socks.add_argument("--max-failures", type=int, default=20, help="failures listed in full")
    sbulk = sub.add_parser("socks-bulk", help="one HTTP download through a SOCKS5 proxy")
    sbulk.add_argument("--target", required=True, help="the SOCKS5 proxy, host:port")
    sbulk.add_argument("--host", required=True, help="destination name (resolved remotely)")
    sbulk.add_argument("--port", type=int, default=80)
    sbulk.add_argument("--bytes", type=int, default=64 << 20)
    sbulk.add_argument("--timeout", type=float, default=30.0)
    bulk = sub.add_parser("bulk")
    bulk.add_argument("--target", required=True)
    bulk.add_argument("--bytes", type=int, default=64 << 20)
    bulk.add_argument("--timeout", type=float, default=30.0)
    hold = sub.add_parser("hold")
    hold.add_argument("--target", required=True)
    hold.add_argument("--count", type=int, default=24)
    hold.add_argument("--duration", type=float, default=600.0)
    hold.add_argument("--timeout", type=float, default=5.0)
    hold.add_argument("--state-file", required=True)
    hold.add_argument("--stop-file", required=True)
    hold.add_argument(
        "--host", help="with it, --target is a SOCKS5 proxy and the connections go to --host"
    )
    hold.add_argument("--port", type=int, default=7000, help="destination port with --host")
    args = parser.parse_args()
    if args.command in ("bulk", "socks-bulk"):
        if args.bytes > 1 << 32:
            parser.error("bounded: at most 4 GiB")
        return run_bulk(args) if args.command == "bulk" else run_socks_bulk(args)
    if args.count > 5000 or (args.command == "hold" and args.duration > 3600):
        parser.error("bounded: at most 5000 connections and one hour")
    return run_loop(args) if args.command in ("loop", "socks-loop") else run_hold(args)


if __name__ == "__main__":
    sys.exit(main())
