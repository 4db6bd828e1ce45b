# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/module_utils/relay_identity.py: keys, identities and their file on the controller."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import weak_secret_reason
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    IdentityError,
    check_private,
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

from tests.helpers.relay_identity import (
    RFC7748_PRIVATE,
    RFC7748_PUBLIC,
    assert_valid_identity,
    b64url,
    mode,
)


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
    with pytest.raises(
        IdentityError, match="kind must be one of relay, reality, mtproxy, short_id"
    ):
        generate_identity(kind="vless")
    with pytest.raises(IdentityError, match="without whitespace"):
        generate_identity("proxy service")


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=2**16))
def test_generated_mtproxy_secrets_validate_and_are_strong(seed):
    identity = generate_identity("mtproxy@edge1", "mtproxy")
    assert set(identity) == {"version", "kind", "name", "secret"}
    assert re.fullmatch(r"[0-9a-f]{32}", identity["secret"])
    assert weak_secret_reason(identity["secret"]) is None
    assert validate_identity(identity, "mtproxy@edge1", "mtproxy") == identity


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        ("0" * 32, "well-known or guessable value (it is one digit repeated)"),
        ("deadbeef" * 4, "repeats a pattern of 8 characters"),
        ("ABCDEF0123456789" * 2, "32 lowercase hexadecimal characters"),
        ("ab" * 17, "32 lowercase hexadecimal characters"),
        (12345, "32 lowercase hexadecimal characters"),
    ],
)
def test_stored_mtproxy_secret_errors_never_echo_it(secret, fragment):
    identity = {"version": 1, "kind": "mtproxy", "name": "mtproxy@edge1", "secret": secret}
    with pytest.raises(IdentityError) as excinfo:
        validate_identity(identity, "mtproxy@edge1", "mtproxy", source="/m.json")
    message = str(excinfo.value)
    assert message.startswith("/m.json: ")
    assert fragment in message, message
    assert str(secret) not in message


def test_an_mtproxy_file_is_not_a_relay_identity():
    identity = generate_identity("mtproxy@edge1", "mtproxy")
    with pytest.raises(IdentityError, match="not a relay identity"):
        validate_identity(identity, "mtproxy@edge1", "relay", source="/m.json")


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
        (tampered(short_id="abc"), "short_id must be 2 to 16"),
        (tampered(short_id="0123456789abcdef01"), "short_id must be 2 to 16"),
        (
            tampered(short_id=""),
            "short_id must be 2 to 16 lowercase hexadecimal characters of even "
            "length (never empty: REALITY would accept clients without one)",
        ),
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


# --------------------------------------------------------------------------- short ids


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=2**16))
def test_generated_short_ids_are_never_empty(seed):
    identity = generate_identity("reality@edge1", "short_id")
    assert set(identity) == {"version", "kind", "name", "short_id"}
    assert re.fullmatch(r"[0-9a-f]{8}", identity["short_id"])
    assert validate_identity(identity, "reality@edge1", "short_id") == identity
    for kind in ("relay", "reality"):
        assert len(generate_identity("x@y", kind)["short_id"]) == 8


@pytest.mark.parametrize("short_id", ["", "a", "abc", "0123456789abcdef01", "ABCD", 1234])
def test_a_stored_short_id_must_not_be_empty_or_malformed(short_id):
    identity = {"version": 1, "kind": "short_id", "name": "reality@edge1", "short_id": short_id}
    with pytest.raises(IdentityError, match="short_id must be 2 to 16 lowercase"):
        validate_identity(identity, "reality@edge1", "short_id", source="/s.json")


def test_a_short_id_file_is_not_reality_keys():
    identity = generate_identity("reality@edge1", "short_id")
    with pytest.raises(
        IdentityError, match=re.escape("not a reality identity (missing private_key")
    ):
        validate_identity(identity, "reality@edge1", "reality", source="/s.json")


# --------------------------------------------------------------------------- permissions


def test_private_file_and_directory_pass(tmp_path):
    path = tmp_path / "state" / "identity.json"
    identity = generate_identity()
    store_identity(path, identity)
    check_private(path)
    path.chmod(0o400)
    check_private(path)
    check_private(tmp_path / "state" / "absent.json")  # a file yet to be created
    check_private(tmp_path / "nowhere" / "absent.json")  # a directory yet to be created


@pytest.mark.parametrize("file_mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666])
def test_a_file_group_or_others_may_use_fails_with_the_fix(tmp_path, file_mode):
    directory = tmp_path / "state"
    path = directory / "identity.json"
    identity = generate_identity()
    store_identity(path, identity)
    path.chmod(file_mode)
    with pytest.raises(IdentityError) as excinfo:
        check_private(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: has mode {file_mode:04o}, so group or others"), message
    assert f"fix it with `chmod 600 {path}`" in message
    for key in ("private_key", "public_key", "uuid", "short_id"):
        assert identity[key] not in message


@pytest.mark.parametrize("dir_mode", [0o755, 0o750, 0o705, 0o711, 0o770, 0o701])
def test_a_directory_group_or_others_may_use_fails_with_the_fix(tmp_path, dir_mode):
    directory = tmp_path / "state"
    path = directory / "identity.json"
    store_identity(path, generate_identity())
    directory.chmod(dir_mode)
    try:
        for checked in (path, directory / "absent.json"):
            with pytest.raises(IdentityError) as excinfo:
                check_private(checked)
            message = str(excinfo.value)
            assert message.startswith(f"{directory}: has mode {dir_mode:04o}, so group or "), (
                message
            )
            assert f"fix it with `chmod 700 {directory}`" in message
            assert "out of version control" in message
    finally:
        directory.chmod(0o700)


def test_a_stored_name_in_aliases_is_accepted_and_kept():
    identity = generate_identity("default@edge1", "mtproxy")
    assert validate_identity(identity, "mtproxy@edge1", "mtproxy", aliases=["default@edge1"]) == (
        identity
    )
    with pytest.raises(IdentityError, match="not the 'mtproxy' identity 'mtproxy@edge1'"):
        validate_identity(identity, "mtproxy@edge1", "mtproxy", aliases=["other@edge1"])
