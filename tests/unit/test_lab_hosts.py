# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd test hosts get one capability list, wherever they are defined.

`privileged: true` needs CAP_SYS_RESOURCE, which sandboxed CI runners lack, so the lab,
Molecule and the Vagrant docker provider give their hosts an explicit list instead. The lab's
(lab/lab-host.yml, which the Vagrantfile and lab/up.yml read) is the reference; Molecule's
YAML cannot read it, so its copies are checked here.
"""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT


def _load(relative):
    return yaml.safe_load((REPO_ROOT / relative).read_text(encoding="utf-8"))


LAB_CAPABILITIES = _load("lab/lab-host.yml")["lab_host_capabilities"]


def _systemd_hosts(relative):
    return [
        platform
        for platform in _load(relative)["platforms"]
        if platform.get("override_command") is False
    ]


def test_the_reference_list_leaves_out_sys_resource():
    assert "SYS_RESOURCE" not in LAB_CAPABILITIES
    assert len(LAB_CAPABILITIES) == len(set(LAB_CAPABILITIES)) > 30


def test_molecule_hosts_use_the_lab_list():
    hosts = _systemd_hosts(".config/molecule/config.yml") + _systemd_hosts(
        "molecule/xray/molecule.yml"
    )
    assert [host["name"] for host in hosts] == [
        "edge-${MOLECULE_SCENARIO_NAME}",
        "proxy-xray",
        "vpn1-xray",
        "vpn2-xray",
    ]
    for host in hosts:
        assert host["capabilities"] == LAB_CAPABILITIES, host["name"]


def test_the_vagrantfile_reads_the_lab_list():
    vagrantfile = (REPO_ROOT / "Vagrantfile").read_text(encoding="utf-8")
    assert '"lab_host_capabilities"' in vagrantfile
