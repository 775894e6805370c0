"""The database watcher: wakes from the engine coalesce into a few polls."""

from __future__ import annotations

import threading
from typing import Any

from tests.ui.builders import Built
from tracet_gui.ui.watcher import WAKE_SPACING_MS, DatabaseWatcher


class CountingWatcher(DatabaseWatcher):
    polls = 0

    def poll(self) -> None:
        self.polls += 1
        super().poll()


def test_a_burst_of_engine_results_costs_a_few_polls_not_one_each(qtbot: Any, built: Built) -> None:
    watcher = CountingWatcher(built.db.sessions)
    relayed: list[Any] = []
    watcher.result.connect(relayed.append)

    def engine() -> None:  # the engine's thread reports 200 results at once
        for n in range(200):
            watcher.on_engine_result(("processed", n))

    thread = threading.Thread(target=engine)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: watcher.polls >= 1, timeout=5000)
    qtbot.wait(3 * WAKE_SPACING_MS)
    assert 1 <= watcher.polls <= 3  # one poll each would be 200 polls queued on the GUI thread
    assert len(relayed) == 200  # every result is still relayed
    watcher.stop()
