# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mtproxy role's image reference and per-image confinement defaults, rendered by Ansible.

roles/mtproxy/vars/main.yml turns mtproxy_image into what tasks/install.yml filters the host's
image list by and what tasks/run.yml runs; the defaults of mtproxy_capabilities and
mtproxy_read_only follow what the official image needs. Rendered here with Ansible's own
Templar from the role's files, as the role renders them.
"""

from __future__ import annotations

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_profile import (
    validate_profile,
)

from tests.conftest import REPO_ROOT

ROLE = REPO_ROOT / "roles" / "mtproxy"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def _trusted(values: dict) -> dict:
    return {k: trust_as_template(v) if isinstance(v, str) else v for k, v in values.items()}


def render(name: str, **overrides):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8"))
    variables = {**_trusted(defaults), **_trusted(role_vars), **overrides}
    return Templar(loader=DataLoader(), variables=variables).template(
        trust_as_template("{{ " + name + " }}")
    )


@pytest.mark.parametrize(
    ("image", "archive", "reference", "run"),
    [
        # An untagged name means :latest; the filter alone would match every tag.
        ("telegrammessenger/proxy", "", "telegrammessenger/proxy:latest", None),
        ("registry.example:5000/mtproxy:1.4", "", "registry.example:5000/mtproxy:1.4", None),
        ("registry.example:5000/mtproxy", "", "registry.example:5000/mtproxy:latest", None),
        # Pinned: Docker's reference filter matches name@digest only (not name:tag@digest).
        (f"mtproxy@{DIGEST}", "", f"mtproxy@{DIGEST}", None),
        (
            f"registry.example:5000/mtproxy:1.4@{DIGEST}",
            "",
            f"registry.example:5000/mtproxy@{DIGEST}",
            None,
        ),
        # From an archive the digest is the image ID: every tag of the repository is listed and
        # the image is picked by its ID, and run by it (docker load drops registry digests).
        (f"lab/mtproxy:1@{DIGEST}", "/srv/mtproxy.tar", "lab/mtproxy", DIGEST),
        ("lab/mtproxy:1", "/srv/mtproxy.tar", "lab/mtproxy:1", None),
    ],
)
def test_image_reference_and_what_runs(image, archive, reference, run):
    values = {"mtproxy_image": image, "mtproxy_image_archive": archive}
    assert render("_mtproxy_image_reference", **values) == reference
    assert render("_mtproxy_run_image", **values) == (run or image)
    assert render("_mtproxy_image_by_id", **values) is (run is not None)


PROFILES = REPO_ROOT / "roles" / "mtproxy" / "files" / "profiles"


@pytest.mark.parametrize("profile", ["official", "mtprotoproxy"])
def test_image_and_confinement_defaults_follow_the_profile(profile):
    # The official image clears its supplementary groups at start (CAP_SETGID) and writes
    # its downloaded config into its root filesystem; mtprotoproxy's image needs neither.
    data = validate_profile(
        yaml.safe_load((PROFILES / f"{profile}.yml").read_text(encoding="utf-8")), profile
    )
    plan = {"profile": data}
    assert render("mtproxy_capabilities", mtproxy_plan=plan) == data["capabilities"]
    assert render("mtproxy_read_only", mtproxy_plan=plan) is data["read_only"]
    assert render("_mtproxy_image", mtproxy_plan=plan) == data["image"]
    assert render("_mtproxy_build", mtproxy_plan=plan) == data["build"]
    # An image of the operator's replaces the profile's, and is pulled, never built.
    values = {"mtproxy_plan": plan, "mtproxy_image": "registry.example/mtproxy:2"}
    assert render("_mtproxy_image", **values) == "registry.example/mtproxy:2"
    assert render("_mtproxy_build", **values) == ""


def test_the_users_file_is_readable_by_the_replicas_group():
    plan = {
        "profile": {"user": "65534:65534"},
        "container": {"files": [{"path": "/etc/mtproxy/users"}]},
    }
    assert render("_mtproxy_file_dirs", mtproxy_plan=plan) == ["/etc/mtproxy"]
    assert str(render("_mtproxy_file_group", mtproxy_plan=plan)) == "65534"
    assert str(render("_mtproxy_file_group", mtproxy_plan=plan, mtproxy_user="1000")) == "1000"
    assert str(render("_mtproxy_file_group", mtproxy_plan=plan, mtproxy_user="app")) == "0"
