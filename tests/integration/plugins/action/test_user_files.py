# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""edgerelay.proxy.user_files through a real ansible-playbook, read back by real readers.

Every QR code is decoded by zbarimg (Debian's zbar-tools, installed by scripts/bootstrap.sh,
step packages: a decoder independent of the encoder, segno) back to the exact link; every
subscription is decoded back to the links. A second run changes nothing; --check --diff
writes nothing and, at -vvvv, prints no link, secret or user id; a removed user's files go.

With the pinned Xray of .cache/bin, a real Xray client built from the links decoded out of
the QR codes and out of the subscription (molecule/shared/files/vless_client.py, the lab's
client) reaches a site through real nodes built by the xray_config filter.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from ansible_collections.edgerelay.proxy.plugins.filter.xray_config import xray_config
from ansible_collections.edgerelay.proxy.plugins.filter.xray_links import xray_links
from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    generate_keypair,
)

from tests.conftest import load_module
from tests.helpers.xray import free_port, needs_xray
from tests.integration.plugins.filter.test_xray_config import BODY, socks_get
from tests.integration.plugins.filter.test_xray_links import (  # noqa: F401 - fixtures
    _distinct_free_ports,
    assets,
    node,
    on_loopback,
    reality_target,
    site,
    xray,
)

ACTION = "edgerelay.proxy.user_files"
ZBARIMG = shutil.which("zbarimg")

ALICE_ID = "b831381d-6324-4d53-ad4f-8cda48b30811"
BOB_ID = "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50"
PBK = "SoBFFK4vWGSTTBXTl_WB1w5fu8X9_1PaIdHLJKEHixc"
SECRET = "ee0123456789abcdef0123456789abcdef7777772e6578616d706c652e636f6d"
SECRETS = (ALICE_ID, BOB_ID, PBK, SECRET)


def vless(user_id, host, port, transport, remark):
    extra = (
        "flow=xtls-rprx-vision&type=tcp&headerType=none"
        if transport == "tcp-vision"
        else "type=xhttp&path=%2Fedge&mode=auto"
    )
    return (
        f"vless://{user_id}@{host}:{port}?encryption=none&security=reality&sni=www.example.com"
        f"&fp=chrome&pbk={PBK}&sid=abcd&{extra}#{remark}"
    )


def xray_users():
    users = {}
    for name, user_id in (("alice", ALICE_ID), ("bob@example.org", BOB_ID)):
        users[name] = [
            {
                "label": f"{host}-{transport}-{port}",
                "link": vless(user_id, f"{host}.example.net", port, transport, f"{name}-{host}"),
            }
            for host in ("ru1", "de1")
            for transport, port in (("tcp-vision", 443), ("xhttp", 8443))
        ]
    return users


MTPROXY_USERS = {
    "alice": [
        {
            "label": "edge1-tg",
            "link": f"tg://proxy?server=edge1.example.net&port=443&secret={SECRET}",
        },
        {
            "label": "edge1-tme",
            "link": f"https://t.me/proxy?server=edge1.example.net&port=443&secret={SECRET}",
        },
    ]
}


def decode_qr(png):
    """The text of the one QR code in ``png``, read by zbarimg."""
    if ZBARIMG is None:
        pytest.fail(
            "zbarimg is missing: scripts/bootstrap.sh packages installs it (Debian zbar-tools)"
        )
    completed = subprocess.run(
        [ZBARIMG, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(png)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, f"{png}: zbarimg found no QR code: {completed.stderr}"
    assert completed.stdout.endswith("\n") and completed.stdout.count("\n") == 1, png
    return completed.stdout[:-1]


def decode_subscription(path):
    """The links of a subscription file, decoded as v2rayN does (standard base64)."""
    return base64.b64decode(Path(path).read_bytes(), validate=True).decode("ascii").split("\n")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def assert_user_files(stack_dir, users, subscription=True):
    """``stack_dir`` holds exactly ``users``' files, private, decoding back to the links."""
    assert mode(stack_dir) == 0o700
    assert sorted(os.listdir(stack_dir)) == sorted(users)
    for user, entries in users.items():
        directory = Path(stack_dir) / user
        links = [entry["link"] for entry in entries]
        expected = {"links.txt", *(f"{entry['label']}.png" for entry in entries)}
        if subscription:
            expected.add("subscription.txt")
        assert sorted(os.listdir(directory)) == sorted(expected)
        assert mode(directory) == 0o700
        for name in expected:
            assert mode(directory / name) == 0o600, name
        assert (directory / "links.txt").read_text().splitlines() == links
        for entry in entries:
            assert decode_qr(directory / f"{entry['label']}.png") == entry["link"]
        if subscription:
            assert decode_subscription(directory / "subscription.txt") == links


def tasks(stack="xray"):
    return [
        {
            "name": "user files",
            ACTION: {"path": "{{ files_dir }}", "stack": stack, "users": "{{ files_users }}"},
            "register": "user_files",
            "no_log": True,
        },
        {"name": "show the result", "ansible.builtin.debug": {"var": "user_files"}},
    ]


def snapshot(root):
    found = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            found[str(path.relative_to(root))] = (
                mode(path),
                None if path.is_dir() else path.read_bytes(),
            )
    return found


def assert_no_secret(output):
    for secret in SECRETS:
        assert secret not in output
    for scheme in ("vless://", "tg://", "t.me/proxy"):
        assert scheme not in output


def test_xray_files_decode_back_and_a_second_run_changes_nothing(run_playbook, tmp_path):
    root = tmp_path / "inventory" / ".edgerelay" / "users"
    users = xray_users()
    extra_vars = {"files_dir": str(root), "files_users": users}

    first = run_playbook(tasks(), extra_vars=extra_vars)
    assert first.rc == 0, first.output
    written, shown = first.results()
    assert written["changed"] is True and "censored" in written
    result = shown["user_files"]
    assert result["path"] == str(root / "xray")
    assert result["users"] == ["alice", "bob@example.org"]
    assert "xray/alice/ru1-xhttp-8443.png" in result["changed_files"]
    assert_no_secret(first.output)
    assert_user_files(root / "xray", users)
    assert mode(root) == 0o700 and mode(root.parent) == 0o700
    # The subscription is the links of every entry node, in order.
    assert [
        link.split("#")[1] for link in decode_subscription(root / "xray/alice/subscription.txt")
    ] == [
        "alice-ru1",
        "alice-ru1",
        "alice-de1",
        "alice-de1",
    ]

    before = snapshot(root)
    second = run_playbook(tasks(), extra_vars=extra_vars)
    assert second.rc == 0, second.output
    unchanged, shown = second.results()
    assert unchanged["changed"] is False
    assert shown["user_files"]["changed_files"] == [] == shown["user_files"]["removed"]
    assert snapshot(root) == before


def test_check_diff_verbose_shows_names_only_then_a_removed_user_goes(run_playbook, tmp_path):
    root = tmp_path / "users"
    users = xray_users()
    assert run_playbook(tasks(), extra_vars={"files_dir": str(root), "files_users": users}).rc == 0
    before = snapshot(root)

    # Bob is gone, alice lost a node: in check mode with diffs, at the highest verbosity.
    fewer = {"alice": users["alice"][:2]}
    extra_vars = {"files_dir": str(root), "files_users": fewer}
    checked = run_playbook(
        tasks(), extra_vars=extra_vars, callback="default", args=("--check", "--diff", "-vvvv")
    )
    assert checked.rc == 0, checked.output
    assert_no_secret(checked.output)
    assert "changed: [localhost]" in checked.output
    assert snapshot(root) == before
    # The registered result (printed by the second task) names the files, never a link.
    assert "xray/bob@example.org" in checked.output
    assert "xray/alice/de1-xhttp-8443.png" in checked.output

    removed = run_playbook(tasks(), extra_vars=extra_vars)
    assert removed.rc == 0, removed.output
    assert removed.results()[1]["user_files"]["removed"] == [
        "xray/alice/de1-tcp-vision-443.png",
        "xray/alice/de1-xhttp-8443.png",
        "xray/bob@example.org",
    ]
    assert_user_files(root / "xray", fewer)
    assert run_playbook(tasks(), extra_vars=extra_vars).results()[0]["changed"] is False


def test_mtproxy_files_have_no_subscription(run_playbook, tmp_path):
    root = tmp_path / "users"
    extra_vars = {"files_dir": str(root), "files_users": MTPROXY_USERS}
    run = run_playbook(tasks("mtproxy"), extra_vars=extra_vars, callback="default", args=("-v",))
    assert run.rc == 0, run.output
    assert_no_secret(run.output)
    assert_user_files(root / "mtproxy", MTPROXY_USERS, subscription=False)
    assert not (root / "xray").exists()


def test_a_bad_user_fails_before_any_change_without_quoting_a_link(run_playbook, tmp_path):
    root = tmp_path / "users"
    users = {**xray_users(), "../escape": xray_users()["alice"]}
    run = run_playbook(
        [
            {**tasks()[0], "ignore_errors": True},
            {"name": "show the message", "ansible.builtin.debug": {"var": "user_files.msg"}},
        ],
        extra_vars={"files_dir": str(root), "files_users": users},
    )
    assert run.rc == 0, run.output
    failed, shown = run.results()
    assert failed["failed"] is True
    assert "cannot name a directory" in shown["user_files.msg"]
    assert_no_secret(run.output)
    assert not root.exists()


def own_api_port(config):
    """Two nodes on one machine: each its own port for an API that listens on one."""
    api = config.get("api", {})
    if "listen" in api:
        api["listen"] = f"127.0.0.1:{free_port()}"
    return config


@needs_xray
def test_a_real_client_from_the_decoded_qr_codes_and_subscription_connects(
    run_playbook,
    tmp_path,
    assets,  # noqa: F811 - the fixture
    site,  # noqa: F811
    reality_target,  # noqa: F811
):
    """Real nodes (proxy and backend, the relay over tcp-vision), their links through the
    action, and a real Xray client built from what the QR codes and the subscription decode
    to: every link of both nodes reaches the site."""
    vless_client = load_module("molecule/shared/files/vless_client.py")
    address, port, listener = site
    free = _distinct_free_ports(5 + 8)
    ports = {
        "proxy": free[0:2],
        "backend": free[2:4],
        "relay": free[4],
        "api": {"proxy": free[5], "backend": free[6]},
    }
    keys = (generate_keypair(), generate_keypair())
    documents = {
        role: node(role, ports, "tcp-vision", reality_target, keys, address)
        for role in ("proxy", "backend")
    }
    users = {}
    for role in ("proxy", "backend"):
        for entry in xray_links(documents[role], "127.0.0.1"):
            users.setdefault(entry["user"], []).append(
                {"label": f"{role}-{entry['transport']}-{entry['port']}", "link": entry["link"]}
            )
    root = tmp_path / "users"
    written = run_playbook(tasks(), extra_vars={"files_dir": str(root), "files_users": users})
    assert written.rc == 0, written.output
    assert_user_files(root / "xray", users)

    decoded = []
    for user, entries in users.items():
        directory = root / "xray" / user
        from_qr = [decode_qr(directory / f"{entry['label']}.png") for entry in entries]
        from_subscription = decode_subscription(directory / "subscription.txt")
        # Half the client's outbounds from the QR codes, half from the subscription.
        decoded += [
            qr if index % 2 == 0 else sub
            for index, (qr, sub) in enumerate(zip(from_qr, from_subscription, strict=True))
        ]
    assert len(decoded) == 8  # 2 users x 2 inbounds x 2 nodes
    socks = free[5:]
    client = vless_client.client_config(list(zip(socks, decoded, strict=True)))
    proxy = own_api_port(on_loopback(xray_config(documents["proxy"])))
    backend = own_api_port(on_loopback(xray_config(documents["backend"])))
    with (
        xray(backend, tmp_path, "backend", [*ports["backend"], ports["relay"]]),
        xray(proxy, tmp_path, "proxy", ports["proxy"], assets),
        xray(client, tmp_path, "client", socks),
    ):
        reached = []
        for socks_port in socks:
            before = listener.hits
            reached.append((BODY in socks_get(socks_port, address, port), listener.hits - before))
    logs = {name: (tmp_path / f"{name}.out").read_text() for name in ("proxy", "backend")}
    assert reached == [(True, 1)] * 8, (reached, json.dumps(logs))
