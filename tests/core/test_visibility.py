"""Visibility maths against astropy computed independently in the test, and TraceT's branch rules."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta, timezone

import astropy.units as u
import pytest
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_sun
from astropy.time import Time
from astropy.utils import iers

from tracet_gui.core.visibility import (
    ATCA_SITE,
    MWA_SITE,
    HorizonCheck,
    Site,
    altaz_to_radec,
    altitude_deg,
    altitudes_deg,
    angular_separation_deg,
    configure_offline_astropy,
    first_time_below,
    iers_prediction_end,
    iers_predictions_stale,
    in_atca_dec_windows,
    mwa_horizon_check,
    sun_altitude_deg,
    sun_separation_deg,
)

WHEN = datetime(2025, 3, 14, 12, 30, tzinfo=UTC)
FAR_FUTURE = datetime(2030, 6, 1, 3, 0, tzinfo=UTC)


def test_sites_match_the_published_coordinates() -> None:
    assert MWA_SITE.lat_deg == pytest.approx(-(26 + 42 / 60 + 11.95 / 3600))
    assert MWA_SITE.lon_deg == pytest.approx(116 + 40 / 60 + 14.93 / 3600)
    assert MWA_SITE.height_m == 377.8
    assert ATCA_SITE.lat_deg == pytest.approx(-(30 + 18 / 60 + 46 / 3600))
    assert ATCA_SITE.lon_deg == pytest.approx(149 + 33 / 60 + 1 / 3600)
    assert ATCA_SITE.height_m != MWA_SITE.height_m  # TraceT copied the MWA's height


def test_configure_offline_astropy_is_idempotent_and_switches_downloads_off() -> None:
    configure_offline_astropy()
    configure_offline_astropy()
    from astropy.utils.data import conf as data_conf

    assert iers.conf.auto_download is False
    assert iers.conf.auto_max_age is None
    assert iers.conf.iers_degraded_accuracy == "warn"
    assert data_conf.allow_internet is False


@pytest.mark.parametrize("site", [MWA_SITE, ATCA_SITE])
@pytest.mark.parametrize("when", [WHEN, WHEN + timedelta(hours=7, minutes=13)])
def test_a_source_at_the_local_meridian_and_site_latitude_is_near_the_zenith(site: Site, when: datetime) -> None:
    # Independent of the module: the apparent local sidereal time from astropy gives the zenith RA; ICRS and
    # apparent coordinates differ by precession/nutation/aberration (< 0.5 deg this century).
    lst = Time(when).sidereal_time("apparent", longitude=site.lon_deg * u.deg).deg
    assert altitude_deg(site, lst, site.lat_deg, when) > 89.5


@pytest.mark.parametrize(("alt", "az"), [(90.0, 0.0), (45.0, 30.0), (20.0, 270.0), (-10.0, 135.0), (60.0, 359.0)])
def test_altaz_to_radec_round_trips_through_altitude(alt: float, az: float) -> None:
    ra, dec = altaz_to_radec(MWA_SITE, alt, az, WHEN)
    assert 0.0 <= ra < 360.0
    assert altitude_deg(MWA_SITE, ra, dec, WHEN) == pytest.approx(alt, abs=1e-6)


def test_altitudes_match_a_direct_astropy_transform_and_the_scalar_form() -> None:
    times = [WHEN + timedelta(minutes=37 * i) for i in range(6)]
    location = EarthLocation.from_geodetic(
        lon=MWA_SITE.lon_deg * u.deg, lat=MWA_SITE.lat_deg * u.deg, height=MWA_SITE.height_m * u.m
    )
    expected = (
        SkyCoord(ra=201.365 * u.deg, dec=-43.019 * u.deg)
        .transform_to(AltAz(obstime=Time(times), location=location))
        .alt.deg
    )
    got = altitudes_deg(MWA_SITE, 201.365, -43.019, times)
    assert got == pytest.approx(list(expected), abs=1e-6)
    assert [altitude_deg(MWA_SITE, 201.365, -43.019, t) for t in times] == pytest.approx(got, abs=1e-9)
    assert altitudes_deg(MWA_SITE, 201.365, -43.019, []) == []


def test_naive_datetimes_are_taken_as_utc() -> None:
    naive = WHEN.replace(tzinfo=None)
    assert altitude_deg(MWA_SITE, 83.6, 22.0, naive) == altitude_deg(MWA_SITE, 83.6, 22.0, WHEN)
    other_zone = WHEN.astimezone(timezone(timedelta(hours=8)))
    assert altitude_deg(MWA_SITE, 83.6, 22.0, other_zone) == pytest.approx(altitude_deg(MWA_SITE, 83.6, 22.0, WHEN))


@pytest.mark.parametrize(
    ("ra1", "dec1", "ra2", "dec2"),
    [
        (10.0, 20.0, 10.0, 20.0),
        (10.0, 20.0, 10.0 + 1e-6, 20.0),
        (359.9, -5.0, 0.1, -5.0),
        (0.0, 0.0, 180.0, 0.0),
        (12.0, 30.0, 192.0, -30.0),
        (45.0, 89.9, 225.0, 89.9),
        (123.4, -67.8, 250.1, 12.3),
        (0.0, -90.0, 77.0, 90.0),
    ],
)
def test_angular_separation_matches_astropy(ra1: float, dec1: float, ra2: float, dec2: float) -> None:
    expected = SkyCoord(ra1 * u.deg, dec1 * u.deg).separation(SkyCoord(ra2 * u.deg, dec2 * u.deg)).deg
    assert angular_separation_deg(ra1, dec1, ra2, dec2) == pytest.approx(expected, abs=1e-9)
    assert angular_separation_deg(ra2, dec2, ra1, dec1) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("when", [WHEN, datetime(2024, 12, 21, 3, 0, tzinfo=UTC), FAR_FUTURE])
def test_sun_separation_and_altitude_agree_with_astropy_get_sun(when: datetime) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the far-future date degrades accuracy on purpose
        t = Time(when)
        sun = get_sun(t)  # geocentric (GCRS): the Sun as seen from the Earth, not from the barycentre
        location = EarthLocation.from_geodetic(
            lon=MWA_SITE.lon_deg * u.deg, lat=MWA_SITE.lat_deg * u.deg, height=MWA_SITE.height_m * u.m
        )
        expected_alt = sun.transform_to(AltAz(obstime=t, location=location)).alt.deg
    assert sun_separation_deg(sun.ra.deg, sun.dec.deg, when) == pytest.approx(0.0, abs=1e-6)
    target = SkyCoord(150.0 * u.deg, -20.0 * u.deg)
    sun_direction = SkyCoord(sun.ra, sun.dec)
    assert sun_separation_deg(150.0, -20.0, when) == pytest.approx(target.separation(sun_direction).deg, abs=1e-6)
    # Barycentric ICRS would put the Sun degrees away from where an observer on the Earth sees it.
    assert sun_separation_deg(sun.icrs.ra.deg, sun.icrs.dec.deg, when) > 0.5
    assert sun_altitude_deg(MWA_SITE, when) == pytest.approx(expected_alt, abs=0.01)  # aberration: arc-seconds


def test_sun_is_up_at_local_noon_and_down_at_local_midnight() -> None:
    # MWA is UTC+7.78 h: local noon ~ 04:13 UTC, local midnight ~ 16:13 UTC.
    day = datetime(2025, 6, 21, tzinfo=UTC)
    assert sun_altitude_deg(MWA_SITE, day + timedelta(hours=4, minutes=13)) > 30.0
    assert sun_altitude_deg(MWA_SITE, day + timedelta(hours=16, minutes=13)) < -30.0


def test_a_date_past_the_iers_predictions_works_without_warnings_and_is_reported_stale() -> None:
    end = iers_prediction_end()
    assert end < FAR_FUTURE
    assert iers_predictions_stale(FAR_FUTURE)
    assert not iers_predictions_stale(end - timedelta(days=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may escape (the health view reports staleness instead)
        alt = altitude_deg(MWA_SITE, 10.0, -26.7, FAR_FUTURE)
        ra, dec = altaz_to_radec(MWA_SITE, 50.0, 200.0, FAR_FUTURE)
        check = mwa_horizon_check(10.0, -26.7, FAR_FUTURE, 3600.0, 30.0)
        sun_alt = sun_altitude_deg(MWA_SITE, FAR_FUTURE)
    assert -90.0 <= alt <= 90.0
    assert check.alt_start_deg == pytest.approx(alt)
    assert altitude_deg(MWA_SITE, ra, dec, FAR_FUTURE) == pytest.approx(50.0, abs=1e-6)
    assert -90.0 <= sun_alt <= 90.0


@pytest.mark.parametrize(
    ("start", "end", "limit", "start_below", "end_below", "both_below"),
    [
        (50.0, 40.0, 30.0, False, False, False),
        (20.0, 40.0, 30.0, True, False, False),
        (40.0, 20.0, 30.0, False, True, False),
        (10.0, 20.0, 30.0, True, True, True),
        (30.0, 30.0, 30.0, False, False, False),  # exactly at the limit is not below (strict, as TraceT)
    ],
)
def test_horizon_check_flags(
    start: float, end: float, limit: float, start_below: bool, end_below: bool, both_below: bool
) -> None:
    check = HorizonCheck(start, end, limit)
    assert (check.start_below, check.end_below, check.both_below) == (start_below, end_below, both_below)


@pytest.mark.parametrize(
    ("alt", "az", "start_below", "end_below"),
    [
        (89.0, 0.0, False, False),  # near the zenith for the whole hour
        (31.0, 270.0, False, True),  # low in the west: sets during the hour
        (29.0, 90.0, True, False),  # low in the east: rises above the limit during the hour
        (-40.0, 180.0, True, True),  # far below the horizon
    ],
)
def test_mwa_horizon_check_on_real_rising_and_setting_positions(
    alt: float, az: float, start_below: bool, end_below: bool
) -> None:
    ra, dec = altaz_to_radec(MWA_SITE, alt, az, WHEN)
    check = mwa_horizon_check(ra, dec, WHEN, 3600.0, 30.0)
    assert check.alt_start_deg == pytest.approx(alt, abs=1e-6)
    assert check.alt_end_deg == pytest.approx(altitude_deg(MWA_SITE, ra, dec, WHEN + timedelta(hours=1)))
    assert check.limit_deg == 30.0
    assert (check.start_below, check.end_below) == (start_below, end_below)
    assert check.both_below == (start_below and end_below)


def test_first_time_below_finds_the_setting_sample_and_none_for_circumpolar_sources() -> None:
    ra, dec = altaz_to_radec(MWA_SITE, 20.0, 260.0, WHEN)  # setting in the west
    set_time = first_time_below(MWA_SITE, ra, dec, WHEN, 1.0)
    assert set_time is not None and WHEN < set_time < WHEN + timedelta(hours=3)
    assert altitude_deg(MWA_SITE, ra, dec, set_time) < 1.0
    assert altitude_deg(MWA_SITE, ra, dec, set_time - timedelta(minutes=5)) >= 1.0
    # Dec -80 never drops below 90 - 80 - 26.7 = 16.7 deg at the MWA.
    assert first_time_below(MWA_SITE, 0.0, -80.0, WHEN, 1.0) is None


TRACET_WINDOWS = ((-90.0, -5.0), (5.0, 20.0))


@pytest.mark.parametrize(
    ("dec", "inside"),
    [
        (-90.0, False),
        (-89.9, True),
        (-45.0, True),
        (-5.01, True),
        (-5.0, False),
        (0.0, False),
        (5.0, False),
        (5.01, True),
        (19.99, True),
        (20.0, False),
        (45.0, False),
    ],
)
def test_atca_declination_windows_are_strict_like_tracet(dec: float, inside: bool) -> None:
    assert in_atca_dec_windows(dec, TRACET_WINDOWS) is inside


def test_no_atca_windows_accept_nothing() -> None:
    assert not in_atca_dec_windows(0.0, ())


# ERFA's observed-place routines replace astropy's frame machinery on the hot path (module docstring): the
# bound claimed there is checked here against astropy itself over many random positions and times, from
# 1990 to 2040 (past the bundled IERS predictions too), at both sites.
AGREEMENT_DEG = 1e-8  # 36 micro-arcseconds; measured ~3e-12 deg


@pytest.mark.parametrize("site", [MWA_SITE, ATCA_SITE])
def test_altitudes_agree_with_astropy_over_random_positions_and_times(site: Site) -> None:
    import numpy as np

    rng = np.random.default_rng(20261129)
    n = 300
    start = datetime(1990, 1, 1, tzinfo=UTC)
    times = [start + timedelta(seconds=float(s)) for s in rng.uniform(0, 50 * 365.25 * 86400, n)]
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    location = EarthLocation.from_geodetic(
        lon=site.lon_deg * u.deg, lat=site.lat_deg * u.deg, height=site.height_m * u.m
    )
    configure_offline_astropy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dates past the IERS table degrade astropy's accuracy on purpose
        expected = (
            SkyCoord(ra=ra * u.deg, dec=dec * u.deg).transform_to(AltAz(obstime=Time(times), location=location)).alt.deg
        )
    got = [altitude_deg(site, float(r), float(d), t) for r, d, t in zip(ra, dec, times, strict=True)]
    assert np.max(np.abs(np.array(got) - expected)) < AGREEMENT_DEG
    # One position over many times in one call: the same values as one call per time.
    series = [times[0] + timedelta(minutes=17 * k) for k in range(50)]
    assert altitudes_deg(site, 123.4, -56.7, series) == pytest.approx(
        [altitude_deg(site, 123.4, -56.7, t) for t in series], abs=1e-12
    )


@pytest.mark.parametrize("site", [MWA_SITE, ATCA_SITE])
def test_altaz_to_radec_agrees_with_astropy_over_random_directions_and_times(site: Site) -> None:
    import numpy as np

    from tracet_gui.core.visibility import altaz_to_radec_many

    rng = np.random.default_rng(7)
    n = 200
    start = datetime(1990, 1, 1, tzinfo=UTC)
    times = [start + timedelta(seconds=float(s)) for s in rng.uniform(0, 50 * 365.25 * 86400, n)]
    alt = rng.uniform(-90.0, 90.0, n)
    az = rng.uniform(0.0, 360.0, n)
    location = EarthLocation.from_geodetic(
        lon=site.lon_deg * u.deg, lat=site.lat_deg * u.deg, height=site.height_m * u.m
    )
    configure_offline_astropy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icrs = SkyCoord(alt=alt * u.deg, az=az * u.deg, frame=AltAz(obstime=Time(times), location=location)).icrs
    for k in range(n):
        ra, dec = altaz_to_radec(site, float(alt[k]), float(az[k]), times[k])
        assert angular_separation_deg(ra, dec, icrs[k].ra.deg, icrs[k].dec.deg) < AGREEMENT_DEG
    # Many directions at one time in one call: the same as one call each.
    when = times[0]
    directions = [(float(a), float(z)) for a, z in zip(alt[:40], az[:40], strict=True)]
    many = altaz_to_radec_many(site, directions, when)
    for (a, z), (ra, dec) in zip(directions, many, strict=True):
        one = altaz_to_radec(site, a, z, when)
        assert angular_separation_deg(ra, dec, *one) < 1e-12
