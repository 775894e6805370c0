"""Where things are on the sky for our telescopes: altitudes, horizons, the Sun, ATCA declination windows.

Altitudes and (alt, az) → RA/Dec, the decision engine's hot path, call ERFA's one-shot observed-place
routines directly (``erfa.atco13`` / ``erfa.atoc13``: ICRS ↔ observed with the Earth ephemeris, IAU 2006/2000A
precession-nutation, Earth rotation, polar motion, annual aberration and light deflection), fed with the same
UT1−UTC and polar motion astropy takes from its bundled IERS table (interpolated exactly as astropy does).
That is the computation astropy's ``SkyCoord.transform_to(AltAz)`` performs, without its frame machinery:
about 0.3 ms for a horizon check instead of 4–6 ms; the results agree with astropy to better than a
micro-arcsecond (``tests/core/test_visibility.py`` checks 1e-8 deg over random positions and times, ~1990–2040).
Sun positions still go through astropy (not on the hot path).

astropy never touches the network (:func:`configure_offline_astropy`: bundled
IERS tables, downloads off). Past the end of the bundled IERS-A predictions astropy is told to *degrade*
(``iers_degraded_accuracy = "warn"``): UT1-UTC and polar motion fall back to their last/mean values, which
moves positions by well under an arc-minute — irrelevant for horizon limits of degrees. The warnings that
come with it are silenced inside this module (they would repeat for every transform) and replaced by
:func:`iers_predictions_stale`, which the health view shows. A transform therefore never raises or hangs
because of the date.

Sites are built once (cached ``EarthLocation``); the IERS table is read once.
Naive datetimes are taken as UTC (SQLite hands them back naive); aware ones are converted to UTC.
Coordinate work is serialised by a module lock: astropy's IERS table loading is not thread-safe and the
warning filters used here are process-wide.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import erfa  # type: ignore[import-untyped]
import numpy as np


@dataclass(frozen=True, slots=True)
class Site:
    """An observatory on the Earth (WGS84 geodetic)."""

    name: str
    lat_deg: float
    lon_deg: float
    height_m: float


def _sexagesimal_deg(degrees: int, minutes: int, seconds: float) -> float:
    sign = -1.0 if degrees < 0 else 1.0
    return sign * (abs(degrees) + minutes / 60.0 + seconds / 3600.0)


MWA_SITE = Site("MWA", _sexagesimal_deg(-26, 42, 11.95), _sexagesimal_deg(116, 40, 14.93), 377.8)
"""The Murchison Widefield Array, -26:42:11.95 116:40:14.93 377.8 m (reference §5.1)."""

ATCA_SITE = Site("ATCA", _sexagesimal_deg(-30, 18, 46.0), _sexagesimal_deg(149, 33, 1.0), 237.0)
"""The Australia Telescope Compact Array, -30:18:46 149:33:01; 237 m (TraceT copied the MWA's 377.8 m)."""

_UNIX_EPOCH_MJD = 40587.0
"""MJD of 1970-01-01T00:00:00 UTC."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_lock = threading.RLock()
_configured = False


def configure_offline_astropy() -> None:
    """Make astropy work offline: no IERS or leap-second downloads, no internet, degrade instead of raising.

    Idempotent and cheap after the first call; every function here calls it, the application also calls it
    at start-up before anything else touches astropy.
    """
    global _configured  # noqa: PLW0603 (one process-wide switch)
    with _lock:
        if _configured:
            return
        from astropy.utils import iers
        from astropy.utils.data import conf as data_conf

        iers.conf.auto_download = False
        iers.conf.auto_max_age = None
        iers.conf.iers_degraded_accuracy = "warn"
        data_conf.allow_internet = False
        _configured = True


@contextmanager
def _astropy_quietly() -> Iterator[None]:
    """Serialise coordinate work and drop the degraded-accuracy warnings (see the module docstring)."""
    configure_offline_astropy()
    from astropy.utils.exceptions import AstropyWarning

    with _lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*dubious year.*")  # erfa: date past the leap-second table
        warnings.filterwarnings("ignore", category=AstropyWarning, message=r".*IERS.*")
        warnings.filterwarnings("ignore", category=AstropyWarning, message=r".*polar motion.*")
        yield


@cache
def _iers_prediction_end_mjd() -> float:
    with _astropy_quietly():
        from astropy.utils import iers

        table = iers.earth_orientation_table.get()
        return float(np.max(np.asarray(table["MJD"].value, dtype=float)))


def iers_prediction_end() -> datetime:
    """Last date (UTC) covered by the bundled IERS-A Earth-orientation predictions."""
    seconds = (_iers_prediction_end_mjd() - _UNIX_EPOCH_MJD) * 86400.0
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def iers_predictions_stale(when: datetime) -> bool:
    """True when ``when`` lies past the bundled IERS-A predictions (positions then slightly degraded)."""
    return _utc(when) > iers_prediction_end()


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _mjd(when: datetime) -> float:
    return (_utc(when) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400.0 + _UNIX_EPOCH_MJD


def _times(times: Sequence[datetime]) -> Any:
    from astropy.time import Time

    return Time(np.array([_mjd(t) for t in times]), format="mjd", scale="utc")


@cache
def _location(site: Site) -> Any:
    with _astropy_quietly():
        from astropy import units as u
        from astropy.coordinates import EarthLocation

        return EarthLocation.from_geodetic(
            lon=site.lon_deg * u.deg, lat=site.lat_deg * u.deg, height=site.height_m * u.m
        )


_DEFAULT_POLAR_MOTION_ARCSEC = (0.035, 0.29)
"""Polar motion (x, y) astropy assumes outside its IERS table: the 50-year mean (arcsec)."""

_ARCSEC_RAD = math.pi / (180.0 * 3600.0)


@dataclass(frozen=True, slots=True)
class _EarthOrientation:
    """astropy's IERS table as plain arrays: MJD (UTC) and, per row, UT1−UTC (s), polar motion x, y (rad)."""

    mjd: Any
    values: Any
    """Shape (rows, 3): UT1−UTC, x, y."""

    def erfa_arguments(self, times: Sequence[datetime]) -> tuple[Any, Any, Any, Any, Any]:
        """(utc1, utc2, dut1, xp, yp) for ERFA's observed-place routines, one element per time.

        UT1−UTC and polar motion are interpolated linearly between table days exactly as astropy's
        ``IERS._interpolate`` does (a leap second between two days removed from the UT1−UTC step); outside the
        table UT1−UTC keeps its first/last value and polar motion takes astropy's 50-year mean.
        """
        days = np.empty(len(times))
        frac = np.empty(len(times))
        for n, when in enumerate(times):
            delta = _utc(when) - _EPOCH
            days[n] = delta.days + _UNIX_EPOCH_MJD
            frac[n] = (delta.seconds + delta.microseconds * 1e-6) / 86400.0
        mjd = self.mjd
        i = np.searchsorted(mjd, days, side="right")
        i1 = np.clip(i, 1, len(mjd) - 1)
        i0 = i1 - 1
        v0 = self.values[i0]
        step = self.values[i1] - v0
        step[:, 0] -= np.round(step[:, 0])  # a leap second between the two table days
        value = v0 + ((days - mjd[i0] + frac) / (mjd[i1] - mjd[i0]))[:, None] * step
        before, after = i == 0, i == len(mjd)
        if before.any() or after.any():
            value[before, 0] = self.values[0, 0]
            value[after, 0] = self.values[-1, 0]
            value[before | after, 1:] = np.array(_DEFAULT_POLAR_MOTION_ARCSEC) * _ARCSEC_RAD
        return days + 2400000.5, frac, value[:, 0], value[:, 1], value[:, 2]


@cache
def _earth_orientation() -> _EarthOrientation:
    with _astropy_quietly():
        from astropy import units as u
        from astropy.time import Time
        from astropy.utils import iers

        # Any UTC→TT conversion installs astropy's (newer) leap-second table in ERFA, as every astropy
        # transform does before it calls ERFA; the direct ERFA calls below then use the same TAI−UTC.
        Time(51544.5, format="mjd", scale="utc").tt  # noqa: B018
        table = iers.earth_orientation_table.get()
        return _EarthOrientation(
            mjd=np.asarray(table["MJD"].to_value(u.d), dtype=float),
            values=np.column_stack(
                [
                    np.asarray(table["UT1_UTC"].to_value(u.s), dtype=float),
                    np.asarray(table["PM_x"].to_value(u.rad), dtype=float),
                    np.asarray(table["PM_y"].to_value(u.rad), dtype=float),
                ]
            ),
        )


@contextmanager
def _erfa_quietly() -> Iterator[None]:
    """ERFA warns "dubious year" past its leap-second table's validity; TAI−UTC stays right, so drop it."""
    with _lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*dubious year.*")
        yield


def _site_radians(site: Site) -> tuple[float, float, float]:
    return math.radians(site.lon_deg), math.radians(site.lat_deg), site.height_m


def altitudes_deg(site: Site, ra_deg: float, dec_deg: float, times: Sequence[datetime]) -> list[float]:
    """Altitude (deg, no refraction) of an ICRS position at ``site`` for each time, in one vectorised call.

    The same result as astropy's ``SkyCoord(ra, dec).transform_to(AltAz(obstime, location)).alt`` (see the
    module docstring), in a fraction of the time.
    """
    if not times:
        return []
    utc1, utc2, dut1, xp, yp = _earth_orientation().erfa_arguments(times)
    elong, phi, height = _site_radians(site)
    with _erfa_quietly():
        _az, zenith, *_ = erfa.atco13(
            math.radians(ra_deg), math.radians(dec_deg), 0.0, 0.0, 0.0, 0.0,
            utc1, utc2, dut1, elong, phi, height, xp, yp,
            0.0, 0.0, 0.0, 1.0,  # pressure 0: no refraction (astropy's AltAz default)
        )  # fmt: skip
    return [90.0 - math.degrees(float(z)) for z in np.atleast_1d(zenith)]


def altitude_deg(site: Site, ra_deg: float, dec_deg: float, when: datetime) -> float:
    """Altitude (deg, no refraction) of an ICRS position at ``site`` and ``when``."""
    return altitudes_deg(site, ra_deg, dec_deg, [when])[0]


def altaz_to_radec_many(
    site: Site, alt_az_deg: Sequence[tuple[float, float]], when: datetime
) -> list[tuple[float, float]]:
    """ICRS (ra, dec) in deg of (alt, az) directions at ``site`` and ``when`` (one vectorised call).

    Azimuth is measured from north through east, as in the MWA sweet-spot table. The same result as
    astropy's ``SkyCoord(alt, az, frame=AltAz(...)).icrs`` (see the module docstring).
    """
    if not alt_az_deg:
        return []
    utc1, utc2, dut1, xp, yp = _earth_orientation().erfa_arguments([when])
    elong, phi, height = _site_radians(site)
    zenith = np.radians(90.0 - np.array([a for a, _ in alt_az_deg], dtype=float))
    azimuth = np.radians(np.array([z for _, z in alt_az_deg], dtype=float))
    with _erfa_quietly():
        # erfa.atoc13 without repeating the star-independent part for every direction.
        astrom, _eo = erfa.apco13(utc1[0], utc2[0], dut1[0], elong, phi, height, xp[0], yp[0], 0.0, 0.0, 0.0, 1.0)
        ras, decs = erfa.aticq(*erfa.atoiq("A", azimuth, zenith, astrom), astrom)
    return [
        (math.degrees(float(ra)) % 360.0, math.degrees(float(dec)))
        for ra, dec in zip(np.atleast_1d(ras), np.atleast_1d(decs), strict=True)
    ]


def altaz_to_radec(site: Site, alt_deg: float, az_deg: float, when: datetime) -> tuple[float, float]:
    """ICRS (ra, dec) in deg of the (alt, az) direction at ``site`` and ``when``."""
    return altaz_to_radec_many(site, [(alt_deg, az_deg)], when)[0]


def _sun_icrs_deg(when: datetime) -> tuple[float, float]:
    """The Sun's direction as seen from the Earth (GCRS RA/Dec, within arc-seconds of ICRS directions).

    Not ``transform_to(ICRS())``: with the Sun's distance that is the direction from the barycentre,
    several degrees off for an observer on the Earth.
    """
    with _astropy_quietly():
        from astropy.coordinates import get_sun

        sun = get_sun(_times([when])[0])
        return float(sun.ra.deg), float(sun.dec.deg)


def sun_separation_deg(ra_deg: float, dec_deg: float, when: datetime) -> float:
    """Angle (deg) between an ICRS position and the Sun at ``when``."""
    sun_ra, sun_dec = _sun_icrs_deg(when)
    return angular_separation_deg(ra_deg, dec_deg, sun_ra, sun_dec)


def sun_altitude_deg(site: Site, when: datetime) -> float:
    """Altitude (deg, no refraction) of the Sun's centre at ``site`` and ``when``."""
    location = _location(site)
    with _astropy_quietly():
        from astropy.coordinates import AltAz, get_sun

        t = _times([when])[0]
        return float(get_sun(t).transform_to(AltAz(obstime=t, location=location)).alt.deg)


def angular_separation_deg(ra1_deg: float, dec1_deg: float, ra2_deg: float, dec2_deg: float) -> float:
    """Great-circle separation (deg) of two positions; no astropy, microseconds per call.

    Vincenty's form (``atan2`` of the haversine numerator and the cosine-rule denominator): exact for
    small angles like the haversine and, unlike it, also near 180 deg.
    """
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1_deg, dec1_deg, ra2_deg, dec2_deg))
    d_ra = ra2 - ra1
    sin_d1, cos_d1, sin_d2, cos_d2 = math.sin(dec1), math.cos(dec1), math.sin(dec2), math.cos(dec2)
    num = math.hypot(cos_d2 * math.sin(d_ra), cos_d1 * sin_d2 - sin_d1 * cos_d2 * math.cos(d_ra))
    den = sin_d1 * sin_d2 + cos_d1 * cos_d2 * math.cos(d_ra)
    return math.degrees(math.atan2(num, den))


@dataclass(frozen=True, slots=True)
class HorizonCheck:
    """Altitude at the start and the end of a planned observation against a limit (reference §5.2).

    "Below" is strict (``alt < limit``), as TraceT: a source exactly at the limit is observable.
    """

    alt_start_deg: float
    alt_end_deg: float
    limit_deg: float

    @property
    def start_below(self) -> bool:
        """The source is below the limit when the observation starts."""
        return self.alt_start_deg < self.limit_deg

    @property
    def end_below(self) -> bool:
        """The source is below the limit when the observation ends."""
        return self.alt_end_deg < self.limit_deg

    @property
    def both_below(self) -> bool:
        """Below at both ends: TraceT's "Not triggering due to horizon limit" case."""
        return self.start_below and self.end_below


def mwa_horizon_check(
    ra_deg: float, dec_deg: float, start: datetime, duration_s: float, limit_deg: float
) -> HorizonCheck:
    """Altitude at the MWA at ``start`` and ``start + duration_s`` against ``limit_deg`` (reference §5.2)."""
    alt_start, alt_end = altitudes_deg(MWA_SITE, ra_deg, dec_deg, [start, start + timedelta(seconds=duration_s)])
    return HorizonCheck(alt_start, alt_end, limit_deg)


def first_time_below(
    site: Site,
    ra_deg: float,
    dec_deg: float,
    start: datetime,
    limit_deg: float,
    *,
    span_s: float = 86400.0,
    step_s: float = 300.0,
) -> datetime | None:
    """First sample time in [start, start + span_s) when the position is below ``limit_deg``; None if never.

    TraceT's alert "set time" (reference §5.3) is ``first_time_below(MWA_SITE, ra, dec, now, 1.0)``.
    """
    count = max(1, math.ceil(span_s / step_s))
    times = [start + timedelta(seconds=i * step_s) for i in range(count)]
    for when, alt in zip(times, altitudes_deg(site, ra_deg, dec_deg, times), strict=True):
        if alt < limit_deg:
            return when
    return None


def in_atca_dec_windows(dec_deg: float, windows: Sequence[tuple[float, float]]) -> bool:
    """True when ``low < dec_deg < high`` for any (low, high) window (reference §5.4).

    Strict inequalities like TraceT: the window limits themselves are outside (with TraceT's defaults
    (-90, -5) and (5, 20) a declination of exactly -5, 5 or 20 is rejected).
    """
    return any(low < dec_deg < high for low, high in windows)
