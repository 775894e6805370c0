"""Flare stars (reference §4.5): no thresholds, a flare-star alert always triggers."""

from __future__ import annotations

from datetime import datetime

from tracet_gui.core.decision_model import Verdict
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.pipeline.rules import note


def worth_observing_fs(
    event: ParsedEvent, proposal: ProposalSettings, now: datetime, *, source_name: str | None = None
) -> Verdict:
    """Trigger on every flare-star alert (``source_name`` defaults to the event's)."""
    name = source_name if source_name is not None else event.source_name
    return Verdict(
        trigger=True, debug=False, pending=False, reasons=(note(now, event, f"Triggering on Flare Star {name}."),)
    )
