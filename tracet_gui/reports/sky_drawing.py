"""Draw a :class:`~tracet_gui.reports.sky_scene.SkyScene` on a matplotlib Figure (any backend, no Qt here).

The console embeds the figure in a Qt canvas; reports render it with Agg to PNG thumbnails. Drawing is
cheap (the expensive raster is already computed); a full redraw of a busy map takes well under a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np

from tracet_gui.reports import mollweide
from tracet_gui.reports.mollweide import small_circle
from tracet_gui.reports.sky_scene import CREDIBLE_LEVELS, SkyScene, ZoomRaster, from_tangent_offsets, tangent_offsets

SOURCE_STYLE: dict[str | None, tuple[str, str]] = {
    "GRB": ("o", "#e4572e"),
    "GW": ("*", "#a05eb5"),
    "NU": ("^", "#2e86de"),
    "FS": ("s", "#f0a202"),
    None: ("D", "#7f8c8d"),
}
"""Marker shape and colour by source type (GRB, GW, neutrino, flare star, unknown)."""

SITE_COLOURS = {"MWA": "#d35400", "ATCA": "#16a085"}
"""Horizon line colour by site."""

IGNORED_ALPHA = 0.35
"""Opacity of the markers of ignored groups (they stay visible but recede)."""

PICK_RADIUS_PX = 12.0
"""A click within this many pixels of a marker selects its group."""


@dataclass(frozen=True, slots=True)
class SkyStyle:
    """Colours of the map furniture (light for reports, dark for the console)."""

    background: str
    sky: str
    grid: str
    text: str
    galactic: str
    footprint: str
    highlight: str
    cmap: str


LIGHT = SkyStyle("#ffffff", "#f4f6fb", "#b8bfcc", "#222222", "#7a7a7a", "#1f5fbf", "#000000", "Blues")
DARK = SkyStyle("#1e1f22", "#15161a", "#3d4350", "#dddddd", "#8b8b8b", "#6fa8ff", "#ffffff", "magma")


def _style_for(source_type: str | None) -> tuple[str, str]:
    return SOURCE_STYLE.get(source_type, SOURCE_STYLE[None])


def marker_positions(scene: SkyScene) -> tuple[list[int], Any, Any]:
    """(group ids, x, y) of the scene's markers in projected coordinates (for picking)."""
    if not scene.markers:
        return [], np.zeros(0), np.zeros(0)
    x, y = mollweide.project([m.ra_deg for m in scene.markers], [m.dec_deg for m in scene.markers])
    return [m.group_id for m in scene.markers], x, y


def _graticule(ax: Any, style: SkyStyle, compact: bool) -> None:
    ex, ey = mollweide.outline()
    ax.fill(ex, ey, color=style.sky, zorder=0)
    for ra in range(0, 360, 30):
        x, y = mollweide.meridian(float(ra))
        ax.plot(x, y, color=style.grid, lw=0.5, zorder=1)
    for dec in (-60, -30, 0, 30, 60):
        x, y = mollweide.parallel(float(dec))
        ax.plot(x, y, color=style.grid, lw=0.5, zorder=1)
    ax.plot(ex, ey, color=style.grid, lw=1.0, zorder=6)
    size = 6 if compact else 8
    step = 60 if compact else 30
    for ra in range(0, 360, step):
        x, y = mollweide.project(float(ra), 0.0)
        ax.text(
            float(x),
            float(y) + 0.03,
            f"{ra // 15}h",
            color=style.text,
            fontsize=size,
            ha="center",
            va="bottom",
            alpha=0.8,
            zorder=7,
        )
    for dec in (-60, -30, 30, 60):
        x, y = mollweide.project_lon(-180.0, float(dec))
        ax.text(
            float(x) - 0.05,
            float(y),
            f"{dec:+d}°",
            color=style.text,
            fontsize=size,
            ha="right",
            va="center",
            alpha=0.8,
            zorder=7,
        )


def _curve(ax: Any, ra: Any, dec: Any, **kwargs: Any) -> Any:
    x, y = mollweide.break_at_edges(ra, dec)
    return ax.plot(x, y, **kwargs)[0]


def draw_sky(fig: Any, scene: SkyScene, *, dark: bool = False, compact: bool = False) -> Any:
    """Clear ``fig`` and draw ``scene`` on one equal-aspect axes; returns the axes.

    ``compact`` is the thumbnail style: smaller labels, no legend, every marker but the selected one hidden.
    """
    style = DARK if dark else LIGHT
    fig.clear()
    fig.set_facecolor(style.background)
    has_zoom = scene.raster is not None and scene.raster.zoom is not None
    if compact:
        rect = (0.25, 0.02, 0.74, 0.86) if has_zoom else (0.02, 0.02, 0.96, 0.86)
    else:
        rect = (0.03, 0.14, 0.94, 0.78)
    ax = fig.add_axes(rect)
    ax.set_facecolor(style.background)
    ax.set_xlim(-mollweide.X_MAX * 1.04, mollweide.X_MAX * 1.02)
    ax.set_ylim(-mollweide.Y_MAX * 1.04, mollweide.Y_MAX * 1.06)
    ax.set_aspect("equal")
    ax.set_axis_off()
    _graticule(ax, style, compact)
    handles: list[Any] = []

    bodies = scene.bodies
    if bodies is not None:
        handles.append(
            _curve(
                ax,
                *bodies.galactic_plane,
                color=style.galactic,
                lw=1.0,
                ls=(0, (6, 3)),
                zorder=2,
                label="Galactic plane",
            )
        )
        gx, gy = mollweide.project(*bodies.galactic_centre)
        ax.plot(gx, gy, marker="x", color=style.galactic, ms=5, zorder=2)

    raster = scene.raster
    if raster is not None:
        density = np.ma.masked_invalid(raster.density)
        extent = (-mollweide.X_MAX, mollweide.X_MAX, -mollweide.Y_MAX, mollweide.Y_MAX)
        ax.imshow(
            density,
            extent=extent,
            origin="upper",
            cmap=style.cmap,
            alpha=0.85,
            zorder=3,
            interpolation="nearest",
            vmin=0.0,
            vmax=float(np.nanmax(raster.density)) or 1.0,
        )
        height, width = raster.credible.shape
        xs = np.linspace(-mollweide.X_MAX, mollweide.X_MAX, width)
        ys = np.linspace(mollweide.Y_MAX, -mollweide.Y_MAX, height)
        credible = np.where(np.isnan(raster.credible), 1.0, raster.credible)
        ax.contour(
            xs,
            ys,
            credible,
            levels=list(CREDIBLE_LEVELS),
            colors=[style.highlight, style.highlight],
            linewidths=[1.4, 0.9],
            linestyles=["solid", "dashed"],
            zorder=4,
        )
        from matplotlib.lines import Line2D

        if raster.zoom is not None:
            _zoom_box(ax, raster.zoom, style)

        for level, ls in zip(CREDIBLE_LEVELS, ("solid", "dashed"), strict=True):
            area = raster.area_deg2.get(level)
            text = f"GW {level:.0%} region" + (f" ({area:,.0f} deg²)" if area is not None else "")
            handles.append(Line2D([], [], color=style.highlight, ls=ls, lw=1.2, label=text))

    if bodies is not None:
        for name, ra, dec in bodies.horizons:
            colour = SITE_COLOURS.get(name, style.text)
            handles.append(_curve(ax, ra, dec, color=colour, lw=1.6, zorder=5, label=f"{name} horizon"))
        for name, zenith_ra, zenith_dec in bodies.zeniths:
            zx, zy = mollweide.project(zenith_ra, zenith_dec)
            colour = SITE_COLOURS.get(name, style.text)
            ax.plot(zx, zy, marker="+", color=colour, ms=8, mew=1.5, zorder=5)
            if not compact:
                ax.annotate(
                    f"{name} zenith",
                    (float(zx), float(zy)),
                    xytext=(4, -10),
                    textcoords="offset points",
                    color=colour,
                    fontsize=7,
                    zorder=8,
                )
        sx, sy = mollweide.project(*bodies.sun)
        handles.append(
            ax.plot(sx, sy, marker="o", ms=11, color="#ffcc00", mec="#b07d00", ls="none", zorder=9, label="Sun")[0]
        )
        mx, my = mollweide.project(*bodies.moon)
        handles.append(
            ax.plot(mx, my, marker="o", ms=9, color="#c8c8c8", mec="#6d6d6d", ls="none", zorder=9, label="Moon")[0]
        )

    for fp in scene.footprints:
        polygons = mollweide.circle_fill_polygons(fp.ra_deg, fp.dec_deg, fp.radius_deg)
        for px, py in polygons:
            ax.fill(px, py, color=style.footprint, alpha=0.12, zorder=5, lw=0)
        _curve(
            ax, *small_circle(fp.ra_deg, fp.dec_deg, fp.radius_deg), color=style.footprint, lw=1.0, ls="--", zorder=5
        )
        fx, fy = mollweide.project(fp.ra_deg, fp.dec_deg)
        ax.plot(fx, fy, marker="+", color=style.footprint, ms=6, zorder=6)
        if not compact:
            ax.annotate(
                fp.name,
                (float(fx), float(fy)),
                xytext=(3, 3),
                textcoords="offset points",
                color=style.footprint,
                fontsize=7,
                zorder=8,
            )
    if scene.footprints:
        from matplotlib.patches import Patch

        handles.append(
            Patch(
                facecolor=style.footprint,
                alpha=0.25,
                edgecolor=style.footprint,
                ls="--",
                label=f"MWA beam ({scene.footprints[0].radius_deg:g}° cone)",
            )
        )

    seen_types: set[str | None] = set()
    selected = scene.selected
    for marker in scene.markers:
        if compact and marker is not selected:
            continue
        shape, colour = _style_for(marker.source_type)
        alpha = IGNORED_ALPHA if marker.ignored and marker is not selected else 1.0
        if marker.pos_error_deg and marker.pos_error_deg > 0:
            for px, py in mollweide.circle_fill_polygons(marker.ra_deg, marker.dec_deg, marker.pos_error_deg):
                ax.fill(px, py, color=colour, alpha=0.18 * alpha, lw=0, zorder=6)
            _curve(
                ax,
                *small_circle(marker.ra_deg, marker.dec_deg, marker.pos_error_deg),
                color=colour,
                lw=0.8,
                alpha=alpha,
                zorder=6,
            )
        x, y = mollweide.project(marker.ra_deg, marker.dec_deg)
        label = None
        if marker.source_type not in seen_types:
            seen_types.add(marker.source_type)
            label = marker.source_type or "other"
        line = ax.plot(
            x,
            y,
            marker=shape,
            color=colour,
            mec=style.background,
            mew=0.6,
            ms=8 if shape != "*" else 11,
            ls="none",
            alpha=alpha,
            zorder=10,
            label=label,
        )[0]
        if label is not None and not compact:
            handles.append(line)
    if selected is not None:
        x, y = mollweide.project(selected.ra_deg, selected.dec_deg)
        ax.plot(x, y, marker="o", ms=20, mfc="none", mec=style.highlight, mew=2.0, ls="none", zorder=11)
        error = f" ±{selected.pos_error_deg:.3g}°" if selected.pos_error_deg else ""
        ax.annotate(
            f"{selected.label}{error}",
            (float(x), float(y)),
            xytext=(12, 10),
            textcoords="offset points",
            color=style.text,
            fontsize=7 if compact else 9,
            weight="bold",
            zorder=12,
            bbox={"boxstyle": "round,pad=0.2", "fc": style.background, "ec": style.grid, "alpha": 0.85},
        )

    if selected is None and raster is not None and scene.selected_label:
        px, py = mollweide.project(*raster.most_probable)
        ax.annotate(
            scene.selected_label,
            (float(px), float(py)),
            xytext=(12, 10),
            textcoords="offset points",
            color=style.text,
            fontsize=7 if compact else 9,
            weight="bold",
            zorder=12,
            bbox={"boxstyle": "round,pad=0.2", "fc": style.background, "ec": style.grid, "alpha": 0.85},
        )
    if raster is not None and raster.zoom is not None:
        rect = (0.03, 0.2, 0.2, 0.5) if compact else (0.01, 0.67, 0.13, 0.25)
        _draw_zoom(fig, scene, raster.zoom, style, rect, compact)
    if scene.title:
        fig.suptitle(scene.title, color=style.text, fontsize=8 if compact else 11, y=0.985 if compact else 0.97)
    if not compact:
        if handles:
            fig.legend(
                handles=handles,
                loc="lower center",
                ncol=min(6, len(handles)),
                fontsize=7.5,
                frameon=False,
                labelcolor=style.text,
                bbox_to_anchor=(0.5, 0.0),
            )
        if scene.notes:
            fig.text(0.01, 0.985, "\n".join(scene.notes), color=style.text, fontsize=7.5, va="top", alpha=0.85)
        fig.text(
            0.99,
            0.985,
            "RA increases to the left (east left), 12h at centre",
            color=style.text,
            fontsize=7,
            ha="right",
            va="top",
            alpha=0.7,
        )
    return ax


def _zoom_box(ax: Any, zoom: ZoomRaster, style: SkyStyle) -> None:
    """Outline on the all-sky map of the area the inset shows."""
    h = zoom.half_width_deg
    edge = np.linspace(-h, h, 40)
    xs = np.concatenate([edge, np.full(40, h), edge[::-1], np.full(40, -h)])
    ys = np.concatenate([np.full(40, -h), edge, np.full(40, h), edge[::-1]])
    ra, dec = from_tangent_offsets(zoom.centre_ra_deg, zoom.centre_dec_deg, xs, ys)
    _curve(ax, ra, dec, color=style.highlight, lw=0.8, zorder=7)


def _draw_zoom(
    fig: Any, scene: SkyScene, zoom: ZoomRaster, style: SkyStyle, rect: tuple[float, float, float, float], compact: bool
) -> Any:
    """The inset: the GW map around its peak, with contours, beams and markers, east to the left."""
    inset = fig.add_axes(rect)
    h = zoom.half_width_deg
    inset.set_facecolor(style.sky)
    inset.imshow(
        np.ma.masked_invalid(zoom.density),
        extent=(-h, h, -h, h),
        origin="upper",
        cmap=style.cmap,
        interpolation="nearest",
        vmin=0.0,
        vmax=float(np.nanmax(zoom.density)) or 1.0,
    )
    grid = np.linspace(-h, h, zoom.credible.shape[0])
    credible = np.where(np.isnan(zoom.credible), 1.0, zoom.credible)
    inset.contour(
        grid,
        grid[::-1],
        credible,
        levels=list(CREDIBLE_LEVELS),
        colors=[style.highlight] * 2,
        linewidths=[1.2, 0.8],
        linestyles=["solid", "dashed"],
    )
    for fp in scene.footprints:
        cx, cy = tangent_offsets(
            zoom.centre_ra_deg, zoom.centre_dec_deg, *small_circle(fp.ra_deg, fp.dec_deg, fp.radius_deg)
        )
        inset.plot(cx, cy, color=style.footprint, lw=0.9, ls="--")
    for marker in scene.markers:
        mx, my = tangent_offsets(zoom.centre_ra_deg, zoom.centre_dec_deg, marker.ra_deg, marker.dec_deg)
        if np.isfinite(mx) and abs(float(mx)) < h and abs(float(my)) < h:
            shape, colour = _style_for(marker.source_type)
            inset.plot(mx, my, marker=shape, color=colour, ms=6, ls="none")
    inset.set_xlim(-h, h)
    inset.set_ylim(-h, h)
    inset.set_aspect("equal")
    size = 5.5 if compact else 7
    inset.tick_params(labelsize=size, colors=style.text, length=2)
    for spine in inset.spines.values():
        spine.set_color(style.highlight)
    ra_h = zoom.centre_ra_deg / 15.0
    inset.set_title(
        f"GW map zoom, centre {ra_h:.2f}h {zoom.centre_dec_deg:+.1f}°", fontsize=size, color=style.text, pad=2
    )
    if not compact:
        inset.set_xlabel("← east   offset (deg)   west →", fontsize=size, color=style.text, labelpad=1)
    return inset


def render_png(scene: SkyScene, *, width_in: float = 4.0, dpi: int = 110, compact: bool = True) -> bytes:
    """The scene as PNG bytes, rendered with Agg (no GUI toolkit): report thumbnails, offscreen checks."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, width_in * (0.47 if compact else 0.62)), dpi=dpi)
    FigureCanvasAgg(fig)
    draw_sky(fig, scene, compact=compact)
    buffer = BytesIO()
    fig.savefig(buffer, format="png", facecolor=fig.get_facecolor())
    return buffer.getvalue()
