# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped Grafana dashboard "Proxy HA Overview" and the helper that checks its queries."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import REPO_ROOT, load_module

DASHBOARD = REPO_ROOT / "roles" / "monitoring" / "files" / "grafana" / "proxy-ha-overview.json"
RULES = REPO_ROOT / "roles" / "monitoring" / "templates" / "edgerelay.rules.yml.j2"

dq = load_module("tests/prometheus/dashboard_queries.py")


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_title_uid_and_unique_panel_ids(dashboard):
    assert dashboard["title"] == "Proxy HA Overview"
    assert dashboard["uid"] == "edgerelay-proxy-ha"
    ids = [panel["id"] for panel in dq.panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_every_panel_queries_the_selected_data_source(dashboard):
    for panel in dq.panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
            assert target["expr"].strip()


def test_panels_do_not_overlap(dashboard):
    cells = set()
    for panel in dq.panels(dashboard):
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel at {(x, y)}"
                cells.add((x, y))
        assert grid["x"] + grid["w"] <= 24


@pytest.mark.parametrize(
    "metric",
    [
        "haproxy_backend_active_servers",  # backend status
        "haproxy_server_status",  # server status
        "haproxy_server_current_sessions",  # sessions
        "haproxy_backend_sessions_total",  # rates
        "haproxy_backend_bytes_in_total",  # bytes
        "haproxy_server_check_up_down_total",  # health-check transitions
        "node_load1",  # node load
    ],
)
def test_the_issue_topics_are_on_the_dashboard(dashboard, metric):
    assert any(metric in expr for _, _, expr in dq.panel_queries(dashboard))


def test_no_metric_name_the_built_in_exporter_lacks(dashboard):
    # HAProxy's built-in exporter has no haproxy_backend_up / haproxy_up (haproxy_exporter names).
    exprs = [expr for _, _, expr in dq.panel_queries(dashboard)] + [
        RULES.read_text(encoding="utf-8")
    ]
    for expr in exprs:
        assert not re.search(r"\bhaproxy_(backend_)?up\b", expr)


def test_variables_are_replaced_like_grafana_all(dashboard):
    for _, _, expr in dq.panel_queries(dashboard):
        assert "$" not in expr
    assert dq.substitute(
        'rate(x{host=~"$host"}[$__rate_interval])', {"host": ".*", "__rate_interval": "1m"}
    ) == ('rate(x{host=~".*"}[1m])')
    assert dq.substitute("${host:regex}", {"host": ".*"}) == ".*"
    with pytest.raises(ValueError, match=r"\$nope"):
        dq.substitute("up{a=~'$nope'}", {})


def test_variable_queries_are_label_values(dashboard):
    assert dq.variable_queries(dashboard) == [("host", "up", "host")]
    with pytest.raises(ValueError, match="only label_values"):
        dq.variable_queries(
            {"templating": {"list": [{"name": "x", "type": "query", "query": "query_result(up)"}]}}
        )


def test_emitted_recording_rules_carry_every_query(dashboard, tmp_path):
    out = tmp_path / "dashboard.rules.yml"
    assert dq.main(["--dashboard", str(DASHBOARD), "emit-rules", str(out)]) == 0
    rules = yaml.safe_load(out.read_text(encoding="utf-8"))["groups"][0]["rules"]
    assert [rule["expr"] for rule in rules] == [expr for _, _, expr in dq.panel_queries(dashboard)]
    assert all(re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", rule["record"]) for rule in rules)
