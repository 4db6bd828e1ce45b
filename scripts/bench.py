#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""make bench: measure the MTProxy stack against a lab host and print one table.

It brings up its own lab host (lab/bench-inventory.yml: the lab's systemd container with
peer-echo replicas) and a client container outside it, then measures, side by side in one
run where there is a comparison (A = through HAProxy with TPROXY, B = directly to the same
backend, alternating A, B, A, B ...; medians reported):

  converge          full deploy on a fresh host, idempotent re-run, --tags scale 2 -> 3
  held connections  long-lived connections across --tags scale 2 -> 3 -> 2 and a reload
  throughput        bulk TCP, ratio A/B
  connection rate   short connections per second from 8 concurrent clients, ratio A/B;
                    time to first byte from one sequential client
  CPU cost          the machine's busy CPU time per GB and per 1000 connections, A and B
  failover          replica stopped during a steady client loop: detection, failed connects
  FakeTLS           the bench host redeployed with the lab's real mtprotoproxy
                    (lab/bench-faketls-inventory.yml) and authenticated FakeTLS sessions
                    (molecule/shared/files/faketls_load.py): bulk throughput and session
                    rate through HAProxy vs directly to one replica, 2 vs 1 replicas,
                    balance hash vs leastconn, held sessions up to the fd limit, a replica
                    killed during a loop
  Xray              the Xray proxy node of the `xray` Molecule scenario (proxy, two foreign
                    backends, client, destination), converged once per relay transport
                    (xhttp, tcp-vision): per public transport (tcp-vision, xhttp), bulk
                    download throughput and request rate through the entry node as a ratio
                    to the direct hop to a backend over the same transport; one backend's
                    Xray stopped during request loops through the proxy: detection, failed
                    requests; a user added and then removed live on the proxy while
                    connections of another user are held through it: connections dropped,
                    Xray's PID, start of the run to the new user's first request

Results go to stdout and docs/benchmarks.md (with machine, versions and date); with some of
the parts (--parts), only their rows and notes there are replaced. It is a
benchmark, not a test: it exits 0 unless the harness itself breaks. --smoke runs a few
seconds of each measurement (make test uses it to keep the harness from rotting).
Only loopback and the containers it creates are ever contacted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import textwrap
import time
import typing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "edgerelay-bench"
CLIENT = "edgerelay-bench-client"
# Direct path B runs from its own container: with TPROXY, HAProxy's connections to a replica
# use the client's address, and a direct connection from that same address can meet one of
# HAProxy's TIME_WAIT sockets in the mangle socket match (its SYN-ACK is then delivered to
# the host instead of being forwarded). Real clients never reach the replicas directly.
DIRECT_CLIENT = "edgerelay-bench-direct"
NETWORK = "edgerelay-lab"
INVENTORY = "lab/bench-inventory.yml"
BASE_IMAGE = "edgerelay/debian12-systemd:latest"
ADMIN = "/run/haproxy/admin.sock"
# lab/up.yml also runs the lab's masking host: the bench gets its own name and address, so
# that the lab's (edgerelay-lab-mask, 10.251.77.10) is never touched.
BENCH_MASK = "edgerelay-bench-mask"
LAB_HOST_VARS = json.dumps(
    {
        "lab_published_ports": [],
        "lab_mask_container": BENCH_MASK,
        "lab_mask_address": "10.251.77.211",
    }
)
# FakeTLS section: the client runs where python3-cryptography is, i.e. in the lab MTProxy
# image; the direct client (B) runs in that image on the bench host's own network stack.
FAKETLS_INVENTORY = "lab/bench-faketls-inventory.yml"
FAKETLS_CLIENT = "edgerelay-bench-faketls"
FAKETLS_IMAGE = "edgerelay/mtproxy-lab:latest"
FAKETLS_DIRECT = "ftl-direct"  # a container inside the bench host (host network)
FAKETLS_DOMAIN = "www.edgerelay.test"
SINK_PORT = 9443
ENV = dict(
    os.environ,
    PATH=f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '')}",
    ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"),
    ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    ANSIBLE_NOCOLOR="1",
    ANSIBLE_FORCE_COLOR="0",
)


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def run(cmd: list[str], check: bool = True, timeout: float = 1800) -> tuple[str, float]:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - started
    if check and proc.returncode != 0:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
        raise SystemExit(f"[bench] failed: {' '.join(cmd)}")
    return proc.stdout, seconds


def dexec(container: str, command: str, check: bool = True, timeout: float = 600) -> str:
    return run(["docker", "exec", container, "bash", "-c", command], check, timeout)[0]


def playbook(*args: str, inventory: str = INVENTORY) -> tuple[float, int]:
    """Run ansible-playbook; return (seconds, changed tasks on the bench host)."""
    out, seconds = run(["ansible-playbook", "-i", inventory, *args])
    recap = re.search(rf"^{HOST}\s*:\s*ok=\d+\s+changed=(\d+)", out, re.MULTILINE)
    return seconds, int(recap.group(1)) if recap else -1


def client(*args: str, timeout: float = 600, container: str = CLIENT) -> dict:
    out = dexec(
        container, "python3 /usr/local/bin/tcp_clients.py " + " ".join(args), timeout=timeout
    )
    return json.loads(out.strip().splitlines()[-1])


def address(container: str) -> str:
    out, _ = run(
        [
            "docker",
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            container,
        ]
    )
    return out.strip()


def admin(command: str, host: str = HOST) -> str:
    return dexec(host, f'echo "{command}" | socat stdio {ADMIN}')


def server_states(host: str = HOST, backend: str = "mtproxies") -> dict[str, str]:
    """Status of each server of a backend, from HAProxy's admin socket on host."""
    states = {}
    for line in admin("show stat", host).splitlines():
        fields = line.split(",")
        if len(fields) > 17 and fields[0] == backend and fields[1] not in ("FRONTEND", "BACKEND"):
            states[fields[1]] = fields[17]
    return states


def wait_states(
    expected: dict[str, str], timeout: float = 60, host: str = HOST, backend: str = "mtproxies"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_states(host, backend) == expected:
            return
        time.sleep(0.5)
    raise SystemExit(
        f"[bench] HAProxy servers never reached {expected}: {server_states(host, backend)}"
    )


def take_file(container: str, path: str, timeout: float = 600) -> str:
    """Wait until a background job in container has written path; return it and remove it."""
    deadline = time.monotonic() + timeout
    while not (out := dexec(container, f"cat {path} 2>/dev/null || true").strip()):
        if time.monotonic() > deadline:
            raise SystemExit(f"[bench] {container}:{path} never appeared")
        time.sleep(0.2)
    dexec(container, f"rm -f {path}")
    return out


def teardown() -> None:
    for name in (HOST, CLIENT, DIRECT_CLIENT, FAKETLS_CLIENT, BENCH_MASK):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "volume", "rm", f"{HOST}-docker"], capture_output=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- measurements -----------------------------------------------------------------


def measure_converge(results: dict, reruns: int) -> None:
    log("converge: full deploy on a fresh lab host")
    seconds, changed = playbook("lab/up.yml", "-e", LAB_HOST_VARS)
    results["converge_full"] = (seconds, changed, 1)
    log(f"converge: {reruns} idempotent re-runs")
    runs = [playbook("playbooks/deploy.yml") for _ in range(reruns)]
    results["converge_rerun"] = (
        median([seconds for seconds, _ in runs]),
        max(changed for _, changed in runs),
        reruns,
    )


def start_client(edge_ip: str) -> None:
    tool = str(ROOT / "molecule/shared/files/tcp_clients.py")
    for name in (CLIENT, DIRECT_CLIENT):
        run(
            [
                "docker",
                "run",
                "-d",
                "--name",
                name,
                "--hostname",
                name,
                "--cap-add",
                "NET_ADMIN",
                # The clients stand for many users: they must not run out of ports themselves.
                "--sysctl",
                "net.ipv4.ip_local_port_range=1024 65535",
                "--sysctl",
                "net.ipv4.tcp_tw_reuse=1",
                "--network",
                NETWORK,
                BASE_IMAGE,
                "sleep",
                "infinity",
            ]
        )
        run(["docker", "cp", tool, f"{name}:/usr/local/bin/"])
    # Direct path (B): reach the replicas on the bridge through the lab host.
    dexec(DIRECT_CLIENT, f"ip route add 10.250.0.0/24 via {edge_ip}")


def read_hold_state() -> dict:
    return json.loads(dexec(CLIENT, "cat /root/hold.json 2>/dev/null || echo '{}'") or "{}")


def dropped_since(step_done: float, survivors: set[str]) -> tuple[int, int]:
    time.sleep(2.5)  # two more echo rounds
    state = read_hold_state()
    conns = [c for c in state["connections"] if c["backend"] in survivors]
    dropped = [c for c in conns if not c["alive"] or c["last_ok"] < step_done]
    return len(dropped), len(conns)


def measure_held(results: dict, target: str, count: int) -> None:
    log(f"held connections: {count} long-lived connections across scale 2->3->2 and a reload")
    dexec(CLIENT, "rm -f /root/hold.json /root/hold.stop")
    run(
        [
            "docker",
            "exec",
            "-d",
            CLIENT,
            "python3",
            "/usr/local/bin/tcp_clients.py",
            "hold",
            "--target",
            target,
            "--count",
            str(count),
            "--duration",
            "900",
            "--state-file",
            "/root/hold.json",
            "--stop-file",
            "/root/hold.stop",
        ]
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if len(read_hold_state()["connections"]) == count:
                break
        except (SystemExit, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.5)
    survivors = {"mtproxy1", "mtproxy2"}
    steps = []
    seconds, changed = playbook(
        "playbooks/deploy.yml", "--tags", "scale", "-e", "mtproxy_replicas=3"
    )
    results["converge_scale"] = (seconds, changed, 1)
    steps.append(("scale 2->3", dropped_since(time.time(), survivors)))
    playbook("playbooks/deploy.yml", "--tags", "scale", "-e", "mtproxy_replicas=2")
    steps.append(("scale 3->2", dropped_since(time.time(), survivors)))
    playbook("playbooks/deploy.yml", "--tags", "config", "-e", "haproxy_check_inter=2001")
    steps.append(("config reload", dropped_since(time.time(), survivors)))
    playbook("playbooks/deploy.yml", "--tags", "config")
    dexec(CLIENT, "touch /root/hold.stop")
    results["held"] = steps


def measure_ab(
    results: dict, via: str, direct: str, pairs: int, bulk_bytes: int, conns: int, parallel: int
) -> None:
    log(f"data path: {pairs} A/B pairs (A via HAProxy {via}, B direct {direct})")
    # Same backend for A and B: take mtp2 out of rotation while measuring.
    admin("set server mtproxies/mtp2 state maint")
    wait_states({"mtp1": "UP", "mtp2": "MAINT"})
    tput = {"A": [], "B": []}
    rate = {"A": [], "B": []}
    # CPU time of the whole machine per unit of work (measured by the client around the
    # transfer): with both cores busy, the A/B ratio of a rate cannot exceed the B/A ratio
    # of these costs.
    cpu_gb = {"A": [], "B": []}
    cpu_kconn = {"A": [], "B": []}
    p50 = {"A": [], "B": []}
    p99 = {"A": [], "B": []}
    for _ in range(pairs):
        for side, target, box in (("A", via, CLIENT), ("B", direct, DIRECT_CLIENT)):
            bulk = client("bulk", "--target", target, "--bytes", str(bulk_bytes), container=box)
            tput[side].append(bulk["mb_per_s"])
            cpu_gb[side].append(bulk["machine_busy_s"] / (bulk_bytes / 1e9))
            # Capacity: concurrent clients, flat out.
            busy = client(
                "loop",
                "--target",
                target,
                "--count",
                str(conns),
                "--rate",
                "0",
                "--parallel",
                str(parallel),
                container=box,
            )
            rate[side].append(busy["per_second"])
            cpu_kconn[side].append(busy["machine_busy_s"] / (conns / 1000))
            # Latency: one client, one connection at a time.
            loop = client(
                "loop", "--target", target, "--count", str(conns // 3), "--rate", "0", container=box
            )
            p50[side].append(loop["first_byte_ms_p50"])
            p99[side].append(loop["first_byte_ms_p99"])
    admin("set server mtproxies/mtp2 state ready")
    wait_states({"mtp1": "UP", "mtp2": "UP"})
    results["throughput"] = (median(tput["A"]), median(tput["B"]), pairs)
    results["cpu_per_gb"] = (median(cpu_gb["A"]), median(cpu_gb["B"]), pairs)
    results["cpu_per_kconn"] = (median(cpu_kconn["A"]), median(cpu_kconn["B"]), pairs)
    results["rate"] = (median(rate["A"]), median(rate["B"]), pairs, parallel)
    results["latency"] = (
        median(p50["A"]),
        median(p99["A"]),
        median(p50["B"]),
        median(p99["B"]),
        pairs,
    )


def measure_failover(results: dict, target: str, rounds: int, conns: int, rate: int) -> None:
    log(f"failover: {rounds} rounds of {conns} connections at {rate}/s, mtproxy2 stopped mid-loop")
    detections, failed, attempts, spans = [], 0, 0, 0
    loop_seconds = conns / rate
    for _ in range(rounds):
        wait_states({"mtp1": "UP", "mtp2": "UP"})
        run(
            [
                "docker",
                "exec",
                "-d",
                CLIENT,
                "bash",
                "-c",
                f"python3 /usr/local/bin/tcp_clients.py loop --target {target} --count {conns} "
                f"--rate {rate} --timeout 5 > /root/loop.json",
            ]
        )
        stopper = (
            f"sleep {loop_seconds / 3:.2f}; docker stop mtproxy2 >/dev/null; s=$(date +%s%N); "
            f"until echo 'show stat' | socat stdio {ADMIN} | cut -d, -f2,18 "
            "| grep -qx 'mtp2,DOWN'; "
            "do sleep 0.01; done; echo $s $(( ($(date +%s%N) - s) / 1000000 ))"
        )
        stopped_ns, detect_ms = dexec(HOST, stopper, timeout=120).split()
        detections.append(int(detect_ms) / 1000)
        time.sleep(loop_seconds)
        summary = json.loads(take_file(CLIENT, "/root/loop.json"))
        failed += summary["failed"]
        attempts += summary["attempts"]
        spans += summary["started_at"] < int(stopped_ns) / 1e9 < summary["ended_at"]
        dexec(HOST, "docker start mtproxy2 >/dev/null")
    wait_states({"mtp1": "UP", "mtp2": "UP"})
    results["failover"] = (median(detections), max(detections), rounds, failed, attempts, spans)


XRAY_PROXY, XRAY_CLIENT = "proxy-xray", "client-xray"
# The backend that is stopped (and the one both paths reach while measuring throughput and
# request rate), and the one that carries on.
XRAY_BACKEND, XRAY_OTHER = "vpn1-xray", "vpn2-xray"
XRAY_BACKEND_IP = "172.29.0.11"
XRAY_POOL = "foreign-pool"
# Relay legs (proxy -> backends) in the order measured: one converge each, with
# -e xray_relay_transport=... (the backends and the proxy read the same variable).
XRAY_RELAYS = ("xhttp", "tcp-vision")
# Public transport -> SOCKS ports of the test client: through the entry node (the proxy), and
# the direct hop to vpn1 over the same transport (the ports of molecule/xray/verify.yml).
XRAY_PUBLIC = {"tcp-vision": (1080, 1081), "xhttp": (1082, 1084)}
# SOCKS port -> the printed link (file#remark) it goes out through.
XRAY_LINKS = {
    1080: "proxy-xray.txt#lab-client-tcp-vision-443",
    1081: "vpn1-xray.txt#direct-user-tcp-vision-443",
    1082: "proxy-xray.txt#lab-client-xhttp-8444",
    1084: "vpn1-xray.txt#direct-user-xhttp-8444",
}
XRAY_SITE = "site.lab.example"  # a foreign name: it exits at a backend


def xray_states(expected: dict[str, str]) -> None:
    wait_states(expected, host=XRAY_PROXY, backend=XRAY_POOL)


def xclient(*args: str, timeout: float = 300) -> dict | None:
    """tcp_clients.py in the Xray client container; its JSON summary, None if it broke."""
    line = "python3 /usr/local/bin/tcp_clients.py " + " ".join(args)
    lines = dexec(XRAY_CLIENT, line, check=False, timeout=timeout).strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return None


def xray_converge(relay: str) -> tuple[dict[str, str], dict[str, str]]:
    """molecule converge -s xray with the relay leg on relay (the first one also creates and
    prepares the hosts). Returns the printed links (host -> text) the deploy wrote, and the
    paths of their files (host -> path, in the scenario's ephemeral directory)."""
    started = time.monotonic()
    out, _ = run(
        ["molecule", "converge", "-s", "xray", "--", "-e", f"xray_relay_transport={relay}"],
        timeout=1800,
    )
    changed = sum(int(n) for n in re.findall(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)", out, re.M))
    seconds = time.monotonic() - started
    log(f"xray: relay leg {relay} deployed in {seconds:.0f} s ({changed} changed)")
    paths = dict(re.findall(r"client links of ([\w.-]+): (/\S+?\.txt)", out))
    if not {"proxy-xray", "vpn1-xray"} <= set(paths):
        raise SystemExit(
            f"[bench] the converge named no links files for the proxy and vpn1: {paths}"
        )
    network = dexec(
        XRAY_PROXY,
        "python3 -c \"import json; c = json.load(open('/usr/local/etc/xray/config.json')); "
        f"print(next(o for o in c['outbounds'] if o['tag'] == '{XRAY_POOL}')"
        "['streamSettings']['network'])\"",
    ).strip()
    if network != {"xhttp": "xhttp", "tcp-vision": "tcp"}[relay]:
        raise SystemExit(f"[bench] relay {relay}: the proxy's {XRAY_POOL} outbound uses {network}")
    return {host: Path(path).read_text() for host, path in paths.items()}, paths


def xray_client_setup(links: dict[str, str]) -> None:
    """The client's Xray (SOCKS ports of XRAY_LINKS) built from the printed links alone, as
    molecule/xray/verify.yml does, and the test tools."""
    files = ROOT / "molecule/shared/files"
    for name in ("vless_client.py", "tcp_clients.py"):
        run(["docker", "cp", str(files / name), f"{XRAY_CLIENT}:/usr/local/bin/"])
    dexec(XRAY_CLIENT, "mkdir -p /root/links && chmod 700 /root/links")
    for host in sorted({link.split(".txt")[0] for link in XRAY_LINKS.values()}):
        put_file(XRAY_CLIENT, f"/root/links/{host}.txt", links[host])
    pairs = " ".join(f"{port}=@/root/links/{link}" for port, link in XRAY_LINKS.items())
    dexec(XRAY_CLIENT, f"python3 /usr/local/bin/vless_client.py {pairs} > /root/client.json")
    dexec(XRAY_CLIENT, "pkill -x xray || true; sleep 0.5")
    run(
        [
            "docker",
            "exec",
            "-d",
            XRAY_CLIENT,
            "bash",
            "-c",
            "exec /usr/local/bin/xray run -c /root/client.json >/root/xray-client.log 2>&1",
        ]
    )


def xray_client_ready(timeout: float = 60) -> None:
    """Every SOCKS port of the client answers GETs of the foreign site."""
    xray_states({XRAY_BACKEND: "UP", XRAY_OTHER: "UP"})
    deadline = time.monotonic() + timeout
    for port in XRAY_LINKS:
        while True:
            got = xclient(
                "socks-loop", f"--target 127.0.0.1:{port} --host {XRAY_SITE} --count 3 --rate 0"
            )
            if got and got["failed"] == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"[bench] the Xray client's port {port} does not work: {got}")
            time.sleep(1)


def measure_xray_paths(
    results: dict, relay: str, pairs: int, bulk_bytes: int, count: int, parallel: int
) -> None:
    """Throughput and request rate of each public transport: through the entry node (A) vs
    the direct hop to vpn1 (B) over the same transport, alternating A, B; vpn2 is in
    maintenance on the proxy, so that A ends at the same backend as B."""
    log(
        f"xray relay {relay}: {pairs} A/B pairs per public transport "
        f"({bulk_bytes >> 20} MiB download, {count} GETs from {parallel} workers)"
    )
    admin(f"set server {XRAY_POOL}/{XRAY_OTHER} state maint", XRAY_PROXY)
    # Connections to vpn2 that are already open (the relay's XHTTP reuses them) go too.
    admin(f"shutdown sessions server {XRAY_POOL}/{XRAY_OTHER}", XRAY_PROXY)
    xray_states({XRAY_BACKEND: "UP", XRAY_OTHER: "MAINT"})
    for public, (entry, direct) in XRAY_PUBLIC.items():
        tput, rate, fails, exits = {"A": [], "B": []}, {"A": [], "B": []}, 0, {}
        for _ in range(pairs):
            for side, port in (("A", entry), ("B", direct)):
                target = f"--target 127.0.0.1:{port} --host {XRAY_SITE}"
                bulk = xclient("socks-bulk", target, f"--bytes {bulk_bytes}")
                if bulk and bulk["bytes"] == bulk_bytes:
                    tput[side].append(bulk["mb_per_s"])
                else:
                    fails += 1
                loop = xclient(
                    "socks-loop", target, f"--count {count} --rate 0", f"--parallel {parallel}"
                )
                if loop is None:
                    fails += count
                    continue
                rate[side].append(loop["per_second"])
                fails += loop["failed"]
                for peer, number in loop["peers"].items():
                    exits[peer] = exits.get(peer, 0) + number
        if set(exits) - {XRAY_BACKEND_IP}:
            log(f"xray relay {relay}, public {public}: requests left through {exits}")
        results.setdefault("xray_paths", {})[(relay, public)] = {
            "tput": (median(tput["A"]), median(tput["B"])),
            "rate": (median(rate["A"]), median(rate["B"])),
            "fails": fails,
            "exits": exits,
            "pairs": pairs,
            "parallel": parallel,
        }
    admin(f"set server {XRAY_POOL}/{XRAY_OTHER} state ready", XRAY_PROXY)
    xray_states({XRAY_BACKEND: "UP", XRAY_OTHER: "UP"})


def measure_xray_failover(results: dict, relay: str, rounds: int, count: int, rate: int) -> None:
    """vpn1's Xray stopped a third into a loop of requests through the proxy, one loop per
    public transport at once: detection (DOWN on the proxy's admin socket), failed requests."""
    log(
        f"xray failover, relay {relay}: {rounds} rounds of {count} requests at {rate}/s per "
        f"public transport, {XRAY_BACKEND} stopped"
    )
    detections, spans, reasons = [], 0, {}
    after = dict.fromkeys(XRAY_PUBLIC, 0)
    failed, attempts = dict(after), dict(after)
    for _ in range(rounds):
        xray_states({XRAY_BACKEND: "UP", XRAY_OTHER: "UP"})
        for entry, _ in XRAY_PUBLIC.values():
            out = f"/root/xloop-{entry}.json"
            line = (
                f"rm -f {out}; python3 /usr/local/bin/tcp_clients.py socks-loop --target "
                f"127.0.0.1:{entry} --host {XRAY_SITE} --count {count} --rate {rate} "
                f"--max-failures {count} > {out}.tmp; mv {out}.tmp {out}"
            )
            run(["docker", "exec", "-d", XRAY_CLIENT, "bash", "-c", line])
        # The watcher runs on the proxy before the stop and notes when HAProxy says DOWN, and
        # why: check_status HANA = live traffic saw a failed connect (observe layer4), else
        # the health checks' status.
        watcher = (
            f"until line=$(echo 'show stat' | socat stdio {ADMIN} | cut -d, -f1,2,18,37 "
            f"| grep -m1 '^{XRAY_POOL},{XRAY_BACKEND},DOWN,'); do sleep 0.01; done; "
            'echo "$(date +%s.%N) ${line##*,}" > /root/down.tmp; mv /root/down.tmp /root/down.ts'
        )
        run(["docker", "exec", "-d", XRAY_PROXY, "bash", "-c", watcher])
        time.sleep(count / rate / 3)
        stopped = float(dexec(XRAY_BACKEND, "date +%s.%N; systemctl stop xray.service").split()[0])
        down_at, *why = take_file(XRAY_PROXY, "/root/down.ts", timeout=60).split()
        down = float(down_at)
        detections.append(down - stopped)
        reason = " ".join(why).lstrip("* ") or "?"  # "* " while a check is under way
        reasons[reason] = reasons.get(reason, 0) + 1
        log(f"xray failover, relay {relay}: DOWN after {down - stopped:.3f} s ({reason})")
        for public, (entry, _) in XRAY_PUBLIC.items():
            summary = json.loads(take_file(XRAY_CLIENT, f"/root/xloop-{entry}.json"))
            attempts[public] += summary["attempts"]
            failed[public] += summary["failed"]
            after[public] += sum(1 for f in summary["failures"] if f["at_unix"] > down)
            spans += summary["started_at"] < stopped and summary["ended_at"] > down
        dexec(XRAY_BACKEND, "systemctl start xray.service")
    xray_states({XRAY_BACKEND: "UP", XRAY_OTHER: "UP"})
    results.setdefault("xray_failover", {})[relay] = {
        "detection": (median(detections), max(detections)),
        "rounds": rounds,
        "after": after,
        "failed": failed,
        "attempts": attempts,
        "spans": spans,
        "rate": rate,
        "reasons": reasons,
    }


# A user added, then removed again, on the entry node while connections of another user are
# held open through it (the converge of molecule/xray/verify.yml's users.yml, in one run each).
XRAY_NEW_USER = {"id": "b3e7c2d1-4f5a-4b6c-9d8e-0f1a2b3c4d5e", "email": "bench-new"}
XRAY_NEW_REMARK = "bench-new-tcp-vision-443"
XRAY_NEW_PORT = 1095  # the client's SOCKS port for the new user
XRAY_HOLD_PORT = 1080  # lab-client, tcp-vision, through the entry node


def xray_pid() -> str:
    return dexec(XRAY_PROXY, "systemctl show -p MainPID --value xray.service").strip()


def xray_hold_state() -> dict:
    out = dexec(XRAY_CLIENT, "cat /root/uhold.json 2>/dev/null || echo '{}'").strip()
    return json.loads(out or "{}")


def xray_users_run(
    links_file: Path, users: list[dict], relay: str
) -> tuple[subprocess.Popen, typing.IO[str]]:
    """Start the deploy on the entry node alone with these users (in the background)."""
    ephemeral = links_file.parents[2]  # <ephemeral>/identity/links/<host>.txt
    env = dict(
        ENV,
        MOLECULE_PROJECT_DIRECTORY=str(ROOT),
        MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral),
        MOLECULE_SCENARIO_NAME="xray",
    )
    extra = json.dumps({"xray_users": users, "xray_relay_transport": relay})
    argv = [
        "ansible-playbook",
        "-i",
        str(ephemeral / "inventory"),
        str(ROOT / "molecule/xray/converge.yml"),
        "--limit",
        XRAY_PROXY,
        "-e",
        extra,
    ]
    # Its output can outgrow a pipe; it goes to a file (it names no user ids).
    out = open(ephemeral / "bench-users-run.log", "w+")  # noqa: SIM115 (closed by the caller)
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc, out


def xray_users_finish(run_: tuple[subprocess.Popen, typing.IO[str]], what: str) -> None:
    proc, log_file = run_
    proc.wait(timeout=900)
    log_file.seek(0)
    out = log_file.read()
    log_file.close()
    if proc.returncode != 0 or "users changed live" not in out:
        said = re.findall(r"xray: [^\n\"]*|fatal[^\n]*", out)
        raise SystemExit(f"[bench] the user {what} run: rc {proc.returncode}; {said[-5:]}")


def xray_held_dropped(done: float) -> tuple[int, int]:
    """Held connections that broke, or passed no echo since done; and how many are held."""
    time.sleep(2.5)  # two more echo rounds
    conns = xray_hold_state().get("connections", [])
    return sum(1 for c in conns if not c["alive"] or c["last_ok"] < done), len(conns)


def measure_xray_users(results: dict, relay: str, links_file: Path, count: int) -> None:
    """count connections of lab-client held open through the entry node while one converge
    adds a user and another removes it again: connections dropped, Xray's PID, and the time
    from the start of the adding run to the new user's first request through a client built
    from the link that run writes."""
    log(f"xray users: {count} held connections, a user added and removed live (relay {relay})")
    users = json.loads(
        run(
            [
                "python3",
                "-c",
                "import json, sys, yaml; "
                "print(json.dumps(yaml.safe_load(open(sys.argv[1]))['lab_users_before']))",
                str(ROOT / "molecule/xray/host_vars/proxy-xray.yml"),
            ]
        )[0]
    )
    dexec(XRAY_CLIENT, "rm -f /root/uhold.json /root/uhold.stop /root/bench-new.*")
    # One at a time, each greeted by the echo server: about 1 s each, as the server speaks
    # first and each VLESS client hop (the test client, the entry node's pool outbound) waits
    # 500 ms for client data to send with its request header; 30 s allows for a busy host.
    hold = (
        f"exec python3 /usr/local/bin/tcp_clients.py hold --target 127.0.0.1:{XRAY_HOLD_PORT} "
        f"--host {XRAY_SITE} --count {count} --duration 900 --timeout 30 "
        "--state-file /root/uhold.json "
        "--stop-file /root/uhold.stop > /root/uhold.out 2>&1"
    )
    run(["docker", "exec", "-d", XRAY_CLIENT, "bash", "-c", hold])
    deadline = time.monotonic() + 60 + 3 * count
    while len(xray_hold_state().get("connections", [])) < count:
        if time.monotonic() > deadline:
            said = dexec(XRAY_CLIENT, "tail -3 /root/uhold.out", check=False).strip()
            raise SystemExit(f"[bench] {count} connections were never held: {said}")
        time.sleep(0.5)
    before = xray_held_dropped(time.time())
    if before != (0, count):
        log(f"xray users: before the change, {before[0]} of {before[1]} held connections broke")
    steps = {}
    for what, after in (("add", [*users, XRAY_NEW_USER]), ("remove", users)):
        pid = xray_pid()
        started, wall = time.monotonic(), time.time()
        proc = xray_users_run(links_file, after, relay)
        first = None
        if what == "add":
            # The new user's link, as soon as the run has written it; then a request through
            # a client built from it, retried every 0.2 s until one gets through.
            while XRAY_NEW_REMARK not in links_file.read_text():
                if proc[0].poll() is not None:
                    xray_users_finish(proc, what)
                    raise SystemExit(f"[bench] the add run wrote no link {XRAY_NEW_REMARK}")
                time.sleep(0.2)
            put_file(XRAY_CLIENT, "/root/bench-new.txt", links_file.read_text())
            got = dexec(
                XRAY_CLIENT,
                f"set -e; python3 /usr/local/bin/vless_client.py {XRAY_NEW_PORT}="
                f"@/root/bench-new.txt#{XRAY_NEW_REMARK} > /root/bench-new.json; "
                "setsid nohup /usr/local/bin/xray run -c /root/bench-new.json "
                "> /root/bench-new.log 2>&1 & echo $! > /root/bench-new.pid; "
                "end=$((SECONDS + 180)); "
                "until out=$(curl -sS --max-time 2 --socks5-hostname "
                f"127.0.0.1:{XRAY_NEW_PORT} http://{XRAY_SITE}/ 2>/dev/null) "
                "&& [[ $out == peer* ]]; do [ $SECONDS -lt $end ] || exit 1; sleep 0.2; done; "
                "date +%s.%N",
                timeout=240,
            ).split()
            first = float(got[-1]) - wall
        xray_users_finish(proc, what)
        seconds = time.monotonic() - started
        done = time.time()
        dropped, held = xray_held_dropped(done)
        kept = xray_pid() == pid
        log(
            f"xray users: {what} run {seconds:.1f} s, {dropped} of {held} held connections "
            f"dropped, PID {'kept' if kept else 'changed'}"
            + (f", first request of the new user {first:.1f} s after the start" if first else "")
        )
        steps[what] = {"dropped": dropped, "held": held, "kept": kept, "run": seconds}
        if first is not None:
            steps[what]["first"] = first
    refused = xclient(
        "socks-loop", f"--target 127.0.0.1:{XRAY_NEW_PORT} --host {XRAY_SITE} --count 3 --rate 0"
    )
    log(f"xray users: the removed user's new requests: {refused and refused['failed']} of 3 failed")
    dexec(XRAY_CLIENT, "touch /root/uhold.stop; kill $(cat /root/bench-new.pid) || true")
    results["xray_users"] = {"count": count, "relay": relay, **steps}


def measure_xray(results: dict, smoke: bool) -> None:
    """The Xray proxy node of the `xray` Molecule scenario (proxy, two backends, client,
    destination), once per relay transport: throughput and request rate through the entry
    node vs the direct hop to a backend per public transport, then failover; after the
    last one, a user added and removed live."""
    started = time.monotonic()
    pairs, bulk_bytes, count, parallel = (1, 8 << 20, 40, 4) if smoke else (5, 64 << 20, 200, 4)
    rounds, loop_count, loop_rate = (1, 60, 20) if smoke else (3, 240, 20)
    log("xray: molecule converge -s xray (proxy node, two backends, client, destination)")
    links: dict[str, str] = {}
    for relay in XRAY_RELAYS:
        deployed, paths = xray_converge(relay)
        if deployed != links:
            if links:
                log("xray: the printed links changed with the relay transport: client rebuilt")
                results["xray_links_changed"] = True
            xray_client_setup(deployed)
            links = deployed
        xray_client_ready()
        measure_xray_paths(results, relay, pairs, bulk_bytes, count, parallel)
        measure_xray_failover(results, relay, rounds, loop_count, loop_rate)
    measure_xray_users(results, XRAY_RELAYS[-1], Path(paths[XRAY_PROXY]), 20 if smoke else 100)
    results["xray_info"] = {
        "xray": " ".join(dexec(XRAY_PROXY, "/usr/local/bin/xray version").split()[:2]),
        "haproxy": " ".join(dexec(XRAY_PROXY, "haproxy -v").split()[:3]),
        "bulk_mib": bulk_bytes >> 20,
        "count": count,
        "parallel": parallel,
        "pairs": pairs,
        "loop_rate": loop_rate,
        "seconds": time.monotonic() - started,
    }


def xray_teardown() -> None:
    subprocess.run(
        ["molecule", "destroy", "-s", "xray"], cwd=ROOT, env=ENV, capture_output=True, timeout=600
    )


def measure_mtproxy(results: dict, smoke: bool) -> None:
    measure_converge(results, reruns=1 if smoke else 3)
    edge_ip = address(HOST)
    start_client(edge_ip)
    via, direct = f"{edge_ip}:443", "10.250.0.2:443"
    measure_held(results, via, 12 if smoke else 60)
    measure_ab(
        results,
        via,
        direct,
        pairs=1 if smoke else 7,
        bulk_bytes=(16 if smoke else 1024) << 20,
        conns=300 if smoke else 3000,
        parallel=8,
    )
    measure_failover(results, via, rounds=1 if smoke else 3, conns=200 if smoke else 600, rate=40)


# --- FakeTLS: the real mtprotoproxy with authenticated sessions ----------------------------


def faketls_secret() -> str:
    """The bench user's ee secret (from the FakeTLS inventory); never printed."""
    text = (ROOT / FAKETLS_INVENTORY).read_text()
    key = re.search(r"secret:\s*([0-9a-f]{32})", text).group(1)
    return "ee" + key + FAKETLS_DOMAIN.encode().hex()


def put_file(container: str, path: str, data: str) -> None:
    """Write data into container:path through stdin (it never shows on a command line)."""
    subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", f"umask 077; cat > {path}"],
        input=data,
        text=True,
        check=True,
        capture_output=True,
    )


def faketls_deploy(client_ip: str, *args: str) -> tuple[float, int]:
    extra = {
        "mtproxy_mask_host": client_ip,
        "mtproxy_container_env": {"LAB_UPSTREAM": f"{client_ip}:{SINK_PORT}"},
    }
    return playbook(
        "playbooks/deploy.yml", "-e", json.dumps(extra), *args, inventory=FAKETLS_INVENTORY
    )


def start_faketls_client() -> str:
    """The FakeTLS client container (A, and the sink every replica relays to); returns
    its address."""
    subprocess.run(["docker", "rm", "-f", FAKETLS_CLIENT], capture_output=True)
    run(
        [
            "docker",
            "run",
            "-d",
            "--pull",
            "never",
            "--name",
            FAKETLS_CLIENT,
            "--hostname",
            FAKETLS_CLIENT,
            "--user",
            "root",
            "--entrypoint",
            "sleep",
            "--sysctl",
            "net.ipv4.ip_local_port_range=1024 65535",
            "--sysctl",
            "net.ipv4.tcp_tw_reuse=1",
            "--network",
            NETWORK,
            FAKETLS_IMAGE,
            "infinity",
        ]
    )
    files = ROOT / "molecule/shared/files"
    secret = faketls_secret()
    for name in ("faketls_load.py", "mtproto_probe.py"):
        run(["docker", "cp", str(files / name), f"{FAKETLS_CLIENT}:/usr/local/bin/"])
    put_file(FAKETLS_CLIENT, "/root/ftl.secret", secret)
    # One sink for A and B: the replicas have one LAB_UPSTREAM.
    run(
        [
            "docker",
            "exec",
            "-d",
            FAKETLS_CLIENT,
            "python3",
            "/usr/local/bin/faketls_load.py",
            "sink",
            "--sink-port",
            str(SINK_PORT),
        ]
    )
    return address(FAKETLS_CLIENT)


def start_faketls_direct() -> None:
    """The direct client (B) on the bench host, in the image the deploy loaded there."""
    files = ROOT / "molecule/shared/files"
    dexec(HOST, "mkdir -p /root/ftl && chmod 700 /root/ftl")
    for name in ("faketls_load.py", "mtproto_probe.py"):
        run(["docker", "cp", str(files / name), f"{HOST}:/root/ftl/"])
    put_file(HOST, "/root/ftl/secret", faketls_secret())
    dexec(HOST, f"docker rm -f {FAKETLS_DIRECT} >/dev/null 2>&1 || true")
    dexec(
        HOST,
        f"docker run -d --pull never --name {FAKETLS_DIRECT} --network host --user root "
        f"--entrypoint sleep -v /root/ftl:/opt/ftl:ro {FAKETLS_IMAGE} infinity",
    )


def ftl(side: str, command: str, *args: str, timeout: float = 900) -> dict:
    """faketls_load.py: A in the FakeTLS client container through HAProxy, B on the bench
    host straight to replica mtproxy1 (its bridge address, no NAT, no docker-proxy)."""
    tail = " ".join(args)
    if side == "A":
        target = f"{address(HOST)}:443"
        line = (
            f'python3 /usr/local/bin/faketls_load.py {command} --proxy {target} --secret "$('
            f'cat /root/ftl.secret)" --no-sink {tail}'
        )
        out = dexec(FAKETLS_CLIENT, line, check=False, timeout=timeout)
    else:
        line = (
            f"python3 /opt/ftl/faketls_load.py {command} --proxy 10.250.0.2:443 "
            f'--secret "$(cat /opt/ftl/secret)" --no-sink {tail}'
        )
        out = dexec(HOST, f"docker exec {FAKETLS_DIRECT} sh -c '{line}'", False, timeout)
    lines = out.strip().splitlines()
    if not lines:
        raise SystemExit(f"[bench] faketls_load.py {command} ({side}) printed nothing")
    return json.loads(lines[-1])


def server_totals() -> dict[str, int]:
    """stot (sessions so far) of each server of the MTProxy backend."""
    totals = {}
    for line in admin("show stat").splitlines():
        fields = line.split(",")
        if (
            len(fields) > 17
            and fields[0] == "mtproxies"
            and fields[1] not in ("FRONTEND", "BACKEND")
        ):
            totals[fields[1]] = int(fields[7] or 0)
    return totals


def rss_kib(command: str) -> int:
    out = dexec(HOST, command + " | awk '/VmRSS/ {s += $2} END {print s + 0}'")
    return int(out.strip() or 0)


def haproxy_rss() -> int:
    return rss_kib("for p in $(pidof haproxy); do cat /proc/$p/status; done")


def replica_rss(names: list[str]) -> int:
    loop = " ".join(names)
    return rss_kib(
        f"for c in {loop}; do cat /proc/$(docker inspect -f '{{{{.State.Pid}}}}' $c)/status; done"
    )


def fd_limit(command: str) -> int:
    out = dexec(HOST, command + " | awk '/Max open files/ {print $4; exit}'").strip()
    return int(out) if out.isdigit() else 0


def measure_faketls(results: dict, smoke: bool) -> None:
    client_ip = start_faketls_client()
    log("faketls: redeploy the bench host with the lab's mtprotoproxy (FakeTLS on)")
    faketls_deploy(client_ip)
    start_faketls_direct()
    wait_states({"mtp1": "UP", "mtp2": "UP"})
    pairs = 1 if smoke else 5
    bulk_bytes = (16 if smoke else 256) << 20
    seconds = "2" if smoke else "8"

    log(f"faketls: {pairs} A/B pairs through HAProxy vs directly to mtproxy1")
    admin("set server mtproxies/mtp2 state maint")
    wait_states({"mtp1": "UP", "mtp2": "MAINT"})
    tput, rate, fails = {"A": [], "B": []}, {"A": [], "B": []}, 0
    for _ in range(pairs):
        for side in ("A", "B"):
            bulk = ftl(side, "bulk", "--bytes", str(bulk_bytes))
            tput[side].append(bulk.get("mbit_per_s", 0.0))
            fails += int(bulk.get("bytes", 0) != bulk_bytes)
            burst = ftl(side, "rate", "--seconds", seconds, "--parallel", "8")
            rate[side].append(burst["sessions_per_s"])
            fails += burst["failed"]
    admin("set server mtproxies/mtp2 state ready")
    wait_states({"mtp1": "UP", "mtp2": "UP"})
    results["ftl_bulk"] = (median(tput["A"]), median(tput["B"]), pairs)
    results["ftl_rate"] = (median(rate["A"]), median(rate["B"]), pairs, 8, fails)

    log(f"faketls: aggregate throughput, 2 vs 1 replicas ({pairs} pairs, --tags scale)")
    scaled = {1: [], 2: []}
    for _ in range(pairs):
        for replicas in (1, 2):
            faketls_deploy(client_ip, "--tags", "scale", "-e", f"mtproxy_replicas={replicas}")
            wait_states({f"mtp{i}": "UP" for i in range(1, replicas + 1)})
            bulk = ftl("A", "bulk", "--bytes", str(bulk_bytes // 4), "--streams", "8")
            scaled[replicas].append(bulk.get("mbit_per_s", 0.0))
    results["ftl_scale"] = (median(scaled[2]), median(scaled[1]), pairs)

    log(f"faketls: balance hash vs leastconn ({pairs} pairs)")
    balance = {"hash": [], "leastconn": []}
    spread = {"hash": [], "leastconn": []}
    for _ in range(pairs):
        for algorithm in ("leastconn", "hash"):
            faketls_deploy(client_ip, "--tags", "config", "-e", f"mtproxy_balance={algorithm}")
            wait_states({"mtp1": "UP", "mtp2": "UP"})
            before = server_totals()
            burst = ftl("A", "rate", "--seconds", seconds, "--parallel", "8")
            after = server_totals()
            counts = [after[name] - before.get(name, 0) for name in ("mtp1", "mtp2")]
            balance[algorithm].append(burst["sessions_per_s"])
            spread[algorithm].append(min(counts) / max(max(counts), 1))
    results["ftl_balance"] = {
        algorithm: (median(balance[algorithm]), median(spread[algorithm])) for algorithm in balance
    }
    results["ftl_balance_n"] = pairs

    measure_faketls_held(results, smoke)
    measure_faketls_failover(results, smoke)


def measure_faketls_held(results: dict, smoke: bool) -> None:
    """Held sessions across both replicas, as many as the open-files limits allow."""
    client_limit = int(dexec(FAKETLS_CLIENT, "ulimit -Hn").strip())
    haproxy_limit = fd_limit("cat /proc/$(pidof haproxy | awk '{print $1}')/limits")
    replica_limit = fd_limit("cat /proc/$(docker inspect -f '{{.State.Pid}}' mtproxy1)/limits")
    maxconn = 0
    for line in admin("show info").splitlines():
        if line.startswith("Maxconn:"):
            maxconn = int(line.split()[1])
    # A held session: 1 fd in the client, 1 in the sink, 2 in HAProxy (within its maxconn),
    # 2 in a replica (client side and upstream).
    allowed = min(client_limit, haproxy_limit // 2, maxconn, replica_limit)
    count = 200 if smoke else int(allowed * 0.9)
    log(
        f"faketls: {count} held sessions (limits: client {client_limit}, HAProxy {haproxy_limit}"
        f" fds / maxconn {maxconn}, replica {replica_limit})"
    )
    replicas = ["mtproxy1", "mtproxy2"]
    time.sleep(2)
    haproxy_before, replicas_before = haproxy_rss(), replica_rss(replicas)
    dexec(FAKETLS_CLIENT, "rm -f /root/ftl.ready /root/ftl.release /root/ftl.hold")
    line = (
        f"python3 /usr/local/bin/faketls_load.py hold --proxy {address(HOST)}:443 "
        f'--secret "$(cat /root/ftl.secret)" --no-sink --count {count} --parallel 32 '
        "--ready-file /root/ftl.ready --release-file /root/ftl.release --timeout 900 "
        "> /root/ftl.hold 2>&1"
    )
    run(["docker", "exec", "-d", FAKETLS_CLIENT, "bash", "-c", line])
    ready = json.loads(take_file(FAKETLS_CLIENT, "/root/ftl.ready", timeout=900))
    time.sleep(2)
    haproxy_during, replicas_during = haproxy_rss(), replica_rss(replicas)
    current = {}
    for row in admin("show stat").splitlines():
        fields = row.split(",")
        if len(fields) > 17 and fields[0] == "mtproxies" and fields[1] in ("mtp1", "mtp2"):
            current[fields[1]] = int(fields[4] or 0)
    time.sleep(5)
    dexec(FAKETLS_CLIENT, "touch /root/ftl.release")
    deadline = time.monotonic() + 600
    while not (out := dexec(FAKETLS_CLIENT, "cat /root/ftl.hold 2>/dev/null || true").strip()):
        if time.monotonic() > deadline:
            raise SystemExit("[bench] the FakeTLS hold never reported")
        time.sleep(0.5)
    held = json.loads(out.splitlines()[-1])
    per = max(ready["held"], 1)
    results["ftl_held"] = {
        "count": count,
        "held": held["held"],
        "survived": held["survived"],
        "dropped": held["dropped"] + (count - held["held"]),
        "limits": (client_limit, haproxy_limit, maxconn, replica_limit),
        "spread": current,
        "haproxy_kib": (haproxy_during - haproxy_before) / per,
        "replica_kib": (replicas_during - replicas_before) / per,
    }


def measure_faketls_failover(results: dict, smoke: bool) -> None:
    rounds, count, rate = (1, 120, 40) if smoke else (3, 600, 40)
    log(f"faketls failover: {rounds} rounds of {count} sessions at {rate}/s, mtproxy2 killed")
    target = f"{address(HOST)}:443"
    detections, failed, attempts, spans, kinds, after = [], 0, 0, 0, {}, 0
    for _ in range(rounds):
        wait_states({"mtp1": "UP", "mtp2": "UP"})
        dexec(FAKETLS_CLIENT, "rm -f /root/ftl.loop")
        line = (
            f"python3 /usr/local/bin/faketls_load.py loop --proxy {target} "
            f'--secret "$(cat /root/ftl.secret)" --no-sink --count {count} --rate {rate} '
            "--timeout 20 > /root/ftl.loop.tmp 2>&1; mv /root/ftl.loop.tmp /root/ftl.loop"
        )
        run(["docker", "exec", "-d", FAKETLS_CLIENT, "bash", "-c", line])
        killer = (
            f"sleep {count / rate / 3:.2f}; s=$(date +%s%N); docker kill mtproxy2 >/dev/null; "
            f"until echo 'show stat' | socat stdio {ADMIN} | cut -d, -f1,2,18 "
            "| grep -qx 'mtproxies,mtp2,DOWN'; do sleep 0.01; done; "
            "echo $s $(( ($(date +%s%N) - s) / 1000000 ))"
        )
        killed_ns, detect_ms = dexec(HOST, killer, timeout=300).split()
        detections.append(int(detect_ms) / 1000)
        summary = json.loads(take_file(FAKETLS_CLIENT, "/root/ftl.loop", timeout=900))
        failed += summary["failed"]
        attempts += summary["attempts"]
        for kind, number in summary["failure_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + number
        # A replica that dies loses the sessions it had already accepted (HAProxy redispatches
        # only connections that never reached it): a session started after the kill must not fail.
        after += sum(
            1
            for failure in summary["failures"]
            if failure.get("started_unix", 0) >= int(killed_ns) / 1e9
        )
        spans += summary["started_at"] < int(killed_ns) / 1e9 < summary["ended_at"]
        dexec(HOST, "docker start mtproxy2 >/dev/null")
    wait_states({"mtp1": "UP", "mtp2": "UP"})
    results["ftl_failover"] = (
        median(detections),
        max(detections),
        rounds,
        failed,
        attempts,
        spans,
        kinds,
        after,
    )


# --- report -------------------------------------------------------------------------


def detection_row(label: str, det_med: float, det_max: float, n: int, limit: float) -> tuple:
    """A failover detection row: met when even the slowest detection is within limit."""
    return (
        label,
        f"median {det_med:.3f} s, max {det_max:.3f} s",
        f"n={n}",
        f"<= {limit:g} s",
        "met" if det_max <= limit else "missed",
    )


def ratio_row(label: str, a: float, b: float, unit: str, n: int, goal: float) -> tuple:
    """An A/B ratio row (A through HAProxy, B direct): met when A/B reaches goal."""
    ratio = a / b if b else 0
    return (
        label,
        f"{ratio:.2f} ({a:.0f} / {b:.0f} {unit})",
        f"n={n} pairs",
        f">= {goal:.2f}",
        "met" if ratio >= goal else "missed",
    )


def faketls_rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    rows = []
    if "ftl_bulk" in results:
        a, b, n = results["ftl_bulk"]
        label = "FakeTLS bulk throughput (HAProxy+TPROXY / direct)"
        rows.append(ratio_row(label, a, b, "Mbit/s", n, 0.90))
    if "ftl_rate" in results:
        a, b, n, parallel, fails = results["ftl_rate"]
        ratio = a / b if b else 0
        rows.append(
            (
                f"FakeTLS handshake+relay rate, {parallel} clients (HAProxy / direct)",
                f"{ratio:.2f} ({a:.0f} / {b:.0f} sessions/s), {fails} failed",
                f"n={n} pairs",
                "report",
                "-",
            )
        )
    if "ftl_scale" in results:
        two, one, n = results["ftl_scale"]
        rows.append(
            (
                "FakeTLS aggregate throughput, 8 streams: 2 vs 1 replicas",
                f"{two / one if one else 0:.2f}x ({two:.0f} / {one:.0f} Mbit/s)",
                f"n={n} pairs",
                "report",
                "-",
            )
        )
    if "ftl_balance" in results:
        n = results["ftl_balance_n"]
        for algorithm, (rate, spread) in results["ftl_balance"].items():
            rows.append(
                (
                    f"FakeTLS balance {algorithm}: rate, spread (min/max stot)",
                    f"{rate:.0f} sessions/s, spread {spread:.2f}",
                    f"n={n} pairs",
                    "report",
                    "-",
                )
            )
    if "ftl_held" in results:
        held = results["ftl_held"]
        client, fds, maxconn, replica = held["limits"]
        spread = "/".join(str(v) for _, v in sorted(held["spread"].items()))
        rows.append(
            (
                "FakeTLS held sessions through HAProxy, dropped",
                f"{held['dropped']} of {held['count']} (per replica {spread})",
                f"n={held['count']}",
                "0",
                "met" if held["dropped"] == 0 and held["held"] == held["count"] else "missed",
            )
        )
        rows.append(
            (
                "FakeTLS held sessions: open-files limits",
                f"client {client}, HAProxy {fds} (maxconn {maxconn}), replica {replica}",
                "-",
                "report",
                "-",
            )
        )
        rows.append(
            (
                "FakeTLS memory per held session",
                f"HAProxy {held['haproxy_kib']:.1f} KiB, replica {held['replica_kib']:.1f} KiB",
                f"n={held['count']}",
                "report",
                "-",
            )
        )
    if "ftl_failover" in results:
        det_med, det_max, rounds, failed, attempts, spans, kinds, after = results["ftl_failover"]
        rows.append(
            detection_row("FakeTLS replica killed: detection", det_med, det_max, rounds, 0.5)
        )
        what = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        rows.append(
            (
                "FakeTLS failed sessions started after a replica was killed",
                f"{after} of {attempts}; in flight on the killed replica: {failed - after}"
                + (f" ({what})" if what else ""),
                f"n={rounds} rounds, {spans} spanning the kill",
                "0",
                "met" if after == 0 and spans == rounds else "missed",
            )
        )
    return rows


def xray_rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    """Per relay transport: throughput and request rate per public transport (entry node /
    direct hop to vpn1), then failover."""
    rows = []
    paths, failover = results.get("xray_paths", {}), results.get("xray_failover", {})
    if results.get("xray_links_changed"):
        # The public links must not depend on the relay leg; the client was rebuilt.
        label = "Xray printed links after switching the relay transport"
        rows.append((label, "changed", "n=1", "unchanged", "missed"))
    for relay in XRAY_RELAYS:
        for key, what, unit in (("tput", "throughput", "MB/s"), ("rate", "request rate", "req/s")):
            for public in XRAY_PUBLIC:
                if (relay, public) not in paths:
                    continue
                path = paths[(relay, public)]
                a, b = path[key]
                if key == "rate":
                    what = f"request rate, {path['parallel']} clients"
                result = f"{a / b if b else 0:.2f} ({a:.0f} / {b:.0f} {unit})"
                if key == "rate" or path["fails"]:
                    result += f", {path['fails']} failed"
                rows.append(
                    (
                        f"Xray {what}, public {public}, relay {relay} (entry / direct)",
                        result,
                        f"n={path['pairs']} pairs",
                        "report",
                        "-",
                    )
                )
        if relay in failover:
            f = failover[relay]
            label = f"Xray foreign-pool failover, relay {relay}"
            row = detection_row(f"{label}: detection", *f["detection"], f["rounds"], 1)
            # How HAProxy found out: HANA = live traffic (observe layer4), else its checks.
            how = ", ".join(f"{n} {k}" for k, n in sorted(f["reasons"].items()))
            rows.append((row[0], f"{row[1]} ({how})", *row[2:]))
            after, failed = sum(f["after"].values()), sum(f["failed"].values())
            per = ", ".join(f"{public} {n}" for public, n in f["after"].items())
            loops = f["rounds"] * len(f["attempts"])
            rows.append(
                (
                    f"{label}: failed requests",
                    f"{after} after detection ({failed} in all) of "
                    f"{sum(f['attempts'].values())} (after: {per})",
                    f"n={f['rounds']} rounds x {len(f['attempts'])} loops, {f['spans']} spanning",
                    "0 after detection",
                    "met" if after == 0 and f["spans"] == loops else "missed",
                )
            )
    users = results.get("xray_users")
    for what in ("add", "remove") if users else ():
        step = users[what]
        rows.append(
            (
                f"Xray user {what}: held connections dropped",
                f"{step['dropped']} of {step['held']}, PID {'kept' if step['kept'] else 'changed'}",
                f"n={step['held']}",
                "0",
                "met"
                if step["dropped"] == 0 and step["held"] == users["count"] and step["kept"]
                else "missed",
            )
        )
        if "first" in step:
            rows.append(
                (
                    "Xray user add: start of run to the new user's first request",
                    f"{step['first']:.1f} s (the run itself {step['run']:.1f} s)",
                    "n=1",
                    "report",
                    "-",
                )
            )
    return rows


def table(results: dict) -> list[tuple[str, str, str, str, str]]:
    rows = []
    if "failover" in results:
        det_med, det_max, rounds, failed, attempts, spans = results["failover"]
        rows.append(detection_row("failover detection", det_med, det_max, rounds, 0.5))
        rows.append(
            (
                "failed new connections during failover",
                f"{failed} of {attempts}",
                f"n={rounds} rounds, {spans} spanning the stop",
                "0",
                "met" if failed == 0 and spans == rounds else "missed",
            )
        )
    if "held" in results:
        for name, (dropped, total) in results["held"]:
            rows.append(
                (
                    f"held connections dropped by {name}",
                    f"{dropped} of {total}",
                    f"n={total}",
                    "0",
                    "met" if dropped == 0 and total > 0 else "missed",
                )
            )
    if "throughput" in results:
        a, b, n = results["throughput"]
        rows.append(
            ratio_row("data-path throughput (HAProxy+TPROXY / direct)", a, b, "MB/s", n, 0.70)
        )
    if "rate" in results:
        a, b, n, parallel = results["rate"]
        label = f"connection rate, {parallel} clients (HAProxy / direct)"
        rows.append(ratio_row(label, a, b, "conn/s", n, 0.80))
    for key, label, unit in (
        ("cpu_per_gb", "CPU time per GB (bulk), A vs B", "CPU s/GB"),
        ("cpu_per_kconn", "CPU time per 1000 connections, A vs B", "CPU s"),
    ):
        if key in results:
            a, b, n = results[key]
            rows.append(
                (
                    label,
                    f"A {a:.2f}, B {b:.2f} {unit} (B/A {b / a if a else 0:.2f})",
                    f"n={n} pairs",
                    "report",
                    "-",
                )
            )
    if "latency" in results:
        a50, a99, b50, b99, n = results["latency"]
        rows.append(
            (
                "time to first byte p50/p99, A vs B",
                f"A {a50:.2f}/{a99:.2f} ms, B {b50:.2f}/{b99:.2f} ms",
                f"n={n} pairs",
                "report",
                "-",
            )
        )
    rows += faketls_rows(results)
    for key, label in (
        ("converge_full", "converge: full deploy, fresh host"),
        ("converge_rerun", "converge: idempotent re-run"),
        ("converge_scale", "converge: --tags scale 2->3"),
    ):
        if key in results:
            seconds, changed, n = results[key]
            goal, verdict = "report", "-"
            if key == "converge_rerun":
                goal = "<= 15 s, 0 changed"
                verdict = "met" if seconds <= 15 and changed == 0 else "missed"
                label += " (median)"
            rows.append((label, f"{seconds:.1f} s, {changed} changed", f"n={n}", goal, verdict))
    rows += xray_rows(results)
    return rows


def render(rows: list[tuple[str, ...]]) -> str:
    header = ("what", "result", "samples", "goal", "verdict")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join(lines)


def versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            return (
                subprocess.run(cmd, capture_output=True, text=True, env=ENV)
                .stdout.strip()
                .splitlines()[0]
            )
        except (IndexError, OSError):
            return "?"

    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "machine": f"{os.cpu_count()} cores, {memory_gib:.0f} GiB, kernel {platform.release()}",
        "haproxy": first_line(["docker", "exec", HOST, "haproxy", "-v"]),
        "docker (lab host)": first_line(
            ["docker", "exec", HOST, "docker", "version", "-f", "{{.Server.Version}}"]
        ),
        "ansible-core": first_line(["ansible", "--version"]),
        "python": platform.python_version(),
    }


PARTS = ("mtproxy", "faketls", "xray")
# The first line of each part's paragraph in the notes under the table.
NOTE_START = {"mtproxy": "A = through HAProxy", "xray": "Xray:", "faketls": "FakeTLS:"}


def row_part(label: str) -> str:
    """The part (of PARTS) a row of the table comes from, by its label."""
    if label.startswith("Xray"):
        return "xray"
    return "faketls" if label.startswith("FakeTLS") else "mtproxy"


def notes(results: dict) -> dict[str, list[str]]:
    """The paragraph under the table that explains each part's rows."""
    mtproxy = [
        "A = through HAProxy (TPROXY on) at the lab host's address; B = directly to the",
        "same replica on the bridge (the other one is in maintenance while measuring).",
        "Pairs alternate A, B; medians are reported. Each failover round stops mtproxy2 a",
        "third into a 40/s loop of short connections and starts it again afterwards.",
        "The connection rate comes from 8 concurrent clients, the time to first byte",
        "from one client making one connection at a time.",
        "CPU time is the whole machine's busy time (all cores, every container and the",
        "kernel) while the client moved the data or made the connections: when both",
        "cores are busy, the A/B ratio of throughput or rate cannot exceed B/A of it.",
    ]
    faketls = [
        "FakeTLS: the bench host redeployed with the lab's mtprotoproxy 1.0.6",
        "(lab/bench-faketls-inventory.yml); every session is a FakeTLS handshake whose",
        "HMAC the client checks, then a packet relayed to a sink in the client container",
        "(the replicas' LAB_UPSTREAM) and answered back through the proxy. A runs in that",
        "client container through HAProxy; B runs on the bench host in the same image,",
        "straight to mtproxy1's bridge address (no docker-proxy, no NAT), with mtp2 in",
        "maintenance. 2 vs 1 replicas: --tags scale, 8 streams through HAProxy; each",
        "replica is one Python process limited to one CPU, and the 2 cores also run",
        "HAProxy, the client and the sink, so 2 replicas cannot double the throughput.",
        "Balance: --tags config with mtproxy_balance, spread = min/max of the servers'",
        "stot deltas. Held sessions: 90% of the smallest open-files budget (client and",
        "sink 1 fd each, HAProxy 2 within maxconn, a replica 2), memory = RSS delta per",
        "held session. The kill rounds `docker kill` mtproxy2 a third into a 40/s loop.",
    ]
    info = results.get("xray_info", {})
    xray = (
        "Xray: the `xray` Molecule scenario (a proxy node, two foreign backends vpn1 and vpn2, "
        "a client whose Xray is built from the printed links, a destination), converged once "
        f"per relay transport ({', '.join(XRAY_RELAYS)}: -e xray_relay_transport=...; the "
        "public links stay the same). Entry = client -> the proxy's public inbound -> HAProxy "
        "-> vpn1's relay inbound -> destination, with vpn2 in maintenance on the proxy; "
        "direct = client -> vpn1's own inbound for direct users, same public transport -> "
        "destination. Throughput ratio = MB/s of one download of "
        f"{info.get('bulk_mib', '?')} MiB from {XRAY_SITE} through the entry node / the same "
        "download over the direct hop. Request-rate ratio = small GETs per second "
        f"({info.get('count', '?')} per sample, {info.get('parallel', '?')} workers, a new "
        "SOCKS connection each: with tcp-vision a new TLS connection to the node, with xhttp a "
        "new stream that Xray multiplexes over its connections) through the entry node / over "
        f"the direct hop. Entry and direct alternate, {info.get('pairs', '?')} pairs, medians; "
        "every process of both paths shares the machine's 2 cores. Each failover round stops "
        "Xray on vpn1 a third into two loops of requests through the proxy (one per public "
        f"transport, {info.get('loop_rate', '?')}/s each, a new connection each); detection "
        "counts from the start of `systemctl stop` to DOWN on the proxy's admin socket; in "
        "brackets, how HAProxy found out (its check_status then: HANA = a failed connect of "
        "live traffic, observe layer4; L4CON, L4TOUT, ... = its health checks). "
        "User change (relay leg as last deployed): "
        f"{results.get('xray_users', {}).get('count', '?')} connections of lab-client held "
        "open through the entry node (tcp-vision, to the destination's echo port, an echo a "
        "second) while one `ansible-playbook molecule/xray/converge.yml --limit proxy-xray` "
        "adds a user (bench-new, a fixed id) and a second one removes it again, both applied "
        "live; dropped = connections that broke or passed no echo after the run; PID = Xray's "
        "MainPID before and after. The first request: from the start of the adding run until "
        "a GET through a client built from the link it wrote (the links file polled, the "
        "request retried every 0.2 s) gets through; in brackets, the run's own duration. "
        f"{info.get('xray', 'Xray ?')}, {info.get('haproxy', 'HAProxy ?')} on the proxy node; "
        f"the xray part took {info.get('seconds', 0) / 60:.1f} min."
    )
    return {"mtproxy": mtproxy, "xray": textwrap.wrap(xray, 88), "faketls": faketls}


def merge_report(text: str, rows: list[tuple[str, ...]], parts: set[str], blocks: dict) -> str:
    """text (a report of an earlier run) with the rows and the notes of parts replaced by
    this run's; everything else stays."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("| what "))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    old = [
        tuple(c.strip() for c in line.strip()[1:-1].split("|")) for line in lines[start + 2 : end]
    ]
    merged, placed = [], set()
    for row in old:
        part = row_part(row[0])
        if part not in parts:
            merged.append(row)
        elif part not in placed:
            merged += [r for r in rows if row_part(r[0]) == part]
            placed.add(part)
    merged += [r for r in rows if row_part(r[0]) not in placed]
    lines[start:end] = render(merged).split("\n")
    today = datetime.date.today().isoformat()
    for part in sorted(parts):
        block = [*blocks[part], f"These rows: `scripts/bench.py --parts {part}`, {today}."]
        first = next((i for i, line in enumerate(lines) if line.startswith(NOTE_START[part])), None)
        if first is None:
            while lines and not lines[-1].strip():
                lines.pop()
            lines += ["", *block, ""]
            continue
        last = first + 1
        while (
            last < len(lines)
            and lines[last].strip()
            and not lines[last].startswith(tuple(NOTE_START.values()))
        ):
            last += 1
        if first > 0 and lines[first - 1].strip():
            block = ["", *block]
        if last < len(lines) and lines[last].strip():
            block = [*block, ""]
        lines[first:last] = block
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds of each measurement")
    parser.add_argument("--keep", action="store_true", help="leave the bench containers running")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="comma-separated: mtproxy (the MTProxy stack), faketls (the MTProxy stack with "
        "the real mtprotoproxy and FakeTLS sessions), xray (the Xray proxy node). With some "
        "of them, only their rows and notes in --output are replaced.",
    )
    args = parser.parse_args()
    smoke = args.smoke
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts: {', '.join(sorted(parts - set(PARTS)))}")
    # The bench host and its clients: only when a part uses them (the xray part runs on the
    # Molecule scenario's containers alone).
    bench_host = bool(parts & {"mtproxy", "faketls"})
    results: dict = {}
    if bench_host:
        teardown()
    try:
        if "mtproxy" in parts:
            measure_mtproxy(results, smoke)
        if "faketls" in parts:
            if "mtproxy" not in parts:
                log("faketls: bring up the bench host")
                playbook("lab/up.yml", "-e", LAB_HOST_VARS)
            measure_faketls(results, smoke)
        if "xray" in parts:
            xray_teardown()
            try:
                measure_xray(results, smoke)
            finally:
                if not args.keep:
                    xray_teardown()
        rows = table(results)

        report = render(rows)
        print(report)
        output = Path(args.output)
        if not smoke and parts != set(PARTS) and output.exists():
            blocks = notes(results)
            output.write_text(merge_report(output.read_text(), rows, parts, blocks))
            log(f"written the rows and notes of {', '.join(sorted(parts))} into {output}")
        elif not smoke:
            info = versions()
            text = [
                "# Benchmarks",
                "",
                f"`make bench`, {datetime.date.today().isoformat()}.",
                "",
                report,
                "",
                "| | |",
                "|---|---|",
            ]
            text += [f"| {k} | {v} |" for k, v in info.items()]
            blocks = notes(results)
            for part in ("mtproxy", "xray", "faketls"):
                text += ["", *blocks[part]]
            text += [""]
            output.parent.mkdir(parents=True, exist_ok=True)
            output.write_text("\n".join(text))
            log(f"written {output}")
    finally:
        if bench_host and not args.keep:
            teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
