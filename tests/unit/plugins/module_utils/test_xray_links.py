# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vless:// share links of a node (xray_config.client_links, vless_link) and the
xray_links filter: golden links, hosts, fingerprints, the public key, errors, and the round
trip through the test client (molecule/shared/files/vless_client.py) back to the server's
inbound of the same port.
"""

from __future__ import annotations

import copy

import pytest
from ansible._internal._datatag._tags import Origin
from ansible._internal._templating._utils import Omit
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter import xray_links as links_plugin
from ansible_collections.edgerelay.proxy.plugins.filter.xray_links import xray_links
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    public_key_from_private,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    FINGERPRINTS,
    ConfigError,
    build_config,
    client_links,
    vless_link,
)
from hypothesis import given
from hypothesis import strategies as st
from xray_strategies import DOMAINS, nodes, shipped_presets

from tests.conftest import load_module

vless_client = load_module("molecule/shared/files/vless_client.py")

ALICE = {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice"}
BOB = {"id": "0F8E3A52-4C1B-4D2E-9A6F-7B1C2D3E4F50", "email": "bob@example.org"}
PRIVATE_KEY = "kPo1FMsWZNN0hdTNNanxb1tCnIx9T6B_YTNZ5VUR7VY"
# The X25519 public key of PRIVATE_KEY (as `xray x25519 -i <private key>` prints it).
PUBLIC_KEY = "SoBFFK4vWGSTTBXTl_WB1w5fu8X9_1PaIdHLJKEHixc"
HOST = "proxy.example.ru"
COMMON = (
    f"encryption=none&security=reality&sni=www.microsoft.com&fp=chrome&pbk={PUBLIC_KEY}&sid=abcd"
)
ALICE_TCP = (
    f"vless://{ALICE['id']}@proxy.example.ru:443?{COMMON}"
    "&flow=xtls-rprx-vision&type=tcp&headerType=none#alice-tcp-vision-443"
)
ALICE_XHTTP = (
    f"vless://{ALICE['id']}@proxy.example.ru:8444?{COMMON}"
    "&type=xhttp&path=%2Fedge&mode=packet-up#alice-xhttp-8444"
)


def node(role="proxy"):
    """A node with a tcp-vision and an xhttp inbound and two users."""
    return {
        "node_role": role,
        "public": {
            "inbounds": [
                {"transport": "tcp-vision", "port": 443},
                {"transport": "xhttp", "port": 8444, "path": "/edge", "mode": "packet-up"},
            ],
            "users": [dict(ALICE), dict(BOB)],
            "reality": {
                "target": "www.microsoft.com:443",
                "server_names": ["www.microsoft.com", "microsoft.com"],
                "private_key": PRIVATE_KEY,
                "short_id": "abcd",
            },
        },
        "relay": {
            "name": "proxy-service@cluster",
            "server_name": "www.microsoft.com",
            "port": 8443,
            "identity": {
                "uuid": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11",
                "private_key": "yBaw532IIUNuQWDTncozoBaLJmcd1JZzvsHUgVPxMk8",
                "public_key": "7xhH4b_VkliBxGulljcyPOH-bYUA2dl-XAdZAsfhk04",
                "short_id": "0a1b2c3d",
            },
        },
        "pool": {"port": 10443},
        "presets": shipped_presets(),
        "preset": "ru",
    }


def links_of(document, host=HOST, public_key=None):
    return [entry["link"] for entry in client_links(document, host, public_key)]


def link_error(document, host=HOST):
    with pytest.raises(ConfigError) as excinfo:
        client_links(document, host)
    return str(excinfo.value)


# --------------------------------------------------------------------------- golden links


def test_golden_links():
    """One link per user and inbound, users in order, then inbounds; exact strings."""
    entries = client_links(node(), HOST)
    assert [(e["user"], e["transport"], e["port"]) for e in entries] == [
        ("alice", "tcp-vision", 443),
        ("alice", "xhttp", 8444),
        ("bob@example.org", "tcp-vision", 443),
        ("bob@example.org", "xhttp", 8444),
    ]
    assert entries[0]["link"] == ALICE_TCP
    assert entries[1]["link"] == ALICE_XHTTP
    # The user id as given (Xray compares ids ignoring case), "@" kept in the remark.
    assert entries[3]["link"] == (
        f"vless://{BOB['id']}@proxy.example.ru:8444?{COMMON}"
        "&type=xhttp&path=%2Fedge&mode=packet-up#bob@example.org-xhttp-8444"
    )


def test_xhttp_defaults_in_the_link():
    document = node()
    document["public"]["inbounds"][1] = {"transport": "xhttp", "port": 8444}
    assert links_of(document)[1] == (
        f"vless://{ALICE['id']}@proxy.example.ru:8444?{COMMON}"
        "&type=xhttp&path=%2F&mode=auto#alice-xhttp-8444"
    )


def test_every_value_is_percent_encoded():
    """Path characters that mean something in a query (& = + /) and a remark's + are
    escaped, so that a client reads back exactly the path the server has."""
    document = node()
    document["public"]["inbounds"][1]["path"] = "/a+b&c=d;e"
    document["public"]["users"][0]["email"] = "al+ice@home"
    link = links_of(document)[1]
    assert "&path=%2Fa%2Bb%26c%3Dd%3Be&mode=packet-up#al%2Bice@home-xhttp-8444" in link
    parsed = vless_client.parse_link(link)
    assert parsed["params"]["path"] == "/a+b&c=d;e"
    assert parsed["remark"] == "al+ice@home-xhttp-8444"


def test_vless_link():
    reality = {
        "server_name": "www.microsoft.com",
        "public_key": PUBLIC_KEY,
        "short_id": "abcd",
        "fingerprint": "chrome",
    }
    link = vless_link(
        ALICE["id"], HOST, 8444, "xhttp", {"path": "/edge", "mode": "packet-up"}, reality, "x"
    )
    assert link == ALICE_XHTTP.replace("#alice-xhttp-8444", "#x")


@pytest.mark.parametrize(
    ("host", "in_link", "address"),
    [
        ("2001:db8::1", "@[2001:db8::1]:443?", "2001:db8::1"),
        ("2001:DB8:0::1", "@[2001:db8::1]:443?", "2001:db8::1"),
        ("192.0.2.1", "@192.0.2.1:443?", "192.0.2.1"),
        ("proxy.example.ru", "@proxy.example.ru:443?", "proxy.example.ru"),
    ],
)
def test_hosts(host, in_link, address):
    """An IPv6 address goes in brackets (and is written the canonical way)."""
    link = links_of(node(), host)[0]
    assert in_link in link
    assert vless_client.outbound(link, "t")["settings"]["vnext"][0]["address"] == address


# --------------------------------------------------------------------------- fingerprints


def test_a_users_fingerprint_wins_over_xray_fingerprint():
    document = node()
    document["fingerprint"] = "safari"
    document["public"]["users"][0]["fingerprint"] = "firefox"
    fps = [vless_client.parse_link(link)["params"]["fp"] for link in links_of(document)]
    assert fps == ["firefox", "firefox", "safari", "safari"]
    # Null: xray_fingerprint; neither: chrome.
    document["public"]["users"][0]["fingerprint"] = None
    del document["fingerprint"]
    fps = [vless_client.parse_link(link)["params"]["fp"] for link in links_of(document)]
    assert fps == ["chrome"] * 4
    # The config is the same whatever the fingerprints of the links.
    document["public"]["users"][1]["fingerprint"] = "ios"
    assert build_config(document) == build_config(node())


@pytest.mark.parametrize("fingerprint", FINGERPRINTS)
def test_every_fingerprint_reaches_the_link(fingerprint):
    document = node()
    document["public"]["users"][1]["fingerprint"] = fingerprint
    assert f"&fp={fingerprint}&" in links_of(document)[2]


FINGERPRINT_LIST = (
    "chrome, firefox, safari, ios, android, edge, 360, qq, random, randomized, randomizednoalpn"
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d.update(fingerprint="unsafe"),
            f"xray_fingerprint: must be one of {FINGERPRINT_LIST} (uTLS ClientHello "
            "fingerprints), got 'unsafe'",
        ),
        (lambda d: d.update(fingerprint=""), "xray_fingerprint: must be one of chrome, "),
        (lambda d: d.update(fingerprint=["chrome"]), "xray_fingerprint: must be one of chrome, "),
        (
            lambda d: d["public"]["users"][0].update(fingerprint="unsafe"),
            f"xray_users[0].fingerprint: must be one of {FINGERPRINT_LIST} (uTLS ClientHello "
            "fingerprints), got 'unsafe'",
        ),
        (
            lambda d: d["public"]["users"][1].update(fingerprint=""),
            "xray_users[1].fingerprint: must be one of chrome, ",
        ),
    ],
)
def test_invalid_fingerprints_are_named(change, expected):
    """On a backend too: its links need a fingerprint as much as a proxy's."""
    for role in ("proxy", "backend"):
        document = node(role)
        change(document)
        message = link_error(document)
        assert message.startswith(expected), message


# --------------------------------------------------------------------------- host, keys


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("proxy example.ru", "proxy_domain: must be a host name or an IP address (no port"),
        ("proxy.example.ru/x", "proxy_domain: must be a host name or an IP address (no port"),
        ("https://proxy.example.ru", "proxy_domain: must be a host name or an IP address"),
        ("user@proxy.example.ru", "proxy_domain: must be a host name or an IP address"),
        ("proxy.example.ru?x", "proxy_domain: must be a host name or an IP address"),
        ("proxy.example.ru#x", "proxy_domain: must be a host name or an IP address"),
        ("[2001:db8::1]", "proxy_domain: must be a host name or an IP address"),
        ("proxy.example.ru\n", "proxy_domain: 'proxy.example.ru\\n' contains the control"),
        ("", "proxy_domain: must not be empty"),
        (None, "proxy_domain: must be a string, got NoneType"),
        (443, "proxy_domain: must be a string (quote it in YAML), got int 443"),
    ],
)
def test_a_bad_host_is_named(host, expected):
    message = link_error(node(), host)
    assert message.startswith(expected), message


@pytest.mark.parametrize("host", ["proxy.example.ru:443", "a:b", "fe80::1%eth0"])
def test_a_host_with_a_port_is_refused(host):
    try:
        links = links_of(node(), host)
    except ConfigError as error:
        assert str(error).startswith("proxy_domain: ")
        return
    raise AssertionError(f"accepted: {links[0]}")


def test_the_public_key_is_derived_from_the_private_key():
    links = links_of(node())
    derived = public_key_from_private(PRIVATE_KEY)
    assert derived == PUBLIC_KEY
    assert all(vless_client.parse_link(link)["params"]["pbk"] == derived for link in links)


def test_a_given_public_key_is_used_as_is():
    """Given, the key is not derived: the private key is not even read (the filter's
    public_key, e.g. from a registered identity)."""
    document = node()
    document["public"]["reality"]["private_key"] = "not-a-key"
    links = links_of(document, public_key="X" * 43)
    assert all("&pbk=" + "X" * 43 + "&" in link for link in links)


@pytest.mark.parametrize(
    ("private_key", "expected"),
    [
        ("x" * 43, "xray_reality_private_key: private_key is not a canonical 32-byte key"),
        ("short", "xray_reality_private_key: private_key must be 43 characters of URL-safe"),
        ("", "xray_reality_private_key: must not be empty"),
    ],
)
def test_a_bad_private_key_is_named_never_shown(private_key, expected):
    document = node()
    document["public"]["reality"]["private_key"] = private_key
    message = link_error(document)
    assert message.startswith(expected), message
    if private_key:
        assert private_key not in message


def test_links_validate_the_input_like_the_config():
    document = node()
    document["public"]["inbounds"][1]["port"] = 443
    assert link_error(document) == "xray_inbounds[1].port: 443 is also the port of xray_inbounds[0]"
    document = node()
    document["public"]["users"][1]["id"] = "bob"
    assert link_error(document).startswith("xray_users[1].id: must be a UUID")


def test_no_users_no_links():
    document = node()
    document["public"]["users"] = []
    assert client_links(document, HOST) == []


def test_the_input_is_not_changed():
    document = node()
    document["public"]["users"][0]["fingerprint"] = "ios"
    before = copy.deepcopy(document)
    client_links(document, HOST)
    assert document == before


# --------------------------------------------------------------------------- the filter


def test_the_filter():
    assert links_plugin.FilterModule().filters() == {"xray_links": xray_links}
    assert xray_links(node(), HOST) == client_links(node(), HOST)
    assert xray_links(node(), HOST, "X" * 43) == client_links(node(), HOST, "X" * 43)


def test_the_filter_reports_errors_naming_the_variable():
    document = node()
    document["fingerprint"] = "unsafe"
    with pytest.raises(AnsibleFilterError) as excinfo:
        xray_links(document, HOST)
    assert str(excinfo.value).startswith("xray_fingerprint: must be one of ")


@pytest.mark.parametrize("omit", [Omit, "__omit_place_holder__0123abcd"], ids=["2.19", "old"])
def test_the_filter_drops_omitted_values(omit):
    document = node()
    document["fingerprint"] = omit
    document["public"]["users"][0]["fingerprint"] = omit
    document["public"]["inbounds"][1]["mode"] = omit
    document["public"]["users"].insert(1, omit)
    expected = node()
    del expected["public"]["inbounds"][1]["mode"]
    assert xray_links(document, HOST) == client_links(expected, HOST)


def _origin_tagged(value):
    """``value`` with Ansible's data tags on every container and scalar, as vars are."""
    origin = Origin(path="/inventory/group_vars/all.yml", line_num=1)
    if isinstance(value, dict):
        return origin.tag({key: _origin_tagged(item) for key, item in value.items()})
    if isinstance(value, list):
        return origin.tag([_origin_tagged(item) for item in value])
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return origin.tag(value)
    return value


def test_the_filter_gives_plain_values():
    """Tagged inventory values in, plain dicts, lists, strings and ints out."""
    document = node()
    document["public"]["users"][0]["fingerprint"] = "ios"
    tagged = _origin_tagged(document)
    assert type(tagged["public"]["inbounds"][1]["transport"]) is not str  # really tagged
    entries = xray_links(tagged, _origin_tagged(HOST))
    assert entries == client_links(document, HOST)
    for entry in entries:
        assert type(entry) is dict
        assert {key: type(value) for key, value in entry.items()} == {
            "user": str,
            "transport": str,
            "port": int,
            "link": str,
        }, entry


# --------------------------------------------------------------------------- round trip

HOSTS = st.one_of(DOMAINS, st.ip_addresses().map(str))


def _without_reality(stream):
    return {key: value for key, value in stream.items() if key != "realitySettings"}


@given(st.sampled_from(["proxy", "backend"]).flatmap(nodes), HOSTS)
def test_every_link_reaches_its_inbound(document, host):
    """For any node: the test client's outbound, built from each link alone, matches the
    server inbound of the link's port in build_config(): network, transport settings
    (xhttpSettings), flow, a user of the inbound; its REALITY server name and short id are
    the inbound's, its public key that of the inbound's private key; its fingerprint the
    user's own, else xray_fingerprint."""
    config = build_config(document)
    by_port = {inbound["port"]: inbound for inbound in config["inbounds"]}
    base = "public" if document["node_role"] == "proxy" else "client"
    users = document["public"]["users"]
    entries = client_links(document, host)
    assert len(entries) == len(users) * len(document["public"]["inbounds"])
    default_fingerprint = document.get("fingerprint", "chrome")
    for index, entry in enumerate(entries):
        user = users[index // len(document["public"]["inbounds"])]
        inbound = by_port[entry["port"]]
        assert inbound["tag"] == f"{base}-{entry['port']}"
        parsed = vless_client.parse_link(entry["link"])
        assert parsed["remark"] == f"{user['email']}-{entry['transport']}-{entry['port']}"
        outbound = vless_client.outbound(entry["link"], "out")
        (server,) = outbound["settings"]["vnext"]
        assert server["port"] == inbound["port"]
        assert server["address"] == host
        (link_user,) = server["users"]
        clients = {client["id"]: client for client in inbound["settings"]["clients"]}
        assert link_user["id"] == user["id"]
        assert link_user.get("flow") == clients[user["id"]].get("flow")
        stream, served = outbound["streamSettings"], inbound["streamSettings"]
        assert _without_reality(stream) == _without_reality(served)
        assert stream.get("xhttpSettings") == served.get("xhttpSettings")
        client_reality, server_reality = stream["realitySettings"], served["realitySettings"]
        assert client_reality["serverName"] in server_reality["serverNames"]
        assert client_reality["shortId"] in server_reality["shortIds"]
        assert client_reality["publicKey"] == public_key_from_private(server_reality["privateKey"])
        assert client_reality["fingerprint"] == (user.get("fingerprint") or default_fingerprint)
