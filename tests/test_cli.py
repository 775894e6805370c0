"""The command line, run as a user runs it (a real process, a real SQLite file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tracet_gui.pipeline.parse import EVENT_JSON_KEYS
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import EventGroupRow, EventRow, InboxRow

DATA = Path(__file__).parent / "data"

PARSE_KEYS = list(EVENT_JSON_KEYS)  # checked against the list in tests/pipeline/test_parse.py


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracet_gui", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_parse_json_prints_one_object_per_file_with_exact_keys() -> None:
    files = sorted(str(p) for p in DATA.glob("*.xml"))
    result = run_cli("parse", *files, "--json")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(files)
    errors = [obj for obj in lines if "error" in obj]
    assert [Path(obj["file"]).name for obj in errors] == ["Swift_unknown_fail.xml"]
    assert set(errors[0]) == {"file", "error"}
    assert result.returncode == 1  # one file could not be read
    for obj in lines:
        if "error" not in obj:
            assert list(obj) == PARSE_KEYS


def test_parse_of_good_files_exits_zero() -> None:
    result = run_cli("parse", str(DATA / "SWIFT00.xml"), "--json")
    assert result.returncode == 0
    obj = json.loads(result.stdout)
    assert (obj["trig_id"], obj["duration_s"], obj["observed_utc"]) == (
        "772006",
        4.096,
        "2017-09-12T01:34:16.930000+00:00",
    )


def test_ingest_then_list_events_and_groups(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    files = [
        DATA / n
        for n in (
            "group_02_SWIFT_01_BAT_GRB_Pos.xml",
            "group_02_SWIFT_02_XRT_Pos.xml",
            "group_02_SWIFT_03_UVOT_Pos.xml",
            "Swift_unknown_fail.xml",
        )
    ]
    result = run_cli("ingest", *map(str, files), "--db", url)
    assert result.returncode == 1, result.stderr  # the malformed file is reported as failed
    assert "FAILED (kept in inbox" in result.stdout
    again = run_cli("ingest", str(files[0]), "--db", url)
    assert "duplicate" in again.stdout and again.returncode == 0

    events = [json.loads(line) for line in run_cli("events", "--json", "--db", url).stdout.splitlines()]
    assert len(events) == 3
    assert {e["trig_id"] for e in events} == {"1101053"}
    groups = [json.loads(line) for line in run_cli("groups", "--json", "--db", url).stdout.splitlines()]
    assert len(groups) == 1
    group = groups[0]
    assert group["event_count"] == 3 and group["source_type"] == "GRB" and group["source_name"] == "GRB 170912"
    assert group["pos_error_deg"] == pytest.approx(0.0001)  # UVOT has the smallest error

    table = run_cli("groups", "--db", url).stdout
    assert "1101053" in table and "GRB" in table

    db = Database.open(url)
    with db.session() as session:
        inbox = session.scalars(select(InboxRow).order_by(InboxRow.id)).all()
        assert [row.status for row in inbox] == ["processed", "processed", "processed", "failed"]
        assert inbox[3].raw == files[3].read_bytes()
        assert "malformed XML" in (inbox[3].error or "")
        assert inbox[0].duplicate_count == 1
        assert len(session.scalars(select(EventRow)).all()) == 3
        assert len(session.scalars(select(EventGroupRow)).all()) == 1
    db.close()


ENTITY_BOMB = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b']>\n<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://evil/bomb#1" role="test">'
    + b'<What><Param name="x" value="&lol9;"/></What>'
    + b" " * 1_000_000
    + b"</voe:VOEvent>"
)
XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b'<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://evil/xxe#1" role="test">'
    b'<What><Param name="x" value="&xxe;"/></What></voe:VOEvent>'
)


def test_hostile_packets_are_kept_as_failed_inbox_rows(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(ENTITY_BOMB)
    assert bomb.stat().st_size > 1_000_000
    xxe = tmp_path / "xxe.xml"
    xxe.write_bytes(XXE)
    url = f"sqlite:///{tmp_path / 'hostile.sqlite3'}"
    result = run_cli("ingest", str(bomb), str(xxe), "--db", url)
    assert result.returncode == 1
    assert result.stdout.count("FAILED (kept in inbox") == 2
    assert "root:" not in result.stdout + result.stderr
    db = Database.open(url)
    with db.session() as session:
        rows = {row.peer: row for row in session.scalars(select(InboxRow))}
        assert rows[str(bomb)].status == "failed" and rows[str(bomb)].raw == ENTITY_BOMB
        assert rows[str(xxe)].status == "failed" and "DOCTYPE" in (rows[str(xxe)].error or "")
        assert not session.scalars(select(EventRow)).all()
    db.close()


def test_arming_asks_for_confirmation_and_is_audited(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'arm.sqlite3'}"
    refused = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "arm", "--db", url],
        input="yes\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1 and "not confirmed" in refused.stdout
    done = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "arm", "--db", url, "--comment", "GW run"],
        input="ARM\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    from tracet_gui.storage.operator_actions import list_actions

    db = Database.open(url)
    recorded = list_actions(db.sessions)
    assert [(a.action, a.comment) for a in recorded] == [("arm", "GW run")]
    assert recorded[0].operator
    db.close()
