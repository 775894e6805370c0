"""Proposals in the database: every ProposalSettings field kept as JSON beside indexed identity columns."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from tracet_gui.core.proposal import PROPOSAL_FIELDS, ProposalSettings
from tracet_gui.core.vocabulary import SourceType, Testing
from tracet_gui.storage.fastpath import execute, prepared
from tracet_gui.storage.schema import ProposalRow


@dataclass(frozen=True, slots=True)
class StoredProposal:
    pk: int
    version: int
    settings: ProposalSettings


def settings_to_json(proposal: ProposalSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(proposal):
        value = getattr(proposal, f.name)
        out[f.name] = value.value if isinstance(value, Enum) else value
    return out


def settings_from_json(data: dict[str, Any]) -> ProposalSettings:
    """Rebuild settings; keys unknown to this version are dropped, missing ones take their defaults."""
    values = {key: value for key, value in data.items() if key in PROPOSAL_FIELDS}
    values["source_type"] = SourceType(values["source_type"])
    if "testing" in values:
        values["testing"] = Testing(values["testing"])
    return ProposalSettings(**values)


def _stored(row: ProposalRow) -> StoredProposal:
    return StoredProposal(row.id, row.version, settings_from_json(row.settings))


def list_proposals(session: Session, *, active_only: bool = False) -> list[StoredProposal]:
    """Proposals in processing order (priority, then name)."""
    query = select(ProposalRow).order_by(ProposalRow.priority, ProposalRow.proposal_id)
    if active_only:
        query = query.where(ProposalRow.active.is_(True))
    return [_stored(row) for row in session.scalars(query)]


_ACTIVE_PROPOSAL_ROWS = prepared(
    select(ProposalRow.id, ProposalRow.version, cast(ProposalRow.settings, Text))
    .where(ProposalRow.active.is_(True))
    .order_by(ProposalRow.priority, ProposalRow.proposal_id)
)


class ActiveProposals:
    """``list_proposals(session, active_only=True)`` for the pipeline, which asks for every packet: one small
    query each time (so any change is seen at once), but a proposal's settings are rebuilt only when its
    stored row (pk, version, settings text) differs from the last call."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, int, str], StoredProposal] = {}

    def __call__(self, session: Session) -> list[StoredProposal]:
        rows = execute(session, _ACTIVE_PROPOSAL_ROWS, {})
        known: dict[tuple[int, int, str], StoredProposal] = {}
        out: list[StoredProposal] = []
        for pk, version, text in rows:
            key = (pk, version, text)
            stored = self._known.get(key)
            if stored is None:
                stored = StoredProposal(pk, version, settings_from_json(json.loads(text)))
            known[key] = stored
            out.append(stored)
        self._known = known
        return out


def get_proposal(session: Session, pk: int) -> StoredProposal:
    return _stored(session.get_one(ProposalRow, pk))


def upsert_proposal(session: Session, proposal: ProposalSettings, now: datetime) -> tuple[int, bool]:
    """Insert or update by proposal_id; returns (pk, created). The version grows when settings change."""
    row = session.scalar(select(ProposalRow).where(ProposalRow.proposal_id == proposal.proposal_id))
    settings = settings_to_json(proposal)
    created = row is None
    if row is None:
        row = ProposalRow(proposal_id=proposal.proposal_id, created_utc=now, version=1, settings=settings)
        session.add(row)
    elif row.settings != settings:
        row.version += 1
    row.settings = settings
    row.telescope = proposal.telescope
    row.project_id = proposal.project_id
    row.event_telescope = proposal.event_telescope
    row.source_type = proposal.source_type.value
    row.testing = proposal.testing.value
    row.priority = proposal.priority
    row.active = proposal.active
    row.updated_utc = now
    session.flush()
    return row.id, created


def proposal_names(session: Session) -> dict[int, str]:
    return {pk: name for pk, name in session.execute(select(ProposalRow.id, ProposalRow.proposal_id)).tuples()}
