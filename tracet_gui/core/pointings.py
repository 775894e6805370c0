"""MWA pointing choices: sweet spots, early-warning default sub-arrays, GW sky-map pointings, repointing.

The MWA analogue beamformer points best at a fixed set of "sweet spots" (TraceT's MWA_SPOTS.txt, reference §5.5).
That table is not available to us, so ``resources/mwa_sweet_spots.txt`` holds a generated grid with the same
shape (zenith plus rings of roughly even spacing down to 17.09 deg elevation); see docs/skymaps.md.

Fixes against TraceT (§10.3 item 25): spots are converted to RA/Dec at the evaluation time (not 2010), only
spots above the horizon limit are candidates, each is scored by the probability its beam covers (not a
point density), fewer than four pointings is fine, and a repoint happens when *any* new pointing is far
from every current one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Protocol

from tracet_gui.core.resources import resources_dir
from tracet_gui.core.visibility import MWA_SITE, altaz_to_radec_many, angular_separation_deg

MWA_BEAM_RADIUS_DEG = 12.5
"""Radius (deg) of the cone taken as one MWA sub-array's beam at ~150 MHz (half-power half-width ~ 12-13 deg)."""

MIN_POINTING_SEPARATION_DEG = 10.0
"""Two chosen pointings are at least this far apart (deg), as TraceT's isClosePosition."""


@dataclass(frozen=True, slots=True)
class SweetSpot:
    number: int
    az_deg: float
    el_deg: float
    delays: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Pointing:
    """A chosen pointing: where it is (ICRS and horizon at the evaluation time) and what it covers."""

    ra_deg: float
    dec_deg: float
    alt_deg: float
    az_deg: float
    sweet_spot: int | None
    probability: float
    """Fraction of the GW map's probability inside the beam cone (0 for default pointings)."""


class ProbabilityMap(Protocol):
    def probability_in_cone(self, ra_deg: float, dec_deg: float, radius_deg: float) -> float: ...


def load_sweet_spots(text: str) -> tuple[SweetSpot, ...]:
    """Read the pipe table ``N | az | el | delays`` (lines starting with ``#``, ``---`` or ``N`` skipped)."""
    spots: list[SweetSpot] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "---", "N")):
            continue
        parts = [p.strip() for p in stripped.split("|")]
        delays = tuple(int(d) for d in parts[3].strip("{}").split(",") if d.strip()) if len(parts) > 3 else ()
        spots.append(SweetSpot(int(parts[0]), float(parts[1]), float(parts[2]), delays))
    return tuple(spots)


@cache
def default_sweet_spots() -> tuple[SweetSpot, ...]:
    return load_sweet_spots((resources_dir() / "mwa_sweet_spots.txt").read_text(encoding="utf-8"))


def default_subarray_pointings(alt_az: Sequence[tuple[float, float]], when: datetime) -> tuple[Pointing, ...]:
    """The proposal's default sub-array (alt, az) directions as RA/Dec at ``when`` (early warnings)."""
    radec = altaz_to_radec_many(MWA_SITE, list(alt_az), when)
    return tuple(Pointing(ra, dec, alt, az, None, 0.0) for (alt, az), (ra, dec) in zip(alt_az, radec, strict=True))


def choose_mwa_pointings(
    skymap: ProbabilityMap,
    when: datetime,
    horizon_limit_deg: float,
    *,
    max_pointings: int = 4,
    min_separation_deg: float = MIN_POINTING_SEPARATION_DEG,
    beam_radius_deg: float = MWA_BEAM_RADIUS_DEG,
    min_probability: float = 0.0,
    spots: Sequence[SweetSpot] | None = None,
) -> tuple[Pointing, ...]:
    """Up to ``max_pointings`` sweet spots above the horizon limit covering the most probability, far apart."""
    up = [s for s in (spots if spots is not None else default_sweet_spots()) if s.el_deg >= horizon_limit_deg]
    radec = altaz_to_radec_many(MWA_SITE, [(s.el_deg, s.az_deg) for s in up], when)
    candidates: list[Pointing] = []
    for spot, (ra, dec) in zip(up, radec, strict=True):
        probability = skymap.probability_in_cone(ra, dec, beam_radius_deg)
        if probability > min_probability:
            candidates.append(Pointing(ra, dec, spot.el_deg, spot.az_deg, spot.number, probability))
    candidates.sort(key=lambda p: (-p.probability, p.sweet_spot or 0))
    chosen: list[Pointing] = []
    for candidate in candidates:
        if len(chosen) == max_pointings:
            break
        if all(
            angular_separation_deg(candidate.ra_deg, candidate.dec_deg, c.ra_deg, c.dec_deg) >= min_separation_deg
            for c in chosen
        ):
            chosen.append(candidate)
    return tuple(chosen)


def should_repoint(current: Sequence[tuple[float, float]], new: Sequence[Pointing], limit_deg: float) -> bool:
    """True when any new pointing is more than ``limit_deg`` from every current one (or nothing is current)."""
    if not current:
        return bool(new)
    return any(
        all(angular_separation_deg(p.ra_deg, p.dec_deg, ra, dec) > limit_deg for ra, dec in current) for p in new
    )
