"""Decision transitions, gates, requests and operator choices (reference §4.1–4.3, 4.7, 4.11–4.13, §5, §6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tracet_gui.core.decision_model import DecisionState, GroupView, Outcome, SkyPosition
from tracet_gui.core.pointings import Pointing, default_subarray_pointings
from tracet_gui.core.proposal import ProposalSettings
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.visibility import MWA_SITE, altaz_to_radec, configure_offline_astropy
from tracet_gui.core.vocabulary import Decision, LogKind, SourceType
from tracet_gui.core.vocabulary import Testing as Mode
from tracet_gui.pipeline.decisions import (
    evaluate,
    human_decision,
    mwa_blocks,
    obsname_for,
    outcome_after_requests,
    time_left_s,
)
from tracet_gui.pipeline.parse import VOEventParser

configure_offline_astropy()

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T, P, IGN, E, C = (Decision.TRIGGERED, Decision.PENDING, Decision.IGNORED, Decision.ERROR, Decision.CANCELED)


@cache
def _parser() -> VOEventParser:
    return VOEventParser()


@cache
def packet(name: str) -> ParsedEvent:
    return _parser().parse((DATA / name).read_bytes())


@cache
def sky(alt_deg: float, az_deg: float, minutes: float = 0.0) -> tuple[float, float]:
    """RA/Dec (deg) of the point at (alt, az) seen from the MWA at NOW + minutes."""
    return altaz_to_radec(MWA_SITE, alt_deg, az_deg, NOW + timedelta(minutes=minutes))


ZENITH = sky(90.0, 0.0)


def at(event: ParsedEvent, ra_dec: tuple[float, float], err: float | None = 0.05, **changes: Any) -> ParsedEvent:
    return replace(event, ra_deg=ra_dec[0], dec_deg=ra_dec[1], pos_error_deg=err, **changes)


def swift(duration_s: float = 0.5, where: tuple[float, float] = ZENITH, **changes: Any) -> ParsedEvent:
    """A real Swift BAT alert moved to ``where`` (TraceT's tests moved events to the MWA zenith too)."""
    return at(
        packet("SWIFT_short.xml"), where, duration_s=duration_s, observed_utc=NOW - timedelta(minutes=2), **changes
    )


def group_of(*events: ParsedEvent) -> GroupView:
    real = [e for e in events if not e.ignored]
    with_pos = [e for e in real if e.ra_deg is not None and e.dec_deg is not None]
    best = min(with_pos, key=lambda e: e.pos_error_deg if e.pos_error_deg is not None else 1e9, default=None)
    source = next((e.source_type for e in reversed(real) if e.source_type is not None), None)
    name = next((e.source_name for e in reversed(real) if e.source_name is not None), None)
    return GroupView(
        trig_id=events[-1].trig_id,
        source_type=source,
        source_name=name,
        events=tuple(events),
        ra_deg=best.ra_deg if best else None,
        dec_deg=best.dec_deg if best else None,
        pos_error_deg=best.pos_error_deg if best else None,
    )


def grb_mwa(**changes: Any) -> ProposalSettings:
    base = ProposalSettings(
        proposal_id="MWA_GRB_TEST",
        telescope="MWA_VCS",
        project_id="G0055",
        source_type=SourceType.GRB,
        testing=Mode.PRETEND_REAL,
    )
    return replace(base, **changes)


def grb_atca(**changes: Any) -> ProposalSettings:
    return grb_mwa(
        proposal_id="ATCA_GRB_TEST",
        telescope="ATCA",
        project_id="C3204",
        atca_band_4cm=True,
        atca_band_4cm_freq1=5500,
        atca_band_4cm_freq2=9000,
        **changes,
    )


def gw_mwa(**changes: Any) -> ProposalSettings:
    base = ProposalSettings(
        proposal_id="MWA_GW_TEST",
        telescope="MWA_VCS",
        project_id="G0094",
        source_type=SourceType.GW,
        testing=Mode.PRETEND_REAL,
        maximum_false_alarm_rate=1e-7,
        minimum_neutron_star_black_hole_probability=0.0,
        minimum_binary_neutron_star_probability=0.0,
        start_observation_at_high_sensitivity=True,
        mwa_exptime=7200,
    )
    return replace(base, **changes)


def texts(outcome: Outcome) -> list[str]:
    return [r.text for r in outcome.reasons]


def checked(outcome: Outcome) -> Outcome:
    """Every evaluation leaves a log and ends with exactly one decision entry naming the decision."""
    assert outcome.reasons, "silence is never an outcome"
    assert outcome.reasons[-1].kind is LogKind.DECISION
    assert sum(r.kind is LogKind.DECISION for r in outcome.reasons) == 1
    words = {T: "Triggered", P: "Pending", IGN: "Ignored", E: "Error", C: "Canceled"}
    assert outcome.reasons[-1].text.startswith(f"Decision: {words[outcome.decision]}")
    return outcome


def run(
    state: DecisionState, proposal: ProposalSettings, event: ParsedEvent, group: GroupView | None = None, **kw: Any
) -> Outcome:
    return checked(evaluate(state, proposal, event, group or group_of(event), NOW, **kw))


NEW = DecisionState()


# ----------------------------------------------------------------------------------------------------
# small pure decisions
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "expected"),
    [(0, (1, 8)), (8, (1, 8)), (304, (1, 304)), (896, (1, 896)), (904, (2, 448)), (7200, (9, 800)), (18000, (21, 856))],
)
def test_mwa_blocks_never_zero_and_within_total(total: int, expected: tuple[int, int]) -> None:
    nobs, exptime = mwa_blocks(total)
    assert (nobs, exptime) == expected
    assert exptime % 8 == 0 and exptime <= 896 and nobs >= 1
    assert nobs * exptime <= max(total, 8)


@pytest.mark.parametrize(
    ("requested", "limit", "age", "expected"),
    [
        (7200, 0, 1e6, 7200),
        (7200, 18000, None, 7200),
        (7200, 18000, 60.0, 7200),
        (7200, 18000, 17000.0, 1000),
        (7200, 18000, 17995.0, None),
        (7200, 900, 360.0, 536),
        (7200, 900, 1200.0, None),
    ],
)
def test_time_left(requested: int, limit: int, age: float | None, expected: int | None) -> None:
    assert time_left_s(requested, limit, age) == expected


def test_obsname_is_sorted_and_deterministic() -> None:
    hess = packet("HESS_test_event.xml")
    bat = replace(packet("SWIFT_short.xml"), trig_id=hess.trig_id, ivorn="ivo://test#bat")
    assert obsname_for(group_of(hess, bat)) == obsname_for(group_of(bat, hess)) == "HESS_SWIFT_1102329"


# ----------------------------------------------------------------------------------------------------
# new decisions: gates, rules, requests
# ----------------------------------------------------------------------------------------------------


def test_first_grb_trigger_builds_one_mwa_request() -> None:
    event = swift()
    outcome = run(NEW, grb_mwa(), event)
    assert outcome.decision is T and outcome.trigger and not outcome.debug
    (request,) = outcome.requests
    assert (request.kind, request.telescope, request.project_id, request.pretend) == (
        "mwa_observation",
        "MWA_VCS",
        "G0055",
        True,
    )
    assert (request.ra_deg, request.dec_deg) == ZENITH
    assert (request.nobs, request.exposure_s, request.freqspecs, request.vcsmode) == (1, 896, "144,24", True)
    assert (request.calibrator, request.calexptime_s, request.inttime_s, request.freqres_khz) == (
        True,
        120.0,
        0.5,
        10.0,
    )
    assert request.obsname == "SWIFT_772006" and request.reason == "First observation."
    assert request.source_name == "GRB 170912"
    assert texts(outcome)[0] == "Beginning event analysis."
    assert "Above horizon so attempting to observe with MWA_VCS." in texts(outcome)
    assert texts(outcome)[-1] == "Decision: Triggered – sending 1 telescope request(s)."
    assert outcome.position_update == SkyPosition(*ZENITH, 0.05)
    assert all(r.event_ivorn == event.ivorn and r.at_utc == NOW for r in outcome.reasons)


def test_atca_request_carries_bands_target_and_lag() -> None:
    p = grb_atca(
        atca_maximum_lag_minutes=90.0,
        atca_minimum_time_minutes=20.0,
        atca_band_7mm=True,
        atca_band_7mm_freq1=33000,
        atca_band_7mm_freq2=35000,
        atca_band_7mm_exptime=30,
    )
    outcome = run(NEW, p, swift(where=(95.0, -30.0)))
    (request,) = outcome.requests
    assert request.kind == "atca" and request.pretend and request.source_name == "GRB 170912"
    assert (request.atca_max_exptime_min, request.atca_min_exptime_min) == (720, 30)
    assert (request.atca_maximum_lag_minutes, request.atca_minimum_time_minutes) == (90.0, 20.0)
    bands = request.atca_band_dict()
    assert bands["4cm"] == {"use": True, "exposureLength": "1:00:00", "freq1": 5500, "freq2": 9000}
    assert bands["7mm"] == {"use": True, "exposureLength": "0:30:00", "freq1": 33000, "freq2": 35000}
    assert bands["16cm"]["use"] is False and bands["16cm"]["freq1"] == 2100
    assert "Attempting to observe with ATCA." in texts(outcome)


@pytest.mark.parametrize(
    ("mode", "role", "telescope", "decision", "pretend"),
    [
        (Mode.REAL_ONLY, "observation", "MWA_VCS", T, False),
        (Mode.REAL_ONLY, "test", "MWA_VCS", IGN, None),
        (Mode.PRETEND_REAL, "observation", "MWA_VCS", T, True),
        (Mode.PRETEND_REAL, "test", "MWA_VCS", IGN, None),
        (Mode.BOTH, "observation", "MWA_VCS", T, False),
        (Mode.BOTH, "test", "MWA_VCS", T, True),
        (Mode.BOTH, "test", "ATCA", T, True),  # ATCA test mode too (TraceT sent a real request)
        (Mode.REAL_ONLY, "observation", "ATCA", T, False),
        (Mode.PRETEND_REAL, "observation", "ATCA", T, True),
    ],
)
def test_testing_modes_follow_the_evaluated_event(
    mode: Mode, role: str, telescope: str, decision: Decision, pretend: bool | None
) -> None:
    p = grb_mwa(testing=mode) if telescope == "MWA_VCS" else grb_atca(testing=mode)
    outcome = run(NEW, p, swift(where=ZENITH if telescope == "MWA_VCS" else (95.0, -30.0), role=role))
    assert outcome.decision is decision
    if pretend is None:
        assert f"Proposal setting {mode} does not trigger on event role test." in texts(outcome)
        assert not outcome.requests
    else:
        assert [r.pretend for r in outcome.requests] == [pretend]


def test_pretend_follows_the_evaluated_event_not_the_latest_one() -> None:
    real = swift()
    later_test = replace(swift(), ivorn="ivo://test#later", role="test")
    outcome = run(NEW, grb_mwa(testing=Mode.BOTH), real, group_of(real, later_test))
    assert [r.pretend for r in outcome.requests] == [False]


@pytest.mark.parametrize(
    ("changes", "event_changes", "message"),
    [
        ({"active": False}, {}, "Proposal MWA_GRB_TEST is inactive so not evaluated."),
        (
            {},
            {"ignored": True, "ignore_reason": "lost star tracker"},
            "The event is ignored (lost star tracker) so not evaluated.",
        ),
        ({"event_telescope": "Fermi"}, {}, "This proposal does not trigger on events from SWIFT."),
        ({"source_type": SourceType.FS}, {}, "This proposal does not observe GRBs."),
        ({}, {"source_type": None}, "This proposal does not observe events of unknown source type."),
    ],
)
def test_gates_make_a_new_decision_ignored_and_keep_an_existing_one(
    changes: dict[str, Any], event_changes: dict[str, Any], message: str
) -> None:
    event = swift(**event_changes)
    outcome = run(NEW, grb_mwa(**changes), event)
    assert outcome.decision is IGN and message in texts(outcome) and not outcome.requests
    for current in (P, E, IGN):
        kept = run(DecisionState(decision=current), grb_mwa(**changes), event)
        assert kept.decision is current
        assert texts(kept)[1:3] == [message, "This event does not change the decision."]
    kept = run(DecisionState(decision=T, ra_deg=0.0, dec_deg=0.0, pos_error_deg=0.05), grb_mwa(**changes), event)
    assert kept.decision is T and not kept.requests and message in texts(kept)


def test_event_telescope_gate_ignores_case() -> None:
    assert run(NEW, grb_mwa(event_telescope="SWIFT"), replace(swift(), telescope="Swift")).decision is T


@pytest.mark.parametrize(
    ("where", "minutes", "exptime", "decision", "expected"),
    [
        ((-80.0, 80.0), 0, 896, IGN, "Not triggering due to horizon limit: alt_beg "),
        (
            ("alt", 5.0, 90.0),
            0,
            7200,
            T,
            "Warning: The source is below the horizon limit at the start of the observation alt_beg ",
        ),
        (
            ("alt", 12.0, 270.0),
            0,
            7200,
            T,
            "Warning: The source will set below the horizon limit by the end of the observation alt_end ",
        ),
    ],
)
def test_mwa_horizon_check(
    where: tuple[Any, ...], minutes: int, exptime: int, decision: Decision, expected: str
) -> None:
    ra_dec = sky(where[1], where[2], minutes) if where[0] == "alt" else (where[0] % 360, where[1])
    outcome = run(NEW, grb_mwa(mwa_exptime=exptime), swift(where=ra_dec))
    assert outcome.decision is decision
    assert any(t.startswith(expected) for t in texts(outcome)), texts(outcome)
    if decision is T:
        assert "Above horizon for part of the observation so attempting to observe with MWA_VCS." in texts(outcome)
        assert any(r.kind is LogKind.WARNING for r in outcome.reasons)
    else:
        assert texts(outcome)[-2].endswith("< 10.0000.")


def test_pending_grb_then_operator_can_decide() -> None:
    outcome = run(NEW, grb_mwa(), swift(duration_s=1.096))
    assert outcome.decision is P and outcome.pending and not outcome.requests
    assert "Event duration between 1.025 and 2.056 s so waiting for a human's decision." in texts(outcome)


def test_zero_position_is_a_position() -> None:
    outcome = run(NEW, grb_atca(), swift(where=(0.0, 0.0)))
    assert outcome.decision is IGN
    assert (
        "The Events declination (0.0) is outside limit 1 (-90.0 < dec < -5.0) and limit 2 (5.0 < dec < 20.0) "
        "so not observing."
    ) in texts(outcome)
    assert "The Event has no position so not observing." not in texts(outcome)
    outcome = run(NEW, grb_atca(atca_dec_max_1=5.0), swift(where=(0.0, 0.0)))
    assert outcome.decision is T and (outcome.requests[0].ra_deg, outcome.requests[0].dec_deg) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("limit_s", "age", "expected"),
    [
        (0, timedelta(days=4000), (9, 800)),
        (18000, timedelta(minutes=1), (9, 800)),
        (18000, timedelta(seconds=17000), (2, 496)),
        (18000, timedelta(hours=6), None),
    ],
)
def test_maximum_observation_time_zero_means_no_limit(
    limit_s: int, age: timedelta, expected: tuple[int, int] | None
) -> None:
    p = replace(grb_mwa(source_type=SourceType.NU, mwa_exptime=7200), maximum_observation_time_seconds=limit_s)
    event = at(packet("Antares_1438351269.xml"), ZENITH, observed_utc=NOW - age)
    outcome = run(NEW, p, event)
    if expected is None:
        assert outcome.decision is IGN and not outcome.requests
        assert "more than maximum_observation_time_seconds (18000 s), so not observing." in texts(outcome)[-2]
    else:
        assert outcome.decision is T
        assert (outcome.requests[0].nobs, outcome.requests[0].exposure_s) == expected


def test_flare_star_and_neutrino_trigger_at_the_event_position() -> None:
    fs = at(packet("HD_8537_FLARE_STAR_TEST.xml"), ZENITH)
    outcome = run(NEW, grb_mwa(source_type=SourceType.FS), fs)
    assert outcome.decision is T and "Triggering on Flare Star HD 8357." in texts(outcome)
    nu = replace(packet("IceCube_134191_017593623_0.xml"), ra_deg=None, dec_deg=None)
    outcome = run(NEW, grb_mwa(source_type=SourceType.NU), nu)
    assert outcome.decision is IGN and "No position to observe so not observing with MWA_VCS." in texts(outcome)


# ----------------------------------------------------------------------------------------------------
# existing decisions
# ----------------------------------------------------------------------------------------------------


def test_pending_is_re_evaluated_by_a_later_event() -> None:
    first = swift(duration_s=1.096)
    state = DecisionState(decision=P, ra_deg=ZENITH[0], dec_deg=ZENITH[1], pos_error_deg=0.05, duration_s=1.096)
    # a later BAT alert of the same trigger with a triggering duration: P -> T
    second = replace(swift(duration_s=0.5), ivorn="ivo://test#second")
    outcome = run(state, grb_mwa(), second, group_of(first, second))
    assert outcome.decision is T and len(outcome.requests) == 1
    assert texts(outcome)[0] == "Checking new Event (decision was Pending)."
    # an XRT follow-up without duration keeps the pending state, using the BAT duration (logged)
    xrt = at(packet("SWIFT_XRT_Pos_1093742-588.xml"), ZENITH, err=0.0009, trig_id=first.trig_id, source_type=None)
    outcome = run(state, grb_mwa(), xrt, group_of(first, xrt))
    assert outcome.decision is P
    assert f"Using the duration (1.096 s) of the earlier alert {first.ivorn}." in texts(outcome)
    assert outcome.position_update == SkyPosition(*ZENITH, 0.0009)


def test_error_and_ignored_are_re_evaluated() -> None:
    for current in (E, IGN):
        outcome = run(DecisionState(decision=current), grb_mwa(), swift())
        assert outcome.decision is T and outcome.requests


def test_canceled_only_logs() -> None:
    outcome = run(DecisionState(decision=C), grb_mwa(), swift())
    assert outcome.decision is C and not outcome.requests
    assert texts(outcome) == ["Previous observation canceled so not observing.", "Decision: Canceled."]


def test_every_decision_state_is_handled() -> None:
    for current in (None, *Decision):
        outcome = run(
            DecisionState(decision=current, ra_deg=ZENITH[0], dec_deg=ZENITH[1], pos_error_deg=0.05), grb_mwa(), swift()
        )
        assert isinstance(outcome.decision, Decision)


def test_retraction_moves_pending_to_ignored_and_flags_triggered() -> None:
    ew = replace(packet("LVC_real_early_warning.xml"), observed_utc=NOW - timedelta(minutes=5))
    retraction = replace(packet("LVC_real_retraction.xml"), observed_utc=NOW - timedelta(minutes=1))
    group = group_of(ew, retraction)
    for current in (None, P, IGN, E):
        outcome = run(DecisionState(decision=current), gw_mwa(), retraction, group)
        assert outcome.decision is IGN and not outcome.requests and not outcome.needs_operator
        assert "The event was retracted so it is not observed." in texts(outcome)
    outcome = run(DecisionState(decision=T, has_observed=True), gw_mwa(), retraction, group)
    assert outcome.decision is T and outcome.needs_operator and not outcome.requests
    assert any(r.kind is LogKind.WARNING and "retracted" in r.text for r in outcome.reasons)
    assert run(DecisionState(decision=C), gw_mwa(), retraction, group).decision is C


CURRENT = SkyPosition(95.0, -30.0, 0.05)


@pytest.mark.parametrize(
    ("new", "repoint", "message"),
    [
        # better: smaller error and further than the limit
        (
            (95.0, -29.9, 0.001),
            True,
            "Repointing because separation (0.1000 deg) is greater than the repointing "
            "limit (0.0200 deg) and the new position is better (0.0010 < 0.0500 deg).",
        ),
        # clearly different: same error, further than the limit
        (
            (95.0, -29.9, 0.05),
            True,
            "Repointing because separation (0.1000 deg) is greater than the repointing limit (0.0200 deg).",
        ),
        # worse: larger error, even far away
        (
            (95.0, -20.0, 4.7),
            False,
            "Not repointing: the new position is 10.0000 deg away but its uncertainty "
            "(4.7 deg) is larger than the current one (0.05 deg).",
        ),
        (
            (95.0, -20.0, None),
            False,
            "Not repointing: the new position is 10.0000 deg away but its uncertainty "
            "(None deg) is larger than the current one (0.05 deg).",
        ),
        # within the limit, even if better
        (
            (95.0, -29.99, 0.001),
            False,
            "Not repointing because separation (0.0100 deg) is not greater than the repointing limit (0.0200 deg).",
        ),
        ((95.0, -20.0, 0.0), False, "The new position uncertainty is 0.0 which is likely an error so not repointing."),
        (None, False, "The event has no position so the observation is not changed."),
    ],
)
def test_repointing_a_triggered_atca_observation(
    new: tuple[float, float, float | None] | None, repoint: bool, message: str
) -> None:
    state = DecisionState(
        decision=T,
        ra_deg=CURRENT.ra_deg,
        dec_deg=CURRENT.dec_deg,
        pos_error_deg=CURRENT.pos_error_deg,
        has_observed=True,
    )
    event = swift(where=(0.0, 0.0), ivorn="ivo://test#new")
    event = replace(event, ra_deg=None, dec_deg=None) if new is None else at(event, new[:2], err=new[2])
    outcome = run(state, grb_atca(repointing_limit=0.02), event)
    assert outcome.decision is T
    assert message in texts(outcome)
    if repoint:
        assert new is not None
        (request,) = outcome.requests
        assert (request.ra_deg, request.dec_deg) == new[:2] and request.reason == message
        assert outcome.position_update == SkyPosition(*new)
    else:
        assert not outcome.requests and outcome.position_update is None


def test_fermi_position_series_repoints_only_when_clearly_different() -> None:
    """Fermi_GRB_pnt0..2 (§9.1): same error; +4 deg in RA is within 10 deg, +33 deg in Dec is not."""
    pnt0, pnt1, pnt2 = (packet(f"Fermi_GRB_pnt{i}.xml") for i in range(3))
    p = grb_atca(maximum_position_uncertainty=15.0, atca_dec_max_1=90.0, repointing_limit=10.0)
    first = run(NEW, p, pnt0, group_of(pnt0))
    assert first.decision is T
    state = DecisionState(
        decision=T, ra_deg=pnt0.ra_deg, dec_deg=pnt0.dec_deg, pos_error_deg=pnt0.pos_error_deg, has_observed=True
    )
    second = run(state, p, pnt1, group_of(pnt0, pnt1))
    assert not second.requests and "is not greater than the repointing limit" in texts(second)[0]
    third = run(state, p, pnt2, group_of(pnt0, pnt1, pnt2))
    assert len(third.requests) == 1 and (third.requests[0].ra_deg, third.requests[0].dec_deg) == (
        pnt2.ra_deg,
        pnt2.dec_deg,
    )


def test_repoint_below_the_mwa_horizon_keeps_the_observation() -> None:
    state = DecisionState(decision=T, ra_deg=ZENITH[0], dec_deg=ZENITH[1], pos_error_deg=0.05, has_observed=True)
    outcome = run(state, grb_mwa(), swift(where=(ZENITH[0], 80.0)))
    assert outcome.decision is T and not outcome.requests
    assert any(t.startswith("Not triggering due to horizon limit") for t in texts(outcome))
    assert texts(outcome)[-2] == "The current observation is kept."


# ----------------------------------------------------------------------------------------------------
# gravitational waves on the MWA
# ----------------------------------------------------------------------------------------------------


def early_warning(age: timedelta = timedelta(minutes=6)) -> ParsedEvent:
    return replace(packet("LVC_real_early_warning.xml"), observed_utc=NOW - age)


def preliminary(age: timedelta = timedelta(minutes=6)) -> ParsedEvent:
    return replace(packet("LVC_real_preliminary.xml"), observed_utc=NOW - age)


def far_pointings() -> tuple[Pointing, ...]:
    return default_subarray_pointings(((70.0, 90.0), (60.0, 120.0), (50.0, 150.0), (65.0, 60.0)), NOW)


def test_gw_first_event_buffer_first_then_default_subarrays() -> None:
    ew = early_warning()
    outcome = run(NEW, gw_mwa(), ew)
    assert outcome.decision is T
    buffer, subarrays = outcome.requests
    assert (buffer.kind, buffer.buffer_obstime_s, buffer.nobs, buffer.vcsmode) == ("mwa_buffer", 8, 1, True)
    assert subarrays.kind == "mwa_subarrays"
    assert subarrays.subarray_names == ("all_ne", "all_nw", "all_se", "all_sw")
    assert len(subarrays.subarray_pointings) == 4
    # early_observation_time_seconds 900, event 360 s old: 536 s left on the 8-s grid
    assert (subarrays.nobs, subarrays.exposure_s) == (1, 536)
    reason = "S230518h - Event is an early warning so using default sub arrays and early observation time"
    assert subarrays.reason == reason and reason in texts(outcome)
    assert texts(outcome).index("First event so sending dump MWA buffer request to MWA.") < texts(outcome).index(reason)
    expected = default_subarray_pointings(gw_mwa().mwa_default_subarray_alt_az, NOW)
    assert subarrays.subarray_pointings == tuple((p.ra_deg, p.dec_deg) for p in expected)
    assert outcome.position_update is None


def test_gw_early_warning_fails_like_any_alert() -> None:
    outcome = run(NEW, gw_mwa(maximum_false_alarm_rate=1e-8), early_warning())
    assert outcome.decision is IGN and not outcome.requests and outcome.debug
    assert "The FAR is 7.224443905955801e-08 which is greater than the threshold 1e-08 so not triggering." in texts(
        outcome
    )


@pytest.mark.parametrize(
    ("changes", "age", "kinds", "message"),
    [
        (
            {"start_observation_at_high_sensitivity": False},
            timedelta(minutes=6),
            ["mwa_buffer"],
            "No sky map pointings and start_observation_at_high_sensitivity is False so no sub-array observation yet.",
        ),
        (
            {},
            timedelta(minutes=20),
            ["mwa_buffer"],
            "The event is 1200 s old, more than early_observation_time_seconds (900 s), so no sub-array observation.",
        ),
        (
            {"early_observation_time_seconds": 0},
            timedelta(minutes=20),
            ["mwa_buffer", "mwa_subarrays"],
            "S230518h - Event is an early warning so using default sub arrays and early observation time",
        ),
        (
            {"telescope": "MWA_correlate"},
            timedelta(minutes=6),
            ["mwa_subarrays"],
            "MWA_correlate has no voltage buffer so no buffer dump.",
        ),
    ],
)
def test_gw_first_event_variants(changes: dict[str, Any], age: timedelta, kinds: list[str], message: str) -> None:
    outcome = run(NEW, gw_mwa(**changes), early_warning(age))
    assert [r.kind for r in outcome.requests] == kinds
    assert message in texts(outcome)


def test_gw_correlate_without_pointings_is_ignored_and_retried_later() -> None:
    outcome = run(NEW, gw_mwa(telescope="MWA_correlate", start_observation_at_high_sensitivity=False), early_warning())
    assert outcome.decision is IGN and not outcome.requests and outcome.trigger


def test_gw_skymap_pointings_without_time_limit() -> None:
    prelim = preliminary()
    outcome = run(NEW, gw_mwa(), prelim, skymap_pointings=far_pointings())
    buffer, subarrays = outcome.requests
    assert buffer.kind == "mwa_buffer"
    assert subarrays.reason == "S230518h - Event has position so using skymap pointings"
    assert (subarrays.nobs, subarrays.exposure_s) == (9, 800)  # maximum_observation_time_seconds 0 = no limit
    assert subarrays.subarray_pointings == tuple((p.ra_deg, p.dec_deg) for p in far_pointings())


def test_gw_second_event_gets_no_buffer() -> None:
    ew, prelim = early_warning(), preliminary()
    outcome = run(DecisionState(decision=IGN), gw_mwa(), prelim, group_of(ew, prelim), skymap_pointings=far_pointings())
    assert [r.kind for r in outcome.requests] == ["mwa_subarrays"]


def test_gw_on_atca_cannot_observe() -> None:
    p = gw_mwa(telescope="ATCA", atca_band_4cm=True, atca_band_4cm_freq1=5500, atca_band_4cm_freq2=9000)
    outcome = run(NEW, p, early_warning())
    assert outcome.decision is IGN and "GW alerts carry no position so ATCA cannot observe them." in texts(outcome)


def test_gw_triggered_repoints_only_to_different_pointings() -> None:
    ew, prelim = early_warning(), preliminary()
    current = tuple(
        (p.ra_deg, p.dec_deg) for p in default_subarray_pointings(gw_mwa().mwa_default_subarray_alt_az, NOW)
    )
    state = DecisionState(decision=T, has_observed=True, subarray_pointings=current)
    group = group_of(ew, prelim)
    same = default_subarray_pointings(gw_mwa().mwa_default_subarray_alt_az, NOW)
    outcome = run(state, gw_mwa(), prelim, group, skymap_pointings=same)
    assert outcome.decision is T and not outcome.requests
    assert "New sky map pointings are within 10.0 deg of the current sub-array pointings so not repointing." in texts(
        outcome
    )
    outcome = run(state, gw_mwa(), prelim, group, skymap_pointings=far_pointings())
    (request,) = outcome.requests
    assert request.kind == "mwa_subarrays"
    assert request.reason == "S230518h - Updating observation positions based on event."
    outcome = run(state, gw_mwa(), prelim, group)
    assert not outcome.requests
    assert "The event has no sky map pointings so the sub-array observation is not changed." in texts(outcome)
    outcome = run(
        state, gw_mwa(minimum_binary_neutron_star_probability=0.01), prelim, group, skymap_pointings=far_pointings()
    )
    assert not outcome.requests and outcome.decision is T
    assert "The new alert does not pass the checks so the current observation is kept." in texts(outcome)
    # triggered on the buffer only: the first sky map starts the sub-array observation
    only_buffer = DecisionState(decision=T, has_observed=True)
    outcome = run(only_buffer, gw_mwa(), prelim, group, skymap_pointings=far_pointings())
    assert [r.reason for r in outcome.requests] == ["S230518h - Event has position so using skymap pointings"]


def test_test_event_age_uses_receipt_time() -> None:
    replay = packet("MS190410a-1-Preliminary.xml")
    p = gw_mwa(testing=Mode.BOTH)
    stale = run(NEW, p, replay)
    assert stale.decision is IGN and any("more than 2 hours ago" in t for t in texts(stale))
    fresh = run(NEW, p, replay, received_utc=NOW - timedelta(seconds=30))
    assert fresh.decision is T and all(r.pretend for r in fresh.requests)
    # default sub-arrays limited from the receipt time: 900 - 30 s -> 864 s
    assert (fresh.requests[-1].nobs, fresh.requests[-1].exposure_s) == (1, 864)


# ----------------------------------------------------------------------------------------------------
# after the telescope answered; operators
# ----------------------------------------------------------------------------------------------------


def test_outcome_after_requests() -> None:
    outcome = run(NEW, grb_mwa(), swift())
    ok = outcome_after_requests(outcome, True, "MWA accepted trigger 1234.")
    assert ok.decision is T and texts(ok)[-2:] == ["MWA accepted trigger 1234.", "Decision: Triggered."]
    assert ok.reasons[-1].kind is LogKind.DECISION and ok.requests == outcome.requests
    failed = outcome_after_requests(outcome, False, "Web API error, possible server error.")
    assert failed.decision is E and failed.debug
    assert failed.reasons[-2].kind is LogKind.ERROR
    assert texts(failed)[-2:] == ["Web API error, possible server error.", "Decision: Error."]
    pending = run(NEW, grb_mwa(), swift(duration_s=1.096))
    assert outcome_after_requests(pending, False, "nothing sent") is pending


def test_human_decisions() -> None:
    state = DecisionState(decision=P, ra_deg=ZENITH[0], dec_deg=ZENITH[1], pos_error_deg=0.05)
    event = swift(duration_s=1.096)
    go = checked(human_decision(state, grb_mwa(), True, "alice", "short GRB, go", NOW, group=group_of(event)))
    assert go.decision is T and go.reasons[0].kind is LogKind.OPERATOR
    assert texts(go)[0] == "User alice decided to trigger. Comment: short GRB, go"
    (request,) = go.requests
    assert request.reason == "User triggered observation" and request.pretend and request.obsname == "SWIFT_772006"
    stop = checked(human_decision(state, grb_mwa(), False, "bob", None, NOW))
    assert stop.decision is IGN and texts(stop) == ["User bob decided not to trigger.", "Decision: Ignored."]
    real = checked(
        human_decision(
            state, grb_mwa(testing=Mode.BOTH), True, "alice", None, NOW, group=group_of(replace(event, role="test"))
        )
    )
    assert [r.pretend for r in real.requests] == [True]
    for current in (T, C):
        unchanged = checked(human_decision(replace(state, decision=current), grb_mwa(), True, "carol", None, NOW))
        assert unchanged.decision is current and not unchanged.requests
    nowhere = checked(human_decision(DecisionState(decision=P), grb_mwa(), True, "dave", None, NOW))
    assert nowhere.decision is P and not nowhere.requests
    assert nowhere.reasons[-2].kind is LogKind.ERROR
    gw = checked(human_decision(DecisionState(decision=IGN), gw_mwa(), True, "erin", None, NOW))
    assert gw.decision is T and [r.kind for r in gw.requests] == ["mwa_subarrays"]
