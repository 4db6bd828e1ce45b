# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run edgerelay.proxy.mtproxy_preflight through a real ansible-playbook."""

from __future__ import annotations

from ansible_collections.edgerelay.proxy.plugins.module_utils.mtproxy_plan import replica_plan

ACTION = "edgerelay.proxy.mtproxy_preflight"
SECRET = "3f6a9c0e1b2d4f5a6b7c8d9e0f1a2b3c"

# Secrets come from an extra-vars file (as from group_vars/vault), never from the
# playbook text, so an error display quoting the playbook source cannot leak them.
SECRETS = {
    "good_secret": SECRET,
    "dd_secret": "DD" + SECRET.upper(),
    "faketls_secret": "ee" + SECRET + b"www.example.com".hex(),
    "short_secret": SECRET[:-1],
    "long_dd_secret": "dd" + SECRET + "a",
    "numeric_secret": 98765432109876543210987654321098,
}

ARGS = {
    "mtproxy_secret": "{{ good_secret }}",
    "mtproxy_replicas": 3,
    "mtproxy_base_port": 10000,
    "mtproxy_network_subnet": "10.250.0.0/24",
    "haproxy_port": 443,
    "haproxy_stats_port": 8404,
    "haproxy_balance_algorithm": "leastconn",
}


def preflight_task(name, drop=(), **overrides):
    args = {key: value for key, value in {**ARGS, **overrides}.items() if key not in drop}
    return {"name": name, ACTION: args}


# (task name, argument overrides, variable the message must start with, expected fragment)
FAILURES = [
    (
        "stats-collision",
        {"haproxy_stats_port": 10001},
        "haproxy_stats_port",
        "10001 collides with replica port of mtproxy2 (mtproxy_base_port + 1)",
    ),
    ("haproxy-collision", {"haproxy_port": 10002}, "haproxy_port", "mtproxy3"),
    ("same-haproxy-ports", {"haproxy_stats_port": 443}, "haproxy_stats_port", "haproxy_port"),
    (
        "host-bits",
        {"mtproxy_network_subnet": "10.250.0.1/24"},
        "mtproxy_network_subnet",
        "did you mean 10.250.0.0/24",
    ),
    (
        "subnet-too-small",
        {"mtproxy_network_subnet": "10.250.0.0/30"},
        "mtproxy_network_subnet",
        "need 4",
    ),
    ("too-many-replicas", {"mtproxy_replicas": 65}, "mtproxy_replicas", "mtproxy_replicas_max"),
    ("replicas-not-int", {"mtproxy_replicas": "three"}, "mtproxy_replicas", "convert to int"),
    ("replicas-bool", {"mtproxy_replicas": True}, "mtproxy_replicas", "must be an integer"),
    ("port-span", {"mtproxy_base_port": 65535}, "mtproxy_base_port", "65537"),
    ("port-zero", {"haproxy_port": 0}, "haproxy_port", "between 1 and 65535"),
    ("balance", {"haproxy_balance_algorithm": "uri"}, "haproxy_balance_algorithm", "roundrobin"),
    ("unknown-arg", {"mtproxy_replica": 2}, "mtproxy_replica", "not a parameter"),
    ("faketls", {"mtproxy_secret": "{{ faketls_secret }}"}, "mtproxy_secret", "FakeTLS"),
    ("short-secret", {"mtproxy_secret": "{{ short_secret }}"}, "mtproxy_secret", "31 characters"),
    ("long-dd-secret", {"mtproxy_secret": "{{ long_dd_secret }}"}, "mtproxy_secret", "'dd'"),
    (
        "numeric-secret",
        {"mtproxy_secret": "{{ numeric_secret }}"},
        "mtproxy_secret",
        "type int; quote it",
    ),
]


def failure_tasks():
    tasks = [
        {**preflight_task(name, **overrides), "ignore_errors": True}
        for name, overrides, _variable, _fragment in FAILURES
    ]
    missing = {**preflight_task("missing-arg", drop=("haproxy_port",)), "ignore_errors": True}
    return [*tasks, missing]


def test_preflight_success(run_playbook):
    run = run_playbook([preflight_task("preflight")], extra_vars=SECRETS)
    assert run.rc == 0, run.output
    (result,) = run.results()
    assert result["changed"] is False
    assert not result.get("failed")
    assert result["replicas"] == replica_plan(3, 10000, "10.250.0.0/24")
    assert result["gateway"] == "10.250.0.1"
    assert result["server_secret"] == SECRET
    assert result["client_secret"] == SECRET
    assert result["secret_mode"] == "classic"
    assert "variable" not in result


def test_preflight_check_mode_with_string_numbers(run_playbook):
    """Values from -e key=value are strings; the argument spec converts them."""
    task = preflight_task(
        "preflight",
        mtproxy_secret="{{ dd_secret }}",
        mtproxy_replicas="{{ replicas }}",
        mtproxy_base_port="{{ base_port }}",
    )
    run = run_playbook(
        [task], extra_vars=SECRETS, args=("--check", "-e", "replicas=5", "-e", "base_port=20000")
    )
    assert run.rc == 0, run.output
    (result,) = run.results()
    assert result["changed"] is False
    assert [entry["host_port"] for entry in result["replicas"]] == list(range(20000, 20005))
    assert result["secret_mode"] == "dd"
    assert result["server_secret"] == SECRET
    assert result["client_secret"] == "dd" + SECRET


def test_preflight_never_touches_the_host(run_playbook):
    """With an unreachable host the preflight still passes; a real module does not."""
    inventory = (
        "ghost ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 ansible_user=nobody\n"
    )
    tasks = [
        preflight_task("preflight"),
        {"name": "ping", "ansible.builtin.ping": {}, "ignore_unreachable": True},
    ]
    run = run_playbook(tasks, extra_vars=SECRETS, inventory=inventory)
    preflight, ping = run.results()
    assert not preflight.get("failed"), run.output
    assert preflight["gateway"] == "10.250.0.1"
    assert ping.get("unreachable") or ping.get("failed"), run.output


def test_preflight_failures_json(run_playbook):
    run = run_playbook(failure_tasks(), extra_vars=SECRETS)
    results = run.results()
    assert len(results) == len(FAILURES) + 1
    for (name, _overrides, variable, fragment), result in zip(FAILURES, results, strict=False):
        assert result.get("failed") is True, name
        assert result["msg"].startswith(f"{variable}: "), (name, result["msg"])
        assert fragment in result["msg"], (name, result["msg"])
        assert result["variable"] == variable, name
        assert "replicas" not in result, name
    assert results[-1]["msg"] == "haproxy_port: is required"
    assert_no_secret(run.output)


def test_preflight_failures_default_output(run_playbook):
    """What a user sees on the terminal: the variable is named, no secret is shown."""
    run = run_playbook(failure_tasks(), extra_vars=SECRETS, callback="default")
    assert "failed=0" in run.stdout  # all errors ignored ...
    assert f"ignored={len(FAILURES) + 1}" in run.stdout  # ... and every task did fail
    for name, _overrides, variable, fragment in FAILURES:
        # The error line carries the unwrapped message.
        lines = [line for line in run.output.splitlines() if f"Action failed: {variable}: " in line]
        assert any(fragment in line for line in lines), name
    assert_no_secret(run.output)


def assert_no_secret(output, window=12):
    """No secret, nor any run of ``window`` of its characters, appears in the output."""
    lowered = output.lower()
    for name, value in SECRETS.items():
        value = str(value).lower()
        assert value not in lowered, f"{name} leaked into the output"
        for start in range(len(value) - window + 1):
            assert value[start : start + window] not in lowered, f"part of {name} leaked"
