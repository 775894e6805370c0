"""Frozen records that cross layer and thread boundaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tracet_gui.core.vocabulary import SourceType


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """Everything we read from one VOEvent packet.

    Field names follow TraceT's Event columns where they exist, with units in the name.
    ``None`` always means "absent from the packet"; 0.0 is a value.
    """

    ivorn: str
    role: str | None
    telescope: str | None
    event_type: str | None
    trig_id: str
    self_generated_trig_id: bool
    source_type: SourceType | None
    source_name: str | None
    ignored: bool
    ignore_reason: str | None
    observed_utc: datetime | None
    ra_deg: float | None = None
    dec_deg: float | None = None
    pos_error_deg: float | None = None
    duration_s: float | None = None
    sequence_num: int | None = None
    fermi_most_likely_index: int | None = None
    fermi_detection_prob: float | None = None
    swift_rate_signif: float | None = None
    antares_ranking: int | None = None
    hess_significance: float | None = None
    lvc_false_alarm_rate_hz: float | None = None
    lvc_significant: bool | None = None
    lvc_binary_neutron_star_probability: float | None = None
    lvc_neutron_star_black_hole_probability: float | None = None
    lvc_binary_black_hole_probability: float | None = None
    lvc_terrestrial_probability: float | None = None
    lvc_includes_neutron_star_probability: float | None = None
    lvc_instruments: str | None = None
    lvc_skymap_fits: str | None = None
    lvc_event_url: str | None = None
    lvc_retraction_message: str | None = None
    # Kept beyond TraceT (reference §10.1.8)
    lvc_has_mass_gap_probability: float | None = None
    lvc_has_remnant_probability: float | None = None
    lvc_alert_type: str | None = None
    lvc_pipeline: str | None = None
    lvc_search: str | None = None
    lvc_group: str | None = None
    packet_type: int | None = None
    icecube_signalness: float | None = None
    icecube_energy_tev: float | None = None
    icecube_pos_error_50_deg: float | None = None
    swift_grb_identified: bool | None = None
    antares_is_real_alert: bool | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def stream(self) -> str:
        """TraceT's "pair" key: ``{telescope}_{event_type}`` (e.g. ``SWIFT_BAT_GRB_Pos``)."""
        return f"{self.telescope}_{self.event_type}"

    @property
    def is_test(self) -> bool:
        """True for packets whose VOEvent role is ``test``."""
        return self.role == "test"

    @property
    def has_position(self) -> bool:
        return self.ra_deg is not None and self.dec_deg is not None


class ParseError(Exception):
    """A packet could not be read as a VOEvent; the message says why, for the operator."""
