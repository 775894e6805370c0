"""`tracet-gui replay`: packets through a fresh database, one JSON line per decision change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import ObservationRow, ProposalDecisionRow

DATA = Path(__file__).parent / "data"
ATCA_GRB = DATA / "proposals" / "replay_atca_grb.yaml"
MWA_GW = DATA / "proposals" / "replay_mwa_gw.yaml"


def replay(*args: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "tracet_gui", "replay", *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_pending_grb_is_re_evaluated_by_the_next_event() -> None:
    lines = replay(
        str(DATA / "SWIFT_short.xml"),
        str(DATA / "SWIFT_short_ra185.xml"),
        "--proposals",
        str(ATCA_GRB),
        "--as-observed",
    )
    assert [(line["trig_id"], line["proposal_id"], line["decision"]) for line in lines] == [
        ("772006", "TEST_ATCA_GRB", "P")
    ]
    assert any("waiting for a human's decision" in reason for reason in lines[0]["reasons"])
    assert lines[0]["event_ivorn"].endswith("772006-7987") or "772006" in lines[0]["event_ivorn"]


def test_ignored_fermi_decision_triggers_when_a_better_position_arrives(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fermi.sqlite3'}"
    files = [str(DATA / f"Fermi_532614103_{n}.xml") for n in (1, 2, 3)]
    lines = replay(*files, "--proposals", str(ATCA_GRB), "--as-observed", "--db", url)
    decisions = [line["decision"] for line in lines]
    assert decisions == ["I", "T"]  # GBM_Alert is ignored by the parser, so only Flt_Pos 47 and 59 decide
    assert any("greater than 15.0000" in r for r in lines[0]["reasons"])  # 19.73 deg error
    assert any("Event duration between 0.256 and 1.024 s so triggering." in r for r in lines[1]["reasons"])
    db = Database.open(url)
    with db.session() as session:
        observations = session.scalars(select(ObservationRow)).all()
        assert [(o.telescope, o.kind, o.pretend, o.ok) for o in observations] == [("ATCA", "atca", True, True)]
        assert observations[0].request["ra_deg"] == 185.0
    db.close()


def test_early_warning_then_retraction_flags_the_triggered_decision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gw.sqlite3'}"
    lines = replay(
        str(DATA / "LVC_real_early_warning.xml"),
        str(DATA / "LVC_real_retraction.xml"),
        "--proposals",
        str(MWA_GW),
        "--as-observed",
        "--db",
        url,
    )
    assert [(line["trig_id"], line["proposal_id"], line["decision"]) for line in lines] == [
        ("S230518h", "EARLY_LVC_MWA", "T")
    ]
    db = Database.open(url)
    with db.session() as session:
        observations = session.scalars(select(ObservationRow).order_by(ObservationRow.id)).all()
        kinds = [o.kind for o in observations if o.telescope == "MWA_VCS"]
        assert kinds[:2] == ["mwa_buffer", "mwa_subarrays"]  # the buffer dump goes first
        assert all(o.pretend for o in observations)
        flagged = session.scalars(select(ProposalDecisionRow).where(ProposalDecisionRow.needs_attention)).all()
        assert flagged and all(d.decision == "T" for d in flagged)
    db.close()


def test_backtesting_evaluates_each_packet_at_its_own_time() -> None:
    early_warning = str(DATA / "LVC_real_early_warning.xml")
    as_observed = replay(early_warning, "--proposals", str(MWA_GW), "--as-observed")
    much_later = replay(early_warning, "--proposals", str(MWA_GW), "--now", "2026-11-28T00:00:00+00:00")
    assert [line["decision"] for line in as_observed] == ["T"]
    late = much_later
    assert late and late[0]["decision"] == "I"
    assert any("hours ago" in r or "old" in r for r in late[0]["reasons"])
