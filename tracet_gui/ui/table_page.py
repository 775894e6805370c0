"""One list view: quick search, structured filters (TraceT's), a live lazily-fetched table and a row count."""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QByteArray, QItemSelectionModel, QModelIndex, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from tracet_gui.ui.filter_panel import FilterPanel
from tracet_gui.ui.table_models import ID_ROLE, RECORD_ROLE, LazyListModel, LiveTableView, SearchProxyModel

SEARCH_DEBOUNCE_MS = 300
"""Quiet time after typing before the quick search also goes to the database (ms)."""


class _Table(LiveTableView):
    """Enter opens the current row (``activated_record``)."""

    enter_pressed = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt API)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.enter_pressed.emit()
            return
        super().keyPressEvent(event)


class TablePage(QWidget):
    """Search box + filter panel + table over one ``LazyListModel``."""

    record_activated = Signal(object)
    selection_changed = Signal(object)
    """The current record (or None)."""

    def __init__(self, name: str, model: LazyListModel[Any, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.model = model
        self.proxy = SearchProxyModel(self)
        self.proxy.setSourceModel(model)
        self._saved_ids: list[int] = []
        self._fit_pending = True
        self._saved_current: int | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setObjectName(f"{name}_search")
        self.search.setPlaceholderText("Quick search: trig id, source name, stream…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        bar.addWidget(self.search, 1)
        self.filters_button = QPushButton("Filters…")
        self.filters_button.setCheckable(True)
        self.filters_button.setToolTip("Show the structured filters (Ctrl+Shift+F)")
        bar.addWidget(self.filters_button)
        self.count_label = QLabel("")
        self.count_label.setObjectName(f"{name}_count")
        self.count_label.setMinimumWidth(180)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        bar.addWidget(self.count_label)
        layout.addLayout(bar)

        self.filter_panel = FilterPanel(model.filter)
        self.filter_panel.setVisible(False)
        layout.addWidget(self.filter_panel)

        self.view = _Table()
        self.view.setObjectName(f"{name}_table")
        self.view.setModel(self.proxy)
        layout.addWidget(self.view, 1)

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DEBOUNCE_MS)
        self._debounce.timeout.connect(self._search_database)
        self.search.textChanged.connect(self._search_typed)
        self.search.returnPressed.connect(self._search_now)
        self.filters_button.toggled.connect(self._toggle_filters)
        self.filter_panel.applied.connect(self._filter_applied)
        self.view.doubleClicked.connect(lambda _index: self._activate())
        self.view.enter_pressed.connect(self._activate)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        model.modelAboutToBeReset.connect(self._remember_selection)
        model.modelReset.connect(self._restore_selection)
        model.rowsInserted.connect(self._update_count)
        model.rowsRemoved.connect(self._update_count)
        model.modelReset.connect(self._update_count)
        model.dataChanged.connect(self._current_data_changed)
        self.proxy.layoutChanged.connect(self._update_count)

    # ---- loading --------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        self.model.set_deferred(False)
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 (Qt API)
        """A list page out of sight only notes changes; the dashboard (the alarm page) always follows them."""
        super().hideEvent(event)
        self.model.set_deferred(True)

    def activate_page(self) -> None:
        """Load the first page the first time the page is shown, and show the sort indicator."""
        if self.model.sort_order is not None:
            column = self.model.column_of(self.model.sort_order.key)
            if column is not None:
                order = (
                    Qt.SortOrder.DescendingOrder if self.model.sort_order.descending else Qt.SortOrder.AscendingOrder
                )
                header = self.view.horizontalHeader()
                header.blockSignals(True)
                header.setSortIndicator(column, order)
                header.blockSignals(False)
        self.model.ensure_loaded()
        if self._fit_pending and self.model.rowCount() > 0:
            self._fit_pending = False
            self.fit_columns()
        self._update_count()

    def set_filter(self, flt: Any) -> None:
        self.filter_panel.set_filter(flt)
        self.model.set_filter(flt)
        self._update_filter_button()

    def _filter_applied(self, flt: Any) -> None:
        if hasattr(flt, "search"):
            flt = dataclasses.replace(flt, search=self.search.text().strip() or None)
        self.model.set_filter(flt)
        self._update_filter_button()

    def _toggle_filters(self, shown: bool) -> None:
        self.filter_panel.setVisible(shown)
        if shown:
            self.filter_panel.focusNextChild()

    def toggle_filters(self) -> None:
        self.filters_button.toggle()

    def _update_filter_button(self) -> None:
        n = self.filter_panel.active_count()
        self.filters_button.setText(f"Filters ({n})…" if n else "Filters…")

    # ---- quick search ---------------------------------------------------------------------------------
    def _search_typed(self, text: str) -> None:
        self.proxy.set_search(text)
        self._debounce.start()
        self._update_count()

    def _search_now(self) -> None:
        self._debounce.stop()
        self._search_database()
        self.view.setFocus()
        if not self.view.currentIndex().isValid() and self.proxy.rowCount() > 0:
            self.view.setCurrentIndex(self.proxy.index(0, 0))

    def _search_database(self) -> None:
        flt = self.model.filter
        if hasattr(flt, "search"):
            text = self.search.text().strip() or None
            if flt.search != text:
                flt = dataclasses.replace(flt, search=text)
                self.filter_panel.set_filter(flt)
                self.model.set_filter(flt)

    # ---- selection ------------------------------------------------------------------------------------
    def current_record(self) -> Any:
        index = self.view.currentIndex()
        return index.data(RECORD_ROLE) if index.isValid() else None

    def selected_records(self) -> list[Any]:
        rows = self.view.selectionModel().selectedRows()
        return [r.data(RECORD_ROLE) for r in rows]

    def select_id(self, record_id: int) -> bool:
        row = self.model.row_of(record_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)
        return True

    def _activate(self) -> None:
        record = self.current_record()
        if record is not None:
            self.record_activated.emit(record)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.selection_changed.emit(current.data(RECORD_ROLE) if current.isValid() else None)

    def _current_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, *_: Any) -> None:
        current = self.view.currentIndex()
        if not current.isValid():
            return
        source = self.proxy.mapToSource(current)
        if top_left.row() <= source.row() <= bottom_right.row():
            self.selection_changed.emit(current.data(RECORD_ROLE))

    def _remember_selection(self) -> None:
        self._saved_ids = [int(i.data(ID_ROLE)) for i in self.view.selectionModel().selectedRows()]
        current = self.view.currentIndex()
        self._saved_current = int(current.data(ID_ROLE)) if current.isValid() else None

    def _restore_selection(self) -> None:
        selection = self.view.selectionModel()
        for record_id in self._saved_ids:
            row = self.model.row_of(record_id)
            if row is not None:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                selection.select(
                    index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
                )
        if self._saved_current is not None:
            row = self.model.row_of(self._saved_current)
            if row is not None:
                index = self.proxy.mapFromSource(self.model.index(row, 0))
                selection.setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)

    def _update_count(self, *_: Any) -> None:
        shown = self.proxy.rowCount()
        loaded = self.model.rowCount()
        total = self.model.total
        text = f"{total:,} rows"
        if loaded < total:
            text = f"{loaded:,} loaded of {total:,}"
        if shown != loaded:
            text = f"{shown:,} shown · " + text
        self.count_label.setText(text)

    # ---- layout memory --------------------------------------------------------------------------------
    def save_state(self, settings: QSettings) -> None:
        settings.setValue(f"tables/{self.name}/header", self.view.horizontalHeader().saveState())

    def restore_state(self, settings: QSettings) -> None:
        state = settings.value(f"tables/{self.name}/header")
        if isinstance(state, QByteArray | bytes) and state:
            self._fit_pending = not self.view.horizontalHeader().restoreState(QByteArray(state))

    def fit_columns(self) -> None:
        header = self.view.horizontalHeader()
        for i, column in enumerate(self.model.columns):
            if column.width:
                header.resizeSection(i, column.width)
            else:
                header.setSectionResizeMode(i, QHeaderView.ResizeMode.Interactive)
                self.view.resizeColumnToContents(i)
                header.resizeSection(i, min(max(header.sectionSize(i) + 6, 50), 360))
