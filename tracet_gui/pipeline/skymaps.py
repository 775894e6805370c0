"""GW sky maps: multi-order HEALPix FITS (UNIQ, PROBDENSITY) read from a file or a URL with an on-disk cache.

Maths with numpy + astropy-healpix only (no healpy, no ligo.skymap). Downloads have a timeout, a bounded
number of attempts with back-off and a cache keyed by the URL, so a GraceDB hiccup is a logged, retried error.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from tracet_gui.core.pointings import MWA_BEAM_RADIUS_DEG, Pointing, choose_mwa_pointings
from tracet_gui.core.proposal import ProposalSettings

log = logging.getLogger(__name__)


class SkyMapError(Exception):
    """A sky map could not be fetched or read; the message says why, for the decision log."""


@dataclass(frozen=True)
class SkyMap:
    uniq: np.ndarray
    probdensity: np.ndarray
    """Probability per steradian of each pixel."""
    source: str
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def _levels(self) -> tuple[np.ndarray, np.ndarray]:
        if "levels" not in self._cache:
            level = (np.floor(np.log2(self.uniq.astype(np.float64) / 4.0)) // 2).astype(np.int64)
            ipix = self.uniq.astype(np.int64) - 4 * (np.int64(4) ** level)
            self._cache["levels"] = (level, ipix)
        levels: tuple[np.ndarray, np.ndarray] = self._cache["levels"]
        return levels

    def pixel_area_sr(self) -> np.ndarray:
        level, _ = self._levels()
        nside = 2.0**level
        area: np.ndarray = 4 * np.pi / (12 * nside**2)
        return area

    def probability_per_pixel(self) -> np.ndarray:
        if "prob" not in self._cache:
            self._cache["prob"] = self.probdensity * self.pixel_area_sr()
        prob: np.ndarray = self._cache["prob"]
        return prob

    def pixel_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(ra_deg, dec_deg) of every pixel centre."""
        if "pos" not in self._cache:
            from astropy_healpix import healpix_to_lonlat

            level, ipix = self._levels()
            ra = np.empty(len(ipix))
            dec = np.empty(len(ipix))
            for lev in np.unique(level):
                mask = level == lev
                lon, lat = healpix_to_lonlat(ipix[mask], int(2**lev), order="nested")
                ra[mask] = lon.deg
                dec[mask] = lat.deg
            self._cache["pos"] = (ra, dec)
        pos: tuple[np.ndarray, np.ndarray] = self._cache["pos"]
        return pos

    def credible_area_deg2(self, level: float = 0.9) -> float:
        """Area (deg²) of the smallest region holding ``level`` of the probability."""
        order = np.argsort(-self.probdensity)
        cumulative = np.cumsum(self.probability_per_pixel()[order])
        count = int(np.searchsorted(cumulative, level * cumulative[-1])) + 1
        area_sr = float(np.sum(self.pixel_area_sr()[order][:count]))
        return area_sr * (180.0 / np.pi) ** 2

    def most_probable_position(self) -> tuple[float, float]:
        ra, dec = self.pixel_positions()
        best = int(np.argmax(self.probdensity))
        return float(ra[best]), float(dec[best])

    def probability_in_cone(self, ra_deg: float, dec_deg: float, radius_deg: float) -> float:
        ra, dec = self.pixel_positions()
        r1, d1 = np.radians(ra), np.radians(dec)
        r2, d2 = np.radians(ra_deg), np.radians(dec_deg)
        cos_sep = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(r1 - r2)
        inside = cos_sep >= np.cos(np.radians(radius_deg))
        return float(np.sum(self.probability_per_pixel()[inside]))


def read_skymap(data: bytes | Path | str, source: str | None = None) -> SkyMap:
    """Read a multi-order sky map from FITS bytes or a path."""
    from astropy.table import Table

    try:
        handle: Any = io.BytesIO(data) if isinstance(data, bytes) else str(data)
        table = Table.read(handle, format="fits")
        uniq = np.asarray(table["UNIQ"], dtype=np.int64)
        probdensity = np.asarray(table["PROBDENSITY"], dtype=np.float64)
    except Exception as exc:
        raise SkyMapError(f"not a multi-order sky map ({type(exc).__name__}: {exc})") from exc
    if len(uniq) == 0:
        raise SkyMapError("sky map has no pixels")
    return SkyMap(uniq, probdensity, source or (str(data) if not isinstance(data, bytes) else "<bytes>"))


class SkyMapFetcher:
    """Fetches sky maps by URL or path, caching downloads on disk."""

    def __init__(self, cache_dir: Path, timeout_s: float = 20.0, max_attempts: int = 3, backoff_s: float = 1.0) -> None:
        self.cache_dir = cache_dir
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s

    def fetch(self, url_or_path: str) -> SkyMap:
        if "://" not in url_or_path or url_or_path.startswith("file://"):
            path = Path(url_or_path.removeprefix("file://"))
            if not path.is_file():
                raise SkyMapError(f"sky map file {path} not found")
            return read_skymap(path)
        cached = self.cache_dir / (hashlib.sha256(url_or_path.encode()).hexdigest() + ".fits")
        if cached.is_file():
            return read_skymap(cached.read_bytes(), url_or_path)
        last_error = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            try:
                with urllib.request.urlopen(url_or_path, timeout=self.timeout_s) as response:
                    data = response.read()
                skymap = read_skymap(data, url_or_path)  # only a readable map is cached
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_suffix(".part")
                tmp.write_bytes(data)
                tmp.replace(cached)
                return skymap
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code} {exc.reason}"
                if 400 <= exc.code < 500:
                    break  # a missing file will not appear by asking again
            except SkyMapError:
                raise
            except (OSError, TimeoutError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            log.warning("sky map %s attempt %d/%d failed: %s", url_or_path, attempt, self.max_attempts, last_error)
            if attempt < self.max_attempts:
                time.sleep(self.backoff_s * attempt)
        raise SkyMapError(f"could not download {url_or_path}: {last_error}")


class SkyMapPointingChooser:
    """Fetch a GW sky map and choose MWA pointings for a proposal (the decider's PointingChooser)."""

    def __init__(self, fetcher: SkyMapFetcher) -> None:
        self._fetcher = fetcher

    def choose(self, url: str, proposal: ProposalSettings, when: datetime) -> tuple[Pointing, ...]:
        skymap = self._fetcher.fetch(url)
        pointings = choose_mwa_pointings(skymap, when, proposal.mwa_horizon_limit, beam_radius_deg=MWA_BEAM_RADIUS_DEG)
        if not pointings:
            raise SkyMapError(
                f"no sweet spot above {proposal.mwa_horizon_limit} deg covers any of the sky map's probability"
            )
        return pointings
