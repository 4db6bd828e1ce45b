# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""roles/xray/tasks/geodata.yml in a real ansible-playbook run: the download path.

The shipped presets pin their geodata (a release URL and its sha256); a preset may instead
name published checksum files (sha256_url). Both are downloaded here from an HTTP server
on loopback (the Molecule lab copies local files instead, so it never takes this path): the
right digest installs the files and a second run changes nothing; a wrong one installs
nothing and fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import REPO_ROOT
from tests.integration.conftest import ANSIBLE_PLAYBOOK, COLLECTIONS_PATH, LOCAL_INVENTORY

GEODATA_TASKS = REPO_ROOT / "roles" / "xray" / "tasks" / "geodata.yml"
FILES = {"geosite": b"geosite fixture bytes\n", "geoip": b"geoip fixture bytes\n"}


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """The .dat files and their .sha256sum files (first field the digest, as published)."""
    root = tmp_path / "www"
    root.mkdir()
    for kind, content in FILES.items():
        (root / f"{kind}.dat").write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        (root / f"{kind}.dat.sha256sum").write_text(f"{digest}  ./publish/{kind}.dat\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_geodata(tmp_path, geodata):
    """The task file with the plan's geodata sources; the role's handler is a no-op here."""
    assets = tmp_path / "assets"
    assets.mkdir(exist_ok=True)
    play = {
        "hosts": "all",
        "gather_facts": False,
        "vars": {
            "xray_plan": {"geodata": geodata},
            "xray_geodata_local_dir": "",
            "xray_asset_dir": str(assets),
            "xray_user": "root",
        },
        "tasks": [{"ansible.builtin.include_tasks": str(GEODATA_TASKS)}],
        "handlers": [{"name": "Restart xray", "ansible.builtin.debug": {"msg": "restart"}}],
    }
    playbook = tmp_path / "geodata.yml"
    playbook.write_text(json.dumps([play]))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(LOCAL_INVENTORY)
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(COLLECTIONS_PATH),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "no_proxy": "127.0.0.1",
        "NO_PROXY": "127.0.0.1",
    }
    completed = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(inventory), str(playbook)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return completed, assets


def pinned(base, digests=None):
    digests = digests or {
        kind: hashlib.sha256(content).hexdigest() for kind, content in FILES.items()
    }
    return {kind: {"url": f"{base}/{kind}.dat", "sha256": digests[kind]} for kind in FILES}


def test_pinned_digests_install_the_files_once(tmp_path, served):
    run, assets = run_geodata(tmp_path, pinned(served))
    assert run.returncode == 0, run.stdout + run.stderr
    for kind, content in FILES.items():
        assert (assets / f"{kind}.dat").read_bytes() == content
    assert "Fetch the published sha256 sums" in run.stdout  # listed, nothing to fetch
    assert "RUNNING HANDLER [Restart xray]" in run.stdout
    again, _ = run_geodata(tmp_path, pinned(served))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "changed=0" in again.stdout
    assert "RUNNING HANDLER" not in again.stdout


def test_a_wrong_pinned_digest_installs_nothing(tmp_path, served):
    digests = {kind: hashlib.sha256(content).hexdigest() for kind, content in FILES.items()}
    digests["geoip"] = "0" * 64
    run, assets = run_geodata(tmp_path, pinned(served, digests))
    assert run.returncode != 0
    assert "did not match" in run.stdout + run.stderr, run.stdout
    assert not (assets / "geoip.dat").exists()


def test_published_checksum_files_still_work(tmp_path, served):
    geodata = {
        kind: {"url": f"{served}/{kind}.dat", "sha256_url": f"{served}/{kind}.dat.sha256sum"}
        for kind in FILES
    }
    run, assets = run_geodata(tmp_path, geodata)
    assert run.returncode == 0, run.stdout + run.stderr
    for kind, content in FILES.items():
        assert (assets / f"{kind}.dat").read_bytes() == content
