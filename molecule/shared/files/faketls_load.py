#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""FakeTLS MTProxy load for the lab: many real sessions at once, checked end to end.

Every session is what mtproto_probe.py (next to this file, whose handshake code it uses) does
once: a FakeTLS ClientHello made with the secret, the proxy's answer checked (its HMAC), then
obfuscated2 in TLS application-data records. The lab MTProxy (LAB_UPSTREAM=<this client>:
--sink-port) relays the session to the sink, which this tool runs itself. A session counts
only when the whole path worked: the sink decrypts the relayed stream (obfuscated2 towards a
"data centre" has no secret), reads the session's packet and answers it on the same upstream
connection; the client decrypts that answer. The answer names the sink's upstream connection,
so a later packet proves it travels on the very connection that carried the first one.

  hold   open --count sessions and keep them: write --ready-file ({"held": N}), wait until
         --release-file exists, then send a second packet on each; it must reach the sink on
         the same upstream connection. Exit 0 iff all were held and exactly --expect-dropped
         (default 0) did not survive; a release file {"expect_dropped": K} overrides it.
  loop   --count complete sessions at --rate per second (0: as fast as --parallel allows);
         ok, failed (by kind), p50/p99 of the session time, the rate achieved. Exit 1 when
         more than --max-failed failed.
  bulk   --streams sessions each push --bytes to the sink, which counts and acknowledges
         the total; bytes, seconds, Mbit/s.
  rate   as many complete sessions as --parallel workers manage in --seconds.
  sink   only the sink (for clients run elsewhere with --no-sink), until SIGTERM/SIGINT or
         --seconds; then its counters.

Each prints one JSON line. The sink binds --sink-address:--sink-port (0.0.0.0:9443); with
--no-sink the client relies on the sink's answers alone (a sink runs elsewhere at the
replicas' LAB_UPSTREAM). Timeouts are generous; nothing here judges timing.

Standard library and cryptography only (Debian 12: python3-cryptography).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import os
import resource
import signal
import struct
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The probe sits next to this file (molecule copies both; tests run them in place).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mtproto_probe import (
    CHANGE_CIPHER_SPEC,
    MAX_RECORD,
    PROTO_TAG_SECURE,
    answer_verifies,
    client_hello,
    handshake,
    parse_secret,
)

# Our own frames inside the relayed MTProto stream (secure intermediate: 4-byte little
# endian length, then the payload). The proxy relays them as bytes (direct mode).
REQUEST = b"FTL1"
ANSWER = b"FTA1"
KIND_PING, KIND_BULK = 1, 2
# magic, kind, session id, sequence number, bulk bytes that follow, padding to 4n
REQUEST_FORMAT = struct.Struct("<4sB16sIQ3x")
# magic, sink connection id, session id, sequence number, bytes counted
ANSWER_FORMAT = struct.Struct("<4sQ16sIQ")
INIT_LEN = 64
CHUNK = 256 * 1024


class SessionError(Exception):
    """A session that did not make it; kind says where it stopped."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def aes_ctr(key: bytes, iv: bytes, skip: int = 0):
    """AES-CTR keystream object (encrypt == decrypt), positioned skip bytes in."""
    counter = (int.from_bytes(iv, "big") + skip // 16) % (1 << 128)
    cipher = Cipher(algorithms.AES(key), modes.CTR(counter.to_bytes(16, "big"))).encryptor()
    if skip % 16:
        cipher.update(b"\0" * (skip % 16))
    return cipher


def frame(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "little") + payload


def tls_records(data: bytes) -> bytes:
    view = memoryview(data)
    parts = []
    for start in range(0, len(data), MAX_RECORD):
        chunk = view[start : start + MAX_RECORD]
        parts.append(b"\x17\x03\x03" + len(chunk).to_bytes(2, "big"))
        parts.append(chunk)
    return b"".join(parts)


# --- the sink: a stand-in Telegram data centre ------------------------------------------------


class Sink:
    """Accepts the replicas' upstream connections, decrypts them, answers every packet."""

    def __init__(self):
        self.server: asyncio.AbstractServer | None = None
        self.ids = itertools.count(1)
        self.accepted = 0
        self.first_packets = 0
        self.packets = 0
        self.bulk_bytes = 0
        self.bad = 0
        self.open = 0
        self.sessions: dict[bytes, int] = {}  # session id -> connection that carried seq 1
        self.moved = 0  # a later packet of a session on another connection

    async def start(self, address: str, port: int) -> None:
        self.server = await asyncio.start_server(
            self.handle, address, port, reuse_address=True, backlog=4096
        )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    def counters(self) -> dict:
        return {
            "sink_accepted": self.accepted,
            "sink_first_packets": self.first_packets,
            "sink_packets": self.packets,
            "sink_bulk_bytes": self.bulk_bytes,
            "sink_bad": self.bad,
            "sink_moved": self.moved,
        }

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = next(self.ids)
        self.accepted += 1
        self.open += 1
        try:
            await self._serve(connection, reader, writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def _serve(self, connection: int, reader, writer) -> None:
        init = await reader.readexactly(INIT_LEN)
        # Towards a data centre obfuscated2 has no secret: key and IV are in the init.
        decryptor = aes_ctr(init[8:40], init[40:56])
        if decryptor.update(init)[56:60] != PROTO_TAG_SECURE:
            self.bad += 1
            return
        reverse = init[8:56][::-1]
        encryptor = aes_ctr(reverse[:32], reverse[32:48])
        offset = INIT_LEN
        while True:
            length = int.from_bytes(decryptor.update(await reader.readexactly(4)), "little")
            length &= 0x7FFFFFFF
            if length != REQUEST_FORMAT.size:
                self.bad += 1
                return
            payload = decryptor.update(await reader.readexactly(length))
            offset += 4 + length
            magic, kind, session, sequence, bulk = REQUEST_FORMAT.unpack(payload)
            if magic != REQUEST or kind not in (KIND_PING, KIND_BULK):
                self.bad += 1
                return
            self.packets += 1
            if sequence == 1:
                self.first_packets += 1
                self.sessions[session] = connection
            elif self.sessions.get(session, connection) != connection:
                self.moved += 1
            counted = 0
            if kind == KIND_BULK:
                # Counted, not decrypted: the keystream is moved past the data instead.
                while counted < bulk:
                    chunk = await reader.read(min(CHUNK, bulk - counted))
                    if not chunk:
                        raise asyncio.IncompleteReadError(b"", bulk - counted)
                    counted += len(chunk)
                self.bulk_bytes += counted
                offset += counted
                decryptor = aes_ctr(init[8:40], init[40:56], skip=offset)
            answer = ANSWER_FORMAT.pack(ANSWER, connection, session, sequence, counted)
            writer.write(encryptor.update(frame(answer)))
            await writer.drain()


# --- the client ----------------------------------------------------------------------------


class Session:
    """One FakeTLS MTProto session through the proxy."""

    def __init__(self, args, key: bytes, domain: str):
        self.args = args
        self.key = key
        self.domain = domain
        self.id = os.urandom(16)
        self.sequence = 0
        self.connection = 0  # the sink's upstream connection, from its first answer
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.encryptor = None
        self.decryptor = None
        self.plain = b""
        self.init = b""  # the obfuscated2 init, sent (after ChangeCipherSpec) with packet 1

    async def _io(self, awaitable, what: str):
        try:
            return await asyncio.wait_for(awaitable, self.args.io_timeout)
        except TimeoutError:
            raise SessionError("timeout", what) from None
        except asyncio.IncompleteReadError:
            raise SessionError("closed", what) from None
        except ConnectionResetError:
            raise SessionError("reset", what) from None
        except OSError as error:
            raise SessionError("error", f"{what}: {type(error).__name__}") from None

    async def open(self) -> None:
        host, _, port = self.args.proxy.rpartition(":")
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(host, int(port), limit=1 << 20), self.args.io_timeout
            )
        except (TimeoutError, OSError) as error:
            raise SessionError("connect", type(error).__name__) from None
        hello = client_hello(self.key, self.domain, int(time.time()))
        self.writer.write(hello)
        records = [await self._io(self._record(), "server hello") for _ in range(3)]
        if not answer_verifies(self.key, hello, records):
            raise SessionError("handshake", "the answer does not carry the secret's HMAC")
        init, self.encryptor = handshake(self.key, dc_index=2)
        reverse = init[8:56][::-1]
        self.decryptor = aes_ctr(hashlib.sha256(reverse[:32] + self.key).digest(), reverse[32:48])
        self.init = init

    async def _record(self) -> bytes:
        header = await self.reader.readexactly(5)
        return header + await self.reader.readexactly(int.from_bytes(header[3:5], "big"))

    def _send(self, data: bytes) -> None:
        if self.init:
            data, self.init = self.init + self.encryptor.update(data), b""
            self.writer.write(CHANGE_CIPHER_SPEC + tls_records(data))
        else:
            self.writer.write(tls_records(self.encryptor.update(data)))

    async def _answer(self) -> tuple:
        while True:
            if len(self.plain) >= 4:
                length = int.from_bytes(self.plain[:4], "little") & 0x7FFFFFFF
                if len(self.plain) >= 4 + length:
                    payload, self.plain = self.plain[4 : 4 + length], self.plain[4 + length :]
                    if length != ANSWER_FORMAT.size:
                        raise SessionError("garbled", f"answer of {length} bytes")
                    return ANSWER_FORMAT.unpack(payload)
            record = await self._io(self._record(), "answer")
            if record[0] == 0x17:
                self.plain += self.decryptor.update(record[5:])
            elif record[0] != 0x14:
                raise SessionError("garbled", f"TLS record type {record[0]}")

    async def exchange(self, kind: int = KIND_PING, bulk: int = 0) -> int:
        """One packet (and bulk bytes after it); returns what the sink counted."""
        self.sequence += 1
        self._send(frame(REQUEST_FORMAT.pack(REQUEST, kind, self.id, self.sequence, bulk)))
        if bulk:
            block = bytes(CHUNK)
            left = bulk
            while left:
                size = min(left, CHUNK)
                self._send(block[:size])
                left -= size
                await self._io(self.writer.drain(), "bulk")
        await self._io(self.writer.drain(), "send")
        magic, connection, session, sequence, counted = await self._answer()
        if magic != ANSWER or session != self.id or sequence != self.sequence:
            raise SessionError("garbled", "an answer for another packet")
        if self.connection and connection != self.connection:
            raise SessionError("moved", "answered on another upstream connection")
        self.connection = connection
        return counted

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def one_session(args, key: bytes, domain: str) -> float:
    """A complete session (handshake, one packet relayed and answered); its seconds."""
    started = time.monotonic()
    session = Session(args, key, domain)
    try:
        await session.open()
        await session.exchange()
    finally:
        session.close()
    return time.monotonic() - started


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(latencies: list[float], failures: list[dict], seconds: float) -> dict:
    kinds: dict[str, int] = {}
    for failure in failures:
        kinds[failure["kind"]] = kinds.get(failure["kind"], 0) + 1
    done = len(latencies) + len(failures)
    return {
        "ok": len(latencies),
        "failed": len(failures),
        "attempts": done,
        "failure_kinds": kinds,
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "seconds": round(seconds, 3),
        "achieved_per_s": round(done / seconds, 1) if seconds else 0.0,
        "sessions_per_s": round(len(latencies) / seconds, 1) if seconds else 0.0,
    }


async def run_loop(args, key: bytes, domain: str) -> tuple[dict, int]:
    latencies: list[float] = []
    failures: list[dict] = []
    limit = asyncio.Semaphore(args.parallel)
    started_wall, started = time.time(), time.monotonic()

    async def attempt() -> None:
        # When the session started, and when it failed: a replica that dies loses only the
        # sessions it had already accepted, which started before its death.
        began = time.time()
        try:
            latencies.append(await one_session(args, key, domain))
        except SessionError as error:
            failures.append(
                {
                    "kind": error.kind,
                    "started_unix": round(began, 3),
                    "at_unix": round(time.time(), 3),
                }
            )
        finally:
            limit.release()

    tasks = []
    for index in range(args.count):
        if args.rate > 0:
            delay = started + index / args.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await limit.acquire()
        tasks.append(asyncio.ensure_future(attempt()))
    await asyncio.gather(*tasks)
    result = {"mode": "loop", "count": args.count, "rate": args.rate}
    result.update(summary(latencies, failures, time.monotonic() - started))
    result.update(
        started_at=round(started_wall, 3),
        ended_at=round(time.time(), 3),
        failures=failures[:50],
    )
    return result, 0 if len(failures) <= args.max_failed else 1


async def run_rate(args, key: bytes, domain: str) -> tuple[dict, int]:
    latencies: list[float] = []
    failures: list[dict] = []
    started = time.monotonic()
    deadline = started + args.seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            try:
                latencies.append(await one_session(args, key, domain))
            except SessionError as error:
                failures.append({"kind": error.kind, "at_unix": round(time.time(), 3)})

    await asyncio.gather(*(worker() for _ in range(args.parallel)))
    result = {"mode": "rate", "parallel": args.parallel}
    result.update(summary(latencies, failures, time.monotonic() - started))
    result["failures"] = failures[:50]
    return result, 0


async def run_bulk(args, key: bytes, domain: str) -> tuple[dict, int]:
    sessions = [Session(args, key, domain) for _ in range(args.streams)]
    failures: list[str] = []
    try:
        await asyncio.gather(*(s.open() for s in sessions))
        started = time.monotonic()

        async def push(session: Session) -> int:
            try:
                return await session.exchange(KIND_BULK, args.bytes)
            except SessionError as error:
                failures.append(error.kind)
                return 0

        counted = await asyncio.gather(*(push(s) for s in sessions))
        seconds = time.monotonic() - started
    except SessionError as error:
        return {"mode": "bulk", "error": str(error), "failure_kinds": {error.kind: 1}}, 1
    finally:
        for session in sessions:
            session.close()
    total = sum(counted)
    result = {
        "mode": "bulk",
        "streams": args.streams,
        "bytes": total,
        "expected_bytes": args.bytes * args.streams,
        "seconds": round(seconds, 3),
        "mbit_per_s": round(total * 8 / seconds / 1e6, 1) if seconds else 0.0,
        "failures": failures,
    }
    return result, 0 if total == args.bytes * args.streams else 1


async def wait_for_file(path: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def run_hold(args, key: bytes, domain: str) -> tuple[dict, int]:
    limit = asyncio.Semaphore(args.parallel)
    held: list[Session] = []
    failures: dict[str, int] = {}

    async def open_one() -> None:
        async with limit:
            session = Session(args, key, domain)
            try:
                await session.open()
                await session.exchange()
                held.append(session)
            except SessionError as error:
                failures[error.kind] = failures.get(error.kind, 0) + 1
                session.close()

    started = time.monotonic()
    await asyncio.gather(*(open_one() for _ in range(args.count)))
    opened_s = time.monotonic() - started
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"held": len(held), "open_failures": failures}, handle)
    os.replace(tmp, args.ready_file)
    released = await wait_for_file(args.release_file, args.timeout)
    expect_dropped = args.expect_dropped
    if released:
        # The release file may say how many drops to expect (the number of sessions on a
        # replica that was killed is known only once they are held): {"expect_dropped": K}.
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            expect_dropped = int(json.loads(Path(args.release_file).read_text())["expect_dropped"])

    survived = 0
    lost: dict[str, int] = {}

    async def check(session: Session) -> None:
        nonlocal survived
        async with limit:
            try:
                await session.exchange()
                survived += 1
            except SessionError as error:
                lost[error.kind] = lost.get(error.kind, 0) + 1
            finally:
                session.close()

    await asyncio.gather(*(check(s) for s in held))
    dropped = len(held) - survived
    result = {
        "mode": "hold",
        "count": args.count,
        "held": len(held),
        "survived": survived,
        "dropped": dropped,
        "open_failures": failures,
        "drop_kinds": lost,
        "open_seconds": round(opened_s, 2),
        "released": released,
        "expect_dropped": expect_dropped,
    }
    ok = len(held) == args.count and dropped == expect_dropped and released
    return result, 0 if ok else 1


async def run_sink(args, sink: Sink) -> tuple[dict, int]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), args.seconds if args.seconds > 0 else None)
    return {"mode": "sink"}, 0


async def main_async(args) -> tuple[dict, int]:
    key, domain = parse_secret(args.secret) if args.secret else (b"", None)
    if args.command != "sink" and domain is None:
        raise SystemExit("--secret: a FakeTLS secret (ee + 32 hex + hex domain) is needed")
    sink = None
    if args.command == "sink" or not args.no_sink:
        sink = Sink()
        await sink.start(args.sink_address, args.sink_port)
    try:
        if args.command == "sink":
            result, rc = await run_sink(args, sink)
        else:
            runner = {"hold": run_hold, "loop": run_loop, "bulk": run_bulk, "rate": run_rate}
            result, rc = await runner[args.command](args, key, domain)
        if sink is not None:
            await asyncio.sleep(0.2)  # the last answers' bookkeeping
            result.update(sink.counters())
    finally:
        if sink is not None:
            await sink.close()
    return result, rc


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, client: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--sink-port", type=int, default=9443)
        sub.add_argument("--sink-address", default="0.0.0.0")
        if client:
            sub.add_argument("--proxy", required=True, help="HOST:PORT of HAProxy or a replica")
            sub.add_argument("--secret", required=True, help="ee + 32 hex + hex domain")
            if name == "hold":
                sub.add_argument(
                    "--timeout", type=float, default=600.0, help="longest wait for the release"
                )
                sub.add_argument("--io-timeout", type=float, default=30.0, help="per network step")
            else:
                sub.add_argument("--timeout", type=float, default=30.0, help="per network step")
            sub.add_argument(
                "--no-sink", action="store_true", help="the sink runs elsewhere (`sink`)"
            )
        return sub

    hold = command("hold", "hold sessions until released, then check each")
    hold.add_argument("--count", type=int, required=True)
    hold.add_argument("--ready-file", required=True)
    hold.add_argument("--release-file", required=True)
    hold.add_argument("--parallel", type=int, default=64, help="sessions opened at once")
    hold.add_argument("--expect-dropped", type=int, default=0)

    loop = command("loop", "a paced loop of complete sessions")
    loop.add_argument("--count", type=int, required=True)
    loop.add_argument("--rate", type=float, required=True, help="sessions per second; 0: flat out")
    loop.add_argument("--parallel", type=int, default=32)
    loop.add_argument("--max-failed", type=int, default=0)

    bulk = command("bulk", "push bytes through to the sink")
    bulk.add_argument("--bytes", type=int, required=True, help="per stream")
    bulk.add_argument("--streams", type=int, default=1)

    rate = command("rate", "as many complete sessions as possible")
    rate.add_argument("--seconds", type=float, required=True)
    rate.add_argument("--parallel", type=int, default=8)

    sink = command("sink", "only the sink", client=False)
    sink.add_argument("--seconds", type=float, default=0, help="0: until SIGTERM")
    sink.set_defaults(secret="", no_sink=False)
    return top


def main() -> int:
    args = parser().parse_args()
    if args.command not in ("hold", "sink"):
        args.io_timeout = args.timeout
    fd_limit = raise_fd_limit()
    result, rc = asyncio.run(main_async(args))
    result["fd_limit"] = fd_limit
    if args.command == "sink":
        result.pop("mode", None)
        result = {"mode": "sink", **result}
    print(json.dumps(result), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
