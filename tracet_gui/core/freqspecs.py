"""MWA frequency specifications ("freqspecs", reference Appendix A).

A freqspec names the 24 coarse channels (channel N is centred on 1.28·N MHz) an MWA observation uses.
Atoms are separated by ``;`` and each atom is one of:

* ``N`` – a single channel;
* ``center,width[,increment]`` – channels ``center − int(width/2)`` up to (not including)
  ``center + int(width/2 + 0.5)`` in steps of ``increment`` (``121,24`` → 109…132);
* ``start:stop[:increment]`` or ``start-stop`` – inclusive range.

The expanded list must hold no duplicates and at most 24 channels, all within 0–255. A single channel N
is read as ``N,24``; fewer than 24 channels are padded upward if the top stays ≤ 255, else downward if
the bottom stays ≥ 0, else with the lowest free channels of 60–199. The spec string itself (not the
expanded list) is what is sent to the MWA.
"""

from __future__ import annotations

MWA_CHANNEL_COUNT = 24
"""Number of coarse channels in every MWA observation."""

MWA_MIN_CHANNEL = 0
"""Lowest valid coarse channel number."""

MWA_MAX_CHANNEL = 255
"""Highest valid coarse channel number."""

MWA_FILL_CHANNELS = range(60, 200)
"""Channels used to fill a short list that can be padded neither upward nor downward."""

_SEPARATOR = ";"


def _to_int(text: str, what: str, atom: str, spec: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"freqspec {spec!r}: cannot read {what} {text.strip()!r} in {atom!r}") from None


def _expand_atom(atom: str, spec: str) -> list[int]:
    text = atom.strip()
    if not text:
        raise ValueError(f"freqspec {spec!r}: empty entry (check the ';' separators)")
    if ":" in text or "," in text or ("-" in text.lstrip("-")):
        if ":" in text:
            parts, kind = text.split(":"), "range"
        elif "," in text:
            parts, kind = text.split(","), "centre"
        else:
            # start-stop; a leading minus sign belongs to the first number and is refused below.
            first, _, rest = text.lstrip("-").partition("-")
            parts, kind = [text[: len(text) - len(text.lstrip("-"))] + first, rest], "range"
        if len(parts) not in (2, 3):
            raise ValueError(f"freqspec {spec!r}: {atom!r} must have two or three numbers")
        a = _to_int(parts[0], "start" if kind == "range" else "centre", atom, spec)
        b = _to_int(parts[1], "stop" if kind == "range" else "width", atom, spec)
        step = _to_int(parts[2], "increment", atom, spec) if len(parts) == 3 else 1
        if step <= 0:
            raise ValueError(f"freqspec {spec!r}: increment must be positive in {atom!r}")
        if kind == "range":
            channels = list(range(a, b + 1, step))
        else:
            if b <= 0:
                raise ValueError(f"freqspec {spec!r}: width must be positive in {atom!r}")
            channels = list(range(a - int(b / 2), a + int(b / 2 + 0.5), step))
        if not channels:
            raise ValueError(f"freqspec {spec!r}: {atom!r} selects no channel")
        return channels
    return [_to_int(text, "channel", atom, spec)]


def expand_freqspecs(spec: str) -> list[int]:
    """Return the sorted 24 coarse channels ``spec`` selects; ValueError says what is wrong."""
    if not spec or not spec.strip():
        raise ValueError("freqspec is empty")
    channels: list[int] = []
    for atom in spec.split(_SEPARATOR):
        channels.extend(_expand_atom(atom, spec))
    duplicates = sorted({c for c in channels if channels.count(c) > 1})
    if duplicates:
        raise ValueError(f"freqspec {spec!r}: duplicate channels {duplicates}")
    if len(channels) > MWA_CHANNEL_COUNT:
        raise ValueError(f"freqspec {spec!r}: {len(channels)} channels selected, at most {MWA_CHANNEL_COUNT} allowed")
    out_of_range = [c for c in channels if not MWA_MIN_CHANNEL <= c <= MWA_MAX_CHANNEL]
    if out_of_range:
        raise ValueError(
            f"freqspec {spec!r}: channels {sorted(out_of_range)} are outside {MWA_MIN_CHANNEL}–{MWA_MAX_CHANNEL}"
        )
    channels.sort()
    if len(channels) == 1:
        centre = channels[0]
        half = MWA_CHANNEL_COUNT // 2
        channels = list(range(centre - half, centre + half))
    missing = MWA_CHANNEL_COUNT - len(channels)
    if missing > 0:
        if channels[-1] + missing <= MWA_MAX_CHANNEL:
            channels += list(range(channels[-1] + 1, channels[-1] + missing + 1))
        elif channels[0] - missing >= MWA_MIN_CHANNEL:
            channels = list(range(channels[0] - missing, channels[0])) + channels
        else:
            channels += [c for c in MWA_FILL_CHANNELS if c not in channels][:missing]
            channels.sort()
    if channels[0] < MWA_MIN_CHANNEL or channels[-1] > MWA_MAX_CHANNEL:
        raise ValueError(
            f"freqspec {spec!r}: centre channel too close to {MWA_MIN_CHANNEL} or {MWA_MAX_CHANNEL}, "
            f"the 24 channels would run from {channels[0]} to {channels[-1]}"
        )
    return channels
