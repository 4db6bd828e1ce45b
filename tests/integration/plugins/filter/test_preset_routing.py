# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preset_routing and xray_fail_closed filters in a real ansible-playbook run."""

from __future__ import annotations

from tests.helpers.preset_routing import PRESETS_DIR, RU_RULES, config


def test_in_a_playbook(run_playbook):
    """The documented way to load presets, then render and check a config."""
    load = {
        "name": "load shipped presets",
        "ansible.builtin.set_fact": {
            "xray_presets": "{{ xray_presets | default({}) | combine({(item | basename | "
            "splitext | first): lookup('ansible.builtin.file', item) | from_yaml}) }}"
        },
        "loop": "{{ query('ansible.builtin.fileglob', presets_dir ~ '/*.yml') }}",
    }
    user = {
        "name": "user presets",
        "ansible.builtin.set_fact": {
            "xray_presets": "{{ xray_presets | combine(xray_user_presets) }}"
        },
    }
    render = {
        "name": "render",
        "ansible.builtin.set_fact": {
            "xray_config": {
                "outbounds": [
                    {"tag": "foreign-pool", "protocol": "vless"},
                    {"tag": "direct", "protocol": "freedom"},
                ],
                "routing": "{{ xray_presets | edgerelay.proxy.preset_routing(proxy_preset, "
                "inbound_tags=omit) }}",
            }
        },
    }
    show = {
        "name": "check",
        "ansible.builtin.debug": {
            "msg": "{{ xray_config | edgerelay.proxy.xray_fail_closed }}",
        },
    }
    local = {
        "name": "user preset",
        "ansible.builtin.debug": {
            "msg": "{{ xray_presets | edgerelay.proxy.preset_routing('lan') }}",
        },
    }
    unknown = {
        "name": "unknown",
        "ansible.builtin.debug": {
            "msg": "{{ xray_presets | edgerelay.proxy.preset_routing('xx') }}",
        },
        "ignore_errors": True,
    }
    extra_vars = {
        "presets_dir": str(PRESETS_DIR),
        "proxy_preset": "ru",
        "xray_user_presets": {
            "lan": {"name": "lan", "direct": [{"type": "ip_cidr", "value": "192.168.0.0/16"}]}
        },
    }
    run = run_playbook([load, user, render, show, local, unknown], extra_vars=extra_vars)
    assert run.rc == 0, run.output
    results = run.results()
    routing = {"domainStrategy": "IPIfNonMatch", "rules": RU_RULES}
    assert results[3]["msg"] == config(routing)
    assert results[4]["msg"]["rules"][0] == {
        "type": "field",
        "ip": ["192.168.0.0/16"],
        "outboundTag": "direct",
    }
    assert results[5]["failed"] is True
    assert "proxy_preset: unknown preset 'xx' (known: lan, ru)" in results[5]["msg"]
