"""One proposal's decision about one event group: transitions, gates and telescope requests.

Reference §4.1–4.3, 4.7 (observation part), 4.10–4.13, §5.2–5.7, §6.2–6.3, with every §10.3 flaw fixed;
docs/decisions.md lists each deliberate difference from TraceT.

``evaluate`` is pure: it reads the current :class:`DecisionState`, the proposal, the new event and the
group, and returns an :class:`Outcome` (new decision, structured reasons, telescope requests). It never
calls a telescope: the caller sends ``outcome.requests`` in order and passes the result to
:func:`outcome_after_requests`, which decides T or E. Every call leaves at least one reason, and always
ends with one ``LogKind.DECISION`` entry naming the resulting decision.

Transitions (one ``match`` over the current decision):

* new (None), P, I, E – full (re)evaluation: gates, retraction, source rule, then requests;
* T – repointing (tracked sources) or GW sub-array update; a retraction flags it for the operator;
* C – logged only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import assert_never

from tracet_gui.core.decision_model import (
    MWA_SUBARRAY_NAMES,
    AtcaBandRequest,
    DecisionState,
    GroupView,
    ObservationRequest,
    Outcome,
    Reason,
    RequestKind,
    SkyPosition,
    Verdict,
)
from tracet_gui.core.pointings import Pointing, default_subarray_pointings, should_repoint
from tracet_gui.core.proposal import ATCA_BANDS, MWA_TIME_GRID_S, ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.visibility import angular_separation_deg, mwa_horizon_check
from tracet_gui.core.vocabulary import Decision, LogKind, SourceType, Testing
from tracet_gui.pipeline.rules import note
from tracet_gui.pipeline.rules.fs import worth_observing_fs
from tracet_gui.pipeline.rules.grb import worth_observing_grb
from tracet_gui.pipeline.rules.gw import EARLY_WARNING, RETRACTION, worth_observing_gw
from tracet_gui.pipeline.rules.nu import worth_observing_nu

MWA_MAX_BLOCK_S = 896
"""Longest single MWA observation we request (s); longer requests are split into ``nobs`` blocks."""

MWA_BUFFER_OBSTIME_S = 8
"""Length (s) of the VCS buffer-dump request: dump the ring buffer, then capture 8 s more."""

FIRST_OBSERVATION_REASON = "First observation."
"""Request reason of a decision's first tracked observation (TraceT's wording)."""

HUMAN_TRIGGER_REASON = "User triggered observation"
"""Request reason of an operator-triggered observation (TraceT's wording)."""

CLOCK_SKEW_WARNING_S = 60.0
"""An event time more than this (s) after our clock's now means a clock is wrong: the decision log warns."""

_DECISION_WORDS = {
    Decision.PENDING: "Pending",
    Decision.IGNORED: "Ignored",
    Decision.ERROR: "Error",
    Decision.TRIGGERED: "Triggered",
    Decision.CANCELED: "Canceled",
}


# ------------------------------------------------------------------------------------------------------
# small decisions
# ------------------------------------------------------------------------------------------------------


def is_pretend(proposal: ProposalSettings, event: ParsedEvent | None) -> bool:
    """Whether requests made because of ``event`` are pretend: PRETEND_REAL proposals and test events."""
    return proposal.testing is Testing.PRETEND_REAL or (event is not None and event.is_test)


def event_time_for_age(event: ParsedEvent, received_utc: datetime | None) -> datetime | None:
    """The time age limits are measured from: the receipt time for test events (stale replays) when
    known, else the event's observed time, else the receipt time."""
    if event.is_test and received_utc is not None:
        return received_utc
    return event.observed_utc if event.observed_utc is not None else received_utc


def obsname_for(group: GroupView) -> str:
    """Deterministic observation name: sorted alert telescopes of the group, then the trig_id."""
    telescopes = sorted({e.telescope for e in group.events if e.telescope})
    return "_".join([*telescopes, group.trig_id])


def mwa_blocks(total_s: int) -> tuple[int, int]:
    """(nobs, exptime_s) covering at most ``total_s`` in blocks of ≤ MWA_MAX_BLOCK_S on the 8-s grid.

    Never returns 0 for either: at least one 8-s observation.
    """
    total_s = max(MWA_TIME_GRID_S, total_s)
    nobs = math.ceil(total_s / MWA_MAX_BLOCK_S)
    exptime_s = max(MWA_TIME_GRID_S, (total_s // nobs) // MWA_TIME_GRID_S * MWA_TIME_GRID_S)
    return nobs, exptime_s


def time_left_s(requested_s: int, limit_s: int, age_s: float | None) -> int | None:
    """Observing time (s, on the 8-s grid) still allowed: ``requested_s`` capped so the observation ends
    within ``limit_s`` of the event time; ``limit_s`` 0 = no limit. None when nothing is left."""
    if limit_s == 0 or age_s is None:
        return requested_s
    remaining = int(limit_s - age_s) // MWA_TIME_GRID_S * MWA_TIME_GRID_S
    total = min(requested_s, remaining)
    return total if total >= MWA_TIME_GRID_S else None


def _position_key(position: SkyPosition) -> tuple[bool, float]:
    err = position.pos_error_deg
    suspicious = err is None or err == 0.0
    return suspicious, (err if err is not None else math.inf)


def best_position(*candidates: SkyPosition | None) -> SkyPosition | None:
    """The candidate with the smallest error radius; positions without an error (or with 0.0, which
    is likely an error) only win when nothing better exists. Ties keep the earlier candidate."""
    present = [c for c in candidates if c is not None]
    if not present:
        return None
    return min(present, key=_position_key)


def _event_position(event: ParsedEvent) -> SkyPosition | None:
    if event.ra_deg is None or event.dec_deg is None:
        return None
    return SkyPosition(event.ra_deg, event.dec_deg, event.pos_error_deg)


def _ra_dec(pointings: Sequence[Pointing]) -> tuple[tuple[float, float], ...]:
    return tuple((p.ra_deg, p.dec_deg) for p in pointings)


def _earlier_events(event: ParsedEvent, group: GroupView) -> tuple[ParsedEvent, ...]:
    for index, member in enumerate(group.events):
        if member.ivorn == event.ivorn:
            return group.events[:index]
    return group.events


def is_first_real_event(event: ParsedEvent, group: GroupView) -> bool:
    """True when no non-ignored event arrived in the group before ``event``."""
    return all(e.ignored for e in _earlier_events(event, group))


def _earlier_duration(event: ParsedEvent, group: GroupView) -> ParsedEvent | None:
    for member in reversed(_earlier_events(event, group)):
        if not member.ignored and member.duration_s is not None:
            return member
    return None


# ------------------------------------------------------------------------------------------------------
# request building
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Requester:
    """What every request of one evaluation shares."""

    proposal: ProposalSettings
    now: datetime
    event: ParsedEvent | None
    pretend: bool
    obsname: str
    trig_id: str
    source_name: str

    def note(self, text: str, kind: LogKind = LogKind.INFO) -> Reason:
        return note(self.now, self.event, text, kind)

    def _base(self, kind: RequestKind, reason: str) -> ObservationRequest:
        p = self.proposal
        request = ObservationRequest(
            telescope=p.telescope,
            kind=kind,
            pretend=self.pretend,
            project_id=p.project_id,
            obsname=self.obsname,
            reason=reason,
            source_name=self.source_name,
            proposal_id=p.proposal_id,
            priority=p.priority,
        )
        if p.is_mwa:
            request = replace(
                request,
                freqspecs=p.mwa_freqspecs,
                inttime_s=p.mwa_inttime,
                freqres_khz=p.mwa_freqres,
                vcsmode=p.is_mwa_vcs,
            )
        return request

    def mwa_buffer(self) -> ObservationRequest:
        return replace(
            self._base("mwa_buffer", "This is a buffer observation ID"),
            nobs=1,
            exposure_s=MWA_BUFFER_OBSTIME_S,
            buffer_obstime_s=MWA_BUFFER_OBSTIME_S,
        )

    def mwa_tracked(
        self, position: SkyPosition, reason: str, total_s: int
    ) -> tuple[ObservationRequest | None, list[Reason]]:
        """A tracked MWA observation at ``position`` after the horizon check (§5.2)."""
        p = self.proposal
        check = mwa_horizon_check(position.ra_deg, position.dec_deg, self.now, total_s, p.mwa_horizon_limit)
        lim = check.limit_deg
        if check.both_below:
            text = (
                f"Not triggering due to horizon limit: alt_beg {check.alt_start_deg:.4f} < {lim:.4f} "
                f"and alt_end {check.alt_end_deg:.4f} < {lim:.4f}."
            )
            return None, [self.note(text)]
        reasons: list[Reason] = []
        if check.start_below:
            reasons.append(
                self.note(
                    "Warning: The source is below the horizon limit at the start of the observation "
                    f"alt_beg {check.alt_start_deg:.4f}.",
                    LogKind.WARNING,
                )
            )
        elif check.end_below:
            reasons.append(
                self.note(
                    "Warning: The source will set below the horizon limit by the end of the observation "
                    f"alt_end {check.alt_end_deg:.4f}.",
                    LogKind.WARNING,
                )
            )
        if reasons:
            reasons.append(
                self.note(f"Above horizon for part of the observation so attempting to observe with {p.telescope}.")
            )
        else:
            reasons.append(self.note(f"Above horizon so attempting to observe with {p.telescope}."))
        nobs, exptime_s = mwa_blocks(total_s)
        request = replace(
            self._base("mwa_observation", reason),
            ra_deg=position.ra_deg,
            dec_deg=position.dec_deg,
            nobs=nobs,
            exposure_s=exptime_s,
            calibrator=True,
            calexptime_s=p.mwa_calexptime,
        )
        return request, reasons

    def mwa_subarrays(
        self, pointings: Sequence[tuple[float, float]], reason: str, total_s: int
    ) -> tuple[ObservationRequest | None, list[Reason]]:
        """A sub-array observation; pointings below the horizon limit for the whole observation are
        dropped, and fewer than four pointings are repeated (best first) so every sub-array observes."""
        p = self.proposal
        kept: list[tuple[float, float]] = []
        reasons: list[Reason] = []
        for ra_deg, dec_deg in pointings:
            check = mwa_horizon_check(ra_deg, dec_deg, self.now, total_s, p.mwa_horizon_limit)
            if check.both_below:
                reasons.append(
                    self.note(
                        f"Dropping sub-array pointing RA {ra_deg:.4f} Dec {dec_deg:.4f}: "
                        f"alt_beg {check.alt_start_deg:.4f} and alt_end {check.alt_end_deg:.4f} are below "
                        f"the horizon limit {check.limit_deg:.4f}.",
                        LogKind.WARNING,
                    )
                )
            else:
                kept.append((ra_deg, dec_deg))
        if not kept:
            reasons.append(self.note("No sub-array pointing is above the horizon limit so no sub-array observation."))
            return None, reasons
        if len(kept) < len(MWA_SUBARRAY_NAMES):
            reasons.append(
                self.note(
                    f"Only {len(kept)} sub-array pointing(s) usable; the remaining sub-arrays repeat them.",
                    LogKind.WARNING,
                )
            )
        assigned = tuple(kept[i % len(kept)] for i in range(len(MWA_SUBARRAY_NAMES)))
        nobs, exptime_s = mwa_blocks(total_s)
        reasons.append(self.note(f"Attempting to observe with {p.telescope} sub-arrays."))
        request = replace(
            self._base("mwa_subarrays", reason),
            subarray_pointings=assigned,
            subarray_names=MWA_SUBARRAY_NAMES,
            nobs=nobs,
            exposure_s=exptime_s,
            calibrator=True,
            calexptime_s=p.mwa_calexptime,
        )
        return request, reasons

    def atca(self, position: SkyPosition, reason: str) -> tuple[ObservationRequest, list[Reason]]:
        p = self.proposal
        bands = []
        for band in ATCA_BANDS:
            use, exposure_min, freq1, freq2 = p.atca_band_choice(band)
            bands.append(AtcaBandRequest(band, use, exposure_min, freq1, freq2))
        request = replace(
            self._base("atca", reason),
            ra_deg=position.ra_deg,
            dec_deg=position.dec_deg,
            exposure_s=p.atca_max_exptime * 60,
            atca_bands=tuple(bands),
            atca_max_exptime_min=p.atca_max_exptime,
            atca_min_exptime_min=p.atca_min_exptime,
            atca_maximum_lag_minutes=p.atca_maximum_lag_minutes,
            atca_minimum_time_minutes=p.atca_minimum_time_minutes,
        )
        return request, [self.note(f"Attempting to observe with {p.telescope}.")]

    def tracked(
        self, position: SkyPosition | None, reason: str, age_s: float | None
    ) -> tuple[tuple[ObservationRequest, ...], list[Reason]]:
        """Request(s) for a source with a position (GRB, FS, NU), on whichever telescope."""
        p = self.proposal
        if position is None:
            return (), [self.note(f"No position to observe so not observing with {p.telescope}.")]
        if p.is_atca:
            request, reasons = self.atca(position, reason)
            return (request,), reasons
        total = time_left_s(p.mwa_exptime, p.maximum_observation_time_seconds, age_s)
        if total is None:
            text = (
                f"The event is {age_s:.0f} s old, more than maximum_observation_time_seconds "
                f"({p.maximum_observation_time_seconds} s), so not observing."
            )
            return (), [self.note(text)]
        mwa_request, reasons = self.mwa_tracked(position, reason, total)
        return ((mwa_request,) if mwa_request is not None else ()), reasons


def _gw_requests(
    req: _Requester, ev: _Evaluation, age_s: float | None
) -> tuple[tuple[ObservationRequest, ...], list[Reason]]:
    """GW on MWA (§4.7 observation part): buffer dump first, then sub-arrays."""
    state, event, group, skymap_pointings = ev.state, ev.event, ev.group, ev.skymap_pointings
    p = req.proposal
    if not p.is_mwa:
        return (), [req.note(f"GW alerts carry no position so {p.telescope} cannot observe them.")]
    requests: list[ObservationRequest] = []
    reasons: list[Reason] = []
    if not state.has_observed and is_first_real_event(event, group):
        if p.is_mwa_vcs:
            reasons.append(req.note("First event so sending dump MWA buffer request to MWA."))
            requests.append(req.mwa_buffer())
        else:
            reasons.append(req.note(f"{p.telescope} has no voltage buffer so no buffer dump."))
    if skymap_pointings:
        pointings: Sequence[Pointing] = skymap_pointings
        limit_s, limit_name = p.maximum_observation_time_seconds, "maximum_observation_time_seconds"
        reason = f"{group.trig_id} - Event has position so using skymap pointings"
    elif p.start_observation_at_high_sensitivity:
        pointings = default_subarray_pointings(p.mwa_default_subarray_alt_az, req.now)
        limit_s, limit_name = p.early_observation_time_seconds, "early_observation_time_seconds"
        if event.event_type == EARLY_WARNING:
            reason = (
                f"{group.trig_id} - Event is an early warning so using default sub arrays and early observation time"
            )
        else:
            reason = f"{group.trig_id} - No sky map yet so using default sub arrays and early observation time"
    else:
        reasons.append(
            req.note(
                "No sky map pointings and start_observation_at_high_sensitivity is False "
                "so no sub-array observation yet."
            )
        )
        return tuple(requests), reasons
    total = time_left_s(p.mwa_exptime, limit_s, age_s)
    if total is None:
        reasons.append(
            req.note(
                f"The event is {age_s:.0f} s old, more than {limit_name} ({limit_s} s), so no sub-array observation."
            )
        )
        return tuple(requests), reasons
    reasons.append(req.note(reason))
    request, more = req.mwa_subarrays(_ra_dec(pointings), reason, total)
    reasons += more
    if request is not None:
        requests.append(request)
    return tuple(requests), reasons


# ------------------------------------------------------------------------------------------------------
# gates and rules
# ------------------------------------------------------------------------------------------------------


def gate_refusal(proposal: ProposalSettings, event: ParsedEvent, group: GroupView) -> str | None:
    """Why this proposal does not act on this event at all (None: it does)."""
    if not proposal.active:
        return f"Proposal {proposal.proposal_id} is inactive so not evaluated."
    if event.ignored:
        return f"The event is ignored ({event.ignore_reason or 'no reason given'}) so not evaluated."
    if event.is_test and proposal.testing is not Testing.BOTH:
        return f"Proposal setting {proposal.testing} does not trigger on event role test."
    if proposal.event_telescope is not None and (event.telescope or "").lower() != proposal.event_telescope.lower():
        return f"This proposal does not trigger on events from {event.telescope}."
    source = group.source_type if group.source_type is not None else event.source_type
    if source is None:
        return "This proposal does not observe events of unknown source type."
    if source is not proposal.source_type:
        return f"This proposal does not observe {source}s."
    return None


def source_verdict(
    proposal: ProposalSettings,
    event: ParsedEvent,
    group: GroupView,
    now: datetime,
    *,
    position: SkyPosition | None,
    duration_s: float | None = None,
    event_time_utc: datetime | None = None,
) -> Verdict:
    """The proposal's source rule applied to ``event``."""
    source = proposal.source_type
    match source:
        case SourceType.GRB:
            return worth_observing_grb(event, proposal, now, position=position, duration_s=duration_s)
        case SourceType.FS:
            return worth_observing_fs(event, proposal, now, source_name=group.source_name)
        case SourceType.NU:
            return worth_observing_nu(event, proposal, now)
        case SourceType.GW:
            return worth_observing_gw(event, proposal, now, event_time_utc=event_time_utc)
        case _:
            assert_never(source)


def _closing(now: datetime, event: ParsedEvent | None, decision: Decision, requests: int) -> Reason:
    word = _DECISION_WORDS[decision]
    text = f"Decision: {word}."
    if requests:
        text = f"Decision: {word} – sending {requests} telescope request(s)."
    return note(now, event, text, LogKind.DECISION)


def _finish(
    now: datetime,
    event: ParsedEvent | None,
    decision: Decision,
    reasons: list[Reason],
    requests: tuple[ObservationRequest, ...] = (),
    *,
    position_update: SkyPosition | None = None,
    needs_operator: bool = False,
    trigger: bool = False,
    debug: bool = False,
    pending: bool = False,
) -> Outcome:
    reasons.append(_closing(now, event, decision, len(requests)))
    return Outcome(
        decision=decision,
        reasons=tuple(reasons),
        requests=requests,
        needs_operator=needs_operator,
        position_update=position_update,
        trigger=trigger,
        debug=debug,
        pending=pending,
    )


# ------------------------------------------------------------------------------------------------------
# transitions
# ------------------------------------------------------------------------------------------------------


def _requester(proposal: ProposalSettings, event: ParsedEvent | None, group: GroupView, now: datetime) -> _Requester:
    return _Requester(
        proposal=proposal,
        now=now,
        event=event,
        pretend=is_pretend(proposal, event),
        obsname=obsname_for(group),
        trig_id=group.trig_id,
        source_name=group.source_name or group.trig_id,
    )


@dataclass(frozen=True, slots=True)
class _Evaluation:
    """The inputs of one ``evaluate`` call."""

    state: DecisionState
    proposal: ProposalSettings
    event: ParsedEvent
    group: GroupView
    now: datetime
    skymap_pointings: tuple[Pointing, ...] | None
    received_utc: datetime | None


def _age_s(event: ParsedEvent, now: datetime, received_utc: datetime | None) -> float | None:
    when = event_time_for_age(event, received_utc)
    return None if when is None else (now - when).total_seconds()


def _full_evaluation(ev: _Evaluation) -> Outcome:
    state, proposal, event, group, now = ev.state, ev.proposal, ev.event, ev.group, ev.now
    received_utc = ev.received_utc
    reasons: list[Reason] = []
    if state.decision is None:
        reasons.append(note(now, event, "Beginning event analysis."))
    else:
        reasons.append(note(now, event, f"Checking new Event (decision was {_DECISION_WORDS[state.decision]})."))
    refusal = gate_refusal(proposal, event, group)
    if refusal is not None:
        reasons.append(note(now, event, refusal))
        if state.decision is None:
            return _finish(now, event, Decision.IGNORED, reasons)
        reasons.append(note(now, event, "This event does not change the decision."))
        return _finish(now, event, state.decision, reasons)
    if event.event_type == RETRACTION:
        reasons.append(note(now, event, "The event was retracted so it is not observed.", LogKind.WARNING))
        return _finish(now, event, Decision.IGNORED, reasons, debug=True)

    position = best_position(group.best_position, _event_position(event), state.position)
    fill = _earlier_duration(event, group) if event.duration_s is None else None
    if fill is not None and proposal.source_type is SourceType.GRB:
        reasons.append(note(now, event, f"Using the duration ({fill.duration_s} s) of the earlier alert {fill.ivorn}."))
    age_s = _age_s(event, now, received_utc)
    verdict = source_verdict(
        proposal,
        event,
        group,
        now,
        position=position,
        duration_s=fill.duration_s if fill is not None else None,
        event_time_utc=event_time_for_age(event, received_utc),
    )
    reasons += verdict.reasons
    position_update = position if position is not None and position != state.position else None
    t, d, pd = verdict.trigger, verdict.debug, verdict.pending
    if verdict.trigger:
        req = _requester(proposal, event, group, now)
        if proposal.source_type is SourceType.GW:
            requests, more = _gw_requests(req, ev, age_s)
            position_update = None
        else:
            requests, more = req.tracked(position, FIRST_OBSERVATION_REASON, age_s)
        reasons += more
        if requests:
            return _finish(
                now,
                event,
                Decision.TRIGGERED,
                reasons,
                requests,
                position_update=position_update,
                trigger=t,
                debug=d,
                pending=pd,
            )
        return _finish(
            now, event, Decision.IGNORED, reasons, position_update=position_update, trigger=t, debug=d, pending=pd
        )
    if verdict.pending:
        return _finish(
            now, event, Decision.PENDING, reasons, position_update=position_update, trigger=t, debug=d, pending=pd
        )
    return _finish(
        now, event, Decision.IGNORED, reasons, position_update=position_update, trigger=t, debug=d, pending=pd
    )


def _gw_update(ev: _Evaluation) -> Outcome:
    state, proposal, event, group, now = ev.state, ev.proposal, ev.event, ev.group, ev.now
    skymap_pointings, received_utc = ev.skymap_pointings, ev.received_utc
    reasons: list[Reason] = []
    if not proposal.is_mwa:
        reasons.append(note(now, event, "GW alerts carry no position so there is nothing to repoint."))
        return _finish(now, event, Decision.TRIGGERED, reasons)
    if not skymap_pointings:
        reasons.append(
            note(now, event, "The event has no sky map pointings so the sub-array observation is not changed.")
        )
        return _finish(now, event, Decision.TRIGGERED, reasons)
    verdict = worth_observing_gw(event, proposal, now, event_time_utc=event_time_for_age(event, received_utc))
    reasons += verdict.reasons
    if not verdict.trigger:
        reasons.append(note(now, event, "The new alert does not pass the checks so the current observation is kept."))
        return _finish(now, event, Decision.TRIGGERED, reasons, debug=True)
    req = _requester(proposal, event, group, now)
    limit = proposal.repointing_limit
    if state.subarray_pointings:
        if not should_repoint(state.subarray_pointings, skymap_pointings, limit):
            reasons.append(
                note(
                    now,
                    event,
                    f"New sky map pointings are within {limit} deg of the current sub-array pointings "
                    "so not repointing.",
                )
            )
            return _finish(now, event, Decision.TRIGGERED, reasons)
        reason = f"{group.trig_id} - Updating observation positions based on event."
    else:
        reason = f"{group.trig_id} - Event has position so using skymap pointings"
    total = time_left_s(
        proposal.mwa_exptime, proposal.maximum_observation_time_seconds, _age_s(event, now, received_utc)
    )
    if total is None:
        reasons.append(
            note(
                now,
                event,
                f"The event is more than maximum_observation_time_seconds "
                f"({proposal.maximum_observation_time_seconds} s) old so not repointing.",
            )
        )
        return _finish(now, event, Decision.TRIGGERED, reasons)
    reasons.append(note(now, event, reason))
    request, more = req.mwa_subarrays(_ra_dec(skymap_pointings), reason, total)
    reasons += more
    requests = (request,) if request is not None else ()
    return _finish(now, event, Decision.TRIGGERED, reasons, requests, trigger=bool(requests))


def repoint_refusal(current: SkyPosition, new: SkyPosition, limit_deg: float) -> tuple[str | None, float]:
    """(why not to repoint or None, separation deg) for a triggered tracked observation.

    Repoint only when the new position is further than ``limit_deg`` AND not worse: a smaller error
    radius ("better"), or an equal one (same instrument, "clearly different"). A larger error radius,
    a missing one while the current has one, or an error of 0.0 (likely an error) never repoints.
    """
    sep = angular_separation_deg(current.ra_deg, current.dec_deg, new.ra_deg, new.dec_deg)
    if new.pos_error_deg == 0.0:
        return "The new position uncertainty is 0.0 which is likely an error so not repointing.", sep
    if sep <= limit_deg:
        return (
            f"Not repointing because separation ({sep:.4f} deg) is not greater than the repointing limit "
            f"({limit_deg:.4f} deg).",
            sep,
        )
    old_err, new_err = current.pos_error_deg, new.pos_error_deg
    worse = (new_err is None and old_err is not None) or (
        new_err is not None and old_err is not None and new_err > old_err
    )
    if worse:
        return (
            f"Not repointing: the new position is {sep:.4f} deg away but its uncertainty ({new_err} deg) is "
            f"larger than the current one ({old_err} deg).",
            sep,
        )
    return None, sep


def _tracked_update(ev: _Evaluation) -> Outcome:
    state, proposal, event, group, now = ev.state, ev.proposal, ev.event, ev.group, ev.now
    received_utc = ev.received_utc
    reasons: list[Reason] = []
    new = _event_position(event)
    if new is None:
        reasons.append(note(now, event, "The event has no position so the observation is not changed."))
        return _finish(now, event, Decision.TRIGGERED, reasons)
    current = state.position
    limit = proposal.repointing_limit
    if current is None:
        text = "The decision has no position yet so observing the event's position."
    else:
        refusal, sep = repoint_refusal(current, new, limit)
        if refusal is not None:
            reasons.append(note(now, event, refusal))
            return _finish(now, event, Decision.TRIGGERED, reasons)
        text = f"Repointing because separation ({sep:.4f} deg) is greater than the repointing limit ({limit:.4f} deg)."
        if (
            new.pos_error_deg is not None
            and current.pos_error_deg is not None
            and new.pos_error_deg < current.pos_error_deg
        ):
            text = text[:-1] + (
                f" and the new position is better ({new.pos_error_deg:.4f} < {current.pos_error_deg:.4f} deg)."
            )
    reasons.append(note(now, event, text))
    req = _requester(proposal, event, group, now)
    requests, more = req.tracked(new, text, _age_s(event, now, received_utc))
    reasons += more
    if not requests:
        reasons.append(note(now, event, "The current observation is kept."))
        return _finish(now, event, Decision.TRIGGERED, reasons)
    return _finish(now, event, Decision.TRIGGERED, reasons, requests, position_update=new, trigger=True)


def _after_trigger(ev: _Evaluation) -> Outcome:
    proposal, event, group, now = ev.proposal, ev.event, ev.group, ev.now
    refusal = gate_refusal(proposal, event, group)
    if refusal is not None:
        reasons = [note(now, event, refusal), note(now, event, "This event does not change the observation.")]
        return _finish(now, event, Decision.TRIGGERED, reasons)
    if event.event_type == RETRACTION:
        text = (
            "The event was retracted: an operator should check the triggered observation and cancel it if it "
            "is still running."
        )
        return _finish(
            now, event, Decision.TRIGGERED, [note(now, event, text, LogKind.WARNING)], needs_operator=True, debug=True
        )
    if proposal.source_type is SourceType.GW:
        return _gw_update(ev)
    return _tracked_update(ev)


def evaluate(
    state: DecisionState,
    proposal: ProposalSettings,
    event: ParsedEvent,
    group: GroupView,
    now: datetime,
    *,
    skymap_pointings: tuple[Pointing, ...] | None = None,
    received_utc: datetime | None = None,
) -> Outcome:
    """What ``proposal`` decides about ``group`` now that ``event`` arrived.

    ``skymap_pointings``: MWA pointings computed from the event's sky map (GW), if any.
    ``received_utc``: when the event was received; age limits of test events (stale replays) use it.
    """
    ev = _Evaluation(state, proposal, event, group, now, skymap_pointings, received_utc)
    decision = state.decision
    match decision:
        case None | Decision.PENDING | Decision.IGNORED | Decision.ERROR:
            outcome = _full_evaluation(ev)
        case Decision.TRIGGERED:
            outcome = _after_trigger(ev)
        case Decision.CANCELED:
            reasons = [note(now, event, "Previous observation canceled so not observing.")]
            outcome = _finish(now, event, Decision.CANCELED, reasons)
        case _:
            assert_never(decision)
    warning = clock_skew_warning(event, now)
    if warning is None:
        return outcome
    return replace(
        outcome, reasons=(*outcome.reasons[:1], note(now, event, warning, LogKind.WARNING), *outcome.reasons[1:])
    )


def clock_skew_warning(event: ParsedEvent, now: datetime) -> str | None:
    """The decision-log warning for an event time in our clock's future (a wrong clock, ours or the sender's)."""
    if event.observed_utc is None:
        return None
    ahead_s = (event.observed_utc - now).total_seconds()
    if ahead_s <= CLOCK_SKEW_WARNING_S:
        return None
    return (
        f"The event time {event.observed_utc:%Y-%m-%dT%H:%M:%S} UTC is {ahead_s:.0f} s in the future of our clock "
        f"({now:%Y-%m-%dT%H:%M:%S} UTC): this computer's clock (or the sender's) is wrong; check NTP. "
        "Event ages and observation time limits are measured from the event time."
    )


def outcome_after_requests(outcome: Outcome, ok: bool, message: str) -> Outcome:
    """The outcome once the caller has sent ``outcome.requests``: T when the telescope accepted them
    (``ok``: at least one request succeeded), E otherwise; ``message`` (the telescope's answer or error)
    is logged. An outcome without requests is returned unchanged."""
    if not outcome.requests:
        return outcome
    last = outcome.reasons[-1] if outcome.reasons else None
    at = last.at_utc if last is not None else None
    ivorn = last.event_ivorn if last is not None else None
    if at is None:
        raise ValueError("an outcome with requests always has reasons")
    decision = Decision.TRIGGERED if ok else Decision.ERROR
    kind = LogKind.INFO if ok else LogKind.ERROR
    text = message or ("Telescope accepted the request." if ok else "Telescope request failed.")
    reasons = (
        *outcome.reasons,
        Reason(at, ivorn, kind, text),
        Reason(at, ivorn, LogKind.DECISION, f"Decision: {_DECISION_WORDS[decision]}."),
    )
    return replace(outcome, decision=decision, reasons=reasons, debug=outcome.debug or not ok)


def human_decision(
    state: DecisionState,
    proposal: ProposalSettings,
    trigger: bool,
    operator: str,
    comment: str | None,
    now: datetime,
    *,
    group: GroupView | None = None,
) -> Outcome:
    """An operator's choice for a decision (reference §4.13).

    From new/P/I/E: ``trigger`` False → I; True → requests at the decision's position (GW on MWA: the
    current sub-array pointings, else the default ones), with the horizon check but no age limit (the
    operator chose). Pretend follows the proposal's testing mode and the role of the group's latest
    non-ignored event. T and C are not changed by an operator here (cancel at the telescope).
    """
    said = f"User {operator} decided {'to trigger' if trigger else 'not to trigger'}."
    if comment:
        said += f" Comment: {comment}"
    reasons: list[Reason] = [note(now, None, said, LogKind.OPERATOR)]
    decision = state.decision
    match decision:
        case None | Decision.PENDING | Decision.IGNORED | Decision.ERROR:
            pass
        case Decision.TRIGGERED | Decision.CANCELED:
            reasons.append(note(now, None, f"The decision is already {_DECISION_WORDS[decision]} so nothing is done."))
            return _finish(now, None, decision, reasons)
        case _:
            assert_never(decision)
    if not trigger:
        return _finish(now, None, Decision.IGNORED, reasons)
    view = (
        group
        if group is not None
        else GroupView(trig_id=proposal.proposal_id, source_type=None, source_name=None, events=())
    )
    latest = next((e for e in reversed(view.events) if not e.ignored), None)
    req = replace(_requester(proposal, latest, view, now), event=None)
    requests: tuple[ObservationRequest, ...]
    if proposal.source_type is SourceType.GW and proposal.is_mwa:
        if state.subarray_pointings:
            pointings = state.subarray_pointings
        else:
            pointings = _ra_dec(default_subarray_pointings(proposal.mwa_default_subarray_alt_az, now))
        request, more = req.mwa_subarrays(pointings, HUMAN_TRIGGER_REASON, proposal.mwa_exptime)
        requests = (request,) if request is not None else ()
    else:
        requests, more = req.tracked(state.position, HUMAN_TRIGGER_REASON, None)
    reasons += more
    if not requests:
        unchanged = decision if decision is not None else Decision.PENDING
        reasons.append(note(now, None, "Nothing could be requested so the decision is unchanged.", LogKind.ERROR))
        return _finish(now, None, unchanged, reasons)
    return _finish(now, None, Decision.TRIGGERED, reasons, requests, trigger=True)
