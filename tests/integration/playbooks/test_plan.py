# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/plan.yml, the first play of every deployment, on this machine as an MTProxy host.

It must stop a bad input before any change and name the variable: the injections measured
against a lab deployment (a newline in a name added a public listener; a newline in the stats
refresh put admin actions on the stats page), a string that is not what it claims to be, and a
well-known secret. A good inventory passes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the pre-flights read the host as root")


def run_plan(tmp_path, host_vars):
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "edgerelay_secrets_dir": str(tmp_path / "secrets"),
        # FakeTLS is on unless a case turns it off.
        "mtproxy_tls_domain": "www.example.org",
        **host_vars,
    }
    inventory = {"mtproxy_servers": {"hosts": {"edge": host}}}
    return run_plan_playbook(tmp_path, inventory, "-e", "edgerelay_plan_hosts=mtproxy_servers")


def run_plan_playbook(tmp_path, inventory, *args):
    """playbooks/plan.yml on ``inventory`` (a YAML inventory as a dict): (rc, output)."""
    inventory_file = tmp_path / "inventory.yml"
    inventory_file.write_text(json.dumps(inventory))
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".collections"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
    )
    completed = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(inventory_file),
            str(REPO_ROOT / "playbooks" / "plan.yml"),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


FAKETLS = {"mtproxy_tls_domain": "www.example.org"}
SECRET = "5f0e2d1c4b3a69788796a5b4c3d2e1f0"


def test_a_good_inventory_is_planned(tmp_path):
    rc, output = run_plan(tmp_path, FAKETLS)
    assert rc == 0, output
    secret = tmp_path / "secrets" / "mtproxy-edge.json"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert json.loads(secret.read_text())["secret"] not in output


def test_users_without_a_secret_get_one_each_kept_on_the_controller(tmp_path):
    users = [{"name": "alice", "secret": SECRET}, {"name": "bob"}, {"name": "carol", "secret": ""}]
    rc, output = run_plan(tmp_path, {**FAKETLS, "mtproxy_users": users})
    assert rc == 0, output
    generated = sorted(path.name for path in (tmp_path / "secrets").iterdir())
    assert generated == ["mtproxy-edge-bob.json", "mtproxy-edge-carol.json"]
    for name in generated:
        path = tmp_path / "secrets" / name
        assert path.stat().st_mode & 0o777 == 0o600
        assert json.loads(path.read_text())["secret"] not in output
    assert SECRET not in output


@pytest.mark.parametrize(
    ("host_vars", "message"),
    [
        (
            {"haproxy_frontend_name": "mtproxy\n    bind *:4444"},
            "haproxy_frontend_name: contains a line break or control character",
        ),
        (
            {"haproxy_stats_refresh": "10s\n    stats admin if TRUE"},
            "haproxy_stats_refresh: contains a line break or control character",
        ),
        (
            {"haproxy_stats_refresh": "10s stats admin if TRUE"},
            "haproxy_stats_refresh: must be a duration",
        ),
        (
            {"haproxy_stats_auth_user": "ops admin", "haproxy_stats_auth_password": "x"},
            "haproxy_stats_auth_user: must be a name",
        ),
        (
            {**FAKETLS, "mtproxy_secret": "0" * 32},
            "mtproxy_secret: is a well-known or guessable value",
        ),
        (
            {**FAKETLS, "mtproxy_users": [{"name": "a", "secret": "0" * 32}]},
            "mtproxy_users[0].secret: is a well-known or guessable value",
        ),
        # FakeTLS on the official image, and the settings it cannot do.
        (
            {**FAKETLS, "mtproxy_implementation": "official"},
            "mtproxy_tls_domain: asks for FakeTLS, which official cannot do",
        ),
        (
            {
                "mtproxy_implementation": "official",
                "mtproxy_tls_domain": "",
                "mtproxy_client_ip_mode": "proxy_protocol",
            },
            "mtproxy_client_ip_mode: proxy_protocol needs an implementation that reads",
        ),
        (
            {
                "mtproxy_implementation": "official",
                "mtproxy_tls_domain": "",
                "mtproxy_mask_host": "www.example.org",
            },
            "mtproxy_mask_host: masking is not something official can do",
        ),
        ({"mtproxy_tls_domain": ""}, "mtproxy_tls_domain: is required with mtprotoproxy"),
        # ee secrets: malformed, or for another domain than mtproxy_tls_domain.
        (
            {**FAKETLS, "mtproxy_secret": "ee" + SECRET + "zz"},
            "mtproxy_secret: starts with 'ee' but is not",
        ),
        (
            {**FAKETLS, "mtproxy_secret": "ee" + SECRET + b"www.example.com".hex()},
            "but mtproxy_tls_domain is www.example.org",
        ),
        (
            {**FAKETLS, "mtproxy_users": [{"name": "a"}, {"name": "a"}]},
            "mtproxy_users: names the user 'a' twice",
        ),
        (
            {"mtproxy_implementation": "nosuch"},
            "mtproxy_implementation: must name a shipped profile",
        ),
    ],
)
def test_a_bad_input_stops_the_plan_naming_the_variable(tmp_path, host_vars, message):
    rc, output = run_plan(tmp_path, host_vars)
    assert rc != 0
    assert message in output, output[-3000:]
    assert SECRET not in output


def test_both_stacks_in_one_inventory_are_planned(tmp_path):
    """An inventory with an MTProxy host and an Xray proxy with its backend: every host's
    pre-flights run in its stack's order (the xray plan before verify checks it), whichever
    host comes first."""
    local = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "edgerelay_secrets_dir": str(tmp_path / "secrets"),
    }
    xray = {
        **local,
        "xray_reality_target": "reality.lab.example:443",
        "xray_reality_server_names": ["reality.lab.example"],
        "xray_reality_target_check": False,
    }
    rc, output = run_plan_playbook(
        tmp_path,
        {
            "mtproxy_servers": {"hosts": {"edge": {**local, **FAKETLS}}},
            "proxy_servers": {"hosts": {"edge1": {**xray, "proxy_backends": ["vpn1"]}}},
            "vpn_servers": {"hosts": {"vpn1": xray}},
        },
    )
    assert rc == 0, output
    assert "ok=0" not in output


@pytest.mark.parametrize("name", ["mtproxy@edge", "default@edge"])
def test_the_secret_file_of_an_earlier_version_is_kept(tmp_path, name):
    """mtproxy-<host>.json as earlier versions wrote it (identity mtproxy@<host> before users,
    default@<host> with them): the one-user shorthand reads it and keeps its secret, so
    upgrading changes no link."""
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    stored = secrets / "mtproxy-edge.json"
    identity = {"version": 1, "kind": "mtproxy", "name": name, "secret": SECRET}
    stored.write_text(json.dumps(identity))
    stored.chmod(0o600)
    rc, output = run_plan(tmp_path, {**FAKETLS, "mtproxy_secret": ""})
    assert rc == 0, output
    assert json.loads(stored.read_text()) == identity
    assert SECRET not in output
