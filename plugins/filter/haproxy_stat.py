# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

import csv
import io

from ansible.errors import AnsibleFilterError

DOCUMENTATION = r"""
name: haproxy_stat
version_added: 0.1.0
author: edgerelay.proxy contributors
short_description: Parse the CSV of HAProxy's C(show stat) command
description:
  - Turns the output of C(show stat) on HAProxy's admin socket (or the C(/stats;csv) page)
    into one mapping per row, keyed by the column names of its C(# pxname,svname,...) header.
  - Every value is a string, as HAProxy prints it (empty when HAProxy leaves the field empty).
  - Rows are in HAProxy's order; the C(FRONTEND) and C(BACKEND) summary rows are kept (filter them
    out by C(svname) to get the servers).
positional: _input
options:
  _input:
    description: The text HAProxy printed.
    type: str
    required: true
notes:
  - Text without the C(# pxname,svname) header, or rows with more fields than the header, fail
    templating with a message saying what was found instead.
"""

EXAMPLES = r"""
- name: Read the servers of the backend
  ansible.builtin.command:
    cmd: socat stdio /run/haproxy/admin.sock
    stdin: show stat
  register: stat
  changed_when: false

- name: Every server of backend mtproxies is UP
  ansible.builtin.assert:
    that: servers | rejectattr('status', 'eq', 'UP') | list | length == 0
  vars:
    servers: >-
      {{ stat.stdout | edgerelay.proxy.haproxy_stat | selectattr('pxname', 'eq', 'mtproxies')
         | rejectattr('svname', 'in', ['FRONTEND', 'BACKEND']) | list }}
"""

RETURN = r"""
_value:
  description: One mapping per row of the CSV, with every column of the header.
  type: list
  elements: dict
  sample:
    - {pxname: mtproxies, svname: mtp1, status: UP, check_status: L4OK, scur: "3"}
"""

_HEADER_PREFIX = "# "


def haproxy_stat(text):
    """Parse ``show stat`` CSV into a list of dicts keyed by the header's columns."""
    if not isinstance(text, str):
        raise AnsibleFilterError(f"haproxy_stat: expects the text of show stat, got {type(text)}")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith(_HEADER_PREFIX + "pxname,svname,"):
        first = lines[0][:80] if lines else "nothing"
        raise AnsibleFilterError(
            f"haproxy_stat: not the output of 'show stat' (no '# pxname,svname,...' header; "
            f"got {first!r})"
        )
    header = lines[0][len(_HEADER_PREFIX) :].rstrip(",").split(",")
    rows = []
    for number, fields in enumerate(csv.reader(io.StringIO("\n".join(lines[1:]))), start=2):
        # HAProxy ends every line with a comma, which reads as one empty field more.
        if fields and fields[-1] == "":
            fields = fields[:-1]
        if len(fields) > len(header):
            raise AnsibleFilterError(
                f"haproxy_stat: line {number} has {len(fields)} fields, the header {len(header)}"
            )
        rows.append(dict(zip(header, fields + [""] * (len(header) - len(fields)), strict=True)))
    return rows


class FilterModule:
    """edgerelay.proxy HAProxy filters."""

    def filters(self):
        return {"haproxy_stat": haproxy_stat}
