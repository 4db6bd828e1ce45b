#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""TCP backend for tests: greets every connection with the address it sees, then echoes.

The first line sent to each client is ``peer <ip> <port> backend <name>``, where <ip>
is the source address of the TCP connection as this backend sees it. Through HAProxy
with TPROXY this must be the real client address, not HAProxy's. Every further line
received is sent back unchanged, so a client can hold a connection open and prove it
still works.

Environment: PORT (default 443), BACKEND_NAME (default: the hostname).
"""

import asyncio
import os
import socket
import sys


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer_ip, peer_port = writer.get_extra_info("peername")[:2]
    name = os.environ.get("BACKEND_NAME") or socket.gethostname()
    print(f"accepted peer {peer_ip} {peer_port}", flush=True)
    try:
        writer.write(f"peer {peer_ip} {peer_port} backend {name}\n".encode())
        await writer.drain()
        while line := await reader.readline():
            writer.write(line)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main() -> None:
    port = int(os.environ.get("PORT", "443"))
    server = await asyncio.start_server(handle, "0.0.0.0", port, reuse_address=True)
    print(f"peer-echo listening on 0.0.0.0:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
