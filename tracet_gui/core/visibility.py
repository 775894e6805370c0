"""Where things are on the sky for our telescopes: altitudes, horizons, the Sun, ATCA declination windows.

astropy does the coordinate work with no network at all (bundled IERS tables, downloads off). Past the
bundled IERS-A predictions astropy degrades to a warning instead of raising (a few arc-seconds of polar
motion and UT1 do not matter for horizon checks); :func:`iers_predictions_stale` tells the health view.
Sites and frames are built once.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any


@dataclass(frozen=True, slots=True)
class Site:
    """An observatory on the Earth (WGS84 geodetic)."""

    name: str
    lat_deg: float
    lon_deg: float
    height_m: float


MWA_SITE = Site("MWA", lat_deg=-(26 + 42 / 60 + 11.95 / 3600), lon_deg=116 + 40 / 60 + 14.93 / 3600, height_m=377.8)
"""The Murchison Widefield Array (reference §5.1)."""

ATCA_SITE = Site("ATCA", lat_deg=-(30 + 18 / 60 + 46 / 3600), lon_deg=149 + 33 / 60 + 1 / 3600, height_m=237.0)
"""The Australia Telescope Compact Array (TraceT copied the MWA's height; 237 m is the real one)."""

_configure_lock = threading.Lock()
_configured = False


def configure_offline_astropy() -> None:
    """Never let astropy touch the network; degrade (warn) past the bundled Earth-orientation predictions."""
    global _configured  # noqa: PLW0603 (one process-wide switch)
    with _configure_lock:
        if _configured:
            return
        from astropy.utils import iers
        from astropy.utils.data import conf as data_conf

        iers.conf.auto_download = False
        iers.conf.auto_max_age = None
        iers.conf.iers_degraded_accuracy = "warn"
        data_conf.allow_internet = False
        _configured = True


@cache
def _iers_prediction_end() -> datetime:
    configure_offline_astropy()
    from astropy.time import Time
    from astropy.utils import iers

    table = iers.IERS_Auto.open()
    end = Time(float(table["MJD"][-1].value), format="mjd", scale="utc")
    when: datetime = end.to_datetime(timezone=UTC)
    return when


def iers_predictions_stale(when: datetime) -> bool:
    """True when ``when`` lies past the bundled IERS predictions (coordinates are then slightly degraded)."""
    return when > _iers_prediction_end()


@cache
def _location(site: Site) -> Any:
    configure_offline_astropy()
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation(lat=site.lat_deg * u.deg, lon=site.lon_deg * u.deg, height=site.height_m * u.m)


def _times(times: Sequence[datetime]) -> Any:
    from astropy.time import Time

    return Time([t.astimezone(UTC).replace(tzinfo=None) for t in times], scale="utc")


def altitudes_deg(site: Site, ra_deg: float, dec_deg: float, times: Sequence[datetime]) -> list[float]:
    """Altitude (deg) of an ICRS position at ``site`` for each time (one vectorised transform)."""
    configure_offline_astropy()
    from astropy import units as u
    from astropy.coordinates import AltAz, SkyCoord

    if not times:
        return []
    frame = AltAz(obstime=_times(times), location=_location(site))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degraded-IERS warnings: reported by iers_predictions_stale
        alt = SkyCoord(ra=ra_deg * u.deg, dec=dec_deg * u.deg).transform_to(frame).alt.deg
    return [float(a) for a in alt]


def altitude_deg(site: Site, ra_deg: float, dec_deg: float, when: datetime) -> float:
    return altitudes_deg(site, ra_deg, dec_deg, [when])[0]


def altaz_to_radec_many(
    site: Site, alt_az_deg: Sequence[tuple[float, float]], when: datetime
) -> list[tuple[float, float]]:
    """ICRS (ra, dec) in deg of horizon directions at ``site`` and ``when`` (one vectorised transform)."""
    configure_offline_astropy()
    from astropy import units as u
    from astropy.coordinates import AltAz, SkyCoord

    if not alt_az_deg:
        return []
    frame = AltAz(obstime=_times([when])[0], location=_location(site))
    alts = [a for a, _ in alt_az_deg]
    azs = [z for _, z in alt_az_deg]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icrs = SkyCoord(alt=alts * u.deg, az=azs * u.deg, frame=frame).icrs
    return [(float(ra) % 360.0, float(dec)) for ra, dec in zip(icrs.ra.deg, icrs.dec.deg, strict=True)]


def altaz_to_radec(site: Site, alt_deg: float, az_deg: float, when: datetime) -> tuple[float, float]:
    """ICRS (ra, dec) in deg of a horizon direction at ``site`` and ``when``."""
    return altaz_to_radec_many(site, [(alt_deg, az_deg)], when)[0]


def _sun_icrs(when: datetime) -> tuple[float, float]:
    configure_offline_astropy()
    from astropy.coordinates import ICRS, get_sun

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sun = get_sun(_times([when])[0]).transform_to(ICRS())
    return float(sun.ra.deg), float(sun.dec.deg)


def sun_separation_deg(ra_deg: float, dec_deg: float, when: datetime) -> float:
    """Angle (deg) between a position and the Sun at ``when``."""
    sun_ra, sun_dec = _sun_icrs(when)
    return angular_separation_deg(ra_deg, dec_deg, sun_ra, sun_dec)


def sun_altitude_deg(site: Site, when: datetime) -> float:
    sun_ra, sun_dec = _sun_icrs(when)
    return altitude_deg(site, sun_ra, sun_dec, when)


def angular_separation_deg(ra1_deg: float, dec1_deg: float, ra2_deg: float, dec2_deg: float) -> float:
    """Great-circle separation (deg), haversine form (stable for small angles)."""
    ra1, dec1, ra2, dec2 = map(math.radians, (ra1_deg, dec1_deg, ra2_deg, dec2_deg))
    s = math.sin((dec2 - dec1) / 2) ** 2 + math.cos(dec1) * math.cos(dec2) * math.sin((ra2 - ra1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(s))))


@dataclass(frozen=True, slots=True)
class HorizonCheck:
    """Altitude at the start and the end of a planned observation against a limit."""

    alt_start_deg: float
    alt_end_deg: float
    limit_deg: float

    @property
    def start_below(self) -> bool:
        return self.alt_start_deg < self.limit_deg

    @property
    def end_below(self) -> bool:
        return self.alt_end_deg < self.limit_deg

    @property
    def both_below(self) -> bool:
        return self.start_below and self.end_below


def mwa_horizon_check(
    ra_deg: float, dec_deg: float, start: datetime, duration_s: float, limit_deg: float
) -> HorizonCheck:
    """Altitude at the MWA at ``start`` and ``start + duration_s`` (reference §5.2)."""
    alt_start, alt_end = altitudes_deg(MWA_SITE, ra_deg, dec_deg, [start, start + timedelta(seconds=duration_s)])
    return HorizonCheck(alt_start, alt_end, limit_deg)


def in_atca_dec_windows(dec_deg: float, windows: Sequence[tuple[float, float]]) -> bool:
    """True when ``min < dec < max`` for any window (strict, as TraceT: the limits themselves are outside)."""
    return any(low < dec_deg < high for low, high in windows)
