# Copyright: (c) 2026, edgerelay.proxy contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-user traffic exporter of the xray role (roles/xray/files/xray_stats_exporter.py).

The fixture is what ``xray api statsquery -pattern 'user>>>'`` of the pinned Xray 26.3.27
printed for a real server (api with StatsService on loopback, ``stats: {}``, the policy's
statsUserUplink/statsUserDownlink, a VLESS inbound with four clients), after traffic from a
real client as each user: ``alice``, ``bob@example.org`` (his uplink counter reset, so it has
no "value": that is how Xray prints a counter at zero), one whose email is a UUID and
``mallory here`` (a space). No client had an email of ``""``: Xray keeps no per-user counters
for a client without one.

The metrics must carry the configured name (the email) and nothing else that identifies a
user: never a UUID, whatever the names look like (property test). A failed API call writes
``edgerelay_xray_stats_up 0`` and no user series (not zeros).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import REPO_ROOT, load_module

exporter = load_module("roles/xray/files/xray_stats_exporter.py")

FIXTURE = REPO_ROOT / "tests" / "unit" / "fixtures" / "xray_statsquery_users_26.3.27.json"
PROMTOOL = REPO_ROOT / ".cache" / "bin" / "promtool"
# The canonical spelling and the bare 32 hex digits, in any case.
UUID_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", re.IGNORECASE
)
SAMPLE = re.compile(r'^(\w+)(?:\{user="((?:[^"\\]|\\.)*)"\})? (\d+)$')

EXPECTED = """\
# HELP edgerelay_xray_stats_up 1 if Xray's stats API answered the last query, else 0.
# TYPE edgerelay_xray_stats_up gauge
edgerelay_xray_stats_up 1
# HELP edgerelay_xray_stats_skipped_users Users left out of the per-user metrics: \
their name is not a safe label value or looks like a UUID.
# TYPE edgerelay_xray_stats_skipped_users gauge
edgerelay_xray_stats_skipped_users 2
# HELP edgerelay_xray_user_uplink_bytes_total Bytes the user sent through Xray \
(client to destination) since Xray started.
# TYPE edgerelay_xray_user_uplink_bytes_total counter
edgerelay_xray_user_uplink_bytes_total{user="alice"} 158
edgerelay_xray_user_uplink_bytes_total{user="bob@example.org"} 0
# HELP edgerelay_xray_user_downlink_bytes_total Bytes Xray sent to the user \
(destination to client) since Xray started.
# TYPE edgerelay_xray_user_downlink_bytes_total counter
edgerelay_xray_user_downlink_bytes_total{user="alice"} 1846
edgerelay_xray_user_downlink_bytes_total{user="bob@example.org"} 923
"""


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def samples(text: str) -> dict[tuple[str, str | None], int]:
    """{(metric, user or None): value} of a textfile; every non-comment line must parse."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        user = None if match.group(2) is None else unescape(match.group(2))
        found[(match.group(1), user)] = int(match.group(3))
    return found


def statsquery(stats: list[tuple[str, object]]) -> str:
    """What statsquery prints for these (name, value) counters (value None: no "value")."""
    entries = [
        {"name": name} if value is None else {"name": name, "value": value} for name, value in stats
    ]
    return json.dumps({"stat": entries} if entries else {}, indent=4)


def fake_xray(tmp_path, body: str) -> str:
    """An executable standing in for xray: records its arguments, then runs ``body``."""
    script = tmp_path / "xray"
    script.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/args"\n{body}\n')
    script.chmod(0o755)
    return str(script)


# --- The real output --------------------------------------------------------------------------


def test_the_captured_output_is_parsed():
    users, skipped = exporter.parse_statsquery(FIXTURE.read_text(encoding="utf-8"))
    assert users == {
        "alice": {"uplink": 158, "downlink": 1846},
        "bob@example.org": {"uplink": 0, "downlink": 923},
    }
    assert skipped == 2  # the UUID and "mallory here"


def test_the_captured_output_becomes_this_textfile():
    text = exporter.render(*exporter.parse_statsquery(FIXTURE.read_text(encoding="utf-8")))
    assert text == EXPECTED
    assert not UUID_TEXT.search(text)
    assert "mallory" not in text


@pytest.mark.skipif(not os.access(PROMTOOL, os.X_OK), reason=f"no promtool at {PROMTOOL}")
def test_promtool_accepts_the_textfile():
    text = exporter.render(*exporter.parse_statsquery(FIXTURE.read_text(encoding="utf-8")))
    checked = subprocess.run(
        [str(PROMTOOL), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # promtool also prints lint findings (naming conventions) and exits 1 for them.
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""


def test_empty_and_malformed_answers():
    assert exporter.parse_statsquery("{}\n\n") == ({}, 0)  # no user had traffic yet
    assert exporter.parse_statsquery("") == ({}, 0)
    for bad in ("not json", "[]", '{"stat": {}}'):
        with pytest.raises(ValueError):
            exporter.parse_statsquery(bad)
    # No user series at all: only the families with samples are written.
    assert exporter.render({}, 0) == (
        "# HELP edgerelay_xray_stats_up 1 if Xray's stats API answered the last query, else 0.\n"
        "# TYPE edgerelay_xray_stats_up gauge\n"
        "edgerelay_xray_stats_up 1\n"
        "# HELP edgerelay_xray_stats_skipped_users Users left out of the per-user metrics: "
        "their name is not a safe label value or looks like a UUID.\n"
        "# TYPE edgerelay_xray_stats_skipped_users gauge\n"
        "edgerelay_xray_stats_skipped_users 0\n"
    )


def test_only_the_traffic_counters_of_users_count():
    text = statsquery(
        [
            ("user>>>alice>>>traffic>>>uplink", 5),
            ("user>>>alice>>>online", 2),  # not a traffic counter
            ("inbound>>>api>>>traffic>>>uplink", 7),  # not a user
            ("user>>>alice>>>traffic>>>sideways", 9),
            ("user>>>a>>>b>>>traffic>>>downlink", 9),  # ">>>" inside a name: ambiguous
            ("user>>>carol>>>traffic>>>downlink", "12"),  # proto3 JSON spells int64 as a string
            ("user>>>dave>>>traffic>>>downlink", -1),
            ("user>>>erin>>>traffic>>>downlink", True),
            ("user>>>frank>>>traffic>>>downlink", "1e3"),
            ("user>>>grace>>>traffic>>>downlink", None),
        ]
    )
    assert exporter.parse_statsquery(text) == (
        {"alice": {"uplink": 5}, "carol": {"downlink": 12}, "grace": {"downlink": 0}},
        0,
    )


# --- Names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "alice",
        "bob@example.org",
        "a+b_c.d-e",
        "x" * 64,
        "\u0438\u0432\u0430\u043d",  # a Cyrillic name: UTF-8 label values are fine
        'quote"and\\backslash',  # escaped, not dropped
        "deadbeef",  # 8 hex digits are no UUID
        "user-0123456789abcdef0123456789abcde",  # 31 hex digits
    ],
)
def test_safe_names(name):
    assert exporter.safe_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "x" * 65,
        "mallory here",
        "tab\there",
        "line\nfeed",
        "nul\x00",
        "del\x7f",
        "b831381d-6324-4d53-ad4f-8cda48b30811",
        "B831381D-6324-4D53-AD4F-8CDA48B30811",
        "b831381d63244d53ad4f8cda48b30811",
        "b831381d_6324_4d53_ad4f_8cda48b30811",
        "{b831381d-6324-4d53-ad4f-8cda48b30811}",
        "alice-b831381d-6324-4d53-ad4f-8cda48b30811@example.org",
        "b831381d.6324.4d53.ad4f.8cda48b30811",
    ],
)
def test_unsafe_names_are_skipped_and_counted(name):
    assert not exporter.safe_name(name)
    text = statsquery(
        [(f"user>>>{name}>>>traffic>>>uplink", 10), ("user>>>ok>>>traffic>>>uplink", 1)]
    )
    users, skipped = exporter.parse_statsquery(text)
    assert users == {"ok": {"uplink": 1}}
    assert skipped == 1
    rendered = exporter.render(users, skipped)
    assert "edgerelay_xray_stats_skipped_users 1\n" in rendered
    if name:
        assert name not in rendered


def test_label_values_are_escaped():
    assert exporter.escape_label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    text = exporter.render({'eve"q\\x': {"uplink": 3, "downlink": 4}}, 0)
    assert 'edgerelay_xray_user_uplink_bytes_total{user="eve\\"q\\\\x"} 3\n' in text
    assert samples(text)[("edgerelay_xray_user_downlink_bytes_total", 'eve"q\\x')] == 4


def test_render_never_writes_an_unsafe_name_it_is_handed():
    text = exporter.render({"b831381d-6324-4d53-ad4f-8cda48b30811": {"uplink": 1}, "ok": {}}, 0)
    assert not UUID_TEXT.search(text)


# --- Property: whatever the names, no UUID reaches the file -------------------------------

_hex = st.text("0123456789abcdefABCDEF", min_size=1, max_size=40)


@st.composite
def uuid_like(draw):
    value = uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))
    text = draw(st.sampled_from([str(value), value.hex, str(value).upper(), f"{{{value}}}"]))
    separator = draw(st.sampled_from(["-", "_", ".", ":", "", "-"]))
    text = text.replace("-", separator)
    prefix = draw(st.sampled_from(["", "user-", "a.", "x@"]))
    suffix = draw(st.sampled_from(["", "@example.org", "-2", "+x"]))
    return prefix + text + suffix


names = st.one_of(
    uuid_like(),
    st.text(min_size=0, max_size=80),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}", fullmatch=True),
    _hex,
)
counter_values = st.one_of(st.none(), st.integers(0, 2**63 - 1))


def _parses_back(name: str, direction: str) -> bool:
    """Whether the counter name of ``name`` splits back into it (">>>" is Xray's separator)."""
    counter = f"user>>>{name}>>>traffic>>>{direction}"
    return counter.split(">>>") == ["user", name, "traffic", direction]


@given(st.lists(st.tuples(names, st.sampled_from(["uplink", "downlink"]), counter_values)))
def test_no_uuid_is_ever_written(counters):
    stats = [(f"user>>>{name}>>>traffic>>>{way}", value) for name, way, value in counters]
    users, skipped = exporter.parse_statsquery(statsquery(stats))
    text = exporter.render(users, skipped)

    assert not UUID_TEXT.search(text)
    assert not UUID_TEXT.search(re.sub(r"[-_.]", "", text))
    found = samples(text)
    # Exactly the safe names among the input, with their counters (the last one wins, as in
    # the parser; Xray never prints a counter twice); the unsafe ones only counted.
    expected: dict[tuple[str, str], int] = {}
    unsafe = set()
    for name, way, value in counters:
        if not _parses_back(name, way):
            continue
        if exporter.safe_name(name):
            expected[(f"edgerelay_xray_user_{way}_bytes_total", name)] = value or 0
        else:
            unsafe.add(name)
    assert {key: value for key, value in found.items() if key[1] is not None} == expected
    for _, user in expected:
        assert 0 < len(user) <= 64 and user.isprintable() and not re.search(r"\s", user)
    assert found[("edgerelay_xray_stats_skipped_users", None)] == len(unsafe)


# --- The run: API up, API down, atomic write ----------------------------------------------


def test_a_run_writes_the_file(tmp_path):
    xray = fake_xray(tmp_path, f'cat "{FIXTURE}"')
    output = tmp_path / "out" / "edgerelay_xray_users.prom"
    output.parent.mkdir()
    assert exporter.main(["--xray", xray, "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == EXPECTED
    assert stat.S_IMODE(output.stat().st_mode) == 0o644
    assert [path.name for path in output.parent.iterdir()] == [output.name]  # no temporary left
    assert (tmp_path / "args").read_text().split("\n")[:-1] == [
        "api",
        "statsquery",
        "--server=127.0.0.1:10085",
        "-pattern",
        "user>>>",
        "-timeout",
        "5",
    ]


@pytest.mark.parametrize(
    "body",
    [
        'echo "failed to dial 127.0.0.1:10085" >&2; exit 1',  # Xray down
        'echo \'{"stat": [{"name": "user>>>alice\'',  # cut short
    ],
)
def test_api_down_writes_stats_up_0_and_no_counters(tmp_path, body, capsys):
    output = tmp_path / "edgerelay_xray_users.prom"
    output.write_text(EXPECTED, encoding="utf-8")  # the previous run's counters
    assert exporter.main(["--xray", fake_xray(tmp_path, body), "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert samples(text) == {("edgerelay_xray_stats_up", None): 0}
    assert "edgerelay_xray_user_" not in text
    assert "Xray stats API 127.0.0.1:10085" in capsys.readouterr().err


def test_api_timeout_writes_stats_up_0(tmp_path, monkeypatch):
    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(exporter.subprocess, "run", hang)
    output = tmp_path / "edgerelay_xray_users.prom"
    assert exporter.main(["--xray", "/nonexistent/xray", "--output", str(output)]) == 0
    assert samples(output.read_text(encoding="utf-8")) == {("edgerelay_xray_stats_up", None): 0}


def test_a_missing_binary_is_api_down(tmp_path):
    output = tmp_path / "edgerelay_xray_users.prom"
    assert exporter.main(["--xray", str(tmp_path / "none"), "--output", str(output)]) == 0
    assert samples(output.read_text(encoding="utf-8")) == {("edgerelay_xray_stats_up", None): 0}


def test_the_log_line_carries_no_uuid(tmp_path, capsys):
    body = 'echo "rpc error for b831381d-6324-4d53-ad4f-8cda48b30811" >&2; exit 1'
    output = tmp_path / "edgerelay_xray_users.prom"
    exporter.main(["--xray", fake_xray(tmp_path, body), "--output", str(output)])
    err = capsys.readouterr().err
    assert "rpc error for <redacted>" in err
    assert not UUID_TEXT.search(err)


def test_a_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    output = tmp_path / "edgerelay_xray_users.prom"
    output.write_text("previous\n", encoding="utf-8")

    def broken(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(exporter.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        exporter.write_atomically(str(output), "new\n")
    assert output.read_text(encoding="utf-8") == "previous\n"
    assert [path.name for path in tmp_path.iterdir()] == [output.name]


def test_the_temporary_file_is_not_read_by_node_exporter(tmp_path, monkeypatch):
    # node-exporter reads *.prom only: the file is complete whenever it has that name.
    seen = []
    real_replace = os.replace

    def spy(source, destination):
        seen.append((os.path.basename(source), Path(source).read_text(encoding="utf-8")))
        real_replace(source, destination)

    monkeypatch.setattr(exporter.os, "replace", spy)
    exporter.write_atomically(str(tmp_path / "x.prom"), "complete\n")
    ((name, content),) = seen
    assert name.startswith(".x.prom.") and not name.endswith(".prom")
    assert content == "complete\n"


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
def test_the_script_runs_isolated_with_the_nodes_python(tmp_path):
    # As the unit runs it: python3 -I, standard library only.
    output = tmp_path / "edgerelay_xray_users.prom"
    script = REPO_ROOT / "roles" / "xray" / "files" / "xray_stats_exporter.py"
    xray = fake_xray(tmp_path, f'cat "{FIXTURE}"')
    subprocess.run(
        ["python3", "-I", str(script), "--xray", xray, "--output", str(output)],
        check=True,
        timeout=60,
        env={"PATH": os.environ["PATH"]},
    )
    assert output.read_text(encoding="utf-8") == EXPECTED
