"""Screenshots of every console view for the docs (docs/screenshots/*.png).

Builds a demo database (real bundled packets, the default proposals, a pending, a triggered and an
ignored decision, broker-log lines), opens the main window offscreen (or under Xvfb with
``QT_QPA_PLATFORM=xcb``) and saves ``QWidget.grab()`` of each view, the group details, the dialogs and
the three themes.

    .venv/bin/python bench/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from tests.ui.builders import build  # noqa: E402
from tracet_gui.config import Settings  # noqa: E402
from tracet_gui.storage.database import Database  # noqa: E402
from tracet_gui.storage.operator_actions import (  # noqa: E402
    ARM,
    DISARM,
    REEVALUATE,
    mark_action_executed,
    record_action,
    target_for,
)
from tracet_gui.storage.views import DECISIONS, DecisionFilter  # noqa: E402
from tracet_gui.ui.help_dialog import HelpDialog  # noqa: E402
from tracet_gui.ui.main_window import MainWindow  # noqa: E402
from tracet_gui.ui.overrides import ConfirmActionDialog, trigger_override  # noqa: E402
from tracet_gui.ui.proposal_editor import ProposalEditorDialog, proposal_of  # noqa: E402
from tracet_gui.ui.theme import ThemeName  # noqa: E402


def settle(app: QApplication, rounds: int = 5) -> None:
    for _ in range(rounds):
        app.processEvents()


def save(widget: QWidget, out: Path, name: str, app: QApplication) -> Path:
    settle(app)
    path = out / f"{name}.png"
    if not widget.grab().save(str(path)):
        raise RuntimeError(f"could not write {path}")
    print(path.relative_to(REPO) if path.is_relative_to(REPO) else path)
    return path


def shots(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication([])
    assert isinstance(app, QApplication)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="tracet-shots-") as tmp:
        db = Database.open(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}")
        built = build(db)
        arm = record_action(db.sessions, operator="day-shift", action=ARM, target="engine", comment="start of run")
        with db.sessions() as session:
            mark_action_executed(session, arm, datetime.now(UTC))
            session.commit()
        disarm = record_action(db.sessions, operator="day-shift", action=DISARM, target="engine", comment="maintenance")
        with db.sessions() as session:
            mark_action_executed(session, disarm, datetime.now(UTC))
            session.commit()
        record_action(
            db.sessions,
            operator="night-operator",
            action=REEVALUATE,
            target=target_for("decision", built.triggered_decision_id),
            comment="check the new XRT position",
        )
        qsettings = QSettings(str(Path(tmp) / "layout.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Settings(db_url=db.url, operator="night-operator"), db, qsettings=qsettings)
        window.resize(1500, 900)
        window.set_theme(ThemeName.DARK)
        window.show()
        window.start()
        settle(app)
        names = ["dashboard", "groups", "events", "decisions", "observations", "broker_log", "audit", "proposals"]
        for index, name in enumerate(names):
            window.show_page(index)
            if name == "decisions":
                window.decisions.select_id(built.pending_decision_id)
            written.append(save(window, out, f"{index + 1:02d}_{name}", app))
        window.show_page(1)
        window.groups.toggle_filters()
        written.append(save(window, out, "02b_groups_filters", app))
        window.groups.toggle_filters()

        details = window.open_group(built.group_ids[0], built.pending_decision_id)
        details.resize(1200, 720)
        written.append(save(details, out, "10_group_details_decisions", app))
        details.tabs.setCurrentIndex(1)
        details.events_view.setCurrentIndex(details.events_model.index(0, 0))
        written.append(save(details, out, "11_group_details_timeline_xml", app))
        short = window.open_group(built.group_ids[1])
        short.resize(1200, 720)
        short.tabs.setCurrentIndex(2)
        short.obs_view.setCurrentIndex(short.obs_model.index(0, 0))
        written.append(save(short, out, "12_group_details_observations", app))
        short.tabs.setCurrentIndex(3)
        written.append(save(short, out, "13_group_details_latency", app))

        pending = DECISIONS.fetch_ids(db.sessions, DecisionFilter(), [built.pending_decision_id])[0]
        confirm = ConfirmActionDialog(trigger_override(pending), "night-operator", window)
        confirm.comment.setPlainText("Swift BAT position, duration ambiguous: following up.")
        confirm.resize(620, 260)
        confirm.show()
        written.append(save(confirm, out, "20_confirm_trigger", app))
        confirm.close()

        window.show_page(7)
        window.proposals.view.setCurrentIndex(window.proposals.model.index(0, 0))
        editor = ProposalEditorDialog(proposal_of(window.proposals.model.record(0)), window)
        editor.resize(900, 760)
        editor.show()
        written.append(save(editor, out, "21_proposal_editor", app))
        editor.form.tabs.setCurrentIndex(4)
        written.append(save(editor, out, "22_proposal_editor_atca", app))
        editor.close()

        helper = HelpDialog(window.menuBar(), window)
        helper.resize(760, 640)
        helper.show()
        written.append(save(helper, out, "23_keyboard_help", app))
        helper.close()

        window.show_page(0)
        for theme in (ThemeName.RED_NIGHT, ThemeName.SYSTEM):
            window.set_theme(theme)
            written.append(save(window, out, f"30_dashboard_{theme.value}", app))
            window.show_page(1)
            written.append(save(window, out, f"31_groups_{theme.value}", app))
            window.show_page(0)
        window.set_theme(ThemeName.DARK)
        window.stop()
        for w in list(window.details.values()):
            w.close()
        window.close()
        db.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    written = shots(Path(args.out))
    print(f"{len(written)} screenshots")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
