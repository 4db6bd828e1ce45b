# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, edgerelay.proxy contributors
"""Small helpers shared by the collection's plugins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def type_name(value) -> str:
    """Name of the builtin type behind ``value`` (Ansible wraps values in tagged subclasses)."""
    for cls in type(value).__mro__:
        if cls.__module__ == "builtins" and cls is not object:
            return cls.__name__
    return type(value).__name__


def unknown_keys(mapping, known) -> list[str]:
    """Keys of ``mapping`` that are not in ``known``, sorted (for stable error messages)."""
    return sorted(str(key) for key in mapping if key not in known)


# `omit` is a sentinel object since ansible-core 2.19 and a placeholder string before.
_OMIT_TYPE_NAME = "_OmitType"
_OMIT_PREFIX = "__omit_place_holder__"


def _is_omitted(value):
    if type(value).__name__ == _OMIT_TYPE_NAME:
        return True
    return isinstance(value, str) and value.startswith(_OMIT_PREFIX)


def without_omitted(value):
    """The input with every ``omit`` value left out (mappings) or dropped (lists)."""
    if isinstance(value, Mapping):
        return {key: without_omitted(item) for key, item in value.items() if not _is_omitted(item)}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [without_omitted(item) for item in value if not _is_omitted(item)]
    return value
