# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks shared by the unit and integration tests of edgerelay.proxy.relay_identity."""

from __future__ import annotations

import base64
import stat
import uuid

from ansible_collections.edgerelay.proxy.plugins.module_utils.relay_identity import (
    public_key_from_private,
)

# RFC 7748, section 6.1: Alice's X25519 key pair.
RFC7748_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
RFC7748_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def assert_valid_identity(identity, kind="relay"):
    assert public_key_from_private(identity["private_key"]) == identity["public_key"]
    assert len(identity["private_key"]) == 43 and "=" not in identity["private_key"]
    assert len(identity["short_id"]) == 8
    int(identity["short_id"], 16)
    if kind == "relay":
        assert uuid.UUID(identity["uuid"]).version == 4
    else:
        assert "uuid" not in identity
