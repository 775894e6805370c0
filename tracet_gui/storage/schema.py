"""Database schema (SQLAlchemy 2 typed models). One ``…Row`` class per table.

Every datetime column stores timezone-aware UTC (``UtcDateTime``); SQLite keeps no zone, so values are
normalised on the way in and re-tagged as UTC on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A DateTime that only accepts aware datetimes and always returns UTC-aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} refused: store timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class InboxRow(Base):
    """Every raw packet exactly as received, stored before it is acknowledged."""

    __tablename__ = "inbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_utc: Mapped[datetime] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(String(16))
    peer: Mapped[str | None] = mapped_column(String(256))
    topic: Mapped[str | None] = mapped_column(String(256))
    ivorn: Mapped[str | None] = mapped_column(String(512), unique=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default="new", index=True)
    error: Mapped[str | None] = mapped_column(Text)
    processed_utc: Mapped[datetime | None]
    duplicate_count: Mapped[int] = mapped_column(Integer, default=0)
    last_duplicate_utc: Mapped[datetime | None]
    last_duplicate_channel: Mapped[str | None] = mapped_column(String(16))


class EventGroupRow(Base):
    """All events sharing one trig_id."""

    __tablename__ = "event_group"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trig_id: Mapped[str] = mapped_column(String(128), unique=True)
    source_type: Mapped[str | None] = mapped_column(String(8), index=True)
    source_name: Mapped[str | None] = mapped_column(String(256))
    telescope: Mapped[str | None] = mapped_column(String(64), index=True)
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    pos_error_deg: Mapped[float | None] = mapped_column(Float)
    best_event_id: Mapped[int | None] = mapped_column(Integer)
    earliest_observed_utc: Mapped[datetime | None]
    latest_observed_utc: Mapped[datetime | None] = mapped_column(index=True)
    first_received_utc: Mapped[datetime]
    last_received_utc: Mapped[datetime] = mapped_column(index=True)
    ignored: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)

    events: Mapped[list[EventRow]] = relationship(back_populates="group", order_by="EventRow.id")


class EventRow(Base):
    """One parsed VOEvent."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), unique=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("event_group.id"), index=True)
    ivorn: Mapped[str] = mapped_column(String(512), unique=True)
    role: Mapped[str | None] = mapped_column(String(32))
    telescope: Mapped[str | None] = mapped_column(String(64), index=True)
    event_type: Mapped[str | None] = mapped_column(String(128))
    stream: Mapped[str] = mapped_column(String(200), index=True)
    trig_id: Mapped[str] = mapped_column(String(128), index=True)
    self_generated_trig_id: Mapped[bool] = mapped_column(Boolean)
    source_type: Mapped[str | None] = mapped_column(String(8), index=True)
    source_name: Mapped[str | None] = mapped_column(String(256))
    ignored: Mapped[bool] = mapped_column(Boolean, index=True)
    ignore_reason: Mapped[str | None] = mapped_column(Text)
    observed_utc: Mapped[datetime | None] = mapped_column(index=True)
    received_utc: Mapped[datetime] = mapped_column(index=True)
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    pos_error_deg: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    sequence_num: Mapped[int | None] = mapped_column(Integer)
    fermi_most_likely_index: Mapped[int | None] = mapped_column(Integer)
    fermi_detection_prob: Mapped[float | None] = mapped_column(Float)
    swift_rate_signif: Mapped[float | None] = mapped_column(Float)
    antares_ranking: Mapped[int | None] = mapped_column(Integer)
    hess_significance: Mapped[float | None] = mapped_column(Float)
    lvc_false_alarm_rate_hz: Mapped[float | None] = mapped_column(Float)
    lvc_significant: Mapped[bool | None] = mapped_column(Boolean)
    lvc_binary_neutron_star_probability: Mapped[float | None] = mapped_column(Float)
    lvc_neutron_star_black_hole_probability: Mapped[float | None] = mapped_column(Float)
    lvc_binary_black_hole_probability: Mapped[float | None] = mapped_column(Float)
    lvc_terrestrial_probability: Mapped[float | None] = mapped_column(Float)
    lvc_includes_neutron_star_probability: Mapped[float | None] = mapped_column(Float)
    lvc_instruments: Mapped[str | None] = mapped_column(String(128))
    lvc_skymap_fits: Mapped[str | None] = mapped_column(Text)
    lvc_event_url: Mapped[str | None] = mapped_column(Text)
    lvc_retraction_message: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Fields kept beyond TraceT's columns (LVC HasMassGap, IceCube signalness, parser warnings …)."""

    group: Mapped[EventGroupRow | None] = relationship(back_populates="events")


class TelescopeRow(Base):
    """An observing telescope (TraceT's Telescope)."""

    __tablename__ = "telescope"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    lon_deg: Mapped[float] = mapped_column(Float)
    lat_deg: Mapped[float] = mapped_column(Float)
    height_m: Mapped[float] = mapped_column(Float)


class TelescopeProjectRow(Base):
    """A project code on a telescope. Credentials are held by reference (keyring/env name), never here."""

    __tablename__ = "telescope_project"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[str] = mapped_column(String(128))
    telescope: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    credential_ref: Mapped[str | None] = mapped_column(String(256))
    atca_email: Mapped[str | None] = mapped_column(String(256))
    __table_args__ = (UniqueConstraint("project_id", "telescope", name="uq_telescope_project_project_tel"),)


class ProposalRow(Base):
    """An observing proposal; ``settings`` holds every ProposalSettings field as JSON."""

    __tablename__ = "proposal"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[str] = mapped_column(String(64), unique=True)
    telescope: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str] = mapped_column(String(128))
    event_telescope: Mapped[str | None] = mapped_column(String(64))
    source_type: Mapped[str] = mapped_column(String(8))
    testing: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_utc: Mapped[datetime]
    updated_utc: Mapped[datetime]


class ProposalDecisionRow(Base):
    """One proposal's decision about one event group."""

    __tablename__ = "proposal_decision"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("event_group.id"), index=True)
    proposal_pk: Mapped[int] = mapped_column(ForeignKey("proposal.id"), index=True)
    decision: Mapped[str] = mapped_column(String(2), index=True)
    ra_deg: Mapped[float | None] = mapped_column(Float)
    dec_deg: Mapped[float | None] = mapped_column(Float)
    pos_error_deg: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float | None] = mapped_column(Float)
    subarray_pointings: Mapped[list[Any] | None] = mapped_column(JSON)
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    created_utc: Mapped[datetime]
    updated_utc: Mapped[datetime] = mapped_column(index=True)
    last_event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    __table_args__ = (UniqueConstraint("group_id", "proposal_pk", name="uq_proposal_decision_group_prop"),)


class DecisionLogRow(Base):
    """A structured reason-log entry (formatted only when shown)."""

    __tablename__ = "decision_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_decision.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("event_group.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    at_utc: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)


class ObservationRow(Base):
    """One request sent (or that would be sent) to a telescope, with its response. Secrets redacted."""

    __tablename__ = "observation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("proposal_decision.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    telescope: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    pretend: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)
    trigger_id: Mapped[str | None] = mapped_column(String(128))
    website_link: Mapped[str | None] = mapped_column(Text)
    requested_utc: Mapped[datetime] = mapped_column(index=True)
    responded_utc: Mapped[datetime | None]


class BrokerLogRow(Base):
    """Connection health history (VTP remotes, author listener, Kafka)."""

    __tablename__ = "broker_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_utc: Mapped[datetime] = mapped_column(index=True)
    connection: Mapped[str] = mapped_column(String(256), index=True)
    state: Mapped[str] = mapped_column(String(32))
    text: Mapped[str | None] = mapped_column(Text)


class FeedStatusRow(Base):
    """The running engine's view of each feed connection, refreshed every few seconds (viewer consoles read it)."""

    __tablename__ = "feed_status"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connection: Mapped[str] = mapped_column(String(256), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    since_utc: Mapped[datetime]
    last_packet_utc: Mapped[datetime | None]
    packets: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)
    engine: Mapped[str] = mapped_column(String(256))
    updated_utc: Mapped[datetime] = mapped_column(index=True)


class OperatorActionRow(Base):
    """Audit trail: who did what, when and why."""

    __tablename__ = "operator_action"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_utc: Mapped[datetime] = mapped_column(index=True)
    operator: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(256))
    comment: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    executed_utc: Mapped[datetime | None]


Index("ix_event_group_id_id", EventRow.group_id, EventRow.id)
Index("ix_event_group_ignored_last_received", EventGroupRow.ignored, EventGroupRow.last_received_utc)
"""The groups list's default page (not ignored, newest first) in index order (migration 0002)."""
