"""Table models over the read-side queries: lazy pages, database-side sort and filter, live upserts.

``LazyListModel`` adapts a list of frozen records through a column table. It asks the database for one
page at a time (``canFetchMore``/``fetchMore``), so a million-row table opens instantly. Sorting and the
structured filters run in SQL (the whole table, not only the loaded rows); the quick search additionally
narrows the loaded rows at once through ``SearchProxyModel`` (a QSortFilterProxyModel) while the same text
is sent to the database.

Live updates never reset the model: changed rows are replaced in place (``dataChanged``), moved with
``beginMoveRows`` when their sort key changed, and new rows are inserted where the database order puts
them (or left for a later page when they fall beyond what is loaded). Selections, the current index and
the sort survive; ``LiveTableView`` keeps the operator's scroll position when rows appear above it.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRegularExpression,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont, QPaintEvent
from PySide6.QtWidgets import QAbstractItemView, QTableView, QWidget

from tracet_gui.storage.views import ListQuery, Sessions, Sort, insertion_index
from tracet_gui.ui.theme import colours, decision_text

R = TypeVar("R")
F = TypeVar("F")

RECORD_ROLE = Qt.ItemDataRole.UserRole + 1
"""Data role returning the row's frozen record."""
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 2
"""Data role returning the text the quick search matches (column 0 only)."""
ID_ROLE = Qt.ItemDataRole.UserRole + 3
"""Data role returning the row's database id."""
_RECORD_ROLES = frozenset({RECORD_ROLE, ID_ROLE, SEARCH_ROLE})

PAGE_SIZE = 200
"""Rows fetched per page."""

FIT_SAMPLE_ROWS = 40
"""Rows read to fit a column to its contents: each cell costs calls into Python (all 200 of a page: ~0.3 s)."""

RELOAD_ABOVE = 2000
"""More changed ids than this at once → reload the first page instead of upserting one by one."""

Index = QModelIndex | QPersistentModelIndex

PAINT_IDLE = threading.Event()
"""Set while no ``LiveTableView`` paints. A repaint calls into Python once per cell, each call taking the
interpreter lock: the watcher's worker waits on this between its queries (``yield_to_paint``), so a repaint
never queues behind a poll's reads for the lock, cell after cell."""
PAINT_IDLE.set()

PAINT_WAIT_S = 0.25
"""Longest a worker waits for a repaint to end before it reads anyway (s)."""


def yield_to_paint() -> None:
    """On a worker thread, before a query: let a repaint in progress finish first."""
    PAINT_IDLE.wait(PAINT_WAIT_S)


PAINT_ROLES = (
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.BackgroundRole,
    Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.FontRole,
)
"""The roles a painted cell asks for, precomputed once per record (see ``LazyListModel.multiData``)."""


# ------------------------------------------------------------------------------------------------------
# formatting
# ------------------------------------------------------------------------------------------------------


def fmt_time(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def fmt_float(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def fmt_bool(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def fmt_any(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return fmt_time(value)
    if isinstance(value, bool):
        return fmt_bool(value)
    if isinstance(value, float):
        return fmt_float(value)
    return str(value)


@dataclass(frozen=True)
class Column(Generic[R]):
    """One column: title, how to read the value, how to sort (record attribute / sort key, "" = not)."""

    title: str
    key: str
    value: Callable[[R], Any]
    text: Callable[[Any], str] = fmt_any
    tooltip: str = ""
    numeric: bool = False
    decision: bool = False
    """Cell holds a decision code (P/I/E/T/C): shown as letter + word, coloured."""
    width: int = 0


_BRUSHES: dict[str, QBrush] = {}


def _brush(colour: str) -> QBrush:
    """One QBrush per colour, made once (a cell's roles are built for every row that arrives)."""
    brush = _BRUSHES.get(colour)
    if brush is None:
        brush = _BRUSHES[colour] = QBrush(QColor(colour))
    return brush


_BOLD: list[QFont] = []


def _bold_font() -> QFont:
    if not _BOLD:
        font = QFont()
        font.setBold(True)
        _BOLD.append(font)
    return _BOLD[0]


_ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_ALIGN_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


def _column_cells(column: Column[Any], record: Any, muted: QBrush | None) -> dict[int, Any]:
    """The painted roles (``PAINT_ROLES``) of one cell; roles without a value are left out."""
    value = column.value(record)
    text = decision_text(value) if column.decision else column.text(value)
    cell: dict[int, Any] = {
        Qt.ItemDataRole.DisplayRole: text,
        Qt.ItemDataRole.TextAlignmentRole: _ALIGN_RIGHT if column.numeric else _ALIGN_LEFT,
    }
    if text:
        cell[Qt.ItemDataRole.ToolTipRole] = f"{column.title}: {text}"
    swatch = colours().decisions.get(str(value or "")) if column.decision else None
    if swatch is not None:
        cell[Qt.ItemDataRole.BackgroundRole] = _brush(swatch.background)
        cell[Qt.ItemDataRole.ForegroundRole] = _brush(swatch.foreground)
    elif muted is not None and not column.decision:
        cell[Qt.ItemDataRole.ForegroundRole] = muted
    if column.decision and value == "P":
        cell[Qt.ItemDataRole.FontRole] = _bold_font()
    return cell


def attr(name: str) -> Callable[[Any], Any]:
    return lambda record: getattr(record, name)


def col(title: str, key: str, *, digits: int | None = None, **kwargs: Any) -> Column[Any]:
    """A column reading the record attribute ``key`` (and sorting by it)."""
    text: Callable[[Any], str] = fmt_any if digits is None else (lambda v: fmt_float(v, digits))
    return Column(title, key, attr(key), text=text, **kwargs)


# ------------------------------------------------------------------------------------------------------
# live updates read off the GUI thread
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveResult(Generic[R]):
    """What a ``LiveRequest`` read: the records of the changed ids and the new total (or a fresh first page)."""

    generation: int
    wanted: frozenset[int]
    found: tuple[R, ...] | None = None
    """None: not read (the model was deferred); the ids are only noted."""
    total: int = 0
    first_page: tuple[R, ...] | None = None
    """Too many ids changed: the first page again instead of upserts."""


@dataclass(frozen=True)
class LiveRequest(Generic[F, R]):
    """A snapshot of a model's query (filter, sort, generation): ``run`` reads on any thread, touches no Qt object."""

    query: ListQuery[F, R]
    generation: int
    flt: F
    sort: Sort
    fetch: bool
    carried: frozenset[int] = frozenset()
    """Ids of an earlier result dropped as stale (the filter or sort changed meanwhile): read again."""

    def run(self, sessions: Sessions, ids: Iterable[int]) -> LiveResult[R] | None:
        wanted = frozenset(ids) | self.carried
        if not wanted:
            return None
        if not self.fetch:
            return LiveResult(self.generation, wanted)
        yield_to_paint()
        if len(wanted) > RELOAD_ABOVE:
            page = tuple(self.query.page(sessions, self.flt, self.sort, 0, PAGE_SIZE))
            return LiveResult(self.generation, wanted, total=self.query.count(sessions, self.flt), first_page=page)
        found = self.query.fetch_ids(sessions, self.flt, wanted)
        yield_to_paint()
        return LiveResult(self.generation, wanted, tuple(found), self.query.count(sessions, self.flt))


# ------------------------------------------------------------------------------------------------------
# the lazy model
# ------------------------------------------------------------------------------------------------------


class LazyListModel(QAbstractTableModel, Generic[F, R]):
    """Rows of a ``ListQuery``: paged, filtered and sorted in the database, updated in place."""

    def __init__(
        self,
        sessions: Sessions,
        query: ListQuery[F, R],
        columns: Sequence[Column[R]],
        flt: F,
        *,
        search_text: Callable[[R], str] = lambda r: "",
        muted: Callable[[R], bool] = lambda r: False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._sessions = sessions
        self._query = query
        self._columns: list[Column[R]] = list(columns)
        self._filter = flt
        self._sort = query.default_sort
        self._rows: list[R] = []
        self._positions: dict[int, int] = {}
        """Row of each loaded record id. The keys are always right; the rows are rebuilt only when asked for after
        rows moved (``_position``), not after every insert of a burst (O(n) each)."""
        self._positions_stale = False
        self._total = 0
        self._search_text = search_text
        self._muted = muted
        self._loaded = False
        self._deferred = False
        self._pending: set[int] | None = set()
        """Changed ids kept while deferred; None: too many, reload when shown."""
        self._generation = 0
        """Bumped whenever the rows are read afresh (filter, sort, reload): a ``LiveResult`` of another is stale."""
        self._carried: set[int] = set()
        """Ids of stale live results, for the next ``live_request``."""
        self._cells: dict[int, tuple[dict[int, Any], ...]] = {}
        """Per record id, per column: the painted roles' values (computed once, when the row is first painted)."""
        self._cells_colours: object = None

    # ---- identity -------------------------------------------------------------------------------------
    @property
    def id_attr(self) -> str:
        return self._query.id_attr

    def record_id(self, record: R) -> int:
        return int(getattr(record, self.id_attr))

    @property
    def filter(self) -> F:
        return self._filter

    @property
    def sort_order(self) -> Sort:
        return self._sort

    @property
    def loaded(self) -> bool:
        """True once the first page was read."""
        return self._loaded

    @property
    def total(self) -> int:
        """Rows matching the filter in the database (loaded or not)."""
        return self._total

    @property
    def columns(self) -> list[Column[R]]:
        return list(self._columns)

    def records(self) -> list[R]:
        return list(self._rows)

    def record(self, row: int) -> R:
        return self._rows[row]

    def row_of(self, record_id: int) -> int | None:
        return self._position(record_id)

    def column_of(self, key: str) -> int | None:
        for i, c in enumerate(self._columns):
            if c.key == key:
                return i
        return None

    # ---- loading --------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Fetch the first page again (filter or sort changed)."""
        self._pending = set()
        total = self._query.count(self._sessions, self._filter)
        self._reset_rows(self._query.page(self._sessions, self._filter, self._sort, 0, PAGE_SIZE), total)

    def _reset_rows(self, rows: Iterable[R], total: int) -> None:
        self._generation += 1
        self.beginResetModel()
        self._total = total
        self._rows = list(rows)
        self._cells = {}
        self._reindex()
        self._loaded = True
        self.endResetModel()

    def ensure_loaded(self) -> None:
        if not self._loaded:
            self.reload()
        elif self._deferred:
            self._apply_pending()

    @property
    def deferred(self) -> bool:
        return self._deferred

    def set_deferred(self, deferred: bool) -> None:
        """While deferred (its list page hidden, see ``TablePage``) changes are only noted, and applied when it is
        shown again: a burst of alerts then costs the GUI thread the list on screen, not every list."""
        self._deferred = deferred
        if not deferred:
            self._apply_pending()

    def _apply_pending(self) -> None:
        pending, self._pending = self._pending, set()
        if pending is None:
            self.reload()
        elif pending:
            self._apply(pending)

    def set_filter(self, flt: F) -> None:
        if flt != self._filter or not self._loaded:
            self._filter = flt
            self.reload()

    def set_sort(self, sort: Sort) -> None:
        if not self._query.can_sort(sort.key):
            return
        if sort != self._sort or not self._loaded:
            self._sort = sort
            self.reload()

    def set_columns(self, columns: Sequence[Column[R]]) -> None:
        if [c.title for c in columns] == [c.title for c in self._columns]:
            self._columns = list(columns)
            return
        self.beginResetModel()
        self._columns = list(columns)
        self._cells = {}
        self.endResetModel()

    def _reindex(self) -> None:
        self._positions = {self.record_id(r): i for i, r in enumerate(self._rows)}
        self._positions_stale = False

    def _moved(self, record_id: int, row: int | None) -> None:
        """``record_id`` now is at ``row`` (None: no longer loaded); the rows of the others may have shifted."""
        if row is None:
            self._positions.pop(record_id, None)
        else:
            self._positions[record_id] = row
        self._positions_stale = True

    def _position(self, record_id: int) -> int | None:
        if self._positions_stale and record_id in self._positions:
            self._reindex()
        return self._positions.get(record_id)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008, N802 (Qt API)
        return not parent.isValid() and self._loaded and len(self._rows) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008, N802 (Qt API)
        if parent.isValid():
            return
        self.ensure_loaded()  # changes noted while deferred first, so the offset is right
        page = self._query.page(self._sessions, self._filter, self._sort, len(self._rows), PAGE_SIZE)
        fresh = [r for r in page if self.record_id(r) not in self._positions]
        if not fresh:
            self._total = len(self._rows)
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self._rows.extend(fresh)
        for i, r in enumerate(fresh, start=first):
            self._positions[self.record_id(r)] = i
        self.endInsertRows()

    # ---- live updates ---------------------------------------------------------------------------------
    def apply_changes(self, ids: Iterable[int]) -> None:
        """Re-read these ids; insert, move, replace or remove rows so the order stays the database's."""
        wanted = set(ids)
        if not wanted or not self._loaded:
            return
        if self._deferred:
            if self._pending is not None:
                self._pending |= wanted
                if len(self._pending) > RELOAD_ABOVE:
                    self._pending = None
            return
        self._apply(wanted)

    def live_request(self) -> LiveRequest[F, R] | None:
        """What to read for the next changes, off the GUI thread (None: not loaded, nothing to keep current)."""
        if not self._loaded:
            return None
        carried, self._carried = frozenset(self._carried), set()
        return LiveRequest(self._query, self._generation, self._filter, self._sort, not self._deferred, carried)

    def apply_live(self, result: LiveResult[R] | None) -> bool:
        """Apply what a ``LiveRequest`` read; False when it is stale (its ids are carried to the next request)."""
        if result is None or not self._loaded:
            return True
        if result.generation != self._generation:
            self._carried |= result.wanted
            return False
        if result.first_page is not None:
            self._pending = set()
            self._reset_rows(result.first_page, result.total)
        elif result.found is not None:
            self._apply_found(result.wanted, result.found, result.total)
        elif self._deferred:
            self.apply_changes(result.wanted)  # noted for when the list is shown
        else:  # shown since the request: read them now
            self._carried |= result.wanted
            return False
        return True

    def _apply(self, wanted: set[int]) -> None:
        if len(wanted) > RELOAD_ABOVE:
            self.reload()
            return
        found = self._query.fetch_ids(self._sessions, self._filter, wanted)
        self._apply_found(wanted, found, self._query.count(self._sessions, self._filter))

    def _apply_found(self, wanted: Iterable[int], found: Sequence[R], total: int) -> None:
        was_complete = len(self._rows) >= self._total
        found_ids = {self.record_id(r) for r in found}
        for gone in sorted((i for i in set(wanted) - found_ids if i in self._positions), reverse=True):
            row = self._position(gone)
            assert row is not None
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self._cells.pop(gone, None)
            self._moved(gone, None)
            self.endRemoveRows()
        for record in found:
            self._upsert(record, was_complete)
        self._total = max(total, len(self._rows))
        for record in found:  # painted next: computed here rather than inside the repaint (see _cells_of)
            if self.record_id(record) in self._positions:
                self._cells_of(record)

    def _upsert(self, record: R, was_complete: bool) -> None:
        rid = self.record_id(record)
        self._cells.pop(rid, None)
        old = self._position(rid)
        if old is None:
            new = insertion_index(self._rows, record, self._sort, self.id_attr)
            if new >= len(self._rows) and not was_complete:
                return  # beyond the loaded rows: a later page brings it
            self.beginInsertRows(QModelIndex(), new, new)
            self._rows.insert(new, record)
            self._moved(rid, new)
            self.endInsertRows()
            return
        others = self._rows[:old] + self._rows[old + 1 :]
        new = insertion_index(others, record, self._sort, self.id_attr)
        if new == old:
            self._rows[old] = record
            self.dataChanged.emit(self.index(old, 0), self.index(old, max(0, len(self._columns) - 1)))
            return
        if new >= len(others) and not was_complete:
            self.beginRemoveRows(QModelIndex(), old, old)
            del self._rows[old]
            self._moved(rid, None)
            self.endRemoveRows()
            return
        destination = new if new < old else new + 1
        self.beginMoveRows(QModelIndex(), old, old, QModelIndex(), destination)
        del self._rows[old]
        self._rows.insert(new, record)
        self._moved(rid, new)
        self.endMoveRows()
        self.dataChanged.emit(self.index(new, 0), self.index(new, max(0, len(self._columns) - 1)))

    # ---- Qt model API ---------------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008 (Qt API)
        """One call from Qt instead of the base class's ``hasIndex`` → ``rowCount`` + ``columnCount`` (painting
        a page asks for thousands of indexes, and each call into Python may wait for the GIL). ``flags`` is
        not overridden for the same reason: Qt's own (enabled, selectable, no children) is what a list needs."""
        if parent.isValid() or not (0 <= row < len(self._rows) and 0 <= column < len(self._columns)):
            return QModelIndex()
        return self.createIndex(row, column)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._columns)

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        column = self._columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole:
            sortable = "" if self._query.can_sort(column.key) else " (not sortable)"
            return (column.tooltip or column.title) + sortable
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(self._columns):
            return None
        record = self._rows[index.row()]
        if role == RECORD_ROLE:
            return record
        if role == ID_ROLE:
            return self.record_id(record)
        if role == SEARCH_ROLE:
            return self._search_text(record)
        return self._cells_of(record)[index.column()].get(role)

    def _cells_of(self, record: R) -> tuple[dict[int, Any], ...]:
        """The painted roles of every column of ``record``, computed once (when the row arrives or is first painted)
        and kept until it changes."""
        palette = colours()
        if palette is not self._cells_colours:  # the theme changed: brushes differ
            self._cells = {}
            self._cells_colours = palette
        rid = self.record_id(record)
        cells = self._cells.get(rid)
        if cells is None:
            muted = _brush(palette.muted) if self._muted(record) else None
            cells = tuple(_column_cells(column, record, muted) for column in self._columns)
            self._cells[rid] = cells
        return cells

    def multiData(self, index: Index, roleDataSpan: Any) -> None:  # noqa: N802, N803 (Qt API)
        """Every role a delegate paints with, in one call from Qt instead of one ``data`` call per role (seven per
        cell): each call into Python may wait for the GIL, which the engine's threads hold during a burst. The
        painted roles are looked up in the record's precomputed cells."""
        self.paint_cell(index.row(), index.column(), roleDataSpan)  # an invalid index has row -1

    def paint_cell(self, row: int, column: int, roleDataSpan: Any) -> None:  # noqa: N803 (Qt's name)
        """``multiData`` by row and column (a proxy that passes every row through calls this directly)."""
        if not (0 <= row < len(self._rows) and 0 <= column < len(self._columns)):
            for role_data in roleDataSpan:
                role_data.setData(None)
            return
        cell = self._cells_of(self._rows[row])[column]
        for role_data in roleDataSpan:
            role = role_data.role()
            if role in _RECORD_ROLES:
                role_data.setData(self.data(self.index(row, column), role))
            else:
                role_data.setData(cell.get(role))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if 0 <= column < len(self._columns):
            self.set_sort(Sort(self._columns[column].key, order == Qt.SortOrder.DescendingOrder))

    def can_sort_column(self, column: int) -> bool:
        return 0 <= column < len(self._columns) and self._query.can_sort(self._columns[column].key)


def with_filter(flt: F, **changes: Any) -> F:
    return dataclasses.replace(flt, **changes)  # type: ignore[type-var]


# ------------------------------------------------------------------------------------------------------
# proxy and view
# ------------------------------------------------------------------------------------------------------


class SearchProxyModel(QSortFilterProxyModel):
    """Quick search over the loaded rows; sorting is forwarded to the source model (database order)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFilterRole(SEARCH_ROLE)
        self.setFilterKeyColumn(0)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)
        self._lazy: LazyListModel[Any, Any] | None = None
        self._searching = False

    def setSourceModel(self, sourceModel: QAbstractItemModel) -> None:  # noqa: N802, N803 (Qt API)
        super().setSourceModel(sourceModel)
        self._lazy = sourceModel if isinstance(sourceModel, LazyListModel) else None

    def set_search(self, text: str) -> None:
        self._searching = bool(text.strip())
        self.setFilterRegularExpression(
            QRegularExpression(
                QRegularExpression.escape(text.strip()), QRegularExpression.PatternOption.CaseInsensitiveOption
            )
        )

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        source = self.sourceModel()
        if source is not None:
            source.sort(column, order)

    def multiData(self, index: Index, roleDataSpan: Any) -> None:  # noqa: N802, N803 (Qt API)
        """Forwarded to a ``LazyListModel`` in one Python call (the base class would call its ``data`` per role).
        Without a search every row passes in the source's order (sorting is the source's): no mapping needed."""
        lazy = self._lazy
        if lazy is None:
            super().multiData(index, roleDataSpan)
        elif self._searching:
            lazy.multiData(self.mapToSource(index), roleDataSpan)
        else:
            lazy.paint_cell(index.row(), index.column(), roleDataSpan)

    def record(self, row: int) -> Any:
        return self.index(row, 0).data(RECORD_ROLE)


class LiveTableView(QTableView):
    """A table that keeps what the operator is looking at still while rows are inserted above it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setSortingEnabled(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.horizontalHeader().setStretchLastSection(True)
        self.horizontalHeader().setHighlightSections(False)
        self.horizontalHeader().setResizeContentsPrecision(FIT_SAMPLE_ROWS)
        self.setTabKeyNavigation(False)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        PAINT_IDLE.clear()  # the watcher's worker holds back its next query (see PAINT_IDLE)
        try:
            super().paintEvent(event)
        finally:
            PAINT_IDLE.set()

    def rowsInserted(self, parent: Index, start: int, end: int) -> None:  # noqa: N802 (Qt API)
        bar = self.verticalScrollBar()
        before = bar.value()
        super().rowsInserted(parent, start, end)
        if before > 0 and not parent.isValid() and start <= before:
            self.updateGeometries()
            bar.setValue(before + (end - start + 1))


class StaticListModel(QAbstractTableModel, Generic[R]):
    """A small, fully loaded list of records through the same column table (details windows, proposals)."""

    def __init__(
        self,
        columns: Sequence[Column[R]],
        records: Sequence[R] = (),
        *,
        id_attr: str = "",
        muted: Callable[[R], bool] = lambda r: False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._columns = list(columns)
        self._rows: list[R] = list(records)
        self._id_attr = id_attr
        self._muted = muted

    def set_records(self, records: Sequence[R]) -> None:
        """Replace the rows; rows with the same id keep their place so selections survive a refresh."""
        new = list(records)
        if self._id_attr and [self._rid(r) for r in new] == [self._rid(r) for r in self._rows]:
            self._rows = new
            if new:
                self.dataChanged.emit(self.index(0, 0), self.index(len(new) - 1, len(self._columns) - 1))
            return
        self.beginResetModel()
        self._rows = new
        self.endResetModel()

    def _rid(self, record: R) -> Any:
        return getattr(record, self._id_attr)

    def records(self) -> list[R]:
        return list(self._rows)

    def record(self, row: int) -> R:
        return self._rows[row]

    def row_of(self, record_id: Any) -> int | None:
        for i, r in enumerate(self._rows):
            if self._id_attr and self._rid(r) == record_id:
                return i
        return None

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008, N802 (Qt API)
        return 0 if parent.isValid() else len(self._columns)

    def headerData(  # noqa: N802 (Qt API)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self._columns):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._columns[section].title
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._columns[section].tooltip or self._columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if not 0 <= index.column() < len(self._columns):
            return None
        record = self._rows[index.row()]
        column = self._columns[index.column()]
        if role == RECORD_ROLE:
            return record
        if role == ID_ROLE:
            return self._rid(record) if self._id_attr else index.row()
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            value = column.value(record)
            return decision_text(value) if column.decision else column.text(value)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column.numeric else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if column.decision and role in (Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.ForegroundRole):
            swatch = colours().decisions.get(str(column.value(record) or ""))
            if swatch is None:
                return None
            colour = swatch.background if role == Qt.ItemDataRole.BackgroundRole else swatch.foreground
            return QBrush(QColor(colour))
        if role == Qt.ItemDataRole.ForegroundRole and self._muted(record):
            return QBrush(QColor(colours().muted))
        return None


def small_table(model: QAbstractTableModel, parent: QWidget | None = None) -> QTableView:
    """A read-only, row-selecting table for a details pane."""
    view = QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.horizontalHeader().setStretchLastSection(True)
    view.setTabKeyNavigation(False)
    return view
