"""A filter form built from a filter dataclass's field metadata (label, kind, choices)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDoubleValidator, QIntValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

ANY = "Any"
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def parse_utc(text: str) -> datetime:
    """``YYYY-MM-DD[ HH:MM[:SS]]`` read as UTC; ValueError naming the accepted forms."""
    text = text.strip().removesuffix("Z")
    for fmt in DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"{text!r}: use YYYY-MM-DD HH:MM[:SS] (UTC)")


class FilterPanel(QWidget):
    """Edits one filter dataclass; ``applied(filter)`` when the operator presses Apply or Enter."""

    applied = Signal(object)

    def __init__(self, flt: Any, parent: QWidget | None = None, *, skip: tuple[str, ...] = ("search",)) -> None:
        super().__init__(parent)
        self._default = flt
        self._current = flt
        self._editors: dict[str, Any] = {}
        self._kinds: dict[str, str] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        outer.addLayout(grid)
        position = 0
        for f in dataclasses.fields(flt):
            if f.name in skip or "kind" not in f.metadata:
                continue
            kind, label, choices = f.metadata["kind"], f.metadata["label"], f.metadata["choices"]
            editor = self._editor(kind, choices, f.name)
            self._editors[f.name] = editor
            self._kinds[f.name] = kind
            caption = QLabel(label + ":")
            caption.setBuddy(editor)
            if kind == "multi":
                row = (position + 2) // 3
                position = (row + 1) * 3
                grid.addWidget(caption, row, 0)
                grid.addWidget(editor, row, 1, 1, 5)
                continue
            row, column = divmod(position, 3)
            grid.addWidget(caption, row, column * 2)
            grid.addWidget(editor, row, column * 2 + 1)
            position += 1
        buttons = QHBoxLayout()
        self.error = QLabel("")
        self.error.setObjectName("filterError")
        self.error.setWordWrap(True)
        buttons.addWidget(self.error, 1)
        self.reset_button = QPushButton("Reset filters")
        self.apply_button = QPushButton("Apply filters")
        self.apply_button.setDefault(True)
        self.reset_button.clicked.connect(self.reset)
        self.apply_button.clicked.connect(self.apply)
        buttons.addWidget(self.reset_button)
        buttons.addWidget(self.apply_button)
        outer.addLayout(buttons)
        self.set_filter(flt)

    def _editor(self, kind: str, choices: tuple[str, ...], name: str) -> QWidget:
        if kind in ("choice", "tristate"):
            box = QComboBox()
            box.addItems([ANY, *(choices if kind == "choice" else ("Yes", "No"))])
            box.setObjectName(f"filter_{name}")
            return box
        if kind == "multi":
            holder = QWidget()
            layout = QHBoxLayout(holder)
            layout.setContentsMargins(0, 0, 0, 0)
            for choice in choices:
                check = QCheckBox(choice)
                check.setObjectName(f"filter_{name}_{choice}")
                layout.addWidget(check)
            layout.addStretch(1)
            return holder
        edit = QLineEdit()
        edit.setObjectName(f"filter_{name}")
        edit.setClearButtonEnabled(True)
        if kind == "int":
            edit.setValidator(QIntValidator(edit))
        elif kind == "float":
            validator = QDoubleValidator(edit)
            validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
            edit.setValidator(validator)
        elif kind == "datetime":
            edit.setPlaceholderText("YYYY-MM-DD HH:MM")
        edit.returnPressed.connect(self.apply)
        return edit

    @property
    def current(self) -> Any:
        return self._current

    def set_filter(self, flt: Any) -> None:
        self._current = flt
        for name, editor in self._editors.items():
            value = getattr(flt, name)
            kind = self._kinds[name]
            if kind == "choice":
                editor.setCurrentText(ANY if value is None else str(value))
            elif kind == "tristate":
                editor.setCurrentIndex(0 if value is None else (1 if value else 2))
            elif kind == "multi":
                for box in editor.findChildren(QCheckBox):
                    box.setChecked(box.text() in value)
            elif kind == "datetime":
                editor.setText("" if value is None else value.strftime("%Y-%m-%d %H:%M:%S"))
            else:
                editor.setText("" if value is None else str(value))

    def read(self) -> Any:
        """The filter the form describes; ValueError naming the bad field."""
        values: dict[str, Any] = {}
        for name, editor in self._editors.items():
            kind = self._kinds[name]
            if kind == "choice":
                text = editor.currentText()
                values[name] = None if text == ANY else text
            elif kind == "tristate":
                values[name] = {0: None, 1: True, 2: False}[editor.currentIndex()]
            elif kind == "multi":
                values[name] = tuple(b.text() for b in editor.findChildren(QCheckBox) if b.isChecked())
            else:
                text = editor.text().strip()
                if not text:
                    values[name] = None
                    continue
                try:
                    if kind == "int":
                        values[name] = int(text)
                    elif kind == "float":
                        values[name] = float(text)
                    elif kind == "datetime":
                        values[name] = parse_utc(text)
                    else:
                        values[name] = text
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from exc
        return dataclasses.replace(self._current, **values)

    def apply(self) -> None:
        try:
            flt = self.read()
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self._current = flt
        self.applied.emit(flt)

    def reset(self) -> None:
        search = getattr(self._current, "search", None)
        flt = self._default
        if search is not None and hasattr(flt, "search"):
            flt = dataclasses.replace(flt, search=search)
        self.set_filter(flt)
        self.apply()

    def active_count(self) -> int:
        """How many fields differ from the defaults (shown on the Filters button)."""
        return sum(1 for name in self._editors if getattr(self._current, name) != getattr(self._default, name))


def align_right(widget: QLabel) -> QLabel:
    widget.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return widget
