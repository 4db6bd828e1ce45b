# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The launcher of the edgerelay/mtprotoproxy image: its environment contract, the config it
writes for mtprotoproxy, and that no rejection message or startup line shows a secret.
The lab launcher's legacy SECRET interface is checked here too."""

from __future__ import annotations

import os
import runpy
import stat
import sys

import pytest

from tests.conftest import REPO_ROOT, load_module

LAUNCHER = "roles/mtproxy/files/images/mtprotoproxy/edgerelay_mtprotoproxy.py"
LAB = "images/mtproxy-lab/mtproxy_lab.py"
KEY = "00112233445566778899aabbccddeeff"
OTHER = "ffeeddccbbaa99887766554433221100"


def _load(path):
    # No __pycache__ in an image recipe directory (scripts/bootstrap.sh hashes its files).
    before, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        return load_module(path)
    finally:
        sys.dont_write_bytecode = before


launcher = _load(LAUNCHER)


def settings(**environ):
    return launcher.read_settings({"MTPROXY_USERS": f"alice:{KEY}", **environ})


def test_defaults():
    parsed = settings()
    assert parsed.users == {"alice": KEY}
    assert parsed.port == 443
    assert not parsed.fake_tls and not parsed.tls_only and not parsed.secure_only
    assert not parsed.mask and parsed.mask_port == 443
    assert not parsed.proxy_protocol and parsed.ad_tag == ""
    assert parsed.replay_check_len == 32768
    assert parsed.stats_print_period == 600


def test_a_tls_domain_turns_tls_only_on_unless_told_otherwise():
    assert settings(MTPROXY_TLS_DOMAIN="example.com").tls_only is True
    assert settings(MTPROXY_TLS_DOMAIN="example.com", MTPROXY_TLS_ONLY="0").tls_only is False
    assert settings(MTPROXY_TLS_ONLY="1").tls_only is True


def test_every_setting():
    parsed = settings(
        MTPROXY_USERS=f"alice:{KEY}, bob.2:{OTHER.upper()}",
        MTPROXY_PORT="8443",
        MTPROXY_TLS_DOMAIN="www.example.com",
        MTPROXY_SECURE_ONLY="1",
        MTPROXY_MASK_HOST="10.0.0.5",
        MTPROXY_MASK_PORT="8444",
        MTPROXY_PROXY_PROTOCOL="1",
        MTPROXY_AD_TAG=OTHER,
        MTPROXY_REPLAY_CHECK_LEN="0",
        MTPROXY_STATS_PRINT_PERIOD="60",
    )
    assert list(parsed.users.items()) == [("alice", KEY), ("bob.2", OTHER)]
    assert (parsed.port, parsed.tls_domain, parsed.mask_host, parsed.mask_port) == (
        8443,
        "www.example.com",
        "10.0.0.5",
        8444,
    )
    assert parsed.secure_only and parsed.proxy_protocol and parsed.tls_only
    assert parsed.ad_tag == OTHER
    assert (parsed.replay_check_len, parsed.stats_print_period) == (0, 60)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MTPROXY_USERS": ""}, "MTPROXY_USERS is empty"),
        ({"MTPROXY_USERS": KEY}, "entry #1: expected name:secret"),
        ({"MTPROXY_USERS": f"bad name:{KEY}"}, "entry #1: a user name is letters"),
        ({"MTPROXY_USERS": f"a:{KEY},b:{KEY[:-1]}"}, "entry #2 (b): the secret is not 32 hex"),
        ({"MTPROXY_USERS": f"a:dd{KEY}"}, "entry #1 (a): the secret is not 32 hex"),
        ({"MTPROXY_USERS": f"a:{KEY},a:{OTHER}"}, "user a is listed twice"),
        ({"MTPROXY_AD_TAG": KEY + "0"}, "MTPROXY_AD_TAG is not 32 hex"),
        ({"MTPROXY_PORT": "0"}, "MTPROXY_PORT must be an integer from 1 to 65535"),
        ({"MTPROXY_PORT": "443x"}, "MTPROXY_PORT must be an integer"),
        ({"MTPROXY_TLS_ONLY": "maybe"}, "MTPROXY_TLS_ONLY must be 1 or 0"),
        ({"MTPROXY_MASK_HOST": "a b"}, "MTPROXY_MASK_HOST must be a host name"),
        ({"MTPROXY_TLS_DOMAIN": "x'); import os"}, "MTPROXY_TLS_DOMAIN must be a host name"),
    ],
)
def test_rejections_name_the_problem_and_never_the_secret(environ, message):
    environ = {"MTPROXY_USERS": f"alice:{KEY}", **environ}
    with pytest.raises(launcher.SettingsError) as raised:
        launcher.read_settings(environ)
    text = str(raised.value)
    assert message in text
    for secret in (KEY, OTHER, KEY[:-1], KEY + "0"):
        assert secret not in text


def test_without_mtproxy_users_the_users_file_is_read(tmp_path):
    users = tmp_path / "users"
    users.write_text(f"# the users\nalice {KEY}\n\nbob.2   {OTHER.upper()}  # second\n")
    parsed = launcher.read_settings({"MTPROXY_USERS_FILE": str(users)})
    assert parsed.users == {"alice": KEY, "bob.2": OTHER}
    assert parsed.users_file == str(users)
    # MTPROXY_USERS wins.
    assert launcher.read_settings(
        {"MTPROXY_USERS": f"carol:{KEY}", "MTPROXY_USERS_FILE": str(users)}
    ).users == {"carol": KEY}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no user"),
        ("# nobody\n", "has no user"),
        (f"alice {KEY}\nbob\n", "line 2: expected a name and a secret"),
        (f"alice {KEY} extra\n", "line 1: expected a name and a secret"),
        (f"alice:{KEY}\n", "line 1: expected a name and a secret"),
        (f"alice {KEY}\nbob {OTHER}0\n", "line 2 (bob): the secret is not 32 hex"),
        (f"alice {KEY}\nalice {OTHER}\n", "user alice is listed twice"),
        (f"al/ice {KEY}\n", "line 1: a user name is letters"),
    ],
)
def test_a_bad_users_file_is_rejected_without_its_secrets(tmp_path, text, message):
    users = tmp_path / "users"
    users.write_text(text)
    with pytest.raises(launcher.SettingsError) as raised:
        launcher.read_settings({"MTPROXY_USERS_FILE": str(users)})
    assert message in str(raised.value)
    assert KEY not in str(raised.value) and OTHER not in str(raised.value)


def test_a_missing_users_file_says_what_is_needed(tmp_path):
    with pytest.raises(launcher.SettingsError, match=r"MTPROXY_USERS is empty and .* not exist"):
        launcher.read_settings({"MTPROXY_USERS_FILE": str(tmp_path / "absent")})


def test_the_config_file_is_what_mtprotoproxy_reads(tmp_path):
    parsed = settings(
        MTPROXY_USERS=f"alice:{KEY},bob:{OTHER}",
        MTPROXY_TLS_DOMAIN="www.example.com",
        MTPROXY_MASK_HOST="www.example.com",
        MTPROXY_PROXY_PROTOCOL="1",
    )
    path = launcher.write_config(parsed, directory=str(tmp_path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    config = {k: v for k, v in runpy.run_path(path).items() if k.isupper()}
    assert config == {
        "PORT": 443,
        "USERS": {"alice": KEY, "bob": OTHER},
        "AD_TAG": "",
        "USE_MIDDLE_PROXY": False,
        "TLS_DOMAIN": "www.example.com",
        "TLS_ONLY": True,
        "SECURE_ONLY": False,
        "MASK": True,
        "MASK_HOST": "www.example.com",
        "MASK_PORT": 443,
        "PROXY_PROTOCOL": True,
        "REPLAY_CHECK_LEN": 32768,
        "STATS_PRINT_PERIOD": 600,
        "PREFER_IPV6": False,
        "LISTEN_ADDR_IPV4": "0.0.0.0",
        "LISTEN_ADDR_IPV6": "",
        "GET_TIME_PERIOD": 0,
    }


def test_only_an_advertising_tag_turns_on_the_middle_proxy():
    values = launcher.config_values(settings(MTPROXY_AD_TAG=OTHER))
    assert values["USE_MIDDLE_PROXY"] is True
    assert values["AD_TAG"] == OTHER
    assert "GET_TIME_PERIOD" not in values  # mtprotoproxy's own default then
    assert launcher.config_values(settings())["USE_MIDDLE_PROXY"] is False


def test_the_startup_line_has_no_secret():
    line = launcher.describe(
        settings(
            MTPROXY_USERS=f"alice:{KEY},bob:{OTHER}",
            MTPROXY_TLS_DOMAIN="www.example.com",
            MTPROXY_MASK_HOST="10.0.0.5",
            MTPROXY_PROXY_PROTOCOL="1",
            MTPROXY_AD_TAG="0123456789abcdef0123456789abcdef",
        )
    )
    assert "2 user(s)" in line
    assert "FakeTLS on (www.example.com)" in line
    assert "bad clients to 10.0.0.5:443" in line
    assert "PROXY protocol on" in line
    for secret in (KEY, OTHER, "0123456789abcdef0123456789abcdef", "alice", "bob"):
        assert secret not in line
    assert "FakeTLS off" in launcher.describe(settings())
    assert "off (dropped)" in launcher.describe(settings())


# --- the lab launcher ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab():
    before = os.environ.get("EDGERELAY_LAUNCHER_DIR")
    os.environ["EDGERELAY_LAUNCHER_DIR"] = str((REPO_ROOT / LAUNCHER).parent)
    try:
        yield _load(LAB)
    finally:
        if before is None:
            os.environ.pop("EDGERELAY_LAUNCHER_DIR", None)
        else:
            os.environ["EDGERELAY_LAUNCHER_DIR"] = before


def test_the_lab_keeps_the_secret_interface(lab):
    environ = lab.legacy_environ({"SECRET": f"dd{KEY}, {OTHER}", "PORT": "8443"})
    parsed = launcher.read_settings(environ)
    assert parsed.users == {"tg1": KEY, "tg2": OTHER}
    assert parsed.port == 8443


def test_mtproxy_users_win_over_secret(lab):
    environ = lab.legacy_environ({"SECRET": OTHER, "MTPROXY_USERS": f"alice:{KEY}"})
    assert launcher.read_settings(environ).users == {"alice": KEY}


def test_a_bad_secret_is_not_echoed(lab):
    with pytest.raises(lab.launcher.SettingsError) as raised:
        lab.legacy_environ({"SECRET": f"{KEY},{OTHER}zz"})
    assert "SECRET #2" in str(raised.value)
    assert OTHER not in str(raised.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ("127.0.0.1", 9)), ("10.1.2.3:443", ("10.1.2.3", 443)), ("[::1]:8443", ("::1", 8443))],
)
def test_the_lab_upstream(lab, value, expected):
    assert lab.upstream({} if value is None else {"LAB_UPSTREAM": value}) == expected


def test_the_lab_upstream_is_checked(lab):
    with pytest.raises(lab.launcher.SettingsError):
        lab.upstream({"LAB_UPSTREAM": "nowhere"})
