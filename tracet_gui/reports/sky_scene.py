"""What the sky map shows, computed as plain data (no drawing, no Qt): markers, a rasterised GW map, MWA
beam footprints, horizons, the Sun, the Moon and the Galactic plane.

Everything here may be slow (astropy transforms, a HEALPix lookup for every image pixel) and runs off the
GUI thread; :mod:`tracet_gui.reports.sky_drawing` only draws the result. The same scene feeds the console's
sky-map tab and the report thumbnails.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tracet_gui.core.pointings import MWA_BEAM_RADIUS_DEG
from tracet_gui.core.visibility import ATCA_SITE, MWA_SITE, Site, altaz_to_radec_many, configure_offline_astropy
from tracet_gui.pipeline.skymaps import SkyMap, SkyMapError, SkyMapFetcher, read_skymap
from tracet_gui.reports import mollweide
from tracet_gui.reports.mollweide import FloatArray
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.events import group_events
from tracet_gui.storage.views import GroupItem, ObservationItem

RASTER_WIDTH_PX = 720
"""Width (pixels) of the rasterised GW probability image; the height is half of it (the ellipse is 2:1)."""

CREDIBLE_LEVELS = (0.5, 0.9)
"""Credible regions outlined on a GW map (fractions of the probability)."""

HORIZON_SAMPLES = 181
"""Points along each drawn horizon (one every 2 deg of azimuth)."""


@dataclass(frozen=True, slots=True)
class SkyMarker:
    """One event group on the map: its best position and error radius (deg, 1 sigma or as the alert gave it)."""

    group_id: int
    trig_id: str
    source_type: str | None
    telescope: str | None
    source_name: str | None
    ra_deg: float
    dec_deg: float
    pos_error_deg: float | None
    ignored: bool

    @property
    def label(self) -> str:
        name = self.source_name or self.trig_id
        kind = self.source_type if self.source_type and not name.startswith(self.source_type) else None
        return " ".join(x for x in (self.telescope, kind, name) if x)


@dataclass(frozen=True, slots=True)
class BeamFootprint:
    """One telescope pointing and the cone its beam covers."""

    name: str
    ra_deg: float
    dec_deg: float
    radius_deg: float


ZOOM_PX = 240
"""Pixels per side of the zoomed GW-map inset."""

ZOOM_MAX_AREA_DEG2 = 3000.0
"""A GW map whose 90% region is smaller than this (deg²) also gets a zoomed inset (it would be a speck)."""

ZOOM_MIN_HALF_WIDTH_DEG = 2.0
"""Smallest half-width of the zoomed inset (deg)."""

ZOOM_MAX_HALF_WIDTH_DEG = 35.0
"""Largest half-width of the zoomed inset (deg)."""


@dataclass(frozen=True, eq=False)
class ZoomRaster:
    """The GW map around its most probable position in the tangent (gnomonic) plane, east to the left.

    ``density`` and ``credible`` are ``ZOOM_PX`` square, first row at +``half_width_deg`` north; column 0 is
    the east (left) edge at x = -``half_width_deg``. :func:`tangent_offsets` gives the plane coordinates of
    any position.
    """

    centre_ra_deg: float
    centre_dec_deg: float
    half_width_deg: float
    density: FloatArray
    credible: FloatArray


@dataclass(frozen=True, eq=False)
class SkyMapRaster:
    """A GW probability map resampled onto the Mollweide image grid (rows: +y at the top)."""

    density: FloatArray
    """Probability per deg² at each image pixel, NaN outside the ellipse."""
    credible: FloatArray
    """Credible level of each image pixel: the probability held by all denser pixels (0 densest, 1 emptiest)."""
    label: str
    area_deg2: dict[float, float]
    """Credible-region areas by level (deg²), from the map's own pixels."""
    most_probable: tuple[float, float]
    zoom: ZoomRaster | None = None


@dataclass(frozen=True, eq=False)
class SkyBodies:
    """Where the horizons, the Sun, the Moon and the Galactic plane are at one time."""

    when: datetime
    horizons: tuple[tuple[str, FloatArray, FloatArray], ...]
    """(site name, ra_deg, dec_deg) of the 0-deg altitude circle at each site."""
    zeniths: tuple[tuple[str, float, float], ...]
    sun: tuple[float, float]
    moon: tuple[float, float]
    galactic_plane: tuple[FloatArray, FloatArray]
    galactic_centre: tuple[float, float]


@dataclass(frozen=True, eq=False)
class SkyScene:
    """Everything one sky-map drawing needs."""

    markers: tuple[SkyMarker, ...] = ()
    selected_group_id: int | None = None
    raster: SkyMapRaster | None = None
    footprints: tuple[BeamFootprint, ...] = ()
    bodies: SkyBodies | None = None
    title: str = ""
    notes: tuple[str, ...] = field(default=())
    selected_label: str = ""
    """Name of the selected group, written at its GW map peak when it has no single position."""
    """One-line remarks shown under the map (e.g. why the GW map is missing)."""

    @property
    def selected(self) -> SkyMarker | None:
        return next((m for m in self.markers if m.group_id == self.selected_group_id), None)


# ------------------------------------------------------------------------------------------------------
# markers and footprints
# ------------------------------------------------------------------------------------------------------


def markers_from_groups(groups: Iterable[GroupItem]) -> tuple[SkyMarker, ...]:
    """A marker for every group that has a position."""
    return tuple(
        SkyMarker(
            g.group_id,
            g.trig_id,
            g.source_type,
            g.telescope,
            g.source_name,
            float(g.ra_deg),
            float(g.dec_deg),
            g.pos_error_deg,
            g.ignored,
        )
        for g in groups
        if g.ra_deg is not None and g.dec_deg is not None
    )


def footprints_from_observations(observations: Iterable[ObservationItem]) -> tuple[BeamFootprint, ...]:
    """MWA pointings of the requests: every sub-array pointing, else the single pointing, with the beam cone."""
    out: list[BeamFootprint] = []
    seen: set[tuple[float, float]] = set()
    for obs in observations:
        if not obs.telescope.upper().startswith("MWA"):
            continue
        request = obs.request
        pointings = request.get("subarray_pointings") or []
        names = list(request.get("subarray_names") or [])
        entries: list[tuple[str, float, float]] = []
        for i, pointing in enumerate(pointings):
            try:
                ra, dec = float(pointing[0]), float(pointing[1])
            except (TypeError, ValueError, IndexError):
                continue
            entries.append((str(names[i]) if i < len(names) else f"sub-array {i + 1}", ra, dec))
        if not entries and request.get("ra_deg") is not None and request.get("dec_deg") is not None:
            entries.append((str(obs.telescope), float(request["ra_deg"]), float(request["dec_deg"])))
        for name, ra, dec in entries:
            key = (round(ra, 4), round(dec, 4))
            if key not in seen:
                seen.add(key)
                out.append(BeamFootprint(name, ra, dec, MWA_BEAM_RADIUS_DEG))
    return tuple(out)


# ------------------------------------------------------------------------------------------------------
# GW sky maps
# ------------------------------------------------------------------------------------------------------


def skymap_url_for_group(sessions: SessionFactory, group_id: int) -> str | None:
    """The sky-map URL of the group's newest GW event that names one (None for non-GW groups)."""
    with sessions() as session:
        events = group_events(session, group_id)
    for stored in reversed(events):
        url = stored.event.lvc_skymap_fits
        if url:
            return url
    return None


def cached_skymap(fetcher: SkyMapFetcher, url: str) -> SkyMap | None:
    """The map for ``url`` if it can be had without the network (a local file or the fetcher's cache)."""
    if url.lower().startswith(("http://", "https://")):
        path = fetcher.cache_path(url)
        if not path.is_file():
            return None
        try:
            return read_skymap(path, url)
        except SkyMapError:
            return None
    try:
        return fetcher.fetch(url)
    except SkyMapError:
        return None


def _cumulative_levels(skymap: SkyMap) -> FloatArray:
    """Credible level of every map pixel: probability of all pixels at least as dense (fraction of total)."""
    prob = skymap.probability_per_pixel()
    order = np.argsort(-skymap.probdensity, kind="stable")
    cumulative = np.cumsum(prob[order])
    levels = np.empty_like(cumulative)
    levels[order] = cumulative / cumulative[-1]
    return levels


def _pixel_lookup(skymap: SkyMap, ra_deg: FloatArray, dec_deg: FloatArray) -> Any:
    """Index into the map's pixels of the pixel containing each position (multi-order aware)."""
    from astropy import units as u
    from astropy_healpix import level_to_nside, lonlat_to_healpix, uniq_to_level_ipix

    level, ipix = uniq_to_level_ipix(skymap.uniq)
    level = np.asarray(level, dtype=np.int64)
    ipix = np.asarray(ipix, dtype=np.int64)
    max_level = int(level.max())
    shift = 2 * (max_level - level)
    start = ipix << shift
    end = (ipix + 1) << shift
    order = np.argsort(start)
    start, end = start[order], end[order]
    fine = np.asarray(
        lonlat_to_healpix(ra_deg * u.deg, dec_deg * u.deg, int(level_to_nside(max_level)), order="nested"),
        dtype=np.int64,
    )
    slot = np.clip(np.searchsorted(start, fine, side="right") - 1, 0, len(start) - 1)
    found = (fine >= start[slot]) & (fine < end[slot])
    return np.where(found, order[slot], -1)


def tangent_offsets(ra0_deg: float, dec0_deg: float, ra_deg: Any, dec_deg: Any) -> tuple[FloatArray, FloatArray]:
    """Gnomonic-plane (x, y) in deg of positions about (ra0, dec0): x grows to the west (east is left), y north.

    Points 90 deg or more from the centre come back as NaN.
    """
    ra0, dec0 = np.radians(ra0_deg), np.radians(dec0_deg)
    ra, dec = np.radians(np.asarray(ra_deg, dtype=np.float64)), np.radians(np.asarray(dec_deg, dtype=np.float64))
    cos_c = np.sin(dec0) * np.sin(dec) + np.cos(dec0) * np.cos(dec) * np.cos(ra - ra0)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(dec) * np.sin(ra - ra0) / cos_c
        eta = (np.cos(dec0) * np.sin(dec) - np.sin(dec0) * np.cos(dec) * np.cos(ra - ra0)) / cos_c
    xi = np.where(cos_c > 0, xi, np.nan)
    eta = np.where(cos_c > 0, eta, np.nan)
    return np.asarray(-np.degrees(xi), dtype=np.float64), np.asarray(np.degrees(eta), dtype=np.float64)


def from_tangent_offsets(
    ra0_deg: float, dec0_deg: float, x_deg: FloatArray, y_deg: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Inverse of :func:`tangent_offsets`."""
    ra0, dec0 = np.radians(ra0_deg), np.radians(dec0_deg)
    xi, eta = -np.radians(x_deg), np.radians(y_deg)
    rho = np.hypot(xi, eta)
    c = np.arctan(rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        dec = np.arcsin(np.cos(c) * np.sin(dec0) + np.where(rho > 0, eta * np.sin(c) * np.cos(dec0) / rho, 0.0))
    ra = ra0 + np.arctan2(xi * np.sin(c), rho * np.cos(dec0) * np.cos(c) - eta * np.sin(dec0) * np.sin(c))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def _zoom(skymap: SkyMap, levels: FloatArray, density_scale: float) -> ZoomRaster | None:
    if skymap.credible_area_deg2(CREDIBLE_LEVELS[-1]) > ZOOM_MAX_AREA_DEG2:
        return None
    ra0, dec0 = skymap.most_probable_position()
    ra, dec = skymap.pixel_positions()
    inside = levels <= CREDIBLE_LEVELS[-1]
    x, y = tangent_offsets(ra0, dec0, ra[inside], dec[inside])
    extent = float(np.nanmax(np.maximum(np.abs(x), np.abs(y)))) if np.any(np.isfinite(x)) else 0.0
    half = min(max(1.3 * extent + 0.5, ZOOM_MIN_HALF_WIDTH_DEG), ZOOM_MAX_HALF_WIDTH_DEG)
    grid = np.linspace(-half, half, ZOOM_PX)
    xx, yy = np.meshgrid(grid, grid[::-1])  # columns: x from -half (east, left) to +half; rows: north first
    zra, zdec = from_tangent_offsets(ra0, dec0, xx, yy)
    index = _pixel_lookup(skymap, zra.ravel(), zdec.ravel()).reshape(xx.shape)
    valid = index >= 0
    density = np.full(xx.shape, np.nan)
    density[valid] = skymap.probdensity[index[valid]] * density_scale
    credible = np.full(xx.shape, np.nan)
    credible[valid] = levels[index[valid]]
    return ZoomRaster(ra0, dec0, half, density, credible)


def rasterize_skymap(skymap: SkyMap, label: str = "", width_px: int = RASTER_WIDTH_PX) -> SkyMapRaster:
    """Resample a (multi-order) map onto the Mollweide image grid, with credible levels for contours."""
    height_px = width_px // 2
    x = np.linspace(-mollweide.X_MAX, mollweide.X_MAX, width_px)
    y = np.linspace(mollweide.Y_MAX, -mollweide.Y_MAX, height_px)
    xx, yy = np.meshgrid(x, y)
    ra, dec, inside = mollweide.unproject(xx, yy)
    index = np.full(xx.shape, -1, dtype=np.int64)
    index[inside] = _pixel_lookup(skymap, ra[inside], dec[inside])
    valid = index >= 0
    deg2_per_sr = (180.0 / np.pi) ** 2
    scale = 1.0 / deg2_per_sr / max(skymap.total_probability(), 1e-300)
    levels = _cumulative_levels(skymap)
    density = np.full(xx.shape, np.nan)
    density[valid] = skymap.probdensity[index[valid]] * scale
    credible = np.full(xx.shape, np.nan)
    credible[valid] = levels[index[valid]]
    areas = {level: skymap.credible_area_deg2(level) for level in CREDIBLE_LEVELS}
    zoom = _zoom(skymap, levels, scale)
    return SkyMapRaster(density, credible, label or skymap.source, areas, skymap.most_probable_position(), zoom)


# ------------------------------------------------------------------------------------------------------
# horizons, Sun, Moon, Galactic plane
# ------------------------------------------------------------------------------------------------------


@cache
def _galactic_plane() -> tuple[FloatArray, FloatArray, tuple[float, float]]:
    configure_offline_astropy()
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    lon = np.linspace(0.0, 360.0, 361)
    plane = SkyCoord(l=lon * u.deg, b=np.zeros_like(lon) * u.deg, frame="galactic").icrs
    centre = SkyCoord(l=0.0 * u.deg, b=0.0 * u.deg, frame="galactic").icrs
    return (
        np.asarray(plane.ra.deg, dtype=np.float64),
        np.asarray(plane.dec.deg, dtype=np.float64),
        (float(centre.ra.deg), float(centre.dec.deg)),
    )


def _sun_and_moon(when: datetime) -> tuple[tuple[float, float], tuple[float, float]]:
    configure_offline_astropy()
    from astropy.coordinates import get_body, get_sun
    from astropy.time import Time
    from astropy.utils.exceptions import AstropyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        warnings.filterwarnings("ignore", message=r".*dubious year.*")
        t = Time(when.astimezone(UTC).replace(tzinfo=None), scale="utc")
        # Geocentric directions. Transforming them to (barycentric) ICRS *with* their distances would add the
        # parallax seen from the Solar System barycentre: several degrees for the Sun, far more for the Moon.
        sun = get_sun(t)
        moon = get_body("moon", t)
    return (float(sun.ra.deg), float(sun.dec.deg)), (float(moon.ra.deg), float(moon.dec.deg))


def sky_bodies(when: datetime, sites: Sequence[Site] = (MWA_SITE, ATCA_SITE)) -> SkyBodies:
    """Horizons of ``sites`` and the Sun, the Moon and the Galactic plane at ``when`` (astropy, ~50 ms)."""
    azimuths = np.linspace(0.0, 360.0, HORIZON_SAMPLES)
    horizons: list[tuple[str, FloatArray, FloatArray]] = []
    zeniths: list[tuple[str, float, float]] = []
    for site in sites:
        # the locked, vectorised core transform also loads the IERS tables before get_sun needs them
        points = altaz_to_radec_many(site, [(0.0, float(az)) for az in azimuths] + [(90.0, 0.0)], when)
        horizon = np.array(points[:-1], dtype=np.float64)
        horizons.append((site.name, horizon[:, 0], horizon[:, 1]))
        zeniths.append((site.name, points[-1][0], points[-1][1]))
    sun, moon = _sun_and_moon(when)
    plane_ra, plane_dec, centre = _galactic_plane()
    return SkyBodies(when, tuple(horizons), tuple(zeniths), sun, moon, (plane_ra, plane_dec), centre)


def skymap_cache_dir_default() -> Path:
    """Where the engine caches downloaded sky maps (the console and reports read the same cache)."""
    from tracet_gui.config import user_data_dir

    return user_data_dir() / "skymaps"
