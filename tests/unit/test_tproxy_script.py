# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tproxy role's rule script: its kernel parameter list and drift detection, and its rules.

The template is rendered with Jinja2 and Ansible's own regex_replace filter, then the
script's functions run under /bin/sh against the real sysctl of this machine (reading only).
The rules are applied, checked and removed for real with iptables and ip, in a network
namespace of the test's own (``unshare --net``; root only), never in the machine's.
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


def render(sysctls: dict, subnet: str = "10.250.0.0/24") -> str:
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
        tproxy_backend_subnet=subnet,
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


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("iptables") is None:
        return False
    probe = subprocess.run(
        ["unshare", "--net", "iptables", "-w", "-t", "mangle", "-S", "PREROUTING"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_netns = pytest.mark.skipif(
    not _can_unshare(), reason="needs root, unshare and iptables (a network namespace of its own)"
)


def run_in_netns(tmp_path: Path, steps: str) -> subprocess.CompletedProcess:
    """Run a shell script in a new, empty network namespace; ``$OLD``/``$NEW`` are two
    renderings of the rule script (backend subnets 10.250.0.0/24 and 10.251.0.0/24)."""
    for name, subnet in (("old", "10.250.0.0/24"), ("new", "10.251.0.0/24")):
        (tmp_path / f"{name}.sh").write_text(render({}, subnet=subnet), encoding="utf-8")
    script = tmp_path / "steps.sh"
    script.write_text(f"OLD={tmp_path}/old.sh\nNEW={tmp_path}/new.sh\n{steps}", encoding="utf-8")
    return subprocess.run(
        ["unshare", "--net", "/bin/sh", str(script)], capture_output=True, text=True, check=False
    )


@needs_netns
def test_apply_is_idempotent_and_check_passes(tmp_path):
    proc = run_in_netns(
        tmp_path,
        'sh "$OLD" apply; echo "--"; sh "$OLD" apply; echo "--"; sh "$OLD" check; echo "rc=$?"\n',
    )
    first, second, check = proc.stdout.split("--\n")
    assert "changed: PREROUTING jump to HAPROXY_TPROXY for 10.250.0.0/24" in first
    assert second == ""
    assert check == "rc=0\n"


@needs_netns
def test_check_reports_a_jump_left_for_another_subnet_and_apply_removes_it(tmp_path):
    # The backend subnet moved from 10.250.0.0/24 to 10.251.0.0/24 (mtproxy_network_subnet).
    proc = run_in_netns(
        tmp_path,
        'sh "$OLD" apply >/dev/null; sh "$NEW" check; echo "rc=$?"; echo "--"\n'
        'sh "$NEW" apply; echo "--"; sh "$NEW" check; echo "rc=$?"; echo "--"\n'
        "iptables -w -t mangle -S PREROUTING\n",
    )
    check, apply, check_after, rules = proc.stdout.split("--\n")
    assert check.splitlines() == [
        "missing: PREROUTING jump to HAPROXY_TPROXY for 10.251.0.0/24",
        "stale: PREROUTING jump to HAPROXY_TPROXY for 10.250.0.0/24 "
        "(not the backend subnet 10.251.0.0/24)",
        "rc=1",
    ]
    assert apply.splitlines() == [
        "changed: PREROUTING jump to HAPROXY_TPROXY for 10.251.0.0/24",
        "changed: removed stale PREROUTING jump to HAPROXY_TPROXY for 10.250.0.0/24",
    ]
    assert check_after == "rc=0\n"
    assert [line for line in rules.splitlines() if "HAPROXY_TPROXY" in line] == [
        "-A PREROUTING -s 10.251.0.0/24 -p tcp -m socket --transparent -j HAPROXY_TPROXY"
    ]


@needs_netns
def test_remove_deletes_stale_jumps_too(tmp_path):
    # A chain that is still jumped to cannot be deleted: remove must take every jump away.
    proc = run_in_netns(
        tmp_path,
        'sh "$OLD" apply >/dev/null; sh "$NEW" apply >/dev/null\n'
        "iptables -w -t mangle -I PREROUTING -p tcp -s 10.250.0.0/24 -m socket --transparent "
        "-j HAPROXY_TPROXY\n"
        'sh "$NEW" remove 2>/dev/null; echo "rc=$?"; iptables -w -t mangle -S\n',
    )
    assert proc.stdout.splitlines()[0] == "rc=0"
    assert "HAPROXY_TPROXY" not in proc.stdout
