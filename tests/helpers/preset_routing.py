# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shipped presets and the routing the "ru" one must render, for the filter tests."""

from __future__ import annotations

import yaml

from tests.conftest import REPO_ROOT

PRESETS_DIR = REPO_ROOT / "roles" / "xray" / "files" / "presets"

RU_RULES = [
    {"type": "field", "domain": ["geosite:ru-available-only-inside"], "outboundTag": "direct"},
    {
        "type": "field",
        "domain": ["domain:ru", "domain:su", "domain:xn--p1ai"],
        "outboundTag": "direct",
    },
    {"type": "field", "ip": ["geoip:ru"], "outboundTag": "direct"},
    {"type": "field", "network": "tcp,udp", "outboundTag": "foreign-pool"},
]


def presets():
    return {path.stem: yaml.safe_load(path.read_text()) for path in PRESETS_DIR.glob("*.yml")}


def config(routing):
    return {
        "outbounds": [
            {"tag": "foreign-pool", "protocol": "vless"},
            {"tag": "direct", "protocol": "freedom"},
        ],
        "routing": routing,
    }
