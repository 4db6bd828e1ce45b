#!/usr/bin/env python3
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""lab-xray-fetch: try the Xray lab's printed links from its client container.

    docker exec edgerelay-lab-xray-client lab-xray-fetch [LINKS_FILE]

Builds an Xray client config from the proxy node's links file alone (vless_client.py: one
SOCKS port per link, 1080, 1081, ... in the file's order), (re)starts the Xray client with it,
then fetches through each link a foreign page (http://site.lab.example/) and a local one
(http://site.lab.ru/) with curl. The lab destination answers with the address it saw; that
address is mapped to the lab host names (LAB_XRAY_HOSTS, set by lab/up.yml). The ru preset
sends foreign pages out through a backend and local ones out of the proxy node: the exit
status is 1 when a fetch fails or leaves from elsewhere. The Xray client keeps running.
Standard library only; lab/up.yml mounts it as /usr/local/bin/lab-xray-fetch.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

XRAY = "/usr/local/bin/xray"
VLESS_CLIENT = "/usr/local/bin/vless_client.py"
STATE = Path("/tmp/lab-xray-client")
BASE_PORT = 1080
# (URL, what it is, the kind of host it must leave from)
PAGES = [
    ("http://site.lab.example/", "foreign", "backend"),
    ("http://site.lab.ru/", "local", "proxy"),
]
KIND_NAMES = {"proxy": "the proxy node", "backend": "a backend"}


def lab_hosts() -> dict[str, tuple[str, str]]:
    """LAB_XRAY_HOSTS ("ip=name=kind ...") as {ip: (name, kind)}."""
    hosts = {}
    for entry in os.environ.get("LAB_XRAY_HOSTS", "").split():
        address, name, kind = entry.split("=", 2)
        hosts[address] = (name, kind)
    return hosts


def remarks(links_file: Path) -> list[str]:
    lines = links_file.read_text(encoding="utf-8").splitlines()
    return [
        unquote(urlsplit(line.strip()).fragment) for line in lines if line.startswith("vless://")
    ]


def stop_previous_client() -> None:
    """Stop the Xray client a previous run started (by its pid, if it is still Xray)."""
    try:
        pid = int((STATE / "xray.pid").read_text())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return
    if comm != "xray":
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists() or "Z" in _proc_state(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def wait_for_port(port: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def main(argv: list[str]) -> int:
    proxy = os.environ.get("LAB_XRAY_PROXY", "edgerelay-lab-xray-proxy")
    links_file = Path(argv[1] if len(argv) > 1 else f"/links/{proxy}.txt")
    hosts = lab_hosts()
    names = remarks(links_file)
    if not names:
        print(f"lab-xray-fetch: no vless:// links in {links_file}", file=sys.stderr)
        return 2
    ports = [BASE_PORT + index for index in range(len(names))]

    STATE.mkdir(mode=0o700, exist_ok=True)
    config = STATE / "client.json"
    mapping = [f"{port}=@{links_file}#{name}" for port, name in zip(ports, names, strict=True)]
    with config.open("w", encoding="utf-8") as out:
        subprocess.run([VLESS_CLIENT, *mapping], stdout=out, check=True)
    stop_previous_client()
    with (STATE / "xray.log").open("ab") as log:
        xray = subprocess.Popen(
            [XRAY, "run", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    (STATE / "xray.pid").write_text(f"{xray.pid}\n")
    if not all(wait_for_port(port) for port in ports):
        print(f"lab-xray-fetch: the Xray client did not open its ports; see {STATE}/xray.log")
        return 1
    socks = [f"SOCKS 127.0.0.1:{port} -> {name}" for port, name in zip(ports, names, strict=True)]
    print(f"Xray client (pid {xray.pid}) built from {links_file} alone: " + ", ".join(socks))

    width = max(len(name) for name in names)
    failures = 0
    for port, name in zip(ports, names, strict=True):
        for url, what, want in PAGES:
            result = subprocess.run(
                ["curl", "-sS", "--max-time", "10", "--socks5-hostname", f"127.0.0.1:{port}", url],
                capture_output=True,
                text=True,
                check=False,
            )
            words = result.stdout.split()
            if result.returncode != 0 or len(words) < 2 or words[0] != "peer":
                why = (result.stderr or result.stdout).strip() or f"rc {result.returncode}"
                seen = f"FAILED ({why})"
                ok = False
            else:
                host, kind = hosts.get(words[1], ("an unknown host", "?"))
                seen = f"left from {host} ({words[1]}, {KIND_NAMES.get(kind, kind)})"
                ok = kind == want
            failures += not ok
            verdict = "ok" if ok else f"UNEXPECTED: must leave from {KIND_NAMES[want]}"
            print(f"  {name:<{width}}  {what:<7} {url:<25} {seen}  {verdict}")

    total = len(names) * len(PAGES)
    if failures:
        print(f"{failures} of {total} fetches did not leave where the ru preset sends them.")
        return 1
    print(
        f"All {total} fetches left where the ru preset sends them: foreign pages from a backend, "
        "local pages from the proxy node."
    )
    print(
        f"The Xray client keeps running, e.g. docker exec {socket.gethostname()} "
        f"curl -sS --socks5-hostname 127.0.0.1:{ports[0]} http://site.lab.example/"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
