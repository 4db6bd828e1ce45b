# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Xray config builder: golden configs of both node roles, errors, properties.

(Not test_xray_config.py: tests/unit is a tree of plain modules, so a module name can be
used once, and tests/unit/plugins/filter/test_xray_config.py tests the filter.)
"""

from __future__ import annotations

import copy
import ipaddress
import json

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils import xray_config as builder
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    control_character,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    DEFAULTS,
    TRANSPORTS,
    VARIABLES,
    XHTTP_MODES,
    ConfigError,
    Transport,
    build_config,
    client_links,
    inbound_tag,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_fail_closed import (
    check_fail_closed,
    check_local_blocked,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import ENTRY_TYPES
from hypothesis import given
from hypothesis import strategies as st
from xray_strategies import (
    ANY_ADDRESSES,
    FEWER,
    KEYS,
    LOCAL_ADDRESSES,
    PRIVATE_ADDRESSES,
    SHORT_IDS,
    TRANSPORT_MODELS,
    addresses_in,
    checked_options,
    entry_values,
    flow_of,
    inbound_options,
    nodes,
    normalised,
    relay_transport,
    route_of_address,
    shipped_presets,
    stream_of,
    user_lists,
)

ALICE = {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice"}
BOB = {"id": "0F8E3A52-4C1B-4D2E-9A6F-7B1C2D3E4F50", "email": "bob@example.org"}
PUBLIC_PRIVATE_KEY = "kPo1FMsWZNN0hdTNNanxb1tCnIx9T6B_YTNZ5VUR7VY"
RELAY_UUID = "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11"
RELAY_PRIVATE_KEY = "yBaw532IIUNuQWDTncozoBaLJmcd1JZzvsHUgVPxMk8"
RELAY_PUBLIC_KEY = "7xhH4b_VkliBxGulljcyPOH-bYUA2dl-XAdZAsfhk04"
# The registered result of edgerelay.proxy.relay_identity: the identity and more.
RELAY_IDENTITY = {
    "changed": False,
    "path": "/inventory/.edgerelay/relay-identity.json",
    "version": 1,
    "kind": "relay",
    "name": "proxy-service@cluster",
    "uuid": RELAY_UUID,
    "private_key": RELAY_PRIVATE_KEY,
    "public_key": RELAY_PUBLIC_KEY,
    "short_id": "0a1b2c3d",
}


def node(role="proxy", **changes):
    """The input the role passes, with the role's defaults and two users."""
    document = {
        "node_role": role,
        "log_level": "warning",
        "dns_hosts": {"de1.lab": "10.0.0.5"},
        "public": {
            "inbounds": [{"transport": "tcp-vision", "port": 443}],
            "users": [dict(ALICE), dict(BOB)],
            "reality": {
                "target": "www.microsoft.com:443",
                "server_names": ["www.microsoft.com", "microsoft.com"],
                "private_key": PUBLIC_PRIVATE_KEY,
                "short_id": "abcd",
            },
        },
        "relay": {
            "transport": "tcp-vision",
            "name": "proxy-service@cluster",
            "server_name": "www.microsoft.com",
            "port": 8443,
            "identity": dict(RELAY_IDENTITY),
        },
        "pool": {"address": "127.0.0.1", "port": 10443},
        "presets": shipped_presets(),
        "preset": "ru",
        "fingerprint": "chrome",
        # As the role passes them: interface addresses (one in the allowed network, an IPv6
        # link-local one with its zone, one in a blocked private network, a public IPv6 one)
        # and ansible_host; the lab network of de1.lab opted in.
        "own_addresses": ["10.0.0.2", "fe80::1%eth0", "198.51.100.5", "2a01:4f8::5", "45.67.89.10"],
        "allowed_private_networks": ["10.0.0.0/8"],
    }
    document.update(changes)
    return document


def client(user):
    return {**user, "flow": "xtls-rprx-vision"}


PUBLIC_REALITY = {
    "target": "www.microsoft.com:443",
    "serverNames": ["www.microsoft.com", "microsoft.com"],
    "privateKey": PUBLIC_PRIVATE_KEY,
    "shortIds": ["abcd"],
}
PUBLIC_STREAM = {"network": "tcp", "security": "reality", "realitySettings": PUBLIC_REALITY}
DIRECT = {"tag": "direct", "protocol": "freedom", "settings": {"domainStrategy": "ForceIPv4"}}
BLOCK = {"tag": "block", "protocol": "blackhole"}
# The never-reachable networks, then the own addresses the rest does not block (sorted;
# fe80::1 is inside fe80::/10, 198.51.100.5 inside the documentation range 198.51.100.0/24),
# then the private networks minus the allowed 10.0.0.0/8.
NEVER = [
    "0.0.0.0/8",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "::/128",
    "::1/128",
    "fe80::/10",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "ff00::/8",
]
PRIVATE = [
    "100.64.0.0/10",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fec0::/10",
]
NODE_BLOCK = {
    "type": "field",
    "ip": [*NEVER, "10.0.0.2/32", "45.67.89.10/32", "2a01:4f8::5/128"],
    "outboundTag": "block",
}
PRIVATE_BLOCK = {"type": "field", "ip": PRIVATE, "outboundTag": "block"}
DNS = {
    "hosts": {"de1.lab": "10.0.0.5"},
    "servers": [{"address": "localhost", "unexpectedIPs": NODE_BLOCK["ip"] + PRIVATE}],
}
# Xray's API on loopback (live user changes, the stats exporter), per-user traffic counters.
API = {
    "api": {
        "tag": "api",
        "listen": "127.0.0.1:10085",
        "services": ["HandlerService", "StatsService"],
    },
    "stats": {},
    "policy": {"levels": {"0": {"statsUserUplink": True, "statsUserDownlink": True}}},
}

# Without own addresses and allowed networks (the defaults).
DEFAULT_BLOCKS = [
    {"type": "field", "ip": NEVER, "outboundTag": "block"},
    {"type": "field", "ip": ["10.0.0.0/8", *PRIVATE], "outboundTag": "block"},
]
DEFAULT_DNS = {
    "hosts": {},
    "servers": [{"address": "localhost", "unexpectedIPs": [*NEVER, "10.0.0.0/8", *PRIVATE]}],
}

# roles/xray/tasks/config_proxy.yml, as it was when the builder replaced it; since then the
# block rules and outbound, the DNS that drops blocked answers, ForceIPv4, the ru preset
# without geoip:private, the inbound tag with its port (xray_inbounds), and the API.
PROXY_CONFIG = {
    "log": {"loglevel": "warning"},
    "dns": DNS,
    **API,
    "inbounds": [
        {
            "tag": "public-443",
            "listen": "0.0.0.0",
            "port": 443,
            "protocol": "vless",
            "settings": {"clients": [client(ALICE), client(BOB)], "decryption": "none"},
            "streamSettings": PUBLIC_STREAM,
        }
    ],
    "outbounds": [
        {
            "tag": "foreign-pool",
            "protocol": "vless",
            "settings": {
                "vnext": [
                    {
                        "address": "127.0.0.1",
                        "port": 10443,
                        "users": [
                            {"id": RELAY_UUID, "encryption": "none", "flow": "xtls-rprx-vision"}
                        ],
                    }
                ]
            },
            "streamSettings": {
                "network": "tcp",
                "security": "reality",
                "realitySettings": {
                    "serverName": "www.microsoft.com",
                    "publicKey": RELAY_PUBLIC_KEY,
                    "shortId": "0a1b2c3d",
                    "fingerprint": "chrome",
                },
            },
        },
        DIRECT,
        BLOCK,
    ],
    "routing": {
        "domainStrategy": "IPIfNonMatch",
        "rules": [
            NODE_BLOCK,
            PRIVATE_BLOCK,
            {
                "type": "field",
                "domain": ["geosite:ru-available-only-inside"],
                "outboundTag": "direct",
            },
            {
                "type": "field",
                "domain": ["domain:ru", "domain:su", "domain:xn--p1ai"],
                "outboundTag": "direct",
            },
            {"type": "field", "ip": ["geoip:ru"], "outboundTag": "direct"},
            {"type": "field", "network": "tcp,udp", "outboundTag": "foreign-pool"},
        ],
    },
}

# roles/xray/tasks/config_backend.yml, as it was when the builder replaced it (the client
# inbound's tag has its port since xray_inbounds; the API since live user changes).
CLIENT_INBOUND = {
    "tag": "client-443",
    "listen": "0.0.0.0",
    "port": 443,
    "protocol": "vless",
    "settings": {"clients": [client(ALICE), client(BOB)], "decryption": "none"},
    "streamSettings": PUBLIC_STREAM,
}
RELAY_INBOUND = {
    "tag": "relay",
    "listen": "0.0.0.0",
    "port": 8443,
    "protocol": "vless",
    "settings": {
        "clients": [
            {"id": RELAY_UUID, "email": "proxy-service@cluster", "flow": "xtls-rprx-vision"}
        ],
        "decryption": "none",
    },
    "streamSettings": {
        "network": "tcp",
        "security": "reality",
        "realitySettings": {
            "target": "www.microsoft.com:443",
            "serverNames": ["www.microsoft.com"],
            "privateKey": RELAY_PRIVATE_KEY,
            "shortIds": ["0a1b2c3d"],
        },
    },
}
ATTACHED_BACKEND_CONFIG = {
    "log": {"loglevel": "warning"},
    "dns": DNS,
    **API,
    "inbounds": [CLIENT_INBOUND, RELAY_INBOUND],
    # Direct first: it takes what no rule matches.
    "outbounds": [DIRECT, BLOCK],
    "routing": {"domainStrategy": "AsIs", "rules": [NODE_BLOCK, PRIVATE_BLOCK]},
}
UNATTACHED_BACKEND_CONFIG = {**ATTACHED_BACKEND_CONFIG, "inbounds": [CLIENT_INBOUND]}


def xhttp_node(role="proxy"):
    """``node()`` with both public transports and the relay over xhttp, options given."""
    document = node(role)
    document["public"]["inbounds"] = [
        {"transport": "tcp-vision", "port": 443},
        {"transport": "xhttp", "port": 8444, "path": "/edge", "mode": "packet-up"},
    ]
    document["relay"].update(transport="xhttp", options={"path": "/relay", "mode": "stream-one"})
    return document


def xhttp_public_inbound(tag):
    """The xhttp inbound of ``xhttp_node()``: no flow, its path and mode on the server."""
    return {
        "tag": tag,
        "listen": "0.0.0.0",
        "port": 8444,
        "protocol": "vless",
        "settings": {"clients": [ALICE, BOB], "decryption": "none"},
        "streamSettings": {
            "network": "xhttp",
            "security": "reality",
            "realitySettings": PUBLIC_REALITY,
            "xhttpSettings": {"path": "/edge", "mode": "packet-up"},
        },
    }


def xhttp_pool(path="/relay", mode="stream-one"):
    """The foreign-pool outbound over xhttp: no flow on the user, the relay leg's options."""
    return {
        "tag": "foreign-pool",
        "protocol": "vless",
        "settings": {
            "vnext": [
                {
                    "address": "127.0.0.1",
                    "port": 10443,
                    "users": [{"id": RELAY_UUID, "encryption": "none"}],
                }
            ]
        },
        "streamSettings": {
            "network": "xhttp",
            "security": "reality",
            "realitySettings": {
                "serverName": "www.microsoft.com",
                "publicKey": RELAY_PUBLIC_KEY,
                "shortId": "0a1b2c3d",
                "fingerprint": "chrome",
            },
            "xhttpSettings": {"path": path, "mode": mode},
        },
    }


XHTTP_RELAY_INBOUND = {
    "tag": "relay",
    "listen": "0.0.0.0",
    "port": 8443,
    "protocol": "vless",
    "settings": {
        "clients": [{"id": RELAY_UUID, "email": "proxy-service@cluster"}],
        "decryption": "none",
    },
    "streamSettings": {
        "network": "xhttp",
        "security": "reality",
        "realitySettings": RELAY_INBOUND["streamSettings"]["realitySettings"],
        "xhttpSettings": {"path": "/relay", "mode": "stream-one"},
    },
}


def config_error(document):
    with pytest.raises(ConfigError) as excinfo:
        build_config(document)
    error = excinfo.value
    assert str(error) == f"{error.variable}: {error.message}"
    return error


def strings(value):
    """Every string of a config, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


# --------------------------------------------------------------------------- golden configs


def test_proxy_config():
    config = build_config(node())
    assert config == PROXY_CONFIG
    # The same key order as the YAML builders (the file is written with sorted keys anyway).
    assert json.dumps(config) == json.dumps(PROXY_CONFIG)
    check_fail_closed(config)


def test_attached_backend_config():
    assert build_config(node("backend")) == ATTACHED_BACKEND_CONFIG


def test_proxy_config_with_xhttp():
    """Golden: a tcp-vision and an xhttp public inbound (same users and REALITY keys, the
    xhttp one without flow) and the foreign-pool outbound over xhttp."""
    config = build_config(xhttp_node())
    expected = {
        **PROXY_CONFIG,
        "inbounds": [PROXY_CONFIG["inbounds"][0], xhttp_public_inbound("public-8444")],
        "outbounds": [xhttp_pool(), DIRECT, BLOCK],
    }
    assert config == expected
    assert json.dumps(config) == json.dumps(expected)
    check_fail_closed(config)


def test_backend_config_with_xhttp():
    """Golden: both client inbounds, then the relay inbound over xhttp with the relay leg's
    path and mode (those of the proxy's foreign-pool outbound)."""
    config = build_config(xhttp_node("backend"))
    expected = {
        **ATTACHED_BACKEND_CONFIG,
        "inbounds": [CLIENT_INBOUND, xhttp_public_inbound("client-8444"), XHTTP_RELAY_INBOUND],
    }
    assert config == expected
    assert json.dumps(config) == json.dumps(expected)


def test_inbound_tags():
    assert inbound_tag("public", 443) == "public-443"
    assert inbound_tag("client", 8444) == "client-8444"


def test_user_fingerprints_never_reach_the_config():
    """A user's own fingerprint is for the links: the clients are id, email (and flow)."""
    document = xhttp_node()
    document["public"]["users"][0]["fingerprint"] = "firefox"
    document["public"]["users"][1]["fingerprint"] = None
    for role in BOTH:
        assert build_config({**document, "node_role": role}) == build_config(xhttp_node(role))


@pytest.mark.parametrize("relay", ["null", "missing"])
def test_unattached_backend_config(relay):
    document = node("backend")
    if relay == "null":
        document["relay"] = None
    else:
        del document["relay"]
    assert build_config(document) == UNATTACHED_BACKEND_CONFIG


def test_backend_ignores_the_proxy_keys():
    document = node("backend", pool={"port": "x"}, preset="xx", presets=None, fingerprint=7)
    assert build_config(document) == ATTACHED_BACKEND_CONFIG
    for key in ("pool", "preset", "presets", "fingerprint"):
        del document[key]
    assert build_config(document) == ATTACHED_BACKEND_CONFIG


def test_proxy_ignores_the_backend_relay_keys():
    document = node()
    document["relay"].update(name="has space", port=0)
    document["relay"]["identity"].pop("private_key")
    assert build_config(document) == PROXY_CONFIG
    for key in ("name", "port"):
        del document["relay"][key]
    assert build_config(document) == PROXY_CONFIG


def test_defaults():
    """Left out: the relay goes over xhttp with path / and mode auto, fingerprint chrome."""
    document = node()
    for key in ("log_level", "dns_hosts", "fingerprint", "own_addresses"):
        del document[key]
    del document["allowed_private_networks"]
    del document["relay"]["transport"]
    del document["pool"]["address"]
    config = build_config(document)
    rules = DEFAULT_BLOCKS + PROXY_CONFIG["routing"]["rules"][2:]
    assert config == {
        **PROXY_CONFIG,
        "log": {"loglevel": "warning"},
        "dns": DEFAULT_DNS,
        "outbounds": [xhttp_pool(path="/", mode="auto"), DIRECT, BLOCK],
        "routing": {**PROXY_CONFIG["routing"], "rules": rules},
    }
    assert set(DEFAULTS) <= set(VARIABLES)
    assert DEFAULTS["relay.transport"] == "xhttp"


@pytest.mark.parametrize("options", [None, {}, {"path": None, "mode": None}])
def test_no_options_are_the_defaults(options):
    """Options left out, empty or null: the transport's defaults, on both ends of the relay
    and on a public inbound."""
    document = xhttp_node()
    document["relay"]["options"] = options
    document["public"]["inbounds"][1] = {"transport": "xhttp", "port": 8444, **(options or {})}
    config = build_config(document)
    default = {"path": "/", "mode": "auto"}
    assert config["outbounds"][0] == xhttp_pool(path="/", mode="auto")
    assert config["inbounds"][1]["streamSettings"]["xhttpSettings"] == default
    backend = build_config({**document, "node_role": "backend"})
    assert backend["inbounds"][2]["streamSettings"]["xhttpSettings"] == default


def test_nulls_read_as_left_out():
    document = node(log_level=None, dns_hosts=None, fingerprint=None, own_addresses=None)
    document["pool"]["address"] = None
    document["allowed_private_networks"] = None
    assert build_config(document)["dns"] == DEFAULT_DNS


def test_digit_strings_are_ports():
    document = node("backend")
    document["public"]["inbounds"][0]["port"] = "8444"
    document["relay"]["port"] = "9443"
    config = build_config(document)
    assert [inbound["port"] for inbound in config["inbounds"]] == [8444, 9443]
    assert [inbound["tag"] for inbound in config["inbounds"]] == ["client-8444", "relay"]


def test_dns_hosts_with_several_addresses():
    hosts = {"de1.lab": ["10.0.0.5", "fd00::5"], "nl1.lab": "nl1.internal"}
    allowed = ["10.0.0.0/8", "fd00::/64"]
    config = build_config(node(dns_hosts=hosts, allowed_private_networks=allowed))
    assert config["dns"]["hosts"] == hosts


def test_no_users():
    document = node()
    document["public"]["users"] = []
    assert build_config(document)["inbounds"][0]["settings"]["clients"] == []


def test_ipv6_target():
    document = node("backend")
    document["public"]["reality"]["target"] = "[2001:db8::1]:8443"
    config = build_config(document)
    settings = [inbound["streamSettings"]["realitySettings"] for inbound in config["inbounds"]]
    assert [reality["target"] for reality in settings] == ["[2001:db8::1]:8443"] * 2


def test_the_input_is_not_changed():
    document = node()
    before = copy.deepcopy(document)
    build_config(document)
    build_config({**document, "node_role": "backend"})
    assert document == before


def test_the_config_is_json():
    for role in ("proxy", "backend"):
        config = build_config(node(role))
        assert json.loads(json.dumps(config)) == config


# --------------------------------------------------------------------------- structure


def test_one_function_builds_every_vless_reality_inbound(monkeypatch):
    calls = []
    original = builder.vless_reality_inbound

    def recording(tag, *args, **kwargs):
        calls.append(tag)
        return original(tag, *args, **kwargs)

    monkeypatch.setattr(builder, "vless_reality_inbound", recording)
    assert build_config(node()) == PROXY_CONFIG
    assert build_config(node("backend")) == ATTACHED_BACKEND_CONFIG
    assert calls == ["public-443", "client-443", "relay"]


def _service_name(value, variable):
    if not isinstance(value, str) or not value.isalnum():
        raise ConfigError(variable, f"must be letters and digits, got {value!r}")
    return value


# A made-up transport: what a third entry of TRANSPORTS would look like.
GRPC_TEST = Transport(
    network="grpc",
    flow=None,
    options={"service_name": ("edge", _service_name)},
    settings=lambda options: {"grpcSettings": {"serviceName": options["service_name"]}},
    link=lambda options: {"type": "grpc", "serviceName": options["service_name"]},
)


def test_a_new_transport_is_one_table_entry(monkeypatch):
    """One more entry in TRANSPORTS, nothing else: it is a valid public and relay transport,
    with its options checked and defaulted, on both ends of the relay, and in the links."""
    monkeypatch.setitem(TRANSPORTS, "grpc-test", GRPC_TEST)
    document = node()
    document["public"]["inbounds"].append(
        {"transport": "grpc-test", "port": 8445, "service_name": "tunnel"}
    )
    document["relay"]["transport"] = "grpc-test"
    config = build_config(document)
    tcp, grpc = config["inbounds"]
    assert tcp == PROXY_CONFIG["inbounds"][0]
    assert grpc["tag"] == "public-8445"
    assert grpc["settings"]["clients"] == [ALICE, BOB]  # no flow
    assert grpc["streamSettings"] == {
        "network": "grpc",
        "security": "reality",
        "realitySettings": PUBLIC_REALITY,
        "grpcSettings": {"serviceName": "tunnel"},
    }
    pool = config["outbounds"][0]
    assert pool["settings"]["vnext"][0]["users"] == [{"id": RELAY_UUID, "encryption": "none"}]
    assert pool["streamSettings"] == {
        "network": "grpc",
        "security": "reality",
        "realitySettings": PROXY_CONFIG["outbounds"][0]["streamSettings"]["realitySettings"],
        "grpcSettings": {"serviceName": "edge"},  # the default
    }
    assert config["outbounds"][1:] == [DIRECT, BLOCK]

    backend = build_config({**document, "node_role": "backend"})
    relay = backend["inbounds"][-1]
    assert relay["settings"]["clients"] == [{"id": RELAY_UUID, "email": "proxy-service@cluster"}]
    assert relay["streamSettings"]["grpcSettings"] == {"serviceName": "edge"}

    links = [link["link"] for link in client_links(document, "proxy.example.ru")]
    assert "type=grpc&serviceName=tunnel#alice-grpc-test-8445" in links[1]

    # Its options are checked, and errors name the variable and list it with the others.
    document["public"]["inbounds"][1]["service_name"] = "a b"
    assert str(config_error(document)) == (
        "xray_inbounds[1].service_name: must be letters and digits, got 'a b'"
    )
    document["public"]["inbounds"][1] = {"transport": "grpc-test", "port": 8445, "path": "/"}
    assert str(config_error(document)) == (
        "xray_inbounds[1].path: grpc-test takes service_name; 'path' is not one of them"
    )
    document["relay"]["transport"] = "quic"
    document["public"]["inbounds"].pop()
    assert str(config_error(document)) == (
        "xray_relay_transport: must be one of tcp-vision, xhttp, grpc-test, got 'quic'"
    )


def test_every_transport_is_modelled_by_the_tests():
    """The tests' own model of each transport (xray_strategies.TRANSPORT_MODELS) covers the
    table: a new transport fails here until the property tests know what it must produce."""
    assert set(TRANSPORT_MODELS) == set(TRANSPORTS)
    for name, transport in TRANSPORTS.items():
        model = TRANSPORT_MODELS[name]
        assert (transport.network, transport.flow) == (model.network, model.flow), name
        assert {key: default for key, (default, _) in transport.options.items()} == model.defaults
    assert XHTTP_MODES == ("auto", "packet-up", "stream-up", "stream-one")


def test_a_leaking_config_is_refused(monkeypatch):
    def leaking_routing(*args, **kwargs):
        return {"rules": [{"type": "field", "network": "tcp,udp", "outboundTag": "direct"}]}

    monkeypatch.setattr(builder, "preset_routing", leaking_routing)
    error = config_error(node())
    assert error.variable == "xray_config"
    # After the two block rules.
    assert error.message.startswith("refusing a config that could leak: routing.rules[2]: ")
    # A backend has no pool and routes no preset: nothing of that to refuse.
    assert build_config(node("backend")) == ATTACHED_BACKEND_CONFIG


NODE_LOCAL = "0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, ::/128, ::1/128, fe80::/10"


@pytest.mark.parametrize(
    ("role", "blocks", "expected"),
    [
        # Without the block rules, or with only the private one: the node itself is open.
        # On a proxy the preset's first direct rule is caught, on a backend the missing rules.
        ("proxy", [], "routing.rules[0]: can send traffic to direct outbound 'direct' before "),
        ("backend", [], "routing.rules: must start with rules sending 0.0.0.0/8, "),
        ("proxy", [PRIVATE_BLOCK], "routing.rules[1]: can send traffic to direct outbound "),
        ("backend", [PRIVATE_BLOCK], f"routing.rules: no rule blocks {NODE_LOCAL}, 10.0.0.2/32"),
        # The own addresses the private rule does not block (198.51.100.5 it does).
        (
            "proxy",
            [{**NODE_BLOCK, "ip": NEVER}, PRIVATE_BLOCK],
            "routing.rules[2]: can send traffic to direct outbound 'direct' before 10.0.0.2/32, "
            "45.67.89.10/32, 2a01:4f8::5/128 (the node itself",
        ),
        (
            "backend",
            [{**NODE_BLOCK, "ip": NEVER}, PRIVATE_BLOCK],
            "routing.rules: no rule blocks 10.0.0.2/32, 45.67.89.10/32, 2a01:4f8::5/128 (the",
        ),
    ],
)
def test_a_config_that_opens_the_node_is_refused(monkeypatch, role, blocks, expected):
    """The builder's own check: block rules removed or cut short behind its back."""

    def weak_block_rules(*args, **kwargs):
        return [copy.deepcopy(rule) for rule in blocks]

    monkeypatch.setattr(builder, "block_rules", weak_block_rules)
    error = config_error(node(role))
    assert error.variable == "xray_config"
    assert error.message.startswith(f"refusing a config that could leak: {expected}"), error.message


@pytest.mark.parametrize("role", ["proxy", "backend"])
def test_a_direct_rule_before_the_block_rules_is_refused(monkeypatch, role):
    """A preset-like direct rule ahead of the block rules (it passes check_rules)."""

    def block_rules_after(*args, **kwargs):
        rules = builder_block_rules(*args, **kwargs)
        return [{"type": "field", "ip": ["geoip:ru"], "outboundTag": "direct"}, *rules]

    builder_block_rules = builder.block_rules
    monkeypatch.setattr(builder, "block_rules", block_rules_after)
    error = config_error(node(role))
    assert error.message.startswith(
        "refusing a config that could leak: routing.rules[0]: can send traffic to direct "
        "outbound 'direct' before 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, ::/128, ::1/128, "
        "fe80::/10, 10.0.0.2/32, 45.67.89.10/32, 198.51.100.5/32, 2a01:4f8::5/128 (the node "
        "itself"
    ), error.message


# --------------------------------------------------------------------------- errors


_DELETE = object()
BOTH = ("proxy", "backend")
FINGERPRINT_LIST = (
    "chrome, firefox, safari, ios, android, edge, 360, qq, random, randomized, randomizednoalpn "
    "(uTLS ClientHello fingerprints)"
)


def _set(path, value):
    """A change of ``node()`` setting the dotted ``path`` (``None`` deletes it)."""
    keys = path.split(".")

    def change(document):
        target = document
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = int(keys[-1]) if isinstance(target, list) else keys[-1]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value

    return change


@pytest.mark.parametrize(
    ("roles", "change", "expected"),
    [
        # The node.
        (BOTH, _set("node_role", "entry"), "xray_node_role: must be proxy or backend, got 'entry'"),
        (
            BOTH,
            _set("api_port", 443),
            "xray_api_port: 443 is also the port of xray_inbounds[0]",
        ),
        (
            BOTH,
            _set("api_port", 0),
            "xray_api_port: must be a port between 1 and 65535, got int 0",
        ),
        (
            BOTH,
            _set("api_port", "127.0.0.1:10085"),
            "xray_api_port: must be a port between 1 and 65535, got str '127.0.0.1:10085'",
        ),
        (BOTH, _set("node_role", _DELETE), "xray_node_role: is required (input key node_role)"),
        (
            BOTH,
            _set("log_level", 3),
            "xray_log_level: must be a string (quote it in YAML), got int 3",
        ),
        (
            BOTH,
            _set("log_level", "warning\n"),
            r"xray_log_level: 'warning\n' contains the control character or line break '\n'",
        ),
        (BOTH, _set("log_level", ""), "xray_log_level: must not be empty"),
        (
            BOTH,
            _set("dns_hosts", ["a"]),
            "xray_dns_hosts: must be a mapping of name to address(es)",
        ),
        (
            BOTH,
            _set("dns_hosts", {"a\tb": "10.0.0.1"}),
            r"xray_dns_hosts key 'a\tb': 'a\tb' contains the control character",
        ),
        (
            BOTH,
            _set("dns_hosts", {"a": "10.0.0.1\n"}),
            r"xray_dns_hosts['a']: '10.0.0.1\n' contains the control character",
        ),
        (
            BOTH,
            _set("dns_hosts", {"a": ["10.0.0.1", 5]}),
            "xray_dns_hosts['a'][1]: must be a string (quote it in YAML), got int 5",
        ),
        (BOTH, _set("dns_hosts", {"a": []}), "xray_dns_hosts['a']: must be an address or a"),
        # The public inbounds.
        (
            BOTH,
            _set("public.inbounds.0.port", 0),
            "xray_inbounds[0].port: must be a port between 1 and 65535, got int 0",
        ),
        (
            BOTH,
            _set("public.inbounds.0.port", 65536),
            "xray_inbounds[0].port: must be a port between 1 and 65535",
        ),
        (
            BOTH,
            _set("public.inbounds.0.port", True),
            "xray_inbounds[0].port: must be a port between 1 and 65535, got bool",
        ),
        (
            BOTH,
            _set("public.inbounds.0.port", "44 3"),
            "xray_inbounds[0].port: must be a port between 1 and 65535, got str",
        ),
        (
            BOTH,
            _set("public.inbounds.0.port", 443.0),
            "xray_inbounds[0].port: must be a port between 1 and 65535, got float",
        ),
        (BOTH, _set("public.inbounds.0.port", _DELETE), "xray_inbounds[0].port: is required"),
        (BOTH, _set("public.inbounds.0.port", None), "xray_inbounds[0].port: is required"),
        (
            BOTH,
            _set("public.inbounds.0.transport", _DELETE),
            "xray_inbounds[0].transport: is required",
        ),
        (
            BOTH,
            _set("public.inbounds.0.transport", "quic"),
            "xray_inbounds[0].transport: must be one of tcp-vision, xhttp, got 'quic'",
        ),
        (
            BOTH,
            _set("public.inbounds.0.transport", ["xhttp"]),
            "xray_inbounds[0].transport: must be one of tcp-vision, xhttp, got ['xhttp']",
        ),
        (
            BOTH,
            _set("public.inbounds", _DELETE),
            "xray_inbounds: is required (input key public.inbounds)",
        ),
        (BOTH, _set("public", None), "xray_inbounds: is required (input key public.inbounds)"),
        (
            BOTH,
            _set("public.inbounds", []),
            "xray_inbounds: must be a non-empty list of inbounds, each a mapping with transport "
            "and port (e.g. [{transport: tcp-vision, port: 443}]), got list",
        ),
        (
            BOTH,
            _set("public.inbounds", {"transport": "tcp-vision", "port": 443}),
            "xray_inbounds: must be a non-empty list of inbounds, each a mapping with transport "
            "and port (e.g. [{transport: tcp-vision, port: 443}]), got dict",
        ),
        (
            BOTH,
            _set("public.inbounds", "tcp-vision"),
            "xray_inbounds: must be a non-empty list of inbounds",
        ),
        (
            BOTH,
            _set("public.inbounds.0", 443),
            "xray_inbounds[0]: must be a mapping with transport and port, got int",
        ),
        (
            BOTH,
            _set("public.inbounds.0.path", "/"),
            "xray_inbounds[0].path: tcp-vision takes no options; 'path' is not one of them",
        ),
        (
            BOTH,
            _set("public.inbounds", [{"transport": "tcp-vision", "port": 443}] * 2),
            "xray_inbounds[1].port: 443 is also the port of xray_inbounds[0]",
        ),
        (
            BOTH,
            _set(
                "public.inbounds",
                [
                    {"transport": "tcp-vision", "port": 443},
                    {"transport": "xhttp", "port": 8444},
                    {"transport": "xhttp", "port": "443"},
                ],
            ),
            "xray_inbounds[2].port: 443 is also the port of xray_inbounds[0]",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "mode": "fast"}),
            "xray_inbounds[0].mode: must be one of auto, packet-up, stream-up, stream-one, "
            "got 'fast'",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "mode": ["auto"]}),
            "xray_inbounds[0].mode: must be one of auto, packet-up, stream-up, stream-one, "
            "got ['auto']",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "path": "edge"}),
            "xray_inbounds[0].path: must be a URL path that starts with / (letters, digits and "
            "-._~!$&'()*+,;=:@/, at most 128 characters, no query, no fragment, no percent "
            "escapes), got 'edge'",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "path": "/a?b=1"}),
            "xray_inbounds[0].path: must be a URL path that starts with /",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "path": "/a%2Fb"}),
            "xray_inbounds[0].path: must be a URL path that starts with /",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "path": "/" * 129}),
            "xray_inbounds[0].path: must be a URL path that starts with /",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "path": 5}),
            "xray_inbounds[0].path: must be a string (quote it in YAML), got int 5",
        ),
        (
            BOTH,
            _set("public.inbounds.0", {"transport": "xhttp", "port": 443, "host": "a.b"}),
            "xray_inbounds[0].host: xhttp takes path, mode; 'host' is not one of them",
        ),
        (BOTH, _set("public.users", None), "xray_users: is required (input key public.users)"),
        (
            BOTH,
            _set("public.users", {"id": ALICE["id"]}),
            "xray_users: must be a list of users with id and email, got dict",
        ),
        (
            BOTH,
            _set("public.users.1", "bob"),
            "xray_users[1]: must be a mapping with id and email, got str",
        ),
        (
            BOTH,
            _set("public.users.1.level", 0),
            "xray_users[1]: unknown key 'level' (a user has id, email and maybe fingerprint)",
        ),
        (
            BOTH,
            _set("public.users.0.fingerprint", "unsafe"),
            f"xray_users[0].fingerprint: must be one of {FINGERPRINT_LIST}, got 'unsafe'",
        ),
        (
            BOTH,
            _set("public.users.1.fingerprint", ""),
            f"xray_users[1].fingerprint: must be one of {FINGERPRINT_LIST}, got ''",
        ),
        (
            BOTH,
            _set("public.users.1.fingerprint", 7),
            "xray_users[1].fingerprint: must be one of chrome, ",
        ),
        (BOTH, _set("public.users.1.id", _DELETE), "xray_users[1].id: is required"),
        (BOTH, _set("public.users.0.email", None), "xray_users[0].email: is required"),
        (
            BOTH,
            _set("public.users.1.id", "bob"),
            "xray_users[1].id: must be a UUID in canonical form, 8-4-4-4-12 hexadecimal digits",
        ),
        (
            BOTH,
            _set("public.users.1.id", "0f8e3a524c1b4d2e9a6f7b1c2d3e4f50"),
            "xray_users[1].id: must be a UUID in canonical form, 8-4-4-4-12 hexadecimal digits "
            "as `xray uuid` prints it (Xray silently derives an unrelated id from other strings "
            "of up to 30 characters), got a string of 32 characters",
        ),
        (
            BOTH,
            _set("public.users.1.id", "{0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50}"),
            "xray_users[1].id: must be a UUID",
        ),
        (
            BOTH,
            _set("public.users.1.id", "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f5g"),
            "xray_users[1].id: must be a UUID",
        ),
        (BOTH, _set("public.users.1.id", 7), "xray_users[1].id: must be a UUID"),
        (
            BOTH,
            _set("public.users.1.id", ALICE["id"].upper()),
            "xray_users[1].id: is also the id of xray_users[0]",
        ),
        (
            BOTH,
            _set("public.users.1.email", "ALICE"),
            "xray_users[1].email: 'ALICE' is also the email of xray_users[0] (Xray compares "
            "emails ignoring case)",
        ),
        (
            BOTH,
            _set("public.users.1.email", "bob smith"),
            "xray_users[1].email: 'bob smith' is not a safe name: 1 to 64 letters, digits and "
            "_.@+- starting with a letter or digit (no whitespace, /, quotes or backslash), "
            "because it names the user's files and labels the user's traffic metrics",
        ),
        *[
            (BOTH, _set("public.users.1.email", name), f"xray_users[1].email: {name!r} is not a")
            for name in (
                "../bob",
                "bob/x",
                ".",
                "..",
                ".bob",
                "-bob",
                'bo"b',
                "bob's",
                "bo\\b",
                "bob{x}",
                "böb",
                "b" * 65,
            )
        ],
        (BOTH, _set("public.users.1.email", ""), "xray_users[1].email: must not be empty"),
        (
            BOTH,
            _set("public.users.1.email", "bob\x00"),
            r"xray_users[1].email: 'bob\x00' contains the control character or line break",
        ),
        (
            BOTH,
            _set("public.users.1.email", "bob\u2028"),
            r"xray_users[1].email: 'bob\u2028' contains the control character or line break "
            r"'\u2028'",
        ),
        (
            BOTH,
            _set("public.reality.target", "www.microsoft.com"),
            "xray_reality_target: must be host:port (e.g. www.microsoft.com:443), "
            "got 'www.microsoft.com'",
        ),
        (BOTH, _set("public.reality.target", ":443"), "xray_reality_target: must be host:port"),
        (
            BOTH,
            _set("public.reality.target", "www.microsoft.com:0"),
            "xray_reality_target: '0' is not a port between 1 and 65535",
        ),
        (
            BOTH,
            _set("public.reality.target", "www.microsoft.com:https"),
            "xray_reality_target: 'https' is not a port",
        ),
        (
            BOTH,
            _set("public.reality.target", "https://www.microsoft.com:443"),
            "xray_reality_target: 'https://www.microsoft.com' is not a host name or IPv4 address",
        ),
        (
            BOTH,
            _set("public.reality.target", "2001:db8::1:443"),
            "xray_reality_target: '2001:db8::1' is not a host name or IPv4 address (an IPv6 "
            "address goes in brackets: [2001:db8::1]:443)",
        ),
        (
            BOTH,
            _set("public.reality.target", "[2001:db8::g]:443"),
            "xray_reality_target: '[2001:db8::g]' is not an IPv6 address in brackets",
        ),
        (
            BOTH,
            _set("public.reality.target", "www.microsoft.com:443\n"),
            "xray_reality_target: 'www.microsoft.com:443\\n' contains the control character",
        ),
        (
            BOTH,
            _set("public.reality.server_names", "www.microsoft.com"),
            "xray_reality_server_names: must be a non-empty list of host names, "
            "got str 'www.microsoft.com'",
        ),
        (
            BOTH,
            _set("public.reality.server_names", []),
            "xray_reality_server_names: must be a non-empty list of host names, got list",
        ),
        (
            BOTH,
            _set("public.reality.server_names.1", "*.microsoft.com"),
            "xray_reality_server_names[1]: must be a host name (dot-separated labels of "
            "letters, digits and '-'), got '*.microsoft.com'",
        ),
        (
            BOTH,
            _set("public.reality.server_names.0", "microsoft.com."),
            "xray_reality_server_names[0]: must be a host name",
        ),
        (
            BOTH,
            _set("public.reality.server_names.0", "a" * 64 + ".com"),
            "xray_reality_server_names[0]: must be a host name",
        ),
        (
            BOTH,
            _set("public.reality.private_key", ""),
            "xray_reality_private_key: must not be empty",
        ),
        (
            BOTH,
            _set("public.reality.private_key", _DELETE),
            "xray_reality_private_key: is required (input key public.reality.private_key)",
        ),
        (
            BOTH,
            _set("public.reality.short_id", "abc"),
            "xray_reality_short_id: must be 2 to 16 hexadecimal digits, an even number of "
            "them, got 'abc'",
        ),
        (
            BOTH,
            _set("public.reality.short_id", "0123456789abcdef01"),
            "xray_reality_short_id: must be 2 to 16 hexadecimal digits",
        ),
        (BOTH, _set("public.reality.short_id", "zz"), "xray_reality_short_id: must be 2 to 16"),
        (
            BOTH,
            _set("public.reality.short_id", ""),
            "xray_reality_short_id: must not be empty: with an empty short id the REALITY "
            "inbound accepts clients that send none",
        ),
        (
            BOTH,
            _set("public.reality.short_id", 1234),
            "xray_reality_short_id: must be a string of hexadecimal digits (quote it in YAML), "
            "got int 1234",
        ),
        # The relay, on both roles.
        (
            BOTH,
            _set("relay.transport", "tcp"),
            "xray_relay_transport: must be one of tcp-vision, xhttp, got 'tcp'",
        ),
        (
            BOTH,
            _set("relay.options", {"path": "/"}),
            "xray_relay_transport_options.path: tcp-vision takes no options; 'path' is not one "
            "of them",
        ),
        (
            BOTH,
            _set("relay.options", "/relay"),
            "xray_relay_transport_options: must be a mapping, got str",
        ),
        (
            BOTH,
            _set("relay", {**node()["relay"], "transport": "xhttp", "options": {"mode": "up"}}),
            "xray_relay_transport_options.mode: must be one of auto, packet-up, stream-up, "
            "stream-one, got 'up'",
        ),
        (
            BOTH,
            _set("relay", {**node()["relay"], "transport": None, "options": {"path": "x"}}),
            "xray_relay_transport_options.path: must be a URL path that starts with /",
        ),
        (
            BOTH,
            _set("relay", {**node()["relay"], "transport": "xhttp", "options": {"Path": "/"}}),
            "xray_relay_transport_options.Path: xhttp takes path, mode; 'Path' is not one of them",
        ),
        (
            BOTH,
            _set("relay.server_name", None),
            "xray_relay_server_name: is required (input key relay.server_name)",
        ),
        (
            BOTH,
            _set("relay.server_name", "www.microsoft.com:443"),
            "xray_relay_server_name: must be a host name",
        ),
        (
            BOTH,
            _set("relay.identity", None),
            "xray_relay_identity: is required (input key relay.identity)",
        ),
        (
            BOTH,
            _set("relay.identity", "proxy-service@cluster"),
            "xray_relay_identity: must be the relay identity (uuid, private_key, public_key, "
            "short_id), got str",
        ),
        (
            BOTH,
            _set("relay.identity", {"changed": False, "skipped": True}),
            "xray_relay_identity: the relay identity was not loaded (its task was skipped: no "
            "proxy lists a backend in proxy_backends)",
        ),
        (BOTH, _set("relay.identity.uuid", None), "xray_relay_identity.uuid: is required"),
        (BOTH, _set("relay.identity.uuid", ""), "xray_relay_identity.uuid: must be a UUID"),
        (
            BOTH,
            _set("relay.identity.short_id", "0a1"),
            "xray_relay_identity.short_id: must be 2 to 16 hexadecimal digits",
        ),
        (
            BOTH,
            _set("relay.identity.short_id", ""),
            "xray_relay_identity.short_id: must not be empty",
        ),
        # Proxy only.
        (
            ("proxy",),
            _set("relay", None),
            "xray_relay_identity: is required on a proxy: its foreign-pool outbound uses the "
            "shared relay identity (input key relay is missing or null)",
        ),
        (("proxy",), _set("relay", _DELETE), "xray_relay_identity: is required on a proxy"),
        (
            ("proxy",),
            _set("relay.identity.public_key", _DELETE),
            "xray_relay_identity.public_key: is required",
        ),
        (
            ("proxy",),
            _set("relay.identity.public_key", "abc\r"),
            r"xray_relay_identity.public_key: 'abc\r' contains the control character",
        ),
        (("proxy",), _set("pool", None), "xray_pool_port: is required (input key pool.port)"),
        (
            ("proxy",),
            _set("pool.port", 70000),
            "xray_pool_port: must be a port between 1 and 65535, got int 70000",
        ),
        (("proxy",), _set("pool.address", ""), "xray_pool_address: must not be empty"),
        (
            ("proxy",),
            _set("fingerprint", "chrome\n"),
            f"xray_fingerprint: must be one of {FINGERPRINT_LIST}, got 'chrome\\n'",
        ),
        (
            ("proxy",),
            _set("fingerprint", "unsafe"),
            f"xray_fingerprint: must be one of {FINGERPRINT_LIST}, got 'unsafe'",
        ),
        (("proxy",), _set("fingerprint", ""), "xray_fingerprint: must be one of chrome, "),
        (("proxy",), _set("fingerprint", "Chrome"), "xray_fingerprint: must be one of chrome, "),
        (
            ("proxy",),
            _set("pool.port", 443),
            "xray_pool_port: 443 is also the port of xray_inbounds[0]",
        ),
        (
            ("proxy",),
            _set("pool.port", "443"),
            "xray_pool_port: 443 is also the port of xray_inbounds[0]",
        ),
        (("proxy",), _set("preset", None), "proxy_preset: is required (input key preset)"),
        (("proxy",), _set("preset", "xx"), "proxy_preset: unknown preset 'xx' (known: ru)"),
        (
            ("proxy",),
            _set("presets", None),
            "proxy_preset: presets: must be a mapping of name to preset, got NoneType",
        ),
        (
            ("proxy",),
            _set("presets.ru.direct.1.values.0", "r u"),
            "proxy_preset: preset 'ru' direct[1] (domain_suffix): 'r u' is not a domain name",
        ),
        (
            ("proxy",),
            _set("presets.ru.direct.1.values.0", "ru\x00"),
            r"proxy_preset: preset 'ru' direct[1] (domain_suffix): 'ru\x00' contains the "
            "control character or line break",
        ),
        # Backend only.
        (
            ("backend",),
            _set("relay.port", None),
            "xray_relay_port: is required (input key relay.port)",
        ),
        (
            ("backend",),
            _set("relay.port", "8443a"),
            "xray_relay_port: must be a port between 1 and 65535, got str '8443a'",
        ),
        (
            ("backend",),
            _set("relay.port", 443),
            "xray_relay_port: 443 is also the port of xray_inbounds[0]",
        ),
        (("backend",), _set("relay.name", "proxy service"), "xray_relay_name: 'proxy service'"),
        (("backend",), _set("relay.name", "relay/1"), "xray_relay_name: 'relay/1' is not a safe"),
        (
            ("backend",),
            _set("relay.port", 10085),
            "xray_api_port: 10085 is also the port of xray_relay_port",
        ),
        (
            ("backend",),
            _set("api_port", 8443),
            "xray_api_port: 8443 is also the port of xray_relay",
        ),
        # Proxy only.
        (
            ("proxy",),
            _set("api_port", "10443"),
            "xray_api_port: 10443 is also the port of xray_pool_port",
        ),
        (("backend",), _set("relay.name", _DELETE), "xray_relay_name: is required"),
        (
            ("backend",),
            _set("relay.identity.private_key", _DELETE),
            "xray_relay_identity.private_key: is required",
        ),
        # The shape of the input.
        (
            BOTH,
            _set("pubic", {}),
            "xray_config: the input: unknown key 'pubic' (known: node_role, log_level, "
            "api_port, dns_hosts, public, relay, pool, presets, preset, fingerprint, "
            "own_addresses, allowed_private_networks)",
        ),
        (
            BOTH,
            _set("public.reality.server_name", "x"),
            "xray_config: public.reality: unknown key 'server_name' (known: target, "
            "server_names, private_key, short_id)",
        ),
        (
            BOTH,
            _set("relay.identities", {}),
            "xray_config: relay: unknown key 'identities'",
        ),
        (
            BOTH,
            _set("public", "public"),
            "xray_config: public must be a mapping (see the filter's documentation), got str",
        ),
        (
            ("proxy",),
            _set("pool", [10443]),
            "xray_config: pool must be a mapping (see the filter's documentation), got list",
        ),
    ],
)
@pytest.mark.parametrize("role", BOTH)
def test_errors_name_the_variable(roles, change, expected, role):
    document = node(role)
    change(document)
    if role not in roles:
        build_config(document)  # a key of the other role: ignored
        return
    error = config_error(document)
    assert str(error).startswith(expected), str(error)


@pytest.mark.parametrize("role", BOTH)
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # The node's own addresses.
        (
            {"own_addresses": "203.0.113.5"},
            "xray_own_addresses: must be a list of IP addresses, got str",
        ),
        (
            {"own_addresses": ["203.0.113.5", "proxy.example.org"]},
            "xray_own_addresses[1]: 'proxy.example.org' is not an IP address",
        ),
        ({"own_addresses": [None]}, "xray_own_addresses[0]: must be an IP address, got None"),
        # The opt-in.
        (
            {"allowed_private_networks": "172.29.0.0/24"},
            "xray_allowed_private_networks: must be a list of networks such as 172.29.0.0/24, "
            "got str",
        ),
        (
            {"allowed_private_networks": ["172.29.0.1/24"]},
            "xray_allowed_private_networks[0]: '172.29.0.1/24' has host bits set; did you mean "
            "172.29.0.0/24?",
        ),
        (
            {"allowed_private_networks": ["lab"]},
            "xray_allowed_private_networks[0]: 'lab' is not a network or an address",
        ),
        (
            {"allowed_private_networks": [24]},
            "xray_allowed_private_networks[0]: must be a network such as 172.29.0.0/24, got int",
        ),
        (
            {"allowed_private_networks": ["10.0.0.0/8", "127.0.0.0/8"]},
            "xray_allowed_private_networks[1]: 127.0.0.0/8 overlaps 127.0.0.0/8 (the node itself",
        ),
        (
            {"allowed_private_networks": ["169.254.169.254"]},
            "xray_allowed_private_networks[0]: 169.254.169.254/32 overlaps 169.254.0.0/16",
        ),
        (
            {"allowed_private_networks": ["0.0.0.0/0"]},
            "xray_allowed_private_networks[0]: 0.0.0.0/0 overlaps 0.0.0.0/8",
        ),
        (
            {"allowed_private_networks": ["::/0"]},
            "xray_allowed_private_networks[0]: ::/0 overlaps ::/128",
        ),
        (
            {"allowed_private_networks": ["fe80::/64"]},
            "xray_allowed_private_networks[0]: fe80::/64 overlaps fe80::/10",
        ),
        (
            {"allowed_private_networks": ["8.8.8.0/24"]},
            "xray_allowed_private_networks[0]: 8.8.8.0/24 is not inside one of the private or "
            "special-purpose networks, the only ones blocked (10.0.0.0/8, ",
        ),
        (
            {"allowed_private_networks": ["172.0.0.0/8"]},
            "xray_allowed_private_networks[0]: 172.0.0.0/8 is not inside one of the private",
        ),
        # Static DNS answers the block rules would keep users from.
        (
            {"dns_hosts": {"metadata": "169.254.169.254"}},
            "xray_dns_hosts['metadata']: 169.254.169.254 is the node itself (loopback, "
            "link-local, unspecified, one of its own addresses) or multicast or reserved",
        ),
        (
            {"dns_hosts": {"me": ["93.184.216.34", "::ffff:127.0.0.1"]}},
            "xray_dns_hosts['me'][1]: 127.0.0.1 is the node itself",
        ),
        (
            {"dns_hosts": {"self": "10.0.0.2"}},
            "xray_dns_hosts['self']: 10.0.0.2 is the node itself",
        ),
        (
            {"dns_hosts": {"lan": "192.168.1.5"}},
            "xray_dns_hosts['lan']: 192.168.1.5 is in a private network Xray users are blocked "
            "from; list it, or its network, in xray_allowed_private_networks to let them reach it",
        ),
    ],
)
def test_block_input_errors_name_the_variable(role, changes, expected):
    error = config_error(node(role, **changes))
    assert str(error).startswith(expected), str(error)


def test_dns_hosts_may_name_names_and_allowed_or_public_addresses():
    hosts = {"a.lab": "a.internal", "b.lab": ["10.0.0.7", "93.184.216.34"]}
    assert build_config(node(dns_hosts=hosts))["dns"]["hosts"] == hosts


def test_allowed_networks_leave_the_private_rule_and_own_addresses_stay():
    document = node(
        own_addresses=["172.29.0.10", "2001:db8::5", "172.30.0.1"],
        allowed_private_networks=["172.29.0.0/24", "172.29.0.0/25", "fd00:1::/64"],
        dns_hosts={"site.lab": "172.29.0.20"},
    )
    node_rule, private_rule = build_config(document)["routing"]["rules"][:2]
    # 172.29.0.10 is in the allowed network: listed; the others are blocked anyway.
    assert node_rule["ip"] == [*NEVER, "172.29.0.10/32"]
    # 172.16.0.0/12 minus 172.29.0.0/24 (the /25 inside it adds nothing), fc00::/7 minus
    # fd00:1::/64: no address of the allowed networks is in the rule, every other one is.
    private = [ipaddress.ip_network(text) for text in private_rule["ip"]]
    for text, outer in (("172.29.0.0/24", "172.16.0.0/12"), ("fd00:1::/64", "fc00::/7")):
        allowed, outer = ipaddress.ip_network(text), ipaddress.ip_network(outer)
        same = [network for network in private if network.version == allowed.version]
        assert not any(network.overlaps(allowed) for network in same)
        inside = sum(network.num_addresses for network in same if network.subnet_of(outer))
        assert inside == outer.num_addresses - allowed.num_addresses
    # Not allowed here (node() allows it): blocked as a whole again.
    assert "10.0.0.0/8" in private_rule["ip"]


def test_the_input_must_be_a_mapping():
    error = config_error([node()])
    assert str(error) == (
        "xray_config: the input must be a mapping (see the filter's documentation), got list"
    )


def test_secrets_are_never_quoted():
    secret = "s3cr3t-Key-Material_0123456789abcdefghijklm"
    for change, variable in [
        (_set("public.reality.private_key", secret + "\n"), "xray_reality_private_key"),
        (_set("relay.identity.private_key", secret + "\x00"), "xray_relay_identity.private_key"),
        (_set("public.users.0.id", secret), "xray_users[0].id"),
        (_set("relay.identity.uuid", secret), "xray_relay_identity.uuid"),
    ]:
        document = node("backend")
        change(document)
        error = config_error(document)
        assert error.variable == variable
        assert secret not in str(error) and "s3cr3t" not in str(error)
    document = node("backend")
    document["public"]["users"][1]["id"] = ALICE["id"]
    assert ALICE["id"] not in str(config_error(document))


def test_every_input_value_names_a_variable():
    keys = {"node_role", "log_level", "api_port", "dns_hosts", "preset", "fingerprint"}
    keys |= {"public.inbounds", "public.users"}
    keys |= {f"public.reality.{key}" for key in ("target", "server_names", "private_key")}
    keys |= {"public.reality.short_id", "pool.address", "pool.port"}
    keys |= {f"relay.{key}" for key in ("transport", "options", "name", "server_name", "port")}
    keys |= {"relay.identity"}
    keys |= {"own_addresses", "allowed_private_networks"}
    assert set(VARIABLES) == keys
    assert set(DEFAULTS) <= keys


# --------------------------------------------------------------------------- properties


def expected_direct_rules(preset):
    rules = []
    for entry in preset["direct"]:
        field, prefix = ENTRY_TYPES[entry["type"]]
        values = [f"{prefix}{value}" for value in entry_values(entry)]
        rules.append({"type": "field", field: values, "outboundTag": "direct"})
    return rules


def _api_port(document):
    return int(document.get("api_port") or DEFAULTS["api_port"])


@given(st.sampled_from(BOTH).flatmap(nodes))
def test_the_api_listens_on_loopback_only(document):
    """Both node kinds open Xray's API on 127.0.0.1:<xray_api_port>, a port no inbound of
    the node has, without an inbound or a routing rule of its own (api.listen), and count
    every user's traffic; the config still fails closed and keeps the node itself blocked."""
    config = build_config(document)
    port = _api_port(document)
    assert config["api"] == {
        "tag": "api",
        "listen": f"127.0.0.1:{port}",
        "services": ["HandlerService", "StatsService"],
    }
    host, _, listen_port = config["api"]["listen"].rpartition(":")
    assert ipaddress.ip_address(host).is_loopback and int(listen_port) == port
    assert port not in [inbound["port"] for inbound in config["inbounds"]]
    if document["node_role"] == "proxy":
        assert port != document["pool"]["port"]
    assert all(inbound["tag"] != "api" for inbound in config["inbounds"])
    assert all(inbound["protocol"] == "vless" for inbound in config["inbounds"])
    assert all(inbound["listen"] == "0.0.0.0" for inbound in config["inbounds"])
    # No rule of its own: none routes the tag api (a generated rule value may well spell it).
    for rule in config["routing"]["rules"]:
        assert rule.get("outboundTag") != "api" and "api" not in rule.get("inboundTag", [])
    assert all(outbound["tag"] != "api" for outbound in config["outbounds"])
    assert config["stats"] == {}
    assert config["policy"] == {
        "levels": {"0": {"statsUserUplink": True, "statsUserDownlink": True}}
    }
    own = document["own_addresses"]
    check_local_blocked(config, own, direct_tag="direct")
    if document["node_role"] == "proxy":
        check_fail_closed(config, own_addresses=own)


@pytest.mark.parametrize("role", BOTH)
def test_the_api_port(role):
    config = build_config(node(role, api_port="20085"))
    assert config["api"]["listen"] == "127.0.0.1:20085"
    assert build_config(node(role, api_port=None)) == build_config(node(role))


@given(user_lists(), st.sampled_from(BOTH))
def test_user_names_are_safe_file_names_and_label_values(users, role):
    """Every name the builder accepts is a plain file name and a Prometheus label value
    that needs no escaping."""
    document = node(role)
    document["public"]["users"] = users
    for user in build_config(document)["inbounds"][0]["settings"]["clients"]:
        name = user["email"]
        assert name not in (".", "..") and len(name) <= 64
        assert not set(name) & set("/\\\"'` \t\n{}=,")
        assert name == name.strip() and name.isascii()


@given(nodes("proxy"))
def test_every_proxy_config_fails_closed(document):
    config = build_config(document)
    check_fail_closed(config, pool_tag="foreign-pool", direct_tag="direct")
    check_fail_closed(config, own_addresses=document["own_addresses"])
    assert [outbound["tag"] for outbound in config["outbounds"]] == [
        "foreign-pool",
        "direct",
        "block",
    ]
    assert config["outbounds"][1:] == [DIRECT, BLOCK]
    pool = config["outbounds"][0]
    assert pool["protocol"] == "vless"
    assert pool["settings"]["vnext"][0]["address"] == "127.0.0.1"
    assert pool["settings"]["vnext"][0]["port"] == document["pool"]["port"]
    rules = config["routing"]["rules"]
    (preset,) = document["presets"].values()
    blocks = [rule for rule in rules if rule.get("outboundTag") == "block"]
    direct = [rule for rule in rules if rule.get("outboundTag") == "direct"]
    assert direct == expected_direct_rules(preset)
    # The block rules first, then the preset's, then the catch-all; nothing else.
    assert rules[: len(blocks)] == blocks
    assert rules[len(blocks) : len(blocks) + len(direct)] == direct
    assert all(rule.get("domain") or rule.get("ip") for rule in direct)
    assert rules[-1] == {"type": "field", "network": "tcp,udp", "outboundTag": "foreign-pool"}
    assert len(rules) == len(blocks) + len(direct) + 1


def server_client(user, transport):
    """A user as the inbound of ``transport`` must list it: id, email, the transport's flow;
    never the user's own fingerprint."""
    return {"id": user["id"], "email": user["email"], **flow_of(transport)}


def public_reality(document):
    reality = document["public"]["reality"]
    return {
        "target": reality["target"],
        "serverNames": reality["server_names"],
        "privateKey": reality["private_key"],
        "shortIds": [reality["short_id"]],
    }


def assert_public_inbounds(config, document, base):
    """Every xray_inbounds entry, in order, as an inbound ``<base>-<port>`` carrying its
    transport's network, flow and settings, with the same users and REALITY keys."""
    public = document["public"]
    given = public["inbounds"]
    inbounds = config["inbounds"][: len(given)]
    assert [inbound["tag"] for inbound in inbounds] == [f"{base}-{int(i['port'])}" for i in given]
    for inbound, entry in zip(inbounds, given, strict=True):
        name = entry["transport"]
        assert inbound["port"] == int(entry["port"])
        assert inbound["listen"] == "0.0.0.0" and inbound["protocol"] == "vless"
        clients = [server_client(user, name) for user in public["users"]]
        assert inbound["settings"] == {"clients": clients, "decryption": "none"}
        reality = public_reality(document)
        assert inbound["streamSettings"] == stream_of(name, reality, inbound_options(entry))


@given(nodes("proxy"))
def test_proxy_inbounds_and_pool_carry_the_inputs(document):
    config = build_config(document)
    assert len(config["inbounds"]) == len(document["public"]["inbounds"])
    assert_public_inbounds(config, document, "public")
    relay = document["relay"]
    identity = relay["identity"]
    name = relay_transport(document)
    pool = config["outbounds"][0]
    assert pool["settings"]["vnext"][0]["users"] == [
        {"id": identity["uuid"], "encryption": "none", **flow_of(name)}
    ]
    reality = {
        "serverName": relay["server_name"],
        "publicKey": identity["public_key"],
        "shortId": identity["short_id"],
        "fingerprint": document.get("fingerprint", "chrome"),
    }
    assert pool["streamSettings"] == stream_of(name, reality, relay.get("options"))


@pytest.mark.parametrize("relay", sorted(TRANSPORTS))
@given(data=st.data())
def test_the_transport_matrix(relay, data):
    """Every public transport list (1 to 3 inbounds of any transports, distinct ports) with
    every relay transport: the proxy config fails closed and blocks the node itself, the
    pool outbound carries the relay transport's network, flow and settings, every public
    inbound its own transport's."""
    document = data.draw(nodes("proxy", relay_transport=relay))
    config = build_config(document)
    own = document["own_addresses"]
    check_fail_closed(config, pool_tag="foreign-pool", direct_tag="direct", own_addresses=own)
    check_local_blocked(config, own, direct_tag="direct")
    assert_public_inbounds(config, document, "public")
    pool = config["outbounds"][0]
    model = TRANSPORT_MODELS[relay]
    options = document["relay"].get("options")
    assert pool["streamSettings"]["network"] == model.network
    assert pool["settings"]["vnext"][0]["users"][0].get("flow") == model.flow
    settings = {k: v for k, v in pool["streamSettings"].items() if k.endswith("Settings")}
    assert settings.pop("realitySettings")
    assert settings == model.settings(checked_options(relay, options))


@given(nodes("backend"))
def test_every_backend_config(document):
    config = build_config(document)
    check_local_blocked(config, document["own_addresses"])
    assert config["outbounds"] == [DIRECT, BLOCK]
    assert config["routing"]["domainStrategy"] == "AsIs"
    assert {rule["outboundTag"] for rule in config["routing"]["rules"]} == {"block"}
    assert_public_inbounds(config, document, "client")
    tags = [inbound["tag"] for inbound in config["inbounds"]]
    public = [f"client-{int(inbound['port'])}" for inbound in document["public"]["inbounds"]]
    relay = document["relay"]
    assert tags == ([*public, "relay"] if relay else public)
    if relay:
        name = relay_transport(document)
        inbound = config["inbounds"][-1]
        assert inbound["port"] == relay["port"]
        assert inbound["settings"]["clients"] == [
            server_client({"id": relay["identity"]["uuid"], "email": relay["name"]}, name)
        ]
        reality = {
            "target": document["public"]["reality"]["target"],
            "serverNames": [relay["server_name"]],
            "privateKey": relay["identity"]["private_key"],
            "shortIds": [relay["identity"]["short_id"]],
        }
        assert inbound["streamSettings"] == stream_of(name, reality, relay.get("options"))


def _stream_without_reality(stream):
    return {key: value for key, value in stream.items() if key != "realitySettings"}


@given(nodes("proxy"))
def test_both_ends_of_the_relay_agree(document):
    """One relay input, built as a proxy and as a backend: the backend's relay inbound and
    the proxy's foreign-pool outbound agree on network, flow and transport settings
    (xhttpSettings), on the relay user, and the outbound's REALITY settings are accepted by
    the inbound's."""
    proxy = build_config(document)
    backend = build_config({**document, "node_role": "backend"})
    pool = proxy["outbounds"][0]
    relay = backend["inbounds"][-1]
    assert relay["tag"] == "relay"
    assert relay["port"] == document["relay"]["port"]
    stream = pool["streamSettings"]
    assert _stream_without_reality(stream) == _stream_without_reality(relay["streamSettings"])
    assert stream["network"] == relay["streamSettings"]["network"]
    assert stream.get("xhttpSettings") == relay["streamSettings"].get("xhttpSettings")
    (user,) = pool["settings"]["vnext"][0]["users"]
    (client,) = relay["settings"]["clients"]
    assert user["id"] == client["id"]
    assert user.get("flow") == client.get("flow")
    client_reality = stream["realitySettings"]
    server_reality = relay["streamSettings"]["realitySettings"]
    assert client_reality["serverName"] in server_reality["serverNames"]
    assert client_reality["shortId"] in server_reality["shortIds"]
    identity = document["relay"]["identity"]
    assert (server_reality["privateKey"], client_reality["publicKey"]) == (
        identity["private_key"],
        identity["public_key"],
    )


def _probes(data, document):
    """Addresses that are the node itself: some of its local networks, all its own."""
    probes = [data.draw(LOCAL_ADDRESSES) for _ in range(4)]
    probes += [ipaddress.ip_address(text) for text in NODE_LOCAL_EDGES]
    return probes + [normalised(text) for text in document["own_addresses"]]


# The first and last address of each local network.
NODE_LOCAL_EDGES = [
    edge
    for network in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10")
    for edge in (str(ipaddress.ip_network(network)[0]), str(ipaddress.ip_network(network)[-1]))
]


@given(st.sampled_from(BOTH).flatmap(nodes), st.data())
def test_the_node_itself_is_blocked_on_every_node(document, data):
    """For any preset, any allowed networks and own addresses, on both node kinds: no rule
    sends loopback, link-local, the unspecified addresses or the node's own addresses to
    direct, and a connection to one is blocked by the first rules (before any preset rule)."""
    config = build_config(document)
    protocols = {outbound["tag"]: outbound["protocol"] for outbound in config["outbounds"]}
    for address in _probes(data, document):
        index, tag = route_of_address(config, address)
        assert index is not None and index < 2, (address, index, tag)
        assert protocols[tag] == "blackhole", (address, tag)


def _inside(address, networks):
    return any(address in ipaddress.ip_network(network) for network in networks)


@given(st.sampled_from(BOTH).flatmap(nodes), st.data())
def test_private_networks_are_blocked_unless_allowed(document, data):
    """An address is blocked by the first rules exactly when it is never reachable, one of
    the node's own, or private and in no allowed network; a public one never is."""
    config = build_config(document)
    allowed = document["allowed_private_networks"]
    own = {normalised(text) for text in document["own_addresses"]}
    candidates = [data.draw(PRIVATE_ADDRESSES), data.draw(ANY_ADDRESSES)]
    candidates += [data.draw(addresses_in(network)) for network in allowed]
    for address in candidates:
        address = normalised(str(address))
        index, tag = route_of_address(config, address, strict=False)
        expected = (
            _inside(address, builder.NEVER_ALLOWED_NETWORKS)
            or address in own
            or (_inside(address, builder.PRIVATE_NETWORKS) and not _inside(address, allowed))
        )
        assert (index is not None and index < 2) == expected, (address, index, tag)
        if not expected:
            assert tag != "block", (address, index, tag)


@given(st.sampled_from(BOTH).flatmap(nodes))
def test_the_dns_drops_what_the_rules_block(document):
    """Names cannot lead where addresses cannot: Xray's only DNS server drops answers in
    every blocked network, and the direct outbound never asks the system resolver."""
    config = build_config(document)
    blocked = [ip for rule in config["routing"]["rules"][:2] for ip in rule["ip"]]
    assert all(rule["outboundTag"] == "block" for rule in config["routing"]["rules"][:2])
    assert config["dns"]["servers"] == [{"address": "localhost", "unexpectedIPs": blocked}]
    direct = next(o for o in config["outbounds"] if o["tag"] == "direct")
    assert direct["settings"] == {"domainStrategy": "ForceIPv4"}


@st.composite
def networks_touching_the_node(draw):
    """A never-reachable network itself, a network inside it or one around it."""
    never = ipaddress.ip_network(draw(st.sampled_from(builder.NEVER_ALLOWED_NETWORKS)))
    low = max(1, never.prefixlen - 4)
    prefix = draw(st.integers(low, never.max_prefixlen))
    inner = draw(addresses_in(never))
    return str(ipaddress.ip_network(f"{inner}/{prefix}", strict=False))


@FEWER
@given(st.sampled_from(BOTH), networks_touching_the_node())
def test_the_opt_in_never_reopens_the_node(role, network):
    """An allowed network touching loopback, link-local, unspecified, multicast or reserved
    (equal, inside or around) is refused, naming the variable; nothing is opened."""
    document = node(role, allowed_private_networks=["172.29.0.0/24", network])
    error = config_error(document)
    assert error.variable == "xray_allowed_private_networks[1]", str(error)
    assert error.message.endswith("which is never reachable through Xray"), str(error)


@FEWER
@given(st.sampled_from(BOTH).flatmap(nodes))
def test_no_config_string_has_a_control_character(document):
    config = build_config(document)
    assert not any(control_character(text) for text in strings(config))


BAD_USERS = st.sampled_from(
    [
        ("not-a-mapping", "must be a mapping with id and email"),
        ({"id": "alice", "email": "alice2"}, "must be a UUID"),
        ({"id": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b1"}, "is required"),
        ({"id": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b19", "email": "a b"}, "is not a safe name"),
        ({"id": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b19", "email": "a/b"}, "is not a safe name"),
        ({"id": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b19", "email": "x", "flow": ""}, "unknown key"),
    ]
)


@FEWER
@given(user_lists(), BAD_USERS, st.data())
def test_a_bad_user_anywhere_is_named_by_its_index(users, bad, data):
    user, fragment = bad
    index = data.draw(st.integers(0, len(users)))
    users.insert(index, user)
    document = node("backend")
    document["public"]["users"] = users
    error = config_error(document)
    assert error.variable.startswith(f"xray_users[{index}]"), str(error)
    assert fragment in error.message


@FEWER
@given(user_lists(max_size=4).filter(bool), st.data())
def test_a_repeated_user_is_named(users, data):
    first = data.draw(st.integers(0, len(users) - 1))
    key = data.draw(st.sampled_from(["id", "email"]))
    copy_of = dict(users[first])
    other = {
        "id": "ffffffff-ffff-4fff-8fff-ffffffffffff",
        "email": "other-user-longer-than-any-drawn",
    }
    duplicate = {**other, key: copy_of[key].swapcase()}
    document = node("backend")
    document["public"]["users"] = [*users, duplicate]
    error = config_error(document)
    assert error.variable == f"xray_users[{len(users)}].{key}"
    assert f"is also the {key} of xray_users[{first}]" in error.message


@given(st.integers(-(2**20), 2**20))
def test_ports(port):
    document = node("backend")
    document["relay"]["port"] = port
    if port == 443:  # the public inbound's
        assert str(config_error(document)) == (
            "xray_relay_port: 443 is also the port of xray_inbounds[0]"
        )
    elif port == 10085:  # the API's
        assert str(config_error(document)) == (
            "xray_api_port: 10085 is also the port of xray_relay_port"
        )
    elif 1 <= port <= 65535:
        assert build_config(document)["inbounds"][1]["port"] == port
        document["relay"]["port"] = str(port)
        assert build_config(document)["inbounds"][1]["port"] == port
    else:
        assert config_error(document).variable == "xray_relay_port"


@given(SHORT_IDS, KEYS)
def test_short_ids_and_keys_pass_through(short_id, key):
    document = node("backend")
    document["public"]["reality"].update(short_id=short_id.upper(), private_key=key)
    reality = build_config(document)["inbounds"][0]["streamSettings"]["realitySettings"]
    assert reality["shortIds"] == [short_id.upper()] and reality["privateKey"] == key
