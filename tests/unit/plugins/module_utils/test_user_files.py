# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/user_files: names checked, files rendered, the directory made exactly so.

The action plugin around it (arguments, check mode, diff, the result) is tested in
tests/unit/plugins/action/test_user_files_action.py; the QR codes decoded by a real decoder
in tests/integration/plugins/action/test_user_files.py.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import stat
import subprocess
import sys

import pytest
from ansible_collections.edgerelay.proxy.plugins.module_utils import user_files
from ansible_collections.edgerelay.proxy.plugins.module_utils.user_files import (
    UserFilesError,
    apply,
    normalize_users,
    plan,
    qr_png,
    render_user,
    subscription,
)
from hypothesis import given
from hypothesis import strategies as st

ALICE_ID = "b831381d-6324-4d53-ad4f-8cda48b30811"
BOB_ID = "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50"
PBK = "SoBFFK4vWGSTTBXTl_WB1w5fu8X9_1PaIdHLJKEHixc"


def vless(user_id, host, port, remark):
    return (
        f"vless://{user_id}@{host}:{port}?encryption=none&security=reality&sni=www.example.com"
        f"&fp=chrome&pbk={PBK}&sid=abcd&flow=xtls-rprx-vision&type=tcp&headerType=none#{remark}"
    )


ALICE = [
    {"label": "ru1-tcp-vision-443", "link": vless(ALICE_ID, "ru1.example.net", 443, "alice-1")},
    {"label": "ru2-tcp-vision-443", "link": vless(ALICE_ID, "ru2.example.net", 443, "alice-2")},
]
BOB = [{"label": "ru1-tcp-vision-443", "link": vless(BOB_ID, "ru1.example.net", 443, "bob")}]
USERS = {"alice": ALICE, "bob@example.org": BOB}
SECRETS = (ALICE_ID, BOB_ID)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def converge(root, stack="xray", users=None):
    ops = plan(str(root), stack, normalize_users(USERS if users is None else users))
    apply(ops)
    return ops


def tree(root):
    """{relative path: (mode, bytes or None for a directory)} of everything under root."""
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            content = None if os.path.isdir(path) else open(path, "rb").read()  # noqa: SIM115
            found[rel] = (mode(path), content)
    return found


# --------------------------------------------------------------------------- names


def test_normalize_keeps_order_and_pairs():
    assert normalize_users(USERS) == {
        "alice": [(entry["label"], entry["link"]) for entry in ALICE],
        "bob@example.org": [(BOB[0]["label"], BOB[0]["link"])],
    }


@pytest.mark.parametrize(
    "name",
    ["Alice", "a", "bob@example.org", "x+tag@host", "a_b.c-d", "-a", ".hidden", "9", "a" * 64],
)
def test_user_names_of_both_stacks_accepted(name):
    assert list(normalize_users({name: []})) == [name]


@pytest.mark.parametrize(
    "name",
    [".", "..", "", "a/b", "../x", "a\\b", "a b", "a\nb", "é", "a" * 65, "a\x00", 7, None],
)
def test_user_names_that_cannot_be_a_directory_fail(name):
    with pytest.raises(UserFilesError, match="cannot name a directory"):
        normalize_users({name: []})


def test_user_names_differing_in_case_fail():
    with pytest.raises(UserFilesError, match="differ only in case"):
        normalize_users({"alice": [], "Alice": []})


@pytest.mark.parametrize(
    "label", ["", ".png", "../x", "a/b", "-a", ".a", "a b", "a:b", "a" * 129, 3, None]
)
def test_labels_that_cannot_be_a_file_name_fail(label):
    with pytest.raises(UserFilesError, match=r"users\['alice'\]\[0\]\.label: .*cannot name a file"):
        normalize_users({"alice": [{"label": label, "link": ALICE[0]["link"]}]})


@pytest.mark.parametrize("other", ["ru1-tcp-vision-443", "RU1-tcp-vision-443"])
def test_labels_are_unique_per_user_regardless_of_case(other):
    entries = [ALICE[0], {"label": other, "link": ALICE[1]["link"]}]
    with pytest.raises(UserFilesError, match=r"\[1\]\.label: .* twice"):
        normalize_users({"alice": entries})
    # The same label for two users is fine (one directory each).
    assert normalize_users({"alice": [ALICE[0]], "bob": [{"label": other, "link": BOB_ID}]})


@pytest.mark.parametrize(
    "link",
    [
        "",
        f"{ALICE[0]['link']} ",
        f"{ALICE[0]['link']}\n{BOB[0]['link']}",
        f"{ALICE[0]['link']}é",
        "v" * 2049,
        None,
        [ALICE[0]["link"]],
    ],
)
def test_bad_links_fail_without_being_quoted(link):
    with pytest.raises(UserFilesError) as raised:
        normalize_users({"alice": [{"label": "ru1-tcp-vision-443", "link": link}]})
    message = str(raised.value)
    assert message.startswith("users['alice'][0].link: ")
    assert "not shown" in message
    assert ALICE_ID not in message


@pytest.mark.parametrize(
    ("users", "match"),
    [
        ([ALICE], "must be a mapping user -> links"),
        ({"alice": ALICE[0]["link"]}, r"must be a list of \{label, link\}, got str"),
        ({"alice": {"label": "x"}}, r"must be a list of \{label, link\}, got dict"),
        ({"alice": [ALICE[0]["link"]]}, r"\[0\]: must be a mapping \{label, link\}, got str"),
        ({"alice": [{**ALICE[0], "user": "alice"}]}, "unknown key 'user'"),
        ({"alice": [{"link": ALICE[0]["link"]}]}, r"\.label: .*NoneType"),
    ],
)
def test_shapes(users, match):
    with pytest.raises(UserFilesError, match=match) as raised:
        normalize_users(users)
    assert ALICE_ID not in str(raised.value)


# --------------------------------------------------------------------------- rendering


def test_subscription_is_standard_base64_of_the_links_on_one_line():
    links = [entry["link"] for entry in ALICE] + [BOB[0]["link"]]
    encoded = subscription(links)
    assert b"\n" not in encoded and b"\r" not in encoded
    assert base64.b64decode(encoded, validate=True).decode() == "\n".join(links)
    # Standard alphabet with padding (v2rayN, Hiddify and Streisand decode it).
    assert base64.b64encode(base64.b64decode(encoded)) == encoded
    with pytest.raises(binascii.Error):
        base64.b64decode(b"-_" + encoded[2:], validate=True)


def test_render_xray_and_mtproxy():
    entries = normalize_users(USERS)["alice"]
    xray = render_user("xray", entries)
    assert sorted(xray) == [
        "links.txt",
        "ru1-tcp-vision-443.png",
        "ru2-tcp-vision-443.png",
        "subscription.txt",
    ]
    assert xray["links.txt"].decode().splitlines() == [link for _, link in entries]
    assert xray["links.txt"].endswith(b"\n")
    assert base64.b64decode(xray["subscription.txt"]).decode().split("\n") == [
        link for _, link in entries
    ]
    for label, link in entries:
        assert xray[f"{label}.png"] == qr_png(link)
    mtproxy = render_user("mtproxy", entries)
    assert sorted(mtproxy) == ["links.txt", "ru1-tcp-vision-443.png", "ru2-tcp-vision-443.png"]


def test_qr_png_is_a_png_and_deterministic_across_processes():
    link = ALICE[0]["link"]
    png = qr_png(link)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"tIME" not in png  # no timestamp chunk
    assert qr_png(link) == png
    assert qr_png(BOB[0]["link"]) != png
    script = (
        "import sys\n"
        "from ansible_collections.edgerelay.proxy.plugins.module_utils.user_files import qr_png\n"
        "sys.stdout.buffer.write(qr_png(sys.argv[1]))\n"
    )
    for seed in ("0", "12345"):
        other = subprocess.run(
            [sys.executable, "-c", script, link],
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join(sys.path)},
            timeout=60,
        ).stdout
        assert other == png


def test_a_link_too_long_for_a_qr_code_fails_without_being_quoted():
    # The longest link normalize_users() accepts fits (version 40, error correction M).
    assert qr_png("vless://" + "a%" * 1020)
    with pytest.raises(UserFilesError, match="too long for a QR code") as raised:
        qr_png("vless://" + "a%" * 1500)
    assert "a%a%" not in str(raised.value)


def test_without_segno_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(user_files, "segno", None)
    with pytest.raises(UserFilesError, match="'segno' is required"):
        qr_png(ALICE[0]["link"])


def test_unknown_stack_fails(tmp_path):
    with pytest.raises(UserFilesError, match="stack: must be one of xray, mtproxy"):
        plan(str(tmp_path), "vmess", {})
    with pytest.raises(UserFilesError, match="stack: must be one of xray, mtproxy"):
        render_user("vmess", [])


# --------------------------------------------------------------------------- the directory


def test_first_run_writes_everything_private_then_nothing_changes(tmp_path):
    root = tmp_path / "inventory" / ".edgerelay" / "users"
    ops = converge(root)
    assert [op.kind for op in ops][:3] == ["mkdir", "mkdir", "mkdir"]
    found = tree(tmp_path / "inventory")
    assert found[".edgerelay"][0] == 0o700  # a missing parent too
    for rel, (found_mode, content) in found.items():
        assert found_mode == (0o700 if content is None else 0o600), rel
    assert sorted(rel for rel in found if rel.startswith(".edgerelay/users/xray/alice/")) == [
        ".edgerelay/users/xray/alice/links.txt",
        ".edgerelay/users/xray/alice/ru1-tcp-vision-443.png",
        ".edgerelay/users/xray/alice/ru2-tcp-vision-443.png",
        ".edgerelay/users/xray/alice/subscription.txt",
    ]
    assert plan(str(root), "xray", normalize_users(USERS)) == []


def test_modes_hold_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        converge(tmp_path / "users")
    finally:
        os.umask(previous)
    for rel, (found_mode, content) in tree(tmp_path).items():
        assert found_mode == (0o700 if content is None else 0o600), rel


def test_names_are_relative_to_the_root_and_never_carry_a_link(tmp_path):
    ops = converge(tmp_path / "users")
    names = [op.name for op in ops]
    assert names[:4] == ["./", "xray/", "xray/alice/", "xray/alice/links.txt"]
    for op in ops:
        assert not any(secret in op.name or secret in op.path for secret in SECRETS)
        assert (op.content is not None) == (op.kind == "write")


def test_a_changed_link_rewrites_only_what_holds_it(tmp_path):
    root = tmp_path / "users"
    converge(root)
    before = tree(root)
    changed = {**USERS, "alice": [ALICE[0], {**ALICE[1], "link": ALICE[1]["link"] + "x"}]}
    ops = converge(root, users=changed)
    assert sorted((op.kind, op.name) for op in ops) == [
        ("write", "xray/alice/links.txt"),
        ("write", "xray/alice/ru2-tcp-vision-443.png"),
        ("write", "xray/alice/subscription.txt"),
    ]
    after = tree(root)
    assert {rel for rel in after if after[rel] != before[rel]} == {
        "xray/alice/links.txt",
        "xray/alice/ru2-tcp-vision-443.png",
        "xray/alice/subscription.txt",
    }


def test_removed_users_and_links_are_removed(tmp_path):
    root = tmp_path / "users"
    converge(root)
    (root / "xray" / "alice" / ".tmp-left-over").write_bytes(b"x")
    ops = converge(root, users={"alice": [ALICE[0]]})
    assert sorted((op.kind, op.name) for op in ops if op.kind == "remove") == [
        ("remove", "xray/alice/.tmp-left-over"),
        ("remove", "xray/alice/ru2-tcp-vision-443.png"),
        ("remove", "xray/bob@example.org"),
    ]
    assert sorted(os.listdir(root / "xray")) == ["alice"]
    assert sorted(os.listdir(root / "xray" / "alice")) == [
        "links.txt",
        "ru1-tcp-vision-443.png",
        "subscription.txt",
    ]
    # No user left: the stack's directory stays, empty.
    converge(root, users={})
    assert os.listdir(root / "xray") == []


def test_stacks_do_not_touch_each_other(tmp_path):
    root = tmp_path / "users"
    converge(root, "xray")
    converge(root, "mtproxy", {"carol": [{"label": "edge1-tg", "link": "tg://proxy?x=1"}]})
    assert sorted(os.listdir(root)) == ["mtproxy", "xray"]
    assert sorted(os.listdir(root / "xray")) == ["alice", "bob@example.org"]
    # MTProxy users get no subscription; one left from elsewhere is removed.
    (root / "mtproxy" / "carol" / "subscription.txt").write_bytes(b"x")
    ops = converge(root, "mtproxy", {"carol": [{"label": "edge1-tg", "link": "tg://proxy?x=1"}]})
    assert [(op.kind, op.name) for op in ops] == [("remove", "mtproxy/carol/subscription.txt")]
    assert sorted(os.listdir(root / "mtproxy" / "carol")) == ["edge1-tg.png", "links.txt"]


def test_loose_modes_are_fixed(tmp_path):
    root = tmp_path / "users"
    converge(root)
    os.chmod(root, 0o755)
    os.chmod(root / "xray" / "alice", 0o755)
    os.chmod(root / "xray" / "alice" / "links.txt", 0o644)
    os.chmod(root / "xray" / "bob@example.org" / "subscription.txt", 0o400)
    ops = converge(root)
    assert sorted((op.kind, op.name, op.found, op.mode) for op in ops) == [
        ("chmod", "./", 0o755, 0o700),
        ("chmod", "xray/alice/", 0o755, 0o700),
        ("chmod", "xray/alice/links.txt", 0o644, 0o600),
        ("chmod", "xray/bob@example.org/subscription.txt", 0o400, 0o600),
    ]
    for rel, (found_mode, content) in tree(root).items():
        assert found_mode == (0o700 if content is None else 0o600), rel
    assert converge(root) == []


def test_a_stricter_root_is_kept(tmp_path):
    root = tmp_path / "users"
    root.mkdir(mode=0o500)
    os.chmod(root, 0o500)
    try:
        ops = plan(str(root), "xray", normalize_users(USERS))
        assert [op.kind for op in ops if op.name == "./"] == []
    finally:
        os.chmod(root, 0o700)


# --------------------------------------------------------------------------- symbolic links


@pytest.fixture
def outside(tmp_path):
    """A directory and a file outside the root that no run may touch."""
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "links.txt").write_text("precious\n")
    (directory / "keep.png").write_text("precious\n")
    os.chmod(directory / "links.txt", 0o644)
    return directory


def assert_untouched(outside):
    assert sorted(os.listdir(outside)) == ["keep.png", "links.txt"]
    assert (outside / "links.txt").read_text() == "precious\n"
    assert mode(outside / "links.txt") == 0o644


def test_root_that_is_a_symbolic_link_fails(tmp_path, outside):
    (tmp_path / "users").symlink_to(outside)
    with pytest.raises(UserFilesError, match="is a symbolic link"):
        converge(tmp_path / "users")
    assert_untouched(outside)


def test_root_must_be_an_absolute_directory(tmp_path):
    with pytest.raises(UserFilesError, match="path must be absolute"):
        plan("relative/users", "xray", {})
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserFilesError, match="exists but is not a directory"):
        plan(str(tmp_path / "file"), "xray", {})


@pytest.mark.parametrize("where", ["stack", "user"])
def test_a_symbolic_link_in_place_of_a_directory_is_replaced_not_followed(tmp_path, outside, where):
    root = tmp_path / "users"
    converge(root)
    target = root / "xray" if where == "stack" else root / "xray" / "alice"
    # Behind the link, what the run writes: a plan that looked through it would find a
    # directory with the right links.txt.
    wanted = (root / "xray" / "alice" / "links.txt").read_bytes()
    if where == "stack":
        (outside / "alice").mkdir()
        (outside / "alice" / "links.txt").write_bytes(wanted)
    else:
        (outside / "links.txt").write_bytes(wanted)
    before = tree(outside)
    shutil.rmtree(target)
    target.symlink_to(outside)
    ops = converge(root)
    assert ops[0].kind == "remove" and ops[0].name == target.relative_to(root).as_posix()
    assert not target.is_symlink() and target.is_dir() and mode(target) == 0o700
    assert tree(outside) == before
    assert (root / "xray" / "alice" / "links.txt").read_bytes() == wanted
    assert converge(root) == []


def test_a_symbolic_link_in_place_of_a_file_is_replaced_not_followed(tmp_path, outside):
    root = tmp_path / "users"
    converge(root)
    links = root / "xray" / "alice" / "links.txt"
    wanted = links.read_bytes()
    links.unlink()
    links.symlink_to(outside / "links.txt")
    # Same bytes behind the link: still replaced (a link is never read through).
    (outside / "links.txt").write_bytes(wanted)
    ops = converge(root)
    assert [(op.kind, op.name) for op in ops] == [
        ("remove", "xray/alice/links.txt"),
        ("write", "xray/alice/links.txt"),
    ]
    assert not links.is_symlink() and links.read_bytes() == wanted and mode(links) == 0o600
    assert (outside / "links.txt").read_bytes() == wanted
    assert mode(outside / "links.txt") == 0o644


def test_stale_symbolic_links_are_removed_themselves(tmp_path, outside):
    root = tmp_path / "users"
    converge(root)
    (root / "xray" / "mallory").symlink_to(outside)
    (root / "xray" / "alice" / "old.png").symlink_to(outside / "keep.png")
    # A stale user directory holding a link to the outside: removed without descending.
    (root / "xray" / "carol").mkdir()
    (root / "xray" / "carol" / "escape").symlink_to(outside)
    ops = converge(root)
    assert sorted(op.name for op in ops) == ["xray/alice/old.png", "xray/carol", "xray/mallory"]
    assert sorted(os.listdir(root / "xray")) == ["alice", "bob@example.org"]
    assert_untouched(outside)


def test_other_file_types_in_place_of_a_file_are_replaced(tmp_path):
    root = tmp_path / "users"
    converge(root)
    alice = root / "xray" / "alice"
    (alice / "links.txt").unlink()
    (alice / "links.txt").mkdir()
    (alice / "links.txt" / "inner").write_text("x")
    (alice / "subscription.txt").unlink()
    os.mkfifo(alice / "subscription.txt")  # read without O_NONBLOCK, it would hang
    ops = converge(root)
    assert sorted((op.kind, op.name) for op in ops) == [
        ("remove", "xray/alice/links.txt"),
        ("remove", "xray/alice/subscription.txt"),
        ("write", "xray/alice/links.txt"),
        ("write", "xray/alice/subscription.txt"),
    ]
    assert (alice / "links.txt").is_file() and (alice / "subscription.txt").is_file()
    assert converge(root) == []


def test_a_file_in_place_of_a_user_directory_is_replaced(tmp_path):
    root = tmp_path / "users"
    (root / "xray").mkdir(parents=True)
    (root / "xray" / "alice").write_text("x")
    converge(root)
    assert (root / "xray" / "alice").is_dir()
    assert converge(root) == []


# --------------------------------------------------------------------------- property

_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.@+-", min_size=1, max_size=12
).filter(lambda name: name not in (".", ".."))
_labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda label: label[0] != "-"
)
_links = st.text(alphabet="".join(chr(c) for c in range(0x21, 0x7F)), min_size=1, max_size=60)


@given(
    st.lists(
        st.tuples(_names, st.dictionaries(_labels, _links, max_size=3)),
        max_size=3,
        unique_by=lambda pair: pair[0],
    ),
    st.lists(
        st.tuples(_names, st.dictionaries(_labels, _links, max_size=3)),
        max_size=3,
        unique_by=lambda pair: pair[0],
    ),
)
def test_any_users_then_any_others_converge(tmp_path_factory, first, second):
    root = tmp_path_factory.mktemp("users") / "users"
    for users in (first, second):
        given_users = {
            user: [{"label": label, "link": link} for label, link in links.items()]
            for user, links in users
        }
        converge(root, "xray", given_users)
        assert sorted(os.listdir(root / "xray")) == sorted(given_users)
        for user, entries in given_users.items():
            directory = root / "xray" / user
            assert sorted(os.listdir(directory)) == sorted(
                ["links.txt", "subscription.txt"] + [f"{e['label']}.png" for e in entries]
            )
            links = [entry["link"] for entry in entries]
            assert (directory / "links.txt").read_text().splitlines() == links
            decoded = base64.b64decode((directory / "subscription.txt").read_bytes()).decode()
            assert decoded.split("\n") == (links or [""])
        assert plan(str(root), "xray", normalize_users(given_users)) == []
