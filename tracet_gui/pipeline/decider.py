"""Runs every active proposal over a group when an event joins it, and records what telescopes answered.

The decision itself is pure (``pipeline.decisions.evaluate``). This module is the glue around it:

1. Inside the packet's transaction (pipeline thread): evaluate every active proposal (:meth:`ProposalDecider.plan`,
   reads and computation only, before the transaction writes anything, so SQLite's write lock is not held
   while proposals are evaluated), then store the decisions, their reason logs and one ``observation`` row
   per telescope request (not yet answered) in a few batched statements (:meth:`ProposalDecider.write`), and
   return :class:`RequestJob` s. Nothing here touches the network, so a slow telescope never holds the database.
2. After commit the jobs go to a :class:`JobRunner` (inline for replays, worker threads when live). A job sends
   its requests in order; for a GW alert with a sky map it sends the MWA buffer dump FIRST and only then
   fetches the sky map and chooses pointings.
3. The job's :class:`JobReport` comes back to the pipeline thread, which records responses and turns the
   provisional decision into T or E (``outcome_after_requests``); a report carrying sky-map pointings makes
   the proposal re-evaluate the same event with them, which may produce new requests.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from tracet_gui.core.clock import Clock
from tracet_gui.core.decision_model import DecisionState, GroupView, ObservationRequest, Outcome, Reason
from tracet_gui.core.grouping import GroupState
from tracet_gui.core.pointings import Pointing
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.sending import RequestSender, SendResult
from tracet_gui.core.vocabulary import LogKind, SourceType
from tracet_gui.pipeline.decisions import evaluate, outcome_after_requests
from tracet_gui.storage import decisions as decision_store
from tracet_gui.storage import events as event_store
from tracet_gui.storage.database import Session
from tracet_gui.storage.proposals import ActiveProposals, StoredProposal

log = logging.getLogger(__name__)


class PointingChooser(Protocol):
    """Fetches a GW sky map and chooses MWA pointings for a proposal; raises with a readable message."""

    def choose(self, url: str, proposal: ProposalSettings, when: datetime) -> tuple[Pointing, ...]: ...


@dataclass(frozen=True, slots=True)
class DecisionChange:
    """A proposal's decision about a group changed, or was made, or re-confirmed with new reasons."""

    trig_id: str
    proposal_id: str
    decision: str
    previous: str | None
    event_ivorn: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RequestJob:
    """Telescope work for one decision, run off the pipeline thread."""

    decision_id: int
    group_id: int
    event_id: int | None
    """The event that caused the requests (None for an operator's choice)."""
    proposal: ProposalSettings
    outcome: Outcome
    observation_ids: tuple[int, ...]
    requests: tuple[ObservationRequest, ...]
    skymap_url: str | None = None
    """Fetch this GW sky map after the requests were sent and report pointings for a re-evaluation."""


@dataclass(frozen=True, slots=True)
class JobReport:
    job: RequestJob
    results: tuple[SendResult, ...]
    pointings: tuple[Pointing, ...] | None = None
    skymap_error: str | None = None
    skymap_at_utc: datetime | None = None


def run_job(job: RequestJob, sender: RequestSender, chooser: PointingChooser | None, clock: Clock) -> JobReport:
    """Send the job's requests in order, then (GW) fetch the sky map. Never raises."""
    results: list[SendResult] = []
    for request in job.requests:
        try:
            results.append(sender.send(request))
        except Exception as exc:  # a client bug must still end as a recorded error, not a lost decision
            log.exception("telescope client failed")
            results.append(SendResult(False, f"{type(exc).__name__}: {exc}"))
    if job.skymap_url is None:
        return JobReport(job, tuple(results))
    now = clock.now()
    if chooser is None:
        return JobReport(job, tuple(results), skymap_error="no sky-map reader configured", skymap_at_utc=now)
    try:
        pointings = chooser.choose(job.skymap_url, job.proposal, now)
    except Exception as exc:
        return JobReport(job, tuple(results), skymap_error=f"{exc}", skymap_at_utc=now)
    return JobReport(job, tuple(results), pointings=pointings, skymap_at_utc=now)


def decision_state(stored: decision_store.StoredDecision | None) -> DecisionState:
    if stored is None:
        return DecisionState()
    return DecisionState(
        decision=stored.decision,
        ra_deg=stored.ra_deg,
        dec_deg=stored.dec_deg,
        pos_error_deg=stored.pos_error_deg,
        duration_s=stored.duration_s,
        has_observed=stored.has_observed,
        subarray_pointings=stored.subarray_pointings,
    )


def _needs_skymap(proposal: ProposalSettings, event: ParsedEvent, outcome: Outcome) -> bool:
    return (
        proposal.source_type is SourceType.GW
        and proposal.telescope.startswith("MWA")
        and bool(event.lvc_skymap_fits)
        and outcome.trigger
    )


def group_view(session: Session, group_id: int) -> GroupView:
    stored = event_store.get_group(session, group_id)
    events = tuple(e.event for e in event_store.group_events(session, group_id))
    return view_of(stored.state, events)


def view_of(state: GroupState, events: tuple[ParsedEvent, ...]) -> GroupView:
    """The decision engine's view of a group state and its events (oldest first)."""
    s = state
    return GroupView(s.trig_id, s.source_type, s.source_name, events, s.ra_deg, s.dec_deg, s.pos_error_deg)


@dataclass(frozen=True, slots=True)
class PlannedOutcome:
    """One proposal's evaluated outcome for a new event, not yet stored."""

    proposal: StoredProposal
    stored: decision_store.StoredDecision | None
    outcome: Outcome
    skymap_url: str | None


@dataclass(frozen=True, slots=True)
class DecisionPlan:
    """Every active proposal's outcome for a new event (:meth:`ProposalDecider.plan`)."""

    view: GroupView
    now: datetime
    items: tuple[PlannedOutcome, ...]

    @property
    def needs_attention(self) -> bool:
        """Some outcome asks for the operator (the group is flagged)."""
        return any(item.outcome.needs_operator for item in self.items)


@dataclass(frozen=True, slots=True)
class _OutcomeWrite:
    proposal: StoredProposal
    stored: decision_store.StoredDecision | None
    outcome: Outcome


class ProposalDecider:
    """Evaluates proposals for the processor and records telescope answers. Pipeline thread only."""

    def __init__(self, clock: Clock, *, now_for: Callable[[ParsedEvent], datetime] | None = None) -> None:
        self._clock = clock
        self._now_for = now_for
        self._active_proposals = ActiveProposals()

    def _now(self, event: ParsedEvent) -> datetime:
        return self._now_for(event) if self._now_for is not None else self._clock.now()

    # -- step 1: inside the packet transaction ------------------------------------------------------------

    def decide(
        self, session: Session, group_id: int, event_id: int, event: ParsedEvent, received_utc: datetime
    ) -> tuple[list[DecisionChange], list[RequestJob]]:
        """Evaluate and store every active proposal for an event already stored in its group."""
        plan = self.plan(session, group_id, group_view(session, group_id), event, received_utc)
        if plan is None:
            return [], []
        return self.write(session, plan, group_id, event_id, event)

    def plan(
        self, session: Session, group_id: int | None, view: GroupView, event: ParsedEvent, received_utc: datetime
    ) -> DecisionPlan | None:
        """Evaluate every active proposal (reads only; ``group_id`` None: a group not stored yet). None when
        no proposal is active. ``view`` is the group with the event folded in."""
        proposals = self._active_proposals(session)
        if not proposals:
            return None
        existing = decision_store.decisions_for_group(session, group_id) if group_id is not None else {}
        now = self._now(event)
        items: list[PlannedOutcome] = []
        for proposal in proposals:
            stored = existing.get(proposal.pk)
            state = decision_state(stored)
            outcome = evaluate(state, proposal.settings, event, view, now, received_utc=received_utc)
            skymap_url = event.lvc_skymap_fits if _needs_skymap(proposal.settings, event, outcome) else None
            if skymap_url is not None:
                # Only the buffer dump goes out before the sky map is read; sub-arrays wait for its pointings.
                buffer_only = tuple(r for r in outcome.requests if r.kind == "mwa_buffer")
                note = Reason(
                    now,
                    event.ivorn,
                    LogKind.INFO,
                    f"Sending the buffer dump first, then reading the sky map {skymap_url} for sub-array pointings.",
                )
                outcome = replace(outcome, requests=buffer_only, reasons=(*outcome.reasons, note))
            items.append(PlannedOutcome(proposal, stored, outcome, skymap_url))
        return DecisionPlan(view, now, tuple(items))

    def write(
        self, session: Session, plan: DecisionPlan, group_id: int, event_id: int, event: ParsedEvent
    ) -> tuple[list[DecisionChange], list[RequestJob]]:
        """Store a plan's outcomes (the group's attention flag is the caller's, see ``plan.needs_attention``)."""
        stored = self.store_outcomes(
            session,
            plan.view,
            group_id,
            event_id,
            event,
            [_OutcomeWrite(i.proposal, i.stored, i.outcome) for i in plan.items],
            plan.now,
            flag_group=False,
        )
        changes: list[DecisionChange] = []
        jobs: list[RequestJob] = []
        for item, (change, decision_id, stored_job) in zip(plan.items, stored, strict=True):
            changes.append(change)
            job = stored_job
            if item.skymap_url is not None:
                job = (
                    replace(job, skymap_url=item.skymap_url)
                    if job is not None
                    else RequestJob(
                        decision_id, group_id, event_id, item.proposal.settings, item.outcome, (), (), item.skymap_url
                    )
                )
            if job is not None:
                jobs.append(job)
        return changes, jobs

    def store_outcome(
        self,
        session: Session,
        view: GroupView,
        group_id: int,
        event_id: int | None,
        event: ParsedEvent | None,
        proposal: StoredProposal,
        stored: decision_store.StoredDecision | None,
        outcome: Outcome,
        now: datetime,
    ) -> tuple[DecisionChange, int, RequestJob | None]:
        return self.store_outcomes(
            session, view, group_id, event_id, event, [_OutcomeWrite(proposal, stored, outcome)], now
        )[0]

    def store_outcomes(
        self,
        session: Session,
        view: GroupView,
        group_id: int,
        event_id: int | None,
        event: ParsedEvent | None,
        writes: list[_OutcomeWrite],
        now: datetime,
        *,
        flag_group: bool = True,
    ) -> list[tuple[DecisionChange, int, RequestJob | None]]:
        """Store outcomes of one group in order: decisions, reason logs, observation rows (batched)."""
        decision_writes: list[decision_store.DecisionWrite] = []
        for w in writes:
            stored, outcome = w.stored, w.outcome
            position = outcome.position_update
            duration = (
                stored.duration_s
                if stored is not None and stored.duration_s is not None
                else (event.duration_s if event is not None else None)
            )
            decision_writes.append(
                decision_store.DecisionWrite(
                    decision_id=stored.decision_id if stored is not None else None,
                    group_id=group_id,
                    proposal_pk=w.proposal.pk,
                    decision=outcome.decision,
                    now=now,
                    event_id=event_id,
                    ra_deg=position.ra_deg if position else (stored.ra_deg if stored else view.ra_deg),
                    dec_deg=position.dec_deg if position else (stored.dec_deg if stored else view.dec_deg),
                    pos_error_deg=position.pos_error_deg
                    if position
                    else (stored.pos_error_deg if stored else view.pos_error_deg),
                    duration_s=duration,
                    subarray_pointings=next(
                        (r.subarray_pointings for r in outcome.requests if r.subarray_pointings), None
                    ),
                    needs_attention=True if outcome.needs_operator else None,
                )
            )
        decision_ids = decision_store.save_decisions(session, decision_writes)
        if flag_group and any(w.outcome.needs_operator for w in writes):
            event_store.set_group_attention(session, group_id, True)
        decision_store.insert_log_entries(
            session,
            [
                (decision_id, group_id, decision_store.LogEntry(r.at_utc, r.kind, r.text, event_id))
                for w, decision_id in zip(writes, decision_ids, strict=True)
                for r in w.outcome.reasons
            ],
        )
        observation_ids = decision_store.insert_observations(
            session,
            [
                decision_store.ObservationWrite(
                    decision_id=decision_id,
                    event_id=event_id,
                    telescope=r.telescope,
                    kind=r.kind,
                    pretend=r.pretend,
                    reason=r.reason,
                    request=request_summary(r),
                    requested_utc=now,
                )
                for w, decision_id in zip(writes, decision_ids, strict=True)
                for r in w.outcome.requests
            ],
        )
        out: list[tuple[DecisionChange, int, RequestJob | None]] = []
        used = 0
        for w, decision_id in zip(writes, decision_ids, strict=True):
            outcome = w.outcome
            previous = w.stored.decision if w.stored is not None else None
            change = DecisionChange(
                view.trig_id,
                w.proposal.settings.proposal_id,
                outcome.decision.value,
                previous.value if previous is not None else None,
                event.ivorn if event is not None else None,
                tuple(r.text for r in outcome.reasons),
            )
            ids = tuple(observation_ids[used : used + len(outcome.requests)])
            used += len(outcome.requests)
            job = (
                RequestJob(decision_id, group_id, event_id, w.proposal.settings, outcome, ids, outcome.requests)
                if outcome.requests
                else None
            )
            out.append((change, decision_id, job))
        return out

    # -- step 3: a job came back -------------------------------------------------------------------------

    def record_report(self, session: Session, report: JobReport) -> tuple[list[DecisionChange], list[RequestJob]]:
        job = report.job
        now = self._clock.now()
        decision_store.record_observation_results(
            session,
            [
                decision_store.ObservationResult(
                    observation_id,
                    ok=result.ok,
                    response=result.response,
                    error=None if result.ok else result.message,
                    trigger_id=result.trigger_id,
                    website_link=result.website_link,
                    responded_utc=result.finished_utc or now,
                )
                for observation_id, result in zip(job.observation_ids, report.results, strict=True)
            ],
        )
        changes: list[DecisionChange] = []
        head = decision_store.decision_head(session, job.decision_id)
        if job.requests:
            ok = any(r.ok for r in report.results)
            message = " | ".join(
                f"{req.kind}: {res.message}" for req, res in zip(job.requests, report.results, strict=True)
            )
            final = outcome_after_requests(job.outcome, ok, message)
            added = final.reasons[len(job.outcome.reasons) :]
            # Only the decision changes: position, duration and pointings stay as stored.
            decision_store.set_decision(session, job.decision_id, final.decision, now, job.event_id)
            decision_store.insert_log_entries(
                session,
                [
                    (job.decision_id, job.group_id, decision_store.LogEntry(r.at_utc, r.kind, r.text, job.event_id))
                    for r in added
                ],
            )
            changes.append(
                DecisionChange(
                    head.trig_id,
                    job.proposal.proposal_id,
                    final.decision.value,
                    head.decision.value,
                    None,
                    tuple(r.text for r in added),
                )
            )
        jobs: list[RequestJob] = []
        if job.skymap_url is not None and job.event_id is not None:
            proposal = StoredProposal(head.proposal_pk, 0, job.proposal)
            view = group_view(session, job.group_id)
            event = event_store.get_event(session, job.event_id)
            when = report.skymap_at_utc or now
            state = decision_state(decision_store.get_decision(session, job.decision_id))
            if report.pointings is None:
                # No usable sky map: evaluate again as if fresh (the buffer dump, if sent, is not repeated), so
                # the proposal's default sub-arrays are used when it asks for them.
                state = replace(state, decision=None)
            outcome = evaluate(
                state,
                job.proposal,
                event.event,
                view,
                when,
                skymap_pointings=report.pointings or None,
                received_utc=event.received_utc,
            )
            if report.pointings is None:
                failed = Reason(
                    when, event.event.ivorn, LogKind.ERROR, f"Could not use the sky map: {report.skymap_error}"
                )
                outcome = replace(outcome, reasons=(failed, *outcome.reasons))
            change, _, next_job = self.store_outcome(
                session,
                view,
                job.group_id,
                job.event_id,
                event.event,
                proposal,
                decision_store.get_decision(session, job.decision_id),
                outcome,
                when,
            )
            changes.append(change)
            if next_job is not None:
                jobs.append(next_job)
        return changes, jobs


_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(ObservationRequest))


def request_summary(request: ObservationRequest) -> dict[str, Any]:
    """The request as stored in ``observation.request`` (no secrets: credentials are added by the client).

    ``dataclasses.asdict`` with the nested fields in their stored form, built directly (``asdict`` deep-copies
    every value, a measurable part of a packet's processing); the scalar fields are immutable."""
    out = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    out["subarray_pointings"] = [list(p) for p in request.subarray_pointings]
    out["subarray_names"] = list(request.subarray_names)
    out["atca_bands"] = request.atca_band_dict() if request.atca_bands else {}
    return out
