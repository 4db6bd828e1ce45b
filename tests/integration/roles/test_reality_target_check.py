# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The REALITY target check in the xray role's real pre-flight, against real TLS servers.

`openssl s_server` on loopback plays the target: TLS 1.3 with HTTP/2, TLS 1.2 only, and a
certificate without the server name. A failed check stops the plan before the keys are
created (nothing written on the controller), and the message names the variable.
"""

from __future__ import annotations

import socket
import subprocess
import time

import pytest

from tests.integration.roles.test_xray_preflight import plans, run_plan

NAME = "reality.lab.example"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    directory = tmp_path_factory.mktemp("target")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={NAME}",
            "-addext",
            f"subjectAltName=DNS:{NAME},DNS:*.lab.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


@pytest.fixture
def target(certificate):
    """Start ``openssl s_server`` with the given protocol flags; yields ``start(flags)``."""
    key, cert = certificate
    servers = []

    def start(*flags):
        port = free_port()
        server = subprocess.Popen(
            [
                *("openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-key", str(key)),
                *("-cert", str(cert), "-www", "-quiet", *flags),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        servers.append(server)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"127.0.0.1:{port}"
            except OSError:
                time.sleep(0.1)
        raise AssertionError("openssl s_server did not listen")

    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def secrets(tmp_path):
    return tmp_path / "inventory" / ".edgerelay"


def check(run_playbook, secrets, target, names):
    return run_plan(
        run_playbook,
        secrets,
        xray_reality_target=target,
        xray_reality_server_names=names,
        xray_reality_target_check=True,
    )


def test_a_tls13_target_with_the_names_passes(run_playbook, secrets, target):
    address = target("-tls1_3", "-alpn", "h2,http/1.1")
    run = check(run_playbook, secrets, address, [NAME, "www.lab.example"])
    assert run.rc == 0, run.output
    assert sorted(plans(run)) == ["edge1", "vpn1"]


def test_a_tls12_target_stops_the_run_before_any_key_is_made(run_playbook, secrets, target):
    address = target("-tls1_2")
    run = check(run_playbook, secrets, address, [NAME])
    assert run.rc != 0
    assert f"xray_reality_target: {address} does not answer TLS 1.3" in run.output
    assert "xray_reality_target_check: false skips" in run.output
    assert not secrets.exists(), "the failed check left files on the controller"


def test_a_name_outside_the_certificate_stops_the_run(run_playbook, secrets, target):
    address = target("-tls1_3")
    run = check(run_playbook, secrets, address, [NAME, "other.example.org"])
    assert run.rc != 0
    assert (
        f"xray_reality_server_names[1]: 'other.example.org' is not in the certificate of {address}"
        in run.output
    )
    assert not secrets.exists()


def test_the_check_can_be_skipped(run_playbook, secrets, target):
    address = target("-tls1_2")
    run = run_plan(
        run_playbook,
        secrets,
        xray_reality_target=address,
        xray_reality_server_names=[NAME],
        xray_reality_target_check=False,
    )
    assert run.rc == 0, run.output


def test_a_missing_target_explains_how_to_choose_one(run_playbook, secrets):
    run = run_plan(run_playbook, secrets, xray_reality_target="")
    assert run.rc != 0
    assert "xray_reality_target: is required" in run.output
    assert "own ASN" in run.output
    assert not secrets.exists()
