"""Where things are on the sky for our telescopes: altitudes, horizons, the Sun, ATCA declination windows.

astropy does the coordinate work and never touches the network (:func:`configure_offline_astropy`: bundled
IERS tables, downloads off). Past the end of the bundled IERS-A predictions astropy is told to *degrade*
(``iers_degraded_accuracy = "warn"``): UT1-UTC and polar motion fall back to their last/mean values, which
moves positions by well under an arc-minute — irrelevant for horizon limits of degrees. The warnings that
come with it are silenced inside this module (they would repeat for every transform) and replaced by
:func:`iers_predictions_stale`, which the health view shows. A transform therefore never raises or hangs
because of the date.

Sites are built once (cached ``EarthLocation``); one altitude costs a few milliseconds after the first call.
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


def altitudes_deg(site: Site, ra_deg: float, dec_deg: float, times: Sequence[datetime]) -> list[float]:
    """Altitude (deg, no refraction) of an ICRS position at ``site`` for each time, in one transform."""
    if not times:
        return []
    location = _location(site)
    with _astropy_quietly():
        from astropy import units as u
        from astropy.coordinates import AltAz, SkyCoord

        frame = AltAz(obstime=_times(times), location=location)
        alt = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg, frame="icrs").transform_to(frame).alt.deg
    return [float(a) for a in np.atleast_1d(alt)]


def altitude_deg(site: Site, ra_deg: float, dec_deg: float, when: datetime) -> float:
    """Altitude (deg, no refraction) of an ICRS position at ``site`` and ``when``."""
    return altitudes_deg(site, ra_deg, dec_deg, [when])[0]


def altaz_to_radec_many(
    site: Site, alt_az_deg: Sequence[tuple[float, float]], when: datetime
) -> list[tuple[float, float]]:
    """ICRS (ra, dec) in deg of (alt, az) directions at ``site`` and ``when`` (one vectorised transform).

    Azimuth is measured from north through east, as in the MWA sweet-spot table.
    """
    if not alt_az_deg:
        return []
    location = _location(site)
    with _astropy_quietly():
        from astropy import units as u
        from astropy.coordinates import AltAz, SkyCoord

        frame = AltAz(obstime=_times([when])[0], location=location)
        alts = np.array([a for a, _ in alt_az_deg], dtype=float)
        azs = np.array([z for _, z in alt_az_deg], dtype=float)
        icrs = SkyCoord(alt=alts * u.deg, az=azs * u.deg, frame=frame).icrs
        ras, decs = np.asarray(icrs.ra.deg, dtype=float), np.asarray(icrs.dec.deg, dtype=float)
    return [(float(ra) % 360.0, float(dec)) for ra, dec in zip(ras, decs, strict=True)]


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
