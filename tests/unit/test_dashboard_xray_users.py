# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-user Xray traffic panel of "Proxy HA Overview", and how dashboard_queries.py
checks panels whose metrics only some hosts have.

Against a live Prometheus (Molecule), every query must return data wherever its component is
deployed: HAProxy's queries where HAProxy is scraped, the Xray panel where the exporter's
``edgerelay_xray_stats_up`` is; elsewhere they are listed as skipped, and ``--require xray``
makes the exporter's absence itself a failure. Here Prometheus' HTTP API is a stub.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse

import pytest

from tests.conftest import REPO_ROOT, load_module

DASHBOARD = REPO_ROOT / "roles" / "monitoring" / "files" / "grafana" / "proxy-ha-overview.json"

dq = load_module("tests/prometheus/dashboard_queries.py")
exporter = load_module("roles/xray/files/xray_stats_exporter.py")


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panel(dashboard, title):
    (panel,) = [panel for panel in dq.panels(dashboard) if panel["title"] == title]
    return panel


def test_the_per_user_panel_shows_both_counters_by_user(dashboard):
    panel = _panel(dashboard, "Traffic per Xray user")
    assert panel["type"] == "timeseries"
    assert panel["fieldConfig"]["defaults"]["unit"] == "Bps"
    exprs = [target["expr"] for target in panel["targets"]]
    assert exprs == [
        f'sum by (host, user) (rate({metric}{{host=~"$host"}}[$__rate_interval]))'
        for metric in (exporter.UPLINK, exporter.DOWNLINK)
    ]
    assert [target["legendFormat"] for target in panel["targets"]] == [
        "{{host}} {{user}} uplink",
        "{{host}} {{user}} downlink",
    ]
    # Its own row, below every other panel.
    row = _panel(dashboard, "Xray users")
    assert row["type"] == "row"
    assert row["gridPos"]["y"] == panel["gridPos"]["y"] - 1
    assert row["gridPos"]["y"] == max(
        p["gridPos"]["y"] + p["gridPos"]["h"] for p in dq.panels(dashboard) if p not in (row, panel)
    )


def test_the_dashboard_reads_only_metrics_the_exporter_writes(dashboard):
    written = {exporter.UPLINK, exporter.DOWNLINK, exporter.UP, exporter.SKIPPED}
    for _, _, expr in dq.panel_queries(dashboard):
        for metric in dq.COMPONENTS["xray"][0].findall(expr):
            assert metric in written, expr


def test_components_of_the_queries(dashboard):
    by_title = {}
    for title, ref_id, expr in dq.panel_queries(dashboard):
        by_title[(title, ref_id)] = dq.components(expr)
    assert by_title[("Traffic per Xray user", "A")] == {"xray"}
    assert by_title[("Traffic per Xray user", "B")] == {"xray"}
    assert by_title[("Servers UP per pool", "A")] == {"haproxy"}
    assert by_title[("HAProxy scraped", "A")] == {"haproxy"}
    assert by_title[("Last HAProxy reload", "A")] == {"haproxy"}  # edgerelay_haproxy_*
    assert by_title[("Node load", "A")] == set()
    assert by_title[("File descriptors and connection limit", "A")] == set()
    assert by_title[("File descriptors and connection limit", "B")] == {"haproxy"}
    assert dq.components("rate(edgerelay_xray_user_uplink_bytes_total[1m])") == {"xray"}
    assert dq.components("not_haproxy_metric + my_edgerelay_xray_x") == set()


class FakePrometheus:
    """Prometheus' /api/v1/query and /api/v1/label/.../values for a host with ``metrics``."""

    def __init__(self, metrics):
        self.metrics = set(metrics)

    def __call__(self, url):
        parsed = urllib.parse.urlsplit(url)
        if parsed.path.startswith("/api/v1/label/"):
            return {"status": "success", "data": ["lab"]}
        expr = urllib.parse.parse_qs(parsed.query)["query"][0]
        if expr == 'up{job="haproxy"}':
            present = "haproxy" in self.metrics
        else:
            present = any(metric in expr for metric in self.metrics)
        return {"status": "success", "data": {"result": [{"value": [0, "1"]}] if present else []}}


HAPROXY_HOST = {"haproxy", "haproxy_", "edgerelay_haproxy_", "node_"}
XRAY_PROXY = HAPROXY_HOST | {"edgerelay_xray_"}
XRAY_BACKEND = {"node_", "edgerelay_xray_"}


def _run(monkeypatch, metrics, *args):
    monkeypatch.setattr(dq, "_get", FakePrometheus(metrics))
    return dq.main(["--dashboard", str(DASHBOARD), "query", *args])


def test_an_mtproxy_host_skips_the_xray_panel(monkeypatch, capsys):
    assert _run(monkeypatch, HAPROXY_HOST) == 0
    out = capsys.readouterr().out
    skipped = [line for line in out.splitlines() if line.startswith("skip")]
    assert len(skipped) == 2
    assert all("Traffic per Xray user" in line and "(no xray here)" in line for line in skipped)
    assert "(2 skipped: component not deployed here)" in out


def test_an_xray_proxy_node_checks_every_panel(monkeypatch, capsys):
    assert _run(monkeypatch, XRAY_PROXY, "--require", "xray") == 0
    out = capsys.readouterr().out
    assert "skip" not in out
    assert "ok      1 panel 'Traffic per Xray user' [A]" in out


def test_an_xray_backend_skips_haproxy_but_not_the_users(monkeypatch, capsys):
    assert _run(monkeypatch, XRAY_BACKEND, "--require", "xray") == 0
    out = capsys.readouterr().out
    assert "ok      1 panel 'Traffic per Xray user' [B]" in out
    assert "skip      panel 'Servers UP per pool' [A]" in out
    assert "ok      1 panel 'Node load' [A]" in out


def test_required_but_absent_fails(monkeypatch, capsys):
    assert _run(monkeypatch, HAPROXY_HOST, "--require", "xray") == 1
    captured = capsys.readouterr()
    assert "required component xray is not deployed" in captured.out
    assert "missing: xray" in captured.err


def test_a_deployed_exporter_without_user_series_fails(monkeypatch, capsys):
    # The exporter runs (stats_up is there) but writes no per-user counter: a real failure.
    class NoUsers(FakePrometheus):
        def __call__(self, url):
            if "edgerelay_xray_user_" in urllib.parse.unquote_plus(url):
                return {"status": "success", "data": {"result": []}}
            return super().__call__(url)

    monkeypatch.setattr(dq, "_get", NoUsers(XRAY_PROXY))
    assert dq.main(["--dashboard", str(DASHBOARD), "query"]) == 1
    out = capsys.readouterr().out
    assert "EMPTY   0 panel 'Traffic per Xray user' [A]" in out


PROMTOOL = REPO_ROOT / ".cache" / "bin" / "promtool"


@pytest.mark.skipif(not PROMTOOL.is_file(), reason=f"no promtool at {PROMTOOL}")
def test_the_panel_queries_give_bytes_per_second_per_user(dashboard, tmp_path):
    """Prometheus' own engine (promtool test rules) on the panel's queries, as the dashboard
    has them, over series as the exporter writes them every 10 s: alice 100 B/s up and
    1000 B/s down, Xray restarted at 130 s (her counters start again from a few bytes), bob
    20 B/s up and nothing down. A restart is no negative rate and no spike."""
    queries = {
        ref_id: expr
        for title, ref_id, expr in dq.panel_queries(dashboard)
        if title == "Traffic per Xray user"
    }
    series = {
        (exporter.UPLINK, "alice"): "0+1000x12 500+1000x12",
        (exporter.DOWNLINK, "alice"): "0+10000x12 900+10000x12",
        (exporter.UPLINK, "bob"): "0+200x24",
        (exporter.DOWNLINK, "bob"): "0+0x24",
    }
    user = '{{host="n1", user="{}"}}'
    test = {
        "rule_files": [],
        "evaluation_interval": "10s",
        "tests": [
            {
                "interval": "10s",
                "input_series": [
                    {"series": metric + user.format(name), "values": values}
                    for (metric, name), values in series.items()
                ],
                "promql_expr_test": [
                    {
                        "expr": queries["A"],
                        "eval_time": eval_time,
                        "exp_samples": [
                            {"labels": user.format("alice"), "value": 100},
                            {"labels": user.format("bob"), "value": 20},
                        ],
                    }
                    for eval_time in ("2m", "4m")
                ]
                + [
                    {
                        "expr": queries["B"],
                        "eval_time": "4m",
                        "exp_samples": [
                            {"labels": user.format("alice"), "value": 1000},
                            {"labels": user.format("bob"), "value": 0},
                        ],
                    },
                    # Across the restart: a little less than the truth (the bytes between the
                    # last scrape and the restart are lost), never negative, never a spike.
                    {
                        "expr": f"{queries['A']} > bool 80 and {queries['A']} <= 100",
                        "eval_time": "150s",
                        "exp_samples": [
                            {"labels": user.format("alice"), "value": 1},
                            {"labels": user.format("bob"), "value": 0},  # 20 B/s, no restart
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "xray_users_test.yml"
    path.write_text(json.dumps(test, indent=2), encoding="utf-8")
    checked = subprocess.run(
        [str(PROMTOOL), "test", "rules", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
