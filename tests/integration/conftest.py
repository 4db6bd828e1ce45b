# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integration fixture: run a real ansible-playbook against localhost in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

COLLECTIONS_PATH = REPO_ROOT / ".collections"
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

LOCAL_INVENTORY = (
    f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
)


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self):
        return self.stdout + self.stderr

    def results(self):
        """Per-task results for the first host, from the ansible.builtin.json callback."""
        document = json.loads(self.stdout)
        return [
            next(iter(task["hosts"].values()))
            for play in document["plays"]
            for task in play["tasks"]
        ]


@pytest.fixture
def run_playbook(tmp_path):
    """Run ``tasks`` (a list of task dicts) in a one-play playbook on localhost.

    Variables are passed as an extra-vars file, as they would come from group_vars,
    so no value is written next to a task in the playbook source.
    """

    def run(
        tasks, extra_vars=None, callback="json", args=(), inventory=LOCAL_INVENTORY, vars_files=()
    ):
        playbook = tmp_path / "playbook.yml"
        play = {"hosts": "all", "gather_facts": False, "tasks": tasks}
        if vars_files:
            # Later files win, as in a play (e.g. role defaults, then a stack's vars file).
            play["vars_files"] = [str(path) for path in vars_files]
        # JSON is valid YAML; Jinja expressions in strings stay untouched.
        playbook.write_text(json.dumps([play], indent=2))
        inventory_file = tmp_path / "inventory.ini"
        inventory_file.write_text(inventory)
        command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory_file), str(playbook), *args]
        if extra_vars is not None:
            vars_file = tmp_path / "vars.json"
            vars_file.write_text(json.dumps(extra_vars))
            command += ["-e", f"@{vars_file}"]
        env = dict(os.environ)
        env.update(
            ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS_PATH),
            ANSIBLE_STDOUT_CALLBACK=f"ansible.builtin.{callback}",
            ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_RETRY_FILES_ENABLED="0",
        )
        completed = subprocess.run(
            command,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return PlaybookRun(completed.returncode, completed.stdout, completed.stderr)

    return run
