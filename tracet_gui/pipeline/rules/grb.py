"""Gamma-ray bursts (reference §4.4, HESS §4.8), with §10.3 fixed.

Three steps, as TraceT:

1. position quality (missing position or error, error 0.0, error above the limit, ATCA declination
   windows) – a failure marks the verdict *debug* but step 2 still runs and logs;
2. likelihood – Fermi most-likely index/probability, else Swift rate significance, else HESS
   significance, else "assume it is a GRB"; every "not likely" is a debug verdict;
3. duration – any duration, trigger range, pending ranges (an operator decides), else not triggering.

Ranges are inclusive. ``None`` means "not in the alert"; 0.0 is a value and is checked as one.
"""

from __future__ import annotations

from datetime import datetime

from tracet_gui.core.decision_model import Reason, SkyPosition, Verdict
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.visibility import in_atca_dec_windows
from tracet_gui.pipeline.rules import note
from tracet_gui.pipeline.rules.hess import hess_significance_check

FERMI_GRB_INDEX = 4
"""Fermi GBM ``Most_Likely_Index`` value meaning "GRB"."""


def _position_problem(proposal: ProposalSettings, position: SkyPosition | None) -> str | None:
    if position is None:
        return "The Event has no position so not observing."
    err = position.pos_error_deg
    limit = proposal.maximum_position_uncertainty
    if err is None:
        if limit is not None:
            return f"The Events position has no uncertainty to compare with {limit:.4f} deg so not observing."
    elif err == 0.0:
        return "The Events positions uncertainty is 0.0 which is likely an error so not observing."
    elif limit is not None and err > limit:
        return f"The Events positions uncertainty ({err:.4f} deg) is greater than {limit:.4f} so not observing."
    if proposal.is_atca and not in_atca_dec_windows(position.dec_deg, proposal.atca_dec_windows):
        (min1, max1), (min2, max2) = proposal.atca_dec_windows
        return (
            f"The Events declination ({position.dec_deg}) is outside limit 1 ({min1} < dec < {max1}) "
            f"and limit 2 ({min2} < dec < {max2}) so not observing."
        )
    return None


def _likelihood(event: ParsedEvent, proposal: ProposalSettings) -> tuple[bool, str]:
    """(likely a GRB, log text) from the first metric the alert carries."""
    if event.fermi_most_likely_index is not None:
        if event.fermi_most_likely_index != FERMI_GRB_INDEX:
            return False, f"Fermi GRB likely index not {FERMI_GRB_INDEX} so not triggering."
        prob = event.fermi_detection_prob
        if prob is None:
            return False, "Fermi GRB probability not given so not triggering."
        if prob >= proposal.fermi_prob:
            return True, f"Fermi GRB probability greater than or equal to {proposal.fermi_prob:g}."
        return False, f"Fermi GRB probability less than {proposal.fermi_prob:g} so not triggering."
    if event.swift_rate_signif is not None:
        rate, minimum = event.swift_rate_signif, proposal.swift_rate_signif
        if rate >= minimum:
            return True, f"SWIFT rate significance ({rate}) >= swift_min_rate ({minimum:.3f}) sigma."
        return False, f"SWIFT rate significance ({rate}) < swift_min_rate ({minimum:.3f}) sigma so not triggering."
    if event.hess_significance is not None:
        return hess_significance_check(event.hess_significance, proposal)
    return True, "No probability metric given so assume it is a GRB."


def _duration_verdict(duration: float | None, proposal: ProposalSettings) -> tuple[bool, bool, str]:
    """(trigger, pending, log text) for a likely GRB with a good position."""
    p = proposal
    if p.event_any_duration:
        return True, False, "Accepting any event duration so triggering."
    if duration is None:
        return False, False, "No event duration (None) so not triggering."
    if p.event_min_duration <= duration <= p.event_max_duration:
        return True, False, f"Event duration between {p.event_min_duration} and {p.event_max_duration} s so triggering."
    for low, high in (
        (p.pending_min_duration_1, p.pending_max_duration_1),
        (p.pending_min_duration_2, p.pending_max_duration_2),
    ):
        if low <= duration <= high:
            return False, True, f"Event duration between {low} and {high} s so waiting for a human's decision."
    return False, False, "Event duration outside of all time ranges so not triggering."


def worth_observing_grb(
    event: ParsedEvent,
    proposal: ProposalSettings,
    now: datetime,
    *,
    position: SkyPosition | None = None,
    duration_s: float | None = None,
) -> Verdict:
    """GRB verdict for ``event``.

    ``position`` is the position the observation would use (default: the event's own); ``duration_s``
    stands in for a missing event duration (e.g. taken from an earlier alert of the group).
    """
    if position is None and event.ra_deg is not None and event.dec_deg is not None:
        position = SkyPosition(event.ra_deg, event.dec_deg, event.pos_error_deg)
    duration = event.duration_s if event.duration_s is not None else duration_s
    reasons: list[Reason] = []
    debug = False
    problem = _position_problem(proposal, position)
    if problem is not None:
        debug = True
        reasons.append(note(now, event, problem))
    likely, text = _likelihood(event, proposal)
    reasons.append(note(now, event, text))
    if not likely:
        return Verdict(False, True, False, tuple(reasons))
    if debug:
        return Verdict(False, True, False, tuple(reasons))
    trigger, pending, text = _duration_verdict(duration, proposal)
    reasons.append(note(now, event, text))
    return Verdict(trigger, not trigger and not pending, pending, tuple(reasons))
