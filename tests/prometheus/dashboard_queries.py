# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The queries of a Grafana dashboard, checked against promtool or a live Prometheus.

  dashboard_queries.py --dashboard D emit-rules FILE
      writes every panel query as a recording rule, so that "promtool check rules FILE"
      parses each one with Prometheus' own parser.
  dashboard_queries.py --dashboard D query --url http://127.0.0.1:9090 [--wait 60]
                                            [--require xray ...]
      runs every panel query and every label_values() variable query against a live
      Prometheus; exits 1 unless each one returns data (retrying up to --wait seconds).
      A query that reads the metrics of a component (HAProxy, the Xray user exporter) must
      return data wherever that component is deployed, i.e. where its presence query
      answers; where it is not (the Xray panel on an MTProxy host, HAProxy panels on an Xray
      backend) the query is listed as skipped. --require COMPONENT: its absence fails too.

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
# Components whose metrics only some hosts have: (the metrics of a query that need it, the
# query that has a result wherever it is deployed). node-exporter's metrics are everywhere.
COMPONENTS = {
    "haproxy": (
        re.compile(r'(?<![\w:])(?:edgerelay_)?haproxy_\w+|job="haproxy"'),
        'up{job="haproxy"}',
    ),
    "xray": (
        re.compile(r"(?<![\w:])edgerelay_xray_\w+"),
        "edgerelay_xray_stats_up",
    ),
}


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


def components(expr: str) -> set[str]:
    """The components (COMPONENTS) whose metrics ``expr`` reads."""
    return {name for name, (metrics, _) in COMPONENTS.items() if metrics.search(expr)}


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


def _query(base_url: str, expr: str) -> list:
    body = _get(f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    return body["data"]["result"]


def deployed_components(base_url: str) -> set[str]:
    """The components whose presence query has a result in the live Prometheus."""
    return {name for name, (_, presence) in COMPONENTS.items() if _query(base_url, presence)}


def run_queries(
    dashboard: dict, base_url: str, deployed: set[str] | None = None
) -> list[tuple[str, int | None]]:
    """(description, number of series or values) of every query, against a live Prometheus;
    None instead of a number for a query whose component is not ``deployed`` there (by
    default: as its presence query says)."""
    if deployed is None:
        deployed = deployed_components(base_url)
    results: list[tuple[str, int | None]] = []
    for title, ref_id, expr in panel_queries(dashboard):
        what = f"panel {title!r} [{ref_id}]: {expr}"
        missing = sorted(components(expr) - deployed)
        if missing:
            results.append((f"{what} (no {', '.join(missing)} here)", None))
            continue
        results.append((what, len(_query(base_url, expr))))
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
    query.add_argument(
        "--require",
        action="append",
        default=[],
        choices=sorted(COMPONENTS),
        help="a component that must be deployed (its queries are never skipped)",
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

    base_url = args.url.rstrip("/")
    deadline = time.monotonic() + args.wait
    while True:
        deployed = deployed_components(base_url)
        absent = sorted(set(args.require) - deployed)
        results = run_queries(dashboard, base_url, deployed)
        empty = [what for what, count in results if count == 0]
        if (not empty and not absent) or time.monotonic() >= deadline:
            break
        time.sleep(2)
    for what, count in results:
        if count is None:
            print(f"skip      {what}")
        else:
            print(f"{'ok   ' if count else 'EMPTY'} {count:3d} {what}")
    for name in absent:
        print(f"required component {name} is not deployed: {COMPONENTS[name][1]} has no result")
    checked = [count for _, count in results if count is not None]
    if empty or absent:
        print(
            f"{len(empty)} of {len(checked)} dashboard queries returned no data"
            + (f"; missing: {', '.join(absent)}" if absent else ""),
            file=sys.stderr,
        )
        return 1
    skipped = len(results) - len(checked)
    print(
        f"all {len(checked)} dashboard queries returned data"
        + (f" ({skipped} skipped: component not deployed here)" if skipped else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
