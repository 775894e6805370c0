"""What the reliability tests read back from a real database file, and the packets they send."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from tracet_gui.storage.database import Database
from tracet_gui.storage.schema import EventGroupRow, EventRow, InboxRow, ProposalDecisionRow

DATA = Path(__file__).resolve().parents[1] / "data"
IVORN = re.compile(rb'ivorn="([^"]+)"')


def ivorn_of(packet: bytes) -> str:
    match = IVORN.search(packet)
    assert match is not None
    return match.group(1).decode()


@dataclass(frozen=True, slots=True)
class Inbox:
    id: int
    ivorn: str | None
    raw: bytes
    status: str
    error: str | None
    channel: str
    duplicate_count: int


def inbox(url: str) -> list[Inbox]:
    db = Database.open(url, migrate=False)
    try:
        with db.session() as s:
            return [
                Inbox(r.id, r.ivorn, r.raw, r.status, r.error, r.channel, r.duplicate_count)
                for r in s.scalars(select(InboxRow).order_by(InboxRow.id))
            ]
    finally:
        db.close()


def all_processed(url: str) -> bool:
    rows = inbox(url)
    return bool(rows) and all(r.status != "new" for r in rows)


def event_ivorns(url: str) -> list[str]:
    db = Database.open(url, migrate=False)
    try:
        with db.session() as s:
            return list(s.scalars(select(EventRow.ivorn).order_by(EventRow.id)))
    finally:
        db.close()


def decisions(url: str, trig_id: str) -> list[tuple[str, str]]:
    """(proposal_pk, decision) of every proposal decision of the group ``trig_id``."""
    db = Database.open(url, migrate=False)
    try:
        with db.session() as s:
            group = s.scalar(select(EventGroupRow).where(EventGroupRow.trig_id == trig_id))
            if group is None:
                return []
            rows = s.scalars(select(ProposalDecisionRow).where(ProposalDecisionRow.group_id == group.id))
            return sorted((str(r.proposal_pk), r.decision) for r in rows)
    finally:
        db.close()


def daemon_log(workdir: Path) -> str:
    """Everything the headless daemon logged: the user log file and stderr."""
    texts = [p.read_text(errors="replace") for p in (workdir / "state").rglob("tracet-gui.log*")]
    err = workdir / "daemon.err"
    if err.exists():
        texts.append(err.read_text(errors="replace"))
    return "\n".join(texts)
