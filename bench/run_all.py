"""Run every benchmark in bench/ one after the other (`make bench`), each writing bench/results/<name>.json.

The benchmarks measure ratios against a baseline taken in the same run, but they still want a quiet machine:
run nothing else meanwhile. A failing benchmark is reported and the others still run; the exit status is 1 if
any failed.

Usage: .venv/bin/python bench/run_all.py [--only NAME ...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

#: (script, arguments of a full run, arguments of a --quick run), in the order they run.
BENCHMARKS: list[tuple[str, list[str], list[str]]] = [
    ("parse_cost", [], ["--rounds", "3"]),
    ("replay_speed", [], []),
    ("e2e_latency", [], ["--events", "200"]),
    ("burst_throughput", [], ["--packets", "1000"]),
    ("gui_stall", [], ["--packets", "200"]),
    ("db_scale", [], ["--events", "100000", "--groups", "10000"]),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="names of the benchmarks to run")
    parser.add_argument("--quick", action="store_true", help="smaller runs, to check the scripts work")
    args = parser.parse_args()
    failed: list[str] = []
    for name, full, quick in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        script = BENCH / f"{name}.py"
        if not script.is_file():
            print(f"== {name}: no script", flush=True)
            failed.append(name)
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, str(script), *(quick if args.quick else full)], check=False)
        took = time.monotonic() - started
        result = BENCH / "results" / f"{name}.json"
        if done.returncode != 0:
            failed.append(name)
            print(f"== {name}: FAILED (exit {done.returncode}) after {took:.0f} s", flush=True)
        elif result.is_file():
            date = json.loads(result.read_text()).get("date_utc", "?")
            print(f"== {name}: done in {took:.0f} s; {result.relative_to(BENCH.parent)} ({date})", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
