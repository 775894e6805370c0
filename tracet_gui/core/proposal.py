"""Observing proposals: what to observe, with which telescope, under which thresholds.

Field names are TraceT's ProposalSettings column names (reference §1.8, [M] table) with the spelling fixed
(``swift_rate_signif``, ``minimum/maximum_terrestrial_probability``); they are also the YAML keys
(``tracet_gui.pipeline.proposals_yaml``). Every field has one default (TraceT's [M] model default) and
its unit and meaning in its metadata (``unit``, ``doc``); docs/proposals.md lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from tracet_gui.core.freqspecs import expand_freqspecs
from tracet_gui.core.vocabulary import SourceType, Testing

OBSERVING_TELESCOPES = ("MWA_VCS", "MWA_correlate", "ATCA")
"""Telescopes a proposal can observe with (TraceT's Telescope rows)."""

EVENT_TELESCOPES = ("SWIFT", "Fermi", "HESS", "Antares", "AMON", "MAXI", "LVC")
"""Alert-producing instruments a proposal can be restricted to (TraceT's EventTelescope rows)."""

MWA_MIN_HORIZON_LIMIT_DEG = 10.0
"""Lowest allowed ``mwa_horizon_limit`` (deg): the MWA cannot usefully observe below it."""

MWA_TIME_GRID_S = 8
"""MWA observations start and last on an 8-second grid; exposures must be multiples of it."""

PROPOSAL_ID_MIN_CHARS = 6
"""Shortest proposal id (TraceT's form rule)."""

PROPOSAL_ID_MAX_CHARS = 16
"""Longest proposal id (TraceT's column width)."""


@dataclass(frozen=True, slots=True)
class AtcaBand:
    """One ATCA receiver band: allowed centre frequencies in MHz (a fixed one for 16cm)."""

    name: str
    min_freq_mhz: int
    max_freq_mhz: int
    fixed_freq_mhz: int | None = None


ATCA_BANDS: dict[str, AtcaBand] = {
    "3mm": AtcaBand("3mm", 83000, 105000),
    "7mm": AtcaBand("7mm", 30000, 50000),
    "15mm": AtcaBand("15mm", 16000, 25000),
    "4cm": AtcaBand("4cm", 3900, 11000),
    "16cm": AtcaBand("16cm", 2100, 2100, fixed_freq_mhz=2100),
}
"""ATCA bands a proposal can request; frequencies (freq1/freq2) must lie inside the band's range."""


def _m(unit: str, doc: str) -> dict[str, str]:
    """Field metadata: the unit ("" when unitless) and a one-line meaning."""
    return {"unit": unit, "doc": doc}


def _band_fields_doc(band: str) -> str:
    b = ATCA_BANDS[band]
    return f"{b.min_freq_mhz}–{b.max_freq_mhz} MHz"


@dataclass(frozen=True, slots=True)
class ProposalSettings:
    """One observing proposal. Immutable; edit with ``dataclasses.replace``."""

    # --- identity -------------------------------------------------------------------------------------
    proposal_id: str = field(metadata={"unit": "", "doc": "Unique name of the proposal, 6–16 characters."})
    telescope: str = field(metadata={"unit": "", "doc": "Observing telescope: MWA_VCS, MWA_correlate or ATCA."})
    project_id: str = field(
        metadata={"unit": "", "doc": "Telescope project code (e.g. G0055, C3204); its credentials are kept apart."}
    )
    source_type: SourceType = field(
        metadata={"unit": "", "doc": "Kind of source observed: GRB, FS (flare star), NU (neutrino) or GW."}
    )
    proposal_description: str = field(default="", metadata=_m("", "Free text shown to operators."))
    event_telescope: str | None = field(
        default=None,
        metadata=_m(
            "", "Only act on alerts from this instrument (SWIFT, Fermi, HESS, Antares, AMON, MAXI, LVC); empty = any."
        ),
    )
    testing: Testing = field(
        default=Testing.REAL_ONLY,
        metadata=_m(
            "",
            "REAL_ONLY: real alerts, real requests; PRETEND_REAL: real alerts, pretend requests; "
            "BOTH: real alerts real requests and test alerts pretend requests.",
        ),
    )
    priority: int = field(default=1, metadata=_m("", "Processing order among proposals (lower first)."))
    active: bool = field(default=True, metadata=_m("", "Inactive proposals are kept but never evaluated."))
    maximum_observation_time_seconds: int = field(
        default=0, metadata=_m("s", "MWA observations must end this long after the event time; 0 disables the limit.")
    )
    repointing_limit: float = field(
        default=10.0,
        metadata=_m("deg", "A triggered observation is repointed only to a position further away than this."),
    )

    # --- GRB / HESS / NU thresholds -------------------------------------------------------------------
    event_any_duration: bool = field(default=False, metadata=_m("", "GRB: trigger whatever the event duration."))
    event_min_duration: float = field(default=0.256, metadata=_m("s", "GRB: shortest duration that triggers."))
    event_max_duration: float = field(default=1.024, metadata=_m("s", "GRB: longest duration that triggers."))
    pending_min_duration_1: float = field(
        default=1.025, metadata=_m("s", "GRB: first pending (operator decides) range, start.")
    )
    pending_max_duration_1: float = field(default=2.056, metadata=_m("s", "GRB: first pending range, end."))
    pending_min_duration_2: float = field(default=0.128, metadata=_m("s", "GRB: second pending range, start."))
    pending_max_duration_2: float = field(default=0.255, metadata=_m("s", "GRB: second pending range, end."))
    maximum_position_uncertainty: float | None = field(
        default=0.05, metadata=_m("deg", "GRB: largest accepted position error radius; empty = no limit.")
    )
    fermi_prob: float = field(
        default=50.0, metadata=_m("%", "GRB: lowest Fermi GBM most-likely probability that counts as a GRB.")
    )
    swift_rate_signif: float = field(default=0.0, metadata=_m("sigma", "GRB: lowest Swift BAT rate significance."))
    antares_min_ranking: int = field(
        default=2, metadata=_m("", "NU: Antares rankings up to this value trigger (1 is best).")
    )
    minimum_hess_significance: float = field(default=0.2, metadata=_m("sigma", "GRB (HESS): lowest HESS significance."))
    maximum_hess_significance: float = field(
        default=1.0, metadata=_m("sigma", "GRB (HESS): highest HESS significance.")
    )

    # --- GW thresholds --------------------------------------------------------------------------------
    minimum_neutron_star_probability: float = field(default=0.01, metadata=_m("", "GW: lowest HasNS probability."))
    maximum_neutron_star_probability: float = field(default=1.0, metadata=_m("", "GW: highest HasNS probability."))
    early_observation_time_seconds: int = field(
        default=900,
        metadata=_m("s", "GW: default sub-array observations (no sky map yet) end this long after the event time."),
    )
    minimum_binary_neutron_star_probability: float = field(default=0.01, metadata=_m("", "GW: lowest BNS probability."))
    maximum_binary_neutron_star_probability: float = field(default=1.0, metadata=_m("", "GW: highest BNS probability."))
    minimum_neutron_star_black_hole_probability: float = field(
        default=0.01, metadata=_m("", "GW: lowest NSBH probability.")
    )
    maximum_neutron_star_black_hole_probability: float = field(
        default=1.0, metadata=_m("", "GW: highest NSBH probability.")
    )
    minimum_binary_black_hole_probability: float = field(default=0.0, metadata=_m("", "GW: lowest BBH probability."))
    maximum_binary_black_hole_probability: float = field(default=1.0, metadata=_m("", "GW: highest BBH probability."))
    minimum_terrestrial_probability: float = field(default=0.0, metadata=_m("", "GW: lowest terrestrial probability."))
    maximum_terrestrial_probability: float = field(
        default=0.95, metadata=_m("", "GW: highest terrestrial probability.")
    )
    maximum_false_alarm_rate: float = field(default=1.0e-8, metadata=_m("Hz", "GW: highest false-alarm rate."))
    observe_significant: bool = field(
        default=False,
        metadata=_m("", "GW: True = observe only alerts flagged significant; False = significance does not matter."),
    )

    # --- MWA -----------------------------------------------------------------------------------------
    start_observation_at_high_sensitivity: bool = field(
        default=False,
        metadata=_m(
            "",
            "GW on MWA: while no sky map is available (e.g. early warning), "
            "observe the default sub-array pointings below.",
        ),
    )
    mwa_sub_alt_NE: float = field(default=90.0, metadata=_m("deg", "Default sub-array NE altitude."))  # noqa: N815 (TraceT's name)
    mwa_sub_az_NE: float = field(default=0.0, metadata=_m("deg", "Default sub-array NE azimuth."))  # noqa: N815 (TraceT's name)
    mwa_sub_alt_NW: float = field(default=66.85, metadata=_m("deg", "Default sub-array NW altitude."))  # noqa: N815 (TraceT's name)
    mwa_sub_az_NW: float = field(default=270.0, metadata=_m("deg", "Default sub-array NW azimuth."))  # noqa: N815 (TraceT's name)
    mwa_sub_alt_SW: float = field(default=43.97, metadata=_m("deg", "Default sub-array SW altitude."))  # noqa: N815 (TraceT's name)
    mwa_sub_az_SW: float = field(default=270.0, metadata=_m("deg", "Default sub-array SW azimuth."))  # noqa: N815 (TraceT's name)
    mwa_sub_alt_SE: float = field(default=59.35, metadata=_m("deg", "Default sub-array SE altitude."))  # noqa: N815 (TraceT's name)
    mwa_sub_az_SE: float = field(default=219.88, metadata=_m("deg", "Default sub-array SE azimuth."))  # noqa: N815 (TraceT's name)
    mwa_freqspecs: str = field(
        default="144,24", metadata=_m("", "MWA coarse channels (freqspec, see docs/proposals.md).")
    )
    mwa_exptime: int = field(
        default=896,
        metadata=_m("s", "MWA: total observing time requested (multiple of 8 s; sent in blocks of at most 896 s)."),
    )
    mwa_calexptime: float = field(default=120.0, metadata=_m("s", "MWA: calibrator observation length."))
    mwa_freqres: float = field(default=10.0, metadata=_m("kHz", "MWA: correlator frequency resolution."))
    mwa_inttime: float = field(default=0.5, metadata=_m("s", "MWA: correlator integration time."))
    mwa_horizon_limit: float = field(
        default=10.0, metadata=_m("deg", "MWA: lowest source altitude worth observing (at least 10).")
    )

    # --- ATCA ----------------------------------------------------------------------------------------
    atca_band_3mm: bool = field(default=False, metadata=_m("", f"ATCA: use the 3mm band ({_band_fields_doc('3mm')})."))
    atca_band_3mm_exptime: int = field(default=60, metadata=_m("min", "ATCA: 3mm exposure."))
    atca_band_3mm_freq1: int | None = field(default=None, metadata=_m("MHz", "ATCA: 3mm first centre frequency."))
    atca_band_3mm_freq2: int | None = field(default=None, metadata=_m("MHz", "ATCA: 3mm second centre frequency."))
    atca_band_7mm: bool = field(default=False, metadata=_m("", f"ATCA: use the 7mm band ({_band_fields_doc('7mm')})."))
    atca_band_7mm_exptime: int = field(default=60, metadata=_m("min", "ATCA: 7mm exposure."))
    atca_band_7mm_freq1: int | None = field(default=None, metadata=_m("MHz", "ATCA: 7mm first centre frequency."))
    atca_band_7mm_freq2: int | None = field(default=None, metadata=_m("MHz", "ATCA: 7mm second centre frequency."))
    atca_band_15mm: bool = field(
        default=False, metadata=_m("", f"ATCA: use the 15mm band ({_band_fields_doc('15mm')}).")
    )
    atca_band_15mm_exptime: int = field(default=60, metadata=_m("min", "ATCA: 15mm exposure."))
    atca_band_15mm_freq1: int | None = field(default=None, metadata=_m("MHz", "ATCA: 15mm first centre frequency."))
    atca_band_15mm_freq2: int | None = field(default=None, metadata=_m("MHz", "ATCA: 15mm second centre frequency."))
    atca_band_4cm: bool = field(default=False, metadata=_m("", f"ATCA: use the 4cm band ({_band_fields_doc('4cm')})."))
    atca_band_4cm_exptime: int = field(default=60, metadata=_m("min", "ATCA: 4cm exposure."))
    atca_band_4cm_freq1: int | None = field(default=None, metadata=_m("MHz", "ATCA: 4cm first centre frequency."))
    atca_band_4cm_freq2: int | None = field(default=None, metadata=_m("MHz", "ATCA: 4cm second centre frequency."))
    atca_band_16cm: bool = field(default=False, metadata=_m("", "ATCA: use the 16cm band (fixed at 2100 MHz)."))
    atca_band_16cm_exptime: int = field(default=60, metadata=_m("min", "ATCA: 16cm exposure."))
    atca_max_exptime: int = field(default=720, metadata=_m("min", "ATCA: longest total exposure requested."))
    atca_min_exptime: int = field(default=30, metadata=_m("min", "ATCA: shortest total exposure worth scheduling."))
    atca_prioritise_source: bool = field(default=False, metadata=_m("", "ATCA: reserved (kept from TraceT, not used)."))
    atca_dec_min_1: float = field(
        default=-90.0, metadata=_m("deg", "ATCA GRB: declination window 1, lower bound (exclusive).")
    )
    atca_dec_max_1: float = field(
        default=-5.0, metadata=_m("deg", "ATCA GRB: declination window 1, upper bound (exclusive).")
    )
    atca_dec_min_2: float = field(
        default=5.0, metadata=_m("deg", "ATCA GRB: declination window 2, lower bound (exclusive).")
    )
    atca_dec_max_2: float = field(
        default=20.0, metadata=_m("deg", "ATCA GRB: declination window 2, upper bound (exclusive).")
    )
    atca_maximum_lag_minutes: float | None = field(
        default=None,
        metadata=_m(
            "min", "ATCA: latest acceptable start after the request (API maximumLag); empty = service default."
        ),
    )
    atca_minimum_time_minutes: float | None = field(
        default=None,
        metadata=_m("min", "ATCA: shortest useful on-source time (API minimumTime); empty = service default."),
    )

    # --- derived ---------------------------------------------------------------------------------------
    @property
    def is_mwa(self) -> bool:
        """True for any MWA telescope (name starts with ``MWA``)."""
        return self.telescope.startswith("MWA")

    @property
    def is_mwa_vcs(self) -> bool:
        """True when the MWA observes in voltage-capture mode (name ends with ``VCS``)."""
        return self.is_mwa and self.telescope.endswith("VCS")

    @property
    def is_atca(self) -> bool:
        return self.telescope == "ATCA"

    @property
    def repointing_limit_deg(self) -> float:
        """``repointing_limit`` with its unit in the name."""
        return self.repointing_limit

    @property
    def atca_dec_windows(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The two ATCA declination windows (exclusive bounds, deg)."""
        return ((self.atca_dec_min_1, self.atca_dec_max_1), (self.atca_dec_min_2, self.atca_dec_max_2))

    @property
    def mwa_default_subarray_alt_az(self) -> tuple[tuple[float, float], ...]:
        """Default sub-array (alt, az) in deg, in the order NE, NW, SE, SW (sub-arrays all_ne … all_sw)."""
        return (
            (self.mwa_sub_alt_NE, self.mwa_sub_az_NE),
            (self.mwa_sub_alt_NW, self.mwa_sub_az_NW),
            (self.mwa_sub_alt_SE, self.mwa_sub_az_SE),
            (self.mwa_sub_alt_SW, self.mwa_sub_az_SW),
        )

    def atca_band_choice(self, band: str) -> tuple[bool, int, int | None, int | None]:
        """(use, exposure in min, freq1 MHz, freq2 MHz) for one of ATCA_BANDS."""
        if band == "16cm":
            return self.atca_band_16cm, self.atca_band_16cm_exptime, 2100, 2100
        use = bool(getattr(self, f"atca_band_{band}"))
        exptime = int(getattr(self, f"atca_band_{band}_exptime"))
        freq1: int | None = getattr(self, f"atca_band_{band}_freq1")
        freq2: int | None = getattr(self, f"atca_band_{band}_freq2")
        return use, exptime, freq1, freq2


PROPOSAL_FIELDS = tuple(f.name for f in fields(ProposalSettings))
"""Every ProposalSettings field name, in declaration order (= the YAML keys)."""

REQUIRED_FIELDS = ("proposal_id", "telescope", "project_id", "source_type")
"""Fields without a default."""


def _range_problem(p: ProposalSettings, low: str, high: str) -> str | None:
    lo, hi = getattr(p, low), getattr(p, high)
    if lo > hi:
        return f"{low} ({lo}) is greater than {high} ({hi})"
    return None


_DURATION_RANGES = (
    ("event_min_duration", "event_max_duration"),
    ("pending_min_duration_1", "pending_max_duration_1"),
    ("pending_min_duration_2", "pending_max_duration_2"),
)

_PROBABILITY_RANGES = (
    ("minimum_neutron_star_probability", "maximum_neutron_star_probability"),
    ("minimum_binary_neutron_star_probability", "maximum_binary_neutron_star_probability"),
    ("minimum_neutron_star_black_hole_probability", "maximum_neutron_star_black_hole_probability"),
    ("minimum_binary_black_hole_probability", "maximum_binary_black_hole_probability"),
    ("minimum_terrestrial_probability", "maximum_terrestrial_probability"),
)


def _validate_common(p: ProposalSettings) -> list[str]:
    problems: list[str] = []
    if not PROPOSAL_ID_MIN_CHARS <= len(p.proposal_id) <= PROPOSAL_ID_MAX_CHARS:
        problems.append(
            f"proposal_id: {p.proposal_id!r} must have {PROPOSAL_ID_MIN_CHARS}–{PROPOSAL_ID_MAX_CHARS} characters"
        )
    if p.telescope not in OBSERVING_TELESCOPES:
        problems.append(f"telescope: {p.telescope!r} is not one of {', '.join(OBSERVING_TELESCOPES)}")
    if not p.project_id.strip():
        problems.append("project_id: must not be empty")
    if not isinstance(p.source_type, SourceType):
        problems.append(f"source_type: {p.source_type!r} is not one of {', '.join(SourceType)}")
    if not isinstance(p.testing, Testing):
        problems.append(f"testing: {p.testing!r} is not one of {', '.join(Testing)}")
    if p.event_telescope is not None and p.event_telescope not in EVENT_TELESCOPES:
        problems.append(
            f"event_telescope: {p.event_telescope!r} is not one of {', '.join(EVENT_TELESCOPES)} (or empty)"
        )
    for name in ("maximum_observation_time_seconds", "early_observation_time_seconds", "repointing_limit"):
        if getattr(p, name) < 0:
            problems.append(f"{name}: must not be negative")
    for low, high in _DURATION_RANGES:
        for name in (low, high):
            if getattr(p, name) < 0:
                problems.append(f"{name}: must not be negative")
        problem = _range_problem(p, low, high)
        if problem:
            problems.append(f"{low}: {problem}")
    if p.maximum_position_uncertainty is not None and p.maximum_position_uncertainty <= 0:
        problems.append("maximum_position_uncertainty: must be positive (leave it empty for no limit)")
    if not 0 <= p.fermi_prob <= 100:
        problems.append(f"fermi_prob: {p.fermi_prob} is not a percentage (0–100)")
    problem = _range_problem(p, "minimum_hess_significance", "maximum_hess_significance")
    if problem:
        problems.append(f"minimum_hess_significance: {problem}")
    for low, high in _PROBABILITY_RANGES:
        for name in (low, high):
            if not 0.0 <= getattr(p, name) <= 1.0:
                problems.append(f"{name}: {getattr(p, name)} is not a probability (0–1)")
        problem = _range_problem(p, low, high)
        if problem:
            problems.append(f"{low}: {problem}")
    if p.maximum_false_alarm_rate < 0:
        problems.append("maximum_false_alarm_rate: must not be negative")
    return problems


def _validate_mwa(p: ProposalSettings) -> list[str]:
    problems: list[str] = []
    try:
        expand_freqspecs(p.mwa_freqspecs)
    except ValueError as exc:
        problems.append(f"mwa_freqspecs: {exc}")
    if p.mwa_horizon_limit < MWA_MIN_HORIZON_LIMIT_DEG:
        problems.append(
            f"mwa_horizon_limit: {p.mwa_horizon_limit} deg is below the minimum of {MWA_MIN_HORIZON_LIMIT_DEG} deg"
        )
    if p.mwa_horizon_limit > 90:
        problems.append(f"mwa_horizon_limit: {p.mwa_horizon_limit} deg is above the zenith")
    if p.mwa_exptime <= 0 or p.mwa_exptime % MWA_TIME_GRID_S:
        problems.append(f"mwa_exptime: {p.mwa_exptime} s is not a positive multiple of {MWA_TIME_GRID_S} s")
    if p.mwa_calexptime < 0:
        problems.append("mwa_calexptime: must not be negative")
    if p.mwa_freqres <= 0:
        problems.append("mwa_freqres: must be positive")
    if p.mwa_inttime <= 0:
        problems.append("mwa_inttime: must be positive")
    for alt_name, az_name in (
        ("mwa_sub_alt_NE", "mwa_sub_az_NE"),
        ("mwa_sub_alt_NW", "mwa_sub_az_NW"),
        ("mwa_sub_alt_SE", "mwa_sub_az_SE"),
        ("mwa_sub_alt_SW", "mwa_sub_az_SW"),
    ):
        if not 0 <= getattr(p, alt_name) <= 90:
            problems.append(f"{alt_name}: must be between 0 and 90 deg")
        if not 0 <= getattr(p, az_name) < 360:
            problems.append(f"{az_name}: must be between 0 and 360 deg")
    return problems


def _validate_atca(p: ProposalSettings) -> list[str]:
    problems: list[str] = []
    used = 0
    for band_name, band in ATCA_BANDS.items():
        use, exptime, freq1, freq2 = p.atca_band_choice(band_name)
        if not use:
            continue
        used += 1
        if exptime <= 0:
            problems.append(f"atca_band_{band_name}_exptime: must be positive")
        if band.fixed_freq_mhz is not None:
            continue
        for suffix, freq in (("freq1", freq1), ("freq2", freq2)):
            key = f"atca_band_{band_name}_{suffix}"
            if freq is None:
                problems.append(f"{key}: required when atca_band_{band_name} is true")
            elif not band.min_freq_mhz <= freq <= band.max_freq_mhz:
                problems.append(
                    f"{key}: {freq} MHz is outside the {band_name} band ({band.min_freq_mhz}–{band.max_freq_mhz} MHz)"
                )
    if not used:
        problems.append("atca_band_*: an ATCA proposal must use at least one band (atca_band_4cm, …)")
    if p.atca_min_exptime <= 0:
        problems.append("atca_min_exptime: must be positive")
    if p.atca_min_exptime > p.atca_max_exptime:
        problems.append(
            f"atca_min_exptime: {p.atca_min_exptime} min is longer than atca_max_exptime ({p.atca_max_exptime} min)"
        )
    for low, high in (("atca_dec_min_1", "atca_dec_max_1"), ("atca_dec_min_2", "atca_dec_max_2")):
        for name in (low, high):
            if not -90 <= getattr(p, name) <= 90:
                problems.append(f"{name}: must be between -90 and 90 deg")
        problem = _range_problem(p, low, high)
        if problem:
            problems.append(f"{low}: {problem}")
    for name in ("atca_maximum_lag_minutes", "atca_minimum_time_minutes"):
        value = getattr(p, name)
        if value is not None and value <= 0:
            problems.append(f"{name}: must be positive (leave it empty for the service default)")
    return problems


def validate_proposal(p: ProposalSettings) -> list[str]:
    """Every problem with ``p``, each message starting with the offending key; empty when valid.

    MWA checks (freqspecs, horizon ≥ 10°, exposure on the 8-s grid) apply to MWA telescopes, ATCA checks
    (at least one band, frequencies inside the band, exposures, declination windows) to ATCA.
    """
    problems = _validate_common(p)
    if p.is_mwa:
        problems += _validate_mwa(p)
    if p.is_atca:
        problems += _validate_atca(p)
    return problems
