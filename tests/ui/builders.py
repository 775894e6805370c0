"""Databases for the UI tests and the screenshot script: real packets, real proposals, stored decisions.

Events and groups come from the real parser and grouping (the processor's steps without a decider);
decisions, reason logs and observations are written with the storage API the engine uses, so the tests do
not depend on which proposal logic decides what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tracet_gui.core.grouping import fold_event
from tracet_gui.core.resources import resources_dir
from tracet_gui.core.vocabulary import Channel, Decision, InboxStatus, LogKind
from tracet_gui.pipeline.parse import VOEventParser, peek_ivorn
from tracet_gui.pipeline.proposals_yaml import load_proposals_yaml
from tracet_gui.storage import decisions as store
from tracet_gui.storage import events as event_store
from tracet_gui.storage.database import Database
from tracet_gui.storage.inbox import load_inbox_item, mark_inbox, store_raw_packet
from tracet_gui.storage.proposals import list_proposals, upsert_proposal
from tracet_gui.storage.schema import BrokerLogRow

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "tests" / "data"
DEMO_DIR = resources_dir() / "demo"

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Built:
    db: Database
    pending_decision_id: int
    triggered_decision_id: int
    atca_observation_id: int | None
    group_ids: tuple[int, ...]


def import_default_proposals(db: Database) -> None:
    text = (resources_dir() / "proposals" / "default.yaml").read_text(encoding="utf-8")
    with db.session() as session:
        for proposal in load_proposals_yaml(text):
            upsert_proposal(session, proposal, T0)
        session.commit()


def ingest(db: Database, paths: list[Path], start: datetime = T0) -> list[int]:
    """Store and process each file (no decisions); returns the event ids."""
    parser = VOEventParser()
    ids: list[int] = []
    for i, path in enumerate(paths):
        raw = path.read_bytes()
        stored = store_raw_packet(
            db.sessions,
            raw,
            Channel.FILE,
            ivorn=peek_ivorn(raw),
            peer=str(path),
            received_utc=start + timedelta(minutes=i),
        )
        if stored.duplicate:
            continue
        with db.session() as session:
            item = load_inbox_item(session, stored.inbox_id)
            event = parser.parse(item.raw)
            event_id = event_store.add_event(session, stored.inbox_id, event, item.received_utc)
            group = event_store.load_group(session, event.trig_id)
            state = fold_event(group.state if group else None, event_id, event, item.received_utc)
            group_id = event_store.save_group(session, group.group_id if group else None, state)
            event_store.link_event(session, event_id, group_id)
            mark_inbox(session, stored.inbox_id, InboxStatus.PROCESSED, at_utc=item.received_utc)
            session.commit()
        ids.append(event_id)
    return ids


def decide(
    db: Database, group_id: int, event_id: int, proposal_pk: int, code: Decision, reasons: list[str], at: datetime
) -> int:
    with db.session() as session:
        decision_id = store.save_decision(
            session,
            decision_id=None,
            group_id=group_id,
            proposal_pk=proposal_pk,
            decision=code,
            now=at,
            event_id=event_id,
            ra_deg=10.0,
            dec_deg=-20.0,
            pos_error_deg=0.05,
            duration_s=1.5,
        )
        entries = [store.LogEntry(at, LogKind.INFO, text, event_id) for text in reasons]
        entries.append(store.LogEntry(at, LogKind.DECISION, f"Decision: {code.name.title()}", event_id))
        store.add_log_entries(session, decision_id, group_id, entries)
        session.commit()
    return decision_id


def observe(db: Database, decision_id: int, event_id: int, telescope: str, at: datetime, pretend: bool) -> int:
    with db.session() as session:
        obs_id = store.add_observation(
            session,
            decision_id=decision_id,
            event_id=event_id,
            telescope=telescope,
            kind="atca" if telescope == "ATCA" else "mwa_observation",
            pretend=pretend,
            reason="First observation.",
            request={"ra": 10.0, "dec": -20.0},
            requested_utc=at,
        )
        store.record_observation_result(
            session,
            obs_id,
            ok=True,
            response={"obsid_list": [1400000000, 1400000896]} if telescope != "ATCA" else {"id": "atca-77"},
            error=None,
            trigger_id="atca-77" if telescope == "ATCA" else "mwa-1",
            website_link=None
            if telescope == "ATCA"
            else "http://ws.mwatelescope.org/observation/obs/?obsid=1400000000",
            responded_utc=at + timedelta(seconds=2),
        )
        session.commit()
    return obs_id


def group_of(db: Database, event_id: int) -> int:
    from tracet_gui.storage.events import get_event

    with db.session() as session:
        gid = get_event(session, event_id).group_id
    assert gid is not None
    return gid


def build(db: Database, *, pretend_atca: bool = False) -> Built:
    """Proposals, a dozen real packets, a pending, a triggered and an ignored decision, broker log lines."""
    import_default_proposals(db)
    files = [
        DATA_DIR / "SWIFT_BAT_GRB_Pos_1093742-465.xml",
        DATA_DIR / "SWIFT_XRT_Pos_1093742-588.xml",
        DATA_DIR / "Fermi_532614103_1.xml",
        DATA_DIR / "Fermi_532614103_2.xml",
        DATA_DIR / "SWIFT_short.xml",
        DATA_DIR / "LVC_real_preliminary.xml",
        DATA_DIR / "IceCube_134191_017593623_0.xml",
        DATA_DIR / "HD_8537_FLARE_STAR_TEST.xml",
        DATA_DIR / "SWIFT_Point_Dir_Change.xml",
        DATA_DIR / "MS190410a-1-Preliminary.xml",
    ]
    event_ids = ingest(db, files)
    with db.session() as session:
        proposals = {p.settings.proposal_id: p.pk for p in list_proposals(session)}
    swift_event = event_ids[0]
    swift_group = group_of(db, swift_event)
    short_event = event_ids[4]
    short_group = group_of(db, short_event)
    pending = decide(
        db,
        swift_group,
        swift_event,
        proposals["ATCA_long_GRB"],
        Decision.PENDING,
        ["Beginning event analysis.", "The event duration (1.5 s) is in the first pending range 0.0–2.055 s."],
        T0 + timedelta(seconds=5),
    )
    decide(
        db,
        swift_group,
        swift_event,
        proposals["MWA_VCS_GRB_swif"],
        Decision.IGNORED,
        ["Beginning event analysis.", "The event duration is outside every range."],
        T0 + timedelta(seconds=5),
    )
    triggered = decide(
        db,
        short_group,
        short_event,
        proposals["ATCA_short_GRB"],
        Decision.TRIGGERED,
        ["Beginning event analysis.", "Short GRB inside the trigger range."],
        T0 + timedelta(minutes=4, seconds=3),
    )
    atca = observe(db, triggered, short_event, "ATCA", T0 + timedelta(minutes=4, seconds=4), pretend=pretend_atca)
    with db.session() as session:
        session.add_all(
            [
                BrokerLogRow(at_utc=T0, connection="vtp://127.0.0.1:8099", state="connected", text="subscribed"),
                BrokerLogRow(at_utc=T0, connection="kafka:gcn.nasa.gov", state="disabled", text="no credentials"),
                BrokerLogRow(
                    at_utc=T0 + timedelta(minutes=1),
                    connection="vtp://127.0.0.1:8099",
                    state="connected",
                    text="iamalive",
                ),
            ]
        )
        session.commit()
    return Built(db, pending, triggered, atca, (swift_group, short_group))
