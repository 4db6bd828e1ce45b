# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The implementation profiles: the schema check and how planned settings reach a container."""

from __future__ import annotations

import copy

import pytest
import yaml
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_profile import (
    FEATURES,
    SECRET_MODES,
    SETTINGS,
    ProfileError,
    check_name,
    container_settings,
    validate_profile,
)

from tests.conftest import REPO_ROOT

PROFILES = REPO_ROOT / "roles" / "mtproxy" / "files" / "profiles"
SHIPPED = ("official", "mtprotoproxy")

ALICE = "3f9c1a7e5b2d4068c1e9a7b5d3f20486"
BOB = "9e27c4b1f08d3a65e2c7b9f4a1d06358"
USERS = [{"name": "alice", "secret": ALICE}, {"name": "bob", "secret": BOB}]

# A complete, valid profile; the tests below break one thing at a time.
MINIMAL = {
    "schema": 1,
    "description": "test implementation",
    "image": "example/mtproxy:1",
    "container_port": 443,
    "capabilities": [],
    "read_only": True,
    "features": {
        "secret_modes": ["classic"],
        "masking": False,
        "proxy_protocol": False,
        "several_users": True,
        "replay_cache": False,
    },
    "settings": {"users": {"via": "env", "name": "SECRET"}},
}


def load(name):
    return yaml.safe_load((PROFILES / f"{name}.yml").read_text(encoding="utf-8"))


def profile_with(**changes):
    """MINIMAL with top-level keys replaced (a value of ... removes the key)."""
    data = copy.deepcopy(MINIMAL)
    for key, value in changes.items():
        if value is ...:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def with_features(**changes):
    features = {**MINIMAL["features"], **changes}
    return profile_with(features={k: v for k, v in features.items() if v is not ...})


def with_settings(**settings):
    return profile_with(settings={**MINIMAL["settings"], **settings})


def profile_error(data, source="testprofile"):
    with pytest.raises(ProfileError) as excinfo:
        validate_profile(data, source)
    error = excinfo.value
    assert isinstance(error, ValueError)
    assert error.variable == "mtproxy_implementation"
    assert str(error).startswith(f"mtproxy_implementation: profile {source}: ")
    return error


def settings_profile(**settings):
    """A validated profile with exactly these settings (users added when missing)."""
    settings.setdefault("users", {"via": "env", "name": "SECRET"})
    return validate_profile(profile_with(settings=settings))


# --------------------------------------------------------------------------- shipped profiles


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_validate(name):
    profile = validate_profile(load(name), name)
    assert set(profile) == {
        "description",
        "image",
        "build",
        "container_port",
        "user",
        "capabilities",
        "read_only",
        "features",
        "settings",
    }
    assert set(profile["features"]) == {"secret_modes", *FEATURES}
    assert set(profile["features"]["secret_modes"]) <= set(SECRET_MODES)
    assert "users" in profile["settings"]
    for setting, spec in profile["settings"].items():
        assert setting in SETTINGS
        assert spec["format"] in SETTINGS[setting]


def test_shipped_official_profile():
    profile = validate_profile(load("official"), "official")
    assert profile["image"] == "telegrammessenger/proxy:latest"
    assert profile["build"] == ""
    assert profile["user"] == ""
    assert profile["capabilities"] == ["CAP_SETGID"]
    assert profile["read_only"] is False
    assert profile["features"] == {
        "secret_modes": ["classic", "dd"],
        "masking": False,
        "proxy_protocol": False,
        "several_users": True,
        "replay_cache": False,
    }
    assert profile["settings"] == {
        "users": {"via": "env", "format": "secrets_csv", "name": "SECRET"}
    }


def test_shipped_mtprotoproxy_profile():
    profile = validate_profile(load("mtprotoproxy"), "mtprotoproxy")
    assert profile["build"] == "mtprotoproxy"
    assert profile["user"] == "65534:65534"
    assert profile["read_only"] is True
    assert profile["features"]["secret_modes"] == ["classic", "dd", "faketls"]
    assert all(profile["features"][feature] for feature in FEATURES)
    assert profile["settings"]["users"] == {
        "via": "file",
        "format": "name_secret_lines",
        "path": "/etc/mtproxy/users",
        "reload": "SIGUSR2",
    }
    assert profile["settings"]["tls_only"] == {
        "via": "env",
        "format": "bool01",
        "name": "MTPROXY_TLS_ONLY",
    }
    assert profile["settings"]["port"] == {"via": "env", "format": "plain", "name": "MTPROXY_PORT"}


def test_validate_does_not_change_its_input():
    data = load("mtprotoproxy")
    before = copy.deepcopy(data)
    validate_profile(data, "mtprotoproxy")
    assert data == before


def test_minimal_profile_defaults():
    profile = validate_profile(MINIMAL)
    assert (profile["build"], profile["user"]) == ("", "")
    assert profile["settings"]["users"] == {"via": "env", "format": "secrets_csv", "name": "SECRET"}


def test_default_source_name():
    with pytest.raises(ProfileError, match=r"^mtproxy_implementation: profile profile: "):
        validate_profile([])


# --------------------------------------------------------------------------- schema rules


@pytest.mark.parametrize("data", [[], "schema: 1", None, 1])
def test_profile_must_be_a_mapping(data):
    assert "must be a mapping" in profile_error(data).message


def test_unknown_top_key():
    error = profile_error(profile_with(images="x"))
    assert "unknown key 'images'" in error.message
    assert "known: schema" in error.message


REQUIRED = (
    "schema",
    "description",
    "image",
    "container_port",
    "capabilities",
    "read_only",
    "features",
    "settings",
)


@pytest.mark.parametrize("key", REQUIRED)
def test_missing_required_key(key):
    assert f"{key} is required" in profile_error(profile_with(**{key: ...})).message


@pytest.mark.parametrize("key", ["build", "user"])
def test_optional_keys_may_be_left_out(key):
    validate_profile(profile_with(**{key: ...}))


@pytest.mark.parametrize("schema", [0, 2, "1", None])
def test_wrong_schema(schema):
    assert "schema must be 1" in profile_error(profile_with(schema=schema)).message


@pytest.mark.parametrize(
    "image", ["", "Example/Proxy", "example proxy:1", "-example/proxy", "example/proxy;rm"]
)
def test_bad_image(image):
    error = profile_error(profile_with(image=image))
    assert "is not an image reference" in error.message


@pytest.mark.parametrize("image", [None, 1, ["a"]])
def test_image_must_be_a_string(image):
    assert "image must be a str" in profile_error(profile_with(image=image)).message


@pytest.mark.parametrize(
    "image",
    ["telegrammessenger/proxy:latest", "registry.example:5000/a/b:1.0", "a/b@sha256:" + "0" * 64],
)
def test_good_images(image):
    assert validate_profile(profile_with(image=image))["image"] == image


@pytest.mark.parametrize("description", [None, 1, ["x"]])
def test_description_must_be_a_string(description):
    error = profile_error(profile_with(description=description))
    assert "description must be a str" in error.message


@pytest.mark.parametrize("build", ["../images", "Mtprotoproxy", "a/b", 1])
def test_bad_build(build):
    assert "build must be the name" in profile_error(profile_with(build=build)).message


@pytest.mark.parametrize("port", [0, 65536, True, "443", None, 443.0])
def test_bad_container_port(port):
    assert "container_port must be a port number" in (
        profile_error(profile_with(container_port=port)).message
    )


@pytest.mark.parametrize("user", ["nobody", "65534:", ":65534", 65534, "1:2:3"])
def test_bad_user(user):
    assert "user must be uid or uid:gid" in profile_error(profile_with(user=user)).message


@pytest.mark.parametrize("capabilities", [["SETGID"], ["cap_setgid"], [1], "CAP_SETGID"])
def test_bad_capabilities(capabilities):
    assert "capabilities" in profile_error(profile_with(capabilities=capabilities)).message


@pytest.mark.parametrize("read_only", ["yes", 1, None])
def test_read_only_must_be_a_boolean(read_only):
    assert "read_only must be a bool" in profile_error(profile_with(read_only=read_only)).message


# features


def test_features_unknown_key():
    error = profile_error(with_features(ipv6=True))
    assert "features: unknown key 'ipv6'" in error.message


@pytest.mark.parametrize("modes", [[], ["faketls", "ee"], ["Classic"], "classic", None])
def test_features_secret_modes(modes):
    assert "features.secret_modes" in profile_error(with_features(secret_modes=modes)).message


@pytest.mark.parametrize("feature", FEATURES)
@pytest.mark.parametrize("value", ["yes", 1, 0, None, ...])
def test_features_flags_are_booleans(feature, value):
    error = profile_error(with_features(**{feature: value}))
    assert f"features.{feature} must be a bool" in error.message


@pytest.mark.parametrize("features", [[], "masking", None])
def test_features_must_be_a_mapping(features):
    assert "features must be a Mapping" in profile_error(profile_with(features=features)).message


# settings


def test_settings_unknown_setting():
    error = profile_error(with_settings(ad_tag={"via": "env", "name": "TAG"}))
    assert "settings: unknown setting 'ad_tag'" in error.message


def test_settings_must_be_a_mapping():
    assert "settings must be a Mapping" in profile_error(profile_with(settings=[])).message
    error = profile_error(with_settings(port="MTPROXY_PORT"))
    assert "settings.port must be a mapping" in error.message


def test_settings_unknown_spec_key():
    error = profile_error(with_settings(port={"via": "env", "name": "PORT", "default": 443}))
    assert "settings.port.default is not a known key" in error.message


@pytest.mark.parametrize("via", ["environment", None, "ENV"])
def test_settings_bad_via(via):
    error = profile_error(with_settings(port={"via": via, "name": "PORT"}))
    assert "settings.port.via must be one of env, arg, file" in error.message


@pytest.mark.parametrize(
    ("setting", "fmt"),
    [
        ("users", "plain"),
        ("users", "json"),
        ("tls_only", "plain"),
        ("tls_only", "yesno"),
        ("port", "bool01"),
        ("proxy_protocol", "secrets_csv"),
    ],
)
def test_settings_bad_format(setting, fmt):
    error = profile_error(with_settings(**{setting: {"via": "env", "name": "X", "format": fmt}}))
    assert f"settings.{setting}.format must be one of" in error.message


@pytest.mark.parametrize("name", ["1PORT", "MT-PORT", "MT PORT", "", None, 5, "PORT\n"])
def test_settings_bad_env_name(name):
    error = profile_error(with_settings(port={"via": "env", "name": name}))
    assert "settings.port.name must be an environment variable name" in error.message


@pytest.mark.parametrize("name", ["port", "---port", "--", "--port =", "--po rt", "", None, "-"])
def test_settings_bad_arg_flag(name):
    error = profile_error(with_settings(port={"via": "arg", "name": name}))
    assert "settings.port.name must be an option such as --port" in error.message


@pytest.mark.parametrize(
    "path",
    [
        "etc/mtproxy/users",
        "users",
        "/",
        "/etc/mtproxy/",
        "/etc//users",
        "",
        None,
        "/a b",
        # Its directory is mounted from the host: never the container's root, never outside.
        "/users",
        "/../../etc/cron.d/x",
        "/etc/../users",
        "/etc/./users",
    ],
)
def test_settings_file_path_must_be_absolute(path):
    error = profile_error(with_settings(users={"via": "file", "path": path}))
    assert "settings.users.path must be an absolute path" in error.message


@pytest.mark.parametrize(("via", "name"), [("env", "USERS"), ("arg", "--users")])
@pytest.mark.parametrize("reload", ["SIGUSR2", ""])
def test_settings_reload_only_on_files(via, name, reload):
    error = profile_error(with_settings(users={"via": via, "name": name, "reload": reload}))
    assert "settings.users.reload and path are only for via: file" in error.message


@pytest.mark.parametrize("reload", ["USR2", "sigusr2", "SIGUSR2 ", 12, True])
def test_settings_bad_signal(reload):
    error = profile_error(with_settings(users={"via": "file", "path": "/etc/u", "reload": reload}))
    assert "settings.users.reload must be a signal name" in error.message


def test_settings_users_is_required():
    error = profile_error(profile_with(settings={"port": {"via": "env", "name": "PORT"}}))
    assert "settings.users is required" in error.message
    assert "settings.users is required" in profile_error(profile_with(settings={})).message


def test_source_names_the_profile_file():
    error = profile_error(profile_with(image=""), source="/srv/profiles/mine.yml")
    assert str(error).startswith("mtproxy_implementation: profile /srv/profiles/mine.yml: image")


def test_good_settings_are_normalised():
    profile = settings_profile(
        users={"via": "file", "path": "/etc/mtproxy/users"},
        tls_only={"via": "arg", "name": "--tls-only=", "format": "truefalse"},
        port={"via": "arg", "name": "-p"},
    )
    assert profile["settings"] == {
        "users": {
            "via": "file",
            "format": "secrets_csv",
            "path": "/etc/mtproxy/users",
            "reload": "",
        },
        "tls_only": {"via": "arg", "format": "truefalse", "name": "--tls-only="},
        "port": {"via": "arg", "format": "plain", "name": "-p"},
    }


# --------------------------------------------------------------------------- container_settings


def test_env_settings_with_the_default_formats():
    profile = settings_profile(
        users={"via": "env", "name": "SECRET"},
        tls_domain={"via": "env", "name": "TLS_DOMAIN"},
        tls_only={"via": "env", "name": "TLS_ONLY"},
        mask_host={"via": "env", "name": "MASK_HOST"},
        mask_port={"via": "env", "name": "MASK_PORT"},
        proxy_protocol={"via": "env", "name": "PROXY_PROTOCOL"},
        port={"via": "env", "name": "PORT"},
    )
    result = container_settings(
        profile,
        {
            "users": USERS,
            "tls_domain": "www.example.org",
            "tls_only": True,
            "mask_host": "www.example.org",
            "mask_port": 8443,
            "proxy_protocol": False,
            "port": 443,
        },
    )
    assert result == {
        "env": {
            "SECRET": f"{ALICE},{BOB}",
            "TLS_DOMAIN": "www.example.org",
            "TLS_ONLY": "1",
            "MASK_HOST": "www.example.org",
            "MASK_PORT": "8443",
            "PROXY_PROTOCOL": "0",
            "PORT": "443",
        },
        "args": [],
        "files": [],
    }


def test_arg_settings_both_styles():
    profile = settings_profile(
        users={"via": "arg", "name": "--secrets", "format": "secrets_csv"},
        port={"via": "arg", "name": "--port="},
        tls_only={"via": "arg", "name": "-t", "format": "truefalse"},
        proxy_protocol={"via": "arg", "name": "--proxy-protocol=", "format": "bool01"},
    )
    result = container_settings(
        profile, {"users": USERS, "port": 8443, "tls_only": True, "proxy_protocol": True}
    )
    assert result == {
        "env": {},
        # In the order of the settings given; "--flag" is followed by its value as its
        # own argument, "--flag=" is glued to it.
        "args": ["--secrets", f"{ALICE},{BOB}", "--port=8443", "-t", "true", "--proxy-protocol=1"],
        "files": [],
    }


def test_file_settings():
    profile = settings_profile(
        users={"via": "file", "path": "/etc/mtproxy/users", "format": "name_secret_lines"}
        | {"reload": "SIGUSR2"},
        tls_domain={"via": "file", "path": "/etc/mtproxy/domain"},
    )
    result = container_settings(profile, {"users": USERS, "tls_domain": "www.example.org"})
    assert result == {
        "env": {},
        "args": [],
        "files": [
            {
                "path": "/etc/mtproxy/users",
                "content": f"alice {ALICE}\nbob {BOB}\n",
                "reload": "SIGUSR2",
            },
            {"path": "/etc/mtproxy/domain", "content": "www.example.org", "reload": ""},
        ],
    }


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("secrets_csv", f"{ALICE},{BOB}"),
        ("name_secret_csv", f"alice:{ALICE},bob:{BOB}"),
        ("name_secret_lines", f"alice {ALICE}\nbob {BOB}\n"),
    ],
)
def test_users_formats(fmt, expected):
    profile = settings_profile(users={"via": "env", "name": "USERS", "format": fmt})
    assert container_settings(profile, {"users": USERS})["env"] == {"USERS": expected}
    one = container_settings(profile, {"users": USERS[:1]})["env"]["USERS"]
    assert one == expected.split("\n" if fmt == "name_secret_lines" else ",")[0] + (
        "\n" if fmt == "name_secret_lines" else ""
    )


@pytest.mark.parametrize(
    ("fmt", "true", "false"), [("bool01", "1", "0"), ("truefalse", "true", "false")]
)
@pytest.mark.parametrize("setting", ["tls_only", "proxy_protocol"])
def test_boolean_formats(setting, fmt, true, false):
    profile = settings_profile(**{setting: {"via": "env", "name": "FLAG", "format": fmt}})
    assert container_settings(profile, {setting: True})["env"] == {"FLAG": true}
    assert container_settings(profile, {setting: False})["env"] == {"FLAG": false}


def test_none_values_are_left_out():
    profile = validate_profile(load("mtprotoproxy"), "mtprotoproxy")
    result = container_settings(
        profile, {"users": USERS, "tls_domain": None, "mask_host": None, "mask_port": None}
    )
    assert result["env"] == {}
    assert [entry["path"] for entry in result["files"]] == ["/etc/mtproxy/users"]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("tls_domain", "www.example.org"),
        ("tls_only", True),
        ("mask_host", "www.example.org"),
        ("mask_port", 443),
        ("proxy_protocol", True),
    ],
)
def test_a_setting_the_profile_cannot_pass_raises(setting, value):
    profile = validate_profile(load("official"), "official")
    with pytest.raises(ProfileError) as excinfo:
        container_settings(profile, {"users": USERS, setting: value})
    assert excinfo.value.variable == "mtproxy_implementation"
    assert str(excinfo.value) == (
        f"mtproxy_implementation: the profile has no way to pass the setting {setting}"
    )


def test_false_booleans_and_the_port_are_skipped_when_unmapped():
    profile = validate_profile(load("official"), "official")
    result = container_settings(
        profile, {"users": USERS, "tls_only": False, "proxy_protocol": False, "port": 443}
    )
    assert result == {"env": {"SECRET": f"{ALICE},{BOB}"}, "args": [], "files": []}
    # The plan refuses a port other than the profile's when there is no port setting; the
    # mapping itself simply leaves the port out.
    assert container_settings(profile, {"users": USERS, "port": 8443})["env"] == {
        "SECRET": f"{ALICE},{BOB}"
    }


# --------------------------------------------------------------------------- check_name


@pytest.mark.parametrize("name", ["default", "alice", "a", "user_1.phone-2", "A" * 64])
def test_good_names(name):
    assert check_name(name)


@pytest.mark.parametrize(
    "name", ["", "a b", "a:b", "a,b", "a\nb", "a\tb", "ä", "A" * 65, None, 1, ["a"]]
)
def test_bad_names(name):
    assert not check_name(name)


def test_two_settings_cannot_share_a_target():
    error = profile_error(
        with_settings(users={"via": "env", "name": "SECRET"}, port={"via": "env", "name": "SECRET"})
    )
    assert "env SECRET is also used by settings.users" in error.message


@pytest.mark.parametrize(
    ("key", "value"),
    [("schema", True), ("schema", 1.0), ("build", False), ("build", 0), ("user", 0)],
)
def test_values_of_the_wrong_type_are_not_coerced(key, value):
    error = profile_error(profile_with(**{key: value}))
    assert f"{key} must be" in error.message


def test_secret_modes_are_listed_once():
    data = profile_with()
    data["features"] = {**data["features"], "secret_modes": ["classic", "classic"]}
    assert "features.secret_modes" in profile_error(data).message
