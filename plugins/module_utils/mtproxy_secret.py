# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is an MTProxy secret one an operator generated, or one anybody could guess?

Pure Python without third-party imports: the plan (mtproxy_plan) checks the secrets
operators give, relay_identity the ones it keeps on the controller.
"""

from __future__ import annotations

import itertools

__all__ = ["weak_secret_reason"]

# A random 32-hex secret uses fewer than 7 distinct digits with probability ~2e-10, repeats
# a pattern of at most 16 characters with probability ~1e-19, and steps to the same or a
# neighbouring digit in 24 of its 31 steps with probability ~1e-13: such a value was typed
# or copied by a human, not generated.
_MIN_DISTINCT_DIGITS = 7
_MAX_PATTERN_PERIOD = 16
_MAX_SEQUENTIAL_STEPS = 23


def weak_secret_reason(core):
    """Why a 32-hex secret core is well-known or guessable, or None. Never quotes it."""
    digits = core.lower()
    distinct = len(set(digits))
    if distinct == 1:
        return "it is one digit repeated"
    for period in range(1, _MAX_PATTERN_PERIOD + 1):
        if len(digits) > period and all(
            digits[i] == digits[i - period] for i in range(period, len(digits))
        ):
            return f"it repeats a pattern of {period} characters"
    if distinct < _MIN_DISTINCT_DIGITS:
        return f"it uses only {distinct} different hexadecimal digits"
    steps = sum(
        1 for a, b in itertools.pairwise(digits) if (int(b, 16) - int(a, 16)) % 16 in (0, 1, 15)
    )
    if steps > _MAX_SEQUENTIAL_STEPS:
        return "its digits mostly repeat or count up or down"
    return None
