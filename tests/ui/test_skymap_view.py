"""The sky-map tab: projection maths, the GW map and Swift/Fermi markers drawn off the GUI thread, picking,
selection both ways with the main window, export, visibility, and no thread left behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.ui.builders import DATA_DIR, Built
from tracet_gui.core.visibility import MWA_SITE, altitudes_deg, angular_separation_deg
from tracet_gui.pipeline.skymaps import SkyMap, read_skymap
from tracet_gui.reports import mollweide
from tracet_gui.reports.sky_scene import CREDIBLE_LEVELS, rasterize_skymap, tangent_offsets
from tracet_gui.storage import views as v
from tracet_gui.ui.main_window import MainWindow
from tracet_gui.ui.skymap_view import SkyMapPage, marker_pixel, pick_group_at, save_scene
from tracet_gui.ui.visibility_plot import STEP_S, compute_visibility

BAYESTAR = DATA_DIR / "bayestar.multiorder.fits"
NOW = datetime(2023, 5, 18, 13, 0, tzinfo=UTC)
RENDER_TIMEOUT_MS = 60_000
"""Upper bound for one render (the test fails past it); a render takes about a second here."""


@pytest.fixture(autouse=True)
def _config_dir_exists(tmp_path: Path) -> None:
    """The UI conftest points XDG_CONFIG_HOME here; astropy warns when the directory is missing."""
    (tmp_path / "config").mkdir(exist_ok=True)


@pytest.fixture(scope="module")
def bayestar() -> SkyMap:
    return read_skymap(BAYESTAR)


def _bayestar_source(url: str) -> SkyMap:
    """Every GW group's map is the supplied BAYESTAR file (the real URLs are not reachable offline)."""
    return read_skymap(BAYESTAR, url)


@pytest.fixture
def page(qtbot: Any, built: Built) -> Iterator[SkyMapPage]:
    p = SkyMapPage(built.db.sessions, skymap_source=_bayestar_source, clock=lambda: NOW)
    p.resize(1200, 900)
    qtbot.addWidget(p)
    yield p
    p.shutdown()


def _render(qtbot: Any, page: SkyMapPage) -> None:
    page.request_redraw()
    qtbot.waitUntil(lambda: page.result is not None and not page.busy, timeout=RENDER_TIMEOUT_MS)


def _groups(built: Built) -> list[v.GroupItem]:
    return v.GROUPS.page(built.db.sessions, v.GroupFilter(ignored=None), v.Sort("group_id"), 0, 100)


# ---- projection ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ra", "dec"), [(0.1, 0.0), (180.0, 0.0), (90.0, 45.0), (270.0, -60.0), (359.9, 89.0), (12.3, -89.5), (200, 10)]
)
def test_mollweide_round_trip(ra: float, dec: float) -> None:
    x, y = mollweide.project(ra, dec)
    back_ra, back_dec, inside = mollweide.unproject(x, y)
    assert bool(inside)
    assert angular_separation_deg(ra, dec, float(back_ra), float(back_dec)) < 1e-6


@pytest.mark.parametrize(("east_ra", "west_ra"), [(195.0, 165.0), (90.0, 30.0), (350.0, 200.0)])
def test_east_is_to_the_left(east_ra: float, west_ra: float) -> None:
    assert mollweide.project(east_ra, 0.0)[0] < mollweide.project(west_ra, 0.0)[0]


@pytest.mark.parametrize(
    ("ra", "dec", "radius", "crosses_edge"),
    [(10.0, 20.0, 5.0, False), (0.5, -30.0, 24.6, True), (120.0, 80.0, 15.0, True), (180.0, 0.0, 30.0, False)],
)
def test_error_circles_are_true_to_size_on_the_sphere(ra: float, dec: float, radius: float, crosses_edge: bool) -> None:
    cra, cdec = mollweide.small_circle(ra, dec, radius)
    distances = [angular_separation_deg(ra, dec, a, b) for a, b in zip(cra, cdec, strict=True)]
    np.testing.assert_allclose(distances, radius, atol=1e-6)
    x, _ = mollweide.break_at_edges(cra, cdec)
    assert bool(np.isnan(x).any()) == crosses_edge  # broken where it crosses 0h (or goes round a pole)


def test_raster_keeps_the_maps_probability_and_credible_areas(bayestar: SkyMap) -> None:
    raster = rasterize_skymap(bayestar, "bayestar")
    assert raster.area_deg2 == {level: bayestar.credible_area_deg2(level) for level in CREDIBLE_LEVELS}
    zoom = raster.zoom
    assert zoom is not None
    assert (zoom.centre_ra_deg, zoom.centre_dec_deg) == bayestar.most_probable_position()
    pixel_deg2 = (2 * zoom.half_width_deg / zoom.credible.shape[0]) ** 2  # gnomonic ~ true area near the centre
    for level in CREDIBLE_LEVELS:
        area = float(np.sum(zoom.credible <= level)) * pixel_deg2
        assert area == pytest.approx(bayestar.credible_area_deg2(level), rel=0.15)
    # the densest image pixel lies at the map's peak
    row, col = np.unravel_index(np.nanargmax(zoom.density), zoom.density.shape)
    grid = np.linspace(-zoom.half_width_deg, zoom.half_width_deg, zoom.density.shape[0])
    x0, y0 = tangent_offsets(zoom.centre_ra_deg, zoom.centre_dec_deg, *bayestar.most_probable_position())
    assert abs(grid[col] - float(x0)) < 0.5 and abs(grid[::-1][row] - float(y0)) < 0.5


# ---- the page ----------------------------------------------------------------------------------------------


def test_draws_gw_map_and_swift_fermi_markers(qtbot: Any, page: SkyMapPage, built: Built) -> None:
    gw = next(g for g in _groups(built) if g.source_type == "GW")
    page.show()
    page.select_group(gw.group_id)
    _render(qtbot, page)
    result = page.result
    assert result is not None
    assert result.scene.raster is not None and result.scene.raster.zoom is not None
    assert "GW map" in page.status.text()
    telescopes = {m.telescope for m in result.scene.markers}
    assert {"SWIFT", "Fermi"} <= telescopes
    positioned = {g.group_id for g in _groups(built) if g.ra_deg is not None}
    assert {m.group_id for m in result.scene.markers} == positioned
    assert result.scene.bodies is not None and {h[0] for h in result.scene.bodies.horizons} == {"MWA", "ATCA"}
    image = result.sky_image
    assert image.width() >= 400 and image.height() >= 220
    # the picture is not blank: many distinct colours (map, markers, contours)
    pixels = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine() // 4, 4)
    assert len(np.unique(pixels[..., :3].reshape(-1, 3)[::7], axis=0)) > 50
    assert result.visibility is not None  # the GW map peak stands in for the position


def test_click_on_a_marker_selects_its_group(qtbot: Any, page: SkyMapPage, built: Built) -> None:
    page.show()
    _render(qtbot, page)
    result = page.result
    assert result is not None
    swift = next(m for m in result.scene.markers if m.telescope == "SWIFT")
    fx, fy = marker_pixel(result, swift.group_id) or (0.0, 0.0)
    assert pick_group_at(result, fx, fy) == swift.group_id
    x0, y0, scale = page.canvas._placed
    widget_point = QPoint(round(x0 + fx * scale), round(y0 + (result.sky_image.height() - fy) * scale))
    with qtbot.waitSignal(page.group_selected, timeout=5000) as signal:
        QTest.mouseClick(page.canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, widget_point)
    assert signal.args == [swift.group_id]
    assert page.selected_group_id == swift.group_id
    assert pick_group_at(result, -1000.0, -1000.0) is None


def test_export_png_and_pdf(qtbot: Any, page: SkyMapPage, tmp_path: Path) -> None:
    page.show()
    _render(qtbot, page)
    for name, magic in (("map.png", b"\x89PNG"), ("map.pdf", b"%PDF")):
        future = page.export_view(tmp_path / name)
        assert future.result(timeout=60) == tmp_path / name
        assert (tmp_path / name).read_bytes().startswith(magic)
    assert page.result is not None
    save_scene(page.result.scene, tmp_path / "direct.png")
    assert (tmp_path / "direct.png").stat().st_size > 10_000


def test_redraws_are_throttled_into_one(qtbot: Any, page: SkyMapPage, built: Built) -> None:
    page.show()
    _render(qtbot, page)
    renders: list[int] = []
    page.rendered.connect(lambda: renders.append(1))
    for group in _groups(built):
        page.select_group(group.group_id)
        page.apply_changes({group.group_id})
    last = _groups(built)[-1].group_id
    qtbot.waitUntil(
        lambda: not page.busy and page.result is not None and page.result.request.selected_group_id == last,
        timeout=RENDER_TIMEOUT_MS,
    )
    assert 1 <= len(renders) <= 2  # dozens of requests, at most one render in flight plus one after it


def test_page_leaves_no_thread_running(qtbot: Any, built: Built) -> None:
    p = SkyMapPage(built.db.sessions, skymap_source=_bayestar_source, clock=lambda: NOW)
    qtbot.addWidget(p)
    p.show()
    _render(qtbot, p)
    assert any(t.name.startswith("skymap") for t in threading.enumerate())
    p.shutdown()
    assert not any(t.name.startswith("skymap") for t in threading.enumerate())
    p.request_redraw()  # after shutdown: ignored, no new thread
    assert not p.busy


def test_visibility_matches_the_core_altitudes() -> None:
    start = datetime(2022, 1, 18, 18, 20, tzinfo=UTC)
    data = compute_visibility("GRB", 192.27, 22.92, start, mwa_limit_deg=20.0)
    assert len(data.times) == int(24 * 3600 / STEP_S) + 1
    probe = [start + timedelta(hours=h) for h in (0, 6, 12)]
    expected = altitudes_deg(MWA_SITE, 192.27, 22.92, probe)
    got = [data.altitude_deg["MWA"][int(h * 3600 / STEP_S)] for h in (0, 6, 12)]
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert data.limits_deg["MWA"] == 20.0
    assert -90 <= float(np.min(data.sun_altitude_deg["ATCA"])) < 0 < float(np.max(data.sun_altitude_deg["ATCA"]))


# ---- with the main window ----------------------------------------------------------------------------------


def test_selection_travels_between_tables_and_map(qtbot: Any, window: MainWindow, built: Built) -> None:
    window.show_page(window.tabs.indexOf(window.groups))
    qtbot.waitUntil(lambda: window.groups.model.rowCount() > 0)
    groups = [g for g in window.groups.model.records() if g.ra_deg is not None]  # the list hides ignored groups
    assert len(groups) >= 2
    assert window.groups.select_id(groups[0].group_id)
    assert window.skymap.selected_group_id == groups[0].group_id  # table → map
    window.skymap.group_selected.emit(groups[1].group_id)  # a marker click → groups table
    record = window.groups.current_record()
    assert record is not None and record.group_id == groups[1].group_id
    assert window.skymap.selected_group_id == groups[1].group_id
    window.show_page(window.tabs.indexOf(window.skymap))
    qtbot.waitUntil(lambda: window.skymap.result is not None and not window.skymap.busy, timeout=RENDER_TIMEOUT_MS)
    assert window.skymap.result is not None
    assert window.skymap.result.scene.selected_group_id == groups[1].group_id
    hidden = next(g for g in _groups(built) if g.ignored and g.ra_deg is not None)
    window.skymap.group_selected.emit(hidden.group_id)  # not in the (filtered) list: said so, nothing breaks
    assert str(hidden.group_id) in window.statusBar().currentMessage()


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_export_dialog_writes_the_report(qtbot: Any, built: Built, tmp_path: Path, fmt: str) -> None:
    from astropy.table import Table

    from tracet_gui.ui.export_dialog import ExportDialog

    observations = v.OBSERVATIONS.page(built.db.sessions, v.ObservationFilter(), v.Sort("observation_id"), 0, 100)
    assert observations
    dialog = ExportDialog(built.db)
    qtbot.addWidget(dialog)
    times = [o.requested_utc for o in observations]
    dialog.set_window(min(times) - timedelta(minutes=1), max(times) + timedelta(minutes=1))
    dialog.format_box.setCurrentText(fmt)
    out = tmp_path / f"dialog.{fmt}"
    dialog.path_edit.setText(str(out))
    with qtbot.waitSignal(dialog.accepted, timeout=RENDER_TIMEOUT_MS):
        dialog.export()
    assert f"({len(observations)} observation(s))" in dialog.message.text()
    if fmt == "csv":
        assert sorted(Table.read(out, format="ascii.csv")["observation_id"]) == sorted(
            o.observation_id for o in observations
        )
    else:
        assert out.read_bytes().startswith(b"%PDF")
    assert not any(t.name.startswith("report") for t in threading.enumerate())
