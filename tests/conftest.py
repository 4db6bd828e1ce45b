# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared by tests/unit and tests/integration: the hypothesis profile and the repository root.

Test modules import the constants from here (``from tests.conftest import REPO_ROOT``);
``tests`` is a package for that reason. tests/unit stays a tree of plain modules (helpers
next to a test module are imported by name), tests/integration is a package so that its
files can carry the names of the unit test files they extend.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, settings

# Property tests: enough examples to matter, no example database written into the repo.
settings.register_profile(
    "edgerelay",
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("edgerelay")

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_module(path: str | Path) -> ModuleType:
    """Import a repository file that is not on the Python path (scripts/, tests/prometheus/).

    The module is registered in sys.modules under its file name (dataclasses look their
    module up while the file runs) and loaded once, however many test files use it.
    """
    path = REPO_ROOT / path  # relative to the repository, or absolute
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")) == path:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
