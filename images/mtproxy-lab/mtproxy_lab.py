#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""The lab's MTProxy: the production launcher (edgerelay_mtprotoproxy.py, the real
mtprotoproxy 1.0.6) with the lab's never-dial-out settings added.

Everything the production image reads (MTPROXY_*) works unchanged. The lab adds:

* ``LAB_UPSTREAM`` (host:port, default 127.0.0.1:9, where nothing listens): replaces every
  Telegram data centre, so a client that completes the real handshake is relayed there.
  Tests point it at a sink they own to prove the whole data path;
* ``LAB_PUBLIC_IP`` (default 127.0.0.1): mtprotoproxy's own public address, never looked up;
* ``LAB_LISTEN_ADDR`` (default 0.0.0.0): the IPv4 listen address (tests on loopback);
* the line ``accepted peer <ip> <port>`` for every client: the address of the connection, or
  with MTPROXY_PROXY_PROTOCOL=1 the client address of the PROXY header, so that tests see
  which client address the backend saw (TPROXY or PROXY protocol).

It also stands in for telegrammessenger/proxy: without MTPROXY_USERS, ``SECRET`` (32 hex or
dd + 32 hex, several comma-separated) gives the users tg1..tgN; ``PORT`` and
``STATS_PRINT_PERIOD`` are read when their MTPROXY_ names are not set.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from pathlib import Path

LAUNCHER = "edgerelay_mtprotoproxy.py"
LAUNCHER_DIRS = (
    os.environ.get("EDGERELAY_LAUNCHER_DIR", ""),
    "/usr/local/lib/edgerelay",
    # A checkout: images/mtproxy-lab/ next to roles/.
    str(Path(__file__).resolve().parents[2] / "roles/mtproxy/files/images/mtprotoproxy"),
)


def import_launcher():
    # No __pycache__ next to the launcher: its directory is an image recipe whose files are
    # hashed (scripts/bootstrap.sh), and in the image it is read-only anyway.
    sys.dont_write_bytecode = True
    for directory in LAUNCHER_DIRS:
        path = Path(directory, LAUNCHER) if directory else None
        if path is not None and path.is_file():
            spec = importlib.util.spec_from_file_location("edgerelay_mtprotoproxy", path)
            module = importlib.util.module_from_spec(spec)
            sys.modules["edgerelay_mtprotoproxy"] = module
            spec.loader.exec_module(module)
            return module
    raise SystemExit(f"mtproxy-lab: {LAUNCHER} not found in {[d for d in LAUNCHER_DIRS if d]}")


launcher = import_launcher()


def legacy_environ(environ) -> dict[str, str]:
    """telegrammessenger/proxy's interface mapped onto the MTPROXY_ names."""
    environ = dict(environ)
    if not environ.get("MTPROXY_USERS", "").strip() and environ.get("SECRET", "").strip():
        users = []
        for index, secret in enumerate(environ["SECRET"].split(","), start=1):
            secret = secret.strip().lower()
            if len(secret) == 34 and secret.startswith("dd"):
                secret = secret[2:]
            if not launcher.HEX32.fullmatch(secret):
                raise launcher.SettingsError(f"SECRET #{index} is not 32 hex characters")
            users.append(f"tg{index}:{secret}")
        environ["MTPROXY_USERS"] = ",".join(users)
    for old, new in (
        ("PORT", "MTPROXY_PORT"),
        ("STATS_PRINT_PERIOD", "MTPROXY_STATS_PRINT_PERIOD"),
    ):
        if environ.get(old, "").strip() and not environ.get(new, "").strip():
            environ[new] = environ[old]
    return environ


def upstream(environ) -> tuple[str, int]:
    host, _, port = environ.get("LAB_UPSTREAM", "127.0.0.1:9").strip().rpartition(":")
    if not host or not port.isdigit():
        raise launcher.SettingsError("LAB_UPSTREAM must be host:port")
    return host.strip("[]"), int(port)


def adjust_settings(environ, settings):
    upstream(environ)  # checked before anything starts
    listen = environ.get("LAB_LISTEN_ADDR", "0.0.0.0").strip() or "0.0.0.0"
    return dataclasses.replace(settings, extra={**settings.extra, "LISTEN_ADDR_IPV4": listen})


def log_peer(peer) -> None:
    print(f"accepted peer {peer[0]} {peer[1]}", flush=True)


def adjust_module(module, settings) -> None:
    host, port = upstream(os.environ)
    module.my_ip_info = {"ipv4": os.environ.get("LAB_PUBLIC_IP", "127.0.0.1"), "ipv6": None}
    module.TG_DATACENTERS_V4 = [host] * len(module.TG_DATACENTERS_V4)
    module.TG_DATACENTERS_V6 = [host] * len(module.TG_DATACENTERS_V6)
    module.TG_DATACENTER_PORT = port

    if settings.proxy_protocol:
        # The client's address is the one in the PROXY header: log what mtprotoproxy parsed.
        parse_header = module.handle_proxy_protocol

        async def handle_proxy_protocol(reader, peer=None):
            result = await parse_header(reader, peer)
            if result:
                log_peer(result)
            return result

        module.handle_proxy_protocol = handle_proxy_protocol
    else:
        handle = module.handle_client_wrapper

        async def handle_client_wrapper(reader, writer):
            log_peer(writer.get_extra_info("peername") or ("?", "?"))
            await handle(reader, writer)

        module.handle_client_wrapper = handle_client_wrapper
    print(f"mtproxy-lab: upstream {host}:{port} in place of Telegram, no lookups", flush=True)


def main() -> None:
    try:
        environ = legacy_environ(os.environ)
    except launcher.SettingsError as error:
        print(f"mtproxy-lab: {error}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    launcher.start(environ, adjust_settings=adjust_settings, adjust_module=adjust_module)


if __name__ == "__main__":
    main()
