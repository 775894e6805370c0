"""GW rule (reference §4.7 decision part, oracle §9.3/§9.4 with the fixes in docs/decisions.md)."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import LogKind, SourceType
from tracet_gui.pipeline.parse import VOEventParser
from tracet_gui.pipeline.rules.gw import worth_observing_gw

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
OK = "The probability looks good so triggering."


@cache
def _parser() -> VOEventParser:
    return VOEventParser()


@cache
def packet(name: str) -> ParsedEvent:
    return _parser().parse((DATA / name).read_bytes())


def recent(name: str, age: timedelta = timedelta(minutes=6), **changes: Any) -> ParsedEvent:
    """The packet as if it had just happened (``age`` ago)."""
    return replace(packet(name), observed_utc=NOW - age, **changes)


def proposal(**changes: Any) -> ProposalSettings:
    base = ProposalSettings(proposal_id="GW_TESTS", telescope="MWA_VCS", project_id="G0094", source_type=SourceType.GW)
    return replace(base, **changes)


def bare_early_warning(age: timedelta) -> ParsedEvent:
    """§9.3: only telescope, event type and time passed; every other optional field absent."""
    ew = packet("LVC_real_early_warning.xml")
    blank = {f.name: None for f in fields(ParsedEvent) if f.default is None}
    return replace(ew, **blank, observed_utc=NOW - age)


EW, PRELIM, RETRACT = "LVC_real_early_warning.xml", "LVC_real_preliminary.xml", "LVC_real_retraction.xml"
NO_NSBH_LIMIT = {"minimum_neutron_star_black_hole_probability": 0.0}
NO_BNS_LIMIT = {"minimum_binary_neutron_star_probability": 0.0}

CASES = [
    # name, event changes, proposal changes, trigger, log
    # §9.4: an early warning passes the same checks (no forced trigger): its FAR is too high
    (
        EW,
        {},
        {},
        False,
        ["The FAR is 7.224443905955801e-08 which is greater than the threshold 1e-08 so not triggering."],
    ),
    (
        EW,
        {},
        {"maximum_false_alarm_rate": 1e-7},
        False,
        ["The PROB_NSBH probability (0.0) is less than 0.01 so not triggering."],
    ),  # 0.0 is checked
    (EW, {}, {"maximum_false_alarm_rate": 1e-7, **NO_NSBH_LIMIT}, True, [OK]),
    (
        EW,
        {"lvc_instruments": "H1"},
        {"maximum_false_alarm_rate": 1e-7, **NO_NSBH_LIMIT},
        False,
        ["The event has only H1 so not triggering."],
    ),
    # cypress intention: an early warning with terrestrial 0.96 is not observed
    (
        EW,
        {"lvc_terrestrial_probability": 0.96},
        {"maximum_false_alarm_rate": 1e-7, **NO_NSBH_LIMIT},
        False,
        ["The PROB_Terre probability (0.96) is greater than 0.95 so not triggering."],
    ),
    # §9.4: preliminary with the model defaults: BNS = 0.0 is a value and is below 0.01
    (PRELIM, {}, {}, False, ["The PROB_BNS probability (0.0) is less than 0.01 so not triggering."]),
    (
        PRELIM,
        {},
        {"observe_significant": True},
        False,
        ["The PROB_BNS probability (0.0) is less than 0.01 so not triggering."],
    ),
    # observe_significant means what it says
    (PRELIM, {}, {**NO_BNS_LIMIT, "observe_significant": True}, True, [OK]),
    (PRELIM, {}, {**NO_BNS_LIMIT, "observe_significant": False}, True, [OK]),
    (PRELIM, {"lvc_significant": False}, {**NO_BNS_LIMIT, "observe_significant": False}, True, [OK]),
    (
        PRELIM,
        {"lvc_significant": False},
        {**NO_BNS_LIMIT, "observe_significant": True},
        False,
        ["The GW alert is not significant and observe_significant is True so not triggering."],
    ),
    (
        PRELIM,
        {"lvc_significant": None},
        {**NO_BNS_LIMIT, "observe_significant": True},
        False,
        ["The GW alert does not say whether it is significant and observe_significant is True so not triggering."],
    ),
    # each window, both sides; None is not checked
    (
        PRELIM,
        {"lvc_includes_neutron_star_probability": 0.0},
        NO_BNS_LIMIT,
        False,
        ["The PROB_NS probability (0.0) is less than 0.01 so not triggering."],
    ),
    (
        PRELIM,
        {},
        {**NO_BNS_LIMIT, "maximum_neutron_star_probability": 0.9},
        False,
        ["The PROB_NS probability (1.0) is greater than 0.9 so not triggering."],
    ),
    (
        PRELIM,
        {"lvc_binary_neutron_star_probability": 0.75},
        {"maximum_binary_neutron_star_probability": 0.5},
        False,
        ["The PROB_BNS probability (0.75) is greater than 0.5 so not triggering."],
    ),
    (
        PRELIM,
        {},
        {**NO_BNS_LIMIT, "maximum_neutron_star_black_hole_probability": 0.5},
        False,
        ["The PROB_NSBH probability (0.8642645059209272) is greater than 0.5 so not triggering."],
    ),
    (
        PRELIM,
        {},
        {**NO_BNS_LIMIT, "minimum_binary_black_hole_probability": 0.1},
        False,
        ["The PROB_BBH probability (0.036717034905487424) is less than 0.1 so not triggering."],
    ),
    (
        PRELIM,
        {},
        {**NO_BNS_LIMIT, "maximum_binary_black_hole_probability": 0.01},
        False,
        ["The PROB_BBH probability (0.036717034905487424) is greater than 0.01 so not triggering."],
    ),
    (
        PRELIM,
        {},
        {**NO_BNS_LIMIT, "minimum_terrestrial_probability": 0.5},
        False,
        ["The PROB_Terre probability (0.09901845917358532) is less than 0.5 so not triggering."],
    ),
    (PRELIM, {"lvc_binary_neutron_star_probability": None}, {}, True, [OK]),
    # FAR boundary: equal to the threshold passes
    (PRELIM, {"lvc_false_alarm_rate_hz": 1e-8}, NO_BNS_LIMIT, True, [OK]),
    (
        PRELIM,
        {"lvc_false_alarm_rate_hz": 1.1e-8},
        NO_BNS_LIMIT,
        False,
        ["The FAR is 1.1e-08 which is greater than the threshold 1e-08 so not triggering."],
    ),
    # §9.4: a retraction never triggers
    (RETRACT, {}, {}, False, ["Retraction, so not triggering."]),
]


@pytest.mark.parametrize(("name", "event_changes", "changes", "trigger", "log"), CASES)
def test_gw_rule(
    name: str, event_changes: dict[str, Any], changes: dict[str, Any], trigger: bool, log: list[str]
) -> None:
    event = recent(name, **event_changes)
    verdict = worth_observing_gw(event, proposal(**changes), NOW)
    assert (verdict.trigger, verdict.debug, verdict.pending) == (trigger, not trigger, False)
    assert [r.text for r in verdict.reasons] == log
    assert all(r.event_ivorn == event.ivorn and r.at_utc == NOW for r in verdict.reasons)


@pytest.mark.parametrize(
    ("age", "expected"), [(timedelta(hours=1), (True, False, False)), (timedelta(hours=4), (False, True, False))]
)
def test_trace_t_unit_test_rows(age: timedelta, expected: tuple[bool, bool, bool]) -> None:
    """§9.3: an early warning with only its time: 1 h old triggers (TraceT failed this), 4 h old does not."""
    verdict = worth_observing_gw(bare_early_warning(age), proposal(), NOW)
    assert (verdict.trigger, verdict.debug, verdict.pending) == expected


def test_age_message_and_boundary() -> None:
    event = recent(PRELIM, age=timedelta(hours=2, seconds=1))
    verdict = worth_observing_gw(event, proposal(**NO_BNS_LIMIT), NOW)
    assert [r.text for r in verdict.reasons] == [
        "The event time 2024-05-01T09:59:59+0000 is more than 2 hours ago 2024-05-01T10:00:00+0000 so not triggering."
    ]
    assert worth_observing_gw(recent(PRELIM, age=timedelta(hours=2)), proposal(**NO_BNS_LIMIT), NOW).trigger


def test_test_event_age_uses_the_receipt_time_when_given() -> None:
    replay = packet("MS190410a-1-Preliminary.xml")  # role test, observed in 2019
    assert replay.is_test
    p = proposal(**NO_NSBH_LIMIT)
    assert not worth_observing_gw(replay, p, NOW).trigger
    verdict = worth_observing_gw(replay, p, NOW, event_time_utc=NOW - timedelta(seconds=30))
    assert verdict.trigger
    assert [r.text for r in verdict.reasons] == [OK]


def test_unknown_event_time_is_logged_as_a_warning() -> None:
    event = replace(packet(PRELIM), observed_utc=None)
    verdict = worth_observing_gw(event, proposal(**NO_BNS_LIMIT), NOW)
    assert verdict.trigger
    assert [(r.kind, r.text) for r in verdict.reasons] == [
        (LogKind.WARNING, "The event time is unknown so its age is not checked."),
        (LogKind.INFO, OK),
    ]
