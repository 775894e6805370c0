"""MWA pointing choices: sweet spots, early-warning default sub-arrays, GW sky-map pointings, repointing.

The MWA analogue beamformer points a tile best at one of 197 "sweet spots" (integer delay gradients, table in
``resources/mwa_sweet_spots.txt``, reference §5.5). For a gravitational-wave sky map the MWA splits into four
sub-arrays; :func:`choose_mwa_pointings` picks their sweet spots.

Fixes against TraceT (reference §10.3 items 25-26):

* sweet spots are converted to RA/Dec at the evaluation time ``when`` (TraceT used 2010-01-01, so its RAs
  were wrong for the current sidereal time and chosen pointings could be below the horizon);
* only sweet spots at or above the horizon limit are candidates;
* a spot's score is the sky-map probability inside its beam (a cone of ``beam_radius_deg``), not the
  probability density sampled at one point;
* fewer pointings than asked for is a normal result (TraceT raised IndexError with fewer than four);
* :func:`should_repoint` repoints when *any* new pointing is far from every current one (TraceT's loop kept
  only the verdict of the last pointing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Protocol

from tracet_gui.core.visibility import MWA_SITE, altaz_to_radec_many, angular_separation_deg

MWA_BEAM_RADIUS_DEG = 12.5
"""Radius (deg) of the cone taken as one sub-array's beam: an MWA tile's half-power half-width at ~150 MHz
(FWHM ~ lambda / 4.4 m ~ 25 deg at 2 m wavelength)."""

MIN_POINTING_SEPARATION_DEG = 10.0
"""Chosen pointings are at least this far apart (deg); TraceT's ``isClosePosition`` distance."""

MAX_MWA_SUBARRAYS = 4
"""The MWA's sub-array mode has four sub-arrays (all_ne, all_nw, all_se, all_sw)."""

SWEET_SPOTS_FILE = "mwa_sweet_spots.txt"
"""File name of the sweet-spot table in the resources directory."""


@dataclass(frozen=True, slots=True)
class SweetSpot:
    """One row of the sweet-spot table: number, horizon direction and the 16 dipole delays."""

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
    """Sweet-spot number, None for a proposal's default sub-array direction."""
    probability: float
    """Fraction of the GW map's probability inside the beam cone (``MWA_BEAM_RADIUS_DEG`` by default);
    0.0 for default sub-array pointings, which are not chosen from a map."""


class ProbabilityMap(Protocol):
    """What :func:`choose_mwa_pointings` needs from a sky map (``tracet_gui.pipeline.skymaps.SkyMap``)."""

    def probability_in_cone(self, ra_deg: float, dec_deg: float, radius_deg: float) -> float: ...


def load_sweet_spots(text: str) -> tuple[SweetSpot, ...]:
    """Parse the pipe table ``N | az | el | {d1,...,d16}``.

    Blank lines and lines starting with ``#``, ``---`` or ``N`` (the header) are skipped, as in TraceT.
    Raises ValueError naming the line for anything else that is not a row.
    """
    spots: list[SweetSpot] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "---", "N")):
            continue
        parts = [p.strip() for p in stripped.split("|")]
        try:
            if len(parts) not in (3, 4):
                raise ValueError(f"expected 3 or 4 '|'-separated columns, found {len(parts)}")
            delays_text = parts[3].strip().strip("{}") if len(parts) == 4 else ""
            delays = tuple(int(d) for d in delays_text.split(",") if d.strip())
            spot = SweetSpot(int(parts[0]), float(parts[1]), float(parts[2]), delays)
        except ValueError as exc:
            raise ValueError(f"sweet-spot table line {line_number}: {exc}: {stripped!r}") from exc
        if not -90.0 <= spot.el_deg <= 90.0:
            raise ValueError(f"sweet-spot table line {line_number}: elevation {spot.el_deg} out of range")
        spots.append(spot)
    return tuple(spots)


def _resources_dir() -> Path:
    try:
        from tracet_gui.core.resources import resources_dir
    except ImportError:  # pragma: no cover - the helper module is optional
        return Path(__file__).resolve().parents[2] / "resources"
    return resources_dir()


@cache
def default_sweet_spots() -> tuple[SweetSpot, ...]:
    """The MWA's 197 sweet spots from ``resources/mwa_sweet_spots.txt`` (read once)."""
    return load_sweet_spots((_resources_dir() / SWEET_SPOTS_FILE).read_text(encoding="utf-8"))


def default_subarray_pointings(alt_az: Sequence[tuple[float, float]], when: datetime) -> tuple[Pointing, ...]:
    """The proposal's default sub-array (alt, az) directions as RA/Dec at ``when`` (early warnings, §5.6).

    Order is kept (TraceT: NE, NW, SE, SW); ``probability`` is 0.0 and ``sweet_spot`` None.
    """
    directions = list(alt_az)
    radec = altaz_to_radec_many(MWA_SITE, directions, when)
    return tuple(
        Pointing(ra, dec, alt, az % 360.0, None, 0.0) for (alt, az), (ra, dec) in zip(directions, radec, strict=True)
    )


def choose_mwa_pointings(
    skymap: ProbabilityMap,
    when: datetime,
    horizon_limit_deg: float,
    *,
    max_pointings: int = MAX_MWA_SUBARRAYS,
    min_separation_deg: float = MIN_POINTING_SEPARATION_DEG,
    beam_radius_deg: float = MWA_BEAM_RADIUS_DEG,
    min_probability: float = 0.0,
    spots: Sequence[SweetSpot] | None = None,
) -> tuple[Pointing, ...]:
    """Up to ``max_pointings`` sweet spots covering the most sky-map probability, far enough apart.

    1. Candidates: sweet spots with ``el_deg >= horizon_limit_deg`` (``spots`` defaults to the MWA table).
    2. Each candidate's (alt=el, az) is converted to ICRS RA/Dec at ``when`` (one transform for all).
    3. Score = ``skymap.probability_in_cone(ra, dec, beam_radius_deg)``: the probability the beam covers.
       Candidates scoring ``<= min_probability`` are dropped (with the default 0.0: spots covering nothing).
    4. Greedy: best score first (ties: lower sweet-spot number), accept a candidate only if it is at least
       ``min_separation_deg`` from every accepted one, stop at ``max_pointings``.

    Returns the accepted pointings, best first; possibly fewer than ``max_pointings``, empty when nothing
    above the limit covers any probability. Never raises for an unlucky sky.
    """
    if max_pointings <= 0:
        return ()
    candidates_spots = [
        s for s in (spots if spots is not None else default_sweet_spots()) if s.el_deg >= horizon_limit_deg
    ]
    radec = altaz_to_radec_many(MWA_SITE, [(s.el_deg, s.az_deg) for s in candidates_spots], when)
    candidates: list[Pointing] = []
    for spot, (ra, dec) in zip(candidates_spots, radec, strict=True):
        probability = float(skymap.probability_in_cone(ra, dec, beam_radius_deg))
        if probability > min_probability:
            candidates.append(Pointing(ra, dec, spot.el_deg, spot.az_deg, spot.number, probability))
    candidates.sort(key=lambda p: (-p.probability, p.sweet_spot if p.sweet_spot is not None else -1))
    chosen: list[Pointing] = []
    for candidate in candidates:
        if all(
            angular_separation_deg(candidate.ra_deg, candidate.dec_deg, c.ra_deg, c.dec_deg) >= min_separation_deg
            for c in chosen
        ):
            chosen.append(candidate)
            if len(chosen) == max_pointings:
                break
    return tuple(chosen)


def should_repoint(current: Sequence[tuple[float, float]], new: Sequence[Pointing], limit_deg: float) -> bool:
    """Whether new sky-map pointings call for a new sub-array observation.

    True when ANY new pointing is more than ``limit_deg`` (strict) from EVERY current (ra, dec) pointing,
    i.e. the new map asks for a patch of sky nothing is looking at. No new pointings → False; no current
    pointings but some new ones → True. (TraceT overwrote its flag per pointing, so only the last new
    pointing counted; its hard-coded 10 deg is here the caller's ``limit_deg``.)
    """
    if not new:
        return False
    if not current:
        return True
    return any(
        all(angular_separation_deg(p.ra_deg, p.dec_deg, ra, dec) > limit_deg for ra, dec in current) for p in new
    )
