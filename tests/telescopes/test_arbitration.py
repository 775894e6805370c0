"""Priority arbitration rules, and the sender applying them against the simulator's schedule."""

from __future__ import annotations

import pytest

from tracet_gui.telescopes.arbitration import ObsListEntry, OwnObservation, arbitrate

RUNNING = ObsListEntry(1400000000, "SWIFT_1093742", "tracet-gui", "G0055", "HW_LFILES")
OTHER = ObsListEntry(1400000000, "someone_else", "astronomer", "D0001", "HW_LFILES")
OWN_HIGH = OwnObservation("SWIFT_1093742", "G0055", "swift_grb", priority=1)
OWN_LOW = OwnObservation("SWIFT_1093742", "G0055", "fermi_grb", priority=5)


@pytest.mark.parametrize(
    ("proposal", "priority", "schedule", "own", "busy", "proceed", "reason_part"),
    [
        ("fermi_grb", 5, [RUNNING], [OWN_HIGH], False, False, "Not interrupting observation SWIFT_1093742"),
        ("swift_grb", 1, [RUNNING], [OWN_HIGH], False, True, "No higher-priority"),
        ("other", 1, [RUNNING], [OWN_HIGH], False, True, "No higher-priority"),  # equal priority may replace
        ("swift_grb", 1, [RUNNING], [OWN_LOW], False, True, "No higher-priority"),  # higher interrupts lower
        ("fermi_grb", 5, [RUNNING], [OWN_HIGH, OWN_LOW], False, False, "swift_grb (priority 1"),
        ("fermi_grb", 5, [OTHER], [OWN_HIGH], False, True, "No higher-priority"),  # not ours: MWA decides
        ("fermi_grb", 5, [], [OWN_HIGH], False, True, "No higher-priority"),  # ours already finished
        ("fermi_grb", 5, [RUNNING], [OWN_HIGH], True, False, "MWA reports the telescope busy"),
        ("fermi_grb", 5, None, [OWN_HIGH], None, True, "could not read the MWA schedule"),
    ],
)
def test_arbitrate(
    proposal: str,
    priority: int,
    schedule: list[ObsListEntry] | None,
    own: list[OwnObservation],
    busy: bool | None,
    proceed: bool,
    reason_part: str,
) -> None:
    verdict = arbitrate(
        proposal_id=proposal, priority=priority, project_id="G0055", schedule=schedule, own=own, busy=busy
    )
    assert verdict.proceed is proceed
    assert reason_part in verdict.reason
