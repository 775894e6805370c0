"""MWA freqspecs (reference Appendix A): expansion and refusal."""

from __future__ import annotations

import pytest

from tracet_gui.core.freqspecs import MWA_CHANNEL_COUNT, expand_freqspecs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("121,24", list(range(109, 133))),
        ("144,24", list(range(132, 156))),
        ("93,24", list(range(81, 105))),
        # picket fence: 8 channels 109..130 step 3, padded upward to 24 (documented example)
        ("121,24,3", [109, 112, 115, 118, 121, 124, 127, 130, *range(131, 147)]),
        ("101:112;141:152", [*range(101, 113), *range(141, 153)]),
        ("101-112;141-152", [*range(101, 113), *range(141, 153)]),
        (
            "62;63;69;70;76;77;84;85;93;94;103;104;113;114;125;126;139;140;153;154;169;170;187;188",
            [
                62,
                63,
                69,
                70,
                76,
                77,
                84,
                85,
                93,
                94,
                103,
                104,
                113,
                114,
                125,
                126,
                139,
                140,
                153,
                154,
                169,
                170,
                187,
                188,
            ],
        ),
        ("100", list(range(88, 112))),  # one channel is read as N,24
        ("0:9", list(range(0, 24))),  # padded upward
        ("250:255", list(range(232, 256))),  # cannot pad upward -> downward
        (" 121 , 24 ", list(range(109, 133))),  # spaces tolerated
        ("121,5", [*range(119, 124), *range(124, 143)]),  # odd width is centred, then padded
    ],
)
def test_expand_freqspecs_selects_24_channels(spec: str, expected: list[int]) -> None:
    channels = expand_freqspecs(spec)
    assert channels == expected
    assert len(channels) == MWA_CHANNEL_COUNT


def test_short_list_that_fits_neither_way_is_filled_from_60_to_199() -> None:
    # 0 and 255 pin both ends: neither upward nor downward padding stays in range.
    channels = expand_freqspecs("0;255")
    assert channels == [0, *range(60, 82), 255]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("abc", "cannot read channel 'abc'"),
        ("121,x", "cannot read width 'x'"),
        ("1:2:0", "increment must be positive"),
        ("121;121", "duplicate channels [121]"),
        ("100:124", "25 channels selected"),
        ("250", "too close to 0 or 255"),
        ("300", "outside 0–255"),
        ("-5", "outside 0–255"),
        ("121;", "empty entry"),
        ("130:120", "selects no channel"),
        ("1:2:3:4", "two or three numbers"),
    ],
)
def test_bad_freqspecs_are_refused_with_a_clear_message(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match="freqspec") as info:
        expand_freqspecs(spec)
    assert message in str(info.value)
