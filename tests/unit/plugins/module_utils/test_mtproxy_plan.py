# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import base64
import ipaddress
import re
from itertools import pairwise
from secrets import token_hex

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    BALANCE_ALGORITHMS,
    PlanError,
    network_gateway,
    replica_plan,
    validate,
    weak_secret_reason,
)
from hypothesis import assume, given
from hypothesis import strategies as st

SECRET = "3f9c1a7e5b2d4068c1e9a7b5d3f20486"

BASE = {
    "mtproxy_secret": SECRET,
    "mtproxy_replicas": 3,
    "mtproxy_base_port": 10000,
    "mtproxy_network_subnet": "10.250.0.0/24",
    "haproxy_port": 443,
    "haproxy_stats_port": 8404,
    "haproxy_balance_algorithm": "roundrobin",
}

PORT_VARIABLES = ("mtproxy_base_port", "haproxy_port", "haproxy_stats_port")


def assert_not_leaked(secret, message, window=8):
    """No run of ``window`` consecutive characters of the secret shows up in the message."""
    secret, message = str(secret), str(message)
    for candidate, text in ((secret, message), (secret.lower(), message.lower())):
        for start in range(max(len(candidate) - window + 1, 0)):
            assert candidate[start : start + window] not in text, "secret leaked"


def plan_error(params):
    with pytest.raises(PlanError) as excinfo:
        validate(params)
    return excinfo.value


# --------------------------------------------------------------------------- examples


def test_replica_plan_example():
    assert replica_plan(3, 10000, "10.250.0.0/24") == [
        {
            "index": 1,
            "name": "mtproxy1",
            "server": "mtp1",
            "host_port": 10000,
            "address": "10.250.0.2",
            "container_port": 443,
        },
        {
            "index": 2,
            "name": "mtproxy2",
            "server": "mtp2",
            "host_port": 10001,
            "address": "10.250.0.3",
            "container_port": 443,
        },
        {
            "index": 3,
            "name": "mtproxy3",
            "server": "mtp3",
            "host_port": 10002,
            "address": "10.250.0.4",
            "container_port": 443,
        },
    ]


def test_replica_plan_custom_prefixes_and_port():
    plan = replica_plan(
        2, 20000, "192.168.7.0/29", name_prefix="edge", server_prefix="s", container_port=8443
    )
    assert [(p["name"], p["server"], p["address"], p["container_port"]) for p in plan] == [
        ("edge1", "s1", "192.168.7.2", 8443),
        ("edge2", "s2", "192.168.7.3", 8443),
    ]


def test_replica_plan_fills_smallest_subnet_exactly():
    # /29: 6 usable hosts = gateway + 5 replicas; the last one sits just below broadcast.
    plan = replica_plan(5, 10000, "10.0.0.0/29")
    assert plan[-1]["address"] == "10.0.0.6"
    with pytest.raises(PlanError, match=r"^subnet: .*6 replicas need 7.*use a /28"):
        replica_plan(6, 10000, "10.0.0.0/29")


def test_network_gateway():
    assert network_gateway("10.250.0.0/24") == "10.250.0.1"
    assert network_gateway("172.20.8.0/30") == "172.20.8.1"
    with pytest.raises(PlanError, match=r"^subnet: "):
        network_gateway("172.20.8.0/31")


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"replicas": 0}, "replicas"),
        ({"replicas": True}, "replicas"),
        ({"replicas": "3"}, "replicas"),
        ({"replicas": 2.0}, "replicas"),
        ({"base_port": 0}, "base_port"),
        ({"base_port": 65535, "replicas": 2}, "base_port"),
        ({"subnet": "10.250.0.1/24"}, "subnet"),
        ({"subnet": "10.250.0.0/30"}, "subnet"),
        ({"subnet": None}, "subnet"),
        ({"name_prefix": ""}, "name_prefix"),
        ({"server_prefix": "mtp proxy"}, "server_prefix"),
        ({"container_port": 70000}, "container_port"),
    ],
)
def test_replica_plan_rejects(kwargs, variable):
    arguments = {"replicas": 3, "base_port": 10000, "subnet": "10.250.0.0/24", **kwargs}
    with pytest.raises(PlanError) as excinfo:
        replica_plan(**arguments)
    assert excinfo.value.variable == variable
    assert str(excinfo.value).startswith(f"{variable}: ")


def test_plan_error_shape():
    error = PlanError("haproxy_port", "boom")
    assert isinstance(error, ValueError)
    assert (error.variable, error.message, str(error)) == (
        "haproxy_port",
        "boom",
        "haproxy_port: boom",
    )


def test_validate_plain_secret():
    result = validate({**BASE, "mtproxy_secret": SECRET.upper()})
    assert {
        key: result[key] for key in ("replicas", "gateway", "name_prefix", "server_prefix")
    } == {
        "replicas": replica_plan(3, 10000, "10.250.0.0/24"),
        "gateway": "10.250.0.1",
        "name_prefix": "mtproxy",
        "server_prefix": "mtp",
    }
    assert result["users"] == [
        {"name": "default", "secret": SECRET, "mode": "classic", "link_secret": SECRET}
    ]
    assert (result["server_secret"], result["client_secret"], result["secret_mode"]) == (
        SECRET,
        SECRET,
        "classic",
    )
    # Without a profile nothing reaches a container and HAProxy balances by leastconn.
    assert result["container"] == {"env": {}, "args": [], "files": []}
    assert result["balance"] == {"algorithm": "leastconn", "hash_payload": {}}


def test_validate_dd_secret():
    result = validate({**BASE, "mtproxy_secret": "DD" + SECRET})
    assert result["server_secret"] == SECRET
    assert result["client_secret"] == "dd" + SECRET
    assert result["secret_mode"] == "dd"


def test_plain_secret_may_start_with_ee_or_dd():
    for secret in ("ee" + SECRET[2:], "dd" + SECRET[2:]):
        assert validate({**BASE, "mtproxy_secret": secret})["secret_mode"] == "classic"


@pytest.mark.parametrize(
    "secret",
    [
        "ee" + SECRET + "7777772e676f6f676c652e636f6d",  # ee + secret + hex("www.google.com")
        "ee" + SECRET + "www.google.com",
        "EE" + SECRET,
        # base64url spelling of ee + 16 bytes + "google.com", as printed by some generators
        base64.urlsafe_b64encode(b"\xee" + bytes(range(16)) + b"google.com").decode().rstrip("="),
    ],
)
def test_faketls_secret_rejected(secret):
    error = plan_error({**BASE, "mtproxy_secret": secret})
    assert error.variable == "mtproxy_secret"
    # Without mtproxy_tls_domain an "ee" secret has no domain to agree with.
    assert "'ee'" in error.message
    assert_not_leaked(secret, error)


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        (SECRET[:-1], "got 31 characters"),
        (SECRET + "0", "got 33 characters"),
        (SECRET[:-1] + "g", "not hexadecimal"),
        ("dd" + SECRET[:-1], "31 characters after 'dd'"),
        (" " + SECRET, "whitespace"),
        (SECRET + "\n", "whitespace"),
        ("", "empty"),
        (12345678901234567890123456789012, "quote it in YAML"),
        (["a"], "type list"),
    ],
)
def test_bad_secret_rejected_without_echo(secret, fragment):
    error = plan_error({**BASE, "mtproxy_secret": secret})
    assert error.variable == "mtproxy_secret"
    assert fragment in error.message
    assert_not_leaked(secret, error)


def test_collision_message_from_brief():
    error = plan_error({**BASE, "haproxy_stats_port": 10001})
    assert str(error) == (
        "haproxy_stats_port: 10001 collides with replica port of mtproxy2 (mtproxy_base_port + 1)"
    )


def test_haproxy_port_collisions():
    error = plan_error({**BASE, "haproxy_port": 10000})
    assert str(error) == (
        "haproxy_port: 10000 collides with replica port of mtproxy1 (mtproxy_base_port)"
    )
    error = plan_error({**BASE, "haproxy_stats_port": 443})
    assert error.variable == "haproxy_stats_port"
    assert "haproxy_port" in error.message


def test_port_span_overflow():
    error = plan_error({**BASE, "mtproxy_base_port": 65534})
    assert error.variable == "mtproxy_base_port"
    assert "65536" in error.message
    assert "at most 65533" in error.message
    assert validate({**BASE, "mtproxy_base_port": 65533})["replicas"][-1]["host_port"] == 65535


def test_subnet_with_host_bits_names_the_network():
    error = plan_error({**BASE, "mtproxy_network_subnet": "10.250.0.1/24"})
    assert error.variable == "mtproxy_network_subnet"
    assert "did you mean 10.250.0.0/24" in error.message


def test_subnet_too_small_says_how_many():
    error = plan_error({**BASE, "mtproxy_replicas": 3, "mtproxy_network_subnet": "10.9.0.0/30"})
    assert error.variable == "mtproxy_network_subnet"
    assert "2 usable host addresses" in error.message
    assert "need 4" in error.message
    assert "/29" in error.message


@pytest.mark.parametrize(
    "subnet",
    [
        "10.250.0.0",
        "10.250/16",
        "010.250.0.0/16",
        "10.250.0.0/08",
        "10.250.0.256/24",
        "10.250.0.0/33",
        "fd00::/64",
        "127.0.0.0/24",
        "224.1.0.0/24",
        "169.254.0.0/24",
        "0.0.0.0/0",
        " 10.250.0.0/24",
        1024,
    ],
)
def test_bad_subnet(subnet):
    assert plan_error({**BASE, "mtproxy_network_subnet": subnet}).variable == (
        "mtproxy_network_subnet"
    )


def test_replicas_bounds_and_default_max():
    big = {**BASE, "mtproxy_network_subnet": "10.250.0.0/16"}
    assert len(validate({**big, "mtproxy_replicas": 64})["replicas"]) == 64
    error = plan_error({**big, "mtproxy_replicas": 65})
    assert error.variable == "mtproxy_replicas"
    assert "64 (mtproxy_replicas_max)" in error.message
    assert (
        len(validate({**big, "mtproxy_replicas": 65, "mtproxy_replicas_max": 100})["replicas"])
        == 65
    )
    assert plan_error({**big, "mtproxy_replicas": 3, "mtproxy_replicas_max": 2}).variable == (
        "mtproxy_replicas"
    )
    assert plan_error({**big, "mtproxy_replicas_max": 0}).variable == "mtproxy_replicas_max"
    for value in (0, -1, True, "3", 2.5):
        assert plan_error({**big, "mtproxy_replicas": value}).variable == "mtproxy_replicas"


@pytest.mark.parametrize("algorithm", BALANCE_ALGORITHMS)
def test_balance_algorithms_accepted(algorithm):
    validate({**BASE, "haproxy_balance_algorithm": algorithm})


@pytest.mark.parametrize("algorithm", ["uri", "RoundRobin", "hdr(host)", "", 1])
def test_balance_algorithms_rejected(algorithm):
    error = plan_error({**BASE, "haproxy_balance_algorithm": algorithm})
    assert error.variable == "haproxy_balance_algorithm"
    assert "leastconn" in error.message


# mtproxy_secret is optional: mtproxy_users or a generated secret stand in for it.
@pytest.mark.parametrize(
    "variable", sorted(set(BASE) - {"haproxy_balance_algorithm", "mtproxy_secret"})
)
def test_missing_parameter(variable):
    params = {key: value for key, value in BASE.items() if key != variable}
    assert str(plan_error(params)) == f"{variable}: is required"


def test_container_port_is_optional_and_reaches_the_plan():
    assert {r["container_port"] for r in validate(BASE)["replicas"]} == {443}
    replicas = validate({**BASE, "mtproxy_container_port": 8443})["replicas"]
    assert {replica["container_port"] for replica in replicas} == {8443}
    error = plan_error({**BASE, "mtproxy_container_port": 70000})
    assert str(error) == "mtproxy_container_port: must be between 1 and 65535, got 70000"


def test_balance_algorithm_is_checked_only_when_given():
    # The haproxy role's argument spec checks it in a deployment (choices).
    params = {key: value for key, value in BASE.items() if key != "haproxy_balance_algorithm"}
    assert validate(params)["replicas"] == validate(BASE)["replicas"]


# --------------------------------------------------------------------------- weak secrets

WEAK_SECRETS = [
    ("0" * 32, "one digit repeated"),
    ("f" * 32, "one digit repeated"),
    ("dd" + "0" * 32, "one digit repeated"),
    ("DEADBEEF" * 4, "repeats a pattern of 8 characters"),
    ("0123456789abcdef" * 2, "repeats a pattern of 16 characters"),
    ("ab" * 16, "repeats a pattern of 2 characters"),
    ("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f01", "only 3 different hexadecimal digits"),
    ("00112233445566778899aabbccddeeff", "mostly repeat or count up or down"),
    ("fedcba98765432100123456789abcdef", "mostly repeat or count up or down"),
]


@pytest.mark.parametrize(("secret", "reason"), WEAK_SECRETS)
def test_weak_secrets_are_rejected_without_echoing_them(secret, reason):
    error = plan_error({**BASE, "mtproxy_secret": secret})
    assert error.variable == "mtproxy_secret"
    assert "well-known or guessable" in error.message
    assert reason in error.message
    assert "leave mtproxy_secret empty" in error.message.lower()
    assert_not_leaked(secret, error)


@given(st.binary(min_size=16, max_size=16))
def test_random_secrets_are_not_called_weak(raw):
    # A generated secret is rejected with probability ~1e-10 (see the thresholds); hypothesis
    # favours structured bytes, so only assume the generator's own output passes.
    assume(len(set(raw.hex())) >= 7)
    assume(len({raw.hex()[i : i + 4] for i in range(0, 32, 4)}) == 8)
    steps = sum((int(b, 16) - int(a, 16)) % 16 in (0, 1, 15) for a, b in pairwise(raw.hex()))
    assume(steps <= 23)
    result = validate({**BASE, "mtproxy_secret": raw.hex()})
    assert result["server_secret"] == raw.hex()


def test_generated_secrets_pass():
    for _ in range(2000):
        secret = token_hex(16)
        assert weak_secret_reason(secret) is None, "a generated secret was called weak"


def test_unknown_parameter():
    assert plan_error({**BASE, "mtproxy_replica": 2}).variable == "mtproxy_replica"


# --------------------------------------------------------------------------- properties

# (parent network, smallest prefix allowed inside it): private ranges plus a public block.
PARENTS = [
    (ipaddress.IPv4Network("10.0.0.0/8"), 8),
    (ipaddress.IPv4Network("172.16.0.0/12"), 12),
    (ipaddress.IPv4Network("192.168.0.0/16"), 16),
    (ipaddress.IPv4Network("32.0.0.0/3"), 8),
]

# Secrets as an operator generates them (weak ones are tested above).
hex_secrets = (
    st.binary(min_size=16, max_size=16)
    .map(bytes.hex)
    .filter(lambda s: weak_secret_reason(s) is None)
    .flatmap(lambda s: st.sampled_from([s, s.upper()]))
)
secrets = st.one_of(hex_secrets, hex_secrets.map(lambda s: "dd" + s))


@st.composite
def networks(draw, smallest_prefix=0):
    """IPv4 networks usable for a Docker bridge, prefix between smallest_prefix and /30."""
    parent, min_prefix = draw(st.sampled_from(PARENTS))
    prefix = draw(st.integers(min_value=max(min_prefix, smallest_prefix), max_value=30))
    block = 2 ** (32 - prefix)
    slot = draw(st.integers(min_value=0, max_value=parent.num_addresses // block - 1))
    return ipaddress.IPv4Network((int(parent.network_address) + slot * block, prefix))


@st.composite
def valid_params(draw):
    network = draw(networks())
    usable = network.num_addresses - 2
    replicas_max = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=200)))
    limit = min(usable - 1, replicas_max or 64)
    replicas = draw(st.integers(min_value=1, max_value=limit))
    base_port = draw(st.integers(min_value=1, max_value=65535 - replicas + 1))
    replica_ports = range(base_port, base_port + replicas)
    free_port = st.integers(min_value=1, max_value=65535).filter(lambda p: p not in replica_ports)
    haproxy_port = draw(free_port)
    stats_port = draw(free_port.filter(lambda p: p != haproxy_port))
    params = {
        "mtproxy_secret": draw(secrets),
        "mtproxy_replicas": replicas,
        "mtproxy_base_port": base_port,
        "mtproxy_network_subnet": str(network),
        "haproxy_port": haproxy_port,
        "haproxy_stats_port": stats_port,
        "haproxy_balance_algorithm": draw(st.sampled_from(BALANCE_ALGORITHMS)),
    }
    if replicas_max is not None:
        params["mtproxy_replicas_max"] = replicas_max
    return params


def check_plan_invariants(plan, replicas, base_port, subnet):
    network = ipaddress.IPv4Network(subnet)
    gateway = network.network_address + 1
    assert len(plan) == replicas
    assert [p["index"] for p in plan] == list(range(1, replicas + 1))
    for key in ("name", "server", "host_port", "address"):
        assert len({p[key] for p in plan}) == replicas, key
    assert [p["host_port"] for p in plan] == list(range(base_port, base_port + replicas))
    for entry in plan:
        address = ipaddress.IPv4Address(entry["address"])
        assert address in network
        assert address not in (network.network_address, network.broadcast_address, gateway)
        assert entry["name"] == f"mtproxy{entry['index']}"
        assert entry["server"] == f"mtp{entry['index']}"
        assert entry["container_port"] == 443


@given(valid_params())
def test_validate_accepts_every_valid_input(params):
    result = validate(params)
    check_plan_invariants(
        result["replicas"],
        params["mtproxy_replicas"],
        params["mtproxy_base_port"],
        params["mtproxy_network_subnet"],
    )
    network = ipaddress.IPv4Network(params["mtproxy_network_subnet"])
    assert result["gateway"] == str(network.network_address + 1)
    secret = params["mtproxy_secret"]
    assert re.fullmatch(r"[0-9a-f]{32}", result["server_secret"])
    assert result["client_secret"] == secret.lower()
    assert result["secret_mode"] == ("dd" if len(secret) == 34 else "classic")
    assert result["client_secret"].endswith(result["server_secret"])
    ports = [params["haproxy_port"], params["haproxy_stats_port"]]
    ports += [p["host_port"] for p in result["replicas"]]
    assert len(set(ports)) == len(ports)


@given(
    st.data(),
    networks(),
    st.integers(min_value=1, max_value=65535),
)
def test_replica_plan_properties(data, network, base_port):
    usable = network.num_addresses - 2
    limit = min(usable - 1, 65535 - base_port + 1, 300)
    replicas = data.draw(st.integers(min_value=1, max_value=limit))
    plan = replica_plan(replicas, base_port, str(network))
    check_plan_invariants(plan, replicas, base_port, str(network))
    assert network_gateway(str(network)) == str(network.network_address + 1)


@given(networks(smallest_prefix=26), st.integers(min_value=1, max_value=2))
def test_too_small_subnet_is_rejected(network, extra):
    usable = network.num_addresses - 2  # at most 62
    replicas = usable + extra - 1  # needs usable + extra addresses with the gateway
    params = {**BASE, "mtproxy_replicas": replicas, "mtproxy_network_subnet": str(network)}
    error = plan_error(params)
    assert error.variable == "mtproxy_network_subnet"
    assert f"need {replicas + 1}" in error.message


@given(networks(), st.integers(min_value=1, max_value=2**31))
def test_host_bits_are_rejected_with_the_meant_network(network, offset):
    host = network.network_address + offset % network.num_addresses
    if host == network.network_address:
        host += 1
    given_subnet = f"{host}/{network.prefixlen}"
    error = plan_error({**BASE, "mtproxy_network_subnet": given_subnet})
    assert error.variable == "mtproxy_network_subnet"
    assert f"did you mean {network}?" in error.message


@st.composite
def collisions(draw):
    params = draw(valid_params())
    base, replicas = params["mtproxy_base_port"], params["mtproxy_replicas"]
    index = draw(st.integers(min_value=1, max_value=replicas))
    kind = draw(st.sampled_from(["haproxy_port", "haproxy_stats_port", "stats_equals_haproxy"]))
    if kind == "stats_equals_haproxy":
        params["haproxy_stats_port"] = params["haproxy_port"]
        return params, "haproxy_stats_port", None
    params[kind] = base + index - 1
    return params, kind, index


@given(collisions())
def test_every_collision_is_reported(case):
    params, variable, index = case
    error = plan_error(params)
    assert error.variable == variable
    assert params["mtproxy_secret"] not in str(error)
    if index is None:
        assert "haproxy_port" in error.message
    else:
        assert f"replica port of mtproxy{index} " in error.message
        assert "mtproxy_base_port" in error.message


out_of_range_ports = st.one_of(
    st.integers(max_value=0), st.integers(min_value=65536), st.booleans(), st.text(max_size=6)
)


@st.composite
def out_of_range(draw):
    params = draw(valid_params())
    kind = draw(st.sampled_from([*PORT_VARIABLES, "span", "replicas", "replicas_max"]))
    if kind in PORT_VARIABLES:
        params[kind] = draw(out_of_range_ports)
        return params, kind
    if kind == "span":
        replicas = draw(st.integers(min_value=2, max_value=min(64, params["mtproxy_replicas"] + 8)))
        params["mtproxy_replicas"] = replicas
        params["mtproxy_replicas_max"] = 64
        params["mtproxy_network_subnet"] = "10.250.0.0/24"
        params["mtproxy_base_port"] = draw(
            st.integers(min_value=65535 - replicas + 2, max_value=65535)
        )
        params["haproxy_port"], params["haproxy_stats_port"] = 80, 443
        return params, "mtproxy_base_port"
    if kind == "replicas_max":
        params["mtproxy_replicas_max"] = draw(
            st.one_of(st.integers(max_value=0), st.booleans(), st.floats(allow_nan=False))
        )
        return params, "mtproxy_replicas_max"
    replicas_max = params.get("mtproxy_replicas_max", 64)
    params["mtproxy_replicas"] = draw(
        st.one_of(
            st.integers(max_value=0),
            st.integers(min_value=replicas_max + 1),
            st.booleans(),
            st.floats(allow_nan=False),
            st.text(max_size=4),
        )
    )
    return params, "mtproxy_replicas"


@given(out_of_range())
def test_every_out_of_range_value_is_reported(case):
    params, variable = case
    error = plan_error(params)
    assert error.variable == variable
    assert str(error).startswith(f"{variable}: ")
    assert params["mtproxy_secret"] not in str(error)


def _is_valid_secret(value):
    return bool(re.fullmatch(r"(?i)(dd)?[0-9a-f]{32}", value))


bad_secrets = st.one_of(
    # hex of the wrong length (with or without a dd prefix)
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=80),
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=80).map(lambda s: "dd" + s),
    # FakeTLS: ee + 32 hex + hex-encoded domain
    st.tuples(hex_secrets, st.from_regex(r"[a-z]{1,20}\.[a-z]{2,6}", fullmatch=True)).map(
        lambda t: "ee" + t[0] + t[1].encode().hex()
    ),
    # right length, wrong characters
    st.tuples(hex_secrets, st.integers(0, 31), st.sampled_from("ghxyzGZ-_ =+/")).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
    ),
    # arbitrary text, without letters: the message's own words (mtproxy_secret, hexadecimal,
    # ...) are not a leak, and random text did spell them out (e.g. "mtproxy_")
    st.text(
        alphabet=st.characters(blacklist_categories=("Lu", "Ll", "Lt", "Cs")),
        min_size=8,
        max_size=64,
    ),
).filter(lambda s: not _is_valid_secret(s))


@given(valid_params(), bad_secrets)
def test_every_bad_secret_is_reported_without_echo(params, secret):
    params["mtproxy_secret"] = secret
    error = plan_error(params)
    assert error.variable == "mtproxy_secret"
    assert secret not in str(error)
    assert_not_leaked(secret, error)


def test_too_many_replicas_names_the_operators_limit_not_a_subnet():
    # Measured before: the HAProxy default computed the plan first and said "use a /22".
    error = plan_error({**BASE, "mtproxy_replicas": 1000})
    assert str(error) == (
        "mtproxy_replicas: must be between 1 and 64 (mtproxy_replicas_max), got 1000"
    )
