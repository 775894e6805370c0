"""Where the plain resource files (flare-star list, icons, default config) live."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def resources_dir() -> Path:
    """The resources directory: installed ``tracet_gui/_resources``, else the repository's ``resources/``."""
    installed = _PACKAGE_DIR / "_resources"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "resources"
