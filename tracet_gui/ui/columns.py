"""Column tables of every list (TraceT's columns, reference §8, units in the titles)."""

from __future__ import annotations

from typing import Any

from tracet_gui.storage.views import (
    ActionItem,
    BrokerLogItem,
    DecisionItem,
    EventItem,
    GroupItem,
    ObservationItem,
    ProposalItem,
)
from tracet_gui.ui.table_models import Column, col, fmt_bool


def _first_line(text: str | None) -> str:
    return "" if not text else text.splitlines()[0]


EVENT_COLUMNS: list[Column[Any]] = [
    col("Event", "event_id", numeric=True, tooltip="Event id (Enter opens its group)"),
    col("Role", "role"),
    col("Source", "source_type", tooltip="Source type: GRB, FS (flare star), NU (neutrino), GW"),
    col("Telescope", "telescope", tooltip="Alert-producing instrument"),
    col("Event type", "event_type"),
    col("Event time (UTC)", "observed_utc"),
    col("Received (UTC)", "received_utc"),
    col("Trig ID", "trig_id"),
    col("Group", "group_id", numeric=True),
    col("Source name", "source_name"),
    col("RA (deg)", "ra_deg", digits=4, numeric=True),
    col("Dec (deg)", "dec_deg", digits=4, numeric=True),
    col("Pos. error (deg)", "pos_error_deg", digits=4, numeric=True),
    col("Duration (s)", "duration_s", digits=3, numeric=True),
    col("Fermi prob. (%)", "fermi_detection_prob", digits=1, numeric=True),
    col("Swift rate (σ)", "swift_rate_signif", digits=2, numeric=True),
    col("Seq.", "sequence_num", numeric=True, tooltip="Fermi sequence number"),
    Column("GW class", "", lambda e: e.gw_classification, tooltip="BNS/NSBH/BBH/TERE above 0.5"),
    col("Ignored", "ignored", tooltip="Not an interesting stream, or no use for proposals"),
    Column("Why ignored", "", lambda e: e.ignore_reason),
]


def event_search_text(e: EventItem) -> str:
    return " ".join(str(v) for v in (e.trig_id, e.source_name, e.stream, e.ivorn) if v)


GROUP_LEAD_COLUMNS: list[Column[Any]] = [
    col("Group", "group_id", numeric=True, tooltip="Group id (Enter opens the details)"),
    col("First alert (UTC)", "first_received_utc"),
    col("Trig ID", "trig_id"),
    col("Source", "source_type"),
    col("Source name", "source_name"),
]
"""Columns before the decision columns (the decisions must be visible without scrolling)."""

GROUP_TAIL_COLUMNS: list[Column[Any]] = [
    col("Last alert (UTC)", "last_received_utc"),
    col("Telescope", "telescope"),
    col("Events", "event_count", numeric=True),
    Column("Role", "", lambda g: "test" if g.is_test else "observation", tooltip="test = has a test-role event"),
    col("RA (deg)", "ra_deg", digits=4, numeric=True, tooltip="Best position"),
    col("Dec (deg)", "dec_deg", digits=4, numeric=True),
    col("Error (deg)", "pos_error_deg", digits=4, numeric=True),
]


def decision_column(proposal: ProposalItem) -> Column[Any]:
    """One column per active proposal: that proposal's decision about the group."""

    def value(group: GroupItem, pk: int = proposal.proposal_pk) -> str | None:
        cell = group.decision_for(pk)
        return None if cell is None else cell.code

    return Column(
        proposal.proposal_id,
        f"decision:{proposal.proposal_pk}",
        value,
        decision=True,
        tooltip=f"{proposal.proposal_id} ({proposal.telescope}, {proposal.source_type}, priority {proposal.priority}):"
        " P Pending, I Ignored, E Error, T Triggered, C Canceled",
        width=118,
    )


def group_columns(proposals: list[ProposalItem]) -> list[Column[Any]]:
    return GROUP_LEAD_COLUMNS + [decision_column(p) for p in proposals if p.active] + GROUP_TAIL_COLUMNS


def group_search_text(g: GroupItem) -> str:
    return " ".join(str(v) for v in (g.trig_id, g.source_name, g.telescope) if v)


DECISION_COLUMNS: list[Column[Any]] = [
    col("Decision", "decision", decision=True, width=120),
    col("ID", "decision_id", numeric=True),
    col("Updated (UTC)", "updated_utc"),
    col("Proposal", "proposal_id"),
    col("Trig ID", "trig_id"),
    col("Group", "group_id", numeric=True),
    col("Priority", "priority", numeric=True),
    col("Telescope", "telescope"),
    col("Project", "project_id"),
    col("Testing", "testing"),
    Column("Attention", "needs_attention", lambda d: "FLAGGED" if d.needs_attention else "", tooltip="Flagged"),
    Column("Latest reason", "", lambda d: _first_line(d.last_reason), tooltip="Newest entry of the reason log"),
    col("Created (UTC)", "created_utc"),
    col("Duration (s)", "duration_s", digits=3, numeric=True),
    col("RA (deg)", "ra_deg", digits=4, numeric=True),
    col("Dec (deg)", "dec_deg", digits=4, numeric=True),
    col("Error (deg)", "pos_error_deg", digits=4, numeric=True),
]


def decision_search_text(d: DecisionItem) -> str:
    return f"{d.trig_id} {d.proposal_id}"


def _obs_state(o: ObservationItem) -> str:
    return {"waiting": "waiting", "ok": "OK", "failed": "FAILED"}[o.state]


OBSERVATION_COLUMNS: list[Column[Any]] = [
    col("Obs.", "observation_id", numeric=True),
    col("Requested (UTC)", "requested_utc"),
    col("Telescope", "telescope"),
    col("Kind", "kind"),
    Column("Pretend", "pretend", lambda o: "PRETEND" if o.pretend else "real", tooltip="Pretend = not observed"),
    Column("Result", "ok", _obs_state),
    col("Trig ID", "trig_id"),
    col("Proposal", "proposal_id"),
    col("Decision", "decision_id", numeric=True),
    col("Trigger ID", "trigger_id"),
    Column("MWA obs IDs", "", lambda o: ", ".join(o.obs_ids)),
    Column("Link", "", lambda o: o.website_link or "", tooltip="Observation page (Ctrl+L opens it)"),
    Column("Reason", "", lambda o: _first_line(o.reason)),
    Column("Error", "", lambda o: _first_line(o.error)),
    col("Responded (UTC)", "responded_utc"),
]


def observation_search_text(o: ObservationItem) -> str:
    return " ".join(str(v) for v in (o.trig_id, o.proposal_id, o.trigger_id, o.reason) if v)


BROKER_COLUMNS: list[Column[Any]] = [
    col("ID", "log_id", numeric=True),
    col("Time (UTC)", "at_utc"),
    col("Connection", "connection"),
    col("State", "state"),
    Column("Log line", "", lambda b: b.text or ""),
]


def broker_search_text(b: BrokerLogItem) -> str:
    return f"{b.connection} {b.state} {b.text or ''}"


ACTION_COLUMNS: list[Column[Any]] = [
    col("ID", "action_id", numeric=True),
    col("Time (UTC)", "at_utc"),
    col("Operator", "operator"),
    col("Action", "action"),
    col("Target", "target"),
    Column("Comment", "", lambda a: a.comment or ""),
    Column("Executed (UTC)", "executed_utc", lambda a: a.executed_utc, tooltip="Empty = waiting for the engine"),
]


def action_search_text(a: ActionItem) -> str:
    return f"{a.operator} {a.action} {a.target or ''} {a.comment or ''}"


def yes_no(value: bool | None) -> str:
    return fmt_bool(value)
