# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""edgerelay.proxy.relay_identity: module_utils helpers, then real ansible-playbook runs."""

from __future__ import annotations

import base64
import json
import stat
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from ansible_collections.edgerelay.proxy.plugins.action import relay_identity as action_plugin
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    IdentityError,
    decode_key,
    encode_key,
    generate_identity,
    load_identity,
    public_key_from_private,
    store_identity,
    validate_identity,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

ACTION = "edgerelay.proxy.relay_identity"

# RFC 7748, section 6.1: Alice's X25519 key pair.
RFC7748_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC7748_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def assert_valid_identity(identity, kind="relay"):
    assert public_key_from_private(identity["private_key"]) == identity["public_key"]
    assert len(identity["private_key"]) == 43 and "=" not in identity["private_key"]
    assert len(identity["short_id"]) == 8
    int(identity["short_id"], 16)
    if kind == "relay":
        assert uuid.UUID(identity["uuid"]).version == 4
    else:
        assert "uuid" not in identity


# --------------------------------------------------------------------------- module_utils


def test_rfc7748_vector():
    assert public_key_from_private(b64url(RFC7748_PRIVATE)) == b64url(RFC7748_PUBLIC)


@settings(max_examples=50)
@given(st.binary(min_size=32, max_size=32))
def test_public_key_matches_cryptography_for_any_private_key(raw):
    expected = X25519PrivateKey.from_private_bytes(raw).public_key()
    text = encode_key(raw)
    assert decode_key(text) == raw
    assert len(text) == 43
    assert public_key_from_private(text) == encode_key(
        expected.public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


@pytest.mark.parametrize(
    "text", ["", "x" * 42, "x" * 44, "+" * 43, b64url(bytes(32)) + "=", "é" * 43, None]
)
def test_decode_key_rejects(text):
    with pytest.raises(IdentityError, match="43 characters of URL-safe base64"):
        decode_key(text)


def test_decode_key_rejects_non_canonical_encoding():
    # The last character carries 4 unused bits; they must be zero.
    canonical = b64url(bytes(32))
    with pytest.raises(IdentityError, match="not a canonical"):
        decode_key(canonical[:-1] + "B")


@settings(max_examples=20)
@given(st.sampled_from(["relay", "reality"]))
def test_generated_identities_validate(kind):
    identity = generate_identity("relay@test", kind)
    assert_valid_identity(identity, kind)
    assert validate_identity(identity, "relay@test", kind) == identity


def test_generate_rejects_bad_arguments():
    with pytest.raises(IdentityError, match="kind must be one of relay, reality"):
        generate_identity(kind="vless")
    with pytest.raises(IdentityError, match="without whitespace"):
        generate_identity("proxy service")


def tampered(**changes):
    identity = generate_identity()
    identity.update(changes)
    return identity


@pytest.mark.parametrize(
    ("identity", "fragment"),
    [
        (tampered(public_key=b64url(RFC7748_PUBLIC)), "public_key does not match private_key"),
        (tampered(private_key="short"), "private_key must be 43 characters"),
        (tampered(uuid="not-a-uuid"), "uuid must be a lowercase UUID"),
        (tampered(short_id="abc"), "short_id must be 0 to 16"),
        (tampered(short_id="0123456789abcdef01"), "short_id must be 0 to 16"),
        (tampered(version=2), "format version 2 is not supported"),
        (tampered(name="other@cluster"), "holds the 'relay' identity 'other@cluster'"),
        (tampered(kind="reality"), "holds the 'reality' identity"),
        (tampered(extra=1), "unexpected extra"),
        ({"name": "x"}, "missing version, kind, uuid"),
        ([], "must hold a JSON object"),
    ],
)
def test_validate_identity_errors(identity, fragment):
    private_key = identity.get("private_key") if isinstance(identity, dict) else None
    with pytest.raises(IdentityError) as excinfo:
        validate_identity(identity, source="/x.json")
    message = str(excinfo.value)
    assert message.startswith("/x.json: ")
    assert fragment in message, message
    if private_key and len(private_key) > 10:
        assert private_key not in message


def test_store_is_private_and_exclusive(tmp_path):
    path = tmp_path / "state" / "nested" / "identity.json"
    first, second = generate_identity(), generate_identity()
    assert store_identity(path, first) is True
    assert store_identity(path, second) is False
    assert load_identity(path) == first
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["identity.json"]  # no temporary left


def test_concurrent_stores_agree(tmp_path):
    path = tmp_path / "identity.json"
    candidates = [generate_identity() for _ in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda identity: store_identity(path, identity), candidates))
    assert written.count(True) == 1
    assert load_identity(path) == candidates[written.index(True)]


def test_load_errors_name_the_file(tmp_path):
    path = tmp_path / "identity.json"
    path.write_text("{not json")
    with pytest.raises(IdentityError, match=rf"^{path}: is not valid JSON"):
        load_identity(path)
    with pytest.raises(IdentityError, match="cannot be read"):
        load_identity(tmp_path / "missing.json")


def test_action_documentation_matches_argument_spec():
    documentation = yaml.safe_load(action_plugin.DOCUMENTATION)
    yaml.safe_load(action_plugin.EXAMPLES)
    returned = yaml.safe_load(action_plugin.RETURN)
    assert documentation["module"] == "relay_identity"
    assert set(documentation["options"]) == set(action_plugin.ARGUMENT_SPEC)
    for name, spec in action_plugin.ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        assert option["type"] == spec["type"]
        assert option.get("default") == spec.get("default")
        assert option.get("choices") == spec.get("choices")
    assert set(returned) == {*action_plugin.RETURNED, "path"}
    assert "no_log: true" in action_plugin.DOCUMENTATION


# --------------------------------------------------------------------------- playbook runs


def identity_tasks(**args):
    return [
        {
            "name": "identity",
            ACTION: {"path": "{{ identity_path }}", **args},
            "register": "identity",
            "no_log": True,
        },
        {
            "name": "public part",
            "ansible.builtin.debug": {
                "msg": "{{ identity | dict2items | rejectattr('key', 'eq', 'private_key') "
                "| items2dict }}"
            },
        },
    ]


def public_part(result):
    return {key: value for key, value in result["msg"].items() if not key.startswith("_")}


def test_created_once_then_stable_and_never_printed(run_playbook, tmp_path):
    directory = tmp_path / "inventory" / ".edgerelay"
    path = directory / "relay-identity.json"
    extra_vars = {"identity_path": str(path)}

    first = run_playbook(identity_tasks(), extra_vars=extra_vars)
    assert first.rc == 0, first.output
    created, shown = first.results()
    assert created["changed"] is True
    assert "censored" in created
    assert mode(path) == 0o600
    assert mode(directory) == 0o700

    stored = json.loads(path.read_text())
    assert_valid_identity(stored)
    assert stored["name"] == "proxy-service@cluster"
    public = {
        "kind": "relay",
        "name": "proxy-service@cluster",
        "path": str(path),
        "public_key": stored["public_key"],
        "short_id": stored["short_id"],
        "uuid": stored["uuid"],
    }
    assert public_part(shown) == {**public, "changed": True, "failed": False}

    second = run_playbook(identity_tasks(), extra_vars=extra_vars)
    assert second.rc == 0, second.output
    unchanged, shown_again = second.results()
    assert unchanged["changed"] is False
    assert json.loads(path.read_text()) == stored
    assert public_part(shown_again) == {**public, "changed": False, "failed": False}

    # Third run with the human-readable callback at high verbosity.
    third = run_playbook(
        identity_tasks(), extra_vars=extra_vars, callback="default", args=("-vvv",)
    )
    assert third.rc == 0, third.output
    assert "changed=0" in third.stdout
    assert stored["public_key"] in third.stdout
    assert json.loads(path.read_text()) == stored
    for run in (first, second, third):
        assert stored["private_key"] not in run.output
        assert "set `no_log: true`" not in run.output


def test_check_mode_reports_change_but_writes_nothing(run_playbook, tmp_path):
    path = tmp_path / "inventory" / ".edgerelay" / "relay-identity.json"
    run = run_playbook(identity_tasks(), extra_vars={"identity_path": str(path)}, args=("--check",))
    assert run.rc == 0, run.output
    created, shown = run.results()
    assert created["changed"] is True
    # Downstream check-mode tasks get usable (but not persisted) values.
    assert uuid.UUID(shown["msg"]["uuid"]).version == 4
    assert decode_key(shown["msg"]["public_key"])
    assert len(shown["msg"]["short_id"]) == 8
    assert not path.parent.exists()


def test_reality_kind_warnings_and_failures(run_playbook, tmp_path):
    paths = {
        "reality": tmp_path / "reality.json",
        "corrupt": tmp_path / "corrupt.json",
        "relay": tmp_path / "relay.json",
    }
    paths["corrupt"].write_text('{"version": 1')
    relay = generate_identity()
    paths["relay"].write_text(json.dumps(relay))
    paths["relay"].chmod(0o644)
    tampered_file = tmp_path / "tampered.json"
    tampered_file.write_text(json.dumps({**relay, "public_key": b64url(RFC7748_PUBLIC)}))

    def task(label, **args):
        return {"name": label, ACTION: args, "ignore_errors": True}

    tasks = [
        task("reality", path=str(paths["reality"]), kind="reality", name="reality@edge1"),
        task("loose mode", path=str(paths["relay"])),
        task("corrupt", path=str(paths["corrupt"])),
        task("other name", path=str(paths["relay"]), name="other@cluster"),
        task("tampered", path=str(tampered_file)),
        task("relative", path="identity.json"),
        task("bad kind", path=str(paths["reality"]), kind="wireguard"),
        task("directory", path=str(tmp_path)),
    ]
    run = run_playbook(tasks)
    assert run.rc == 0, run.output
    reality, loose, corrupt, other, tampered_result, relative, bad_kind, directory = run.results()

    assert reality["changed"] is True
    assert_valid_identity(reality, "reality")
    assert reality["name"] == "reality@edge1"
    assert any("set `no_log: true`" in warning for warning in reality["warnings"])
    assert mode(paths["reality"]) == 0o600

    assert loose["changed"] is False
    assert loose["private_key"] == relay["private_key"]
    assert any("mode 0644; run chmod 600" in warning for warning in loose["warnings"])

    failures = {
        "corrupt": (corrupt, f"{paths['corrupt']}: is not valid JSON"),
        "other": (other, "holds the 'relay' identity 'proxy-service@cluster', not the"),
        "tampered": (tampered_result, "public_key does not match private_key"),
        "relative": (relative, "path must be absolute, got 'identity.json'"),
        "bad kind": (bad_kind, "kind must be one of: relay, reality"),
        "directory": (directory, "exists but is not a regular file"),
    }
    for label, (result, fragment) in failures.items():
        assert result["failed"] is True, label
        assert fragment in result["msg"], (label, result["msg"])
        assert "private_key" not in result, label
    assert json.loads(paths["relay"].read_text()) == relay  # never overwritten
    assert paths["corrupt"].read_text() == '{"version": 1'


def test_parallel_hosts_share_one_identity_without_connecting(run_playbook, tmp_path):
    """Unreachable hosts, run in parallel forks: one creates, all return the same identity."""
    hosts = [f"edge{index}" for index in range(1, 5)]
    inventory = "".join(
        f"{host} ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 "
        f"ansible_user=nobody ansible_python_interpreter={sys.executable}\n"
        for host in hosts
    )
    path = tmp_path / ".edgerelay" / "relay-identity.json"
    run = run_playbook(
        identity_tasks(), extra_vars={"identity_path": str(path)}, inventory=inventory
    )
    assert run.rc == 0, run.output
    document = json.loads(run.stdout)
    created, shown = (task["hosts"] for task in document["plays"][0]["tasks"])
    assert sorted(created) == hosts
    assert [created[host]["changed"] for host in hosts].count(True) == 1
    stored = json.loads(path.read_text())
    for host in hosts:
        assert shown[host]["msg"]["public_key"] == stored["public_key"]
        assert shown[host]["msg"]["uuid"] == stored["uuid"]
    assert stored["private_key"] not in run.output
