"""A real PostgreSQL server for tests: the one named by TRACET_TEST_PG_URL, or a throwaway cluster.

``pg_server`` (session scope) is, in order of preference:

1. the server whose admin URL is in ``TRACET_TEST_PG_URL`` (``.ci/postgres.sh`` exports it), or
2. a cluster started here with the distribution's ``initdb``/``pg_ctl`` (``/usr/lib/postgresql/*/bin``,
   or on ``PATH``) in a temporary directory, on a free port on 127.0.0.1, stopped and deleted afterwards,
3. else every test that asks for it is skipped (the driver ``psycopg`` missing skips too).

Each test gets its own database (``pg_url`` / :meth:`PgServer.create_database`), dropped after the test.
As root, the server runs as the ``postgres`` user (``initdb`` refuses root), via ``runuser``.

Import the fixtures into a conftest with ``from tests.pg_fixture import pg_server, pg_url  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import psycopg

PG_URL_ENV = "TRACET_TEST_PG_URL"
"""Admin URL of an existing server (a superuser, database ``postgres``), e.g. from .ci/postgres.sh."""

PG_SUPERUSER = "tracet"
"""Superuser created in a throwaway cluster (trust authentication, loopback only)."""

PG_START_TIMEOUT_S = 60
"""How long ``pg_ctl start -w`` may wait for the server to accept connections."""

_database_numbers = itertools.count(1)


def psycopg_url(url: str) -> str:
    """The same URL with the psycopg (v3) driver named, as SQLAlchemy defaults ``postgresql://`` to psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _pg_bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgServer:
    """A reachable server: ``admin_url`` connects as a superuser to the ``postgres`` database."""

    admin_url: str
    data_dir: Path | None = None
    bin_dir: Path | None = None
    run_as: list[str] = field(default_factory=list)

    def url_for(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def _admin(self) -> psycopg.Connection[Any]:
        import psycopg

        return psycopg.connect(self.admin_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def create_database(self, prefix: str = "tracet_test") -> str:
        """A new empty database; returns its SQLAlchemy URL (psycopg driver)."""
        name = f"{prefix}_{os.getpid()}_{next(_database_numbers)}"
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return psycopg_url(self.url_for(name))

    def drop_database(self, url: str) -> None:
        name = url.rpartition("/")[2]
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.data_dir is None or self.bin_dir is None:
            return
        subprocess.run(
            [*self.run_as, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def start_throwaway_cluster(bin_dir: Path) -> PgServer:
    """initdb + pg_ctl start in a fresh temporary directory, loopback only, fsync off (test data only)."""
    root = Path(tempfile.mkdtemp(prefix="tracet-pg-"))
    data_dir = root / "data"
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres") if _user_exists("postgres") else pwd.getpwnam("nobody")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", user.pw_name, "--"]
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            PG_SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    port = _free_port()
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200"
    )
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(PG_START_TIMEOUT_S),
            "start",
        ],
        capture_output=True,
        check=True,
        timeout=PG_START_TIMEOUT_S + 30,
    )
    return PgServer(f"postgresql+psycopg://{PG_SUPERUSER}@127.0.0.1:{port}/postgres", data_dir, bin_dir, run_as)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def find_or_start_server() -> PgServer | str:
    """A server to test against, or the reason there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    if os.environ.get(PG_URL_ENV):
        return PgServer(psycopg_url(os.environ[PG_URL_ENV]))
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        return f"no PostgreSQL server: set {PG_URL_ENV} or install the postgresql package"
    try:
        return start_throwaway_cluster(bin_dir)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        return f"could not start a throwaway PostgreSQL cluster: {exc} {detail.decode(errors='replace')[-500:]}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    found = find_or_start_server()
    if isinstance(found, str):
        pytest.skip(found)
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (SQLAlchemy URL, psycopg driver)."""
    url = pg_server.create_database()
    yield url
    with contextlib.suppress(Exception):
        pg_server.drop_database(url)
