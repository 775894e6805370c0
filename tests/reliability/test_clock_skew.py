"""Our clock 10 minutes off the senders': events whose times are 10 minutes in the future or in the past of our
clock are stored as sent, grouped and decided like any other; an event time in the future (impossible unless a
clock is wrong) puts a warning about the clock in the decision log."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.ingest.conftest import wait_for
from tests.reliability.helpers import DATA, all_processed, inbox
from tracet_gui.app import import_proposals
from tracet_gui.config import Settings
from tracet_gui.ingest.engine import Engine
from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import DecisionLogRow, EventGroupRow, EventRow, ProposalDecisionRow

pytestmark = [pytest.mark.reliability]
SKEW = timedelta(minutes=10)
TRIG = "533367528"


def shifted(name: str, event_time: datetime) -> bytes:
    """The packet with its event time (ISOTime) at ``event_time`` and its authoring time (Date) 20 s later."""
    raw = (DATA / name).read_bytes()
    iso = event_time.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
    authored = (event_time + timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%S")
    raw = re.sub(rb"<ISOTime>[^<]+</ISOTime>", f"<ISOTime>{iso}</ISOTime>".encode(), raw)
    return re.sub(rb"<Date>[^<]+</Date>", f"<Date>{authored}</Date>".encode(), raw, count=1)


@pytest.mark.parametrize("offset", [SKEW, -SKEW], ids=["event-10-min-in-our-future", "event-10-min-in-our-past"])
def test_events_ten_minutes_off_our_clock_are_grouped_and_decided(db: Database, offset: timedelta) -> None:
    import_proposals(db, (DATA / "proposals" / "replay_atca_grb.yaml").read_text(), "tester", "test")
    engine = Engine(Settings(db_url=db.url), db)  # nothing is sent anywhere: the in-process recorder
    engine.start()
    try:
        event_time = datetime.now(UTC) + offset
        engine.submit_bytes(shifted("Fermi_GRB_pnt0.xml", event_time))
        engine.submit_bytes(shifted("Fermi_GRB_pnt1.xml", event_time + timedelta(seconds=30)))
        wait_for(lambda: len(inbox(db.url)) == 2 and all_processed(db.url), 20, "both packets processed")
    finally:
        engine.stop()
    assert [r.status for r in inbox(db.url)] == ["processed", "processed"]
    with db.session() as s:
        groups = s.scalars(select(EventGroupRow)).all()
        assert [g.trig_id for g in groups] == [TRIG]  # one group, as with any two alerts of one burst
        observed = list(s.scalars(select(EventRow.observed_utc).order_by(EventRow.id)))
        assert abs(observed[0] - event_time) < timedelta(seconds=1)  # stored as sent, not "corrected"
        decision = s.scalars(select(ProposalDecisionRow)).one()
        assert decision.decision == "T"  # decided like a punctual alert (this proposal has no age limit)
        log = list(s.execute(select(DecisionLogRow.kind, DecisionLogRow.text).order_by(DecisionLogRow.id)))
    clock_warnings = [text for kind, text in log if kind == "warning" and "clock" in text]
    if offset > timedelta(0):
        assert len(clock_warnings) == 2, log  # one for each event
        assert "in the future of our clock" in clock_warnings[0] and "check NTP" in clock_warnings[0]
        assert re.search(r"is (59[89]|60[01]) s in the future", clock_warnings[0]), clock_warnings[0]
    else:
        assert clock_warnings == []  # ten minutes late is an old alert, not a clock problem we can tell
