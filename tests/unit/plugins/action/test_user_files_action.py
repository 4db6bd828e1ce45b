# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The user_files action plugin in process: arguments, check mode, diff, the result.

What the directory ends up holding is tested in
tests/unit/plugins/module_utils/test_user_files.py; through a real ansible-playbook and a
real QR decoder in tests/integration/plugins/action/test_user_files.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest
from ansible_collections.edgerelay.proxy.plugins.action.user_files import (
    NO_LOG_WARNING,
    ActionModule,
)

ALICE_ID = "b831381d-6324-4d53-ad4f-8cda48b30811"
BOB_ID = "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50"
SECRET = "ee0123456789abcdef0123456789abcdef7777772e6578616d706c652e636f6d"
SECRETS = (ALICE_ID, BOB_ID, SECRET)


def vless(user_id, host):
    return (
        f"vless://{user_id}@{host}:443?encryption=none&security=reality&sni=www.example.com"
        f"&fp=chrome&pbk=SoBFFK4vWGSTTBXTl_WB1w5fu8X9_1PaIdHLJKEHixc&sid=abcd&type=tcp#x"
    )


XRAY_USERS = {
    "alice": [
        {"label": "ru1-tcp-vision-443", "link": vless(ALICE_ID, "ru1.example.net")},
        {"label": "de1-tcp-vision-443", "link": vless(ALICE_ID, "de1.example.net")},
    ],
    "bob": [{"label": "ru1-tcp-vision-443", "link": vless(BOB_ID, "ru1.example.net")}],
}
MTPROXY_USERS = {
    "alice": [
        {"label": "edge1-tg", "link": f"tg://proxy?server=edge1&port=443&secret={SECRET}"},
        {
            "label": "edge1-tme",
            "link": f"https://t.me/proxy?server=edge1&port=443&secret={SECRET}",
        },
    ]
}


def run(args, check_mode=False, diff=False, no_log=True):
    task = SimpleNamespace(
        args=args,
        check_mode=check_mode,
        diff=diff,
        no_log=no_log,
        async_val=0,
        action="edgerelay.proxy.user_files",
    )
    connection = MagicMock()
    action = ActionModule(task, connection, MagicMock(), loader=None, templar=None)
    result = action.run(task_vars={})
    # Whatever the outcome, no link and no secret in the result, nor in its diff.
    dumped = json.dumps(result)
    assert not any(secret in dumped for secret in SECRETS), dumped
    assert "vless://" not in dumped and "tg://" not in dumped and "t.me/" not in dumped
    return result


def listing(root):
    return sorted(
        os.path.relpath(os.path.join(directory, name), root)
        for directory, dirs, files in os.walk(root)
        for name in dirs + files
    )


def test_writes_then_nothing_to_do(tmp_path):
    root = tmp_path / "users"
    args = {"path": str(root), "stack": "xray", "users": XRAY_USERS}
    first = run(args)
    assert first["changed"] is True and not first.get("failed")
    assert first["path"] == str(root / "xray")
    assert first["users"] == ["alice", "bob"]
    assert first["removed"] == []
    assert first["changed_files"] == sorted(
        [
            "./",
            "xray/",
            "xray/alice/",
            "xray/alice/de1-tcp-vision-443.png",
            "xray/alice/links.txt",
            "xray/alice/ru1-tcp-vision-443.png",
            "xray/alice/subscription.txt",
            "xray/bob/",
            "xray/bob/links.txt",
            "xray/bob/ru1-tcp-vision-443.png",
            "xray/bob/subscription.txt",
        ]
    )
    assert "diff" not in first and "warnings" not in first
    assert stat.S_IMODE(os.stat(root / "xray" / "bob" / "links.txt").st_mode) == 0o600
    second = run(args)
    assert second["changed"] is False
    assert second["changed_files"] == [] and second["removed"] == []


def test_check_mode_writes_nothing_and_reports_what_would_change(tmp_path):
    root = tmp_path / "users"
    args = {"path": str(root), "stack": "mtproxy", "users": MTPROXY_USERS}
    checked = run(args, check_mode=True, diff=True)
    assert checked["changed"] is True
    assert "xray/alice/links.txt" not in checked["changed_files"]
    assert "mtproxy/alice/edge1-tg.png" in checked["changed_files"]
    assert not root.exists()
    assert checked["diff"]["before"] == ""
    assert checked["diff"]["after"].splitlines() == [
        "./",
        "mtproxy/",
        "mtproxy/alice/",
        "mtproxy/alice/edge1-tg.png",
        "mtproxy/alice/edge1-tme.png",
        "mtproxy/alice/links.txt",
    ]
    run(args)
    # A removed user and a loose mode, seen in check mode, left as they are.
    os.chmod(root / "mtproxy" / "alice" / "links.txt", 0o644)
    (root / "mtproxy" / "carol").mkdir()
    again = run({**args, "users": {**MTPROXY_USERS}}, check_mode=True, diff=True)
    assert again["changed"] is True
    assert again["removed"] == ["mtproxy/carol"]
    assert again["changed_files"] == ["mtproxy/alice/links.txt"]
    assert again["diff"]["before"].splitlines() == [
        "mtproxy/alice/links.txt mode 0644",
        "mtproxy/carol",
    ]
    assert again["diff"]["after"].splitlines() == ["mtproxy/alice/links.txt mode 0600"]
    assert (root / "mtproxy" / "carol").is_dir()
    assert stat.S_IMODE(os.stat(root / "mtproxy" / "alice" / "links.txt").st_mode) == 0o644
    assert run(args)["changed"] is True
    assert run(args, check_mode=True)["changed"] is False


def test_diff_names_files_never_content(tmp_path):
    root = tmp_path / "users"
    args = {"path": str(root), "stack": "xray", "users": XRAY_USERS}
    run(args)
    changed = {
        **XRAY_USERS,
        "alice": [XRAY_USERS["alice"][0]],
        "bob": [{"label": "ru1-tcp-vision-443", "link": vless(BOB_ID, "ru9.example.net")}],
    }
    result = run({**args, "users": changed}, diff=True)
    diff = result["diff"]
    assert diff["before_header"] == diff["after_header"] == str(root)
    assert diff["before"].splitlines() == [
        "xray/alice/de1-tcp-vision-443.png",
        "xray/alice/links.txt (current content, not shown)",
        "xray/alice/subscription.txt (current content, not shown)",
        "xray/bob/links.txt (current content, not shown)",
        "xray/bob/ru1-tcp-vision-443.png (current content, not shown)",
        "xray/bob/subscription.txt (current content, not shown)",
    ]
    assert diff["after"].splitlines() == [
        "xray/alice/links.txt (new content, not shown)",
        "xray/alice/subscription.txt (new content, not shown)",
        "xray/bob/links.txt (new content, not shown)",
        "xray/bob/ru1-tcp-vision-443.png (new content, not shown)",
        "xray/bob/subscription.txt (new content, not shown)",
    ]
    assert result["removed"] == ["xray/alice/de1-tcp-vision-443.png"]
    assert run({**args, "users": changed}, diff=True).get("diff") is None


def test_warns_without_no_log(tmp_path):
    result = run(
        {"path": str(tmp_path / "users"), "stack": "xray", "users": XRAY_USERS}, no_log=False
    )
    assert result["warnings"] == [NO_LOG_WARNING]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"stack": "xray", "users": {}}, "missing required arguments: path"),
        ({"path": "/x", "users": {}}, "missing required arguments: stack"),
        ({"path": "/x", "stack": "xray"}, "missing required arguments: users"),
        ({"path": "/x", "stack": "vmess", "users": {}}, "stack must be one of: xray, mtproxy"),
        ({"path": "/x", "stack": "xray", "users": [1]}, "users"),
        # Strings are parsed as JSON or key=value; a link in one is not quoted either way.
        (
            {"path": "/x", "stack": "xray", "users": f"alice={vless(ALICE_ID, 'h')}"},
            r"users\['alice'\]: must be a list",
        ),
        ({"path": "/x", "stack": "xray", "users": f"[{vless(ALICE_ID, 'h')}"}, "users"),
        ({"path": "/x", "stack": "xray", "users": {}, "prune": True}, "prune"),
        ({"path": "relative", "stack": "xray", "users": {}}, "path must be absolute"),
        (
            {"path": "/x", "stack": "xray", "users": {"../alice": XRAY_USERS["alice"]}},
            "cannot name a directory",
        ),
        (
            {
                "path": "/x",
                "stack": "xray",
                "users": {"alice": [{"label": "a", "link": f"{vless(ALICE_ID, 'h')}\nx"}]},
            },
            r"users\['alice'\]\[0\]\.link: .*not shown",
        ),
    ],
)
def test_bad_arguments_fail_before_any_change(args, message):
    result = run(args)
    assert result["failed"] is True and result["changed"] is False
    assert re.search(message, result["msg"]), result["msg"]


def test_file_system_errors_name_the_path(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run({"path": str(tmp_path / "file" / "users"), "stack": "xray", "users": XRAY_USERS})
    assert result["failed"] is True
    assert result["msg"].startswith(str(tmp_path / "file"))


def test_tilde_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run({"path": "~/users", "stack": "xray", "users": XRAY_USERS})
    assert result["path"] == str(tmp_path / "users" / "xray")
    assert listing(tmp_path / "users")[:2] == ["xray", "xray/alice"]
