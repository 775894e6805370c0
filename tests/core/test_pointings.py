"""MWA sweet spots (checked against the beamformer geometry), sky-map pointing choice and repointing."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracet_gui.core.pointings import (
    MIN_POINTING_SEPARATION_DEG,
    Pointing,
    SweetSpot,
    choose_mwa_pointings,
    default_subarray_pointings,
    default_sweet_spots,
    load_sweet_spots,
    should_repoint,
)
from tracet_gui.core.visibility import (
    MWA_SITE,
    altaz_to_radec,
    altaz_to_radec_many,
    altitude_deg,
    angular_separation_deg,
)
from tracet_gui.pipeline.skymaps import SkyMap, read_skymap

DATA = Path(__file__).resolve().parents[1] / "data"
SPEED_OF_LIGHT_M_S = 299_792_458.0
DIPOLE_SPACING_M = 1.1
DELAY_QUANTUM_S = 435e-12
MAX_DELAY_STEPS = 31
# The map's probability is at Dec ~ +45, visible only low in the north from the MWA: these times cover
# "nothing up" to "a few per cent in the lowest spots".
TIMES = [datetime(2023, 5, 18, hour, 15, tzinfo=UTC) for hour in (0, 6, 12, 15, 18, 21)]


@pytest.fixture(scope="module")
def skymap() -> SkyMap:
    return read_skymap(DATA / "bayestar.multiorder.fits")


def gradients(spot: SweetSpot) -> tuple[int, int]:
    """(east, north) delay steps per dipole from the 4x4 delays (rows from the north, west to east)."""
    rows = [spot.delays[4 * r : 4 * r + 4] for r in range(4)]
    return rows[0][1] - rows[0][0], rows[0][0] - rows[1][0]


def test_the_table_has_tracets_197_rows_in_order() -> None:
    spots = default_sweet_spots()
    assert [s.number for s in spots] == list(range(197))
    assert (spots[0].az_deg, spots[0].el_deg, spots[0].delays) == (0.0, 90.0, (0,) * 16)
    assert (spots[1].az_deg, spots[1].el_deg) == (0.0, 83.1912)  # reference §5.5
    assert spots[1].delays == (3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0)
    assert min(s.el_deg for s in spots) == 17.0922


def test_every_sweet_spot_matches_the_analogue_beamformer_geometry() -> None:
    step = SPEED_OF_LIGHT_M_S * DELAY_QUANTUM_S / DIPOLE_SPACING_M  # sin(za) per delay step per dipole
    for spot in default_sweet_spots():
        gx, gy = gradients(spot)
        plane = [gy * (3 - r) + gx * c for r in range(4) for c in range(4)]
        assert spot.delays == tuple(d - min(plane) for d in plane), spot.number
        assert max(spot.delays) <= MAX_DELAY_STEPS
        za = math.degrees(math.asin(step * math.hypot(gx, gy)))
        assert spot.el_deg == pytest.approx(90.0 - za, abs=0.005), spot.number
        if gx or gy:
            assert spot.az_deg == pytest.approx(math.degrees(math.atan2(gx, gy)) % 360.0, abs=1e-4), spot.number


def test_the_table_holds_every_integer_pointing_the_beamformer_can_make_above_17_deg() -> None:
    step = SPEED_OF_LIGHT_M_S * DELAY_QUANTUM_S / DIPOLE_SPACING_M
    possible = {
        (gx, gy)
        for gx in range(-MAX_DELAY_STEPS, MAX_DELAY_STEPS + 1)
        for gy in range(-MAX_DELAY_STEPS, MAX_DELAY_STEPS + 1)
        if 3 * (abs(gx) + abs(gy)) <= MAX_DELAY_STEPS
        and step * math.hypot(gx, gy) < 1.0
        and 90.0 - math.degrees(math.asin(step * math.hypot(gx, gy))) >= 17.0
    }
    table = [gradients(s) for s in default_sweet_spots()]
    assert len(set(table)) == len(table)
    assert set(table) == possible


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ()),
        ("# comment\n N | az | el | delays\n---+---\n\n", ()),
        ("3 | 180 | 83.1912 | {0,0,0,0,1,1,1,1,2,2,2,2,3,3,3,3}", ((3, 180.0, 83.1912, 16),)),
        ("  7 |  45.5 | 60 | {}\n8 | 90 | 50\n", ((7, 45.5, 60.0, 0), (8, 90.0, 50.0, 0))),
    ],
)
def test_load_sweet_spots_parses_the_pipe_table(text: str, expected: tuple[tuple[int, float, float, int], ...]) -> None:
    spots = load_sweet_spots(text)
    assert tuple((s.number, s.az_deg, s.el_deg, len(s.delays)) for s in spots) == expected


@pytest.mark.parametrize(
    ("text", "line"),
    [("1 | 0 | 90 | {0}\nx | 1 | 2 | {}", 2), ("\n\n5 | 0", 3), ("1 | 0 | 95 | {}", 1), ("1 | a | 9 | {}", 1)],
)
def test_load_sweet_spots_names_the_bad_line(text: str, line: int) -> None:
    with pytest.raises(ValueError, match=f"line {line}"):
        load_sweet_spots(text)


TRACET_DEFAULT_SUBARRAYS = ((90.0, 0.0), (66.85, 270.0), (59.35, 219.88), (43.97, 270.0))  # NE, NW, SE, SW


@pytest.mark.parametrize("when", TIMES[:3])
def test_default_subarray_pointings_are_the_proposal_directions_now(when: datetime) -> None:
    pointings = default_subarray_pointings(TRACET_DEFAULT_SUBARRAYS, when)
    assert [(p.alt_deg, p.az_deg) for p in pointings] == list(TRACET_DEFAULT_SUBARRAYS)
    for p in pointings:
        assert altitude_deg(MWA_SITE, p.ra_deg, p.dec_deg, when) == pytest.approx(p.alt_deg, abs=1e-6)
        assert (p.sweet_spot, p.probability) == (None, 0.0)
    later = default_subarray_pointings(TRACET_DEFAULT_SUBARRAYS, when + timedelta(hours=2))
    assert later[1].ra_deg != pytest.approx(pointings[1].ra_deg, abs=1.0)


@pytest.mark.parametrize("when", TIMES)
@pytest.mark.parametrize("limit", [20.0, 30.0])
def test_chosen_pointings_are_up_apart_and_ranked(skymap: SkyMap, when: datetime, limit: float) -> None:
    pointings = choose_mwa_pointings(skymap, when, limit)
    assert len(pointings) <= 4
    for p in pointings:
        assert p.alt_deg >= limit
        # The RA/Dec really is at that altitude now (TraceT converted at 2010-01-01).
        assert altitude_deg(MWA_SITE, p.ra_deg, p.dec_deg, when) == pytest.approx(p.alt_deg, abs=1e-3)
        assert p.probability == pytest.approx(skymap.probability_in_cone(p.ra_deg, p.dec_deg, 12.5))
        assert p.probability > 0.0
    for i, a in enumerate(pointings):
        for b in pointings[i + 1 :]:
            assert angular_separation_deg(a.ra_deg, a.dec_deg, b.ra_deg, b.dec_deg) >= MIN_POINTING_SEPARATION_DEG
    probabilities = [p.probability for p in pointings]
    assert probabilities == sorted(probabilities, reverse=True)


@pytest.mark.parametrize("when", TIMES)
def test_the_first_pointing_is_the_best_spot_above_the_limit(skymap: SkyMap, when: datetime) -> None:
    limit = 20.0
    pointings = choose_mwa_pointings(skymap, when, limit)
    up = [s for s in default_sweet_spots() if s.el_deg >= limit]
    radec = altaz_to_radec_many(MWA_SITE, [(s.el_deg, s.az_deg) for s in up], when)
    scores = {s.number: skymap.probability_in_cone(ra, dec, 12.5) for s, (ra, dec) in zip(up, radec, strict=True)}
    best = max(scores.values())
    if best > 0.0:
        assert pointings[0].probability == pytest.approx(best)
        assert scores[pointings[0].sweet_spot] == pytest.approx(best)  # type: ignore[index]
    else:
        assert pointings == ()


def test_the_same_sweet_spot_moves_in_ra_with_time(skymap: SkyMap) -> None:
    zenith = [s for s in default_sweet_spots() if s.number == 0]
    first, second = TIMES[0], TIMES[0] + timedelta(hours=3)
    (a,) = choose_mwa_pointings(skymap, first, 20.0, spots=zenith, min_probability=-1.0)
    (b,) = choose_mwa_pointings(skymap, second, 20.0, spots=zenith, min_probability=-1.0)
    sidereal_deg = 3 * 15.041  # the sky turns 15.041 deg per hour (ICRS vs apparent: a few 0.01 deg)
    assert (b.ra_deg - a.ra_deg) % 360.0 == pytest.approx(sidereal_deg, abs=0.25)
    assert a.dec_deg == pytest.approx(MWA_SITE.lat_deg, abs=0.5)
    assert (a.ra_deg, a.dec_deg) == pytest.approx(altaz_to_radec(MWA_SITE, 90.0, 0.0, first), abs=1e-9)


def test_nothing_up_or_nothing_covered_gives_no_pointings_without_crashing(skymap: SkyMap) -> None:
    assert choose_mwa_pointings(skymap, TIMES[0], 90.5) == ()  # no spot above the limit
    assert choose_mwa_pointings(skymap, TIMES[0], 20.0, min_probability=1.0) == ()
    assert choose_mwa_pointings(skymap, TIMES[0], 20.0, max_pointings=0) == ()
    only_zenith = choose_mwa_pointings(skymap, TIMES[0], 90.0, min_probability=-1.0)
    assert [p.sweet_spot for p in only_zenith] == [0]


def test_limits_on_count_and_separation_are_respected(skymap: SkyMap) -> None:
    when = TIMES[4]
    wide = choose_mwa_pointings(skymap, when, 15.0, min_probability=-1.0, max_pointings=10)
    assert len(wide) == 10
    assert len(choose_mwa_pointings(skymap, when, 15.0, min_probability=-1.0, max_pointings=2)) == 2
    apart = choose_mwa_pointings(skymap, when, 15.0, min_probability=-1.0, min_separation_deg=100.0)
    assert 1 <= len(apart) <= 4
    for i, a in enumerate(apart):
        for b in apart[i + 1 :]:
            assert angular_separation_deg(a.ra_deg, a.dec_deg, b.ra_deg, b.dec_deg) >= 100.0


def test_a_wider_beam_covers_at_least_as_much(skymap: SkyMap) -> None:
    narrow = choose_mwa_pointings(skymap, TIMES[4], 15.0, beam_radius_deg=5.0)
    wide = choose_mwa_pointings(skymap, TIMES[4], 15.0, beam_radius_deg=25.0)
    assert narrow and wide
    assert wide[0].probability >= narrow[0].probability


def pointing(ra: float, dec: float) -> Pointing:
    return Pointing(ra, dec, 60.0, 0.0, None, 0.0)


CURRENT = ((10.0, -30.0), (40.0, -30.0), (70.0, -30.0), (100.0, -30.0))


@pytest.mark.parametrize(
    ("new", "limit", "expected"),
    [
        ((pointing(10.5, -30.0), pointing(40.0, -31.0)), 10.0, False),  # all close to a current one
        ((pointing(200.0, 20.0), pointing(10.0, -30.0)), 10.0, True),  # TraceT: last one close -> no repoint
        ((pointing(10.0, -30.0), pointing(200.0, 20.0)), 10.0, True),
        ((pointing(10.0, -20.1),), 10.0, False),  # just inside the limit
        ((pointing(10.0, -19.9),), 10.0, True),  # just outside
        ((pointing(10.0, -25.0),), 4.0, True),  # the caller's limit counts, not a hard-coded 10 deg
        ((), 10.0, False),
    ],
)
def test_should_repoint_when_any_new_pointing_is_far_from_all_current(
    new: tuple[Pointing, ...], limit: float, expected: bool
) -> None:
    assert should_repoint(CURRENT, new, limit) is expected


def test_should_repoint_without_current_pointings() -> None:
    assert should_repoint((), (pointing(1.0, 2.0),), 10.0)
    assert not should_repoint((), (), 10.0)
