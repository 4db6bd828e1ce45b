# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's user files in real ansible-playbook runs laid out as the stack playbooks.

A first play (tagged always, like playbooks/plan.yml) hands every host its plan; then, as in
playbooks/xray.yml and playbooks/mtproxy.yml, the backends' play, the proxy nodes' play and
the MTProxy play run the role verify (tag verify) with --tags links: the files are written,
the links printed, nothing checked. A user's files hold the links of every host of the
stack (Xray: proxy nodes, then backends), whichever play writes them, so the second Xray
play changes nothing; a second run changes nothing; a --limit run leaves them; a removed
user's files go; --check --diff -vvvv prints no link, secret or user id.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.integration.conftest import ANSIBLE_PLAYBOOK, COLLECTIONS_PATH
from tests.integration.plugins.action.test_user_files import (
    assert_user_files,
    decode_subscription,
    snapshot,
)

PYTHON = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
INVENTORY = f"""\
[proxy_servers]
ru1 {PYTHON}
ru2 ansible_host=198.51.100.2 {PYTHON}
[vpn_servers]
de1 {PYTHON}
[mtproxy_servers]
edge1 ansible_host=203.0.113.1 {PYTHON}
edge2 ansible_host=203.0.113.2 {PYTHON}
"""
XRAY_HOSTS = ("ru1", "ru2", "de1")
MTPROXY_HOSTS = ("edge1", "edge2")
IDS = {
    "alice": "b831381d-6324-4d53-ad4f-8cda48b30811",
    "bob": "0f8e3a52-4c1b-4d2e-9a6f-7b1c2d3e4f50",
}
MT_SECRETS = {
    "alice": "ee0123456789abcdef0123456789abcdef7777772e6578616d706c652e636f6d",
    "bob": "ee89abcdef0123456789abcdef012345677777772e6578616d706c652e636f6d",
}
PBK = "SoBFFK4vWGSTTBXTl_WB1w5fu8X9_1PaIdHLJKEHixc"
SECRETS = (*IDS.values(), *MT_SECRETS.values(), PBK)

PLAYBOOK = """\
- name: Hand every host its plan (playbooks/plan.yml)
  hosts: all
  gather_facts: false
  tags: [always]
  tasks:
    - name: The plan
      ansible.builtin.set_fact:
        xray_plan: "{{ test_plans[inventory_hostname] if not mtproxy else omit }}"
        mtproxy_plan: "{{ test_plans[inventory_hostname] if mtproxy else omit }}"
      vars:
        mtproxy: "{{ inventory_hostname in groups.mtproxy_servers }}"
      no_log: true

- name: Xray backends (playbooks/xray.yml)
  hosts: vpn_servers
  gather_facts: false
  roles:
    - role: edgerelay.proxy.verify
      vars: {verify_monitoring: false}
      tags: [verify]

- name: Xray proxy nodes (playbooks/xray.yml)
  hosts: proxy_servers
  gather_facts: false
  roles:
    - role: edgerelay.proxy.verify
      vars: {verify_monitoring: false}
      tags: [verify]

- name: MTProxy (playbooks/mtproxy.yml)
  hosts: mtproxy_servers
  gather_facts: false
  roles:
    - role: edgerelay.proxy.verify
      vars: {verify_monitoring: false, haproxy_port: 443}
      tags: [verify]
"""


def vless(user, host, transport, port):
    extra = (
        "flow=xtls-rprx-vision&type=tcp" if transport == "tcp-vision" else "type=xhttp&path=%2Fx"
    )
    return (
        f"vless://{IDS[user]}@{host}.example.net:{port}?encryption=none&security=reality"
        f"&sni=www.example.com&fp=chrome&pbk={PBK}&sid=abcd&{extra}#{user}-{transport}-{port}"
    )


def plans(users=("alice", "bob")):
    result = {}
    for host in XRAY_HOSTS:
        inbounds = [("tcp-vision", 443)] + ([("xhttp", 8443)] if host != "de1" else [])
        result[host] = {
            "links": [
                {"user": user, "transport": t, "port": p, "link": vless(user, host, t, p)}
                for user in users
                for t, p in inbounds
            ]
        }
    for host in MTPROXY_HOSTS:
        result[host] = {
            "users": [{"name": user, "link_secret": MT_SECRETS[user]} for user in users]
        }
    return result


def expected_xray(users=("alice", "bob")):
    """user -> [{label, link}]: proxy nodes first, then backends, each host's in plan order.

    In a user's files a link's remark is its label (host, transport, port), so a client that
    imports the subscription tells the entry nodes apart; the rest of the link is the plan's.
    """
    out = {}
    for host in XRAY_HOSTS:
        for entry in plans(users)[host]["links"]:
            label = f"{host}-{entry['transport']}-{entry['port']}"
            link = entry["link"].rsplit("#", 1)[0] + "#" + label
            out.setdefault(entry["user"], []).append({"label": label, "link": link})
    return out


def expected_mtproxy(users=("alice", "bob")):
    out = {}
    for user in users:
        for host in MTPROXY_HOSTS:
            query = f"proxy?server=203.0.113.{host[-1]}&port=443&secret={MT_SECRETS[user]}"
            out.setdefault(user, []).extend(
                [
                    {"label": f"{host}-tg", "link": f"tg://{query}"},
                    {"label": f"{host}-tme", "link": f"https://t.me/{query}"},
                ]
            )
    return out


@pytest.fixture
def deploy(tmp_path):
    (tmp_path / "inventory.ini").write_text(INVENTORY)
    (tmp_path / "site.yml").write_text(PLAYBOOK)

    def run(*args, users=("alice", "bob")):
        (tmp_path / "vars.json").write_text(json.dumps({"test_plans": plans(users)}))
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
        )
        command = [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(tmp_path / "inventory.ini"),
            str(tmp_path / "site.yml"),
            "-e",
            f"@{tmp_path / 'vars.json'}",
            *args,
        ]
        completed = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, output
        return output

    return run


def recap(output):
    """{host: changed count} from the play recap."""
    return {
        host: int(changed)
        for host, changed in re.findall(r"^(\w+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)
    }


def test_links_tag_writes_every_users_files_from_every_host_once(deploy, tmp_path):
    output = deploy("--tags", "links")
    users_dir = tmp_path / ".edgerelay" / "users"
    assert_user_files(users_dir / "xray", expected_xray())
    assert_user_files(users_dir / "mtproxy", expected_mtproxy(), subscription=False)
    assert sorted(os.listdir(users_dir)) == ["mtproxy", "xray"]
    assert decode_subscription(users_dir / "xray/alice/subscription.txt") == [
        entry["link"] for entry in expected_xray()["alice"]
    ]
    # The per-host files are as before: one per host, with that host's links.
    links_dir = tmp_path / ".edgerelay" / "links"
    for host in XRAY_HOSTS:
        lines = (links_dir / f"{host}.txt").read_text().splitlines()
        assert lines == [entry["link"] for entry in plans()[host]["links"]]
    for host in MTPROXY_HOSTS:
        lines = (links_dir / f"{host}.txt").read_text().splitlines()
        mine = [entry["link"] for entry in expected_mtproxy()["alice"] if host in entry["label"]]
        assert lines[:3] == ["# user alice", *mine]
    # --tags links prints the links, and where the files are.
    assert IDS["alice"] in output and MT_SECRETS["bob"] in output
    assert f"client files of 2 xray user(s): {users_dir}/xray/<user>/" in output
    assert f"client files of 2 mtproxy user(s): {users_dir}/mtproxy/<user>/" in output
    # The user files (the last change counted) written by the backends' play (de1, with the
    # links directory and its own file) and by the MTProxy play (edge1); the proxy nodes'
    # play found nothing to change (ru1, ru2: their own files only).
    assert recap(output) == {"de1": 3, "ru1": 1, "ru2": 1, "edge1": 2, "edge2": 1}

    before = snapshot(tmp_path / ".edgerelay")
    again = deploy("--tags", "links")
    assert set(recap(again).values()) == {0}, again
    assert snapshot(tmp_path / ".edgerelay") == before


def test_a_limited_run_leaves_the_user_files(deploy, tmp_path):
    deploy("--tags", "links")
    before = snapshot(tmp_path / ".edgerelay" / "users")
    output = deploy("--tags", "links", "--limit", "ru1:edge1", users=("alice",))
    assert "user files of xray not updated: this run has no links of ru2, de1" in output
    assert "user files of mtproxy not updated: this run has no links of edge2" in output
    assert snapshot(tmp_path / ".edgerelay" / "users") == before


def test_check_diff_prints_no_secret_then_a_removed_users_files_go(deploy, tmp_path):
    deploy("--tags", "links")
    users_dir = tmp_path / ".edgerelay" / "users"
    before = snapshot(users_dir)
    # What a normal run does in links.yml: everything but the task tagged never.
    checked = deploy(
        "--tags", "links", "--skip-tags", "never", "--check", "--diff", "-vvvv", users=("alice",)
    )
    for secret in SECRETS:
        assert secret not in checked
    for scheme in ("vless://", "tg://", "t.me/proxy"):
        assert scheme not in checked
    # With --diff the message names what changes (the callback wraps long lines).
    words = " ".join(checked.split())
    assert "changed: none; removed: xray/bob'" in words
    assert "changed: none; removed: mtproxy/bob'" in words
    assert snapshot(users_dir) == before

    deploy("--tags", "links", users=("alice",))
    assert_user_files(users_dir / "xray", expected_xray(("alice",)))
    assert_user_files(users_dir / "mtproxy", expected_mtproxy(("alice",)), subscription=False)
    assert not Path(users_dir / "xray" / "bob").exists()
