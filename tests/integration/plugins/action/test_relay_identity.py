# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""edgerelay.proxy.relay_identity through a real ansible-playbook."""

from __future__ import annotations

import json
import sys
import uuid

from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    decode_key,
    generate_identity,
)

from tests.helpers.relay_identity import RFC7748_PUBLIC, assert_valid_identity, b64url, mode

ACTION = "edgerelay.proxy.relay_identity"


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
    """Every failure names the file and never shows a key; a loose file is one of them."""
    paths = {
        "reality": tmp_path / "reality.json",
        "corrupt": tmp_path / "corrupt.json",
        "relay": tmp_path / "relay.json",
    }
    paths["corrupt"].write_text('{"version": 1')
    paths["corrupt"].chmod(0o600)  # private: its content is what fails
    relay = generate_identity()
    paths["relay"].write_text(json.dumps(relay))
    paths["relay"].chmod(0o644)
    private_relay = tmp_path / "relay-private.json"
    private_relay.write_text(json.dumps(relay))
    private_relay.chmod(0o600)
    tampered_file = tmp_path / "tampered.json"
    tampered_file.write_text(json.dumps({**relay, "public_key": b64url(RFC7748_PUBLIC)}))
    tampered_file.chmod(0o600)

    def task(label, **args):
        return {"name": label, ACTION: args, "ignore_errors": True}

    tasks = [
        task("reality", path=str(paths["reality"]), kind="reality", name="reality@edge1"),
        task("loose mode", path=str(paths["relay"])),
        task("corrupt", path=str(paths["corrupt"])),
        task("other name", path=str(private_relay), name="other@cluster"),
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

    failures = {
        "loose mode": (
            loose,
            f"{paths['relay']}: has mode 0644, so group or others can read or change the private "
            f"key or secret it holds; fix it with `chmod 600 {paths['relay']}`",
        ),
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
    assert relay["private_key"] not in run.output
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


def test_a_directory_others_may_use_fails_and_nothing_is_written(run_playbook, tmp_path):
    """0755 (as `mkdir` makes it) fails for a new file and for an existing one; 0700 passes."""
    directory = tmp_path / "inventory" / ".edgerelay"
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    existing = directory / "relay-identity.json"
    relay = generate_identity()
    existing.write_text(json.dumps(relay))
    existing.chmod(0o600)
    new = directory / "reality-edge1.json"
    tasks = [
        {"name": "existing", ACTION: {"path": str(existing)}, "ignore_errors": True},
        {
            "name": "new",
            ACTION: {"path": str(new), "kind": "reality", "name": "reality@edge1"},
            "ignore_errors": True,
        },
    ]
    run = run_playbook(tasks)
    assert run.rc == 0, run.output
    for result in run.results():
        assert result["failed"] is True
        assert result["msg"] == (
            f"{directory}: has mode 0755, so group or others can list or change the private "
            f"keys and secrets it holds; fix it with `chmod 700 {directory}` (and keep the "
            "directory out of version control)"
        )
        assert "private_key" not in result
    assert not new.exists()
    assert relay["private_key"] not in run.output

    directory.chmod(0o700)
    fixed = run_playbook(tasks)
    assert fixed.rc == 0, fixed.output
    loaded, created = fixed.results()
    assert loaded["changed"] is False and not loaded.get("failed")
    assert created["changed"] is True and mode(new) == 0o600


def test_short_id_kind_is_created_once_and_stable(run_playbook, tmp_path):
    path = tmp_path / ".edgerelay" / "reality-short-id-edge1.json"
    tasks = identity_tasks(kind="short_id", name="reality@edge1")
    first = run_playbook(tasks, extra_vars={"identity_path": str(path)})
    assert first.rc == 0, first.output
    created, shown = first.results()
    assert created["changed"] is True
    stored = json.loads(path.read_text())
    assert set(stored) == {"version", "kind", "name", "short_id"}
    assert len(stored["short_id"]) == 8 and int(stored["short_id"], 16) >= 0
    assert shown["msg"]["short_id"] == stored["short_id"]
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    second = run_playbook(tasks, extra_vars={"identity_path": str(path)})
    assert second.rc == 0, second.output
    unchanged, shown_again = second.results()
    assert unchanged["changed"] is False
    assert shown_again["msg"]["short_id"] == stored["short_id"]
