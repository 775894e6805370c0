"""Visibility maths checked against independent computations (astropy directly, spherical geometry)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord, get_sun
from astropy.time import Time

from tracet_gui.core.visibility import (
    ATCA_SITE,
    MWA_SITE,
    altaz_to_radec,
    altitude_deg,
    angular_separation_deg,
    configure_offline_astropy,
    iers_predictions_stale,
    in_atca_dec_windows,
    mwa_horizon_check,
    sun_separation_deg,
)

WHEN = datetime(2023, 5, 18, 13, 0, tzinfo=UTC)


def test_the_zenith_is_at_ninety_degrees() -> None:
    ra, dec = altaz_to_radec(MWA_SITE, 90.0, 0.0, WHEN)
    assert dec == pytest.approx(MWA_SITE.lat_deg, abs=0.3)  # precession/nutation move it a little
    assert altitude_deg(MWA_SITE, ra, dec, WHEN) == pytest.approx(90.0, abs=1e-3)


def test_altitude_agrees_with_astropy_directly() -> None:
    configure_offline_astropy()
    site = EarthLocation(lat=ATCA_SITE.lat_deg * u.deg, lon=ATCA_SITE.lon_deg * u.deg, height=ATCA_SITE.height_m * u.m)
    frame = AltAz(obstime=Time(WHEN), location=site)
    expected = SkyCoord(ra=201.365 * u.deg, dec=-43.019 * u.deg).transform_to(frame).alt.deg
    assert altitude_deg(ATCA_SITE, 201.365, -43.019, WHEN) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("start_alt_offset_h", "expect"),
    [(0.0, "up"), (12.0, "down")],
)
def test_horizon_check_branches(start_alt_offset_h: float, expect: str) -> None:
    ra, dec = altaz_to_radec(MWA_SITE, 80.0, 0.0, WHEN)
    check = mwa_horizon_check(ra, dec, WHEN + timedelta(hours=start_alt_offset_h), 896, 10.0)
    if expect == "up":
        assert not check.start_below and not check.end_below and not check.both_below
    else:
        assert check.both_below and check.alt_start_deg < 10.0


def test_setting_source_is_below_only_at_the_end() -> None:
    ra, dec = altaz_to_radec(MWA_SITE, 11.0, 270.0, WHEN)  # low in the west: setting
    check = mwa_horizon_check(ra, dec, WHEN, 1800, 10.0)
    assert not check.start_below and check.end_below and not check.both_below


def test_atca_windows_are_strict() -> None:
    windows = [(-90.0, -5.0), (5.0, 20.0)]
    assert in_atca_dec_windows(-30.0, windows) and in_atca_dec_windows(10.0, windows)
    assert not in_atca_dec_windows(0.0, windows) and not in_atca_dec_windows(-5.0, windows)
    assert not in_atca_dec_windows(20.0, windows) and not in_atca_dec_windows(45.0, windows)


def test_separation_matches_the_spherical_law_of_cosines() -> None:
    for ra1, dec1, ra2, dec2 in [(10, -20, 50, 30), (0, 89, 180, 89), (359.9, 0, 0.1, 0), (120.5, 45.2, 130.8, 40.3)]:
        cos = math.sin(math.radians(dec1)) * math.sin(math.radians(dec2)) + math.cos(math.radians(dec1)) * math.cos(
            math.radians(dec2)
        ) * math.cos(math.radians(ra1 - ra2))
        assert angular_separation_deg(ra1, dec1, ra2, dec2) == pytest.approx(math.degrees(math.acos(cos)), abs=1e-6)


def test_sun_separation_is_zero_at_the_sun() -> None:
    configure_offline_astropy()
    sun = get_sun(Time(WHEN)).icrs
    assert sun_separation_deg(float(sun.ra.deg), float(sun.dec.deg), WHEN) == pytest.approx(0.0, abs=0.01)
    assert sun_separation_deg(float(sun.ra.deg) + 180.0, -float(sun.dec.deg), WHEN) == pytest.approx(180.0, abs=0.01)


def test_dates_past_the_bundled_predictions_degrade_instead_of_failing() -> None:
    far = datetime(2035, 6, 1, tzinfo=UTC)
    assert iers_predictions_stale(far)
    assert not iers_predictions_stale(WHEN)
    alt = altitude_deg(MWA_SITE, 100.0, -30.0, far)  # must not raise or hang
    assert -90.0 <= alt <= 90.0
