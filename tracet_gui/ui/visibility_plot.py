"""Visibility of the selected target: altitude over 24 h at the MWA and ATCA, the horizon limits, the Sun and
the observation windows that were (or would be) requested.

:func:`compute_visibility` does the astropy work (off the GUI thread), :func:`draw_visibility` draws on any
matplotlib Figure, and :class:`VisibilityPlot` shows the image the sky-map worker rendered, so the GUI
thread only ever paints a finished picture.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from tracet_gui.core.proposal import MWA_MIN_HORIZON_LIMIT_DEG
from tracet_gui.core.visibility import ATCA_SITE, MWA_SITE, Site, altitudes_deg, configure_offline_astropy
from tracet_gui.storage.views import ObservationItem, ProposalItem

SPAN_S = 24 * 3600.0
"""Length of the plotted interval (s)."""

STEP_S = 600.0
"""Sampling step of the altitude curves (s)."""

LIVE_GROUP_AGE_S = 24 * 3600.0
"""A group whose last alert is younger than this (s) is plotted from now; older ones from their event time."""

ATCA_ELEVATION_LIMIT_DEG = 12.0
"""Lowest elevation (deg) the ATCA antennas can point at."""

MWA_DEFAULT_HORIZON_LIMIT_DEG = MWA_MIN_HORIZON_LIMIT_DEG
"""MWA horizon limit (deg) drawn when no MWA proposal decided about the group."""

SITE_COLOURS = {"MWA": "#d35400", "ATCA": "#16a085"}


@dataclass(frozen=True, slots=True)
class ObservingWindow:
    """A requested (or hypothetical) observation: telescope, start and length."""

    telescope: str
    start_utc: datetime
    duration_s: float
    requested: bool
    """True for a request that was sent or recorded; False for what a proposal *would* request now."""
    label: str


@dataclass(frozen=True, eq=False)
class VisibilityData:
    """Altitude curves of one target over ``SPAN_S`` from ``start_utc``."""

    target: str
    ra_deg: float
    dec_deg: float
    start_utc: datetime
    times: tuple[datetime, ...]
    altitude_deg: dict[str, Any]
    """Site name → target altitude array (deg)."""
    sun_altitude_deg: dict[str, Any]
    """Site name → Sun altitude array (deg)."""
    limits_deg: dict[str, float]
    windows: tuple[ObservingWindow, ...]
    live: bool


def _site_for(telescope: str) -> Site:
    return ATCA_SITE if telescope.upper().startswith("ATCA") else MWA_SITE


def _sun_altitudes(site: Site, times: Sequence[datetime]) -> Any:
    configure_offline_astropy()
    altitudes_deg(site, 0.0, 0.0, times[:1])  # the core's locked transform loads the site and IERS tables first
    from astropy import units as u
    from astropy.coordinates import AltAz, EarthLocation, get_sun
    from astropy.time import Time
    from astropy.utils.exceptions import AstropyWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        warnings.filterwarnings("ignore", message=r".*dubious year.*")
        t = Time([x.astimezone(UTC).replace(tzinfo=None) for x in times], scale="utc")
        location = EarthLocation.from_geodetic(site.lon_deg * u.deg, site.lat_deg * u.deg, site.height_m * u.m)
        return np.asarray(get_sun(t).transform_to(AltAz(obstime=t, location=location)).alt.deg, dtype=float)


def mwa_horizon_limit(proposals: Iterable[ProposalItem], proposal_ids: Iterable[str]) -> float:
    """The lowest ``mwa_horizon_limit`` of the MWA proposals named (the default when there is none)."""
    wanted = set(proposal_ids)
    limits = [
        float(p.settings.get("mwa_horizon_limit", MWA_DEFAULT_HORIZON_LIMIT_DEG))
        for p in proposals
        if p.proposal_id in wanted and p.telescope.upper().startswith("MWA")
    ]
    return min(limits) if limits else MWA_DEFAULT_HORIZON_LIMIT_DEG


def requested_windows(observations: Iterable[ObservationItem]) -> list[ObservingWindow]:
    """The windows the group's requests asked for (exposure × number of observations from the request)."""
    out = []
    for obs in observations:
        exposure = float(obs.request.get("exposure_s") or 0.0)
        nobs = max(1, int(obs.request.get("nobs") or 1))
        if exposure <= 0:
            continue
        label = f"{obs.telescope} request #{obs.observation_id}" + (" (pretend)" if obs.pretend else "")
        out.append(ObservingWindow(obs.telescope, obs.requested_utc, exposure * nobs, True, label))
    return out


def hypothetical_windows(proposals: Iterable[ProposalItem], start: datetime) -> list[ObservingWindow]:
    """What each active proposal would request if triggered at ``start`` (MWA ``mwa_exptime`` s, ATCA
    ``atca_max_exptime`` min)."""
    out = []
    for p in proposals:
        if not p.active:
            continue
        if p.telescope.upper().startswith("ATCA"):
            duration = float(p.settings.get("atca_max_exptime", 0) or 0) * 60.0
        else:
            duration = float(p.settings.get("mwa_exptime", 0) or 0)
        if duration > 0:
            out.append(ObservingWindow(p.telescope, start, duration, False, f"{p.proposal_id} (would request)"))
    return out


def plot_start(now: datetime, last_received_utc: datetime | None, event_utc: datetime | None) -> tuple[datetime, bool]:
    """(start of the plot, live?): now for a live group, else the event time of an old one."""
    if last_received_utc is None or (now - last_received_utc).total_seconds() <= LIVE_GROUP_AGE_S or event_utc is None:
        return now, True
    return event_utc, False


def compute_visibility(
    target: str,
    ra_deg: float,
    dec_deg: float,
    start_utc: datetime,
    *,
    mwa_limit_deg: float,
    windows: Sequence[ObservingWindow] = (),
    live: bool = True,
) -> VisibilityData:
    """Altitudes of the target and the Sun at both sites every ``STEP_S`` over ``SPAN_S`` (astropy)."""
    count = int(SPAN_S // STEP_S) + 1
    times = tuple(start_utc + timedelta(seconds=i * STEP_S) for i in range(count))
    altitude = {site.name: np.asarray(altitudes_deg(site, ra_deg, dec_deg, times)) for site in (MWA_SITE, ATCA_SITE)}
    sun = {site.name: _sun_altitudes(site, times) for site in (MWA_SITE, ATCA_SITE)}
    limits = {MWA_SITE.name: mwa_limit_deg, ATCA_SITE.name: ATCA_ELEVATION_LIMIT_DEG}
    return VisibilityData(target, ra_deg, dec_deg, start_utc, times, altitude, sun, limits, tuple(windows), live)


def draw_visibility(fig: Any, data: VisibilityData | None, *, dark: bool = False, message: str = "") -> Any:
    """Clear ``fig`` and draw the altitude plot (or ``message`` when there is no target)."""
    text, face, grid = ("#dddddd", "#1e1f22", "#3d4350") if dark else ("#222222", "#ffffff", "#c9ced6")
    fig.clear()
    fig.set_facecolor(face)
    ax = fig.add_axes((0.07, 0.2, 0.76, 0.66))
    ax.set_facecolor(face)
    for spine in ax.spines.values():
        spine.set_color(grid)
    ax.tick_params(colors=text, labelsize=7.5)
    if data is None:
        ax.set_axis_off()
        fig.text(
            0.5,
            0.5,
            message or "Select a group with a position to see its visibility.",
            ha="center",
            va="center",
            color=text,
            fontsize=9,
        )
        return ax
    hours = np.array([(t - data.start_utc).total_seconds() / 3600.0 for t in data.times])
    for site, alt in data.altitude_deg.items():
        colour = SITE_COLOURS.get(site, text)
        ax.plot(hours, alt, color=colour, lw=1.8, label=f"{site} target altitude")
        ax.axhline(
            data.limits_deg[site], color=colour, lw=0.9, ls="--", label=f"{site} limit {data.limits_deg[site]:g}°"
        )
        sun = data.sun_altitude_deg[site]
        ax.plot(hours, sun, color=colour, lw=0.9, ls=":", alpha=0.9, label=f"Sun at {site}")
    mwa_sun = data.sun_altitude_deg.get("MWA")
    if mwa_sun is not None:
        ax.fill_between(
            hours,
            -90,
            90,
            where=np.asarray(mwa_sun) < -6.0,
            color="#7f8fa6",
            alpha=0.12,
            lw=0,
            label="night at MWA (Sun < −6°)",
        )
    for i, window in enumerate(data.windows):
        start_h = (window.start_utc - data.start_utc).total_seconds() / 3600.0
        end_h = start_h + window.duration_s / 3600.0
        colour = SITE_COLOURS.get(_site_for(window.telescope).name, text)
        ax.axvspan(
            start_h,
            end_h,
            ymin=0.0,
            ymax=0.06,
            color=colour,
            alpha=0.85 if window.requested else 0.35,
            hatch=None if window.requested else "//",
        )
        ax.axvspan(start_h, end_h, color=colour, alpha=0.10 if window.requested else 0.05, lw=0)
        ax.annotate(
            window.label, (start_h, 84 - 9 * (i % 4)), fontsize=6.5, color=text, ha="left", va="top", clip_on=True
        )
    ax.axhline(0, color=grid, lw=0.8)
    ax.set_xlim(0, hours[-1])
    ax.set_ylim(-90, 90)
    ax.set_yticks([-90, -60, -30, 0, 30, 60, 90])
    ax.grid(color=grid, lw=0.4, alpha=0.7)
    ax.set_ylabel("altitude (deg)", color=text, fontsize=8)
    start = data.start_utc.astimezone(UTC)
    ax.set_xlabel(
        f"hours after {start:%Y-%m-%d %H:%M} UTC" + (" (now)" if data.live else " (event time)"), color=text, fontsize=8
    )
    ax.set_title(f"{data.target}: RA {data.ra_deg:.3f}°, Dec {data.dec_deg:+.3f}° — next 24 h", color=text, fontsize=9)
    legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6.5, frameon=False)
    for label in legend.get_texts():
        label.set_color(text)
    return ax


class VisibilityPlot(QWidget):
    """Paints the latest rendered visibility image, scaled to the widget (rendering happens elsewhere)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("visibilityPlot")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumHeight(140)
        self.image: QImage | None = None
        self.data: VisibilityData | None = None

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(900, 260)

    def set_image(self, image: QImage, data: VisibilityData | None) -> None:
        self.image = image
        self.data = data
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self.image is not None and not self.image.isNull():
            scaled = self.image.scaled(
                self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            painter.drawImage((self.width() - scaled.width()) // 2, (self.height() - scaled.height()) // 2, scaled)
        painter.end()
