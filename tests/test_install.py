"""The wheel is complete: built from the checkout, installed into a fresh venv, it runs from anywhere.

The fresh venv gets only the wheel (``--no-deps``); the dependencies come from the test interpreter's
site-packages through a ``.pth`` file placed after the venv's own, so the installed copy of tracet_gui, not
the checkout, is what runs. Commands run from an empty directory, so nothing can fall back to the checkout's
``database/`` or ``resources/``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracet_gui.ingest.vtp import send_to_author_port
from tracet_gui.pipeline.parse import peek_ivorn

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
BUILD_TIMEOUT_S = 600


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, ROOT, cwd=out)
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("tracet_gui-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=root).stdout.strip()
    )
    (purelib / "zz_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    pip = _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--quiet", wheel, cwd=root)
    assert pip.returncode == 0, pip.stderr
    work = root / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(XDG_CONFIG_HOME=str(root / "config"), XDG_DATA_HOME=str(root / "data"), XDG_STATE_HOME=str(root / "st"))
    yield env_dir, {**env, "HOME": str(work), "PWD": str(work)}


@pytest.mark.parametrize(
    ("inside", "checkout"),
    [("tracet_gui/_database/", ROOT / "database"), ("tracet_gui/_resources/", ROOT / "resources")],
)
def test_wheel_carries_migrations_and_resources(wheel: Path, inside: str, checkout: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = {name.removeprefix(inside) for name in archive.namelist() if name.startswith(inside)}
    expected = {
        str(p.relative_to(checkout))
        for p in checkout.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    assert expected and names == expected


def test_installed_commands_run_from_an_empty_directory(installed: tuple[Path, dict[str, str]]) -> None:
    env_dir, env = installed
    work = Path(env["HOME"])
    tracet = env_dir / "bin" / "tracet-gui"
    assert (env_dir / "bin" / "tracet-gui-window").is_file()

    help_text = _run(tracet, "--help", cwd=work, env=env)
    assert help_text.returncode == 0 and "parse" in help_text.stdout and "ingest" in help_text.stdout

    where = _run(
        env_dir / "bin" / "python",
        "-c",
        "from tracet_gui.storage.migrations import database_dir; from tracet_gui.core.resources import resources_dir;"
        "print(database_dir()); print(resources_dir())",
        cwd=work,
        env=env,
    )
    assert where.returncode == 0, where.stderr
    for line in where.stdout.splitlines():
        assert Path(line).is_relative_to(env_dir) and Path(line).is_dir(), line

    parsed = _run(tracet, "parse", "--json", DATA / "SWIFT00.xml", cwd=work, env=env)
    in_tree = _run(sys.executable, "-m", "tracet_gui", "parse", "--json", DATA / "SWIFT00.xml", cwd=ROOT)
    assert parsed.returncode == 0, parsed.stderr
    assert json.loads(parsed.stdout) == json.loads(in_tree.stdout)

    url = f"sqlite:///{work / 'installed.sqlite3'}"
    ingested = _run(tracet, "ingest", DATA / "SWIFT00.xml", "--db", url, cwd=work, env=env)
    assert ingested.returncode == 0, ingested.stderr
    events = _run(tracet, "events", "--json", "--db", url, cwd=work, env=env)
    assert [json.loads(line)["ivorn"] for line in events.stdout.splitlines()] == [json.loads(parsed.stdout)["ivorn"]]
    proposals = _run(tracet, "proposals", "export", "--db", url, cwd=work, env=env)
    assert proposals.returncode == 0

    # headless: the installed engine listens, stores and decides a packet sent to its author port, stops on SIGTERM
    engine = subprocess.Popen(
        [str(tracet), "headless", "--db", url, "--receive-port", "0"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert engine.stdout is not None
        ready = engine.stdout.readline()
        assert ready.startswith("READY receive_port="), ready
        port = int(ready.strip().split("=")[1])
        packet = (DATA / "SWIFT01.xml").read_bytes()
        assert send_to_author_port("127.0.0.1", port, packet) == "ack"
        wanted = peek_ivorn(packet)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = _run(tracet, "events", "--json", "--db", url, cwd=work, env=env)
            if wanted in [json.loads(line)["ivorn"] for line in listed.stdout.splitlines()]:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the headless engine did not store and decide {wanted}")
        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=60) == 0
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()


def test_a_fresh_venv_installs_the_wheel_with_its_dependencies(wheel: Path, tmp_path: Path) -> None:
    """What a user does: a new venv, `pip install` of the wheel (dependencies from the package index)."""
    env_dir = tmp_path / "fresh"
    venv.create(env_dir, with_pip=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    pip = _run(
        env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", f"{wheel}[postgres]", cwd=tmp_path, env=env
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    tracet = env_dir / "bin" / "tracet-gui"
    help_text = _run(tracet, "--help", cwd=tmp_path, env=env)
    assert help_text.returncode == 0 and "headless" in help_text.stdout
    parsed = _run(tracet, "parse", "--json", DATA / "SWIFT00.xml", cwd=tmp_path, env=env)
    assert parsed.returncode == 0, parsed.stderr
    assert json.loads(parsed.stdout)["ivorn"] == peek_ivorn((DATA / "SWIFT00.xml").read_bytes())
    driver = _run(
        env_dir / "bin" / "python", "-c", "import psycopg, PySide6, comet; print('ok')", cwd=tmp_path, env=env
    )
    assert driver.stdout.strip() == "ok", driver.stderr
