# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/geodata_fixture.py as a module, and the categories the Xray node's rules use."""

from __future__ import annotations

from tests.conftest import REPO_ROOT, load_module

SCRIPT = REPO_ROOT / "scripts" / "geodata_fixture.py"
gf = load_module(SCRIPT)

# The categories the Xray node's rules use.
SITES = {"ru-available-only-inside": ["domain:inside.example"]}
IPS = {
    "ru": ["10.77.0.0/16"],
    "private": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"],
}
