#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""TCP backend for tests: greets every connection with the address it sees, then echoes.

The first line sent to each client is ``peer <ip> <port> backend <name>``, where <ip>
is the source address of the TCP connection as this backend sees it. Through HAProxy
with TPROXY this must be the real client address, not HAProxy's. Every further line
received is sent back unchanged, so a client can hold a connection open and prove it
still works. A line ``bulk <n>`` instead makes it send <n> bytes and close (throughput).

On SIGTERM (`docker stop`) it behaves like a well-mannered server: it stops listening at
once, finishes greeting the connections it has already accepted, then exits. Sessions
that are open at that moment end with it, as they would with any backend.

Environment: PORT (default 443), BACKEND_NAME (default: the hostname).
"""

import asyncio
import os
import signal
import socket
import sys

# Connections accepted but not greeted yet: a graceful stop waits for them.
pending_greetings: set[asyncio.Task] = set()


async def greet(writer: asyncio.StreamWriter, peer_ip: str, peer_port: int) -> None:
    name = os.environ.get("BACKEND_NAME") or socket.gethostname()
    writer.write(f"peer {peer_ip} {peer_port} backend {name}\n".encode())
    await writer.drain()


BULK_CHUNK = b"\0" * 65536


async def send_bulk(writer: asyncio.StreamWriter, size: int) -> None:
    """Send ``size`` bytes (throughput benchmark), then let the caller close."""
    while size > 0:
        chunk = BULK_CHUNK if size >= len(BULK_CHUNK) else BULK_CHUNK[:size]
        writer.write(chunk)
        size -= len(chunk)
        await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    peer_ip, peer_port = writer.get_extra_info("peername")[:2]
    print(f"accepted peer {peer_ip} {peer_port}", flush=True)
    greeting = asyncio.ensure_future(greet(writer, peer_ip, peer_port))
    pending_greetings.add(greeting)
    greeting.add_done_callback(pending_greetings.discard)
    try:
        await greeting
        while line := await reader.readline():
            if line.startswith(b"bulk "):
                await send_bulk(writer, int(line.split()[1]))
                break
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
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await stopping.wait()
    server.close()
    if pending_greetings:
        await asyncio.wait(pending_greetings, timeout=1.0)
    print("peer-echo stopped", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
