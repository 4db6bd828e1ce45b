# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/modules/xray_users_live.py against a fake ``xray api`` that prints what Xray
26.3.27 prints (inbounduser's JSON; adu and rmu count what they did and exit 0 even when a
user could not be added or removed). A real Xray: tests/integration/roles/
test_xray_live_users.py."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.edgerelay.proxy.plugins.modules import xray_users_live as module
from ansible_collections.edgerelay.proxy.plugins.modules.xray_users_live import (
    ARGUMENT_SPEC,
    LiveUsersError,
    XrayApi,
    loopback_server,
    scrub,
    synchronise,
)

ALICE = {"id": "b831381d-6324-4d53-ad4f-8cda48b30811", "email": "alice", "flow": "xtls-rprx-vision"}
BOB = {"id": "0F8E3A52-4C1B-4D2E-9A6F-7B1C2D3E4F50", "email": "bob", "flow": "xtls-rprx-vision"}
CAROL = {"id": "3d4e5f60-7a8b-4c9d-8e0f-1a2b3c4d5e6f", "email": "carol", "flow": "xtls-rprx-vision"}
RELAY = {"id": "6f1c2b1e-6c1f-4a55-9f0e-5a7d0f3c2b11", "email": "proxy-service@cluster"}
IDS = [ALICE["id"], BOB["id"], CAROL["id"], RELAY["id"]]
SERVER = "127.0.0.1:10085"


def config(users, xhttp_users=None, relay=True):
    inbounds = [
        {
            "tag": "client-443",
            "port": 443,
            "protocol": "vless",
            "settings": {"clients": users, "decryption": "none"},
            "streamSettings": {"realitySettings": {"privateKey": "secret-key"}},
        }
    ]
    if xhttp_users is not None:
        inbounds.append(
            {
                "tag": "client-8444",
                "port": 8444,
                "protocol": "vless",
                "settings": {"clients": xhttp_users, "decryption": "none"},
            }
        )
    if relay:
        inbounds.append(
            {
                "tag": "relay",
                "port": 8443,
                "protocol": "vless",
                "settings": {"clients": [RELAY], "decryption": "none"},
            }
        )
    return {"api": {"tag": "api", "listen": SERVER}, "inbounds": inbounds}


class FakeXray:
    """The running Xray's users per inbound, behind the ``xray api`` command lines."""

    def __init__(self, users, fail=(), drop=()):
        self.users = {tag: {c["email"].lower(): dict(c) for c in cs} for tag, cs in users.items()}
        self.calls = []
        self.files = []
        self.fail = set(fail)  # names Xray refuses to add or remove
        self.drop = set(drop)  # names that vanish after an add (a broken Xray)

    def __call__(self, argv):
        binary, api, command, server, timeout, *args = argv
        assert (binary, api, server, timeout) == (
            "/x/xray",
            "api",
            f"--server={SERVER}",
            "-timeout=5",
        )
        self.calls.append((command, *args))
        return getattr(self, command)(*args)

    def inbounduser(self, tag_flag):
        tag = tag_flag.removeprefix("-tag=")
        if tag not in self.users:
            return 1, "", f"failed to get inbound user: handler not found: {tag}\n"
        users = [
            {
                "account": {
                    "_TypedMessage_": "xray.proxy.vless.Account",
                    **({"flow": u["flow"]} if u.get("flow") else {}),
                    "id": u["id"],
                },
                "email": u["email"],
            }
            for u in self.users[tag].values()
        ]
        return 0, json.dumps({"users": users} if users else {}, indent=4) + "\n", ""

    def rmu(self, tag_flag, *emails):
        tag = tag_flag.removeprefix("-tag=")
        out, done = [], 0
        for email in emails:
            out.append(f"remove user: {email}")
            if email in self.fail or email.lower() not in self.users[tag]:
                out.append(f"rpc error: code = Unknown desc = proxy/vless: User {email} not found.")
                continue
            del self.users[tag][email.lower()]
            done += 1
        out.append(f"Removed {done} user(s) in total.")
        return 0, "\n".join(out) + "\n", ""

    def adu(self, path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        self.files.append((path, mode, document))
        out, done = [], 0
        for inbound in document["inbounds"]:
            out.append(f"processing inbound: {inbound['tag']}")
            assert inbound["port"] and inbound["settings"]["decryption"] == "none"
            for client in inbound["settings"]["clients"]:
                out.append(f"add user: {client['email']}")
                if (
                    client["email"] in self.fail
                    or client["email"].lower() in self.users[inbound["tag"]]
                ):
                    out.append(f"rpc error: code = Unknown desc = User {client['email']} exists.")
                    continue
                if client["email"] not in self.drop:
                    self.users[inbound["tag"]][client["email"].lower()] = dict(client)
                out.append("result: ok")
                done += 1
        out.append(f"Added {done} user(s) in total.")
        return 0, "\n".join(out) + "\n", ""


def sync(fake, document, tmp_path, check_mode=False):
    api = XrayApi(fake, "/x/xray", SERVER, 5)
    return synchronise(api, document, "/etc/xray/config.json", check_mode, str(tmp_path))


def emails(fake, tag):
    return sorted(fake.users[tag])


# --------------------------------------------------------------------------- synchronise


def test_adds_and_removes_on_every_user_inbound_never_relay(tmp_path):
    fake = FakeXray({"client-443": [ALICE, CAROL], "client-8444": [ALICE, CAROL], "relay": [RELAY]})
    xhttp = [{k: v for k, v in u.items() if k != "flow"} for u in (ALICE, BOB)]
    result = sync(fake, config([ALICE, BOB], xhttp), tmp_path)
    assert result == {
        "changed": True,
        "server": SERVER,
        # On the xhttp inbound, alice is live with Vision's flow, the file has none.
        "added": {"client-443": ["bob"], "client-8444": ["alice", "bob"]},
        "removed": {"client-443": ["carol"], "client-8444": ["alice", "carol"]},
        "users": {"client-443": 2, "client-8444": 2},
    }
    assert emails(fake, "client-443") == emails(fake, "client-8444") == ["alice", "bob"]
    assert fake.users["client-8444"]["alice"].get("flow") is None  # alice re-added, no flow
    assert fake.users["relay"] == {"proxy-service@cluster": RELAY}
    assert not any("-tag=relay" in call for call in fake.calls)
    commands = [call[0] for call in fake.calls]
    # Read, remove, then one add for every inbound, then read again.
    assert commands == ["inbounduser"] * 2 + ["rmu"] * 2 + ["adu"] + ["inbounduser"] * 2
    ((path, mode, document),) = fake.files
    assert mode == 0o600 and not os.path.exists(path)
    assert os.listdir(tmp_path) == []
    assert document == {
        "inbounds": [
            {
                "tag": "client-443",
                "port": 443,
                "protocol": "vless",
                "settings": {"clients": [BOB], "decryption": "none"},
            },
            {
                "tag": "client-8444",
                "port": 8444,
                "protocol": "vless",
                "settings": {"clients": xhttp, "decryption": "none"},
            },
        ]
    }
    assert not [i for i in IDS if i.lower() in json.dumps(result).lower()]


def test_nothing_to_do(tmp_path):
    fake = FakeXray({"client-443": [ALICE, {**BOB, "id": BOB["id"].lower()}], "relay": [RELAY]})
    result = sync(fake, config([ALICE, BOB]), tmp_path)
    assert (result["changed"], result["added"], result["removed"]) == (False, {}, {})
    assert [call[0] for call in fake.calls] == ["inbounduser"]


def test_check_mode_reads_only(tmp_path):
    fake = FakeXray({"client-443": [ALICE], "relay": [RELAY]})
    result = sync(fake, config([BOB]), tmp_path, check_mode=True)
    assert (result["changed"], result["added"], result["removed"]) == (
        True,
        {"client-443": ["bob"]},
        {"client-443": ["alice"]},
    )
    assert [call[0] for call in fake.calls] == ["inbounduser"]
    assert emails(fake, "client-443") == ["alice"]


def test_a_changed_id_or_flow_is_removed_and_added(tmp_path):
    fake = FakeXray({"client-443": [ALICE, BOB], "relay": [RELAY]})
    new_alice = {**ALICE, "id": CAROL["id"]}
    new_bob = {**BOB, "flow": ""}
    result = sync(fake, config([new_alice, new_bob]), tmp_path)
    assert result["removed"] == {"client-443": ["alice", "bob"]}
    assert result["added"] == {"client-443": ["alice", "bob"]}
    assert fake.users["client-443"]["alice"]["id"] == CAROL["id"]


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (
            FakeXray({"client-443": [ALICE, CAROL], "relay": [RELAY]}, fail={"carol"}),
            "xray api rmu removed 0 of the 1 user(s) carol from inbound client-443: remove user: "
            "carol / rpc error: code = Unknown desc = proxy/vless: User carol not found. / "
            "Removed 0 user(s) in total.",
        ),
        (
            FakeXray({"client-443": [ALICE], "relay": [RELAY]}, fail={"bob"}),
            "xray api adu added 0 of the 1 user(s) bob: processing inbound: client-443 / add user: "
            "bob / rpc error: code = Unknown desc = User bob exists. / Added 0 user(s) in total.",
        ),
        (
            FakeXray({"client-443": [ALICE], "relay": [RELAY]}, drop={"bob"}),
            "after the change, the users of inbound client-443 in the running Xray are not those "
            "of /etc/xray/config.json (missing: bob); restart xray to load the file",
        ),
        (
            FakeXray({"relay": [RELAY]}),
            "cannot read the users of inbound client-443 from Xray's API at 127.0.0.1:10085: "
            "failed to get inbound user: handler not found: client-443",
        ),
        (
            FakeXray({"client-443": [ALICE, {"id": CAROL["id"], "email": ""}], "relay": [RELAY]}),
            "the running Xray has a user without a name on inbound client-443, which its API "
            "cannot remove: restart xray to load the file",
        ),
    ],
)
def test_failures_name_users_never_ids(fake, message, tmp_path):
    with pytest.raises(LiveUsersError) as excinfo:
        sync(fake, config([ALICE, BOB]), tmp_path)
    assert str(excinfo.value) == message
    assert not [i for i in IDS if i.lower() in str(excinfo.value).lower()]
    assert os.listdir(tmp_path) == []


def test_a_config_with_a_nameless_or_repeated_user_is_refused(tmp_path):
    fake = FakeXray({"client-443": [], "relay": [RELAY]})
    for users in ([{"id": ALICE["id"]}], [ALICE, {**BOB, "email": "ALICE"}]):
        with pytest.raises(LiveUsersError) as excinfo:
            sync(fake, config(users), tmp_path)
        assert str(excinfo.value) == (
            "inbound client-443 of /etc/xray/config.json: a user without a name, or two with "
            "the same name"
        )


@pytest.mark.parametrize(
    "server", ["127.0.0.1:10085", "127.3.4.5:1", "[::1]:10085", "localhost:10085"]
)
def test_loopback_servers(server):
    assert loopback_server(server) == server


@pytest.mark.parametrize(
    "server",
    [
        "0.0.0.0:10085",
        "192.0.2.1:10085",
        "10085",
        "127.0.0.1",
        "127.0.0.1:x",
        "[::]:1",
        "example.org:10085",
        "127.0.0.1:0",
        "127.0.0.1:70000",
    ],
)
def test_other_servers_are_refused(server):
    with pytest.raises(LiveUsersError, match="is not address:port on loopback"):
        loopback_server(server)


def test_scrub():
    text = f"rpc error: {ALICE['id']}\n\n  user {BOB['id']} x\n"
    assert scrub(text) == "rpc error: <id> / user <id> x"
    assert len(scrub("x" * 5000)) == 600


# --------------------------------------------------------------------------- main


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit) as excinfo:
        module.main()
    return excinfo.value.code, json.loads(capsys.readouterr().out)


def test_main(capsys, monkeypatch, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config([ALICE, BOB])))
    fake = FakeXray({"client-443": [ALICE], "relay": [RELAY]})
    monkeypatch.setattr(
        module.AnsibleModule, "run_command", lambda _self, argv, check_rc=False: fake(argv)
    )
    code, result = run_main(capsys, {"config": str(path), "binary": "/x/xray"})
    assert code == 0
    assert (result["changed"], result["added"], result["removed"]) == (
        True,
        {"client-443": ["bob"]},
        {},
    )
    assert not [i for i in IDS if i.lower() in json.dumps(result).lower()]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, {}, "cannot read the Xray config {path}: No such file or directory"),
        ("{", {}, "the Xray config {path} is not valid JSON"),
        ("[]", {}, "the Xray config {path} is not a JSON object"),
        (
            json.dumps({"inbounds": []}),
            {},
            "the Xray config {path} has no api.listen: the running Xray has no API to change "
            "users through (restart it with a config that has)",
        ),
        (
            json.dumps({"api": {"listen": "0.0.0.0:10085"}}),
            {},
            "the API address '0.0.0.0:10085' is not address:port on loopback (127.0.0.1, ::1): "
            "Xray's API must never be reachable from elsewhere",
        ),
        (json.dumps(config([])), {"timeout": 0}, "timeout must be at least 1 second, got 0"),
    ],
)
def test_main_failures(content, args, message, capsys, tmp_path):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    code, result = run_main(capsys, {"config": str(path), "binary": "/x/xray", **args})
    assert code == 1
    assert result["msg"] == message.format(path=path)


# --------------------------------------------------------------------------- documentation


def test_documentation_matches_the_argument_spec():
    documentation = yaml.safe_load(module.DOCUMENTATION)
    assert documentation["module"] == "xray_users_live"
    assert documentation["version_added"] == "0.1.0"
    assert set(documentation["options"]) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        option = documentation["options"][name]
        assert option["type"] == spec["type"], name
        assert option.get("default") == spec.get("default"), name
        assert option.get("required", False) == spec.get("required", False), name
    returned = yaml.safe_load(module.RETURN)
    assert set(returned) == {"server", "added", "removed", "users"}
    yaml.safe_load(module.EXAMPLES)
    # The measured behaviour for a removed user's open connections is documented.
    assert "keep passing data until they close" in " ".join(documentation["notes"])
