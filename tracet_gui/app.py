"""Composition root and command-line interface: the only module that imports every layer."""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tracet_gui import __version__
from tracet_gui.config import Settings, load_settings, user_log_dir
from tracet_gui.core.clock import Clock, FixedClock, SystemClock
from tracet_gui.core.records import ParsedEvent, ParseError
from tracet_gui.core.resources import resources_dir
from tracet_gui.core.sending import AcceptingRecorder, RequestSender
from tracet_gui.core.streams import DEFAULT_INTERESTING_STREAMS
from tracet_gui.core.vocabulary import Channel
from tracet_gui.pipeline.decider import DecisionChange, PointingChooser, ProposalDecider
from tracet_gui.pipeline.parse import VOEventParser, event_to_json, peek_ivorn
from tracet_gui.pipeline.processor import InlineJobRunner, PacketProcessor, ProcessedPacket
from tracet_gui.pipeline.proposals_yaml import ProposalFileError, dump_proposals_yaml, load_proposals_yaml
from tracet_gui.storage.database import Database
from tracet_gui.storage.decisions import record_operator_action
from tracet_gui.storage.events import list_events, list_groups
from tracet_gui.storage.inbox import store_raw_packet
from tracet_gui.storage.proposals import list_proposals, upsert_proposal

log = logging.getLogger("tracet_gui")


def _parser_for(settings: Settings) -> VOEventParser:
    streams = frozenset(settings.interesting_streams) if settings.interesting_streams else DEFAULT_INTERESTING_STREAMS
    return VOEventParser(interesting_streams=streams, max_packet_bytes=settings.max_packet_bytes)


def _xml_files(paths: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file()))
        else:
            files.append(path)
    return files


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(Path(args.config) if getattr(args, "config", None) else None)
    if getattr(args, "db", None):
        settings = replace(settings, db_url=args.db)
    return settings


# ----------------------------------------------------------------------------------------------- commands


def cmd_parse(args: argparse.Namespace) -> int:
    parser = _parser_for(_settings(args))
    status = 0
    for path in _xml_files(args.files):
        try:
            out: dict[str, Any] = event_to_json(parser.parse(path.read_bytes()))
        except (ParseError, OSError) as exc:
            out = {"file": str(path), "error": str(exc)}
            status = 1
        if args.json:
            print(json.dumps(out))
        elif "error" in out:
            print(f"{path}: ERROR {out['error']}")
        else:
            print(f"{path}:")
            for key, value in out.items():
                if value is not None:
                    print(f"  {key:40s} {value}")
    return status


def open_database(settings: Settings) -> Database:
    return Database.open(settings.db_url)


def default_proposals_text() -> str:
    return (resources_dir() / "proposals" / "default.yaml").read_text(encoding="utf-8")


def import_proposals(db: Database, text: str, operator: str, source: str) -> list[tuple[str, bool]]:
    """Validate and store proposals (all or nothing); audited. Returns (proposal_id, created) pairs."""
    proposals = load_proposals_yaml(text)
    clock = SystemClock()
    out: list[tuple[str, bool]] = []
    with db.session() as session:
        for proposal in proposals:
            _, created = upsert_proposal(session, proposal, clock.now())
            out.append((proposal.proposal_id, created))
        record_operator_action(
            session,
            at_utc=clock.now(),
            operator=operator,
            action="import_proposals",
            target=source,
            comment=None,
            details={"proposals": [p for p, _ in out]},
        )
        session.commit()
    return out


def ensure_default_proposals(db: Database, operator: str) -> bool:
    """A database without any proposal gets the default catalogue (all in pretend mode)."""
    with db.session() as session:
        if list_proposals(session):
            return False
    import_proposals(db, default_proposals_text(), operator, "resources/proposals/default.yaml")
    return True


def make_processor(
    db: Database,
    settings: Settings,
    *,
    clock: Clock | None = None,
    sender: RequestSender | None = None,
    chooser: PointingChooser | None = None,
    now_for: Callable[[ParsedEvent], datetime] | None = None,
) -> tuple[PacketProcessor, InlineJobRunner]:
    """A processor that decides with every active proposal and sends requests inline (CLI, replay)."""
    clock = clock or SystemClock()
    decider = ProposalDecider(clock, now_for=now_for)
    processor = PacketProcessor(db.sessions, _parser_for(settings), decider, clock)
    runner = InlineJobRunner(processor, sender or AcceptingRecorder(), chooser, clock)
    return processor, runner


def ingest_files(
    db: Database,
    processor: PacketProcessor,
    files: Sequence[Path],
    channel: Channel = Channel.FILE,
    *,
    received_for: Callable[[bytes], datetime | None] | None = None,
) -> Iterator[tuple[Path, ProcessedPacket | None, bool]]:
    """Store each file in the inbox (raw bytes first), then process it if it is new; yields as it goes."""
    for path in files:
        raw = path.read_bytes()
        received = received_for(raw) if received_for is not None else None
        stored = store_raw_packet(
            db.sessions, raw, channel, ivorn=peek_ivorn(raw), peer=str(path), received_utc=received
        )
        if stored.duplicate:
            yield path, None, True
            continue
        yield path, processor.process(stored.inbox_id), False


def cmd_ingest(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = open_database(settings)
    processor, runner = make_processor(db, settings)
    failed = 0
    for path, result, duplicate in ingest_files(db, processor, _xml_files(args.paths)):
        if duplicate or result is None:
            print(f"{path}: duplicate, already stored")
        elif result.error:
            failed += 1
            print(f"{path}: FAILED (kept in inbox #{result.inbox_id}): {result.error}")
        else:
            state = f"ignored: {result.ignore_reason}" if result.ignored else "processed"
            print(f"{path}: {result.ivorn} -> group {result.trig_id} ({state})")
            for change in merge_changes([*result.decision_changes, *runner.changes]):
                print(f"    {change.proposal_id}: {change.previous or '-'} -> {change.decision}")
            runner.changes.clear()
    db.close()
    return 1 if failed else 0


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def cmd_events(args: argparse.Namespace) -> int:
    db = open_database(_settings(args))
    rows = list_events(db.sessions, limit=args.limit, trig_id=args.trig_id)
    if args.json:
        for stored in rows:
            record = {
                "event_id": stored.event_id,
                "group_id": stored.group_id,
                "received_utc": stored.received_utc.isoformat(),
                **event_to_json(stored.event),
            }
            print(json.dumps(record))
    else:
        header = f"{'id':>6} {'received (UTC)':19} {'telescope':9} {'event type':22} {'trig_id':16} {'src':4} ign"
        print(header)
        print("-" * len(header))
        for stored in rows:
            ev = stored.event
            print(
                f"{stored.event_id:>6} {stored.received_utc:%Y-%m-%d %H:%M:%S} {ev.telescope or '':9.9} "
                f"{ev.event_type or '':22.22} {ev.trig_id:16.16} {ev.source_type or '':4} "
                f"{'yes' if ev.ignored else 'no'}"
            )
    db.close()
    return 0


def cmd_groups(args: argparse.Namespace) -> int:
    db = open_database(_settings(args))
    rows = list_groups(db.sessions, limit=args.limit, include_ignored=not args.hide_ignored)
    if args.json:
        for stored in rows:
            state = stored.state
            record = {
                "group_id": stored.group_id,
                "trig_id": state.trig_id,
                "source_type": state.source_type.value if state.source_type else None,
                "source_name": state.source_name,
                "telescope": state.telescope,
                "ignored": state.ignored,
                "event_count": state.event_count,
                "ra_deg": state.ra_deg,
                "dec_deg": state.dec_deg,
                "pos_error_deg": state.pos_error_deg,
                "earliest_observed_utc": _iso(state.earliest_observed_utc),
                "latest_observed_utc": _iso(state.latest_observed_utc),
                "first_received_utc": _iso(state.first_received_utc),
            }
            print(json.dumps(record))
    else:
        header = (
            f"{'id':>5} {'trig_id':16} {'src':4} {'telescope':9} {'events':>6} {'ra':>9} {'dec':>9} "
            f"{'err':>8} {'latest observed':19} ign"
        )
        print(header)
        print("-" * len(header))
        for stored in rows:
            s = stored.state

            def num(v: float | None) -> str:
                return "" if v is None else f"{v:.4f}"

            latest = f"{s.latest_observed_utc:%Y-%m-%d %H:%M:%S}" if s.latest_observed_utc else ""
            print(
                f"{stored.group_id:>5} {s.trig_id:16.16} {s.source_type or '':4} {s.telescope or '':9.9} "
                f"{s.event_count:>6} {num(s.ra_deg):>9} {num(s.dec_deg):>9} {num(s.pos_error_deg):>8} "
                f"{latest:19} {'yes' if s.ignored else 'no'}"
            )
    db.close()
    return 0


def _display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def cmd_run(args: argparse.Namespace) -> int:
    """Run on embedded defaults: the console window with the demo feed, or the same feed printed headless."""
    settings = _settings(args)
    config_path = Path(args.config) if args.config else None
    db = open_database(settings)
    print(f"tracet-gui {__version__}: database {db.url}")
    if args.viewer:
        db.close()
        if args.no_gui or not _display_available():
            print("tracet-gui: a viewer console needs a display (no DISPLAY or WAYLAND_DISPLAY)", file=sys.stderr)
            return 2
        from tracet_gui.ui.main_window import run_gui

        return run_gui(settings, demo=False, viewer=True, config_path=config_path)
    if ensure_default_proposals(db, settings.operator):
        print("  no proposals yet: imported the default catalogue (all in pretend mode)")
    if not args.no_gui and _display_available():
        db.close()
        from tracet_gui.ui.main_window import run_gui

        if args.no_demo:
            return run_gui(settings, demo=False, config_path=config_path)
        from tracet_gui.telescopes.simulator import TelescopeSimulator

        # The demo feed is pushed through our own VTP author port (loopback only), like a real alert, and the
        # telescope requests go to a local simulator unless real services are configured.
        demo_settings = replace(settings, author_whitelist=("127.0.0.0/8",))
        if demo_settings.receive_port is None:
            demo_settings = replace(demo_settings, receive_port=0)
        if not (demo_settings.mwa_base_url or demo_settings.atca_url or demo_settings.telescope_base_url):
            with TelescopeSimulator(port=0) as simulator:
                print(f"  telescope simulator at {simulator.base_url}")
                simulated = replace(demo_settings, telescope_base_url=simulator.base_url, simulator_credentials=True)
                return run_gui(simulated, demo=True, config_path=config_path)
        return run_gui(demo_settings, demo=True, config_path=config_path)
    if not args.no_gui:
        print("  no display: running the demo feed headless (use `tracet-gui headless` for a live server)")
    from tracet_gui.ingest.engine import build_sender
    from tracet_gui.telescopes.simulator import TelescopeSimulator

    simulator = TelescopeSimulator(port=0).start()
    sender = build_sender(
        replace(settings, telescope_base_url=simulator.base_url, simulator_credentials=True), lambda: False
    )
    print(f"  telescope requests go to a local simulator at {simulator.base_url}")
    processor, runner = make_processor(db, settings, sender=sender)
    demo = resources_dir() / "demo"
    for path, result, duplicate in ingest_files(db, processor, _xml_files([str(demo)]), Channel.MANUAL):
        if duplicate or result is None:
            print(f"  {path.name}: already in the database")
        elif result.error:
            print(f"  {path.name}: kept as failed: {result.error}")
        else:
            what = f"ignored ({result.ignore_reason})" if result.ignored else "evaluated"
            print(f"  {path.name}: group {result.trig_id}: {what}")
            for change in merge_changes([*result.decision_changes, *runner.changes]):
                print(
                    f"      {change.proposal_id:18s} {change.previous or '-'} -> {change.decision}: "
                    f"{' | '.join(change.reasons[-3:-1])}"
                )
            runner.changes.clear()
    simulator.stop()
    db.close()
    return 0


def merge_changes(changes: Sequence[DecisionChange]) -> list[DecisionChange]:
    """One change per (group, proposal): the first previous state, the last decision, all the reasons."""
    merged: dict[tuple[str, str], DecisionChange] = {}
    for change in changes:
        key = (change.trig_id, change.proposal_id)
        first = merged.get(key)
        if first is None:
            merged[key] = change
        else:
            merged[key] = DecisionChange(
                change.trig_id,
                change.proposal_id,
                change.decision,
                first.previous,
                first.event_ivorn or change.event_ivorn,
                first.reasons + change.reasons,
            )
    return list(merged.values())


def cmd_proposals(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db = open_database(settings)
    try:
        if args.action == "import":
            text = Path(args.file).read_text(encoding="utf-8")
            try:
                done = import_proposals(db, text, settings.operator, str(args.file))
            except ProposalFileError as exc:
                print(f"tracet-gui: {args.file} refused, nothing imported:\n{exc}", file=sys.stderr)
                return 2
            for proposal_id, created in done:
                print(f"{'created' if created else 'updated'} {proposal_id}")
        elif args.action == "export":
            with db.session() as session:
                proposals = [p.settings for p in list_proposals(session)]
            text = dump_proposals_yaml(proposals)
            if args.file in (None, "-"):
                print(text, end="")
            else:
                Path(args.file).write_text(text, encoding="utf-8")
                print(f"wrote {len(proposals)} proposals to {args.file}")
        else:
            with db.session() as session:
                stored = list_proposals(session)
            if args.json:
                for p in stored:
                    s = p.settings
                    print(
                        json.dumps(
                            {
                                "proposal_id": s.proposal_id,
                                "telescope": s.telescope,
                                "project_id": s.project_id,
                                "source_type": s.source_type.value,
                                "event_telescope": s.event_telescope,
                                "testing": s.testing.value,
                                "priority": s.priority,
                                "active": s.active,
                                "version": p.version,
                            }
                        )
                    )
            else:
                print(
                    f"{'proposal_id':18s} {'telescope':13s} {'project':8s} {'src':4s} {'event tel.':10s} "
                    f"{'testing':12s} {'prio':>4s} active"
                )
                for p in stored:
                    s = p.settings
                    print(
                        f"{s.proposal_id:18s} {s.telescope:13s} {s.project_id:8s} {s.source_type.value:4s} "
                        f"{s.event_telescope or 'any':10s} {s.testing.value:12s} {s.priority:>4d} "
                        f"{'yes' if s.active else 'no'}"
                    )
    finally:
        db.close()
    return 0


def _configure_daemon_logging(verbose: bool) -> Path:
    log_dir = user_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "tracet-gui.log"
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    for handler in (
        logging.handlers.RotatingFileHandler(log_file, maxBytes=10_000_000, backupCount=5),
        logging.StreamHandler(sys.stderr),
    ):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    return log_file


LOCK_CHECK_S = 10
"""How often (s) a headless engine checks it still holds the engine lock."""


def cmd_headless(args: argparse.Namespace) -> int:
    """Ingest + pipeline with no Qt at all; exits cleanly on SIGTERM/SIGINT."""
    settings = _settings(args)
    changes: dict[str, Any] = {}
    if args.remote:
        changes["remotes"] = tuple(args.remote)
    if args.receive_port is not None:
        changes["receive_port"] = args.receive_port
    if args.broadcast_port is not None:
        changes["broadcast_port"] = args.broadcast_port
    if args.telescope_url:
        changes["telescope_base_url"] = args.telescope_url
        changes["simulator_credentials"] = args.simulator_credentials
    settings = replace(settings, **changes)
    log_file = _configure_daemon_logging(args.verbose)
    from tracet_gui.ingest.engine import Engine

    db = open_database(settings)
    from tracet_gui.storage.coordination import ChangeNotice, EngineLockHeldError, changed_tables

    lock = db.engine_lock()
    try:
        lock.acquire()  # one engine per database: a second one would process every packet twice
    except EngineLockHeldError as exc:
        print(f"tracet-gui: {exc}", file=sys.stderr)
        db.close()
        return 2
    ensure_default_proposals(db, settings.operator)
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    if args.stop_on_stdin_eof:

        def stop_at_eof() -> None:
            sys.stdin.buffer.read()  # returns when the parent closes the pipe or dies
            log.info("standard input closed: stopping")
            stop.set()

        threading.Thread(target=stop_at_eof, name="stdin-eof", daemon=True).start()
    engine = Engine(settings, db)
    engine.start()
    log.info(
        "headless engine running: database %s, remotes %s, author port %s, log %s",
        db.url,
        ", ".join(settings.remotes) or "none",
        engine.receive_port,
        log_file,
    )

    def on_notices(batch: list[ChangeNotice]) -> None:
        # A console recorded an operator action, edited a proposal or dropped a file: act now, not at the idle scan.
        if changed_tables(batch) & {"operator_action", "proposal", "inbox"}:
            engine.runner.notify()

    listener = db.change_listener(on_notices, on_connected=engine.runner.notify)
    if listener is not None:
        listener.start()
    from tracet_gui.ingest.status import FeedStatusPublisher

    publisher = FeedStatusPublisher(db.sessions, engine.health).start()  # for viewer consoles
    print(f"READY receive_port={engine.receive_port}", flush=True)
    status = 0
    try:
        ticks = 0
        while not stop.wait(1.0):
            ticks += 1
            if ticks % LOCK_CHECK_S == 0 and not lock.still_held():
                # The lock died with its connection: another engine may start now, so this one must stop.
                log.error("lost the engine lock on %s (database connection dropped): stopping", db.url)
                print("tracet-gui: lost the engine lock (database connection dropped): stopping", file=sys.stderr)
                status = 3
                break
    finally:
        if listener is not None:
            listener.stop()
        engine.stop()
        publisher.stop()  # marks every connection stopped for the viewers
        lock.release()
        db.close()
        log.info("stopped cleanly")
    return status


def cmd_arming(args: argparse.Namespace) -> int:
    """Arm or disarm real telescope requests (confirmation asked, audited; the engine executes it)."""
    from tracet_gui.storage import operator_actions as actions
    from tracet_gui.telescopes.arming import arming_confirmation_text

    settings = _settings(args)
    arm = args.command == "arm"
    db = open_database(settings)
    try:
        print(arming_confirmation_text(arm))
        if not args.yes:
            answer = input("Type ARM to confirm: " if arm else "Type DISARM to confirm: ").strip()
            if answer != ("ARM" if arm else "DISARM"):
                print("not confirmed: nothing changed")
                return 1
        action_id = actions.record_action(
            db.sessions,
            operator=settings.operator,
            action=actions.ARM if arm else actions.DISARM,
            target="engine",
            comment=args.comment,
        )
        print(f"recorded as operator action #{action_id}; the running engine applies it within a second")
    finally:
        db.close()
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Observations requested in a time window as PDF, HTML, CSV, ECSV or VOTable (docs/reports.md)."""
    from tracet_gui.reports.cli import run_report, wants_pdf

    pdf_writer = None
    if wants_pdf(args.out, args.fmt):
        from tracet_gui.ui.export_dialog import html_to_pdf  # Qt only for PDF

        pdf_writer = html_to_pdf
    return run_report(_settings(args).db_url, args.start, args.end, args.fmt, args.out, pdf_writer=pdf_writer)


def cmd_telescope_sim(args: argparse.Namespace) -> int:
    """A local HTTP server speaking the MWA trigger and ATCA rapid-response protocols (docs/telescopes.md)."""
    from tracet_gui.telescopes.simulator import run_simulator

    return run_simulator(args.port, args.host)


#: Delay between an event's time and its evaluation in ``replay --as-observed`` (s): a typical alert latency.
AS_OBSERVED_DELAY_S = 30.0


def cmd_replay(args: argparse.Namespace) -> int:
    """Run packets through a fresh (or given) database and print one JSON line per decision change."""
    settings = _settings(args)
    with tempfile.TemporaryDirectory(prefix="tracet-replay-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'replay.sqlite3'}"
        db = Database.open(url)
        try:
            if args.proposals:
                try:
                    import_proposals(
                        db, Path(args.proposals).read_text(encoding="utf-8"), settings.operator, str(args.proposals)
                    )
                except ProposalFileError as exc:
                    print(f"tracet-gui: {args.proposals} refused:\n{exc}", file=sys.stderr)
                    return 2
            else:
                ensure_default_proposals(db, settings.operator)
            fixed = FixedClock(datetime.fromisoformat(args.now) if args.now else datetime.now(UTC))
            delay = timedelta(seconds=args.delay_s)
            parser = _parser_for(settings)

            def when(raw: bytes) -> datetime | None:
                if not args.as_observed:
                    return fixed.now()
                try:
                    observed = parser.parse(raw).observed_utc
                except ParseError:
                    return fixed.now()
                if observed is not None:
                    fixed.set(observed + delay)
                return fixed.now()

            sender: RequestSender | None = None
            if args.telescopes:
                from tracet_gui.ingest.engine import build_sender

                sim = replace(settings, telescope_base_url=args.telescopes, simulator_credentials=True)
                sender = build_sender(sim, lambda: False)  # replay never arms: requests are pretend/test
            processor, runner = make_processor(db, settings, clock=fixed, sender=sender)
            for _path, result, _dup in ingest_files(
                db, processor, _xml_files(args.paths), Channel.FILE, received_for=when
            ):
                if result is None:
                    continue
                for change in merge_changes([*result.decision_changes, *runner.changes]):
                    if change.decision != change.previous:
                        print(
                            json.dumps(
                                {
                                    "trig_id": change.trig_id,
                                    "proposal_id": change.proposal_id,
                                    "decision": change.decision,
                                    "event_ivorn": change.event_ivorn,
                                    "reasons": list(change.reasons),
                                }
                            )
                        )
                runner.changes.clear()
        finally:
            db.close()
    return 0


# ----------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=argparse.SUPPRESS, help="settings file (TOML); default: the user config dir"
    )
    common.add_argument(
        "--db", default=argparse.SUPPRESS, help="SQLAlchemy database URL (default: SQLite in the user data dir)"
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug messages")
    parser = argparse.ArgumentParser(
        prog="tracet-gui", parents=[common], description="Transient alert console for MWA and ATCA."
    )
    parser.set_defaults(config=None, db=None, verbose=False, no_gui=False, no_demo=False)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("run", parents=[common], help="start the app on embedded defaults (default command)")
    p.add_argument("--no-gui", action="store_true", help="print the demo feed's decisions instead of a window")
    p.add_argument("--no-demo", action="store_true", help="do not play the bundled demo packets")
    p.add_argument(
        "--viewer",
        action="store_true",
        help="console only, no engine: watch a database a `headless` engine serves (operator actions go through "
        "the database); without it a console opens as a viewer anyway when another engine holds the database",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("parse", parents=[common], help="parse VOEvent files and print what was read")
    p.add_argument("files", nargs="+")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.set_defaults(func=cmd_parse)

    p = sub.add_parser("ingest", parents=[common], help="store and process VOEvent files or directories")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("events", parents=[common], help="list stored events, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--trig-id")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("groups", parents=[common], help="list event groups, most recently active first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--hide-ignored", action="store_true")
    p.set_defaults(func=cmd_groups)

    p = sub.add_parser("proposals", parents=[common], help="list, import or export observing proposals (YAML)")
    p.add_argument("action", choices=["list", "import", "export"])
    p.add_argument("file", nargs="?", help="YAML file to import, or to export to (default: stdout)")
    p.add_argument("--json", action="store_true", help="list: one JSON object per proposal")
    p.set_defaults(func=cmd_proposals)

    p = sub.add_parser("headless", parents=[common], help="run ingest + pipeline as a server (no GUI)")
    p.add_argument("--remote", action="append", metavar="HOST:PORT", help="subscribe to this VTP broker (repeatable)")
    p.add_argument("--receive-port", type=int, help="listen for VTP authors on this port (whitelist from config)")
    p.add_argument("--broadcast-port", type=int, help="rebroadcast new events to local VTP subscribers on this port")
    p.add_argument("--telescope-url", help="base URL of a telescope simulator (`tracet-gui telescope-sim`)")
    p.add_argument(
        "--simulator-credentials",
        action="store_true",
        help="with --telescope-url: use the simulator's built-in credentials",
    )
    p.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (a console running the engine as its child: the engine stops with it)",
    )
    p.set_defaults(func=cmd_headless)

    for name, text in (("arm", "allow real telescope requests"), ("disarm", "make every request pretend again")):
        p = sub.add_parser(name, parents=[common], help=f"{text} (asks for confirmation, audited)")
        p.add_argument("--comment", help="why (kept in the audit trail)")
        p.add_argument("--yes", action="store_true", help="do not ask (scripts)")
        p.set_defaults(func=cmd_arming)

    from tracet_gui.reports.cli import add_report_arguments

    p = sub.add_parser("report", parents=[common], help="report the observations requested in a time window")
    add_report_arguments(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("telescope-sim", parents=[common], help="run a local MWA + ATCA telescope simulator")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_telescope_sim)

    p = sub.add_parser(
        "replay",
        parents=[common],
        help="run packets through a fresh database and print each decision change (no telescope)",
    )
    p.add_argument("paths", nargs="+")
    p.add_argument("--proposals", help="proposal YAML (default: the default catalogue)")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--now", help="evaluate every packet at this ISO 8601 time (default: the current time)")
    when.add_argument(
        "--as-observed",
        action="store_true",
        help="evaluate each packet at its own event time plus --delay-s (backtesting)",
    )
    p.add_argument(
        "--telescopes",
        metavar="URL",
        help="send the (pretend) requests to this telescope simulator instead of the in-process recorder",
    )
    p.add_argument(
        "--delay-s",
        type=float,
        default=AS_OBSERVED_DELAY_S,
        help="with --as-observed: seconds between event time and evaluation",
    )
    p.set_defaults(func=cmd_replay)
    return parser


#: Commands that only print, so the default SIGPIPE behaviour (exit quietly) is right for them.
PIPE_FRIENDLY_COMMANDS = frozenset({"parse", "events", "groups", "proposals", "replay"})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in PIPE_FRIENDLY_COMMANDS and hasattr(signal, "SIGPIPE"):
        # `tracet-gui events | head` ends quietly. Never for network services: a peer closing a socket would kill us.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    func = getattr(args, "func", cmd_run)
    try:
        return int(func(args))
    except KeyboardInterrupt:
        return 130
    except ValueError as exc:
        print(f"tracet-gui: {exc}", file=sys.stderr)
        return 2


def gui_main() -> int:
    return main(["run", *sys.argv[1:]])
