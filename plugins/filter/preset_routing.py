# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_common import (
    DEFAULT_DIRECT_TAG,
    DEFAULT_POOL_TAG,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import (
    DEFAULT_DOMAIN_STRATEGY,
    PresetError,
)
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_presets import (
    preset_routing as render_routing,
)

DOCUMENTATION = r"""
name: preset_routing
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Render the fail-closed Xray routing object of a country preset
description:
  - Looks up preset O(name) in the input mapping of presets, validates it and returns the
    Xray C(routing) object for an proxy node.
  - >-
    One rule per entry of the preset's C(direct) list, in the preset's order, each sent to
    O(direct_tag); then an explicit catch-all rule
    C({"type": "field", "network": "tcp,udp", "outboundTag": <pool_tag>}).
  - "Entry types: C(geosite) -> C(geosite:<v>), C(domain_suffix) -> C(domain:<v>),
    C(domain_full) -> C(full:<v>), C(domain_keyword) -> C(keyword:<v>), C(domain_regex) ->
    C(regexp:<v>) (all in C(domain)); C(geoip) -> C(geoip:<v>), C(ip_cidr) -> C(<v>) (in C(ip))."
  - The preset schema is documented in C(roles/xray/files/presets/ru.yml). A new preset is a
    new mapping of that shape; no code change.
  - >-
    Only the selected preset is validated. Errors start with C(proxy_preset:) and name the
    preset and the entry index, for example C(preset 'ru' direct[2]) for its third entry.
  - Xray sends traffic matching no rule to the B(first) outbound. The role must list the
    O(pool_tag) outbound first and must never make O(direct_tag) a fallback; check the
    assembled config with the C(edgerelay.proxy.xray_fail_closed) filter.
positional: _input, name
options:
  _input:
    description:
      - Mapping of preset name to preset, for example the shipped presets combined with
        user presets.
    type: dict
    required: true
  name:
    description: Name of the preset to render (the C(proxy_preset) variable).
    type: str
    required: true
  direct_tag:
    description: Tag of the C(freedom) outbound the preset's entries go to.
    type: str
    default: direct
  pool_tag:
    description: Tag of the outbound to the local HAProxy foreign pool; the catch-all target.
    type: str
    default: foreign-pool
  inbound_tags:
    description:
      - Limit every rule, the catch-all included, to these inbound tags.
      - Traffic of other inbounds then matches no rule and goes to the first outbound,
        which must be the pool. C(omit), null or an empty list mean all inbounds.
    type: list
    elements: str
  domain_strategy:
    description: Xray C(routing.domainStrategy). C(IPIfNonMatch) resolves a domain that
      matched no domain rule and tries the C(geoip)/C(ip_cidr) rules on its addresses.
    type: str
    default: IPIfNonMatch
    choices: [AsIs, IPIfNonMatch, IPOnDemand]
notes:
  - >-
    An unknown preset fails with C(proxy_preset: unknown preset 'xx') followed by the
    known names.
  - Negated geoip codes (C(!ru)), C(/0) networks and keywords or regular expressions that
    match every domain are rejected, since they would be a catch-all to direct.
seealso:
  - plugin: edgerelay.proxy.xray_fail_closed
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Load the shipped presets (one file per preset, named after it)
  ansible.builtin.set_fact:
    xray_presets: >-
      {{ xray_presets | default({}) | combine({(item | basename | splitext | first):
           lookup('ansible.builtin.file', item) | from_yaml}) }}
  loop: "{{ query('ansible.builtin.fileglob', role_path ~ '/files/presets/*.yml') }}"

- name: User presets (xray_user_presets, same shape) add to or replace shipped ones
  ansible.builtin.set_fact:
    xray_presets: "{{ xray_presets | combine(xray_user_presets | default({})) }}"

- name: Routing of the proxy node
  ansible.builtin.set_fact:
    xray_routing: >-
      {{ xray_presets | edgerelay.proxy.preset_routing(proxy_preset,
           inbound_tags=['vless-reality-in']) }}

# For proxy_preset=ru (without inbound_tags):
# xray_routing:
#   domainStrategy: IPIfNonMatch
#   rules:
#     - {type: field, domain: ["geosite:ru-available-only-inside"], outboundTag: direct}
#     - {type: field, domain: ["domain:ru", "domain:su", "domain:xn--p1ai"], outboundTag: direct}
#     - {type: field, ip: ["geoip:ru"], outboundTag: direct}
#     - {type: field, ip: ["geoip:private"], outboundTag: direct}
#     - {type: field, network: "tcp,udp", outboundTag: foreign-pool}
"""

RETURN = r"""
_value:
  description: The Xray C(routing) object.
  type: dict
  contains:
    domainStrategy:
      description: The O(domain_strategy).
      type: str
      sample: IPIfNonMatch
    rules:
      description: One rule per direct entry in preset order, then the catch-all to
        O(pool_tag).
      type: list
      elements: dict
      sample:
        - {type: field, domain: ["geosite:ru-available-only-inside"], outboundTag: direct}
        - {type: field, network: "tcp,udp", outboundTag: foreign-pool}
"""

# `omit` is a sentinel object since ansible-core 2.19 and a placeholder string before.
_OMIT_TYPE_NAME = "_OmitType"
_OMIT_PREFIX = "__omit_place_holder__"


def _is_omitted(value):
    if value is None or type(value).__name__ == _OMIT_TYPE_NAME:
        return True
    return isinstance(value, str) and value.startswith(_OMIT_PREFIX)


def preset_routing(
    presets,
    name=None,
    direct_tag=DEFAULT_DIRECT_TAG,
    pool_tag=DEFAULT_POOL_TAG,
    inbound_tags=None,
    domain_strategy=DEFAULT_DOMAIN_STRATEGY,
):
    """Filter wrapper around module_utils.xray_presets.preset_routing()."""
    if name is None:
        raise AnsibleFilterError("proxy_preset: the preset name is required")
    try:
        return render_routing(
            presets,
            name,
            direct_tag=direct_tag,
            pool_tag=pool_tag,
            inbound_tags=None if _is_omitted(inbound_tags) else inbound_tags,
            domain_strategy=domain_strategy,
        )
    except PresetError as exc:
        raise AnsibleFilterError(f"proxy_preset: {exc}") from None


class FilterModule:
    """edgerelay.proxy Xray preset filters."""

    def filters(self):
        return {"preset_routing": preset_routing}
