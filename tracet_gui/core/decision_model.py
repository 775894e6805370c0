"""Frozen records the decision rules read and return (reference §4, with §10.3 fixed).

Nothing here does I/O: the pipeline builds a :class:`DecisionState` and a :class:`GroupView` from storage,
asks ``tracet_gui.pipeline.decisions.evaluate`` for an :class:`Outcome`, sends the outcome's
:class:`ObservationRequest` s to the telescopes and stores the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import Decision, LogKind, SourceType

RequestKind = Literal["mwa_buffer", "mwa_observation", "mwa_subarrays", "atca"]
"""What a telescope request asks for: an MWA VCS buffer dump, an MWA tracked observation, an MWA
observation split in sub-arrays (GW), or an ATCA rapid-response observation."""

MWA_SUBARRAY_NAMES = ("all_ne", "all_nw", "all_se", "all_sw")
"""The MWA sub-arrays, in the order of the default pointings NE, NW, SE, SW."""


class SkyPosition(NamedTuple):
    """A sky position (ICRS, deg) and its error radius (deg, None when the alert gave none)."""

    ra_deg: float
    dec_deg: float
    pos_error_deg: float | None


@dataclass(frozen=True, slots=True)
class Reason:
    """One structured decision-log entry; formatted only when shown."""

    at_utc: datetime
    event_ivorn: str | None
    kind: LogKind
    text: str

    def format(self) -> str:
        """``{time}: {ivorn}: {text}`` – the one-line form used in logs and reports."""
        return f"{self.at_utc:%Y-%m-%dT%H:%M:%S}Z: {self.event_ivorn or '-'}: {self.text}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one source rule concluded about one event.

    ``trigger``: worth observing now; ``pending``: an operator should decide; ``debug``: the event was
    interesting enough that the operator may want to know why it was not observed.
    """

    trigger: bool
    debug: bool
    pending: bool
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class GroupView:
    """Everything the decision needs to know about an event group."""

    trig_id: str
    source_type: SourceType | None
    source_name: str | None
    events: tuple[ParsedEvent, ...]
    """All events of the group in arrival order, ignored ones included."""
    ra_deg: float | None = None
    dec_deg: float | None = None
    pos_error_deg: float | None = None

    @property
    def best_position(self) -> SkyPosition | None:
        if self.ra_deg is None or self.dec_deg is None:
            return None
        return SkyPosition(self.ra_deg, self.dec_deg, self.pos_error_deg)


@dataclass(frozen=True, slots=True)
class DecisionState:
    """One proposal's current decision about one group (``decision`` None = not decided yet)."""

    decision: Decision | None = None
    ra_deg: float | None = None
    dec_deg: float | None = None
    pos_error_deg: float | None = None
    duration_s: float | None = None
    has_observed: bool = False
    """True once any telescope request for this decision succeeded (buffer dumps included)."""
    subarray_pointings: tuple[tuple[float, float], ...] = ()
    """(ra, dec) in deg of the MWA sub-arrays last observed (GW), in MWA_SUBARRAY_NAMES order."""

    @property
    def position(self) -> SkyPosition | None:
        if self.ra_deg is None or self.dec_deg is None:
            return None
        return SkyPosition(self.ra_deg, self.dec_deg, self.pos_error_deg)


@dataclass(frozen=True, slots=True)
class AtcaBandRequest:
    """One ATCA band of a rapid-response request."""

    band: str
    use: bool
    exposure_min: int
    freq1_mhz: int | None
    freq2_mhz: int | None


def _hms(minutes: float) -> str:
    return str(timedelta(minutes=minutes))


@dataclass(frozen=True, slots=True)
class ObservationRequest:
    """One request to a telescope, fully described; the telescope clients only translate it."""

    telescope: str
    kind: RequestKind
    pretend: bool
    """True: ask the telescope to pretend (MWA ``pretend``; ATCA ``test``/``noTimeLimit``/``noScoreLimit``)."""
    project_id: str
    obsname: str
    """Deterministic observation name: sorted alert telescopes of the group + ``_`` + trig_id."""
    reason: str
    source_name: str
    ra_deg: float | None = None
    dec_deg: float | None = None
    subarray_pointings: tuple[tuple[float, float], ...] = ()
    subarray_names: tuple[str, ...] = ()
    exposure_s: int = 0
    """MWA: length of each observation (multiple of 8 s); ATCA: longest total exposure."""
    nobs: int = 1
    freqspecs: str | None = None
    calibrator: bool = False
    calexptime_s: float | None = None
    inttime_s: float | None = None
    freqres_khz: float | None = None
    vcsmode: bool = False
    buffer_obstime_s: int | None = None
    atca_bands: tuple[AtcaBandRequest, ...] = ()
    atca_max_exptime_min: int | None = None
    atca_min_exptime_min: int | None = None
    atca_maximum_lag_minutes: float | None = None
    atca_minimum_time_minutes: float | None = None
    proposal_id: str | None = None
    """The proposal that asked (priority arbitration on a shared telescope)."""
    priority: int | None = None
    """That proposal's priority (lower = more important)."""

    @property
    def total_time_s(self) -> int:
        """Time on sky the request asks for (s)."""
        if self.kind == "mwa_buffer":
            return self.buffer_obstime_s or 0
        return self.exposure_s * self.nobs

    def atca_band_dict(self) -> dict[str, dict[str, object]]:
        """The bands in the ATCA rapid-response API form (``{"4cm": {"use": …, "exposureLength": …}}``)."""
        return {
            b.band: {
                "use": b.use,
                "exposureLength": _hms(b.exposure_min),
                "freq1": b.freq1_mhz,
                "freq2": b.freq2_mhz,
            }
            for b in self.atca_bands
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of evaluating one event (or an operator's choice) for one proposal.

    When ``requests`` is not empty the decision is provisional (T): the caller sends the requests in
    order and calls ``outcome_after_requests`` to turn the telescope's answer into T or E.
    """

    decision: Decision
    reasons: tuple[Reason, ...]
    requests: tuple[ObservationRequest, ...] = ()
    needs_operator: bool = False
    """True when an operator must look at this decision (e.g. a triggered event was retracted)."""
    position_update: SkyPosition | None = None
    """The position the decision now uses, when it changed."""
    trigger: bool = False
    debug: bool = False
    pending: bool = False
