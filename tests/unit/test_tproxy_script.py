# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tproxy role's rule script: its kernel parameter list and drift detection.

The template is rendered with Jinja2 and Ansible's own regex_replace filter, then the
script's functions run under /bin/sh against the real sysctl of this machine (reading only).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
from ansible.plugins.filter.core import regex_replace

from tests.conftest import REPO_ROOT

TEMPLATE = REPO_ROOT / "roles" / "tproxy" / "templates" / "edgerelay-tproxy.sh.j2"

pytestmark = pytest.mark.skipif(shutil.which("sysctl") is None, reason="needs procps (sysctl)")


def render(sysctls: dict) -> str:
    # trim_blocks as Ansible's template module renders.
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True
    )
    env.filters["regex_replace"] = regex_replace
    return env.from_string(TEMPLATE.read_text(encoding="utf-8")).render(
        ansible_managed="Ansible managed",
        tproxy_chain="HAPROXY_TPROXY",
        tproxy_mark=1,
        tproxy_route_table=100,
        tproxy_backend_subnet="10.250.0.0/24",
        tproxy_sysctls=sysctls,
    )


def run_functions(script: str, call: str, tmp_path: Path) -> str:
    """Load the script's functions (everything before its command dispatch) and run call."""
    functions = script.split('case "${1:-}" in', 1)[0]
    path = tmp_path / "functions.sh"
    path.write_text(functions, encoding="utf-8")
    proc = subprocess.run(
        ["/bin/sh", "-c", f". {path}; {call}"], capture_output=True, text=True, check=True
    )
    return proc.stdout


def running(key: str) -> str:
    """The running value as the script compares it (whitespace runs as single spaces)."""
    path = Path("/proc/sys") / key.replace(".", "/")
    return " ".join(path.read_text(encoding="ascii").split())


def test_renders_valid_shell(tmp_path):
    script = tmp_path / "edgerelay-tproxy"
    script.write_text(render({"net.ipv4.ip_forward": 1}), encoding="utf-8")
    subprocess.run(["/bin/sh", "-n", str(script)], check=True)
    usage = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2
    assert "apply|remove|check" in usage.stderr


def test_parameter_list_normalises_whitespace(tmp_path):
    script = render(
        {
            "net.ipv4.ip_forward": 1,
            "net.ipv4.ip_local_port_range": "1024\t 65535",
            "net.ipv4.tcp_tw_reuse": "1\n",
        }
    )
    assert run_functions(script, "sysctls", tmp_path).splitlines() == [
        "net.ipv4.ip_forward=1",
        "net.ipv4.ip_local_port_range=1024 65535",
        "net.ipv4.tcp_tw_reuse=1",
    ]


def test_no_drift_when_running_values_match(tmp_path):
    # Multi-value (tab-separated in /proc) and single-value parameters, as they run now.
    keys = ["net.ipv4.ip_local_port_range", "kernel.ostype"]
    script = render({key: running(key) for key in keys})
    assert run_functions(script, "sysctl_drift", tmp_path) == ""
    assert run_functions(script, "sysctls_ok && echo ok", tmp_path) == "ok\n"


def test_drift_names_each_differing_parameter(tmp_path):
    low, high = running("net.ipv4.ip_local_port_range").split()
    other = f"{int(low) + 1} {high}"
    script = render(
        {
            "kernel.ostype": running("kernel.ostype"),
            "net.ipv4.ip_local_port_range": other,
            "net.ipv4.no_such_parameter": 1,
        }
    )
    assert run_functions(script, "sysctl_drift", tmp_path).splitlines() == [
        f"net.ipv4.ip_local_port_range={other}",
        "net.ipv4.no_such_parameter=1",
    ]
    assert run_functions(script, "sysctls_ok || echo drift", tmp_path) == "drift\n"
