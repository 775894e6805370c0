"""Parse cost per packet as a ratio to a bare lxml parse of the same bytes, measured in the same run.

Usage: .venv/bin/python bench/parse_cost.py [--rounds N] [--out bench/results/parse_cost.json]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from common import write_result
from lxml import etree

from tracet_gui.core.records import ParseError
from tracet_gui.pipeline.parse import VOEventParser

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _best_of(func: object, raw: bytes, rounds: int, inner: int) -> float:
    """Best per-call time (s) over ``rounds`` batches of ``inner`` calls: the least disturbed measurement."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            func(raw)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - start) / inner)
    return best


def main() -> None:
    parser_args = argparse.ArgumentParser(description=__doc__)
    parser_args.add_argument("--rounds", type=int, default=7)
    parser_args.add_argument("--inner", type=int, default=200)
    parser_args.add_argument("--out", default=str(Path(__file__).parent / "results" / "parse_cost.json"))
    args = parser_args.parse_args()

    parser = VOEventParser()
    packets: list[tuple[str, bytes]] = []
    for path in sorted(DATA.glob("*.xml")):
        raw = path.read_bytes()
        try:
            parser.parse(raw)
        except ParseError:
            continue  # the malformed sample: nothing to compare
        packets.append((path.name, raw))

    rows = []
    for name, raw in packets:
        bare = _best_of(etree.fromstring, raw, args.rounds, args.inner)
        ours = _best_of(parser.parse, raw, args.rounds, args.inner)
        rows.append(
            {"file": name, "bytes": len(raw), "lxml_us": bare * 1e6, "tracet_gui_us": ours * 1e6, "ratio": ours / bare}
        )
    ratios = [r["ratio"] for r in rows]
    total_bare = sum(r["lxml_us"] for r in rows)
    total_ours = sum(r["tracet_gui_us"] for r in rows)
    summary = {
        "benchmark": "parse_cost",
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "packets": len(rows),
        "median_ratio": statistics.median(ratios),
        "max_ratio": max(ratios),
        "corpus_ratio": total_ours / total_bare,
        "mean_lxml_us": total_bare / len(rows),
        "mean_tracet_gui_us": total_ours / len(rows),
        "rows": rows,
    }
    write_result(args.out, summary)
    print(
        f"{len(rows)} packets: parse costs {summary['corpus_ratio']:.2f}x a bare lxml parse over the corpus "
        f"(median {summary['median_ratio']:.2f}x, worst {summary['max_ratio']:.2f}x; "
        f"{summary['mean_tracet_gui_us']:.0f} us vs {summary['mean_lxml_us']:.0f} us per packet)"
    )


if __name__ == "__main__":
    main()
