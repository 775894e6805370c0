"""Observation reports over a replay of the supplied packets: window selection, every format, no secrets."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import select

from tracet_gui.reports import cli
from tracet_gui.reports.observation_report import (
    MAX_THUMBNAILS,
    TABLE_FORMATS,
    collect_report,
    gcn_summary,
    render_html,
    report_table,
)
from tracet_gui.reports.redaction import REDACTED, scrub, scrub_text
from tracet_gui.storage.database import Database
from tracet_gui.storage.decisions import add_observation, record_observation_result
from tracet_gui.storage.schema import ObservationRow

EVERYTHING = (datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _stored(db: Database) -> list[tuple[int, datetime]]:
    """(id, requested_utc) of every observation, read straight from the table (independent of the report)."""
    with db.session() as session:
        return [(r.id, r.requested_utc) for r in session.scalars(select(ObservationRow).order_by(ObservationRow.id))]


def _windows(db: Database) -> list[tuple[str, datetime, datetime]]:
    """Windows derived from the stored request times: all, none, one year, exact edges, just past an edge."""
    times = sorted(t for _, t in _stored(db))
    first, last, middle = times[0], times[-1], times[len(times) // 2]
    tick = timedelta(microseconds=1000)
    return [
        ("everything", *EVERYTHING),
        ("before any request", datetime(1990, 1, 1, tzinfo=UTC), first - timedelta(days=1)),
        (
            "calendar year of the middle one",
            datetime(middle.year, 1, 1, tzinfo=UTC),
            datetime(middle.year, 12, 31, 23, 59, 59, tzinfo=UTC),
        ),
        ("exactly one instant", middle, middle),
        ("starts just after the first", first + tick, last),
        ("ends just before the last", first, last - tick),
    ]


def test_replay_made_observations_to_report(replay_db: Database) -> None:
    stored = _stored(replay_db)
    assert len(stored) >= 5
    assert len({t.year for _, t in stored}) >= 3  # spread over years, so the windows below can split them


def test_report_holds_every_observation_in_the_window_and_none_outside(replay_db: Database) -> None:
    stored = _stored(replay_db)
    for name, start, end in _windows(replay_db):
        expected = {i for i, t in stored if start <= t <= end}
        report = collect_report(replay_db.sessions, start, end, thumbnails=False)
        got = [e.observation.observation_id for e in report.entries]
        assert set(got) == expected, name
        assert len(got) == len(set(got)), name
        assert [e.observation.requested_utc for e in report.entries] == sorted(
            e.observation.requested_utc for e in report.entries
        ), name
        html = render_html(report)
        for entry in report.entries:
            assert f"Observation {entry.observation.observation_id} —" in html, name
        for other in set(i for i, _ in stored) - expected:
            assert f"Observation {other} —" not in html, name


def test_entries_carry_the_latency_chain_and_decision_log(replay_db: Database) -> None:
    report = collect_report(replay_db.sessions, *EVERYTHING, thumbnails=False)
    for entry in report.entries:
        lat = entry.latency
        assert lat.requested_utc == entry.observation.requested_utc
        assert lat.event_utc is not None and lat.received_utc is not None and lat.decided_utc is not None
        assert lat.event_utc <= lat.received_utc <= lat.requested_utc
        names = [name for name, _, _ in lat.steps()]
        assert names == ["event", "receipt", "decision", "request", "response"]
        assert entry.decision is not None and entry.decision.log, entry.trig_id
        assert entry.decision_name == "Triggered"
        assert entry.group is not None and entry.trig_id == entry.group.group.trig_id


def test_gcn_summary_names_every_trigger_once_per_paragraph(replay_db: Database) -> None:
    report = collect_report(replay_db.sessions, *EVERYTHING, thumbnails=False)
    text = gcn_summary(report)
    assert all(len(line) <= 79 for line in text.splitlines())
    for entry in report.entries:
        assert f"(trigger {entry.trig_id}," in text
        assert entry.observation.telescope in text
    assert text.count("PRETEND/TEST") == sum(1 for e in report.entries if e.observation.pretend)
    empty = collect_report(replay_db.sessions, datetime(1990, 1, 1, tzinfo=UTC), datetime(1990, 1, 2, tzinfo=UTC))
    assert "No observation was requested" in gcn_summary(empty)


@pytest.mark.parametrize("fmt", ["csv", "ecsv", "votable"])
def test_table_formats_round_trip_through_astropy(
    replay_db_url: str, replay_db: Database, tmp_path: Path, fmt: str
) -> None:
    start, end = EVERYTHING
    out = tmp_path / f"report.{'xml' if fmt == 'votable' else fmt}"
    assert cli.run_report(replay_db_url, start, end, fmt, out) == 0
    expected = report_table(collect_report(replay_db.sessions, start, end, thumbnails=False))
    read = Table.read(out, format=TABLE_FORMATS[fmt])
    assert len(read) == len(expected) == len(_stored(replay_db))
    assert list(read["observation_id"]) == list(expected["observation_id"])
    for name in ("trig_id", "telescope", "requested_utc", "decision", "outcome", "proposal_id"):
        assert [str(v) for v in read[name]] == [str(v) for v in expected[name]], name
    for name in ("ra_deg", "dec_deg", "event_to_request_s"):
        want = np.ma.filled(expected[name].astype(float), np.nan)
        got = np.ma.filled(np.ma.asarray(read[name]).astype(float), np.nan)
        np.testing.assert_allclose(got, want, rtol=1e-9, equal_nan=True, err_msg=name)
    if fmt in ("ecsv", "votable"):
        assert str(read["ra_deg"].unit) == "deg"


def test_html_report_is_self_contained_with_thumbnails(replay_db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert cli.run_report(replay_db_url, *EVERYTHING, None, out) == 0
    html = out.read_text(encoding="utf-8")
    count = html.count('class="observation"')
    assert count >= 5
    assert html.count("data:image/png;base64,") == min(count, MAX_THUMBNAILS)
    assert "GCN Circular text" in html and "Latency chain" in html and "Decision log" in html


def test_pdf_report_renders_one_page_per_observation(replay_db_url: str, replay_db: Database, tmp_path: Path) -> None:
    from tracet_gui.ui.export_dialog import html_to_pdf

    out = tmp_path / "report.pdf"
    assert cli.run_report(replay_db_url, *EVERYTHING, "pdf", out, pdf_writer=html_to_pdf) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    pages = data.count(b"/Type /Page\n") + data.count(b"/Type /Page ") + data.count(b"/Type /Page/")
    assert pages >= 1 + len(_stored(replay_db))


def test_pdf_needs_a_renderer_and_bad_windows_are_refused(
    replay_db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = EVERYTHING
    assert cli.run_report(replay_db_url, start, end, "pdf", tmp_path / "r.pdf") == 2
    assert "Qt renderer" in capsys.readouterr().err
    assert cli.run_report(replay_db_url, end, start, "csv", tmp_path / "r.csv") == 2
    assert "before" in capsys.readouterr().err
    assert cli.run_report(replay_db_url, start, end, None, tmp_path / "r.txt") == 2
    assert not (tmp_path / "r.pdf").exists() and not (tmp_path / "r.csv").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-05-18", datetime(2023, 5, 18, tzinfo=UTC)),
        ("2023-05-18T12:30Z", datetime(2023, 5, 18, 12, 30, tzinfo=UTC)),
        ("2023-05-18T22:30+10:00", datetime(2023, 5, 18, 12, 30, tzinfo=UTC)),
    ],
)
def test_parse_utc(text: str, expected: datetime) -> None:
    assert cli.parse_utc(text) == expected


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.pdf", "pdf"),
        ("a.HTML", "html"),
        ("a.htm", "html"),
        ("a.csv", "csv"),
        ("a.ecsv", "ecsv"),
        ("a.vot", "votable"),
        ("a.xml", "votable"),
    ],
)
def test_format_from_extension(name: str, fmt: str) -> None:
    assert cli.format_for(Path(name), None) == fmt


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        ({"secure_key": "s3cr3t-key"}, "s3cr3t-key"),
        ({"nested": {"Authorization": "Basic dXNlcjpwYXNz"}}, "dXNlcjpwYXNz"),
        ({"params": [{"passwd": "hunter22"}]}, "hunter22"),
        ({"url": "https://x/api?obsid=1&secure_key=abcd1234&x=2"}, "abcd1234"),
        ({"error": "HTTP 401 for token=tok-999 (Authorization: Bearer eyJabc)"}, "tok-999"),
        ({"error": "HTTP 401 for token=tok-999 (Authorization: Bearer eyJabc)"}, "eyJabc"),
        ({"apiKey": "k-77777"}, "k-77777"),
    ],
)
def test_scrub_removes_secrets(value: dict[str, object], secret: str) -> None:
    assert secret not in str(scrub(value))
    assert REDACTED in str(scrub(value))


def test_scrub_keeps_ordinary_fields() -> None:
    value = {"obsid_list": [1234567890], "trigger_id": "T1", "message": "observation scheduled"}
    assert scrub(value) == value
    assert scrub_text("ra=12.5 dec=-30") == "ra=12.5 dec=-30"


def test_secrets_never_reach_any_report_format(replay_db_url: str, tmp_path: Path) -> None:
    url = replay_db_url
    copy = tmp_path / "secret.sqlite3"
    shutil.copy(url.removeprefix("sqlite:///"), copy)
    db = Database.open(f"sqlite:///{copy}")
    try:
        with db.session() as session:
            obs = session.scalars(select(ObservationRow).order_by(ObservationRow.id)).first()
            assert obs is not None
            when = datetime(2031, 1, 1, tzinfo=UTC)
            new_id = add_observation(
                session,
                decision_id=obs.decision_id,
                event_id=obs.event_id,
                telescope="ATCA",
                kind="atca",
                pretend=False,
                reason="password=pw-in-reason",
                request={**obs.request, "passwd": "pw-request-1"},
                requested_utc=when,
            )
            record_observation_result(
                session,
                new_id,
                ok=False,
                response={"token": "pw-response-2", "msg": "secure_key=pw-text-3"},
                error="denied: Authorization: Bearer pw-error-4",
                trigger_id=None,
                website_link="https://atca/x?secure_key=pw-link-5",
                responded_utc=when,
            )
            session.commit()
    finally:
        db.close()
    secrets = ["pw-in-reason", "pw-request-1", "pw-response-2", "pw-text-3", "pw-error-4", "pw-link-5"]
    window = (datetime(2030, 12, 31, tzinfo=UTC), datetime(2031, 1, 2, tzinfo=UTC))
    for fmt in ("html", "csv", "ecsv", "votable"):
        out = tmp_path / f"secret.{fmt}"
        assert cli.run_report(f"sqlite:///{copy}", *window, fmt, out) == 0
        text = out.read_text(encoding="utf-8")
        assert "denied" in text, fmt  # the observation is in the report, its secrets are not
        for secret in secrets:
            assert secret not in text, (fmt, secret)


def test_non_pdf_reports_never_import_qt(replay_db_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    script = (
        "import sys; from datetime import datetime, UTC; from pathlib import Path\n"
        "from tracet_gui.reports import cli\n"
        "window = datetime(1990, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)\n"
        "for fmt in ('html', 'csv', 'ecsv', 'votable'):\n"
        f"    assert cli.run_report({replay_db_url!r}, *window, fmt, Path({str(tmp_path)!r}) / ('r.' + fmt)) == 0\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "assert not qt, qt\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert cli.wants_pdf(Path("x.pdf"), None) and cli.wants_pdf(Path("x.out"), "pdf")
    assert not cli.wants_pdf(Path("x.pdf"), "csv") and not cli.wants_pdf(Path("x.txt"), None)
