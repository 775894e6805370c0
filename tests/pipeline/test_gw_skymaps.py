"""GW sky maps from the supplied bayestar.multiorder.fits: credible areas, pointings, fetching with a cache."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from tracet_gui.core.pointings import (
    Pointing,
    choose_mwa_pointings,
    default_subarray_pointings,
    default_sweet_spots,
    should_repoint,
)
from tracet_gui.core.visibility import MWA_SITE, altitude_deg, angular_separation_deg
from tracet_gui.pipeline.skymaps import SkyMapError, SkyMapFetcher, read_skymap

FITS = Path(__file__).resolve().parents[1] / "data" / "bayestar.multiorder.fits"
T1 = datetime(2023, 5, 18, 13, 0, tzinfo=UTC)
T2 = datetime(2023, 5, 18, 19, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def skymap():  # type: ignore[no-untyped-def]
    return read_skymap(FITS.read_bytes(), "bayestar")


def test_probability_sums_to_one(skymap) -> None:  # type: ignore[no-untyped-def]
    assert skymap.probability_per_pixel().sum() == pytest.approx(1.0, abs=1e-6)


def test_credible_area_matches_a_brute_force_count(skymap) -> None:  # type: ignore[no-untyped-def]
    prob = skymap.probability_per_pixel()
    area = skymap.pixel_area_sr()
    order = np.argsort(-skymap.probdensity)
    total = 0.0
    area_sr = 0.0
    for i in order:  # independent loop, not the vectorised code under test
        if total >= 0.9:
            break
        total += prob[i]
        area_sr += area[i]
    expected = area_sr * (180 / np.pi) ** 2
    assert skymap.credible_area_deg2(0.9) == pytest.approx(expected, rel=1e-6)
    assert 0 < skymap.credible_area_deg2(0.5) < skymap.credible_area_deg2(0.9) < 41253


def test_most_probable_position_is_the_densest_pixel(skymap) -> None:  # type: ignore[no-untyped-def]
    ra, dec = skymap.pixel_positions()
    best = int(np.argmax(skymap.probdensity))
    assert skymap.most_probable_position() == pytest.approx((ra[best], dec[best]))
    assert skymap.probability_in_cone(ra[best], dec[best], 20.0) > skymap.probability_in_cone(
        (ra[best] + 180) % 360, -dec[best], 20.0
    )


def test_pointings_are_computed_at_the_evaluation_time(skymap) -> None:  # type: ignore[no-untyped-def]
    first = choose_mwa_pointings(skymap, T1, 20.0)
    later = choose_mwa_pointings(skymap, T2, 20.0)
    assert first and later
    for chosen, when in ((first, T1), (later, T2)):
        for p in chosen:
            assert altitude_deg(MWA_SITE, p.ra_deg, p.dec_deg, when) == pytest.approx(p.alt_deg, abs=0.5)
            assert p.alt_deg >= 20.0
        for a in range(len(chosen)):
            for b in range(a + 1, len(chosen)):
                sep = angular_separation_deg(chosen[a].ra_deg, chosen[a].dec_deg, chosen[b].ra_deg, chosen[b].dec_deg)
                assert sep >= 10.0
        probs = [p.probability for p in chosen]
        assert probs == sorted(probs, reverse=True)
    same_spot = {p.sweet_spot: p for p in first}.keys() & {p.sweet_spot: p for p in later}.keys()
    spots = {s.number: s for s in default_sweet_spots()}
    assert all(spots[n].el_deg >= 20.0 for n in same_spot)


def test_nothing_above_an_impossible_horizon_gives_no_pointing(skymap) -> None:  # type: ignore[no-untyped-def]
    assert choose_mwa_pointings(skymap, T1, 95.0) == ()


def test_repoint_when_any_new_pointing_is_far_from_all_current() -> None:
    current = [(10.0, -20.0), (40.0, -20.0)]
    near = [Pointing(11.0, -20.0, 60, 0, 1, 0.3), Pointing(41.0, -21.0, 60, 0, 2, 0.2)]
    far = [Pointing(11.0, -20.0, 60, 0, 1, 0.3), Pointing(120.0, 10.0, 60, 0, 3, 0.1)]
    assert not should_repoint(current, near, 10.0)
    assert should_repoint(current, far, 10.0)  # TraceT only looked at the last pointing
    assert should_repoint([], near, 10.0)


def test_default_subarrays_point_where_the_proposal_says() -> None:
    pointings = default_subarray_pointings([(90.0, 0.0), (66.85, 270.0), (59.35, 219.88), (43.97, 270.0)], T1)
    assert [round(p.alt_deg, 2) for p in pointings] == [90.0, 66.85, 59.35, 43.97]
    for p in pointings:
        assert altitude_deg(MWA_SITE, p.ra_deg, p.dec_deg, T1) == pytest.approx(p.alt_deg, abs=0.05)


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Handler.hits.append(self.path)
        if self.path == "/map.fits":
            body = FITS.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/garbage.fits":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"not a fits file")
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_fetcher_downloads_once_then_uses_its_cache(server: str, tmp_path: Path) -> None:
    fetcher = SkyMapFetcher(tmp_path, timeout_s=5, max_attempts=1)
    first = fetcher.fetch(f"{server}/map.fits")
    second = fetcher.fetch(f"{server}/map.fits")
    assert _Handler.hits == ["/map.fits"]
    assert first.credible_area_deg2() == pytest.approx(second.credible_area_deg2())


def test_fetch_failures_are_errors_not_crashes(server: str, tmp_path: Path) -> None:
    fetcher = SkyMapFetcher(tmp_path, timeout_s=2, max_attempts=2, backoff_s=0.01)
    with pytest.raises(SkyMapError, match="HTTP 404"):
        fetcher.fetch(f"{server}/missing.fits")
    assert _Handler.hits.count("/missing.fits") == 1  # a 404 is not retried
    with pytest.raises(SkyMapError, match="sky map"):
        fetcher.fetch(f"{server}/garbage.fits")
    with pytest.raises(SkyMapError, match="not found"):
        fetcher.fetch(str(tmp_path / "nope.fits"))
