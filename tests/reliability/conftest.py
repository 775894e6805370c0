"""Reliability tests reuse the real parts of the ingest tests: a `twistd comet` broker, the `tracet-gui headless`
daemon as a subprocess, and the check that no test leaves a thread running."""

from __future__ import annotations

from tests.ingest.conftest import broker, daemon_factory, no_thread_left_running

__all__ = ["broker", "daemon_factory", "no_thread_left_running"]
