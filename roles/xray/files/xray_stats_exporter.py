# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-user traffic of Xray for node-exporter's textfile collector.

    python3 -I xray_stats_exporter.py --xray /usr/local/bin/xray --server 127.0.0.1:10085 \\
        --output /var/lib/edgerelay-xray-stats/edgerelay_xray_users.prom

Run once per tick of edgerelay-xray-stats.timer. Asks Xray's StatsService (loopback) with
``xray api statsquery -pattern 'user>>>'`` for the counters ``user>>>NAME>>>traffic>>>uplink``
and ``...>>>downlink`` and writes them, atomically (temporary file and rename), as

    edgerelay_xray_user_uplink_bytes_total{user="NAME"} BYTES
    edgerelay_xray_user_downlink_bytes_total{user="NAME"} BYTES
    edgerelay_xray_stats_up 1
    edgerelay_xray_stats_skipped_users 0

The counters are Xray's own, cumulative since Xray started: they are never reset here
(Prometheus handles the drop when Xray restarts). NAME is the client's ``email`` field, the
only user identifier that ever reaches a metric: a name that is not a safe label value (empty,
longer than 64 characters, whitespace or control characters) or that looks like a UUID is left
out and only counted. When the API does not answer, the file says ``edgerelay_xray_stats_up 0``
and holds no user series at all (no zeros, which would read as a counter reset).

Standard library only: it runs with the node's python3, as an unprivileged user.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

UPLINK = "edgerelay_xray_user_uplink_bytes_total"
DOWNLINK = "edgerelay_xray_user_downlink_bytes_total"
UP = "edgerelay_xray_stats_up"
SKIPPED = "edgerelay_xray_stats_skipped_users"

HELP = {
    UP: ("gauge", "1 if Xray's stats API answered the last query, else 0."),
    SKIPPED: (
        "gauge",
        "Users left out of the per-user metrics: their name is not a safe label value "
        "or looks like a UUID.",
    ),
    UPLINK: (
        "counter",
        "Bytes the user sent through Xray (client to destination) since Xray started.",
    ),
    DOWNLINK: (
        "counter",
        "Bytes Xray sent to the user (destination to client) since Xray started.",
    ),
}
DIRECTIONS = {"uplink": UPLINK, "downlink": DOWNLINK}

MAX_NAME_LENGTH = 64
# A UUID in any spelling: 32 hex digits once the separators a name may carry are removed
# (8-4-4-4-12 with dashes, underscores, dots..., or none).
_SEPARATORS = re.compile(r"[\s\-_.:@+{}()\[\]/\\\"']")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32}")


def looks_like_uuid(text: str) -> bool:
    """True when ``text`` holds 32 hex digits in a row, separators not counted."""
    return bool(_HEX_RUN.search(_SEPARATORS.sub("", text)))


def safe_name(name: str) -> bool:
    """A name that may become a label value: 1 to 64 printable characters, no whitespace,
    nothing that looks like a UUID."""
    return (
        0 < len(name) <= MAX_NAME_LENGTH
        and name.isprintable()
        and not any(character.isspace() for character in name)
        and not looks_like_uuid(name)
    )


def escape_label_value(value: str) -> str:
    r"""A label value in the text exposition format: \ " and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _counter_value(raw) -> int | None:
    """Xray prints an int64 as a JSON number (a string in proto3's JSON mapping; both taken);
    a counter at zero has no "value" at all."""
    if raw is None:
        return 0
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw if raw >= 0 else None
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        return int(raw)
    return None


def parse_statsquery(text: str) -> tuple[dict[str, dict[str, int]], int]:
    """``({name: {"uplink": bytes, "downlink": bytes}}, number of names left out)`` from the
    JSON that ``xray api statsquery`` prints. ValueError when it is not that JSON."""
    document = json.loads(text) if text.strip() else {}
    if not isinstance(document, dict):
        raise ValueError("statsquery printed no JSON object")
    stats = document.get("stat", [])
    if not isinstance(stats, list):
        raise ValueError('statsquery printed no "stat" list')
    users: dict[str, dict[str, int]] = {}
    skipped: set[str] = set()
    for entry in stats:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        parts = entry["name"].split(">>>")
        # user>>>NAME>>>traffic>>>uplink|downlink; other user counters (online...) are not ours.
        if len(parts) != 4 or parts[0] != "user" or parts[2] != "traffic":
            continue
        name, direction = parts[1], parts[3]
        if direction not in DIRECTIONS:
            continue
        if not safe_name(name):
            skipped.add(name)
            continue
        value = _counter_value(entry.get("value"))
        if value is not None:
            users.setdefault(name, {})[direction] = value
    return users, len(skipped)


def _family(name: str, samples: list[str]) -> list[str]:
    kind, help_text = HELP[name]
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render(users: dict[str, dict[str, int]] | None, skipped: int = 0) -> str:
    """The textfile: ``users`` None means the API did not answer (stats_up 0, no user series)."""
    lines = _family(UP, [f"{UP} {0 if users is None else 1}"])
    if users is not None:
        lines += _family(SKIPPED, [f"{SKIPPED} {skipped}"])
        for direction, metric in DIRECTIONS.items():
            samples = [
                f'{metric}{{user="{escape_label_value(name)}"}} {counters[direction]}'
                for name, counters in sorted(users.items())
                if direction in counters and safe_name(name)
            ]
            # A family without samples is left out altogether (no bare HELP/TYPE lines).
            if samples:
                lines += _family(metric, samples)
    return "\n".join(lines) + "\n"


def query(xray: str, server: str, timeout: int) -> str:
    """The output of ``xray api statsquery``; OSError or RuntimeError when it fails."""
    command = [xray, "api", "statsquery", f"--server={server}", "-pattern", "user>>>"]
    try:
        completed = subprocess.run(
            [*command, "-timeout", str(timeout)],
            capture_output=True,
            text=True,
            timeout=timeout + 5,
            check=False,
            env={"PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"no answer within {timeout + 5} s") from exc
    if completed.returncode != 0:
        message = (completed.stderr or completed.stdout).strip().splitlines()
        raise RuntimeError(f"exit {completed.returncode}: {message[-1] if message else ''}")
    return completed.stdout


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to a hidden temporary file next to ``path`` (its name does not end in
    .prom, so node-exporter never reads it half written), then rename it over ``path``."""
    directory, base = os.path.split(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        # node-exporter (user prometheus) reads it; nothing in it is secret.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _redact(text: str) -> str:
    """A log line without anything that looks like a UUID."""
    return " ".join("<redacted>" if looks_like_uuid(word) else word for word in text.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xray", default="/usr/local/bin/xray", help="the Xray binary")
    parser.add_argument("--server", default="127.0.0.1:10085", help="host:port of Xray's API")
    parser.add_argument("--output", required=True, help="the .prom file to write")
    parser.add_argument("--timeout", type=int, default=5, help="seconds for the API call")
    args = parser.parse_args(argv)

    try:
        users, skipped = parse_statsquery(query(args.xray, args.server, args.timeout))
    except (OSError, RuntimeError, ValueError) as exc:
        print(_redact(f"Xray stats API {args.server}: {exc}"), file=sys.stderr)
        users, skipped = None, 0
    write_atomically(args.output, render(users, skipped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
