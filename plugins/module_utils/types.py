# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Small helpers shared by the collection's plugins."""

from __future__ import annotations


def type_name(value) -> str:
    """Name of the builtin type behind ``value`` (Ansible wraps values in tagged subclasses)."""
    for cls in type(value).__mro__:
        if cls.__module__ == "builtins" and cls is not object:
            return cls.__name__
    return type(value).__name__


def unknown_keys(mapping, known) -> list[str]:
    """Keys of ``mapping`` that are not in ``known``, sorted (for stable error messages)."""
    return sorted(str(key) for key in mapping if key not in known)
