# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""molecule/shared/files/vless_client.py: the strict link parser, the outbound and client
config it builds from a link, links picked from a file by remark, and the command line.

The round trip from the collection's own links (xray_config.client_links) back to the
server's inbounds is in tests/unit/plugins/module_utils/test_xray_links.py.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import load_module

vless_client = load_module("molecule/shared/files/vless_client.py")
LinkError = vless_client.LinkError

USER = "b831381d-6324-4d53-ad4f-8cda48b30811"
PBK = "SoBFFK4vWGSTTBXTl_WB1w5fu8X9_1PaIdHLJKEHixc"
COMMON = f"encryption=none&security=reality&sni=www.microsoft.com&fp=chrome&pbk={PBK}&sid=abcd"
TCP = (
    f"vless://{USER}@proxy.example.ru:443?{COMMON}"
    "&flow=xtls-rprx-vision&type=tcp&headerType=none#alice-tcp-vision-443"
)
XHTTP = (
    f"vless://{USER}@proxy.example.ru:8444?{COMMON}"
    "&type=xhttp&path=%2Fedge%2Bx&mode=packet-up#alice-xhttp-8444"
)
REALITY = {
    "serverName": "www.microsoft.com",
    "fingerprint": "chrome",
    "publicKey": PBK,
    "shortId": "abcd",
}


def link_error(link):
    with pytest.raises(LinkError) as excinfo:
        vless_client.parse_link(link)
    return str(excinfo.value)


# --------------------------------------------------------------------------- what it reads


def test_parse_link():
    assert vless_client.parse_link(TCP) == {
        "id": USER,
        "address": "proxy.example.ru",
        "port": 443,
        "network": "tcp",
        "params": {
            "encryption": "none",
            "security": "reality",
            "sni": "www.microsoft.com",
            "fp": "chrome",
            "pbk": PBK,
            "sid": "abcd",
            "flow": "xtls-rprx-vision",
            "type": "tcp",
            "headerType": "none",
        },
        "remark": "alice-tcp-vision-443",
    }


def test_tcp_vision_outbound():
    assert vless_client.outbound(TCP, "link0") == {
        "tag": "link0",
        "protocol": "vless",
        "settings": {
            "vnext": [
                {
                    "address": "proxy.example.ru",
                    "port": 443,
                    "users": [{"id": USER, "encryption": "none", "flow": "xtls-rprx-vision"}],
                }
            ]
        },
        "streamSettings": {"network": "tcp", "security": "reality", "realitySettings": REALITY},
    }


def test_xhttp_outbound():
    """No flow; the path decoded (%2B is a +, not a space); host only when given."""
    outbound = vless_client.outbound(XHTTP, "link1")
    assert outbound["settings"]["vnext"][0]["users"] == [{"id": USER, "encryption": "none"}]
    assert outbound["streamSettings"] == {
        "network": "xhttp",
        "security": "reality",
        "realitySettings": REALITY,
        "xhttpSettings": {"path": "/edge+x", "mode": "packet-up"},
    }
    with_host = vless_client.outbound(XHTTP.replace("&mode=", "&host=cdn.example&mode="), "l")
    assert with_host["streamSettings"]["xhttpSettings"]["host"] == "cdn.example"
    # Left out: Xray's defaults, path / and mode auto.
    bare = XHTTP.replace("&path=%2Fedge%2Bx&mode=packet-up", "")
    assert vless_client.outbound(bare, "l")["streamSettings"]["xhttpSettings"] == {
        "path": "/",
        "mode": "auto",
    }


def test_type_defaults_to_tcp():
    link = TCP.replace("&type=tcp", "")
    assert vless_client.parse_link(link)["network"] == "tcp"


def test_ipv6_host():
    link = TCP.replace("@proxy.example.ru:", "@[2001:DB8::1]:")
    parsed = vless_client.parse_link(link)
    assert (parsed["address"], parsed["port"]) == ("2001:db8::1", 443)


# --------------------------------------------------------------------------- what it refuses


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        # Another scheme.
        (TCP.replace("vless://", "vmess://"), "not a vless:// link: 'vmess'"),
        (TCP.replace("vless://", "https://"), "not a vless:// link: 'https'"),
        (TCP.replace("vless://", ""), "not a vless:// link: ''"),
        # Parameters this tool (and so the collection's links) does not have.
        (TCP.replace("#", "&spx=%2F#"), "unknown parameters ['spx'] for type=tcp"),
        (
            TCP.replace("#", "&allowInsecure=1#"),
            "unknown parameters ['allowInsecure'] for type=tcp",
        ),
        (TCP.replace("&headerType=none", "&path=%2F"), "unknown parameters ['path'] for type=tcp"),
        (
            XHTTP.replace("&type=xhttp", "&flow=xtls-rprx-vision&type=xhttp"),
            "unknown parameters ['flow'] for type=xhttp",
        ),
        (
            XHTTP.replace("&mode=", "&extra=%7B%7D&mode="),
            "unknown parameters ['extra'] for type=xhttp",
        ),
        (TCP.replace("type=tcp", "type=grpc"), "unknown transport type='grpc'"),
        (TCP.replace("type=tcp", "type=ws"), "unknown transport type='ws'"),
        # A parameter twice, the same value or not.
        (TCP.replace("&sid=abcd", "&sid=abcd&sid=abcd"), "a query parameter is given twice"),
        (TCP.replace("&fp=chrome", "&fp=chrome&fp=firefox"), "a query parameter is given twice"),
        (TCP.replace("&type=tcp", "&type=tcp&type=xhttp"), "a query parameter is given twice"),
        # REALITY parameters missing or empty.
        (TCP.replace(f"&pbk={PBK}", ""), "the link lacks pbk="),
        (TCP.replace(f"&pbk={PBK}", "&pbk="), "the link lacks pbk="),
        (TCP.replace("&sni=www.microsoft.com", ""), "the link lacks sni="),
        (TCP.replace("&fp=chrome", ""), "the link lacks fp="),
        (TCP.replace("&sid=abcd", ""), "the link lacks sid="),
        # Only REALITY without VLESS encryption.
        (
            TCP.replace("security=reality", "security=tls"),
            "only security=reality with encryption=none is supported",
        ),
        (
            TCP.replace("security=reality&", ""),
            "only security=reality with encryption=none is supported",
        ),
        (
            TCP.replace("encryption=none&", ""),
            "only security=reality with encryption=none is supported",
        ),
        # User and address.
        (TCP.replace(f"{USER}@", ""), "the link has no user id before @"),
        (TCP.replace(f"{USER}@", f"{USER}:secret@"), "the link has no user id before @"),
        (TCP.replace(":443?", "?"), "the link needs host:port"),
    ],
)
def test_strict_parser(link, expected):
    assert link_error(link) == expected


def test_a_link_with_spaces_around_is_read():
    assert vless_client.parse_link(f"  {TCP}\n") == vless_client.parse_link(TCP)


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (TCP.replace("&sid=abcd", "&sid"), "malformed link: bad query field: 'sid'"),
        (TCP.replace(":443?", ":99999?"), "malformed link: Port out of range 0-65535"),
        (TCP.replace(":443?", ":https?"), "malformed link: Port could not be cast to integer"),
    ],
    ids=["field-without-value", "port-out-of-range", "port-not-a-number"],
)
def test_malformed_links_raise_link_error(link, expected):
    """urllib's own errors come out as LinkError too (main() prints them, no traceback)."""
    assert link_error(link).startswith(expected)


def test_main_reports_a_malformed_link(capsys):
    assert vless_client.main([f"1080={TCP.replace(':443?', ':99999?')}"]) == 2
    assert capsys.readouterr().err.startswith("vless_client.py: malformed link: ")


# --------------------------------------------------------------------------- files and configs


def test_read_link_picks_the_line_with_the_remark(tmp_path):
    links = tmp_path / "links.txt"
    links.write_text(f"# alice\n{TCP}\n\n{XHTTP}\n")
    assert vless_client.read_link(f"@{links}#alice-xhttp-8444") == XHTTP
    assert vless_client.read_link(f"@{links}#alice-tcp-vision-443") == TCP
    assert vless_client.read_link(TCP) == TCP  # not a file
    with pytest.raises(LinkError, match=r"0 links with remark 'bob-xhttp-8444'"):
        vless_client.read_link(f"@{links}#bob-xhttp-8444")
    links.write_text(f"{TCP}\n{TCP}\n")
    with pytest.raises(LinkError, match=r"2 links with remark 'alice-tcp-vision-443'"):
        vless_client.read_link(f"@{links}#alice-tcp-vision-443")


def test_client_config():
    config = vless_client.client_config([(1080, TCP), (1081, XHTTP)], log_level="debug")
    assert config["log"] == {"loglevel": "debug"}
    assert config["inbounds"] == [
        {
            "tag": f"socks{index}",
            "listen": "127.0.0.1",
            "port": port,
            "protocol": "socks",
            "settings": {"udp": False},
        }
        for index, port in enumerate((1080, 1081))
    ]
    assert config["outbounds"] == [
        vless_client.outbound(TCP, "link0"),
        vless_client.outbound(XHTTP, "link1"),
    ]
    assert config["routing"] == {
        "rules": [
            {"type": "field", "inboundTag": ["socks0"], "outboundTag": "link0"},
            {"type": "field", "inboundTag": ["socks1"], "outboundTag": "link1"},
        ]
    }


def test_main(tmp_path, capsys):
    links = tmp_path / "links.txt"
    links.write_text(f"{TCP}\n{XHTTP}\n")
    assert vless_client.main([f"1080={TCP}", f"1081=@{links}#alice-xhttp-8444"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config == vless_client.client_config([(1080, TCP), (1081, XHTTP)])


def test_main_refuses_a_bad_link(capsys):
    assert vless_client.main([f"1080={TCP.replace('type=tcp', 'type=grpc')}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "vless_client.py: unknown transport type='grpc'\n"


def test_main_refuses_a_bad_mapping(capsys):
    with pytest.raises(SystemExit) as excinfo:
        vless_client.main([TCP])
    assert excinfo.value.code == 2
    assert "expected PORT=LINK" in capsys.readouterr().err
