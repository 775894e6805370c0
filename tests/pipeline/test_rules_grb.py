"""GRB rule (reference §4.4/§4.8, oracle §9.3/§9.4 with the documented fixes in docs/decisions.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tracet_gui.core.decision_model import SkyPosition
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import LogKind, SourceType
from tracet_gui.pipeline.parse import VOEventParser
from tracet_gui.pipeline.rules.grb import worth_observing_grb
from tracet_gui.pipeline.rules.hess import hess_significance_check

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@cache
def _parser() -> VOEventParser:
    return VOEventParser()


@cache
def packet(name: str) -> ParsedEvent:
    return _parser().parse((DATA / name).read_bytes())


def proposal(**changes: Any) -> ProposalSettings:
    base = ProposalSettings(proposal_id="GRB_TEST", telescope="MWA_VCS", project_id="G0055", source_type=SourceType.GRB)
    return replace(base, **changes)


# TraceT's *function* defaults used by its unit tests (§9.3): no position limit, max 1.023 s, HESS 0–1.
FUNCTION_DEFAULTS = {
    "maximum_position_uncertainty": None,
    "event_max_duration": 1.023,
    "minimum_hess_significance": 0.0,
}
MODEL_15 = {"maximum_position_uncertainty": 15.0}

PROB50 = "Fermi GRB probability greater than or equal to 50."
SWIFT_OK = "SWIFT rate significance (13.74) >= swift_min_rate (0.000) sigma."
NO_METRIC = "No probability metric given so assume it is a GRB."
NO_DURATION = "No event duration (None) so not triggering."
OUTSIDE = "Event duration outside of all time ranges so not triggering."
TRIGGER_DEFAULT = "Event duration between 0.256 and 1.024 s so triggering."

ORACLE = [
    # file, proposal changes, event changes, (trigger, debug, pending), log
    (
        "Fermi_GRB.xml",
        FUNCTION_DEFAULTS,
        {},
        (True, False, False),
        [PROB50, "Event duration between 0.256 and 1.023 s so triggering."],
    ),
    (
        "Fermi_GRB.xml",
        {},
        {},
        (False, True, False),
        ["The Events positions uncertainty (4.7333 deg) is greater than 0.0500 so not observing.", PROB50],
    ),
    ("Fermi_GRB.xml", MODEL_15, {}, (True, False, False), [PROB50, TRIGGER_DEFAULT]),
    (
        "Fermi_532614103_2.xml",
        MODEL_15,
        {},
        (False, True, False),
        ["The Events positions uncertainty (19.7333 deg) is greater than 15.0000 so not observing.", PROB50],
    ),
    ("fermi_GBM_00.xml", FUNCTION_DEFAULTS, {}, (False, True, False), [NO_METRIC, NO_DURATION]),
    (
        "SWIFT_short.xml",
        {},
        {},
        (False, False, True),
        [SWIFT_OK, "Event duration between 1.025 and 2.056 s so waiting for a human's decision."],
    ),
    ("SWIFT00.xml", {}, {}, (False, True, False), [SWIFT_OK, OUTSIDE]),
    (
        "SWIFT01.xml",
        {},
        {},
        (False, True, False),
        ["SWIFT rate significance (20.73) >= swift_min_rate (0.000) sigma.", OUTSIDE],
    ),
    (
        "SWIFT03.xml",
        {},
        {},
        (False, True, False),
        ["SWIFT rate significance (0.0) >= swift_min_rate (0.000) sigma.", OUTSIDE],
    ),
    (
        "HESS_test_event.xml",
        FUNCTION_DEFAULTS,
        {},
        (False, True, False),
        ["HESS rate significance is 0.0 <= (0.967) <= 1.0 sigma.", OUTSIDE],
    ),
    ("SWIFT_XRT_Pos_1093742-588.xml", {}, {}, (False, True, False), [NO_METRIC, NO_DURATION]),
]

BRANCHES = [
    # --- step 1: position quality -------------------------------------------------------------------
    (
        "SWIFT_short.xml",
        {},
        {"ra_deg": None, "dec_deg": None, "duration_s": 0.5},
        (False, True, False),
        ["The Event has no position so not observing.", SWIFT_OK],
    ),
    (
        "SWIFT_short.xml",
        {},
        {"pos_error_deg": None, "duration_s": 0.5},
        (False, True, False),
        ["The Events position has no uncertainty to compare with 0.0500 deg so not observing.", SWIFT_OK],
    ),
    (
        "SWIFT_short.xml",
        {"maximum_position_uncertainty": None},
        {"pos_error_deg": None, "duration_s": 0.5},
        (True, False, False),
        [SWIFT_OK, TRIGGER_DEFAULT],
    ),
    (
        "SWIFT_short.xml",
        {},
        {"pos_error_deg": 0.0, "duration_s": 0.5},
        (False, True, False),
        ["The Events positions uncertainty is 0.0 which is likely an error so not observing.", SWIFT_OK],
    ),
    # RA/Dec 0.0 is a position, not "missing"
    (
        "SWIFT_short.xml",
        {},
        {"ra_deg": 0.0, "dec_deg": 0.0, "duration_s": 0.5},
        (True, False, False),
        [SWIFT_OK, TRIGGER_DEFAULT],
    ),
    # ATCA declination windows (strict): -90 < dec < -5 or 5 < dec < 20
    (
        "SWIFT_short.xml",
        {"telescope": "ATCA"},
        {"dec_deg": 0.0, "duration_s": 0.5},
        (False, True, False),
        [
            "The Events declination (0.0) is outside limit 1 (-90.0 < dec < -5.0) and limit 2 (5.0 < dec < 20.0) "
            "so not observing.",
            SWIFT_OK,
        ],
    ),
    (
        "SWIFT_short.xml",
        {"telescope": "ATCA"},
        {"dec_deg": -5.0, "duration_s": 0.5},
        (False, True, False),
        [
            "The Events declination (-5.0) is outside limit 1 (-90.0 < dec < -5.0) and limit 2 (5.0 < dec < 20.0) "
            "so not observing.",
            SWIFT_OK,
        ],
    ),
    (
        "SWIFT_short.xml",
        {"telescope": "ATCA"},
        {"dec_deg": 10.0, "duration_s": 0.5},
        (True, False, False),
        [SWIFT_OK, TRIGGER_DEFAULT],
    ),
    ("SWIFT_short.xml", {"telescope": "ATCA"}, {"duration_s": 0.5}, (True, False, False), [SWIFT_OK, TRIGGER_DEFAULT]),
    (
        "SWIFT_short.xml",
        {},
        {"dec_deg": 0.0, "duration_s": 0.5},
        (True, False, False),  # MWA: no windows
        [SWIFT_OK, TRIGGER_DEFAULT],
    ),
    # --- step 2: likelihood ---------------------------------------------------------------------------
    (
        "Fermi_GRB.xml",
        MODEL_15,
        {"fermi_most_likely_index": 3},
        (False, True, False),
        ["Fermi GRB likely index not 4 so not triggering."],
    ),
    (
        "Fermi_GRB.xml",
        MODEL_15,
        {"fermi_detection_prob": 49.9},
        (False, True, False),
        ["Fermi GRB probability less than 50 so not triggering."],
    ),
    ("Fermi_GRB.xml", MODEL_15, {"fermi_detection_prob": 50.0}, (True, False, False), [PROB50, TRIGGER_DEFAULT]),
    (
        "Fermi_GRB.xml",
        MODEL_15,
        {"fermi_detection_prob": None},
        (False, True, False),
        ["Fermi GRB probability not given so not triggering."],
    ),
    (
        "Fermi_GRB.xml",
        {**MODEL_15, "fermi_prob": 0.0},
        {"fermi_detection_prob": 0.0},
        (True, False, False),
        ["Fermi GRB probability greater than or equal to 0.", TRIGGER_DEFAULT],
    ),
    (
        "SWIFT_short.xml",
        {"swift_rate_signif": 20.0},
        {},
        (False, True, False),
        ["SWIFT rate significance (13.74) < swift_min_rate (20.000) sigma so not triggering."],
    ),
    (
        "HESS_test_event.xml",
        {"event_any_duration": True},
        {},
        (True, False, False),
        ["HESS rate significance is 0.2 <= (0.967) <= 1.0 sigma.", "Accepting any event duration so triggering."],
    ),
    (
        "HESS_test_event.xml",
        {"event_any_duration": True},
        {"hess_significance": 1.5},
        (False, True, False),
        ["HESS rate significance is not 0.2 <= (1.500) <= 1.0 sigma so not triggering."],
    ),
    (
        "HESS_test_event.xml",
        {"event_any_duration": True},
        {"hess_significance": 0.0},
        (False, True, False),
        ["HESS rate significance is not 0.2 <= (0.000) <= 1.0 sigma so not triggering."],
    ),
    # --- step 3: duration (model defaults; inclusive ranges) ------------------------------------------
    ("SWIFT_short.xml", {}, {"duration_s": 0.256}, (True, False, False), [SWIFT_OK, TRIGGER_DEFAULT]),
    ("SWIFT_short.xml", {}, {"duration_s": 1.024}, (True, False, False), [SWIFT_OK, TRIGGER_DEFAULT]),
    (
        "SWIFT_short.xml",
        {},
        {"duration_s": 1.025},
        (False, False, True),
        [SWIFT_OK, "Event duration between 1.025 and 2.056 s so waiting for a human's decision."],
    ),
    (
        "SWIFT_short.xml",
        {},
        {"duration_s": 2.056},
        (False, False, True),
        [SWIFT_OK, "Event duration between 1.025 and 2.056 s so waiting for a human's decision."],
    ),
    (
        "SWIFT_short.xml",
        {},
        {"duration_s": 0.128},
        (False, False, True),
        [SWIFT_OK, "Event duration between 0.128 and 0.255 s so waiting for a human's decision."],
    ),
    (
        "SWIFT_short.xml",
        {},
        {"duration_s": 0.255},
        (False, False, True),
        [SWIFT_OK, "Event duration between 0.128 and 0.255 s so waiting for a human's decision."],
    ),
    ("SWIFT_short.xml", {}, {"duration_s": 2.057}, (False, True, False), [SWIFT_OK, OUTSIDE]),
    ("SWIFT_short.xml", {}, {"duration_s": 0.0}, (False, True, False), [SWIFT_OK, OUTSIDE]),
    (
        "SWIFT_short.xml",
        {"event_min_duration": 0.0, "event_max_duration": 2.1},
        {"duration_s": 0.0},
        (True, False, False),
        [SWIFT_OK, "Event duration between 0.0 and 2.1 s so triggering."],
    ),
    ("SWIFT_short.xml", {}, {"duration_s": None}, (False, True, False), [SWIFT_OK, NO_DURATION]),
    (
        "SWIFT_short.xml",
        {"event_any_duration": True},
        {"duration_s": None},
        (True, False, False),
        [SWIFT_OK, "Accepting any event duration so triggering."],
    ),
]


@pytest.mark.parametrize(("name", "changes", "event_changes", "flags", "log"), ORACLE + BRANCHES)
def test_grb_rule(
    name: str, changes: dict[str, Any], event_changes: dict[str, Any], flags: tuple[bool, bool, bool], log: list[str]
) -> None:
    event = replace(packet(name), **event_changes)
    verdict = worth_observing_grb(event, proposal(**changes), NOW)
    assert (verdict.trigger, verdict.debug, verdict.pending) == flags
    assert [r.text for r in verdict.reasons] == log
    assert all(r.at_utc == NOW and r.event_ivorn == event.ivorn and r.kind is LogKind.INFO for r in verdict.reasons)


def test_position_and_duration_from_the_decision_are_used() -> None:
    xrt = packet("SWIFT_XRT_Pos_1093742-588.xml")  # no duration, tiny error
    verdict = worth_observing_grb(xrt, proposal(), NOW, duration_s=1.096)
    assert verdict.pending and [r.text for r in verdict.reasons][-1].startswith("Event duration between 1.025")
    # the observation position is the one checked, not the event's
    far_off = SkyPosition(10.0, 0.0, 3.0)
    verdict = worth_observing_grb(xrt, proposal(), NOW, position=far_off, duration_s=0.5)
    assert verdict.debug and not verdict.trigger
    assert "(3.0000 deg) is greater than 0.0500" in verdict.reasons[0].text
    # the event's own duration wins over the fill-in
    short = packet("SWIFT_short.xml")
    assert worth_observing_grb(short, proposal(), NOW, duration_s=0.5).pending


@pytest.mark.parametrize(
    ("significance", "likely"), [(0.2, True), (1.0, True), (0.6, True), (0.19, False), (1.01, False)]
)
def test_hess_window_is_inclusive(significance: float, likely: bool) -> None:
    result, text = hess_significance_check(significance, proposal())
    assert result is likely
    assert text.startswith("HESS rate significance is " + ("" if likely else "not "))
