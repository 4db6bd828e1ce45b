# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The queries of a Grafana dashboard, checked against promtool or a live Prometheus.

  dashboard_queries.py --dashboard D emit-rules FILE
      writes every panel query as a recording rule, so that "promtool check rules FILE"
      parses each one with Prometheus' own parser.
  dashboard_queries.py --dashboard D query --url http://127.0.0.1:9090 [--wait 60]
      runs every panel query and every label_values() variable query against a live
      Prometheus; exits 1 unless each one returns data (retrying up to --wait seconds).

Grafana's variables are replaced the way Grafana would for "All": $host -> .*, and
$__rate_interval -> 1m. Standard library only: it also runs on the lab hosts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request

# What Grafana puts in place of its built-in and "All" variables.
DEFAULT_VALUES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$")


def panels(dashboard: dict):
    """Every panel, including those inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variable_values(dashboard: dict) -> dict:
    values = dict(DEFAULT_VALUES)
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            values[variable["name"]] = variable.get("allValue") or ".*"
    return values


def substitute(expr: str, values: dict) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return VARIABLE.sub(replace, expr)


def panel_queries(dashboard: dict) -> list[tuple[str, str, str]]:
    """(panel title, refId, expression with variables replaced) of every panel target."""
    values = variable_values(dashboard)
    queries = []
    for panel in panels(dashboard):
        if panel.get("type") == "row":
            continue
        for target in panel.get("targets", []):
            queries.append((panel["title"], target["refId"], substitute(target["expr"], values)))
    return queries


def variable_queries(dashboard: dict) -> list[tuple[str, str | None, str]]:
    """(variable name, series selector or None, label) of every label_values() variable."""
    found = []
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = LABEL_VALUES.match(text)
        if not match:
            raise ValueError(
                f"variable {variable['name']}: only label_values() is supported, got {text!r}"
            )
        found.append((variable["name"], match.group(1), match.group(2)))
    return found


def recording_rules(dashboard: dict) -> dict:
    rules = []
    for index, (title, ref_id, expr) in enumerate(panel_queries(dashboard)):
        rules.append(
            {
                "record": f"dashboard:query_{index}_{ref_id}",
                "expr": expr,
                "labels": {"panel": title},
            }
        )
    return {"groups": [{"name": "dashboard-queries", "rules": rules}]}


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def run_queries(dashboard: dict, base_url: str) -> list[tuple[str, int]]:
    """(description, number of series or values) of every query, against a live Prometheus."""
    results = []
    for title, ref_id, expr in panel_queries(dashboard):
        body = _get(f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if body.get("status") != "success":
            raise RuntimeError(f"{title} [{ref_id}]: {body}")
        results.append((f"panel {title!r} [{ref_id}]: {expr}", len(body["data"]["result"])))
    for name, selector, label in variable_queries(dashboard):
        params = {"match[]": selector} if selector else {}
        url = f"{base_url}/api/v1/label/{label}/values"
        body = _get(url + ("?" + urllib.parse.urlencode(params) if params else ""))
        results.append((f"variable ${name}: label_values({selector}, {label})", len(body["data"])))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dashboard", required=True)
    commands = parser.add_subparsers(dest="command", required=True)
    emit = commands.add_parser("emit-rules")
    emit.add_argument("path")
    query = commands.add_parser("query")
    query.add_argument("--url", default="http://127.0.0.1:9090")
    query.add_argument(
        "--wait", type=float, default=0.0, help="retry this many seconds until all return data"
    )
    args = parser.parse_args(argv)

    with open(args.dashboard, encoding="utf-8") as handle:
        dashboard = json.load(handle)

    if args.command == "emit-rules":
        # JSON is valid YAML: promtool reads it as a rules file.
        with open(args.path, "w", encoding="utf-8") as handle:
            json.dump(recording_rules(dashboard), handle, indent=2)
        print(f"{len(panel_queries(dashboard))} panel queries written to {args.path}")
        return 0

    deadline = time.monotonic() + args.wait
    while True:
        results = run_queries(dashboard, args.url.rstrip("/"))
        empty = [what for what, count in results if count == 0]
        if not empty or time.monotonic() >= deadline:
            break
        time.sleep(2)
    for what, count in results:
        print(f"{'ok   ' if count else 'EMPTY'} {count:3d} {what}")
    if empty:
        print(f"{len(empty)} of {len(results)} dashboard queries returned no data", file=sys.stderr)
        return 1
    print(f"all {len(results)} dashboard queries returned data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
