"""GW sky maps: HEALPix FITS read from a file or a URL (on-disk cache), and the maths the pointings need.

Multi-order maps (``UNIQ``, ``PROBDENSITY`` per steradian, what GraceDB serves as ``*.multiorder.fits``)
are the native form; flat maps (``PROB`` per pixel with ``NSIDE``/``ORDERING``, older ``bayestar.fits.gz``)
are converted to the same form on reading, gzip-compressed files are accepted. Only numpy, astropy.io.fits
and astropy-healpix are used (no healpy, no ligo.skymap).

Downloads have a socket timeout, a bounded number of attempts with exponential back-off (only for errors a
retry can cure: timeouts, connection errors, HTTP 5xx/408/429), a size limit, and a cache keyed by
``sha256(url)`` so a map is downloaded once. Every failure is a :class:`SkyMapError` with a readable message
for the decision log. URLs are used exactly as given: GraceDB file names such as
``Bilby.multiorder.fits,0`` really end in ``,0``.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import logging
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tracet_gui.core.pointings import MWA_BEAM_RADIUS_DEG, Pointing, choose_mwa_pointings
from tracet_gui.core.proposal import ProposalSettings

log = logging.getLogger(__name__)

MAX_SKYMAP_BYTES = 512 * 1024 * 1024
"""Largest sky map (bytes, after gunzip) we accept: a flat NSIDE 2048 map with distances is ~400 MB."""

MAX_BACKOFF_S = 30.0
"""Longest pause (s) between two download attempts."""

RETRYABLE_HTTP_CODES = frozenset({408, 429, 500, 502, 503, 504})
"""HTTP statuses worth another attempt; any other error status fails at once."""

USER_AGENT = "tracet-gui sky-map fetcher"
"""User-Agent header sent with downloads."""

_GZIP_MAGIC = b"\x1f\x8b"
_SQDEG_PER_SR = (180.0 / np.pi) ** 2

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class SkyMapError(Exception):
    """A sky map could not be fetched or read; the message says why, for the decision log."""


@dataclass(frozen=True, eq=False)
class SkyMap:
    """A multi-order HEALPix probability map in equatorial (ICRS) coordinates.

    ``uniq``: NUNIQ pixel indices (``4 * nside**2 + ipix_nested``); ``probdensity``: probability per
    steradian of each pixel. Derived arrays (levels, areas, positions, unit vectors) are computed on first
    use and cached. Compared by identity (the arrays make value equality meaningless).
    """

    uniq: IntArray
    probdensity: FloatArray
    source: str
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.uniq.shape != self.probdensity.shape or self.uniq.ndim != 1:
            raise SkyMapError(f"UNIQ and PROBDENSITY differ in shape: {self.uniq.shape} vs {self.probdensity.shape}")

    def __len__(self) -> int:
        return int(self.uniq.shape[0])

    def _level_ipix(self) -> tuple[IntArray, IntArray]:
        if "level_ipix" not in self._derived:
            from astropy_healpix import uniq_to_level_ipix

            level, ipix = uniq_to_level_ipix(self.uniq)
            self._derived["level_ipix"] = (np.asarray(level, dtype=np.int64), np.asarray(ipix, dtype=np.int64))
        result: tuple[IntArray, IntArray] = self._derived["level_ipix"]
        return result

    def _nside(self) -> IntArray:
        if "nside" not in self._derived:
            from astropy_healpix import level_to_nside

            self._derived["nside"] = np.asarray(level_to_nside(self._level_ipix()[0]), dtype=np.int64)
        nside: IntArray = self._derived["nside"]
        return nside

    def pixel_area_sr(self) -> FloatArray:
        """Solid angle (sr) of every pixel."""
        if "area" not in self._derived:
            self._derived["area"] = 4.0 * np.pi / (12.0 * self._nside().astype(np.float64) ** 2)
        area: FloatArray = self._derived["area"]
        return area

    def probability_per_pixel(self) -> FloatArray:
        """Probability held by every pixel (density x area); sums to ~1 for a normalised map."""
        if "prob" not in self._derived:
            self._derived["prob"] = self.probdensity * self.pixel_area_sr()
        prob: FloatArray = self._derived["prob"]
        return prob

    def total_probability(self) -> float:
        """Sum of all pixel probabilities (1 for a complete, normalised map)."""
        return float(np.sum(self.probability_per_pixel()))

    def pixel_positions(self) -> tuple[FloatArray, FloatArray]:
        """(ra_deg, dec_deg) of every pixel centre (nested scheme, ICRS)."""
        if "radec" not in self._derived:
            from astropy_healpix import healpix_to_lonlat

            _, ipix = self._level_ipix()
            lon, lat = healpix_to_lonlat(ipix, self._nside(), order="nested")
            self._derived["radec"] = (np.asarray(lon.deg, dtype=np.float64), np.asarray(lat.deg, dtype=np.float64))
        radec: tuple[FloatArray, FloatArray] = self._derived["radec"]
        return radec

    def _unit_vectors(self) -> FloatArray:
        if "xyz" not in self._derived:
            ra, dec = (np.radians(a) for a in self.pixel_positions())
            cos_dec = np.cos(dec)
            self._derived["xyz"] = np.stack([cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)], axis=1)
        xyz: FloatArray = self._derived["xyz"]
        return xyz

    def credible_area_deg2(self, level: float = 0.9) -> float:
        """Area (deg²) of the smallest region holding ``level`` of the map's probability.

        Pixels are taken in decreasing probability *density* until their probability reaches ``level``
        times the total (the standard "searched area" of a credible region).
        """
        if not 0.0 < level <= 1.0:
            raise ValueError(f"credible level must be in (0, 1], got {level}")
        order = np.argsort(-self.probdensity, kind="stable")
        cumulative = np.cumsum(self.probability_per_pixel()[order])
        count = min(int(np.searchsorted(cumulative, level * cumulative[-1], side="left")) + 1, len(order))
        return float(np.sum(self.pixel_area_sr()[order[:count]])) * _SQDEG_PER_SR

    def most_probable_position(self) -> tuple[float, float]:
        """(ra_deg, dec_deg) of the centre of the pixel with the highest probability density."""
        ra, dec = self.pixel_positions()
        best = int(np.argmax(self.probdensity))
        return float(ra[best]), float(dec[best])

    def probability_in_cone(self, ra_deg: float, dec_deg: float, radius_deg: float) -> float:
        """Probability of the pixels whose centres lie within ``radius_deg`` of (ra_deg, dec_deg).

        Pixel-centre approximation: exact up to the pixels straddling the cone's edge. Multi-order maps are
        finest where the probability is, so the error is largest where it matters least.
        """
        ra, dec = np.radians(ra_deg), np.radians(dec_deg)
        centre = np.array([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)])
        inside = self._unit_vectors() @ centre >= np.cos(np.radians(radius_deg))
        return float(np.sum(self.probability_per_pixel()[inside]))


def _gunzip(data: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise SkyMapError(f"corrupt gzip data ({exc})") from exc
    if len(out) > limit:
        raise SkyMapError(f"sky map larger than {limit} bytes once decompressed")
    return out


def _from_multiorder(table: Any) -> tuple[IntArray, FloatArray]:
    uniq = np.asarray(table["UNIQ"], dtype=np.int64).ravel()
    probdensity = np.asarray(table["PROBDENSITY"], dtype=np.float64).ravel()
    return uniq, probdensity


def _from_flat(table: Any, header: Any) -> tuple[IntArray, FloatArray]:
    from astropy_healpix import npix_to_nside
    from astropy_healpix.core import ring_to_nested

    prob = np.asarray(table["PROB"], dtype=np.float64).ravel()
    try:
        nside = int(npix_to_nside(len(prob)))
    except ValueError as exc:
        raise SkyMapError(f"{len(prob)} pixels is not a whole HEALPix sphere") from exc
    if "NSIDE" in header and int(header["NSIDE"]) != nside:
        raise SkyMapError(f"NSIDE {header['NSIDE']} does not match {len(prob)} pixels")
    ordering = str(header.get("ORDERING", "")).strip().upper()
    if ordering == "RING":
        ipix = np.asarray(ring_to_nested(np.arange(len(prob), dtype=np.int64), nside), dtype=np.int64)
    elif ordering == "NESTED":
        ipix = np.arange(len(prob), dtype=np.int64)
    else:
        raise SkyMapError(f"flat sky map with unknown pixel ORDERING {ordering!r}")
    uniq = 4 * np.int64(nside) ** 2 + ipix
    return uniq, prob / (4.0 * np.pi / len(prob))


def read_skymap(path_or_bytes: bytes | Path | str, source: str | None = None) -> SkyMap:
    """Read a HEALPix sky map (multi-order or flat, optionally gzipped) from FITS bytes or a file path.

    Raises :class:`SkyMapError` when the data is not a usable probability map.
    """
    from astropy.io import fits

    if isinstance(path_or_bytes, bytes):
        data, origin = path_or_bytes, source or "<bytes>"
    else:
        origin = source or str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except FileNotFoundError as exc:
            raise SkyMapError(f"sky map file {path_or_bytes} not found") from exc
        except OSError as exc:
            raise SkyMapError(f"cannot read sky map {path_or_bytes}: {exc.strerror or exc}") from exc
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, MAX_SKYMAP_BYTES)
    try:
        with fits.open(io.BytesIO(data), memmap=False) as hdus:
            found = None
            for hdu in hdus:
                if not isinstance(hdu, fits.BinTableHDU):
                    continue
                names = {n.upper() for n in hdu.columns.names}
                coordsys = str(hdu.header.get("COORDSYS", "C")).strip().upper()
                if coordsys[:1] not in ("C", "E", ""):  # "C"/"CELESTIAL"/"EQUATORIAL"
                    raise SkyMapError(f"sky map in coordinate system {coordsys!r}, expected celestial")
                if {"UNIQ", "PROBDENSITY"} <= names:
                    found = _from_multiorder(hdu.data)
                elif "PROB" in names:
                    found = _from_flat(hdu.data, hdu.header)
                if found is not None:
                    break
    except SkyMapError as exc:
        raise SkyMapError(f"{origin}: {exc}") from exc
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError, KeyError... for bad files
        raise SkyMapError(f"{origin} is not a readable FITS sky map ({type(exc).__name__}: {exc})") from exc
    if found is None:
        raise SkyMapError(f"{origin} has no table with UNIQ+PROBDENSITY or PROB columns")
    uniq, probdensity = found
    if len(uniq) == 0:
        raise SkyMapError(f"{origin}: sky map has no pixels")
    if np.any(uniq < 4) or not np.all(np.isfinite(probdensity)) or np.any(probdensity < 0):
        raise SkyMapError(f"{origin}: invalid pixel indices or probabilities")
    skymap = SkyMap(uniq, probdensity, origin)
    if not skymap.total_probability() > 0.0:
        raise SkyMapError(f"{origin}: sky map holds no probability")
    return skymap


class SkyMapFetcher:
    """Fetches sky maps by URL (http, https, file) or plain local path, caching downloads in ``cache_dir``.

    ``timeout_s`` bounds every socket operation of one attempt; at most ``max_attempts`` attempts are made,
    separated by ``backoff_s``, 2x``backoff_s``, ... (capped at ``MAX_BACKOFF_S``). Safe to use from
    several threads (cache files are written to a temporary name and renamed).
    """

    def __init__(self, cache_dir: Path, timeout_s: float = 20.0, max_attempts: int = 3, backoff_s: float = 1.0) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.cache_dir = Path(cache_dir)
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = max(0.0, backoff_s)

    def cache_path(self, url: str) -> Path:
        """Where the download of ``url`` is (or would be) cached."""
        return self.cache_dir / (hashlib.sha256(url.encode("utf-8")).hexdigest() + ".fits")

    def fetch(self, url_or_path: str) -> SkyMap:
        """The sky map at ``url_or_path``; raises :class:`SkyMapError` on any failure."""
        parts = urllib.parse.urlsplit(url_or_path)
        scheme = parts.scheme.lower()
        if scheme in ("http", "https"):
            return self._fetch_remote(url_or_path)
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise SkyMapError(f"cannot read a file on another host: {url_or_path}")
            return read_skymap(Path(urllib.request.url2pathname(parts.path)), url_or_path)
        if scheme == "" or len(scheme) == 1:  # a plain path, or a Windows drive letter
            return read_skymap(Path(url_or_path), url_or_path)
        raise SkyMapError(f"unsupported sky-map URL scheme {parts.scheme!r}: {url_or_path}")

    def _fetch_remote(self, url: str) -> SkyMap:
        cached = self.cache_path(url)
        if cached.is_file():
            try:
                return read_skymap(cached, url)
            except SkyMapError as exc:
                log.warning("discarding unreadable cached sky map %s: %s", cached, exc)
                cached.unlink(missing_ok=True)
        data = self._download(url)
        skymap = read_skymap(data, url)  # only a readable map is cached
        self._store(cached, data)
        return skymap

    def _download(self, url: str) -> bytes:
        last_error = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._download_once(url)
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code} {exc.reason}"
                if exc.code not in RETRYABLE_HTTP_CODES:
                    break  # a missing or forbidden file will not appear by asking again
            except (OSError, http.client.HTTPException) as exc:  # timeouts, refused, reset, truncated
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                last_error = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
            except ValueError as exc:  # malformed URL
                raise SkyMapError(f"cannot download {url}: {exc}") from exc
            log.warning("sky map %s attempt %d/%d failed: %s", url, attempt, self.max_attempts, last_error)
            if attempt < self.max_attempts:
                time.sleep(min(self.backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
        raise SkyMapError(f"could not download {url}: {last_error}")

    def _download_once(self, url: str) -> bytes:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            chunks: list[bytes] = []
            size = 0
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > MAX_SKYMAP_BYTES:
                    raise SkyMapError(f"{url} is larger than {MAX_SKYMAP_BYTES} bytes")
                chunks.append(chunk)
        return b"".join(chunks)

    def _store(self, cached: Path, data: bytes) -> None:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=self.cache_dir, prefix=cached.stem[:16], suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp_name, cached)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        except OSError as exc:  # a full or read-only disk costs a re-download later, not this map
            log.warning("could not cache sky map in %s: %s", self.cache_dir, exc)


class SkyMapPointingChooser:
    """Fetch a GW sky map and choose MWA pointings for a proposal (the decider's PointingChooser)."""

    def __init__(self, fetcher: SkyMapFetcher) -> None:
        self._fetcher = fetcher

    def choose(self, url: str, proposal: ProposalSettings, when: datetime) -> tuple[Pointing, ...]:
        """Pointings for ``proposal`` at ``when``; raises SkyMapError when none can be chosen."""
        skymap = self._fetcher.fetch(url)
        pointings = choose_mwa_pointings(skymap, when, proposal.mwa_horizon_limit, beam_radius_deg=MWA_BEAM_RADIUS_DEG)
        if not pointings:
            raise SkyMapError(
                f"no sweet spot above {proposal.mwa_horizon_limit} deg covers any of the sky map's probability"
            )
        return pointings
