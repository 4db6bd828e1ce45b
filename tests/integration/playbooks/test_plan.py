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
    inventory = tmp_path / "inventory.yml"
    host = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "edgerelay_secrets_dir": str(tmp_path / "secrets"),
        **host_vars,
    }
    inventory.write_text(json.dumps({"mtproxy_servers": {"hosts": {"edge": host}}}))
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
            str(inventory),
            str(REPO_ROOT / "playbooks" / "plan.yml"),
            "-e",
            "edgerelay_plan_hosts=mtproxy_servers",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def test_a_good_inventory_is_planned(tmp_path):
    rc, output = run_plan(tmp_path, {})
    assert rc == 0, output
    secret = tmp_path / "secrets" / "mtproxy-edge.json"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert json.loads(secret.read_text())["secret"] not in output


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
            {"mtproxy_secret": "0" * 32},
            "mtproxy_secret: is a well-known or guessable value",
        ),
    ],
)
def test_a_bad_input_stops_the_plan_naming_the_variable(tmp_path, host_vars, message):
    rc, output = run_plan(tmp_path, host_vars)
    assert rc != 0
    assert message in output, output[-3000:]
