"""The bridge from the decision engine to the telescopes: turns a core ``ObservationRequest`` into an MWA or
ATCA request, applies the safety switch and priority arbitration, and sends it.

Implements ``tracet_gui.core.sending.RequestSender`` (``send(ObservationRequest) -> SendResult``), so the
pipeline can use it in place of the in-process recorder. ``send`` blocks for at most the client's timeout
and must be called from a worker thread (the pipeline's job runner or a :class:`TelescopeDispatcher`),
never from the GUI thread or the ingest thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tracet_gui.core.decision_model import MWA_SUBARRAY_NAMES, ObservationRequest
from tracet_gui.core.sending import SendResult
from tracet_gui.telescopes.arbitration import OwnObservation, arbitrate
from tracet_gui.telescopes.arming import PretendVerdict, combine_with_armed
from tracet_gui.telescopes.atca import AtcaRequest, dec_dms, ra_hms
from tracet_gui.telescopes.mwa import MwaClient, MwaKind, MwaRequest
from tracet_gui.telescopes.recorder import describe_request
from tracet_gui.telescopes.results import TelescopeClient, TelescopeResult

_MWA_KINDS: dict[str, MwaKind] = {
    "mwa_buffer": "buffer",
    "mwa_observation": "observation",
    "mwa_subarrays": "subarrays",
}


def mwa_request_from(request: ObservationRequest, verdict: PretendVerdict) -> MwaRequest:
    """The MWA request for a decision-engine request (its exposure, nobs and obsname are sent as computed)."""
    kind = _MWA_KINDS[request.kind]
    if kind == "observation" and request.vcsmode:
        kind = "vcs"
    return MwaRequest(
        kind=kind,
        project_id=request.project_id,
        obsname=request.obsname,
        pretend=verdict.pretend,
        pretend_label=verdict.label,
        ra_deg=request.ra_deg,
        dec_deg=request.dec_deg,
        subarray_pointings=request.subarray_pointings,
        subarray_names=request.subarray_names or MWA_SUBARRAY_NAMES,
        freqspecs=request.freqspecs,
        exptime_s=request.exposure_s,
        nobs=request.nobs,
        calibrator=request.calibrator,
        calexptime_s=request.calexptime_s,
        freqres_khz=request.freqres_khz,
        inttime_s=request.inttime_s,
        vcsmode=request.vcsmode,
        buffer_obstime_s=request.buffer_obstime_s,
    )


def atca_request_from(request: ObservationRequest, email: str, verdict: PretendVerdict) -> AtcaRequest:
    """The ATCA request for a decision-engine request; pretend → ``test``, ``noTimeLimit``, ``noScoreLimit``."""
    max_min = request.atca_max_exptime_min if request.atca_max_exptime_min is not None else request.exposure_s // 60
    min_min = request.atca_min_exptime_min if request.atca_min_exptime_min is not None else 0
    return AtcaRequest(
        project_id=request.project_id,
        email=email,
        source_name=request.source_name,
        ra_hms=ra_hms(request.ra_deg) if request.ra_deg is not None else "",
        dec_dms=dec_dms(request.dec_deg) if request.dec_deg is not None else "",
        bands=request.atca_bands,
        max_exposure_min=max_min,
        min_exposure_min=min_min,
        test=verdict.pretend,
        no_time_limit=verdict.pretend,
        no_score_limit=verdict.pretend,
        maximum_lag_minutes=request.atca_maximum_lag_minutes,
        minimum_time_minutes=request.atca_minimum_time_minutes,
        pretend_label=verdict.label,
    )


@dataclass(frozen=True, slots=True)
class ArbitrationSource:
    """What priority arbitration needs from the caller (the database)."""

    proposal_of: Callable[[ObservationRequest], tuple[str, int] | None]
    """(proposal_id, priority) of the proposal that made the request; None = do not arbitrate."""
    own_observations: Callable[[str], Sequence[OwnObservation]]
    """Observations our proposals caused on this telescope (argument: the request's telescope name)."""


class ObservationSender:
    """``RequestSender`` over real clients (or recorders)."""

    def __init__(
        self,
        *,
        mwa: TelescopeClient | None,
        atca: TelescopeClient | None,
        is_armed: Callable[[], bool] = lambda: False,
        atca_email_for: Callable[[str], str | None] = lambda project_id: None,
        arbitration: ArbitrationSource | None = None,
    ) -> None:
        self.mwa = mwa
        self.atca = atca
        self.is_armed = is_armed
        self.atca_email_for = atca_email_for
        self.arbitration = arbitration

    def send(self, request: ObservationRequest) -> SendResult:
        return self.send_detailed(request).to_send_result()

    def send_detailed(self, request: ObservationRequest) -> TelescopeResult:
        verdict = combine_with_armed(armed=self.is_armed(), request_pretend=request.pretend)
        if request.kind == "atca":
            email = self.atca_email_for(request.project_id) or ""
            atca_request = atca_request_from(request, email, verdict)
            if self.atca is None:
                return _not_configured(atca_request, "ATCA")
            return self.atca.send(atca_request)
        mwa_request = mwa_request_from(request, verdict)
        if self.mwa is None:
            return _not_configured(mwa_request, "MWA")
        held = self._arbitrate(request, mwa_request)
        if held is not None:
            return held
        return self.mwa.send(mwa_request)

    def _arbitrate(self, request: ObservationRequest, mwa_request: MwaRequest) -> TelescopeResult | None:
        """A held-back result when a higher-priority observation must not be interrupted (real requests only;
        buffer dumps are never delayed by schedule queries)."""
        if self.arbitration is None or mwa_request.pretend or mwa_request.kind == "buffer":
            return None
        if not isinstance(self.mwa, MwaClient):
            return None
        who = self.arbitration.proposal_of(request)
        if who is None:
            return None
        proposal_id, priority = who
        started = datetime.now(UTC)
        busy = self.mwa.busy(mwa_request.project_id, mwa_request.total_time_s)
        schedule = self.mwa.obslist(mwa_request.total_time_s)
        verdict = arbitrate(
            proposal_id=proposal_id,
            priority=priority,
            project_id=mwa_request.project_id,
            schedule=schedule.value if schedule.ok else None,
            own=self.arbitration.own_observations(request.telescope),
            busy=busy.value if busy.ok else None,
        )
        if verdict.proceed:
            return None
        _, kind, pretend, record = describe_request(mwa_request)
        return TelescopeResult(
            ok=False,
            telescope="MWA",
            kind=kind,
            pretend=pretend,
            pretend_label=mwa_request.pretend_label,
            request=record,
            started_utc=started,
            finished_utc=datetime.now(UTC),
            attempts=0,
            response={"busy": busy.response, "obslist": schedule.response},
            error=f"Not sent: {verdict.reason}",
            held_back=True,
        )


def _not_configured(request: Any, telescope: str) -> TelescopeResult:
    now = datetime.now(UTC)
    _, kind, pretend, record = describe_request(request)
    return TelescopeResult(
        ok=False,
        telescope=telescope,
        kind=kind,
        pretend=pretend,
        pretend_label=getattr(request, "pretend_label", ""),
        request=record,
        started_utc=now,
        finished_utc=now,
        attempts=0,
        error=f"No {telescope} client is configured; request not sent.",
    )


__all__ = ["ArbitrationSource", "ObservationSender", "atca_request_from", "mwa_request_from"]
