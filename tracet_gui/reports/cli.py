"""``tracet-gui report``: write an observation report for a time window to a file.

csv / ecsv / votable / html are built here without Qt. PDF is the same HTML rendered by Qt's text engine,
which lives in the ui layer: the composition root passes it in as ``pdf_writer``
(``tracet_gui.ui.export_dialog.html_to_pdf``), so this module never imports Qt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tracet_gui.pipeline.skymaps import SkyMap, SkyMapFetcher
from tracet_gui.reports.observation_report import (
    TABLE_FORMATS,
    SkyMapLoader,
    collect_report,
    render_html,
    write_table,
)
from tracet_gui.reports.sky_scene import cached_skymap, skymap_cache_dir_default
from tracet_gui.storage.database import Database

REPORT_FORMATS = ("pdf", "html", *TABLE_FORMATS)
"""Every format ``tracet-gui report --format`` accepts."""

PdfWriter = Callable[[str, Path], None]
"""Renders an HTML document to a PDF file."""


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time; without a zone it is taken as UTC (``2023-05-18``, ``2023-05-18T12:00Z`` …)."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``tracet-gui report`` (the database URL comes from the common ``--db`` option)."""
    parser.add_argument(
        "--from",
        dest="start",
        type=parse_utc,
        required=True,
        metavar="ISO",
        help="window start (request time, UTC unless a zone is given)",
    )
    parser.add_argument("--to", dest="end", type=parse_utc, required=True, metavar="ISO", help="window end, included")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=REPORT_FORMATS,
        default=None,
        help="output format (default: from the file extension of -o)",
    )
    parser.add_argument("-o", "--output", dest="out", type=Path, required=True, metavar="FILE", help="file to write")


def format_for(out: Path, fmt: str | None) -> str:
    """The explicit format, else the one the file extension names (.xml/.vot → votable)."""
    if fmt:
        return fmt
    suffix = out.suffix.lower().lstrip(".")
    aliases = {"htm": "html", "vot": "votable", "xml": "votable"}
    suffix = aliases.get(suffix, suffix)
    if suffix not in REPORT_FORMATS:
        raise ValueError(f"cannot tell the format from {out.name!r}: give --format ({', '.join(REPORT_FORMATS)})")
    return suffix


def wants_pdf(out: Path, fmt: str | None) -> bool:
    """True when the report asked for is a PDF (the caller then supplies the Qt renderer)."""
    try:
        return format_for(out, fmt) == "pdf"
    except ValueError:
        return False


def offline_skymap_loader(cache_dir: Path | None = None) -> SkyMapLoader:
    """Sky maps from local paths or the engine's download cache only: a report never waits on the network."""
    fetcher = SkyMapFetcher(cache_dir or skymap_cache_dir_default(), timeout_s=5.0, max_attempts=1)

    def load(url: str) -> SkyMap | None:
        return cached_skymap(fetcher, url)

    return load


def write_report(
    database: Database,
    start: datetime,
    end: datetime,
    fmt: str,
    out: Path,
    *,
    pdf_writer: PdfWriter | None = None,
    skymap_loader: SkyMapLoader | None = None,
) -> int:
    """Collect and write one report; returns the number of observations in it. Raises ValueError on misuse."""
    if fmt not in REPORT_FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (choose from {', '.join(REPORT_FORMATS)})")
    if fmt == "pdf" and pdf_writer is None:
        raise ValueError("PDF reports need the Qt renderer (tracet_gui.ui.export_dialog.html_to_pdf)")
    with_pictures = fmt in ("pdf", "html")
    report = collect_report(
        database.sessions,
        start,
        end,
        skymap_loader=skymap_loader or offline_skymap_loader(),
        thumbnails=with_pictures,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in TABLE_FORMATS:
        write_table(report, fmt, out)
    elif fmt == "html":
        out.write_text(render_html(report), encoding="utf-8")
    else:
        assert pdf_writer is not None
        pdf_writer(render_html(report), out)
    return len(report.entries)


def run_report(
    db_url: str,
    start: datetime,
    end: datetime,
    fmt: str | None,
    out: Path,
    *,
    pdf_writer: PdfWriter | None = None,
    skymap_cache_dir: Path | None = None,
) -> int:
    """``tracet-gui report``: exit status 0 on success, 2 on a usage error (message on stderr)."""
    try:
        fmt = format_for(out, fmt)
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("--from and --to must be timezone-aware (UTC)")
        if end < start:
            raise ValueError("--to is before --from")
        database = Database.open(db_url)
    except ValueError as exc:
        print(f"tracet-gui report: {exc}", file=sys.stderr)
        return 2
    try:
        count = write_report(
            database, start, end, fmt, out, pdf_writer=pdf_writer, skymap_loader=offline_skymap_loader(skymap_cache_dir)
        )
    except ValueError as exc:
        print(f"tracet-gui report: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"tracet-gui report: cannot write {out}: {exc}", file=sys.stderr)
        return 1
    finally:
        database.close()
    print(f"{out}: {fmt} report of {count} observation(s) requested {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
    return 0
