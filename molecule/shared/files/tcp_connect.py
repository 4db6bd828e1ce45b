#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Open --count TCP connections to HOST:PORT one after the other and close them again.

Prints one JSON line: {"target": ..., "connected": N, "failed": N, "errors": [...]}. A
connection counts as connected once the TCP handshake completed. With --send N it then sends
N random bytes (HAProxy waits for the client to speak first before it connects to a backend)
and waits up to --linger seconds for an answer or the end of the connection; a lab backend
logs the peer address of every connection it accepts. Exits 0 when the outcome matches --expect:
``connect`` (every connection was made) or ``fail`` (none was). Bounded in count and time.
"""

import argparse
import contextlib
import json
import os
import socket
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target", help="HOST:PORT")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--expect", choices=["connect", "fail"], default="connect")
    parser.add_argument("--send", type=int, default=0, help="bytes to send once connected")
    parser.add_argument("--linger", type=float, default=1.0)
    args = parser.parse_args()

    host, _, port = args.target.rpartition(":")
    connected, errors = 0, []
    for _ in range(max(1, min(args.count, 100))):
        try:
            with socket.create_connection((host, int(port)), timeout=args.timeout) as conn:
                connected += 1
                if args.send > 0:
                    conn.sendall(os.urandom(min(args.send, 4096)))
                    conn.settimeout(args.linger)
                    # A timeout or a reset: the connection was made all the same.
                    with contextlib.suppress(OSError):
                        conn.recv(4096)
        except OSError as exc:
            errors.append(type(exc).__name__)
    failed = len(errors)
    print(
        json.dumps(
            {"target": args.target, "connected": connected, "failed": failed, "errors": errors}
        )
    )
    ok = failed == 0 if args.expect == "connect" else connected == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
