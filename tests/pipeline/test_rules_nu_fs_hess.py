"""Neutrino, flare-star and HESS rules (reference §4.5, §4.6, §4.8) and the default catalogue's rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import SourceType
from tracet_gui.pipeline.parse import VOEventParser
from tracet_gui.pipeline.proposals_yaml import load_proposals_yaml
from tracet_gui.pipeline.rules.fs import worth_observing_fs
from tracet_gui.pipeline.rules.grb import worth_observing_grb
from tracet_gui.pipeline.rules.gw import worth_observing_gw
from tracet_gui.pipeline.rules.nu import worth_observing_nu

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@cache
def _parser() -> VOEventParser:
    return VOEventParser()


@cache
def packet(name: str) -> ParsedEvent:
    return _parser().parse((DATA / name).read_bytes())


def proposal(source: SourceType, **changes: Any) -> ProposalSettings:
    base = ProposalSettings(proposal_id="RULE_TEST", telescope="MWA_VCS", project_id="G0055", source_type=source)
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("name", "event_changes", "changes", "flags", "text"),
    [
        (
            "Antares_1438351269.xml",
            {},
            {},
            (True, False, False),
            "The Antares ranking (1) is less than or equal to 2 so triggering.",
        ),
        (
            "Antares_observation.xml",
            {},
            {},
            (False, True, False),
            "The Antares ranking (3) is greater than 2 so not triggering.",
        ),
        (
            "Antares_observation.xml",
            {},
            {"antares_min_ranking": 3},
            (True, False, False),
            "The Antares ranking (3) is less than or equal to 3 so triggering.",
        ),
        (
            "Antares_observation.xml",
            {"antares_ranking": 2},
            {},
            (True, False, False),
            "The Antares ranking (2) is less than or equal to 2 so triggering.",
        ),
        (
            "Antares_observation.xml",
            {"antares_ranking": 0},
            {"antares_min_ranking": 0},
            (True, False, False),
            "The Antares ranking (0) is less than or equal to 0 so triggering.",
        ),
        (
            "Antares_observation.xml",
            {"antares_ranking": None},
            {},
            (False, True, False),
            "The Antares event has no ranking so not triggering.",
        ),
        (
            "IceCube_134191_017593623_0.xml",
            {},
            {},
            (True, False, False),
            "No thresholds for non Antares telescopes so triggering.",
        ),
    ],
)
def test_neutrino_rule(
    name: str, event_changes: dict[str, Any], changes: dict[str, Any], flags: tuple[bool, bool, bool], text: str
) -> None:
    event = replace(packet(name), **event_changes)
    verdict = worth_observing_nu(event, proposal(SourceType.NU, **changes), NOW)
    assert (verdict.trigger, verdict.debug, verdict.pending) == flags
    assert [r.text for r in verdict.reasons] == [text]


@pytest.mark.parametrize(
    ("source_name", "text"),
    [(None, "Triggering on Flare Star HD 8357."), ("AT Mic", "Triggering on Flare Star AT Mic.")],
)
def test_flare_star_rule_always_triggers(source_name: str | None, text: str) -> None:
    event = packet("HD_8537_FLARE_STAR_TEST.xml")
    verdict = worth_observing_fs(event, proposal(SourceType.FS), NOW, source_name=source_name)
    assert (verdict.trigger, verdict.debug, verdict.pending) == (True, False, False)
    assert [r.text for r in verdict.reasons] == [text]


@pytest.mark.parametrize(
    ("changes", "event_changes", "flags", "log"),
    [
        # duration 2803 s: only any-duration or wide ranges trigger on HESS (§4.8)
        (
            {},
            {},
            (False, True, False),
            [
                "HESS rate significance is 0.2 <= (0.967) <= 1.0 sigma.",
                "Event duration outside of all time ranges so not triggering.",
            ],
        ),
        (
            {"event_any_duration": True},
            {},
            (True, False, False),
            ["HESS rate significance is 0.2 <= (0.967) <= 1.0 sigma.", "Accepting any event duration so triggering."],
        ),
        (
            {"event_min_duration": 0.0, "event_max_duration": 10000.0},
            {},
            (True, False, False),
            [
                "HESS rate significance is 0.2 <= (0.967) <= 1.0 sigma.",
                "Event duration between 0.0 and 10000.0 s so triggering.",
            ],
        ),
        (
            {"event_any_duration": True, "minimum_hess_significance": 0.98},
            {},
            (False, True, False),
            ["HESS rate significance is not 0.98 <= (0.967) <= 1.0 sigma so not triggering."],
        ),
        # the HESS event at dec -0.22 is outside ATCA's default declination windows
        (
            {"telescope": "ATCA", "event_any_duration": True},
            {},
            (False, True, False),
            [
                "The Events declination (-0.2232) is outside limit 1 (-90.0 < dec < -5.0) and limit 2 "
                "(5.0 < dec < 20.0) so not observing.",
                "HESS rate significance is 0.2 <= (0.967) <= 1.0 sigma.",
            ],
        ),
    ],
)
def test_hess_alerts_through_the_grb_rule(
    changes: dict[str, Any], event_changes: dict[str, Any], flags: tuple[bool, bool, bool], log: list[str]
) -> None:
    event = replace(packet("HESS_test_event.xml"), **event_changes)
    verdict = worth_observing_grb(event, proposal(SourceType.GRB, **changes), NOW)
    assert (verdict.trigger, verdict.debug, verdict.pending) == flags
    assert [r.text for r in verdict.reasons] == log


SAMPLES = {
    SourceType.GRB: [
        "Fermi_GRB.xml",
        "SWIFT00.xml",
        "SWIFT01.xml",
        "SWIFT_short.xml",
        "HESS_test_event.xml",
        "fermi_GBM_00.xml",
        "Fermi_532614103_2.xml",
    ],
    SourceType.NU: ["Antares_1438351269.xml", "Antares_observation.xml"],
    SourceType.GW: ["LVC_real_early_warning.xml", "LVC_real_preliminary.xml", "LVC_real_retraction.xml"],
}


def _triggers(p: ProposalSettings, event: ParsedEvent) -> bool:
    match p.source_type:
        case SourceType.GRB:
            return worth_observing_grb(event, p, NOW).trigger
        case SourceType.NU:
            return worth_observing_nu(event, p, NOW).trigger
        case SourceType.GW:
            return worth_observing_gw(event, p, NOW, event_time_utc=NOW - timedelta(minutes=5)).trigger
        case SourceType.FS:
            return worth_observing_fs(event, p, NOW).trigger


def test_no_active_default_proposal_triggers_on_everything() -> None:
    proposals = load_proposals_yaml((ROOT / "resources" / "proposals" / "default.yaml").read_text(encoding="utf-8"))
    for p in proposals:
        results = [_triggers(p, packet(name)) for name in SAMPLES[p.source_type]]
        if p.active:
            assert not all(results), f"{p.proposal_id} triggers on every sample alert"
        else:  # the inactive test proposals are the always-trigger ones (for Swift alerts with a position)
            assert p.proposal_id.upper().endswith("TEST_GRB")
            swift = [n for n in SAMPLES[p.source_type] if n.startswith("SWIFT")]
            assert all(_triggers(p, packet(n)) for n in swift)
