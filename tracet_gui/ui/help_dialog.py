"""The keyboard help (F1): every menu action with its shortcut, read from the menus so it is never stale."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMenu,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

TABLE_KEYS = (
    ("Tables", "Up / Down, Page Up / Page Down, Home / End", "Move through rows (more rows load as you scroll)"),
    ("Tables", "Enter", "Open the group of the current row"),
    ("Tables", "Ctrl+A, Shift+arrows", "Select rows"),
    ("Tables", "Tab / Shift+Tab", "Next / previous control"),
    ("Dialogs", "Enter / Esc", "Confirm / cancel"),
    ("Menus", "Alt + underlined letter", "Open a menu or press a button"),
)


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, shortcut, action) for every action that has a shortcut."""
    rows: list[tuple[str, str, str]] = []

    def walk(actions: list[QAction], path: str) -> None:
        for action in actions:
            menu = action.menu()
            title = action.text().replace("&", "")
            if isinstance(menu, QMenu):
                walk(menu.actions(), f"{path} ▸ {title}" if path else title)
            elif not action.isSeparator() and not action.shortcut().isEmpty():
                keys = ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())
                rows.append((path, keys, title))

    walk(menu_bar.actions(), "")
    return rows


class HelpDialog(QDialog):
    def __init__(self, menu_bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(720, 620)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Everything can be done from the keyboard. The dashboard lists decisions that need a human; "
            "F8 jumps to the next one, its reason log is on the right, Ctrl+Shift+T triggers it after you confirm."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        rows = shortcut_rows(menu_bar) + list(TABLE_KEYS)
        self.table = QTableWidget(len(rows), 3)
        self.table.setObjectName("shortcuts")
        self.table.setHorizontalHeaderLabels(["Where", "Keys", "Does"])
        for r, (where, keys, what) in enumerate(rows):
            for c, text in enumerate((where, keys, what)):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self.table.verticalHeader().setVisible(False)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
