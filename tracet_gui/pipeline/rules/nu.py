"""Neutrinos (reference §4.6): Antares ranking threshold; other neutrino alerts always trigger."""

from __future__ import annotations

from datetime import datetime

from tracet_gui.core.decision_model import Verdict
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.pipeline.rules import note

ANTARES = "antares"
"""Event telescope (lower case) whose alerts carry a ranking."""


def worth_observing_nu(event: ParsedEvent, proposal: ProposalSettings, now: datetime) -> Verdict:
    """Antares: trigger when ranking ≤ ``antares_min_ranking`` (1 is the best); others: trigger."""
    if (event.telescope or "").lower() != ANTARES:
        text = "No thresholds for non Antares telescopes so triggering."
        return Verdict(True, False, False, (note(now, event, text),))
    limit = proposal.antares_min_ranking
    ranking = event.antares_ranking
    if ranking is None:
        text = "The Antares event has no ranking so not triggering."
        return Verdict(False, True, False, (note(now, event, text),))
    if ranking <= limit:
        text = f"The Antares ranking ({ranking}) is less than or equal to {limit} so triggering."
        return Verdict(True, False, False, (note(now, event, text),))
    text = f"The Antares ranking ({ranking}) is greater than {limit} so not triggering."
    return Verdict(False, True, False, (note(now, event, text),))
