# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan with an implementation profile: FakeTLS, masking, users, balance, container settings."""

from __future__ import annotations

import base64
import copy
import re

import pytest
import yaml
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import (
    PlanError,
    validate,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_profile import (
    validate_profile,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_secret import (
    weak_secret_reason,
)
from hypothesis import given
from hypothesis import strategies as st
from test_mtproxy_plan import BASE, assert_not_leaked

from tests.conftest import REPO_ROOT

PROFILES = REPO_ROOT / "roles" / "mtproxy" / "files" / "profiles"

ALICE = "3f9c1a7e5b2d4068c1e9a7b5d3f20486"
BOB = "9e27c4b1f08d3a65e2c7b9f4a1d06358"
CAROL = "5d80b3e6a9f1c7240e6b8d3f5a1c9e72"
DOMAIN = "www.wikipedia.org"
OTHER_DOMAIN = "www.gnu.org"


def hexdomain(domain):
    return domain.encode("ascii").hex()


def ee(core, domain=DOMAIN):
    return "ee" + core + hexdomain(domain)


def ee_base64(core, domain=DOMAIN, alphabet=base64.urlsafe_b64encode, strip=True):
    text = alphabet(bytes.fromhex("ee" + core) + domain.encode("ascii")).decode("ascii")
    return text.rstrip("=") if strip else text


def load_profile(name):
    data = yaml.safe_load((PROFILES / f"{name}.yml").read_text(encoding="utf-8"))
    return validate_profile(data, name)


MTPROTOPROXY = load_profile("mtprotoproxy")
OFFICIAL = load_profile("official")

# Without an operator's haproxy_balance_algorithm, as the role passes it.
COMMON = {key: value for key, value in BASE.items() if key != "haproxy_balance_algorithm"}
MTP = {
    **COMMON,
    "mtproxy_implementation": "mtprotoproxy",
    "mtproxy_profile": MTPROTOPROXY,
    "mtproxy_tls_domain": DOMAIN,
}
OFF = {**COMMON, "mtproxy_implementation": "official", "mtproxy_profile": OFFICIAL}


def users(*pairs):
    return [{"name": name, "secret": secret} for name, secret in pairs]


def many(base, *pairs, **extra):
    """``base`` with mtproxy_users instead of the shorthand."""
    return {**base, "mtproxy_secret": "", "mtproxy_users": users(*pairs), **extra}


def secrets_in(params):
    """Every secret value the parameters carry (to check that no message echoes one)."""
    found = []
    if isinstance(params.get("mtproxy_secret"), str) and params["mtproxy_secret"]:
        found.append(params["mtproxy_secret"])
    given = params.get("mtproxy_users")
    for user in given if isinstance(given, list) else []:
        if isinstance(user, dict) and isinstance(user.get("secret"), str) and user["secret"]:
            found.append(user["secret"])
    generated = params.get("mtproxy_generated_secrets")
    if isinstance(generated, dict):
        found.extend(value for value in generated.values() if value)
    elif isinstance(generated, list):
        found.extend(value for value in generated if isinstance(value, str) and value)
    return found


def plan_error(params, variable=None):
    """The PlanError of ``params``; checks its variable and that it echoes no secret."""
    with pytest.raises(PlanError) as excinfo:
        validate(params)
    error = excinfo.value
    if variable is not None:
        assert error.variable == variable, str(error)
        assert str(error).startswith(f"{variable}: ")
    for secret in secrets_in(params):
        assert secret not in str(error)
        assert_not_leaked(secret, error)
    return error


def users_file(plan):
    (entry,) = plan["container"]["files"]
    assert (entry["path"], entry["reload"]) == ("/etc/mtproxy/users", "SIGUSR2")
    return entry["content"]


# --------------------------------------------------------------------------- mtprotoproxy


def test_mtprotoproxy_with_a_tls_domain():
    plan = validate(many(MTP, ("alice", ALICE), ("bob", BOB)))
    assert plan["tls_domain"] == DOMAIN
    assert plan["users"] == [
        {"name": "alice", "secret": ALICE, "mode": "faketls", "link_secret": ee(ALICE)},
        {"name": "bob", "secret": BOB, "mode": "faketls", "link_secret": ee(BOB)},
    ]
    assert (plan["server_secret"], plan["client_secret"], plan["secret_mode"]) == (
        ALICE,
        ee(ALICE),
        "faketls",
    )
    assert users_file(plan) == f"alice {ALICE}\nbob {BOB}\n"
    assert plan["container"]["args"] == []
    assert plan["container"]["env"] == {
        "MTPROXY_TLS_DOMAIN": DOMAIN,
        "MTPROXY_TLS_ONLY": "1",
        "MTPROXY_MASK_HOST": DOMAIN,
        "MTPROXY_MASK_PORT": "443",
        "MTPROXY_PROXY_PROTOCOL": "0",
        "MTPROXY_PORT": "443",
        "MTPROXY_REPLAY_CHECK_LEN": "32768",
    }
    # No secret reaches the environment: the users are a file, re-read on SIGUSR2.
    for value in plan["container"]["env"].values():
        assert ALICE not in value
        assert BOB not in value
    assert plan["mask"] == {"host": DOMAIN, "port": 443}
    assert plan["client_ip_mode"] == "tproxy"
    # A replay cache per replica: HAProxy hashes the ClientHello's random.
    assert plan["balance"] == {
        "algorithm": "hash",
        "hash_payload": {"offset": 11, "length": 32, "wait_prefix": "16"},
    }


def test_the_shorthand_user_is_named_default():
    plan = validate({**MTP, "mtproxy_secret": ALICE})
    assert [(u["name"], u["link_secret"]) for u in plan["users"]] == [("default", ee(ALICE))]
    assert users_file(plan) == f"default {ALICE}\n"


def test_tls_domain_is_lowercased():
    plan = validate({**MTP, "mtproxy_tls_domain": "WWW.Wikipedia.ORG"})
    assert plan["tls_domain"] == DOMAIN
    assert plan["client_secret"] == ee(ALICE)
    assert plan["container"]["env"]["MTPROXY_TLS_DOMAIN"] == DOMAIN
    assert plan["mask"] == {"host": DOMAIN, "port": 443}


@pytest.mark.parametrize("balance", ["leastconn", "hash", "auto", None, ""])
def test_mtproxy_balance(balance):
    plan = validate({**MTP, "mtproxy_balance": balance})
    if balance == "leastconn":
        assert plan["balance"] == {"algorithm": "leastconn", "hash_payload": {}}
    else:
        assert plan["balance"] == {
            "algorithm": "hash",
            "hash_payload": {"offset": 11, "length": 32, "wait_prefix": "16"},
        }


@pytest.mark.parametrize("balance", ["roundrobin", "Hash", 1, ["hash"]])
def test_bad_mtproxy_balance(balance):
    error = plan_error({**MTP, "mtproxy_balance": balance}, "mtproxy_balance")
    assert "auto, hash, leastconn" in error.message


def test_mask_host_and_port():
    plan = validate({**MTP, "mtproxy_mask_host": "mask.example.net", "mtproxy_mask_port": 8443})
    assert plan["mask"] == {"host": "mask.example.net", "port": 8443}
    env = plan["container"]["env"]
    assert (env["MTPROXY_MASK_HOST"], env["MTPROXY_MASK_PORT"]) == ("mask.example.net", "8443")
    assert env["MTPROXY_TLS_DOMAIN"] == DOMAIN
    plan = validate({**MTP, "mtproxy_mask_port": 8443})
    assert plan["mask"] == {"host": DOMAIN, "port": 8443}


@pytest.mark.parametrize("host", ["mask host.example", "https://example.org", "-a.example", 5])
def test_bad_mask_host(host):
    plan_error({**MTP, "mtproxy_mask_host": host}, "mtproxy_mask_host")


@pytest.mark.parametrize("port", [0, 65536, "8443", True])
def test_bad_mask_port(port):
    plan_error({**MTP, "mtproxy_mask_port": port}, "mtproxy_mask_port")


def test_proxy_protocol_with_mtprotoproxy():
    plan = validate({**MTP, "mtproxy_client_ip_mode": "proxy_protocol"})
    assert plan["client_ip_mode"] == "proxy_protocol"
    assert plan["container"]["env"]["MTPROXY_PROXY_PROTOCOL"] == "1"
    plan = validate({**MTP, "mtproxy_client_ip_mode": "none"})
    assert plan["container"]["env"]["MTPROXY_PROXY_PROTOCOL"] == "0"


@pytest.mark.parametrize("mode", ["PROXY", "transparent", 1])
def test_bad_client_ip_mode(mode):
    error = plan_error({**MTP, "mtproxy_client_ip_mode": mode}, "mtproxy_client_ip_mode")
    assert "tproxy, proxy_protocol, none" in error.message


# --------------------------------------------------------------------------- "ee" secrets


@pytest.mark.parametrize(
    "secret",
    [
        ee(ALICE),
        ee(ALICE).upper(),
        ee(ALICE, DOMAIN.upper()),
        ee(ALICE, "WWW.Wikipedia.Org"),
        ee_base64(ALICE),
        ee_base64(ALICE, strip=False),
        ee_base64(ALICE, "WWW.WIKIPEDIA.ORG"),
        ee_base64(ALICE, alphabet=base64.b64encode),
    ],
)
def test_ee_secret_for_the_tls_domain_is_accepted(secret):
    for params in ({**MTP, "mtproxy_secret": secret}, many(MTP, ("alice", secret))):
        plan = validate(params)
        assert plan["users"][0]["secret"] == ALICE
        assert plan["users"][0]["mode"] == "faketls"
        # The link always carries the lowercase hex spelling of the deployment's domain.
        assert plan["users"][0]["link_secret"] == ee(ALICE)


def test_ee_secret_with_a_tls_domain_given_in_capitals():
    plan = validate({**MTP, "mtproxy_tls_domain": DOMAIN.upper(), "mtproxy_secret": ee(ALICE)})
    assert plan["client_secret"] == ee(ALICE)


@pytest.mark.parametrize(
    "secret",
    [ee(ALICE, OTHER_DOMAIN), ee(ALICE, "wikipedia.org"), ee_base64(ALICE, OTHER_DOMAIN)],
)
def test_ee_secret_for_another_domain_is_rejected(secret):
    for params, variable in (
        ({**MTP, "mtproxy_secret": secret}, "mtproxy_secret"),
        (many(MTP, ("bob", BOB), ("alice", secret)), "mtproxy_users[1].secret"),
    ):
        error = plan_error(params, variable)
        assert f"mtproxy_tls_domain is {DOMAIN}" in error.message


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        (ee(ALICE) + "0", "starts with 'ee' but is not"),
        (ee(ALICE)[:-1], "starts with 'ee' but is not"),
        (ee(ALICE)[:-2] + "zz", "starts with 'ee' but is not"),
        ("ee" + ALICE, "not the hex of a domain name"),
        ("ee" + ALICE + hexdomain("www.exa mple.org"), "not the hex of a domain name"),
        ("ee" + ALICE + hexdomain("-a.example"), "not the hex of a domain name"),
        ("ee" + ALICE + "ff" + hexdomain(DOMAIN), "not the hex of a domain name"),
        ("ee" + ALICE + "00", "not the hex of a domain name"),
        # A core one byte short takes the domain's first letter: another domain.
        ("ee" + ALICE[:-2] + hexdomain(DOMAIN), "secret for ww.wikipedia.org"),
    ],
)
def test_malformed_ee_secret_is_rejected(secret, fragment):
    for params, variable in (
        ({**MTP, "mtproxy_secret": secret}, "mtproxy_secret"),
        (many(MTP, ("alice", secret)), "mtproxy_users[0].secret"),
    ):
        error = plan_error(params, variable)
        assert fragment in error.message


@pytest.mark.parametrize("base", [COMMON, OFF, {**MTP, "mtproxy_tls_domain": ""}])
def test_ee_secret_without_a_tls_domain_is_rejected(base):
    for params, variable in (
        ({**base, "mtproxy_secret": ee(ALICE)}, "mtproxy_secret"),
        (many(base, ("alice", ee(ALICE))), "mtproxy_users[0].secret"),
    ):
        error = plan_error(params, variable)
        assert "mtproxy_tls_domain is empty" in error.message


def test_weak_core_in_an_ee_secret_is_rejected():
    error = plan_error({**MTP, "mtproxy_secret": ee("0" * 32)}, "mtproxy_secret")
    assert "well-known or guessable" in error.message


def test_dd_secret_with_a_tls_domain_is_rejected():
    error = plan_error({**MTP, "mtproxy_secret": "dd" + ALICE}, "mtproxy_secret")
    assert "'dd' secret" in error.message
    plan_error(many(MTP, ("alice", BOB), ("bob", "dd" + ALICE)), "mtproxy_users[1].secret")


# --------------------------------------------------------------------------- tls domain


def test_mtprotoproxy_requires_a_tls_domain():
    for domain in (None, ""):
        error = plan_error({**MTP, "mtproxy_tls_domain": domain}, "mtproxy_tls_domain")
        assert "is required with mtprotoproxy" in error.message
    params = {key: value for key, value in MTP.items() if key != "mtproxy_tls_domain"}
    plan_error(params, "mtproxy_tls_domain")


@pytest.mark.parametrize(
    "domain",
    ["localhost", "www.exa mple.org", "-a.example", "a..example", "a.example.", "é.example", 5],
)
def test_bad_tls_domain(domain):
    error = plan_error({**MTP, "mtproxy_tls_domain": domain}, "mtproxy_tls_domain")
    assert "must be a domain name" in error.message


# --------------------------------------------------------------------------- official


def test_official_rejects_faketls():
    for params in (
        {**OFF, "mtproxy_tls_domain": DOMAIN},
        {**OFF, "mtproxy_tls_domain": DOMAIN, "mtproxy_secret": ee(ALICE)},
        many(OFF, ("alice", ALICE), ("bob", BOB), mtproxy_tls_domain=DOMAIN),
    ):
        error = plan_error(params, "mtproxy_tls_domain")
        assert "FakeTLS" in error.message
        assert "official cannot do" in error.message


def test_official_rejects_masking():
    error = plan_error({**OFF, "mtproxy_mask_host": "www.example.org"}, "mtproxy_mask_host")
    assert "masking is not something official can do" in error.message


def test_official_rejects_proxy_protocol():
    error = plan_error(
        {**OFF, "mtproxy_client_ip_mode": "proxy_protocol"}, "mtproxy_client_ip_mode"
    )
    assert "official does not" in error.message


def test_official_with_a_dd_secret():
    plan = validate({**OFF, "mtproxy_secret": "DD" + ALICE})
    assert plan["users"] == [
        {"name": "default", "secret": ALICE, "mode": "dd", "link_secret": "dd" + ALICE}
    ]
    assert (plan["server_secret"], plan["client_secret"], plan["secret_mode"]) == (
        ALICE,
        "dd" + ALICE,
        "dd",
    )
    assert plan["tls_domain"] == ""
    assert plan["mask"] is None
    assert plan["container"] == {"env": {"SECRET": ALICE}, "args": [], "files": []}
    assert plan["balance"] == {"algorithm": "leastconn", "hash_payload": {}}


def test_official_with_several_users():
    plan = validate(many(OFF, ("alice", ALICE), ("bob", "dd" + BOB)))
    assert [(u["mode"], u["link_secret"]) for u in plan["users"]] == [
        ("classic", ALICE),
        ("dd", "dd" + BOB),
    ]
    assert plan["container"]["env"] == {"SECRET": f"{ALICE},{BOB}"}


def test_official_with_hash_balance_hashes_the_obfuscated2_init():
    plan = validate({**OFF, "mtproxy_balance": "hash"})
    assert plan["balance"] == {
        "algorithm": "hash",
        "hash_payload": {"offset": 8, "length": 48, "wait_prefix": ""},
    }


# --------------------------------------------------------------------------- container port


def test_container_port_with_official():
    assert validate({**OFF, "mtproxy_container_port": 443})["replicas"][0]["container_port"] == 443
    error = plan_error({**OFF, "mtproxy_container_port": 8443}, "mtproxy_container_port")
    assert "official listens on 443 and has no setting for another port, got 8443" in (
        error.message
    )


def test_container_port_with_mtprotoproxy():
    plan = validate({**MTP, "mtproxy_container_port": 8443})
    assert plan["container"]["env"]["MTPROXY_PORT"] == "8443"
    assert {replica["container_port"] for replica in plan["replicas"]} == {8443}


# --------------------------------------------------------------------------- users


@pytest.mark.parametrize("base", [MTP, OFF])
def test_duplicate_user_names(base):
    error = plan_error(
        many(base, ("alice", ALICE), ("bob", BOB), ("alice", CAROL)), "mtproxy_users"
    )
    assert "'alice' twice" in error.message


@pytest.mark.parametrize(
    "name", ["", "a b", "alice:phone", "a,b", "a\nb", "ä", "x" * 65, None, 7, ["a"]]
)
def test_bad_user_names(name):
    plan_error(many(MTP, ("bob", BOB), (name, ALICE)), "mtproxy_users[1].name")


def test_user_without_a_name():
    params = {**MTP, "mtproxy_secret": "", "mtproxy_users": [{"secret": ALICE}]}
    plan_error(params, "mtproxy_users[0].name")


def test_unknown_user_keys():
    params = {**MTP, "mtproxy_secret": "", "mtproxy_users": [{"name": "a", "secret": ALICE}]}
    params["mtproxy_users"][0]["password"] = BOB
    error = plan_error(params, "mtproxy_users[0]")
    assert "unknown key 'password'" in error.message
    assert_not_leaked(BOB, error)


@pytest.mark.parametrize("user", ["alice", ALICE, ["alice", ALICE], None])
def test_users_must_be_mappings(user):
    params = {**MTP, "mtproxy_secret": "", "mtproxy_users": [user]}
    error = plan_error(params, "mtproxy_users[0]")
    assert_not_leaked(ALICE, error)


@pytest.mark.parametrize("value", ["alice", {"name": "alice", "secret": ALICE}])
def test_mtproxy_users_must_be_a_list(value):
    error = plan_error({**MTP, "mtproxy_secret": "", "mtproxy_users": value}, "mtproxy_users")
    assert_not_leaked(ALICE, error)


def test_users_and_the_shorthand_together():
    error = plan_error({**many(MTP, ("alice", ALICE)), "mtproxy_secret": BOB}, "mtproxy_secret")
    assert "one-user shorthand" in error.message


def test_generated_secrets_fill_users_without_one():
    params = {
        **MTP,
        "mtproxy_secret": "",
        "mtproxy_users": [
            {"name": "alice"},
            {"name": "bob", "secret": BOB},
            {"name": "carol", "secret": ""},
        ],
        "mtproxy_generated_secrets": {"alice": ALICE, "carol": CAROL, "dave": "f" * 32},
    }
    plan = validate(params)
    assert [(u["name"], u["secret"]) for u in plan["users"]] == [
        ("alice", ALICE),
        ("bob", BOB),
        ("carol", CAROL),
    ]
    assert users_file(plan) == f"alice {ALICE}\nbob {BOB}\ncarol {CAROL}\n"


def test_a_given_secret_wins_over_a_generated_one():
    params = {**many(MTP, ("alice", ALICE)), "mtproxy_generated_secrets": {"alice": BOB}}
    assert validate(params)["server_secret"] == ALICE


def test_generated_secret_of_the_shorthand_user():
    plan = validate({**MTP, "mtproxy_secret": "", "mtproxy_generated_secrets": {"default": BOB}})
    assert plan["users"][0]["name"] == "default"
    assert plan["client_secret"] == ee(BOB)


def test_no_secret_and_none_generated():
    error = plan_error({**MTP, "mtproxy_secret": ""}, "mtproxy_secret")
    assert "no secret was generated for 'default'" in error.message
    params = many(MTP, ("bob", BOB), ("alice", ""))
    error = plan_error({**params, "mtproxy_generated_secrets": {"bob": CAROL}})
    assert str(error).startswith("mtproxy_users[1].secret: is empty")


def test_generated_secrets_must_be_a_mapping():
    plan_error({**MTP, "mtproxy_generated_secrets": [ALICE]}, "mtproxy_generated_secrets")


@pytest.mark.parametrize(
    "weak", ["0" * 32, "DEADBEEF" * 4, "0123456789abcdef" * 2, "00112233445566778899aabbccddeeff"]
)
def test_weak_secrets_name_the_users_variable(weak):
    plan_error({**MTP, "mtproxy_secret": weak}, "mtproxy_secret")
    plan_error({**MTP, "mtproxy_secret": ee(weak)}, "mtproxy_secret")
    plan_error({**OFF, "mtproxy_secret": "dd" + weak}, "mtproxy_secret")
    error = plan_error(many(MTP, ("alice", ALICE), ("bob", weak)), "mtproxy_users[1].secret")
    assert "well-known or guessable" in error.message
    # A weak generated secret is refused as well (it names where the user is).
    params = {
        **MTP,
        "mtproxy_secret": "",
        "mtproxy_users": [{"name": "alice"}],
        "mtproxy_generated_secrets": {"alice": weak},
    }
    plan_error(params, "mtproxy_users[0].secret")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (ALICE, ALICE),
        (ALICE, ALICE.upper()),
        (ALICE, ee(ALICE)),
        (ALICE, ee_base64(ALICE)),
    ],
)
def test_two_users_with_the_same_secret(first, second):
    error = plan_error(many(MTP, ("alice", first), ("bob", second)), "mtproxy_users")
    assert "same secret" in error.message


def test_two_users_with_the_same_secret_in_classic_and_dd_form():
    error = plan_error(many(OFF, ("alice", ALICE), ("bob", "dd" + ALICE)), "mtproxy_users")
    assert "same secret" in error.message


def test_same_secret_given_and_generated():
    params = {
        **MTP,
        "mtproxy_secret": "",
        "mtproxy_users": [{"name": "alice", "secret": ALICE}, {"name": "bob"}],
        "mtproxy_generated_secrets": {"bob": ALICE},
    }
    plan_error(params, "mtproxy_users")


# --------------------------------------------------------------------------- custom profiles


def custom_profile(**features):
    data = yaml.safe_load((PROFILES / "mtprotoproxy.yml").read_text(encoding="utf-8"))
    data["features"].update(features)
    return validate_profile(data, "custom")


def test_one_user_only_profile():
    profile = custom_profile(several_users=False)
    params = {**MTP, "mtproxy_profile": profile, "mtproxy_implementation": "/srv/custom.yml"}
    validate(params)
    error = plan_error(many(params, ("alice", ALICE), ("bob", BOB)), "mtproxy_users")
    assert "/srv/custom.yml takes one secret only" in error.message


def test_profile_without_dd_secrets():
    profile = custom_profile(secret_modes=["classic"])
    params = {**COMMON, "mtproxy_profile": profile, "mtproxy_secret": "dd" + ALICE}
    error = plan_error(params, "mtproxy_users")
    assert "dd secrets" in error.message
    # Without mtproxy_implementation the message still says who cannot do it.
    assert "the implementation cannot do" in error.message


def test_a_feature_without_a_setting_names_the_implementation():
    # masking: true, but no way to hand the mask host to the container.
    data = yaml.safe_load((PROFILES / "mtprotoproxy.yml").read_text(encoding="utf-8"))
    del data["settings"]["mask_host"]
    profile = validate_profile(data, "custom")
    error = plan_error({**MTP, "mtproxy_profile": profile}, "mtproxy_implementation")
    assert "no way to pass the setting mask_host" in error.message


def test_validate_does_not_change_its_input():
    params = many(MTP, ("alice", ALICE), ("bob", ee(BOB)))
    before = copy.deepcopy(params)
    validate(params)
    assert params == before


# --------------------------------------------------------------------------- properties

user_names = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)
cores = (
    st.binary(min_size=16, max_size=16)
    .map(bytes.hex)
    .filter(lambda core: weak_secret_reason(core) is None)
)
# Simple domain names: lowercase labels, some given in capitals.
labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?", fullmatch=True)
domains = (
    st.lists(labels, min_size=1, max_size=3)
    .map(".".join)
    .flatmap(lambda name: st.sampled_from([f"{name}.org", f"{name}.example".upper()]))
)


def spellings(core, domain):
    """The ways an operator may give one FakeTLS secret."""
    return st.sampled_from(
        [core, core.upper(), ee(core, domain), ee(core, domain).upper(), ee_base64(core, domain)]
    )


@st.composite
def user_lists(draw):
    domain = draw(domains)
    names = draw(st.lists(user_names, min_size=1, max_size=5, unique=True))
    secrets = draw(st.lists(cores, min_size=len(names), max_size=len(names), unique=True))
    given_as = [draw(spellings(core, domain)) for core in secrets]
    return domain, list(zip(names, secrets, given_as, strict=True))


@given(user_lists())
def test_every_link_secret_decodes_back(case):
    domain, entries = case
    params = many(MTP, *[(name, spelling) for name, _, spelling in entries])
    plan = validate({**params, "mtproxy_tls_domain": domain})
    assert plan["tls_domain"] == domain.lower()
    assert [user["name"] for user in plan["users"]] == [name for name, _, _ in entries]
    for user, (_, core, _) in zip(plan["users"], entries, strict=True):
        link = user["link_secret"]
        assert user["mode"] == "faketls"
        assert user["secret"] == core
        assert link[:2] == "ee"
        assert link == link.lower()
        assert bytes.fromhex(link[2:34]).hex() == core
        assert bytes.fromhex(link[34:]).decode("ascii") == domain.lower()
    content = users_file(plan)
    assert content.endswith("\n")
    assert content.splitlines() == [f"{name} {core}" for name, core, _ in entries]
    assert plan["container"]["env"]["MTPROXY_TLS_DOMAIN"] == domain.lower()


@given(st.lists(user_names, min_size=1, max_size=5, unique=True), st.data())
def test_official_passes_every_secret_in_order(names, data):
    secrets = data.draw(st.lists(cores, min_size=len(names), max_size=len(names), unique=True))
    given_as = [data.draw(st.sampled_from([core, "dd" + core, core.upper()])) for core in secrets]
    plan = validate(many(OFF, *zip(names, given_as, strict=True)))
    assert plan["container"]["env"] == {"SECRET": ",".join(secrets)}
    for user, spelling in zip(plan["users"], given_as, strict=True):
        assert user["link_secret"] == spelling.lower()


# Domains of letters that are no hexadecimal digits: a message that names the domain of an
# "ee" secret can then never match a run of the secret's hex digits by accident.
plain_domains = st.from_regex(r"[g-z]{1,12}\.[g-z]{2,6}", fullmatch=True).filter(
    lambda domain: domain != DOMAIN
)
bad_secrets = st.one_of(
    # hex of a wrong length, with or without a prefix
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=80),
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=80).map(lambda s: "dd" + s),
    st.text(alphabet="0123456789abcdef", min_size=8, max_size=80).map(lambda s: "ee" + s),
    # "ee" secrets for another domain, as hex or base64
    st.tuples(cores, plain_domains).map(lambda t: ee(t[0], t[1])),
    st.tuples(cores, plain_domains).map(lambda t: ee_base64(t[0], t[1])),
    # "ee" secrets whose domain part is broken
    st.tuples(cores, st.binary(min_size=1, max_size=20)).map(
        lambda t: "ee" + t[0] + (b"\xff" + t[1]).hex()
    ),
    # dd secrets, which FakeTLS does not take
    cores.map(lambda core: "dd" + core),
    # right length, a wrong character
    st.tuples(cores, st.integers(0, 31), st.sampled_from("ghxyzGZ-_ =+/:")).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]
    ),
    # weak cores, plain and as an "ee" secret for the right domain
    st.sampled_from(["0" * 32, "ab" * 16, "DEADBEEF" * 4]).flatmap(
        lambda core: st.sampled_from([core, ee(core)])
    ),
    # anything
    st.text(min_size=8, max_size=64),
).filter(lambda secret: not accepted(secret))


def accepted(secret):
    """Whether the plan (mtprotoproxy, DOMAIN) takes this secret, by the documented rules."""
    lowered = secret.lower()
    if re.fullmatch(r"[0-9a-f]{32}", lowered):
        return weak_secret_reason(lowered) is None
    if re.fullmatch(r"ee[0-9a-f]{32}" + hexdomain(DOMAIN), lowered):
        return weak_secret_reason(lowered[2:34]) is None
    return False


@given(bad_secrets, st.booleans())
def test_invalid_secrets_are_reported_without_echo(secret, as_user):
    if as_user:
        params, variable = many(MTP, ("alice", ALICE), ("bob", secret)), "mtproxy_users[1].secret"
    else:
        params, variable = {**MTP, "mtproxy_secret": secret}, "mtproxy_secret"
    error = plan_error(params, variable)
    assert secret not in str(error)
    assert_not_leaked(secret, error)


def test_replay_cache_size_reaches_an_implementation_with_a_replay_cache():
    params = {**MTP, "mtproxy_replay_cache_size": 100000}
    assert validate(params)["container"]["env"]["MTPROXY_REPLAY_CHECK_LEN"] == "100000"
    assert validate(MTP)["container"]["env"]["MTPROXY_REPLAY_CHECK_LEN"] == "32768"


@pytest.mark.parametrize("size", [0, 1023, 10_000_001, True, "many"])
def test_replay_cache_size_is_checked(size):
    with pytest.raises(PlanError) as excinfo:
        validate({**MTP, "mtproxy_replay_cache_size": size})
    assert excinfo.value.variable == "mtproxy_replay_cache_size"


def test_replay_cache_size_is_not_passed_without_a_replay_cache():
    env = validate(OFF)["container"]["env"]
    assert set(env) == {"SECRET"}
