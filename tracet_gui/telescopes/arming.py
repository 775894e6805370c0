"""The safety switch: whether a telescope request is real or pretend.

Pure rules; the armed state itself is stored by others as ``operator_action`` rows (actions
:data:`ARM_ACTION` / :data:`DISARM_ACTION`), and :func:`armed_from_actions` reads it back.

A request is **real** only when all three agree:

1. the system is armed (global switch, off by default, changed only with confirmation and audited);
2. the proposal's ``testing`` mode allows real requests (not ``PRETEND_REAL``);
3. the event that caused it is a real event (VOEvent role is not ``test``) — the role of *that* event,
   not of the group's latest event (reference §10.3 item 32).

Otherwise it is sent in pretend mode (MWA ``pretend=True``; ATCA ``test``, ``noTimeLimit``,
``noScoreLimit``), for MWA **and** ATCA alike, and labelled with the first reason that applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tracet_gui.core.vocabulary import Testing

ARM_ACTION = "arm"
"""operator_action.action recorded when an operator arms the system."""

DISARM_ACTION = "disarm"
"""operator_action.action recorded when an operator (or start-up policy) disarms the system."""

REAL_LABEL = "REAL: armed, real event, proposal allows real requests"
NOT_ARMED_LABEL = "PRETEND: system not armed"
PROPOSAL_PRETEND_LABEL = "PRETEND: proposal testing mode PRETEND_REAL"
TEST_EVENT_LABEL = "PRETEND: test event"


@dataclass(frozen=True, slots=True)
class PretendVerdict:
    """Whether a request is pretend, and the label shown with it."""

    pretend: bool
    label: str


def effective_pretend(*, armed: bool, testing: Testing | None, event_is_test: bool) -> PretendVerdict:
    """The pretend flag for one request (see the module docstring); ``testing`` None = unknown → pretend."""
    if not armed:
        return PretendVerdict(True, NOT_ARMED_LABEL)
    if testing is None or testing is Testing.PRETEND_REAL:
        return PretendVerdict(True, PROPOSAL_PRETEND_LABEL)
    if event_is_test:
        return PretendVerdict(True, TEST_EVENT_LABEL)
    return PretendVerdict(False, REAL_LABEL)


def combine_with_armed(*, armed: bool, request_pretend: bool) -> PretendVerdict:
    """For requests whose proposal × event rule was already applied upstream (``request_pretend``)."""
    if not armed:
        return PretendVerdict(True, NOT_ARMED_LABEL)
    if request_pretend:
        return PretendVerdict(True, "PRETEND: proposal testing mode or test event")
    return PretendVerdict(False, REAL_LABEL)


def armed_from_actions(actions: Iterable[tuple[datetime, str]]) -> bool:
    """The armed state from audited ``(at_utc, action)`` pairs: the latest arm/disarm wins; none = off."""
    latest: tuple[datetime, str] | None = None
    for at_utc, action in actions:
        if action not in (ARM_ACTION, DISARM_ACTION):
            continue
        if latest is None or at_utc >= latest[0]:
            latest = (at_utc, action)
    return latest is not None and latest[1] == ARM_ACTION


def arming_confirmation_text(arm: bool) -> str:
    """The question the GUI/CLI asks before changing the switch."""
    if arm:
        return (
            "Arm telescope triggering? From now on, proposals whose testing mode allows it will send REAL "
            "requests to MWA and ATCA for real events, interrupting telescope schedules. This is audited."
        )
    return "Disarm telescope triggering? Every request will be sent in pretend/test mode until re-armed."
