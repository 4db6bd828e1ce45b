#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Turn printed ``vless://`` share links into the config of a real Xray client.

The tests and the lab build their Xray client from the links the deploy wrote, never from a
second copy of the settings: what a user imports into v2rayN or Hiddify is what is tested.

    vless_client.py [--log-level warning] PORT=LINK [PORT=LINK ...] > client.json

Each ``PORT=LINK`` becomes a SOCKS inbound on 127.0.0.1:PORT whose traffic goes out through
an outbound built from LINK alone. A link (or a file of links, one per line, with ``@FILE``
and a ``#remark`` to pick: ``PORT=@FILE#alice-xhttp-8444``) is parsed strictly: an unknown
security, transport or parameter is an error, so a link that a client would read
differently fails here first. Standard library only (it runs in the test containers).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys
from urllib.parse import parse_qsl, unquote, urlsplit

# Query parameters of the links the collection writes; anything else is refused.
_COMMON = {"encryption", "security", "sni", "fp", "pbk", "sid"}
_TRANSPORT_PARAMS = {
    "tcp": {"flow", "headerType"},
    "xhttp": {"path", "mode", "host"},
}


class LinkError(ValueError):
    """A link this tool does not understand."""


def parse_link(link):
    """The parts of a ``vless://`` REALITY link: a dict (see ``outbound()``); LinkError."""
    try:
        return _parse_link(link)
    except ValueError as exc:  # urllib: a bad port, a query field without "=", ...
        if isinstance(exc, LinkError):
            raise
        raise LinkError(f"malformed link: {exc}") from None


def _parse_link(link):
    parts = urlsplit(link.strip())
    if parts.scheme != "vless":
        raise LinkError(f"not a vless:// link: {parts.scheme!r}")
    if not parts.username or parts.password is not None:
        raise LinkError("the link has no user id before @")
    host = parts.hostname
    if not host or parts.port is None:
        raise LinkError("the link needs host:port")
    pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    params = dict(pairs)
    if len(params) != len(pairs):
        raise LinkError("a query parameter is given twice")
    network = params.get("type", "tcp")
    if network not in _TRANSPORT_PARAMS:
        raise LinkError(f"unknown transport type={network!r}")
    unknown = set(params) - _COMMON - _TRANSPORT_PARAMS[network] - {"type"}
    if unknown:
        raise LinkError(f"unknown parameters {sorted(unknown)} for type={network}")
    if params.get("security") != "reality" or params.get("encryption") != "none":
        raise LinkError("only security=reality with encryption=none is supported")
    for key in ("sni", "fp", "pbk", "sid"):
        if not params.get(key):
            raise LinkError(f"the link lacks {key}=")
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        address = host
    return {
        "id": unquote(parts.username),
        "address": address,
        "port": parts.port,
        "network": network,
        "params": params,
        "remark": unquote(parts.fragment),
    }


def outbound(link, tag):
    """The Xray client outbound of one link."""
    parsed = parse_link(link)
    params = parsed["params"]
    user = {"id": parsed["id"], "encryption": "none"}
    if params.get("flow"):
        user["flow"] = params["flow"]
    stream = {
        "network": parsed["network"],
        "security": "reality",
        "realitySettings": {
            "serverName": params["sni"],
            "fingerprint": params["fp"],
            "publicKey": params["pbk"],
            "shortId": params["sid"],
        },
    }
    if parsed["network"] == "xhttp":
        xhttp = {"path": params.get("path", "/"), "mode": params.get("mode", "auto")}
        if params.get("host"):
            xhttp["host"] = params["host"]
        stream["xhttpSettings"] = xhttp
    return {
        "tag": tag,
        "protocol": "vless",
        "settings": {
            "vnext": [{"address": parsed["address"], "port": parsed["port"], "users": [user]}]
        },
        "streamSettings": stream,
    }


def read_link(spec):
    """``LINK``, or ``@FILE#remark``: the line of FILE whose remark is ``remark``."""
    if not spec.startswith("@"):
        return spec
    path, _, remark = spec[1:].partition("#")
    with open(path, encoding="utf-8") as handle:
        links = [line.strip() for line in handle if line.strip().startswith("vless://")]
    chosen = [link for link in links if unquote(urlsplit(link).fragment) == remark]
    if len(chosen) != 1:
        remarks = [unquote(urlsplit(link).fragment) for link in links]
        raise LinkError(f"{path}: {len(chosen)} links with remark {remark!r} (has {remarks})")
    return chosen[0]


def client_config(mapping, log_level="warning"):
    """An Xray client config: ``mapping`` is ``[(socks port, link)]``."""
    inbounds, outbounds, rules = [], [], []
    for index, (port, link) in enumerate(mapping):
        tag = f"link{index}"
        inbounds.append(
            {
                "tag": f"socks{index}",
                "listen": "127.0.0.1",
                "port": port,
                "protocol": "socks",
                "settings": {"udp": False},
            }
        )
        outbounds.append(outbound(link, tag))
        rules.append({"type": "field", "inboundTag": [f"socks{index}"], "outboundTag": tag})
    return {
        "log": {"loglevel": log_level},
        "inbounds": inbounds,
        "outbounds": outbounds,
        "routing": {"rules": rules},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mapping", nargs="+", help="PORT=LINK or PORT=@FILE#remark")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    mapping = []
    for item in args.mapping:
        port, separator, spec = item.partition("=")
        if not separator or not port.isdigit():
            parser.error(f"expected PORT=LINK, got {item.split('=')[0]!r}=...")
        mapping.append((int(port), read_link(spec)))
    try:
        config = client_config(mapping, args.log_level)
    except LinkError as exc:
        print(f"vless_client.py: {exc}", file=sys.stderr)
        return 2
    json.dump(config, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
