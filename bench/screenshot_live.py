"""Screenshot of the console as `make run` shows it: real engine, demo feed through the embedded VTP port.

Usage (under Xvfb or offscreen): QT_QPA_PLATFORM=offscreen .venv/bin/python bench/screenshot_live.py OUT.png [SECONDS]
Uses a throw-away database so the demo feed is visible every time.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from tracet_gui.app import ensure_default_proposals
from tracet_gui.config import Settings
from tracet_gui.storage.database import Database
from tracet_gui.ui.main_window import MainWindow, make_engine


def main() -> int:
    out = Path(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 40.0
    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="tracet-shot-"))
    settings = replace(Settings(db_url=f"sqlite:///{tmp / 'live.sqlite3'}", operator="night-operator"), receive_port=0)
    db = Database.open(settings.db_url)
    ensure_default_proposals(db, settings.operator)
    holder: list[MainWindow] = []
    engine = make_engine(settings, db, lambda r: holder[0].watcher.on_engine_result(r) if holder else None)
    window = MainWindow(
        settings, db, engine, demo=True, qsettings=QSettings(str(tmp / "layout.ini"), QSettings.Format.IniFormat)
    )
    holder.append(window)
    window.resize(1500, 920)
    window.show()
    window.start()

    def shoot() -> None:
        window.grab().save(str(out))
        print(f"saved {out}")
        app.quit()

    QTimer.singleShot(int(seconds * 1000), shoot)
    code = app.exec()
    if engine is not None:
        engine.stop()
    db.close()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
