# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The haproxy role's config rendered by Ansible for a real HAProxy on loopback, and the
mark for tests that run one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

needs_haproxy = pytest.mark.skipif(
    not shutil.which("haproxy") or os.geteuid() != 0,
    reason="needs Debian's haproxy package (scripts/bootstrap.sh installs it) and root",
)


def render_haproxy(directory: Path, extra: dict) -> Path:
    """haproxy.cfg from the haproxy role's template and defaults, rendered by Ansible."""
    config = directory / "haproxy.cfg"
    extra = {
        "haproxy_bind_address": "127.0.0.1",
        "haproxy_admin_socket": str(directory / "admin.sock"),
        "haproxy_splice": False,
        "ansible_python_interpreter": sys.executable,
        **extra,
    }
    render = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible")),
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "ansible.builtin.template",
            "-a",
            f"src={REPO_ROOT}/roles/haproxy/templates/haproxy.cfg.j2 dest={config} mode=0644",
            "-e",
            f"@{REPO_ROOT}/roles/shared/defaults/main.yml",
            "-e",
            f"@{REPO_ROOT}/roles/haproxy/defaults/main.yml",
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        text=True,
        env=dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
            ANSIBLE_COLLECTIONS_PATH=str(REPO_ROOT / ".collections"),
        ),
        check=False,
    )
    assert render.returncode == 0, render.stdout + render.stderr
    return config
