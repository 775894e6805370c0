"""Sky-map maths on the real BAYESTAR map (checked by brute force in the test) and the fetcher over real HTTP."""

from __future__ import annotations

import gzip
import math
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy_healpix import healpix_to_lonlat, lonlat_to_healpix
from astropy_healpix.core import nested_to_ring

from tracet_gui.pipeline.skymaps import SkyMap, SkyMapError, SkyMapFetcher, read_skymap

MAP_PATH = Path(__file__).resolve().parents[1] / "data" / "bayestar.multiorder.fits"


@pytest.fixture(scope="module")
def skymap() -> SkyMap:
    return read_skymap(MAP_PATH)


@pytest.fixture(scope="module")
def raw() -> tuple[np.ndarray, np.ndarray]:
    """UNIQ and PROBDENSITY straight from the FITS table, without the module."""
    with fits.open(MAP_PATH) as hdus:
        data = hdus[1].data
        return np.array(data["UNIQ"], dtype=np.int64), np.array(data["PROBDENSITY"], dtype=np.float64)


def levels_of(uniq: np.ndarray) -> np.ndarray:
    """HEALPix level from NUNIQ by integer arithmetic: 4**(level+1) <= uniq < 4**(level+2)."""
    return np.array([(int(x).bit_length() - 1) // 2 - 1 for x in uniq], dtype=np.int64)


def areas_sr(uniq: np.ndarray) -> np.ndarray:
    return 4.0 * math.pi / (12.0 * 4.0 ** levels_of(uniq))


def test_total_probability_is_one(skymap: SkyMap, raw: tuple[np.ndarray, np.ndarray]) -> None:
    uniq, density = raw
    independent = float(np.sum(density * areas_sr(uniq)))
    assert independent == pytest.approx(1.0, abs=1e-6)
    assert skymap.total_probability() == pytest.approx(independent, rel=1e-12)
    assert float(np.sum(skymap.probability_per_pixel())) == pytest.approx(independent, rel=1e-12)
    assert len(skymap) == len(uniq)
    assert skymap.source == str(MAP_PATH)


@pytest.mark.parametrize("level", [0.5, 0.9, 0.99])
def test_credible_area_matches_a_brute_force_sum(
    skymap: SkyMap, raw: tuple[np.ndarray, np.ndarray], level: float
) -> None:
    uniq, density = raw
    area = areas_sr(uniq)
    total = float(np.sum(density * area))
    held, area_sr = 0.0, 0.0
    for i in sorted(range(len(density)), key=lambda k: -density[k]):
        if held >= level * total:
            break
        held += density[i] * area[i]
        area_sr += area[i]
    expected_deg2 = area_sr * (180.0 / math.pi) ** 2
    assert expected_deg2 > 0.0
    assert skymap.credible_area_deg2(level) == pytest.approx(expected_deg2, rel=1e-9)


def test_credible_areas_grow_with_the_level_and_reject_nonsense(skymap: SkyMap) -> None:
    areas = [skymap.credible_area_deg2(level) for level in (0.1, 0.5, 0.9, 1.0)]
    assert areas == sorted(areas) and areas[0] > 0.0
    assert float(np.sum(skymap.pixel_area_sr())) == pytest.approx(4 * math.pi)  # the pixels tile the sky
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError):
            skymap.credible_area_deg2(bad)


def test_most_probable_position_is_in_the_densest_pixel(skymap: SkyMap, raw: tuple[np.ndarray, np.ndarray]) -> None:
    uniq, density = raw
    best = int(np.argmax(density))
    level = int(levels_of(uniq[best : best + 1])[0])
    nside = 2**level
    ipix = int(uniq[best]) - 4 * nside**2
    ra, dec = skymap.most_probable_position()
    assert int(lonlat_to_healpix(ra * u.deg, dec * u.deg, nside, order="nested")) == ipix
    assert skymap.probability_in_cone(ra, dec, 1e-4) == pytest.approx(
        density[best] * areas_sr(uniq[best : best + 1])[0]
    )


def test_pixel_positions_are_the_nested_pixel_centres(skymap: SkyMap, raw: tuple[np.ndarray, np.ndarray]) -> None:
    uniq, _ = raw
    ra, dec = skymap.pixel_positions()
    assert ra.shape == dec.shape == uniq.shape
    for i in (0, 1, len(uniq) // 2, len(uniq) - 1):
        nside = 2 ** int(levels_of(uniq[i : i + 1])[0])
        lon, lat = healpix_to_lonlat(int(uniq[i]) - 4 * nside**2, nside, order="nested")
        assert (ra[i], dec[i]) == pytest.approx((lon.deg, lat.deg))
    assert np.all((ra >= 0) & (ra < 360)) and np.all(np.abs(dec) <= 90)


@pytest.mark.parametrize(
    ("ra", "dec", "radius"),
    [(283.0, 45.0, 12.5), (283.0, 45.0, 2.0), (100.0, -30.0, 12.5), (250.0, 40.0, 30.0), (0.0, 0.0, 180.0)],
)
def test_probability_in_cone_matches_a_brute_force_separation_sum(
    skymap: SkyMap, raw: tuple[np.ndarray, np.ndarray], ra: float, dec: float, radius: float
) -> None:
    uniq, density = raw
    pix_ra, pix_dec = skymap.pixel_positions()
    separation = SkyCoord(pix_ra * u.deg, pix_dec * u.deg).separation(SkyCoord(ra * u.deg, dec * u.deg)).deg
    expected = float(np.sum((density * areas_sr(uniq))[separation <= radius]))
    assert skymap.probability_in_cone(ra, dec, radius) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_a_cone_on_the_map_holds_more_than_one_far_away(skymap: SkyMap) -> None:
    ra, dec = skymap.most_probable_position()
    near = skymap.probability_in_cone(ra, dec, 12.5)
    assert near > 0.5
    assert skymap.probability_in_cone((ra + 180.0) % 360.0, -dec, 12.5) < near / 100


def flat_probabilities(skymap: SkyMap, nside: int) -> np.ndarray:
    """Resample the multi-order map onto a flat nested grid (density at each flat pixel centre)."""
    level = int(math.log2(nside))
    lon, lat = healpix_to_lonlat(np.arange(12 * nside**2), nside, order="nested")
    lookup = dict(zip(skymap.uniq.tolist(), skymap.probdensity.tolist(), strict=True))
    density = np.zeros(12 * nside**2)
    for lev in range(0, 30):
        ipix = lonlat_to_healpix(lon, lat, 2**lev, order="nested")
        keys = 4 * 4**lev + np.asarray(ipix, dtype=np.int64)
        found = np.array([lookup.get(int(k), -1.0) for k in keys])
        density = np.where((density == 0) & (found >= 0), found, density)
        if lev >= level and np.all(density > 0):
            break
    prob: np.ndarray = density / density.sum()
    return prob


def write_flat(path: Path, prob: np.ndarray, nside: int, ordering: str) -> None:
    table = fits.BinTableHDU.from_columns([fits.Column(name="PROB", format="D", array=prob)])
    table.header["PIXTYPE"] = "HEALPIX"
    table.header["ORDERING"] = ordering
    table.header["NSIDE"] = nside
    table.header["COORDSYS"] = "C"
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(path)


def test_flat_maps_in_ring_and_nested_order_and_gzipped_read_like_the_multi_order_map(
    skymap: SkyMap, tmp_path: Path
) -> None:
    nside = 64
    nested = flat_probabilities(skymap, nside)
    ring = np.empty_like(nested)
    ring[np.asarray(nested_to_ring(np.arange(len(nested)), nside))] = nested
    write_flat(tmp_path / "nested.fits", nested, nside, "NESTED")
    write_flat(tmp_path / "ring.fits", ring, nside, "RING")
    (tmp_path / "ring.fits.gz").write_bytes(gzip.compress((tmp_path / "ring.fits").read_bytes()))

    maps = [read_skymap(tmp_path / name) for name in ("nested.fits", "ring.fits", "ring.fits.gz")]
    reference = maps[0]
    order = np.argsort(reference.uniq)
    for m in maps:
        assert m.total_probability() == pytest.approx(1.0)
        assert m.credible_area_deg2(0.9) == pytest.approx(reference.credible_area_deg2(0.9))
        by_uniq = np.argsort(m.uniq)
        assert np.array_equal(m.uniq[by_uniq], reference.uniq[order])
        assert np.allclose(m.probdensity[by_uniq], reference.probdensity[order])
    ra, dec = reference.most_probable_position()
    pixel_deg = math.degrees(math.sqrt(4 * math.pi / (12 * nside**2)))
    expected_ra, expected_dec = skymap.most_probable_position()
    sep = SkyCoord(ra * u.deg, dec * u.deg).separation(SkyCoord(expected_ra * u.deg, expected_dec * u.deg)).deg
    assert sep < pixel_deg
    assert reference.probability_in_cone(ra, dec, 12.5) == pytest.approx(
        skymap.probability_in_cone(expected_ra, expected_dec, 12.5), abs=0.02
    )


def table_file(path: Path, columns: dict[str, np.ndarray], header: dict[str, object] | None = None) -> Path:
    hdu = fits.BinTableHDU.from_columns(
        [
            fits.Column(name=name, format="K" if values.dtype.kind == "i" else "D", array=values)
            for name, values in columns.items()
        ]
    )
    for key, value in (header or {}).items():
        hdu.header[key] = value
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


@pytest.mark.parametrize(
    ("columns", "header", "message"),
    [
        ({"OTHER": np.array([1.0, 2.0])}, None, "no table with"),
        ({"UNIQ": np.array([4, 5], dtype=np.int64), "PROBDENSITY": np.array([1.0, -1.0])}, None, "invalid"),
        ({"UNIQ": np.array([4, 5], dtype=np.int64), "PROBDENSITY": np.array([1.0, np.nan])}, None, "invalid"),
        ({"UNIQ": np.array([4, 5], dtype=np.int64), "PROBDENSITY": np.array([0.0, 0.0])}, None, "no probability"),
        ({"UNIQ": np.array([1, 5], dtype=np.int64), "PROBDENSITY": np.array([1.0, 1.0])}, None, "invalid"),
        ({"PROB": np.ones(13)}, {"ORDERING": "NESTED"}, "not a whole HEALPix sphere"),
        ({"PROB": np.ones(12)}, {"ORDERING": "SPIRAL"}, "ORDERING"),
        ({"PROB": np.ones(12)}, {"ORDERING": "RING", "COORDSYS": "G"}, "coordinate system"),
    ],
)
def test_unusable_tables_are_sky_map_errors(
    tmp_path: Path, columns: dict[str, np.ndarray], header: dict[str, object] | None, message: str
) -> None:
    path = table_file(tmp_path / "bad.fits", columns, header)
    with pytest.raises(SkyMapError, match=message):
        read_skymap(path)


@pytest.mark.parametrize(
    "data",
    [b"", b"not a fits file at all" * 100, gzip.compress(b"SIMPLE  = garbage"), b"\x1f\x8b\x08broken gzip"],
)
def test_garbage_bytes_are_sky_map_errors(data: bytes) -> None:
    with pytest.raises(SkyMapError):
        read_skymap(data)


def test_a_missing_file_is_a_sky_map_error(tmp_path: Path) -> None:
    with pytest.raises(SkyMapError, match="not found"):
        read_skymap(tmp_path / "absent.fits")


def test_bytes_and_path_give_the_same_map(skymap: SkyMap) -> None:
    from_bytes = read_skymap(MAP_PATH.read_bytes(), "https://example.org/x.fits")
    assert from_bytes.source == "https://example.org/x.fits"
    assert np.array_equal(from_bytes.uniq, skymap.uniq)
    assert np.array_equal(from_bytes.probdensity, skymap.probdensity)


# --- the fetcher, over real HTTP on 127.0.0.1 ---------------------------------------------------------------

GRACEDB_LIKE_PATH = "/api/superevents/S230518h/files/Bilby.multiorder.fits,0"


class MapServer:
    """A real HTTP server on 127.0.0.1 serving fixed responses and counting requests per path."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.routes: dict[str, list[tuple[int, bytes]]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.requests[self.path] += 1
                    queue = server.routes.get(self.path, [(404, b"not found")])
                    status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[MapServer]:
    s = MapServer()
    s.routes[GRACEDB_LIKE_PATH] = [(200, MAP_PATH.read_bytes())]
    s.routes["/garbage"] = [(200, b"<html>not a sky map</html>" * 50)]
    yield s
    s.close()


def fetcher(tmp_path: Path, **kwargs: float) -> SkyMapFetcher:
    options: dict[str, float] = {"timeout_s": 5.0, "max_attempts": 3, "backoff_s": 0.0} | kwargs
    return SkyMapFetcher(tmp_path / "cache", **options)  # type: ignore[arg-type]


def test_a_download_is_cached_and_not_requested_again(server: MapServer, tmp_path: Path, skymap: SkyMap) -> None:
    url = server.url(GRACEDB_LIKE_PATH)
    first = fetcher(tmp_path).fetch(url)
    assert server.requests[GRACEDB_LIKE_PATH] == 1  # the ",0" is part of the file name and kept
    assert np.array_equal(first.probdensity, skymap.probdensity)
    assert first.source == url
    second = fetcher(tmp_path).fetch(url)  # a new fetcher on the same cache directory
    assert server.requests[GRACEDB_LIKE_PATH] == 1
    assert np.array_equal(second.uniq, skymap.uniq)
    assert fetcher(tmp_path).cache_path(url).read_bytes() == MAP_PATH.read_bytes()
    assert [p.suffix for p in (tmp_path / "cache").iterdir()] == [".fits"]  # no temporary files left


def test_an_unreadable_cache_file_is_replaced_by_a_new_download(server: MapServer, tmp_path: Path) -> None:
    url = server.url(GRACEDB_LIKE_PATH)
    f = fetcher(tmp_path)
    f.cache_path(url).parent.mkdir(parents=True)
    f.cache_path(url).write_bytes(b"truncated")
    f.fetch(url)
    assert server.requests[GRACEDB_LIKE_PATH] == 1
    assert f.cache_path(url).read_bytes() == MAP_PATH.read_bytes()


def test_http_404_fails_at_once(server: MapServer, tmp_path: Path) -> None:
    with pytest.raises(SkyMapError, match="HTTP 404"):
        fetcher(tmp_path).fetch(server.url("/missing.fits"))
    assert server.requests["/missing.fits"] == 1  # a missing file is not asked for again


def test_a_server_error_is_retried_until_it_succeeds(server: MapServer, tmp_path: Path) -> None:
    server.routes["/flaky.fits"] = [(503, b"busy"), (200, MAP_PATH.read_bytes())]
    skymap = fetcher(tmp_path).fetch(server.url("/flaky.fits"))
    assert server.requests["/flaky.fits"] == 2
    assert skymap.total_probability() == pytest.approx(1.0)


def test_retries_are_bounded(server: MapServer, tmp_path: Path) -> None:
    server.routes["/down.fits"] = [(503, b"busy")]
    with pytest.raises(SkyMapError, match="HTTP 503"):
        fetcher(tmp_path, max_attempts=2).fetch(server.url("/down.fits"))
    assert server.requests["/down.fits"] == 2


def test_garbage_from_the_server_is_an_error_and_not_cached(server: MapServer, tmp_path: Path) -> None:
    url = server.url("/garbage")
    f = fetcher(tmp_path)
    with pytest.raises(SkyMapError, match="not a readable FITS"):
        f.fetch(url)
    assert not f.cache_path(url).exists()


def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/bayestar.multiorder.fits"
        with pytest.raises(SkyMapError, match="timed out"):
            fetcher(tmp_path, timeout_s=0.3, max_attempts=2).fetch(url)


def test_a_refused_connection_is_an_error(tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SkyMapError, match="could not download"):
        fetcher(tmp_path, max_attempts=1).fetch(f"http://127.0.0.1:{port}/x.fits")


def test_local_paths_and_file_urls_are_read_directly(tmp_path: Path, skymap: SkyMap) -> None:
    f = fetcher(tmp_path)
    for ref in (str(MAP_PATH), MAP_PATH.as_uri()):
        got = f.fetch(ref)
        assert np.array_equal(got.probdensity, skymap.probdensity)
        assert got.source == ref
    assert not (tmp_path / "cache").exists()  # nothing to cache for local files
    with pytest.raises(SkyMapError):
        f.fetch((tmp_path / "absent.fits").as_uri())


@pytest.mark.parametrize("url", ["ftp://example.org/x.fits", "gopher://example.org/x", "file://otherhost/x.fits"])
def test_unsupported_urls_are_errors(tmp_path: Path, url: str) -> None:
    with pytest.raises(SkyMapError):
        fetcher(tmp_path).fetch(url)


def test_fetcher_rejects_nonsense_settings(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SkyMapFetcher(tmp_path, max_attempts=0)
    with pytest.raises(ValueError):
        SkyMapFetcher(tmp_path, timeout_s=0.0)
