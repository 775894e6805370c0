"""Source rules (reference §4.4–4.8, with §10.3 fixed): pure functions from an event to a Verdict.

Each rule reads one event, one proposal and ``now`` and returns a :class:`Verdict` whose reasons say,
in TraceT's words where those were right, why it triggers, waits for an operator, or does not.
"""

from __future__ import annotations

from datetime import datetime

from tracet_gui.core.decision_model import Reason
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import LogKind


def note(now: datetime, event: ParsedEvent | None, text: str, kind: LogKind = LogKind.INFO) -> Reason:
    """A decision-log entry about ``event`` written at ``now``."""
    return Reason(at_utc=now, event_ivorn=event.ivorn if event is not None else None, kind=kind, text=text)
