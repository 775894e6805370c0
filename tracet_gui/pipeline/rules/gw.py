"""Gravitational waves (reference §4.7, decision part), with §10.3 fixed.

Every alert, early warnings included, passes the same checks in this order; the first failure wins:
age (≤ 2 h), at least two detectors, not a retraction, FAR ≤ threshold, HasNS, BNS, NSBH, BBH and
terrestrial probabilities inside their windows, significance (only when ``observe_significant``).
A value the alert does not carry (None) is not checked; 0.0 is a value and is checked. GW never pends.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tracet_gui.core.decision_model import Reason, Verdict
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import LogKind
from tracet_gui.pipeline.rules import note

GW_MAXIMUM_EVENT_AGE = timedelta(hours=2)
"""Alerts about mergers older than this are not observed."""

GW_MINIMUM_DETECTORS = 2
"""Fewest detectors (``Instruments``) an alert must name."""

RETRACTION = "Retraction"
"""LVC event_type of a retraction notice."""

EARLY_WARNING = "EarlyWarning"
"""LVC event_type of a pre-merger early-warning alert."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+0000"


def _probability_checks(event: ParsedEvent, p: ProposalSettings) -> tuple[tuple[str, float | None, float, float], ...]:
    return (
        (
            "PROB_NS",
            event.lvc_includes_neutron_star_probability,
            p.minimum_neutron_star_probability,
            p.maximum_neutron_star_probability,
        ),
        (
            "PROB_BNS",
            event.lvc_binary_neutron_star_probability,
            p.minimum_binary_neutron_star_probability,
            p.maximum_binary_neutron_star_probability,
        ),
        (
            "PROB_NSBH",
            event.lvc_neutron_star_black_hole_probability,
            p.minimum_neutron_star_black_hole_probability,
            p.maximum_neutron_star_black_hole_probability,
        ),
        (
            "PROB_BBH",
            event.lvc_binary_black_hole_probability,
            p.minimum_binary_black_hole_probability,
            p.maximum_binary_black_hole_probability,
        ),
        (
            "PROB_Terre",
            event.lvc_terrestrial_probability,
            p.minimum_terrestrial_probability,
            p.maximum_terrestrial_probability,
        ),
    )


def _failure(event: ParsedEvent, p: ProposalSettings, now: datetime, event_time_utc: datetime | None) -> str | None:
    if event_time_utc is not None and event_time_utc < now - GW_MAXIMUM_EVENT_AGE:
        hours = GW_MAXIMUM_EVENT_AGE.total_seconds() / 3600
        return (
            f"The event time {event_time_utc.strftime(_TIME_FORMAT)} is more than {hours:g} hours ago "
            f"{(now - GW_MAXIMUM_EVENT_AGE).strftime(_TIME_FORMAT)} so not triggering."
        )
    if event.lvc_instruments is not None:
        detectors = [name for name in event.lvc_instruments.split(",") if name.strip()]
        if len(detectors) < GW_MINIMUM_DETECTORS:
            return f"The event has only {event.lvc_instruments} so not triggering."
    if event.event_type == RETRACTION:
        return "Retraction, so not triggering."
    far = event.lvc_false_alarm_rate_hz
    if far is not None and far > p.maximum_false_alarm_rate:
        return f"The FAR is {far} which is greater than the threshold {p.maximum_false_alarm_rate} so not triggering."
    for name, value, low, high in _probability_checks(event, p):
        if value is None:
            continue
        if value < low:
            return f"The {name} probability ({value}) is less than {low} so not triggering."
        if value > high:
            return f"The {name} probability ({value}) is greater than {high} so not triggering."
    if p.observe_significant and event.lvc_significant is not True:
        if event.lvc_significant is None:
            return (
                "The GW alert does not say whether it is significant and observe_significant is True so not triggering."
            )
        return "The GW alert is not significant and observe_significant is True so not triggering."
    return None


def worth_observing_gw(
    event: ParsedEvent, proposal: ProposalSettings, now: datetime, *, event_time_utc: datetime | None = None
) -> Verdict:
    """GW verdict for ``event``.

    ``event_time_utc`` is the time the age check uses (default: the event's observed time; the caller
    passes the receipt time for test events, which are replays with stale timestamps). When no time is
    known the age check is skipped and a warning logged.
    """
    when = event_time_utc if event_time_utc is not None else event.observed_utc
    reasons: list[Reason] = []
    if when is None:
        reasons.append(note(now, event, "The event time is unknown so its age is not checked.", LogKind.WARNING))
    failure = _failure(event, proposal, now, when)
    if failure is not None:
        reasons.append(note(now, event, failure))
        return Verdict(False, True, False, tuple(reasons))
    reasons.append(note(now, event, "The probability looks good so triggering."))
    return Verdict(True, False, False, tuple(reasons))
