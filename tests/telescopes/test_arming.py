"""The safety switch rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tracet_gui.core.vocabulary import Testing as Mode
from tracet_gui.telescopes.arming import (
    ARM_ACTION,
    DISARM_ACTION,
    NOT_ARMED_LABEL,
    PROPOSAL_PRETEND_LABEL,
    REAL_LABEL,
    TEST_EVENT_LABEL,
    armed_from_actions,
    arming_confirmation_text,
    combine_with_armed,
    effective_pretend,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("armed", "testing", "event_is_test", "pretend", "label"),
    [
        (False, Mode.REAL_ONLY, False, True, NOT_ARMED_LABEL),
        (False, Mode.BOTH, True, True, NOT_ARMED_LABEL),
        (True, Mode.PRETEND_REAL, False, True, PROPOSAL_PRETEND_LABEL),
        (True, Mode.BOTH, True, True, TEST_EVENT_LABEL),
        (True, Mode.REAL_ONLY, True, True, TEST_EVENT_LABEL),
        (True, Mode.BOTH, False, False, REAL_LABEL),
        (True, Mode.REAL_ONLY, False, False, REAL_LABEL),
        (True, None, False, True, PROPOSAL_PRETEND_LABEL),
    ],
)
def test_effective_pretend(armed: bool, testing: Mode | None, event_is_test: bool, pretend: bool, label: str) -> None:
    verdict = effective_pretend(armed=armed, testing=testing, event_is_test=event_is_test)
    assert (verdict.pretend, verdict.label) == (pretend, label)


@pytest.mark.parametrize(
    ("armed", "request_pretend", "pretend"),
    [(False, False, True), (False, True, True), (True, True, True), (True, False, False)],
)
def test_combine_with_armed(armed: bool, request_pretend: bool, pretend: bool) -> None:
    assert combine_with_armed(armed=armed, request_pretend=request_pretend).pretend is pretend


@pytest.mark.parametrize(
    ("actions", "armed"),
    [
        ([], False),
        ([(T0, ARM_ACTION)], True),
        ([(T0, ARM_ACTION), (T0 + timedelta(minutes=1), DISARM_ACTION)], False),
        ([(T0 + timedelta(minutes=1), DISARM_ACTION), (T0, ARM_ACTION)], False),
        (
            [(T0, DISARM_ACTION), (T0 + timedelta(hours=1), ARM_ACTION), (T0 + timedelta(hours=2), "edit_proposal")],
            True,
        ),
    ],
)
def test_armed_from_actions(actions: list[tuple[datetime, str]], armed: bool) -> None:
    assert armed_from_actions(actions) is armed


def test_confirmation_texts_differ_and_say_real() -> None:
    assert "REAL" in arming_confirmation_text(True)
    assert "pretend" in arming_confirmation_text(False)
