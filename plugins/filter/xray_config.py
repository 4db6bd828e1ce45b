# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.module_utils.types import without_omitted
from ansible_collections.edgerelay.proxy.plugins.module_utils.xray_config import (
    ConfigError,
    build_config,
)

DOCUMENTATION = r"""
name: xray_config
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Build the complete, checked Xray config of a proxy or backend node
description:
  - Builds the Xray config (C(log), C(dns), C(api), C(stats), C(policy), C(inbounds),
    C(outbounds), C(routing)) of one node from a flat mapping of the role's variables,
    validating them first.
  - "Both node kinds open Xray's gRPC API on loopback only: C(api: {tag: api, listen:
    127.0.0.1:<api_port>, services: [HandlerService, StatsService]}), with no inbound and no
    routing rule of its own (C(api.listen), Xray 1.8.12 and later). The HandlerService adds
    and removes users without a restart (C(xray api adu), C(rmu); the role does it with
    C(edgerelay.proxy.xray_users_live)); the StatsService serves the traffic counters of
    every user (C(stats: {}), C(policy.levels.0.statsUserUplink) and C(statsUserDownlink)),
    read with C(xray api statsquery)."
  - "O(_input.node_role=proxy) (proxy node, group C(proxy_servers)): the inbound C(public);
    the outbounds C(foreign-pool) (VLESS-REALITY with the shared relay identity to the local
    HAProxy, which forwards to the backends' relay inbounds), C(direct) (C(freedom),
    C(domainStrategy: ForceIPv4)) and C(block) (C(blackhole)), in that order; the routing:
    the block rules, then the preset's (C(edgerelay.proxy.preset_routing) with
    C(direct_tag=direct), C(pool_tag=foreign-pool)): one rule per direct entry of the
    preset, then the catch-all to C(foreign-pool). The config is returned only if it passes
    the C(edgerelay.proxy.xray_fail_closed) check, with O(_input.own_addresses)."
  - "O(_input.node_role=backend) (backend, group C(vpn_servers)): the inbound
    C(client) for the node's own users, plus the inbound C(relay) for the shared relay
    identity when O(_input.relay) is given (a proxy lists the node in C(proxy_backends));
    the outbounds C(direct) (first: it takes what no rule matches) and C(block); the
    routing (C(domainStrategy: AsIs)): the block rules."
  - "The block rules come first on both node kinds and send to C(block): the node itself
    and what is never reachable (C(0.0.0.0/8), C(127.0.0.0/8), C(169.254.0.0/16), C(::/128),
    C(::1/128), C(fe80::/10), multicast C(224.0.0.0/4) and C(ff00::/8), reserved
    C(240.0.0.0/4)) plus O(_input.own_addresses) as C(/32) or C(/128) (those the other
    entries block anyway left out); then the private and
    special-purpose networks (C(10.0.0.0/8), C(100.64.0.0/10), C(172.16.0.0/12),
    C(192.0.0.0/24), C(192.0.2.0/24), C(192.168.0.0/16), C(198.18.0.0/15),
    C(198.51.100.0/24), C(203.0.113.0/24), C(100::/64), C(2001:db8::/32), C(fc00::/7),
    C(fec0::/10)) minus O(_input.allowed_private_networks). Traffic to an allowed network
    then follows the rest of the routing (on a proxy the preset, else the pool; on a
    backend C(direct))."
  - "Rules only see an address when the client sends one. A name is resolved by the
    C(direct) outbound with Xray's DNS only (C(ForceIPv4): no fallback to the system
    resolver), whose C(dns.servers) are C([{address: localhost, unexpectedIPs: <every
    blocked network>}]): a name that resolves only to blocked addresses fails to connect."
  - Every inbound is VLESS-REALITY on C(0.0.0.0) with C(decryption=none); the clients of an
    inbound and the user of the C(foreign-pool) outbound get the flow of their transport.
  - Keys the node role does not use are ignored and not validated (C(pool), C(presets),
    C(preset), C(fingerprint), C(relay.port) and C(relay.name) on the other role), so one
    mapping can serve both roles.
  - >-
    Errors start with the variable to fix, for example C(xray_users[1].id: must be a UUID
    ...), C(xray_reality_target: ...) or C(proxy_preset: unknown preset 'xx') followed by the
    known names. A key missing from the input (or null) without a default reads
    C(<variable>: is required) followed by the input key. Mistakes in the shape of the input
    itself start with C(xray_config:).
positional: _input
options:
  _input:
    description: The node, a mapping of the role's variables.
    type: dict
    required: true
    suboptions:
      node_role:
        description: C(proxy) or C(backend) (C(xray_node_role)).
        type: str
        required: true
        choices: [proxy, backend]
      log_level:
        description: Xray C(log.loglevel) (C(xray_log_level)).
        type: str
        default: warning
      api_port:
        description: Port of Xray's API on C(127.0.0.1) (C(xray_api_port)); none of the node's
          other ports (its public inbounds, on a backend the relay inbound, on a proxy the pool
          frontend).
        type: int
        default: 10085
      dns_hosts:
        description: Xray C(dns.hosts), name to an address or a list of addresses
          (C(xray_dns_hosts)).
        type: dict
        default: {}
      public:
        description: The node's own VLESS-REALITY inbounds, C(public-<port>) on a proxy,
          C(client-<port>) on a backend, all with the same users and REALITY settings.
        type: dict
        required: true
        suboptions:
          inbounds:
            description:
              - The inbounds (C(xray_inbounds)), a non-empty list of mappings with C(transport)
                and C(port) and the transport's options; ports are unique.
              - C(tcp-vision) is raw TCP with REALITY and the C(xtls-rprx-vision) flow; it
                takes no options.
              - C(xhttp) is XHTTP with REALITY and no flow; options C(path) (a URL path
                starting with C(/), default C(/)) and C(mode) (C(auto), C(packet-up),
                C(stream-up), C(stream-one); default C(auto)) become its C(xhttpSettings).
              - Ports are strings of digits or integers, booleans are not.
            type: list
            elements: dict
            required: true
          users:
            description:
              - Clients (C(xray_users)), each a mapping of exactly C(id) and C(email).
              - C(id) is a UUID in canonical form (8-4-4-4-12 hexadecimal digits); Xray would
                silently derive an unrelated id from other strings of up to 30 characters.
              - An optional C(fingerprint) (one of the uTLS names of O(_input.fingerprint)) is
                for the user's links only (C(edgerelay.proxy.xray_links)); it never reaches the
                config.
              - C(email) is the user's name, safe as a file name and as the label value of a
                metric, since the verify role names the user's files after it and the stats
                exporter labels the user's traffic with it. 1 to 64 letters, digits and
                C(_.@+-), starting with a letter or digit (so no C(/), quotes, backslash or
                whitespace, never C(.) or C(..)).
              - No two users share an id or an email (emails compared ignoring case, as Xray
                does).
            type: list
            elements: dict
            required: true
          reality:
            description: REALITY settings of the inbound.
            type: dict
            required: true
            suboptions:
              target:
                description: C(host:port) of a real TLS 1.3 site (C(xray_reality_target)); an
                  IPv6 host in brackets.
                type: str
                required: true
              server_names:
                description: Non-empty list of host names (C(xray_reality_server_names)).
                type: list
                elements: str
                required: true
              private_key:
                description: REALITY private key (C(xray_reality_private_key)); never shown in
                  errors.
                type: str
                required: true
              short_id:
                description: REALITY short id, 2 to 16 hexadecimal digits, an even number of
                  them (C(xray_reality_short_id)); never empty, an empty short id would let
                  clients in without one.
                type: str
                required: true
      relay:
        description:
          - The shared relay identity C(proxy-service@cluster) and how the relay hop is
            carried.
          - On a proxy it makes the C(foreign-pool) outbound and is required (give it
            whenever the identity exists, also on a proxy without backends).
          - On a backend it makes the C(relay) inbound; null or left out on a backend no proxy
            relays through (no C(relay) inbound then).
        type: dict
        suboptions:
          transport:
            description: Transport of the relay hop, on both ends (C(xray_relay_transport)),
              as for an inbound of O(_input.public.inbounds).
            type: str
            default: xhttp
            choices: [tcp-vision, xhttp]
          options:
            description: Options of that transport (C(xray_relay_transport_options)), as on an
              inbound (C(path) and C(mode) for C(xhttp)); defaults filled in.
            type: dict
            default: {}
          name:
            description: Email of the relay client, a name like a user's C(email)
              (C(xray_relay_name)). Backend only.
            type: str
          server_name:
            description: REALITY server name of the relay hop, a host name
              (C(xray_relay_server_name)). The relay inbound uses the public inbound's
              O(_input.public.reality.target).
            type: str
            required: true
          port:
            description: Port of the relay inbound (C(xray_relay_port)). Backend only.
            type: int
          identity:
            description:
              - The identity (C(xray_relay_identity)), for example the registered result of
                C(edgerelay.proxy.relay_identity); other keys are ignored.
              - C(uuid) (canonical UUID) and C(short_id) on both roles, C(public_key) on a
                proxy, C(private_key) on a backend.
            type: dict
            required: true
      pool:
        description: The local HAProxy frontend of the foreign pool. Proxy only.
        type: dict
        suboptions:
          address:
            description: Address of the frontend (C(xray_pool_address)).
            type: str
            default: 127.0.0.1
          port:
            description: Port of the frontend (C(xray_pool_port)). Required on a proxy.
            type: int
      presets:
        description: All presets, name to preset (the shipped ones combined with
          C(xray_presets_extra)). Proxy only; only O(_input.preset) is validated.
        type: dict
      preset:
        description: Name of the preset whose routing the proxy uses (C(proxy_preset)).
          Required on a proxy.
        type: str
      fingerprint:
        description: uTLS fingerprint of the C(foreign-pool) outbound (C(xray_fingerprint)), one
          of C(chrome), C(firefox), C(safari), C(ios), C(android), C(edge), C(360), C(qq),
          C(random), C(randomized), C(randomizednoalpn) (not C(unsafe), not empty, which is Go's own
          ClientHello). Proxy only.
        type: str
        default: chrome
      own_addresses:
        description:
          - The node's own IP addresses (C(xray_own_addresses)), blocked like loopback so that
            services listening on C(0.0.0.0) stay out of reach, also inside an allowed network.
            An IPv6 zone (C(%eth0)) is dropped, an IPv4-mapped IPv6 address is IPv4. Addresses
            the other entries block anyway (loopback, a private network not allowed) are not
            listed again, so an interface coming or going there changes nothing.
        type: list
        elements: str
        default: []
      allowed_private_networks:
        description:
          - Networks inside the blocked private and special-purpose networks that Xray users
            may reach (C(xray_allowed_private_networks)), for example a lab or a LAN,
            C(172.29.0.0/24). An address is a C(/32) or C(/128).
          - A network must lie inside one of the private networks, must not have host bits
            set, and must not touch the never-reachable ones (loopback, link-local,
            unspecified, multicast, reserved). The node's own addresses stay blocked inside
            an allowed network.
          - A static answer of O(_input.dns_hosts) in a blocked network is an error unless
            its network is allowed here; one in a never-reachable network always is.
        type: list
        elements: str
        default: []
notes:
  - Strings that reach the config must not contain control characters or line breaks.
  - REALITY short ids must not be empty (an empty short id lets clients in without one).
  - Xray before 26.4.15 has no C(finalRules) on C(freedom), so a UDP session a client opened
    to an allowed destination can still send single packets to other addresses; block
    those on the host if that matters.
  - Values set to C(omit) count as left out.
  - The task calling the filter should set C(no_log) (the config holds private keys);
    error messages never quote a private key or a user id.
seealso:
  - plugin: edgerelay.proxy.preset_routing
    plugin_type: filter
  - plugin: edgerelay.proxy.xray_fail_closed
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Build the Xray configuration
  ansible.builtin.set_fact:
    xray_config: "{{ xray_node | edgerelay.proxy.xray_config }}"
  vars:
    xray_node:
      node_role: "{{ xray_node_role }}"
      log_level: "{{ xray_log_level }}"
      api_port: "{{ xray_api_port }}"
      dns_hosts: "{{ xray_dns_hosts }}"
      public:
        inbounds: "{{ xray_inbounds }}"
        users: "{{ xray_users }}"
        reality:
          target: "{{ xray_reality_target }}"
          server_names: "{{ xray_reality_server_names }}"
          private_key: "{{ xray_public_keys.private_key }}"
          short_id: "{{ xray_public_keys.short_id }}"
      # A backend no proxy relays through gets no relay inbound.
      relay: "{{ xray_relay if xray_node_role == 'proxy' or xray_relay_attached else None }}"
      pool:
        port: "{{ xray_pool_port }}"
      presets: "{{ xray_presets_all }}"
      preset: "{{ proxy_preset }}"
      own_addresses: "{{ xray_own_addresses }}"
      allowed_private_networks: "{{ xray_allowed_private_networks }}"
    xray_relay:
      transport: "{{ xray_relay_transport }}"
      options: "{{ xray_relay_transport_options }}"
      name: "{{ xray_relay_name }}"
      server_name: "{{ xray_relay_server_name }}"
      port: "{{ xray_relay_port }}"
      identity: "{{ xray_relay_identity }}"
  no_log: true

# On a proxy with proxy_preset=ru, xray_own_addresses [45.67.89.10, 10.0.0.2] and
# xray_allowed_private_networks [10.0.0.0/8], xray_config is:
#   log: {loglevel: warning}
#   dns:
#     hosts: {}
#     servers: [{address: localhost, unexpectedIPs: [<the ip lists of both block rules>]}]
#   api: {tag: api, listen: "127.0.0.1:10085", services: [HandlerService, StatsService]}
#   stats: {}
#   policy: {levels: {"0": {statsUserUplink: true, statsUserDownlink: true}}}
#   inbounds:
#     - tag: public-443
#       listen: 0.0.0.0
#       port: 443
#       protocol: vless
#       settings:
#         clients: [{id: <uuid>, email: alice, flow: xtls-rprx-vision}]
#         decryption: none
#       streamSettings:
#         network: tcp
#         security: reality
#         realitySettings: {target: "www.example.net:443", serverNames: [www.example.net],
#                           privateKey: <key>, shortIds: [<short id>]}
#   outbounds:
#     - tag: foreign-pool
#       protocol: vless
#       settings:
#         vnext:
#           - address: 127.0.0.1
#             port: 10443
#             users: [{id: <relay uuid>, encryption: none}]
#       streamSettings:
#         network: xhttp
#         security: reality
#         realitySettings: {serverName: www.vpn-de.example.org, publicKey: <relay public key>,
#                           shortId: <relay short id>, fingerprint: chrome}
#         xhttpSettings: {path: /, mode: auto}
#     - {tag: direct, protocol: freedom, settings: {domainStrategy: ForceIPv4}}
#     - {tag: block, protocol: blackhole}
#   routing:
#     domainStrategy: IPIfNonMatch
#     rules:
#       - type: field
#         ip: [0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, "::/128", "::1/128", "fe80::/10",
#              224.0.0.0/4, 240.0.0.0/4, "ff00::/8", 10.0.0.2/32, 45.67.89.10/32]
#         outboundTag: block
#       - type: field
#         ip: [100.64.0.0/10, 172.16.0.0/12, 192.0.0.0/24, 192.0.2.0/24, 192.168.0.0/16,
#              198.18.0.0/15, 198.51.100.0/24, 203.0.113.0/24, "100::/64", "2001:db8::/32",
#              "fc00::/7", "fec0::/10"]
#         outboundTag: block
#       - {type: field, domain: ["geosite:ru-available-only-inside"], outboundTag: direct}
#       - {type: field, domain: ["domain:ru", "domain:su", "domain:xn--p1ai"], outboundTag: direct}
#       - {type: field, ip: ["geoip:ru"], outboundTag: direct}
#       - {type: field, network: "tcp,udp", outboundTag: foreign-pool}
"""

RETURN = r"""
_value:
  description: The Xray config, ready for C(to_nice_json).
  type: dict
  contains:
    log:
      description: "C({loglevel: <log_level>})."
      type: dict
    dns:
      description: "C({hosts: <dns_hosts>, servers: [{address: localhost, unexpectedIPs:
        <the blocked networks>}]})."
      type: dict
    api:
      description: "C({tag: api, listen: 127.0.0.1:<api_port>, services: [HandlerService,
        StatsService]})."
      type: dict
    stats:
      description: C({}), which turns Xray's traffic counters on.
      type: dict
    policy:
      description: "C({levels: {'0': {statsUserUplink: true, statsUserDownlink: true}}}):
        a traffic counter per user."
      type: dict
    inbounds:
      description: C(public-<port>) per inbound on a proxy; C(client-<port>) per inbound, then
        C(relay) when relayed through, on a backend.
      type: list
      elements: dict
    outbounds:
      description: C([foreign-pool, direct, block]) on a proxy, C([direct, block]) on a backend.
      type: list
      elements: dict
    routing:
      description: The block rules, then on a proxy the preset's routing, ending with the
        catch-all to C(foreign-pool).
      type: dict
"""


def xray_config(node):
    """Filter wrapper around module_utils.xray_config.build_config()."""
    try:
        return build_config(without_omitted(node))
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """edgerelay.proxy Xray config builder."""

    def filters(self):
        return {"xray_config": xray_config}
