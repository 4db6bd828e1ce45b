# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Relay and REALITY identities kept on the controller.

An identity is what one VLESS-REALITY hop needs on both ends:

* ``kind: relay`` (the shared relay identity ``proxy-service@cluster`` proxy nodes use
  towards the backends): ``uuid`` (VLESS client id), an X25519 key pair and a
  REALITY ``short_id``;
* ``kind: reality`` (the REALITY keys of a public inbound): the X25519 key pair and a
  ``short_id``, no ``uuid``;
* ``kind: mtproxy`` (the MTProxy secret of a host, when the operator gives none): a
  ``secret`` of 32 lowercase hexadecimal characters (16 random bytes), no keys;
* ``kind: short_id`` (the REALITY short id of a public inbound whose private key the
  operator gives without a short id): a ``short_id`` only.

Keys are raw 32-byte X25519 keys in URL-safe base64 without padding, the format
``xray x25519`` prints and Xray's ``privateKey`` / client ``publicKey`` settings take.

The identity is stored as JSON (mode 0600, directory 0700). ``store_identity()``
creates the file atomically and only if it does not exist yet, so hosts running the
action in parallel forks all end up with the first identity written.
``check_private()`` refuses a file or directory that group or others may use, with the
``chmod`` that fixes it. A short id is never empty: REALITY accepts clients without a
short id when an inbound lists the empty one.

Error messages never contain a private key or secret.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import uuid
from collections.abc import Mapping

from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_secret import (
    weak_secret_reason,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import unknown_keys

try:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )
except ImportError:  # pragma: no cover - reported when a key is needed
    X25519PrivateKey = None

__all__ = [
    "DEFAULT_NAME",
    "FORMAT_VERSION",
    "KINDS",
    "IdentityError",
    "check_private",
    "decode_key",
    "encode_key",
    "generate_identity",
    "generate_keypair",
    "load_identity",
    "public_key_from_private",
    "store_identity",
    "validate_identity",
]

DEFAULT_NAME = "proxy-service@cluster"
KINDS = ("relay", "reality", "mtproxy", "short_id")
SECRET_BYTES = 16
FORMAT_VERSION = 1
KEY_BYTES = 32
SHORT_ID_BYTES = 4
FILE_MODE = 0o600
DIR_MODE = 0o700

_KEY_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_SHORT_ID_RE = re.compile(r"(?:[0-9a-f]{2}){1,8}")
_NAME_RE = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SECRET_RE = re.compile(r"[0-9a-f]{32}")


class IdentityError(ValueError):
    """An identity (argument or stored file) is invalid; never quotes a private key."""


def _require_cryptography():
    if X25519PrivateKey is None:
        raise IdentityError(
            "the Python package 'cryptography' is required on the controller "
            "(pip install cryptography)"
        )


def encode_key(raw):
    """32 raw key bytes -> URL-safe base64 without padding (43 characters)."""
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode("ascii")


def decode_key(text, what="key"):
    """URL-safe base64 without padding -> 32 raw bytes; IdentityError otherwise."""
    if not isinstance(text, str) or not _KEY_RE.fullmatch(text):
        raise IdentityError(
            f"{what} must be 43 characters of URL-safe base64 without padding "
            "(a raw 32-byte X25519 key, as `xray x25519` prints)"
        )
    try:
        raw = base64.urlsafe_b64decode(text + "=")
    except (binascii.Error, ValueError):  # pragma: no cover - the regex rules this out
        raise IdentityError(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES or encode_key(raw) != text:
        raise IdentityError(f"{what} is not a canonical 32-byte key")
    return raw


def public_key_from_private(private_key):
    """Derive the X25519 public key (Xray format) from a private key (Xray format)."""
    _require_cryptography()
    raw = decode_key(private_key, "private_key")
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    return encode_key(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def generate_keypair():
    """Return ``(private_key, public_key)`` in Xray format."""
    _require_cryptography()
    private = X25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return encode_key(raw), encode_key(public)


def _check_kind(kind):
    if kind not in KINDS:
        raise IdentityError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return str(kind)


def _check_name(name):
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise IdentityError(f"name must be 1 to 64 characters without whitespace, got {name!r}")
    return str(name)


def generate_identity(name=DEFAULT_NAME, kind="relay"):
    """A fresh identity dict (``version``, ``kind``, ``name``, keys, ``short_id``)."""
    kind = _check_kind(kind)
    identity = {"version": FORMAT_VERSION, "kind": kind, "name": _check_name(name)}
    if kind == "mtproxy":
        # A random secret is weak with probability ~1e-10; never hand one out anyway.
        secret = os.urandom(SECRET_BYTES).hex()
        while weak_secret_reason(secret):  # pragma: no cover - practically never
            secret = os.urandom(SECRET_BYTES).hex()
        identity["secret"] = secret
        return identity
    if kind == "short_id":
        identity["short_id"] = os.urandom(SHORT_ID_BYTES).hex()
        return identity
    if kind == "relay":
        identity["uuid"] = str(uuid.uuid4())
    identity["private_key"], identity["public_key"] = generate_keypair()
    identity["short_id"] = os.urandom(SHORT_ID_BYTES).hex()
    return identity


def validate_identity(data, name=DEFAULT_NAME, kind="relay", source="identity", aliases=()):
    """Check a loaded identity against the expected ``name`` and ``kind``; return it.

    A stored name in ``aliases`` is accepted too (names earlier versions wrote).

    The public key must be the one derived from the private key. Raises IdentityError
    prefixed with ``source`` (the file path).
    """
    kind = _check_kind(kind)
    name = _check_name(name)
    if not isinstance(data, Mapping):
        raise IdentityError(f"{source}: must hold a JSON object")
    if kind == "mtproxy":
        expected = ["version", "kind", "name", "secret"]
    elif kind == "short_id":
        expected = ["version", "kind", "name", "short_id"]
    else:
        expected = ["version", "kind", "name", "private_key", "public_key", "short_id"]
    if kind == "relay":
        expected.insert(3, "uuid")
    missing = [key for key in expected if key not in data]
    unknown = unknown_keys(data, expected)
    if missing or unknown:
        details = []
        if missing:
            details.append(f"missing {', '.join(missing)}")
        if unknown:
            details.append(f"unexpected {', '.join(unknown)}")
        raise IdentityError(f"{source}: not a {kind} identity ({'; '.join(details)})")
    if data["version"] != FORMAT_VERSION:
        raise IdentityError(
            f"{source}: format version {data['version']!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    if data["kind"] != kind or (data["name"] != name and data["name"] not in aliases):
        raise IdentityError(
            f"{source}: holds the {data['kind']!r} identity {data['name']!r}, not the "
            f"{kind!r} identity {name!r}; use another path, or pass the stored name"
        )
    if kind == "mtproxy":
        secret = data["secret"]
        if not isinstance(secret, str) or not _SECRET_RE.fullmatch(secret):
            raise IdentityError(
                f"{source}: secret must be 32 lowercase hexadecimal characters; fix or remove it"
            )
        reason = weak_secret_reason(secret)
        if reason:
            raise IdentityError(
                f"{source}: the secret is a well-known or guessable value ({reason}); remove the "
                "file to have a new one generated"
            )
        return {key: data[key] for key in expected}
    if kind == "relay" and (
        not isinstance(data["uuid"], str) or not _UUID_RE.fullmatch(data["uuid"])
    ):
        raise IdentityError(f"{source}: uuid must be a lowercase UUID, got {data['uuid']!r}")
    if kind != "short_id":
        try:
            derived = public_key_from_private(data["private_key"])
            decode_key(data["public_key"], "public_key")
        except IdentityError as exc:
            raise IdentityError(f"{source}: {exc}") from None
        if derived != data["public_key"]:
            raise IdentityError(f"{source}: public_key does not match private_key")
    short_id = data["short_id"]
    if not isinstance(short_id, str) or not _SHORT_ID_RE.fullmatch(short_id):
        raise IdentityError(
            f"{source}: short_id must be 2 to 16 lowercase hexadecimal characters of even "
            f"length (never empty: REALITY would accept clients without one), got {short_id!r}"
        )
    return {key: data[key] for key in expected}


def load_identity(path, name=DEFAULT_NAME, kind="relay", aliases=()):
    """Read and validate the identity stored at ``path``."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise IdentityError(
            f"{path}: is not valid JSON (line {exc.lineno}); fix or remove it"
        ) from None
    except UnicodeDecodeError:
        raise IdentityError(f"{path}: is not UTF-8 JSON; fix or remove it") from None
    except OSError as exc:
        raise IdentityError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    return validate_identity(data, name, kind, source=path, aliases=aliases)


def loose_permissions(path):
    """The mode of ``path`` if group or others have any access, else None."""
    mode = stat.S_IMODE(os.stat(path).st_mode)
    return mode if mode & 0o077 else None


def check_private(path):
    """Raise IdentityError if group or others may use ``path`` or, when it exists, its file.

    ``path`` is an identity file; its directory must be 0700 or stricter, the file 0600 or
    stricter. Missing ones are not checked (``store_identity()`` creates them so).
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    if os.path.isdir(directory):
        mode = loose_permissions(directory)
        if mode is not None:
            raise IdentityError(
                f"{directory}: has mode {mode:04o}, so group or others can list or change the "
                f"private keys and secrets it holds; fix it with `chmod 700 {directory}` "
                "(and keep the directory out of version control)"
            )
    if os.path.isfile(path):
        mode = loose_permissions(path)
        if mode is not None:
            raise IdentityError(
                f"{path}: has mode {mode:04o}, so group or others can read or change the "
                f"private key or secret it holds; fix it with `chmod 600 {path}`, and consider "
                "the key exposed if others could read it"
            )


def _ensure_private_dir(directory):
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, mode=DIR_MODE)
    except FileExistsError:
        return  # created concurrently
    os.chmod(directory, DIR_MODE)  # the umask may have narrowed makedirs' mode


def _fsync_dir(directory):
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _serialise(identity):
    return (json.dumps(identity, indent=2, sort_keys=True) + "\n").encode("utf-8")


def store_identity(path, identity):
    """Write ``identity`` to ``path`` (0600) unless the file exists; True if written.

    The content is written to a temporary file in the same directory and hard-linked
    into place, which fails if ``path`` already exists: concurrent writers never
    overwrite each other and readers never see a partial file. On file systems without
    hard links an exclusive create is used instead.
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    _ensure_private_dir(directory)
    content = _serialise(identity)
    fd, temporary = tempfile.mkstemp(prefix=".identity-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            return _store_exclusive(path, content)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_dir(directory)
    return True


def _store_exclusive(path, content):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return True
