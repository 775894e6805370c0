"""The "Sky map" tab: an all-sky Mollweide map of the recent groups and the selected group's GW map, MWA
beams, horizons, Sun, Moon and Galactic plane, with the selected target's visibility plot underneath.

Nothing slow runs on the GUI thread. A redraw request (selection, new data, resize) is throttled to one per
``REDRAW_INTERVAL_MS``; the database reads, the astropy work, the sky-map download and rasterisation *and
the matplotlib rendering* (Agg, one private Figure per picture) run on one worker thread, which hands back
finished QImages. The GUI thread only paints them, and maps a click back to a marker with the affine
transform the worker recorded.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.pipeline.skymaps import SkyMap, SkyMapError, SkyMapFetcher
from tracet_gui.reports.sky_drawing import PICK_RADIUS_PX, draw_sky, marker_positions
from tracet_gui.reports.sky_scene import (
    SkyMapRaster,
    SkyScene,
    footprints_from_observations,
    markers_from_groups,
    rasterize_skymap,
    sky_bodies,
    skymap_cache_dir_default,
    skymap_url_for_group,
)
from tracet_gui.storage.database import SessionFactory
from tracet_gui.storage.views import GROUPS, GroupDetail, GroupFilter, Sort, group_detail, list_proposals
from tracet_gui.ui.visibility_plot import (
    VisibilityData,
    VisibilityPlot,
    compute_visibility,
    draw_visibility,
    hypothetical_windows,
    mwa_horizon_limit,
    plot_start,
    requested_windows,
)

log = logging.getLogger(__name__)

RECENT_GROUPS = 300
"""Most recently active groups drawn as markers."""

REDRAW_INTERVAL_MS = 300
"""Quiet time before a redraw starts (ms); requests arriving meanwhile, or while one renders, merge into one."""

SKYMAP_RETRY_S = 300.0
"""A sky map that could not be fetched is tried again after this long (s), not on every redraw."""

RENDER_DPI = 100
"""Dots per inch of the rendered pictures (sizes follow the widget in pixels)."""

SkyMapSource = Callable[[str], SkyMap]
"""Fetches the sky map at a URL (may download; runs on the worker thread); raises SkyMapError."""


@dataclass(frozen=True, slots=True)
class RenderRequest:
    """What to draw, and at which size (pixels)."""

    selected_group_id: int | None
    sky_size: tuple[int, int]
    visibility_size: tuple[int, int]
    dark: bool
    hide_ignored: bool
    now: datetime


@dataclass(frozen=True, eq=False)
class RenderResult:
    """Finished pictures plus what is needed to pick a marker with the mouse."""

    request: RenderRequest
    scene: SkyScene
    sky_image: QImage
    data_to_pixel: Any
    """3x3 affine matrix: projected map coordinates → figure pixels (origin bottom-left)."""
    visibility_image: QImage
    visibility: VisibilityData | None
    elapsed_s: float
    status: str


@dataclass
class _RasterCache:
    """Rasterised sky maps by URL, and failures with the time they happened (worker thread only)."""

    rasters: dict[str, SkyMapRaster] = field(default_factory=dict)
    failures: dict[str, tuple[float, str]] = field(default_factory=dict)


def _figure(width_px: int, height_px: int) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(width_px, 50) / RENDER_DPI, max(height_px, 50) / RENDER_DPI), dpi=RENDER_DPI)
    FigureCanvasAgg(fig)
    return fig


def _to_image(fig: Any) -> QImage:
    fig.canvas.draw()
    buffer = np.asarray(fig.canvas.buffer_rgba())
    height, width = buffer.shape[:2]
    return QImage(buffer.tobytes(), width, height, 4 * width, QImage.Format.Format_RGBA8888).copy()


def save_scene(scene: SkyScene, path: Path, *, width_px: int = 1800, height_px: int = 1100, dark: bool = False) -> None:
    """Write the scene as PNG or PDF (by the file extension) at a print-friendly size."""
    fig = _figure(width_px, height_px)
    draw_sky(fig, scene, dark=dark)
    fig.savefig(
        str(path), facecolor=fig.get_facecolor(), dpi=RENDER_DPI * (1 if path.suffix.lower() == ".pdf" else 1.5)
    )


class SkySceneRenderer:
    """Builds and renders scenes; every method runs on the worker thread."""

    def __init__(self, sessions: SessionFactory, skymap_source: SkyMapSource) -> None:
        self.sessions = sessions
        self.skymap_source = skymap_source
        self.cache = _RasterCache()

    def raster_for(self, url: str) -> tuple[SkyMapRaster | None, str]:
        """The rasterised map at ``url`` (cached) and a note when it is missing."""
        if url in self.cache.rasters:
            return self.cache.rasters[url], ""
        failed = self.cache.failures.get(url)
        if failed is not None and time.monotonic() - failed[0] < SKYMAP_RETRY_S:
            return None, failed[1]
        try:
            raster = rasterize_skymap(self.skymap_source(url), url.rsplit("/", 1)[-1])
        except SkyMapError as exc:
            note = f"GW sky map unavailable: {exc}"
            self.cache.failures[url] = (time.monotonic(), note)
            return None, note
        self.cache.rasters[url] = raster
        return raster, ""

    def scene(self, request: RenderRequest) -> tuple[SkyScene, GroupDetail | None]:
        flt = GroupFilter(ignored=False if request.hide_ignored else None)
        groups = GROUPS.page(self.sessions, flt, Sort("last_received_utc"), 0, RECENT_GROUPS)
        detail = None
        notes: list[str] = []
        raster = None
        footprints: tuple[Any, ...] = ()
        if request.selected_group_id is not None:
            detail = group_detail(self.sessions, request.selected_group_id)
        if detail is not None:
            if all(g.group_id != detail.group.group_id for g in groups):
                groups = [*groups, detail.group]
            footprints = footprints_from_observations(detail.observations)
            url = skymap_url_for_group(self.sessions, detail.group.group_id)
            if url:
                raster, note = self.raster_for(url)
                if note:
                    notes.append(note)
        markers = markers_from_groups(groups)
        bodies = sky_bodies(request.now)
        title = f"Sky at {request.now:%Y-%m-%d %H:%M} UTC — {len(markers)} recent group(s)"
        if detail is not None:
            g = detail.group
            title += f" · selected {g.source_name or g.trig_id}"
        return (
            SkyScene(
                markers,
                request.selected_group_id,
                raster,
                footprints,
                bodies,
                title,
                tuple(notes),
                selected_label=(detail.group.source_name or detail.group.trig_id) if detail else "",
            ),
            detail,
        )

    def visibility(
        self, scene: SkyScene, detail: GroupDetail | None, now: datetime
    ) -> tuple[VisibilityData | None, str]:
        if detail is None:
            return None, "Select a group (click a marker, or a row in any table) to see its visibility."
        g = detail.group
        name = g.source_name or g.trig_id
        if g.ra_deg is not None and g.dec_deg is not None:
            ra, dec = g.ra_deg, g.dec_deg
        elif scene.raster is not None:
            ra, dec = scene.raster.most_probable
            name += " (GW map peak)"
        else:
            return None, f"{name} has no single position (and no sky map at hand)."
        event_utc = g.earliest_observed_utc or g.first_received_utc
        start, live = plot_start(now, g.last_received_utc, event_utc)
        proposals = list_proposals(self.sessions)
        deciding = {d.decision.proposal_id for d in detail.decisions}
        windows = requested_windows(detail.observations)
        if not windows:
            windows = hypothetical_windows([p for p in proposals if p.proposal_id in deciding], start)
        limit = mwa_horizon_limit(proposals, deciding)
        return compute_visibility(name, ra, dec, start, mwa_limit_deg=limit, windows=windows, live=live), ""

    def render(self, request: RenderRequest) -> RenderResult:
        started = time.monotonic()
        scene, detail = self.scene(request)
        fig = _figure(*request.sky_size)
        ax = draw_sky(fig, scene, dark=request.dark)
        sky_image = _to_image(fig)
        matrix = ax.transData.get_matrix().copy()
        data, message = self.visibility(scene, detail, request.now)
        vis_fig = _figure(*request.visibility_size)
        draw_visibility(vis_fig, data, dark=request.dark, message=message)
        vis_image = _to_image(vis_fig)
        elapsed = time.monotonic() - started
        status = f"{len(scene.markers)} group(s) on the map"
        if scene.raster is not None:
            area = scene.raster.area_deg2.get(0.9)
            status += f" · GW map {scene.raster.label}" + (f", 90% area {area:,.0f} deg²" if area else "")
        if scene.footprints:
            status += f" · {len(scene.footprints)} MWA pointing(s)"
        status += f" · drawn in {elapsed:.1f} s"
        return RenderResult(request, scene, sky_image, matrix, vis_image, data, elapsed, status)


class _Relay(QObject):
    """Carries results from the worker thread to the GUI thread (queued connection)."""

    finished = Signal(object)
    failed = Signal(str)
    message = Signal(str)


class SkyCanvas(QWidget):
    """Paints the rendered map and turns a click into a group id."""

    clicked = Signal(float, float)
    """Figure pixel coordinates (origin bottom-left) of a left click on the picture."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("skyCanvas")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(400, 220)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.image: QImage | None = None
        self._placed: tuple[float, float, float] = (0.0, 0.0, 1.0)  # x offset, y offset, scale

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(1100, 620)

    def set_image(self, image: QImage) -> None:
        self.image = image
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        if self.image is not None and not self.image.isNull():
            scale = min(self.width() / self.image.width(), self.height() / self.image.height())
            width, height = self.image.width() * scale, self.image.height() * scale
            x0, y0 = (self.width() - width) / 2.0, (self.height() - height) / 2.0
            self._placed = (x0, y0, scale)
            scaled = self.image.scaled(
                int(width), int(height), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            painter.drawImage(QPointF(x0, y0), scaled)
        painter.end()

    def figure_point(self, x: float, y: float) -> tuple[float, float] | None:
        """Widget point → figure pixel (origin bottom-left), None outside the picture."""
        if self.image is None:
            return None
        x0, y0, scale = self._placed
        fx, fy = (x - x0) / scale, (y - y0) / scale
        if not (0 <= fx <= self.image.width() and 0 <= fy <= self.image.height()):
            return None
        return fx, self.image.height() - fy

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton:
            point = self.figure_point(event.position().x(), event.position().y())
            if point is not None:
                self.clicked.emit(point[0], point[1])
        super().mousePressEvent(event)


def pick_group_at(result: RenderResult, fx: float, fy: float, radius_px: float = PICK_RADIUS_PX) -> int | None:
    """The group whose marker is nearest a figure pixel of ``result``'s picture, within ``radius_px``."""
    ids, x, y = marker_positions(result.scene)
    if not ids:
        return None
    points = np.column_stack([x, y, np.ones_like(x)]) @ np.asarray(result.data_to_pixel).T
    distance = np.hypot(points[:, 0] - fx, points[:, 1] - fy)
    best = int(np.argmin(distance))
    return ids[best] if distance[best] <= radius_px else None


def marker_pixel(result: RenderResult, group_id: int) -> tuple[float, float] | None:
    """Figure pixel (origin bottom-left) of a group's marker in ``result``'s picture."""
    ids, x, y = marker_positions(result.scene)
    if group_id not in ids:
        return None
    i = ids.index(group_id)
    px, py, _ = np.asarray(result.data_to_pixel) @ np.array([x[i], y[i], 1.0])
    return float(px), float(py)


def network_skymap_source(cache_dir: Path | None = None) -> SkyMapSource:
    """Fetch with the engine's cache (a map the engine downloaded is read from disk; others are downloaded)."""
    fetcher = SkyMapFetcher(cache_dir or skymap_cache_dir_default(), timeout_s=15.0, max_attempts=1)
    return fetcher.fetch


class SkyMapPage(QWidget):
    """Map + visibility plot; emits ``group_selected`` when the operator clicks a marker."""

    group_selected = Signal(int)
    rendered = Signal()
    """A new picture is on screen (tests and screenshots wait for it)."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        skymap_source: SkyMapSource | None = None,
        clock: Callable[[], datetime] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("skyMapPage")
        self.sessions = sessions
        self.clock = clock or (lambda: datetime.now(UTC))
        self.renderer = SkySceneRenderer(sessions, skymap_source or network_skymap_source())
        self.selected_group_id: int | None = None
        self.result: RenderResult | None = None
        self._executor: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skymap")
        self._in_flight: Future[Any] | None = None
        self._pending = False
        self._stale = True
        self._relay = _Relay(self)
        self._relay.finished.connect(self._show)
        self._relay.failed.connect(self._show_failure)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        bar = QHBoxLayout()
        self.status = QLabel("Drawing the sky…")
        self.status.setObjectName("skyMapStatus")
        bar.addWidget(self.status, 1)
        self._relay.message.connect(self.status.setText)
        self.hide_ignored = QCheckBox("Hide ignored groups")
        self.hide_ignored.toggled.connect(lambda _on: self.request_redraw())
        bar.addWidget(self.hide_ignored)
        self.export_button = QPushButton("Export view…")
        self.export_button.setToolTip("Save the current map as PNG or PDF")
        self.export_button.clicked.connect(self.export_dialog)
        bar.addWidget(self.export_button)
        layout.addLayout(bar)
        self.canvas = SkyCanvas()
        self.canvas.clicked.connect(self._clicked)
        self.visibility = VisibilityPlot()
        self.split = QSplitter(Qt.Orientation.Vertical)
        self.split.addWidget(self.canvas)
        self.split.addWidget(self.visibility)
        self.split.setSizes([620, 260])
        self.split.splitterMoved.connect(lambda *_: self.request_redraw())
        layout.addWidget(self.split, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._timer.timeout.connect(self._start_render)

    # ---- public API -------------------------------------------------------------------------------------
    def select_group(self, group_id: int | None) -> None:
        """Highlight a group (from a table selection); does not emit ``group_selected``."""
        if group_id == self.selected_group_id:
            return
        self.selected_group_id = group_id
        self.request_redraw()

    def apply_changes(self, group_ids: Any) -> None:
        """New or changed groups: redraw (throttled)."""
        if group_ids:
            self.request_redraw()

    def request_redraw(self) -> None:
        """Ask for a redraw; many requests within ``REDRAW_INTERVAL_MS`` or during a render make one."""
        if self._executor is None:
            return
        if not self.isVisible():
            self._stale = True  # drawn when the tab is shown
            return
        if self._in_flight is not None:
            self._pending = True
        elif not self._timer.isActive():
            self._timer.start()

    @property
    def busy(self) -> bool:
        return self._in_flight is not None or self._timer.isActive() or self._pending

    def shutdown(self) -> None:
        """Stop the worker thread (waits for a render in progress)."""
        self._timer.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    # ---- rendering --------------------------------------------------------------------------------------
    def _dark(self) -> bool:
        return self.palette().window().color().lightness() < 128

    def _start_render(self) -> None:
        if self._executor is None or self._in_flight is not None:
            self._pending = self._executor is not None
            return
        self._pending = False
        canvas = self.canvas.size()
        vis = self.visibility.size()
        request = RenderRequest(
            self.selected_group_id,
            (max(canvas.width(), 400), max(canvas.height(), 220)),
            (max(vis.width(), 400), max(vis.height(), 140)),
            self._dark(),
            self.hide_ignored.isChecked(),
            self.clock(),
        )
        self._in_flight = self._executor.submit(self._work, request)

    def _work(self, request: RenderRequest) -> None:  # worker thread
        try:
            result = self.renderer.render(request)
        except Exception as exc:  # a broken map must not break the console
            log.exception("sky map rendering failed")
            self._emit(self._relay.failed, f"Sky map failed: {type(exc).__name__}: {exc}")
            return
        self._emit(self._relay.finished, result)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the page was deleted while rendering
            signal.emit(value)

    def _finish(self) -> None:
        self._in_flight = None
        if self._pending:
            self._pending = False
            self.request_redraw()

    def _show(self, result: RenderResult) -> None:
        self._finish()
        if result.request.selected_group_id != self.selected_group_id:
            self.request_redraw()  # the selection moved on while drawing; still show this one meanwhile
        self.result = result
        self.canvas.set_image(result.sky_image)
        self.visibility.set_image(result.visibility_image, result.visibility)
        self.status.setText(result.status)
        self.rendered.emit()

    def _show_failure(self, message: str) -> None:
        self._finish()
        self.status.setText(message)
        self.rendered.emit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self.request_redraw()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange):
            self.request_redraw()  # the theme changed: redraw light or dark

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if self._stale:
            self._stale = False
            self.request_redraw()

    # ---- interaction ------------------------------------------------------------------------------------
    def _clicked(self, fx: float, fy: float) -> None:
        if self.result is None:
            return
        group_id = pick_group_at(self.result, fx, fy)
        if group_id is not None:
            self.select_group(group_id)
            self.group_selected.emit(group_id)

    def export_view(self, path: Path) -> Future[Path]:
        """Save the map on screen as PNG or PDF (rendered again at print size, on the worker thread)."""
        if self.result is None or self._executor is None:
            raise RuntimeError("nothing drawn yet")
        if path.suffix.lower() not in (".png", ".pdf"):
            path = path.with_suffix(".png")
        scene = self.result.scene
        self.status.setText(f"Saving {path}…")

        def save() -> Path:
            try:
                save_scene(scene, path)
            except OSError as exc:
                self._emit(self._relay.message, f"Could not save {path}: {exc}")
                raise
            self._emit(self._relay.message, f"Saved {path}")
            return path

        return self._executor.submit(save)

    def export_dialog(self) -> None:
        if self.result is None:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Export sky map", "skymap.png", "PNG image (*.png);;PDF (*.pdf)")
        if name:
            self.export_view(Path(name))
