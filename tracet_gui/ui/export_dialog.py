"""Report export: the GUI dialog, and the Qt renderer that turns the report's HTML into a PDF.

**PDF through Qt's text engine** (``QTextDocument`` printed on a ``QPdfWriter``, both in PySide6-Essentials'
QtGui): the PDF is the very HTML the html format writes, with no new dependency (no browser engine, no
WeasyPrint/wkhtmltopdf) and real, selectable text. matplotlib's PDF backend would have meant laying out
text tables by hand, a second template. Qt lives in the ui layer, so ``tracet_gui.reports`` stays Qt-free
and receives :func:`html_to_pdf` as its ``pdf_writer``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QDateTime, QMarginsF, QObject, QSizeF, Qt, QTimeZone, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.reports.cli import REPORT_FORMATS, offline_skymap_loader, run_report, write_report
from tracet_gui.storage.database import Database

PDF_DPI = 96
"""Resolution the PDF page is laid out at; matching the text engine's own 96 dpi keeps 1 px = 1 px."""

PDF_MARGIN_MM = 12.0
"""Page margin of the PDF (mm)."""

DEFAULT_WINDOW_DAYS = 7
"""The export dialog proposes the last this-many days."""

_DATA_IMAGE = re.compile(r'src="(data:image/png;base64,([A-Za-z0-9+/=]+))"')


def _ensure_gui_application() -> QGuiApplication:
    """The running Qt application, or a new one (offscreen when there is no display: the CLI)."""
    app = QGuiApplication.instance()
    if isinstance(app, QGuiApplication):
        return app
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not os.environ.get("QT_QPA_PLATFORM") and headless and sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    # A QApplication (not a bare QGuiApplication): widgets created later in the same process need one, and
    # Qt aborts the process if a QWidget is built on a QGuiApplication.
    return QApplication(sys.argv[:1])


def html_to_pdf(html: str, out: Path) -> None:
    """Render an HTML report to an A4 PDF (inline PNG data URIs become document images)."""
    _ensure_gui_application()
    document = QTextDocument()
    document.setDocumentMargin(0)
    for match in _DATA_IMAGE.finditer(html):  # register every inline picture under its own data: URL
        image = QImage()
        image.loadFromData(QByteArray(base64.b64decode(match.group(2))), "PNG")
        document.addResource(QTextDocument.ResourceType.ImageResource, QUrl(match.group(1)), image)
    document.setHtml(html)
    writer = QPdfWriter(str(out))
    writer.setTitle("tracet-gui observation report")
    writer.setCreator("tracet-gui")
    writer.setResolution(PDF_DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(PDF_MARGIN_MM, PDF_MARGIN_MM, PDF_MARGIN_MM, PDF_MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
    )
    paint = writer.pageLayout().paintRectPixels(PDF_DPI)
    document.setPageSize(QSizeF(paint.width(), paint.height()))
    document.print_(writer)
    del writer  # finishes the file
    if not out.is_file() or out.stat().st_size == 0:
        raise OSError(f"Qt wrote no PDF to {out}")


def run_report_command(db_url: str, start: datetime, end: datetime, fmt: str | None, out: Path) -> int:
    """``tracet-gui report`` with every format available (PDF through :func:`html_to_pdf`)."""
    return run_report(db_url, start, end, fmt, out, pdf_writer=html_to_pdf)


class _Relay(QObject):
    done = Signal(object)


class ExportDialog(QDialog):
    """Choose a window, a format and a file; the report is collected off the GUI thread."""

    def __init__(self, database: Database, parent: QWidget | None = None, *, now: datetime | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export observation report")
        self.setObjectName("exportDialog")
        self.database = database
        self._executor: ThreadPoolExecutor | None = None
        self.future: Future[Any] | None = None
        self._relay = _Relay(self)
        self._relay.done.connect(self._finished)
        now = now or datetime.now(UTC)

        form = QFormLayout()
        self.start_edit = self._time_edit(now - timedelta(days=DEFAULT_WINDOW_DAYS))
        self.end_edit = self._time_edit(now)
        form.addRow("From (UTC, request time)", self.start_edit)
        form.addRow("To (UTC, included)", self.end_edit)
        self.format_box = QComboBox()
        self.format_box.addItems(list(REPORT_FORMATS))
        self.format_box.currentTextChanged.connect(self._format_changed)
        form.addRow("Format", self.format_box)
        row = QHBoxLayout()
        self.path_edit = QLineEdit(str(Path.home() / "tracet-report.pdf"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        self.message = QLabel(
            "The report lists every observation requested in the window, with its latency chain, "
            "decision log, telescope response and a sky-map thumbnail. Secrets are never included."
        )
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self.resize(560, 240)

    @staticmethod
    def _time_edit(when: datetime) -> QDateTimeEdit:
        edit = QDateTimeEdit()
        edit.setTimeZone(QTimeZone.utc())
        edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        edit.setCalendarPopup(True)
        edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(when.timestamp()), QTimeZone.utc()))
        return edit

    @staticmethod
    def _utc(edit: QDateTimeEdit) -> datetime:
        return datetime.fromtimestamp(edit.dateTime().toSecsSinceEpoch(), UTC)

    def set_window(self, start: datetime, end: datetime) -> None:
        self.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(start.timestamp()), QTimeZone.utc()))
        self.end_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(end.timestamp()), QTimeZone.utc()))

    def _format_changed(self, fmt: str) -> None:
        path = Path(self.path_edit.text() or "tracet-report")
        suffix = {"votable": ".xml"}.get(fmt, f".{fmt}")
        self.path_edit.setText(str(path.with_suffix(suffix)))

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Report file", self.path_edit.text())
        if name:
            self.path_edit.setText(name)

    def export(self) -> None:
        """Start the export; the dialog closes when the file is written (or shows the error)."""
        start, end = self._utc(self.start_edit), self._utc(self.end_edit)
        fmt = self.format_box.currentText()
        out = Path(self.path_edit.text()).expanduser()
        if end < start:
            self.message.setText("The window ends before it starts.")
            return
        self.export_button.setEnabled(False)
        self.message.setText(
            f"Collecting the observations requested {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC…"
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")
        self.future = self._executor.submit(self._collect, start, end, fmt, out)

    def _collect(self, start: datetime, end: datetime, fmt: str, out: Path) -> None:  # worker thread
        html_holder: list[str] = []

        def keep_html(html: str, _out: Path) -> None:  # the PDF is rendered on the GUI thread afterwards
            html_holder.append(html)

        try:
            count = write_report(
                self.database, start, end, fmt, out, pdf_writer=keep_html, skymap_loader=offline_skymap_loader()
            )
            outcome: Any = (count, out, html_holder[0] if html_holder else None)
        except (OSError, ValueError) as exc:
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the dialog was closed meanwhile
            self._relay.done.emit(outcome)

    def _finished(self, outcome: Any) -> None:
        self.shutdown()
        self.export_button.setEnabled(True)
        if isinstance(outcome, Exception):
            self.message.setText(f"Export failed: {outcome}")
            return
        count, out, html = outcome
        if html is not None:
            try:
                html_to_pdf(html, out)
            except OSError as exc:
                self.message.setText(f"Export failed: {exc}")
                return
        self.message.setText(f"Wrote {out} ({count} observation(s)).")
        self.accept()

    def shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def done(self, result: int) -> None:  # closing by any means stops the worker
        if self.future is not None and not self.future.done():
            self.future.cancel()
        super().done(result)

    def keyPressEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        if event.key() == Qt.Key.Key_Escape and self._executor is not None:
            return  # let a running export finish
        super().keyPressEvent(event)
