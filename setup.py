"""Build hook: the wheel carries ``database/`` and ``resources/`` as ``tracet_gui/_database`` and ``_resources``.

Everything else is in pyproject.toml. At run time ``tracet_gui.storage.migrations.database_dir()`` and
``tracet_gui.core.resources.resources_dir()`` look for the in-package copies first and fall back to the
checkout's directories, so an editable install (which skips the copy) keeps using the checkout.
The sdist carries both directories too, so a wheel built from it (``python -m build``) is complete.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

HERE = Path(__file__).resolve().parent
BUNDLED_DIRS = {"database": "_database", "resources": "_resources"}
"""Top-level directory of the checkout -> its name inside the ``tracet_gui`` package."""

SKIPPED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def bundled_files(top: str) -> list[Path]:
    """Files under ``top`` to ship, relative to the checkout (caches left out)."""
    root = HERE / top
    return sorted(
        path.relative_to(HERE)
        for path in root.rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS.intersection(path.relative_to(root).parts)
        and path.suffix not in SKIPPED_SUFFIXES
    )


class BuildPyWithData(build_py):
    """Copy database/ and resources/ into the package being built (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for top, inside in BUNDLED_DIRS.items():
            if not (HERE / top).is_dir():
                raise SystemExit(f"{top}/ is missing: build from a checkout or a complete sdist")
            stale = Path(self.build_lib) / "tracet_gui" / inside
            if stale.is_dir():
                shutil.rmtree(stale)  # a file deleted from the checkout must not linger in the next wheel
            for relative in bundled_files(top):
                target = Path(self.build_lib) / "tracet_gui" / inside / relative.relative_to(top)
                self.mkpath(str(target.parent))
                self.copy_file(str(HERE / relative), str(target))


class SdistWithData(sdist):
    """Put database/ and resources/ in the source distribution as well."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        for top in BUNDLED_DIRS:
            for relative in bundled_files(top):
                target = Path(base_dir) / relative
                self.mkpath(str(target.parent))
                self.copy_file(str(HERE / relative), str(target))


setup(cmdclass={"build_py": BuildPyWithData, "sdist": SdistWithData})
