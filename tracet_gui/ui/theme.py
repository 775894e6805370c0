"""Themes for night use: the platform look, dark, and red-night (deep reds on black).

Colour never carries meaning alone: every decision cell and banner also says what it means in words. The
palettes below only make the words faster to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from tracet_gui.core.resources import resources_dir
from tracet_gui.core.vocabulary import Decision


class ThemeName(StrEnum):
    SYSTEM = "system"
    DARK = "dark"
    RED_NIGHT = "red_night"


THEME_LABELS = {ThemeName.SYSTEM: "System", ThemeName.DARK: "Dark", ThemeName.RED_NIGHT: "Red night"}

DECISION_WORDS = {
    Decision.PENDING.value: "Pending",
    Decision.IGNORED.value: "Ignored",
    Decision.ERROR.value: "Error",
    Decision.TRIGGERED.value: "Triggered",
    Decision.CANCELED.value: "Canceled",
}


def decision_text(code: str | None) -> str:
    """``T · Triggered`` – the letter operators know from TraceT plus the word."""
    if not code:
        return ""
    return f"{code} · {DECISION_WORDS.get(code, code)}"


@dataclass(frozen=True, slots=True)
class Swatch:
    background: str
    foreground: str


@dataclass(frozen=True, slots=True)
class Colours:
    """Colours one theme uses for meaning-bearing cells and banners."""

    decisions: dict[str, Swatch]
    unarmed: Swatch
    test: Swatch
    ok: Swatch
    bad: Swatch
    muted: str
    link: str


_DAYLIGHT = Colours(
    decisions={
        "P": Swatch("#ffb347", "#000000"),
        "I": Swatch("#d9d9d9", "#333333"),
        "E": Swatch("#e0453a", "#ffffff"),
        "T": Swatch("#2e9e4f", "#ffffff"),
        "C": Swatch("#7b61c9", "#ffffff"),
    },
    unarmed=Swatch("#ffcc33", "#000000"),
    test=Swatch("#b0309a", "#ffffff"),
    ok=Swatch("#2e9e4f", "#ffffff"),
    bad=Swatch("#e0453a", "#ffffff"),
    muted="#808080",
    link="#1a5fb4",
)

_DARK = Colours(
    decisions={
        "P": Swatch("#c77800", "#000000"),
        "I": Swatch("#3c3c3c", "#bdbdbd"),
        "E": Swatch("#a3261e", "#ffffff"),
        "T": Swatch("#1f7a3a", "#ffffff"),
        "C": Swatch("#5b4a9a", "#ffffff"),
    },
    unarmed=Swatch("#c79a00", "#000000"),
    test=Swatch("#8a1f78", "#ffffff"),
    ok=Swatch("#1f7a3a", "#ffffff"),
    bad=Swatch("#a3261e", "#ffffff"),
    muted="#8a8a8a",
    link="#8ab4f8",
)

# Red night: brightness and weight (not hue) separate the states; the words do the rest.
_RED_NIGHT = Colours(
    decisions={
        "P": Swatch("#a01010", "#000000"),
        "I": Swatch("#0a0000", "#601818"),
        "E": Swatch("#5a0000", "#ff6060"),
        "T": Swatch("#300000", "#ff4040"),
        "C": Swatch("#1a0000", "#a03030"),
    },
    unarmed=Swatch("#8a0000", "#000000"),
    test=Swatch("#3a0000", "#ff5050"),
    ok=Swatch("#200000", "#e04040"),
    bad=Swatch("#6a0000", "#ff7070"),
    muted="#702020",
    link="#e05050",
)

_COLOURS = {ThemeName.SYSTEM: _DAYLIGHT, ThemeName.DARK: _DARK, ThemeName.RED_NIGHT: _RED_NIGHT}

_state = {"theme": ThemeName.SYSTEM}
"""The theme in use (one per application)."""


def current_theme() -> ThemeName:
    return _state["theme"]


def colours() -> Colours:
    """Colours of the theme in use."""
    return _COLOURS[_state["theme"]]


def _dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#202020",
        QPalette.ColorRole.WindowText: "#e0e0e0",
        QPalette.ColorRole.Base: "#181818",
        QPalette.ColorRole.AlternateBase: "#222222",
        QPalette.ColorRole.ToolTipBase: "#2b2b2b",
        QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e0e0e0",
        QPalette.ColorRole.Button: "#2c2c2c",
        QPalette.ColorRole.ButtonText: "#e0e0e0",
        QPalette.ColorRole.BrightText: "#ff5555",
        QPalette.ColorRole.Highlight: "#2f5f8f",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#8ab4f8",
        QPalette.ColorRole.PlaceholderText: "#808080",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#707070"))
    return p


def _red_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#000000",
        QPalette.ColorRole.WindowText: "#d04040",
        QPalette.ColorRole.Base: "#000000",
        QPalette.ColorRole.AlternateBase: "#0a0000",
        QPalette.ColorRole.ToolTipBase: "#140000",
        QPalette.ColorRole.ToolTipText: "#e05050",
        QPalette.ColorRole.Text: "#d04040",
        QPalette.ColorRole.Button: "#180000",
        QPalette.ColorRole.ButtonText: "#d04040",
        QPalette.ColorRole.BrightText: "#ff6060",
        QPalette.ColorRole.Highlight: "#501010",
        QPalette.ColorRole.HighlightedText: "#ff7070",
        QPalette.ColorRole.Link: "#e05050",
        QPalette.ColorRole.PlaceholderText: "#602020",
        QPalette.ColorRole.Mid: "#401010",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#501818"))
    return p


def apply_theme(app: QApplication, name: ThemeName) -> None:
    """Switch the whole application to ``name`` (palette + style sheet from resources/styles).

    Re-applying the theme in use does nothing: a style sheet change re-polishes every widget.
    """
    if app.property("tracet_theme") == name.value:
        _state["theme"] = name
        return
    app.setProperty("tracet_theme", name.value)
    _state["theme"] = name
    app.setStyle("Fusion")
    if name is ThemeName.DARK:
        app.setPalette(_dark_palette())
    elif name is ThemeName.RED_NIGHT:
        app.setPalette(_red_palette())
    else:
        style = app.style()
        app.setPalette(style.standardPalette())
    sheet = resources_dir() / "styles" / f"{name.value}.qss"
    app.setStyleSheet(sheet.read_text(encoding="utf-8") if sheet.is_file() else "")


def swatch_css(swatch: Swatch) -> str:
    return f"background-color: {swatch.background}; color: {swatch.foreground};"
