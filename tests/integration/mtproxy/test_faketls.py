# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""FakeTLS, masking and replays with the real mtprotoproxy 1.0.6, on loopback.

The replicas are the production launcher (roles/mtproxy/files/images/mtprotoproxy) run by the
lab launcher, which only replaces the Telegram data centres with a sink of the probe; bad
clients are relayed to a real TLS 1.3 masking host (mask_server.py). The probe is the one the
molecule scenarios use: a FakeTLS client that makes and checks the HMACs, replays a saved
ClientHello and probes like a censor would (TLS, HTTP, wrong secret).

What this documents about mtprotoproxy: its replay cache is per process, so behind a load
balancer a replayed ClientHello is masked only if it reaches the replica that saw it first;
HAProxy's ``balance hash req.payload(11,32)`` (the hello's random) gets it there, leastconn
does not.
"""

from __future__ import annotations

import secrets
import signal

import pytest

from tests.helpers.haproxy import needs_haproxy
from tests.helpers.mtproxy import (
    ee_secret,
    extract_mtprotoproxy,
    haproxy,
    mask_log,
    probe,
    sdist_problem,
    start_mask_server,
    start_replica,
    wait_until,
)
from tests.helpers.net import free_port

pytestmark = pytest.mark.skipif(sdist_problem() is not None, reason=str(sdist_problem()))

DOMAIN = "mask.lab.example"
KEY = secrets.token_hex(16)
SECRET = ee_secret(KEY, DOMAIN)
REPLICAS = 3


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A mask server, a sink port and three replicas with the same user; a fourth replica
    reads the PROXY protocol."""
    directory = tmp_path_factory.mktemp("mtproxy")
    script = extract_mtprotoproxy(directory)
    mask_port, sink_port = free_port(), free_port()
    mask, mask_log_path = start_mask_server(directory, mask_port, DOMAIN)
    common = {
        "MTPROXY_USERS": f"alice:{KEY}",
        "MTPROXY_TLS_DOMAIN": DOMAIN,
        "MTPROXY_MASK_HOST": "127.0.0.1",
        "MTPROXY_MASK_PORT": str(mask_port),
        "LAB_UPSTREAM": f"127.0.0.1:{sink_port}",
    }
    started = []
    try:
        for index in range(1, REPLICAS + 1):
            started.append(
                start_replica(f"replica{index}", script, directory, free_port(), **common)
            )
        started.append(
            start_replica(
                "proxied", script, directory, free_port(), MTPROXY_PROXY_PROTOCOL="1", **common
            )
        )
        yield {
            "dir": directory,
            "script": script,
            "mask_port": mask_port,
            "replicas": started[:REPLICAS],
            "proxied": started[REPLICAS],
            "sink": sink_port,
            "mask_log": mask_log_path,
        }
    finally:
        for process in [*started, mask]:
            process.stop()


def port_of(replica) -> int:
    return int(replica.env["MTPROXY_PORT"])


def test_the_right_secret_is_relayed_to_the_upstream(lab):
    outcome = probe(port_of(lab["replicas"][0]), SECRET, sink_port=lab["sink"])
    assert outcome.rc == 0, outcome
    assert outcome.result["accepted"] is True
    assert outcome.result["sink_bytes"] >= 64


def test_the_startup_line_names_no_secret(lab):
    for replica in [*lab["replicas"], lab["proxied"]]:
        output = replica.output()
        assert "FakeTLS on (mask.lab.example)" in output
        assert KEY not in output
        assert "tg://" not in output


@pytest.mark.parametrize("kind", ["tls", "http", "wrong-secret"])
def test_probes_are_answered_by_the_mask_host(lab, kind):
    sni = f"probe-{kind}-{secrets.token_hex(4)}.example"
    outcome = probe(
        port_of(lab["replicas"][1]),
        SECRET,
        "--probe",
        kind,
        "--sni",
        sni,
        "--expect",
        "mask",
        sink_port=lab["sink"],
    )
    assert outcome.rc == 0, outcome
    assert outcome.result["relayed"] is False
    if kind == "tls":
        # The prober sees the masking host's certificate and page, not a proxy.
        assert outcome.result["subject"] == f"CN={DOMAIN}"
        assert outcome.result["san"] == [DOMAIN]
        assert f"edgerelay mask host {DOMAIN}" in outcome.result["response"]
    elif kind == "http":
        assert outcome.result["response"].startswith("HTTP/1.1 400")
        assert "plain HTTP request was sent to HTTPS port" in outcome.result["response"]
    else:
        assert outcome.result["accepted"] is False
        assert outcome.result["answered"] == "tls-server"
    if kind != "http":
        # The very ClientHello reached the mask host (its SNI is this probe's own name).
        wait_until(
            lambda: any(e.get("sni") == sni for e in mask_log(lab["mask_log"])),
            f"the mask host logs SNI {sni}",
        )


def test_a_replay_is_masked_by_the_same_process_and_accepted_by_another(lab):
    first, second = lab["replicas"][0], lab["replicas"][1]
    hello = lab["dir"] / "hello-per-process.bin"
    outcome = probe(port_of(first), SECRET, "--save-hello", str(hello), sink_port=lab["sink"])
    assert outcome.rc == 0, outcome
    assert len(hello.read_bytes()) == 517

    same = probe(
        port_of(first),
        SECRET,
        "--replay",
        str(hello),
        "--count",
        "3",
        "--expect",
        "mask",
        sink_port=lab["sink"],
    )
    assert same.rc == 0, same
    assert same.result["masked"] == 3
    assert "Active TLS fingerprinting detected" in first.output()

    # The replay cache is per process: another replica has never seen this hello.
    other = probe(
        port_of(second),
        SECRET,
        "--replay",
        str(hello),
        "--expect",
        "some-accepted",
        sink_port=lab["sink"],
    )
    assert other.rc == 0, other
    assert other.result["accepted"] == 1


@pytest.mark.parametrize(
    ("offset", "expect"),
    # mtprotoproxy accepts a client clock from 20 minutes ahead to 10 minutes behind.
    [(15 * 60, "relay"), (-15 * 60, "mask")],
    ids=["15-min-ahead-accepted", "15-min-behind-masked"],
)
def test_the_hello_time_window(lab, offset, expect):
    outcome = probe(
        port_of(lab["replicas"][2]),
        SECRET,
        "--time-offset",
        str(offset),
        "--expect",
        expect,
        sink_port=lab["sink"],
    )
    assert outcome.rc == 0, outcome


def servers(replicas) -> list[dict]:
    return [{"name": r.name, "address": "127.0.0.1", "port": port_of(r)} for r in replicas]


def replay_through(lab, name: str, expect: str, **variables) -> tuple[dict, str]:
    """Through HAProxy: one real session saves its hello, which is then replayed 30 times from
    another client address; then a fresh session. Returns the replay counts and the config."""
    port, stats_port = free_port(), free_port()
    hello = lab["dir"] / f"hello-{name}.bin"
    with haproxy(
        lab["dir"] / name, port, stats_port, servers(lab["replicas"]), **variables
    ) as config:
        first = probe(port, SECRET, "--save-hello", str(hello), sink_port=lab["sink"])
        assert first.rc == 0, first
        replayed = probe(
            port,
            SECRET,
            "--replay",
            str(hello),
            "--count",
            "30",
            "--source",
            "127.0.0.2",
            "--expect",
            expect,
            sink_port=lab["sink"],
        )
        assert replayed.rc == 0, replayed
        fresh = probe(port, SECRET, "--source", "127.0.0.2", sink_port=lab["sink"])
        assert fresh.rc == 0, fresh
    return replayed.result, config


@needs_haproxy
def test_hash_balancing_sends_every_replay_to_the_replica_that_saw_it(lab):
    result, config = replay_through(
        lab,
        "hash",
        "none-accepted",
        haproxy_balance_algorithm="hash",
        haproxy_hash_payload={"offset": 11, "length": 32, "wait_prefix": "16"},
        haproxy_client_first_timeout="10s",
    )
    # The key must be taken in the frontend (HAProxy 2.6 evaluates "balance hash <expr>" after
    # the accepted data has left the request buffer: req.payload there finds nothing and
    # round robin applies, which lets 2 of 30 replays through to the other replicas).
    assert "balance hash " in config
    assert "hash-type consistent" in config
    assert result["accepted"] == 0
    assert result["masked"] == 30


@needs_haproxy
def test_leastconn_lets_a_replay_through_to_another_replica(lab):
    # Why the MTProxy stack balances by the hello's random: with leastconn the copies spread
    # over the replicas, and each replica that has not seen the hello accepts it once.
    result, config = replay_through(lab, "leastconn", "some-accepted")
    assert "balance leastconn" in config
    assert result["accepted"] >= 1


@needs_haproxy
def test_the_proxy_protocol_gives_the_replica_the_client_address(lab):
    proxied = lab["proxied"]
    port, stats_port = free_port(), free_port()
    with haproxy(
        lab["dir"] / "proxy-v2",
        port,
        stats_port,
        servers([proxied]),
        haproxy_send_proxy="v2",
    ) as config:
        assert "send-proxy-v2" in config
        outcome = probe(port, SECRET, "--source", "127.0.0.2", sink_port=lab["sink"])
        assert outcome.rc == 0, outcome
        wait_until(
            lambda: "accepted peer 127.0.0.2 " in proxied.output(),
            "the replica logs the client's own address",
        )
    # What the replica logs comes from the PROXY header: HAProxy itself connects from
    # 127.0.0.1, the probe's own address is 127.0.0.2.
    peers = {
        line.split()[2]
        for line in proxied.output().splitlines()
        if line.startswith("accepted peer")
    }
    assert "127.0.0.2" in peers, peers


def test_the_users_file_is_re_read_on_sigusr2(lab, tmp_path):
    """The role mounts the users file and sends SIGUSR2 when it changes: no restart."""
    bob_key = secrets.token_hex(16)
    bob = ee_secret(bob_key, DOMAIN)
    users = tmp_path / "users"
    users.write_text(f"alice {KEY}\n")
    replica = start_replica(
        "users-file",
        lab["script"],
        lab["dir"],
        free_port(),
        MTPROXY_USERS_FILE=str(users),
        MTPROXY_TLS_DOMAIN=DOMAIN,
        MTPROXY_MASK_HOST="127.0.0.1",
        MTPROXY_MASK_PORT=str(lab["mask_port"]),
        LAB_UPSTREAM=f"127.0.0.1:{lab['sink']}",
    )
    try:
        port = port_of(replica)
        assert probe(port, bob, "--expect", "mask", sink_port=lab["sink"]).rc == 0

        replacement = tmp_path / "users.new"
        replacement.write_text(f"alice {KEY}\nbob {bob_key}\n")
        replacement.replace(users)
        replica.popen.send_signal(signal.SIGUSR2)
        wait_until(lambda: "2 user(s) from" in replica.output(), "the replica re-reads its users")
        assert probe(port, bob, sink_port=lab["sink"]).rc == 0
        assert probe(port, SECRET, sink_port=lab["sink"]).rc == 0

        # A broken file keeps the users the replica has.
        users.write_text(f"alice {KEY}\nbob {bob_key}0\n")
        replica.popen.send_signal(signal.SIGUSR2)
        wait_until(lambda: "users kept" in replica.output(), "the replica refuses the bad file")
        assert probe(port, bob, sink_port=lab["sink"]).rc == 0
        assert replica.alive()
        output = replica.output()
        assert KEY not in output and bob_key not in output
    finally:
        replica.stop()
