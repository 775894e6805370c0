"""The all-sky Mollweide projection the sky map uses, as plain numpy (no matplotlib, no astropy).

Right ascension is drawn as an astronomer looks up at the sky: 12 h in the middle, **east (increasing RA) to
the left**, 0 h / 24 h on both edges. Projected coordinates are the textbook ones: ``x`` in
[-2√2, 2√2], ``y`` in [-√2, √2] (the ellipse ``x²/8 + y²/2 = 1``).

Curves on the sphere (horizons, the Galactic plane, error circles) are sampled densely and broken with NaN
where they cross the 0 h edge, so a line never streaks across the map.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

SQRT2 = float(np.sqrt(2.0))
X_MAX = 2.0 * SQRT2
"""Half-width of the Mollweide ellipse (projected units)."""
Y_MAX = SQRT2
"""Half-height of the Mollweide ellipse (projected units)."""
CENTRE_RA_DEG = 180.0
"""Right ascension at the centre of the map (deg): 12 h."""

_NEWTON_STEPS = 12


def _lon_deg(ra_deg: Any) -> FloatArray:
    """Map longitude (deg, in [-180, 180)) of an RA: centre 12 h, RA increasing to the left."""
    return np.asarray(((CENTRE_RA_DEG - np.asarray(ra_deg, dtype=np.float64)) + 180.0) % 360.0 - 180.0)


def _auxiliary_angle(lat_rad: FloatArray) -> FloatArray:
    """θ solving 2θ + sin 2θ = π sin φ (Newton's method, vectorised; exact at the poles)."""
    target = np.pi * np.sin(lat_rad)
    theta = lat_rad.copy()
    for _ in range(_NEWTON_STEPS):
        f = 2.0 * theta + np.sin(2.0 * theta) - target
        df = 2.0 + 2.0 * np.cos(2.0 * theta)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(df > 1e-12, f / df, 0.0)
        theta = theta - step
    return np.clip(theta, -np.pi / 2.0, np.pi / 2.0)


def project_lon(lon_deg: Any, dec_deg: Any) -> tuple[FloatArray, FloatArray]:
    """Projected (x, y) of map longitudes (deg, not wrapped: values past ±180 are clipped to the edge)."""
    lon = np.radians(np.clip(np.asarray(lon_deg, dtype=np.float64), -180.0, 180.0))
    lat = np.radians(np.clip(np.asarray(dec_deg, dtype=np.float64), -90.0, 90.0))
    theta = _auxiliary_angle(np.atleast_1d(lat)).reshape(lat.shape)
    x = (2.0 * SQRT2 / np.pi) * lon * np.cos(theta)
    y = SQRT2 * np.sin(theta)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def project(ra_deg: Any, dec_deg: Any) -> tuple[FloatArray, FloatArray]:
    """Projected (x, y) of ICRS positions (deg)."""
    return project_lon(_lon_deg(ra_deg), dec_deg)


def unproject(x: Any, y: Any) -> tuple[FloatArray, FloatArray, NDArray[np.bool_]]:
    """(ra_deg, dec_deg, inside) of projected points; ``inside`` is False outside the ellipse."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    inside = (x / X_MAX) ** 2 + (y / Y_MAX) ** 2 <= 1.0
    theta = np.arcsin(np.clip(y / SQRT2, -1.0, 1.0))
    lat = np.arcsin(np.clip((2.0 * theta + np.sin(2.0 * theta)) / np.pi, -1.0, 1.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        lon = np.pi * x / (2.0 * SQRT2 * np.cos(theta))
    lon_deg = np.degrees(np.nan_to_num(lon))
    inside &= np.abs(lon_deg) <= 180.0
    ra = (CENTRE_RA_DEG - lon_deg) % 360.0
    return ra, np.degrees(lat), inside


def break_at_edges(ra_deg: Any, dec_deg: Any) -> tuple[FloatArray, FloatArray]:
    """A sampled curve projected, with NaN inserted wherever it jumps across the 0 h edge."""
    lon = _lon_deg(ra_deg)
    dec = np.asarray(dec_deg, dtype=np.float64)
    if lon.size < 2:
        return project_lon(lon, dec)
    jumps = np.nonzero(np.abs(np.diff(lon)) > 180.0)[0] + 1
    lon = np.insert(lon, jumps, np.nan)
    dec = np.insert(dec, jumps, np.nan)
    x, y = project_lon(np.nan_to_num(lon), np.nan_to_num(dec))
    gaps = np.isnan(lon)
    x[gaps] = np.nan
    y[gaps] = np.nan
    return x, y


def small_circle(ra_deg: float, dec_deg: float, radius_deg: float, samples: int = 181) -> tuple[FloatArray, FloatArray]:
    """(ra_deg, dec_deg) of points at ``radius_deg`` from a centre, true on the sphere (closed: last = first)."""
    bearing = np.radians(np.linspace(0.0, 360.0, samples))
    r = np.radians(min(max(radius_deg, 0.0), 180.0))
    ra0, dec0 = np.radians(ra_deg), np.radians(dec_deg)
    sin_dec = np.sin(dec0) * np.cos(r) + np.cos(dec0) * np.sin(r) * np.cos(bearing)
    dec = np.arcsin(np.clip(sin_dec, -1.0, 1.0))
    ra = ra0 + np.arctan2(np.sin(bearing) * np.sin(r) * np.cos(dec0), np.cos(r) - np.sin(dec0) * sin_dec)
    return np.degrees(ra) % 360.0, np.degrees(dec)


def circle_fill_polygons(ra_deg: float, dec_deg: float, radius_deg: float) -> list[tuple[FloatArray, FloatArray]]:
    """Projected polygons that together fill a spherical cap (one, or two when it straddles the 0 h edge).

    The outline's longitude is unwrapped around the centre; points that fall past an edge are pinned to
    that edge (they add no area), and the part on the far side is drawn as a second polygon. A cap holding
    a pole is closed along the map's top or bottom edge.
    """
    ra, dec = small_circle(ra_deg, dec_deg, radius_deg)
    r = min(max(radius_deg, 0.0), 180.0)
    holds_north = dec_deg + r >= 90.0
    holds_south = dec_deg - r <= -90.0
    if holds_north or holds_south:
        lon = _lon_deg(ra)
        order = np.argsort(lon)
        lon, lat = lon[order], dec[order]
        pole = 90.0 if holds_north else -90.0
        lon = np.concatenate([[-180.0], lon, [180.0, 180.0, -180.0]])
        lat = np.concatenate([[lat[0]], lat, [lat[-1], pole, pole]])
        return [project_lon(lon, lat)]
    centre = float(_lon_deg(ra_deg))
    lon = centre + ((_lon_deg(ra) - centre + 180.0) % 360.0 - 180.0)
    polygons = [project_lon(lon, dec)]
    if lon.max() > 180.0:
        polygons.append(project_lon(lon - 360.0, dec))
    elif lon.min() < -180.0:
        polygons.append(project_lon(lon + 360.0, dec))
    return polygons


def outline() -> tuple[FloatArray, FloatArray]:
    """The map's boundary ellipse."""
    t = np.linspace(0.0, 2.0 * np.pi, 361)
    return X_MAX * np.cos(t), Y_MAX * np.sin(t)


def meridian(ra_deg: float, samples: int = 91) -> tuple[FloatArray, FloatArray]:
    """A line of constant RA from pole to pole."""
    dec = np.linspace(-90.0, 90.0, samples)
    return project(np.full_like(dec, ra_deg), dec)


def parallel(dec_deg: float, samples: int = 181) -> tuple[FloatArray, FloatArray]:
    """A line of constant declination across the whole map."""
    lon = np.linspace(-180.0, 180.0, samples)
    return project_lon(lon, np.full_like(lon, dec_deg))
