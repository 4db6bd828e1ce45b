# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Defaults an operator never changes must be the safe ones (most operators never do)."""

from __future__ import annotations

import configparser

import yaml

from tests.conftest import REPO_ROOT


def _defaults(role):
    return yaml.safe_load((REPO_ROOT / "roles" / role / "defaults" / "main.yml").read_text())


def test_ssh_host_keys_are_checked_from_a_checkout():
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "ansible.cfg")
    for section in config.sections():
        assert config[section].get("host_key_checking", "true").lower() not in ("false", "0", "no")


def test_nothing_that_identifies_the_proxy_listens_publicly_by_default():
    shared = _defaults("shared")
    monitoring = _defaults("monitoring")
    assert shared["haproxy_stats_bind_address"] == "127.0.0.1"
    for name in ("monitoring_prometheus_listen_address", "monitoring_alertmanager_listen_address"):
        assert shared[name].startswith("127.0.0.1:"), name
    assert monitoring["monitoring_node_exporter_listen_address"].startswith("127.0.0.1:")
    template = (REPO_ROOT / "roles/haproxy/templates/haproxy.cfg.j2").read_text()
    assert "stats hide-version" in template


def test_haproxy_gets_no_capability_that_could_rewrite_the_firewall():
    haproxy = _defaults("haproxy")
    assert haproxy["haproxy_extra_capabilities"] == []
    unit = (REPO_ROOT / "roles/haproxy/templates/10-edgerelay.conf.j2").read_text()
    assert "CAP_NET_ADMIN" not in unit
    assert "ProtectSystem=strict" in unit


def test_one_source_cannot_starve_the_client_port_by_default():
    haproxy = _defaults("haproxy")
    assert 0 < haproxy["haproxy_stats_maxconn"] <= 100
    assert haproxy["haproxy_stats_timeout"] not in ("", "0")
    assert haproxy["haproxy_source_max_connections"] > 0
    assert haproxy["haproxy_client_first_timeout"] not in ("", "0")


def test_links_with_secrets_are_not_printed_by_default():
    assert _defaults("verify")["verify_print_links"] is False
