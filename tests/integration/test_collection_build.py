# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`ansible-galaxy collection build` ships the collection and nothing of the dev tree.

Two sources are built: the working tree itself, and a copy of it where every kind of
local clutter galaxy.yml's build_ignore must keep out is planted on purpose (caches,
bytecode, lab state, the .collections symlink back to the root), so the check does not
depend on what happens to exist in the working tree right now.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest
import yaml

from tests.conftest import REPO_ROOT

ANSIBLE_GALAXY = Path(sys.executable).with_name("ansible-galaxy")

# Top-level entries a Galaxy user gets. Anything else in the tarball is a leak.
ALLOWED_TOP_LEVEL = {
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "LICENSE",
    "CHANGELOG.md",
    "changelogs",
    "meta",
    "plugins",
    "roles",
    "playbooks",
    "docs",
}
# docs/ ships only when it holds user documentation.
REQUIRED_TOP_LEVEL = ALLOWED_TOP_LEVEL - {"docs"}
# Directories that ship whole (every file of the source, subdirectories included), except:
SHIPPED_DIRECTORIES = ("changelogs", "docs", "meta", "playbooks", "plugins", "roles")
NOT_SHIPPED = {"docs/benchmarks.md"}
# Paths that must never be in the tarball.
FORBIDDEN_PREFIXES = (
    "tests",
    "molecule",
    ".venv",
    ".cache",
    ".collections",
    "lab",
    "lab/.state",
    "Vagrantfile",
    "group_vars",
    "docs/benchmarks.md",
)
# Path components that must not appear anywhere in the tarball.
FORBIDDEN_COMPONENTS = {
    "__pycache__",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
    # Generated secrets (edgerelay_secrets_dir), wherever an inventory put them.
    ".edgerelay",
}
# Developer tooling listed in galaxy.yml build_ignore.
DEV_TOOLING = (
    ".git",
    ".ci",
    ".config",
    ".ansible",
    ".yamllint",
    ".ansible-lint",
    "Makefile",
    "ansible.cfg",
    "pyproject.toml",
    "requirements.txt",
    "scripts",
    "images",
)
REQUIRED = (
    "MANIFEST.json",
    "FILES.json",
    "meta/runtime.yml",
    "plugins/filter/mtproxy_replica_plan.py",
    "plugins/action/mtproxy_preflight.py",
    "plugins/modules/mtproxy_preflight.py",
    "plugins/modules/relay_identity.py",
    "plugins/module_utils/mtproxy_plan.py",
    "roles/haproxy/tasks/main.yml",
    "playbooks/deploy.yml",
)

# Not copied into the staged tree (heavy or irrelevant); clutter is planted instead.
_STAGE_SKIP_TOP = {
    ".git",
    ".venv",
    ".cache",
    ".collections",
    ".ansible",
    ".vagrant",
    ".hypothesis",
    ".pytest_cache",
    ".ruff_cache",
}
# Clutter planted in the staged tree: path -> file content.
_PLANTED_FILES = {
    ".venv/bin/python": "",
    ".cache/images/mtproxy-lab.tar": "not an image",
    ".cache/dist/edgerelay-proxy-0.0.1.tar.gz": "",
    ".ansible/tmp/x": "",
    ".hypothesis/examples/x": "",
    ".pytest_cache/v/cache/nodeids": "[]",
    ".ruff_cache/CACHEDIR.TAG": "",
    "lab/.state/mtproxy_secret": "0123456789abcdef0123456789abcdef",
    ".edgerelay/relay-identity.json": "{}",
    "playbooks/.edgerelay/mtproxy-edge1.json": "{}",
    "plugins/filter/__pycache__/mtproxy_replica_plan.cpython-311.pyc": "",
    "plugins/module_utils/__pycache__/mtproxy_plan.cpython-311.pyc": "",
    "plugins/action/stray.pyc": "",
    "roles/verify/__pycache__/x.pyc": "",
    "tests/unit/__pycache__/conftest.cpython-311-pytest.pyc": "",
}


def _stage_ignore(directory: str, names: list[str]) -> set[str]:
    rel = Path(directory).resolve().relative_to(REPO_ROOT)
    ignored = {name for name in names if name == "__pycache__" or name.endswith(".pyc")}
    if rel == Path():
        ignored |= _STAGE_SKIP_TOP & set(names)
        ignored |= {name for name in names if name.endswith(".tar.gz")}
    if rel == Path("lab"):
        ignored |= {".state"} & set(names)
    return ignored


def _staged_tree(root: Path) -> Path:
    stage = root / "edgerelay-proxy"
    shutil.copytree(REPO_ROOT, stage, symlinks=True, ignore=_stage_ignore)
    for rel, content in _PLANTED_FILES.items():
        path = stage / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    # What scripts/bootstrap.sh creates: the collection itself, linked back to the root.
    link = stage / ".collections" / "ansible_collections" / "edgerelay" / "proxy"
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("..") / ".." / "..")
    return stage


def _build(source: Path, output: Path) -> Path:
    output.mkdir()
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    completed = subprocess.run(
        [str(ANSIBLE_GALAXY), "collection", "build", "--output-path", str(output), str(source)],
        cwd=output,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    tarball = output / f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    assert tarball.is_file(), f"no {tarball.name} in {sorted(p.name for p in output.iterdir())}"
    return tarball


@pytest.fixture(scope="module", params=["working-tree", "staged-with-clutter"])
def built(request, tmp_path_factory):
    """(tarball path, normalised member names, source tree) for each build source."""
    tmp = tmp_path_factory.mktemp(request.param)
    source = REPO_ROOT if request.param == "working-tree" else _staged_tree(tmp)
    tarball = _build(source, tmp / "dist")
    with tarfile.open(tarball, "r:gz") as archive:
        names = [str(PurePosixPath(member.name)) for member in archive.getmembers()]
    return tarball, names, source


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "/")


def test_tarball_exists(built):
    tarball, names, _ = built
    assert tarball.stat().st_size > 0
    assert names


def test_only_allowed_top_level_entries(built):
    _, names, _ = built
    top_level = {PurePosixPath(name).parts[0] for name in names}
    assert top_level <= ALLOWED_TOP_LEVEL, f"not for Galaxy users: {top_level - ALLOWED_TOP_LEVEL}"
    assert top_level >= REQUIRED_TOP_LEVEL, f"missing: {REQUIRED_TOP_LEVEL - top_level}"


@pytest.mark.parametrize("directory", SHIPPED_DIRECTORIES)
def test_shipped_directories_are_complete(built, directory):
    _, names, source = built
    expected = {
        path.relative_to(source).as_posix()
        for path in (source / directory).rglob("*")
        if path.is_file()
        and path.suffix != ".pyc"
        and not FORBIDDEN_COMPONENTS & set(path.relative_to(source).parts)
    } - NOT_SHIPPED
    missing = sorted(expected - set(names))
    assert not missing, f"{directory}/ is incomplete in the tarball: {missing[:10]}"


@pytest.mark.parametrize("prefix", FORBIDDEN_PREFIXES + DEV_TOOLING)
def test_nothing_of_the_dev_tree(built, prefix):
    _, names, _ = built
    leaked = [name for name in names if _under(name, prefix)]
    assert not leaked, f"{prefix} is in the tarball: {leaked[:10]}"


def test_no_bytecode_or_caches(built):
    _, names, _ = built
    leaked = [
        name
        for name in names
        if name.endswith((".pyc", ".pyo")) or FORBIDDEN_COMPONENTS & set(PurePosixPath(name).parts)
    ]
    assert not leaked, f"bytecode or caches in the tarball: {leaked[:10]}"


def test_symlink_back_to_the_root_is_not_followed(built):
    _, names, _ = built
    # Following .collections/ansible_collections/edgerelay/proxy would nest the tree.
    nested = [name for name in names if "ansible_collections" in PurePosixPath(name).parts]
    assert not nested, nested[:10]
    assert len(names) == len(set(names)), "duplicate members"


@pytest.mark.parametrize("required", REQUIRED)
def test_required_content(built, required):
    _, names, _ = built
    assert required in names


def test_manifest_and_files_json(built):
    tarball, names, _ = built
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    with tarfile.open(tarball, "r:gz") as archive:
        manifest = json.load(archive.extractfile("MANIFEST.json"))
        files = json.load(archive.extractfile("FILES.json"))
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == (
        galaxy["namespace"],
        galaxy["name"],
        galaxy["version"],
    )
    listed = {entry["name"] for entry in files["files"]} - {"."}
    # FILES.json lists exactly the members besides the two metadata files.
    assert listed == set(names) - {"MANIFEST.json", "FILES.json"}
