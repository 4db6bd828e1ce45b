# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.edgerelay.proxy.plugins.filter.haproxy_stat import (
    FilterModule,
    haproxy_stat,
)
from hypothesis import given
from hypothesis import strategies as st

# Printed by Debian 12's HAProxy 2.6.12 for a backend with one server UP and one refusing.
SAMPLE = (Path(__file__).parent / "fixtures" / "show_stat_haproxy_2.6.csv").read_text()


def test_filter_is_registered():
    assert FilterModule().filters() == {"haproxy_stat": haproxy_stat}


def test_real_output_is_parsed():
    rows = haproxy_stat(SAMPLE)
    assert [(row["pxname"], row["svname"], row["status"]) for row in rows] == [
        ("mtproxy", "FRONTEND", "OPEN"),
        ("mtproxies", "mtp1", "UP"),
        ("mtproxies", "mtp2", "DOWN"),
        ("mtproxies", "BACKEND", "UP"),
    ]
    mtp2 = rows[2]
    assert mtp2["check_status"] == "L4CON"
    assert mtp2["addr"] == "127.0.0.1:18002"
    assert mtp2["last_chk"] == "Connection refused"
    header = SAMPLE.splitlines()[0][2:].rstrip(",").split(",")
    assert all(list(row) == header for row in rows)


def test_servers_of_a_backend_as_verify_selects_them():
    rows = haproxy_stat(SAMPLE)
    servers = {
        row["svname"]: row["status"]
        for row in rows
        if row["pxname"] == "mtproxies" and row["svname"] not in ("FRONTEND", "BACKEND")
    }
    assert servers == {"mtp1": "UP", "mtp2": "DOWN"}


def test_empty_fields_stay_empty_strings():
    rows = haproxy_stat("# pxname,svname,status,\nb,s1,,\nb,s2,UP\n\n")
    assert rows == [
        {"pxname": "b", "svname": "s1", "status": ""},
        {"pxname": "b", "svname": "s2", "status": "UP"},
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no '# pxname,svname,...' header; got 'nothing'"),
        ("Unknown command.\n", "got 'Unknown command.'"),
        ("# pxname,svname,status,\nb,s1,UP,x,y,\n", "line 2 has 5 fields, the header 3"),
    ],
)
def test_other_text_is_rejected(text, message):
    with pytest.raises(AnsibleFilterError, match="haproxy_stat: ") as caught:
        haproxy_stat(text)
    assert message in str(caught.value)


def test_non_text_is_rejected():
    with pytest.raises(AnsibleFilterError, match="expects the text of show stat"):
        haproxy_stat(["# pxname,svname"])


_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-.", min_size=1, max_size=12)


@given(
    servers=st.lists(
        st.tuples(_NAME, _NAME, st.sampled_from(["UP", "DOWN", "MAINT", "DRAIN", "no check"])),
        max_size=20,
    )
)
def test_round_trip_of_generated_rows(servers):
    text = "# pxname,svname,status,\n" + "".join(f"{p},{s},{t},\n" for p, s, t in servers)
    rows = haproxy_stat(text)
    assert [(row["pxname"], row["svname"], row["status"]) for row in rows] == servers
