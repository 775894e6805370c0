from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tracet_gui.core.grouping import GroupState, fold_event
from tracet_gui.core.records import ParsedEvent
from tracet_gui.core.vocabulary import SourceType

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def ev(
    n: int,
    *,
    ignored: bool = False,
    ra: float | None = 10.0,
    dec: float | None = -20.0,
    err: float | None = 1.0,
    observed_min: int = 0,
    source: SourceType | None = SourceType.GRB,
    name: str | None = None,
) -> ParsedEvent:
    return ParsedEvent(
        ivorn=f"ivo://test/x#{n}",
        role="observation",
        telescope="SWIFT",
        event_type="BAT_GRB_Pos",
        trig_id="123",
        self_generated_trig_id=False,
        source_type=source,
        source_name=name,
        ignored=ignored,
        ignore_reason="test" if ignored else None,
        observed_utc=T0 + timedelta(minutes=observed_min),
        ra_deg=ra,
        dec_deg=dec,
        pos_error_deg=err,
    )


def fold(*events: ParsedEvent) -> GroupState:
    state = None
    for i, event in enumerate(events, start=1):
        state = fold_event(state, i, event, T0 + timedelta(seconds=i))
    assert state is not None
    return state


def test_best_position_is_smallest_error_among_real_events() -> None:
    state = fold(ev(1, ra=1.0, err=5.0), ev(2, ra=2.0, err=0.05), ev(3, ra=3.0, err=1.0))
    assert (state.ra_deg, state.pos_error_deg, state.best_event_id) == (2.0, 0.05, 2)


def test_ignored_events_never_move_a_real_group() -> None:
    state = fold(
        ev(1, ra=1.0, err=0.5, name="GRB A"),
        ev(2, ignored=True, ra=0.0, dec=0.0, err=0.0, observed_min=-30, name="junk", source=SourceType.FS),
    )
    assert (state.ra_deg, state.dec_deg, state.pos_error_deg) == (1.0, -20.0, 0.5)
    assert state.earliest_observed_utc == T0
    assert state.source_name == "GRB A" and state.source_type is SourceType.GRB
    assert state.event_count == 2 and not state.ignored


def test_earliest_and_latest_are_true_even_out_of_order() -> None:
    state = fold(ev(1, observed_min=5), ev(2, observed_min=-3), ev(3, observed_min=2))
    assert state.earliest_observed_utc == T0 - timedelta(minutes=3)
    assert state.latest_observed_utc == T0 + timedelta(minutes=5)


def test_group_of_ignored_events_stays_ignored_but_readable() -> None:
    state = fold(ev(1, ignored=True, ra=5.0, err=0.1))
    assert state.ignored and state.ra_deg == 5.0
    state = fold_event(state, 2, ev(2, ra=7.0, err=3.0, observed_min=10), T0 + timedelta(minutes=1))
    assert not state.ignored
    assert (state.ra_deg, state.pos_error_deg) == (7.0, 3.0)  # the ignored member's position is forgotten
    assert state.earliest_observed_utc == T0 + timedelta(minutes=10)


def test_zero_error_and_zero_coordinates_are_values() -> None:
    state = fold(ev(1, ra=0.0, dec=0.0, err=0.5), ev(2, ra=3.0, err=0.0))
    assert (state.ra_deg, state.pos_error_deg) == (3.0, 0.0)


def test_position_without_error_only_fills_a_gap() -> None:
    state = fold(
        ev(1, ra=None, dec=None, err=None), ev(2, ra=4.0, err=None), ev(3, ra=6.0, err=2.0), ev(4, ra=8.0, err=None)
    )
    assert (state.ra_deg, state.pos_error_deg) == (6.0, 2.0)


def test_ignored_events_only_fill_a_missing_source() -> None:
    quicklook = ev(1, ignored=True, name="GRB 220711", ra=261.99, err=0.05)
    xrt = ev(2, source=None, name=None, ra=262.02, err=0.001)
    state = fold(quicklook, xrt)
    assert state.source_type is SourceType.GRB and state.source_name == "GRB 220711"
    assert (state.ra_deg, state.best_event_id) == (262.02, 2)
    later = fold_event(state, 3, ev(3, ignored=True, source=SourceType.FS, name="other"), T0)
    assert later.source_type is SourceType.GRB and later.source_name == "GRB 220711"


def test_source_type_and_name_stick_once_known() -> None:
    state = fold(ev(1, name="GRB 220118"), ev(2, source=None, name=None))
    assert state.source_type is SourceType.GRB and state.source_name == "GRB 220118"
