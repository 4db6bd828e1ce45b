#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Run the real mtprotoproxy (PyPI, unmodified) as an offline lab MTProxy.

Interface, as telegrammessenger/proxy: ``SECRET`` (32 hex; several comma-separated)
and port 443 inside the container. The lab must never dial out, so this launcher
configures and wraps mtprotoproxy 1.0.6 as follows:

* no middle proxy and no advertising tag, so no fetch of Telegram's proxy config;
* no masking/fronting host: clients that fail the handshake are dropped, not relayed;
* no public IP detection: mtprotoproxy's ``init_ip_info`` (HTTP to ident.me) is not
  called; the address comes from ``LAB_PUBLIC_IP`` (default 127.0.0.1);
* the Telegram data centres are replaced by ``LAB_UPSTREAM`` (host:port, default
  127.0.0.1:9, where nothing listens): a client that completes the real MTProto
  obfuscated handshake is relayed there instead of to Telegram. Tests point it at a
  sink they own to prove the whole data path.

mtprotoproxy 1.0.6 predates Python 3.10 and passes ``loop=`` to
``asyncio.start_server``; the launcher drops that argument. It also logs the peer
address of every accepted connection (``accepted peer <ip> <port>``) so that tests can
see which client address the backend saw (TPROXY).
"""

import asyncio
import importlib.util
import os
import sys
import tempfile

MTPROTOPROXY_PATH = os.environ.get("MTPROTOPROXY_PATH", "/usr/local/bin/mtprotoproxy.py")


def read_secrets() -> list[str]:
    raw = os.environ.get("SECRET", "")
    secrets = [s.strip().lower() for s in raw.split(",") if s.strip()]
    if not secrets:
        sys.exit("mtproxy-lab: SECRET is empty (need 32 hex characters)")
    for index, secret in enumerate(secrets, start=1):
        if len(secret) != 32 or any(c not in "0123456789abcdef" for c in secret):
            sys.exit(f"mtproxy-lab: SECRET #{index} is not 32 hex characters")
    return secrets


def write_config(port: int, secrets: list[str]) -> str:
    users = {f"tg{i}": s for i, s in enumerate(secrets, start=1)}
    lines = [
        f"PORT = {port}",
        f"USERS = {users!r}",
        "AD_TAG = ''",
        "USE_MIDDLE_PROXY = False",
        "MASK = False",
        "TLS_ONLY = False",
        "SECURE_ONLY = False",
        "GET_TIME_PERIOD = 0",
        "PREFER_IPV6 = False",
        "LISTEN_ADDR_IPV6 = ''",
        f"STATS_PRINT_PERIOD = {int(os.environ.get('STATS_PRINT_PERIOD', '600'))}",
    ]
    fd, path = tempfile.mkstemp(prefix="mtproxy-lab-", suffix=".py")
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def load_mtprotoproxy(config_path: str):
    # mtprotoproxy reads its config path from argv at import time.
    sys.argv = ["mtprotoproxy", config_path]
    spec = importlib.util.spec_from_file_location("mtprotoproxy", MTPROTOPROXY_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def patch_start_server() -> None:
    original = asyncio.start_server

    # `loop` is accepted and dropped on purpose (removed from asyncio.start_server in 3.10).
    def start_server(callback, *args, loop=None, **kwargs):
        async def logged(reader, writer):
            peer = writer.get_extra_info("peername") or ("?", "?")
            print(f"accepted peer {peer[0]} {peer[1]}", flush=True)
            await callback(reader, writer)

        return original(logged, *args, **kwargs)

    asyncio.start_server = start_server


def main() -> None:
    secrets = read_secrets()
    port = int(os.environ.get("PORT", "443"))
    upstream_host, _, upstream_port = os.environ.get("LAB_UPSTREAM", "127.0.0.1:9").rpartition(":")
    config_path = write_config(port, secrets)
    mtp = load_mtprotoproxy(config_path)
    mtp.init_config()
    mtp.my_ip_info = {"ipv4": os.environ.get("LAB_PUBLIC_IP", "127.0.0.1"), "ipv6": None}
    mtp.TG_DATACENTERS_V4 = [upstream_host] * len(mtp.TG_DATACENTERS_V4)
    mtp.TG_DATACENTERS_V6 = [upstream_host] * len(mtp.TG_DATACENTERS_V6)
    mtp.TG_DATACENTER_PORT = int(upstream_port)
    patch_start_server()
    print(
        f"mtproxy-lab: mtprotoproxy listening on 0.0.0.0:{port} for {len(secrets)} secret(s), "
        f"upstream {upstream_host}:{upstream_port}, no middle proxy, no masking",
        flush=True,
    )
    asyncio.set_event_loop(asyncio.new_event_loop())
    mtp.main()


if __name__ == "__main__":
    main()
