"""Runs telescope requests on worker threads so callers (GUI, pipeline) never wait on the network.

One bounded thread pool per telescope: a hung MWA service can occupy at most its own workers (each only
until its timeout), never ATCA's, and never the caller's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from tracet_gui.telescopes.atca import AtcaCancel, AtcaRequest
from tracet_gui.telescopes.mwa import MwaRequest
from tracet_gui.telescopes.recorder import describe_request
from tracet_gui.telescopes.results import TelescopeClient, TelescopeResult

log = logging.getLogger(__name__)

DEFAULT_WORKERS_PER_TELESCOPE = 4
"""Requests in flight at once per telescope."""


def telescope_of(request: Any) -> str:
    """Default routing: ``MWA`` for MWA requests, ``ATCA`` for ATCA ones."""
    if isinstance(request, MwaRequest):
        return "MWA"
    if isinstance(request, AtcaRequest | AtcaCancel):
        return "ATCA"
    raise ValueError(f"no telescope for a {type(request).__name__}")


class TelescopeDispatcher:
    """Submit requests, get futures (and optional callbacks, run on the worker thread)."""

    def __init__(
        self,
        clients: Mapping[str, TelescopeClient],
        *,
        route: Callable[[Any], str] = telescope_of,
        workers_per_telescope: int = DEFAULT_WORKERS_PER_TELESCOPE,
    ) -> None:
        self._clients = dict(clients)
        self._route = route
        self._pools = {
            name: ThreadPoolExecutor(max_workers=workers_per_telescope, thread_name_prefix=f"telescope-{name}")
            for name in self._clients
        }
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self, request: Any, callback: Callable[[TelescopeResult], None] | None = None, *, telescope: str | None = None
    ) -> Future[TelescopeResult]:
        """Queue ``request`` for its telescope; returns at once. The future never raises."""
        name = telescope or self._route(request)
        with self._lock:
            if self._closed:
                raise RuntimeError("the telescope dispatcher is shut down")
            pool = self._pools[name]
            client = self._clients[name]
        return pool.submit(self._run, client, request, callback)

    @staticmethod
    def _run(
        client: TelescopeClient, request: Any, callback: Callable[[TelescopeResult], None] | None
    ) -> TelescopeResult:
        try:
            result = client.send(request)
        except Exception as exc:  # a client bug still ends as a recorded error
            log.exception("telescope client failed")
            now = datetime.now(UTC)
            telescope, kind, pretend, record = describe_request(request)
            result = TelescopeResult(
                ok=False,
                telescope=telescope,
                kind=kind,
                pretend=pretend,
                pretend_label="",
                request=record,
                started_utc=now,
                finished_utc=now,
                attempts=0,
                error=f"Internal error in the {telescope} client: {type(exc).__name__}",
            )
        if callback is not None:
            try:
                callback(result)
            except Exception:
                log.exception("telescope result callback failed")
        return result

    def shutdown(self, wait: bool = True) -> None:
        """Stop accepting requests; with ``wait`` let queued ones finish (each is bounded by its timeout)."""
        with self._lock:
            self._closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=not wait)

    def __enter__(self) -> TelescopeDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
