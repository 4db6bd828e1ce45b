# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each user's client files on the controller: links, QR codes, a subscription.

For one stack (``xray`` or ``mtproxy``) and a mapping user -> ``[{label, link}]``, the
directory ``<root>/<stack>/`` holds exactly one directory per user (mode 0700) with
(mode 0600):

* ``links.txt``: the user's links, one per line, in the given order;
* ``<label>.png``: a QR code of each link (segno, deterministic bytes for the same link);
* ``subscription.txt`` (``xray`` only): standard base64 (RFC 4648, with padding, one line)
  of the links joined by ``\\n``, the subscription format v2rayN, Hiddify and Streisand
  import.

``plan()`` compares that with what is on disk and returns the operations that make it so
(nothing is written); ``apply()`` carries them out. Everything else inside
``<root>/<stack>/`` is removed: directories of users no longer given, files of links no
longer offered, left-over temporary files. Nothing inside ``<root>/<stack>/`` is followed
when it is a symbolic link: a link is replaced or removed itself. Files are replaced
atomically (a temporary file in the same directory, then ``os.replace``).

Error messages and the operations name users, labels and files only, never a link: the
links hold the secrets (a VLESS user id, an MTProxy secret).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ansible_collections.edgerelay.proxy.plugins.module_utils.types import (
    type_name,
    unknown_keys,
)

try:
    import segno
except ImportError:  # pragma: no cover - reported when a QR code is needed
    segno = None

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "LINKS_FILE",
    "STACKS",
    "SUBSCRIPTION_FILE",
    "Operation",
    "UserFilesError",
    "apply",
    "normalize_users",
    "plan",
    "qr_png",
    "render_user",
    "subscription",
]

STACKS = ("xray", "mtproxy")
DIR_MODE = 0o700
FILE_MODE = 0o600
LINKS_FILE = "links.txt"
SUBSCRIPTION_FILE = "subscription.txt"
QR_SUFFIX = ".png"
# Error correction M (raised by segno when the same QR version allows more), 8 pixels a
# module and the 4-module quiet zone the standard asks for: a phone reads it off a screen.
QR_ERROR = "m"
QR_SCALE = 8
QR_BORDER = 4
TEMP_PREFIX = ".tmp-"

# Both stacks' user names (Xray: [A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}, MTProxy:
# [A-Za-z0-9_.-]{1,64}), and never "." or "..": a name is one path component.
_USER_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
_LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")
# Share links are URLs: printable ASCII without spaces (everything else percent-encoded).
_LINK_RE = re.compile(r"[!-~]{1,2048}")
_ENTRY_KEYS = ("label", "link")


class UserFilesError(ValueError):
    """The arguments or the directory are unusable; the message never quotes a link."""


@dataclass(frozen=True)
class Operation:
    """One change. ``kind``: mkdir, chmod, write or remove; ``path``: absolute; ``name``:
    relative to the root, a directory's with a trailing ``/`` (``xray/alice/``,
    ``xray/alice/links.txt``); ``content``: the bytes to write; ``mode``: the mode to set
    (mkdir, chmod, write); ``found``: the mode found (chmod); ``existed``: whether a write
    replaces a file."""

    kind: str
    path: str
    name: str
    content: bytes | None = None
    mode: int | None = None
    found: int | None = None
    existed: bool = False


def _shown(value, limit):
    """``value`` quoted for a message, unless it is long or looks like a link (a secret)."""
    if not isinstance(value, str):
        return f"of type {type_name(value)}"
    if len(value) > limit or "://" in value or "secret=" in value:
        return f"of {len(value)} characters (not shown: it may hold a link)"
    return repr(value)


def _check_user(user, position):
    if not isinstance(user, str) or not _USER_RE.fullmatch(user) or user in (".", ".."):
        raise UserFilesError(
            f"users: user name {position + 1} {_shown(user, 80)} cannot name a directory; "
            "use 1 to 64 of A-Z a-z 0-9 _ . @ + - (not '.' or '..')"
        )


def normalize_users(users):
    """``{user: [{label, link}]}`` checked -> ``{user: [(label, link)]}`` (order kept).

    User names and labels become file names, so they are one path component each and
    unique regardless of case (a case-insensitive file system would merge them).
    """
    if not isinstance(users, Mapping):
        raise UserFilesError(f"users: must be a mapping user -> links, got {type_name(users)}")
    normalized = {}
    folded_users = {}
    for position, (user, entries) in enumerate(users.items()):
        _check_user(user, position)
        other = folded_users.setdefault(user.casefold(), user)
        if other != user:
            raise UserFilesError(
                f"users: {other!r} and {user!r} differ only in case; their directories "
                "would be one on a case-insensitive file system"
            )
        where = f"users[{user!r}]"
        if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
            raise UserFilesError(
                f"{where}: must be a list of {{label, link}}, got {type_name(entries)}"
            )
        checked = []
        labels = {}
        for index, entry in enumerate(entries):
            at = f"{where}[{index}]"
            if not isinstance(entry, Mapping):
                raise UserFilesError(
                    f"{at}: must be a mapping {{label, link}}, got {type_name(entry)}"
                )
            extra = unknown_keys(entry, _ENTRY_KEYS)
            if extra:
                raise UserFilesError(f"{at}: has unknown key {extra[0]!r} (known: label, link)")
            label, link = entry.get("label"), entry.get("link")
            if not isinstance(label, str) or not _LABEL_RE.fullmatch(label):
                raise UserFilesError(
                    f"{at}.label: {_shown(label, 140)} cannot name a file; use 1 to 128 of "
                    "A-Z a-z 0-9 _ . @ + -, starting with a letter or digit"
                )
            if label.casefold() in labels:
                raise UserFilesError(
                    f"{at}.label: {label!r} names a QR code of {user!r} twice, like "
                    f"{labels[label.casefold()]!r} (labels are unique per user, regardless of case)"
                )
            labels[label.casefold()] = label
            if not isinstance(link, str) or not _LINK_RE.fullmatch(link):
                # The link holds a secret: say what is wrong, never what it is.
                raise UserFilesError(
                    f"{at}.link: must be a share link of 1 to 2048 printable ASCII "
                    f"characters without spaces or line breaks (got a {type_name(link)}; "
                    "the value is not shown: it holds a secret)"
                )
            checked.append((label, link))
        normalized[user] = checked
    return normalized


def subscription(links):
    """The subscription file: standard base64 of the links joined by ``\\n``, one line."""
    return base64.b64encode("\n".join(links).encode("ascii"))


def qr_png(link):
    """PNG bytes of a QR code of ``link`` (segno; the same link gives the same bytes)."""
    if segno is None:
        raise UserFilesError(
            "the Python package 'segno' is required on the controller for the QR codes "
            "(pip install -r requirements.txt)"
        )
    try:
        code = segno.make_qr(link, error=QR_ERROR)
    except segno.DataOverflowError:
        raise UserFilesError("a link is too long for a QR code") from None
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()


def render_user(stack, entries):
    """``{file name: bytes}`` of one user's directory; ``entries`` as normalize_users gives."""
    if stack not in STACKS:
        raise UserFilesError(f"stack: must be one of {', '.join(STACKS)}, got {stack!r}")
    links = [link for _, link in entries]
    files = {LINKS_FILE: "".join(f"{link}\n" for link in links).encode("ascii")}
    for label, link in entries:
        files[f"{label}{QR_SUFFIX}"] = qr_png(link)
    if stack == "xray":
        files[SUBSCRIPTION_FILE] = subscription(links)
    return files


# --------------------------------------------------------------------------- the disk


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _read_nofollow(path):
    """Bytes of the regular file ``path``; None if it is anything else (never followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _entries(directory):
    """Names in the real directory ``directory``, sorted."""
    return sorted(os.listdir(directory))


def _plan_dir(path, name, ops, parent_fresh=False):
    """Operations that make ``path`` a real directory with mode 0700.

    Returns True when the directory is (or will be) new and empty: nothing in it is
    read then, not even through a symbolic link that stood in its place.
    """
    info = None if parent_fresh else _lstat(path)
    if info is not None and not stat.S_ISDIR(info.st_mode):
        # A file or a symbolic link where a directory belongs: removed, never followed.
        ops.append(Operation("remove", path, name.rstrip("/")))
        info = None
    if info is None:
        ops.append(Operation("mkdir", path, name, mode=DIR_MODE))
        return True
    found = stat.S_IMODE(info.st_mode)
    if found != DIR_MODE:
        ops.append(Operation("chmod", path, name, mode=DIR_MODE, found=found))
    return False


def _plan_root(root, ops):
    """``root`` itself: the real directory (group and others get no access) or missing."""
    if not os.path.isabs(root):
        raise UserFilesError(f"path must be absolute, got {root!r}")
    info = _lstat(root)
    if info is None:
        ops.append(Operation("mkdir", root, "./", mode=DIR_MODE))
        return True
    if stat.S_ISLNK(info.st_mode):
        raise UserFilesError(f"{root}: is a symbolic link; give the directory it points to")
    if not stat.S_ISDIR(info.st_mode):
        raise UserFilesError(f"{root}: exists but is not a directory")
    found = stat.S_IMODE(info.st_mode)
    if found & 0o077:
        ops.append(Operation("chmod", root, "./", mode=found & ~0o077, found=found))
    return False


def _plan_file(path, name, content, ops, fresh):
    info = None if fresh else _lstat(path)
    if info is not None and not stat.S_ISREG(info.st_mode):
        # A directory, symbolic link, FIFO... where the file belongs: removed first.
        ops.append(Operation("remove", path, name))
        ops.append(Operation("write", path, name, content, mode=FILE_MODE, existed=True))
        return
    if info is None:
        ops.append(Operation("write", path, name, content, mode=FILE_MODE))
        return
    # Same size first: a file of another size is rewritten without being read.
    if info.st_size != len(content) or _read_nofollow(path) != content:
        ops.append(Operation("write", path, name, content, mode=FILE_MODE, existed=True))
        return
    found = stat.S_IMODE(info.st_mode)
    if found != FILE_MODE:
        ops.append(Operation("chmod", path, name, mode=FILE_MODE, found=found))


def plan(root, stack, users):
    """The operations that make ``<root>/<stack>/`` hold exactly ``users``' files.

    ``users`` is what normalize_users() returns. Reads only; no operation means nothing
    to change. Directories come before their content, removals before writes.
    """
    if stack not in STACKS:
        raise UserFilesError(f"stack: must be one of {', '.join(STACKS)}, got {stack!r}")
    # Everything is rendered first: a link that cannot be encoded fails before any change.
    rendered = {user: render_user(stack, entries) for user, entries in users.items()}
    ops = []
    root = os.path.normpath(root)
    fresh = _plan_root(root, ops)
    stack_dir = os.path.join(root, stack)
    fresh = _plan_dir(stack_dir, f"{stack}/", ops, fresh)
    if not fresh:
        for name in _entries(stack_dir):
            if name not in rendered:
                ops.append(Operation("remove", os.path.join(stack_dir, name), f"{stack}/{name}"))
    for user, files in rendered.items():
        user_dir = os.path.join(stack_dir, user)
        user_fresh = _plan_dir(user_dir, f"{stack}/{user}/", ops, fresh)
        if not user_fresh:
            for name in _entries(user_dir):
                if name not in files:
                    ops.append(
                        Operation("remove", os.path.join(user_dir, name), f"{stack}/{user}/{name}")
                    )
        for name, content in files.items():
            _plan_file(
                os.path.join(user_dir, name), f"{stack}/{user}/{name}", content, ops, user_fresh
            )
    return ops


def _remove(path):
    info = _lstat(path)
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        # rmtree neither follows nor descends into symbolic links.
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _mkdirs(path, mode):
    """Create ``path`` and its missing parents with ``mode`` (the umask may not narrow it)."""
    missing = []
    while _lstat(path) is None:
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, mode)
        _chmod_nofollow(directory, mode)


def _write(path, content, mode):
    directory = os.path.dirname(path)
    fd, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        # Replaces whatever name is at path (a symbolic link itself, never its target).
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _chmod_nofollow(path, mode):
    info = _lstat(path)
    if info is None or stat.S_ISLNK(info.st_mode):
        raise UserFilesError(f"{path}: changed while it was being updated; run again")
    os.chmod(path, mode)


def apply(ops):
    """Carry out plan()'s operations, in order."""
    for op in ops:
        if op.kind == "remove":
            _remove(op.path)
        elif op.kind == "mkdir":
            _mkdirs(op.path, op.mode)
        elif op.kind == "chmod":
            _chmod_nofollow(op.path, op.mode)
        elif op.kind == "write":
            _write(op.path, op.content, op.mode)
        else:  # pragma: no cover - plan() makes no other kind
            raise ValueError(op.kind)
