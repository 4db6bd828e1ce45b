#!/usr/bin/env python3
# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until an alert reaches a state in Prometheus (or Alertmanager) and print how long it took.

  alert_watch.py --alert EdgerelayBackendPoolDegraded --match proxy=mtproxies --state firing
  alert_watch.py --alert EdgerelayBackendPoolDegraded --state gone
  alert_watch.py --source alertmanager --url http://127.0.0.1:9093 --alert X --state active

Prints one JSON object: alert, state, seconds (since the start of this command), labels.
Exits 1 when the state is not reached within --timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request


def alerts(source: str, url: str) -> list[dict]:
    """[{labels, state}] of the alerts in Prometheus (pending/firing) or Alertmanager (active)."""
    if source == "prometheus":
        with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as response:
            body = json.load(response)
        return [{"labels": a["labels"], "state": a["state"]} for a in body["data"]["alerts"]]
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        body = json.load(response)
    return [{"labels": a["labels"], "state": a["status"]["state"]} for a in body]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", choices=["prometheus", "alertmanager"], default="prometheus")
    parser.add_argument("--url", default="http://127.0.0.1:9090")
    parser.add_argument("--alert", required=True)
    parser.add_argument(
        "--match", action="append", default=[], help="label=value the alert must carry"
    )
    parser.add_argument("--state", required=True, help="pending, firing, active, ... or gone")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    wanted = dict(item.split("=", 1) for item in args.match)
    wanted["alertname"] = args.alert

    start = time.monotonic()
    while True:
        matching = [
            a
            for a in alerts(args.source, args.url)
            if all(a["labels"].get(k) == v for k, v in wanted.items())
        ]
        elapsed = round(time.monotonic() - start, 2)
        if args.state == "gone" and not matching:
            print(json.dumps({"alert": args.alert, "state": "gone", "seconds": elapsed}))
            return 0
        for alert in matching:
            if alert["state"] == args.state:
                print(
                    json.dumps(
                        {
                            "alert": args.alert,
                            "state": args.state,
                            "seconds": elapsed,
                            "labels": alert["labels"],
                        }
                    )
                )
                return 0
        if elapsed >= args.timeout:
            print(
                f"{args.alert} {wanted} not {args.state} after {elapsed}s; now: {matching}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.25)


if __name__ == "__main__":
    sys.exit(main())
