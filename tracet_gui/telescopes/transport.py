"""One HTTP exchange over urllib with an explicit timeout and a safe retry policy.

Retry policy (reference §10.7 asks for retries; blind retries of a trigger are unsafe):

* **Connection refused** – the server never saw a byte, so any request (trigger included) is retried,
  at most ``max_attempts`` times.
* **Timeout, dropped connection, HTTP 5xx** – the server may already have acted on the request (an MWA
  trigger that timed out may still have rescheduled the telescope; a repeated ATCA request may be
  scheduled twice). Only idempotent requests (``busy``, ``vcsfree``, ``obslist``) are retried; a trigger
  fails at once and the operator decides.
* **HTTP 4xx** – never retried (the request itself is wrong).
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tracet_gui import __version__
from tracet_gui.telescopes.redaction import Redactor

USER_AGENT = f"tracet-gui/{__version__}"
"""User-Agent of every request we send."""

DEFAULT_MAX_ATTEMPTS = 3
"""Attempts for a retryable failure (first try included)."""

DEFAULT_RETRY_DELAY_S = 0.5
"""Pause before the second attempt (s); doubled before each further one."""

ERROR_BODY_CHARS = 500
"""How much of an error page is kept in the operator's message (characters)."""


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: str
    attempts: int

    def json(self) -> Any:
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class TransportError(Exception):
    """The exchange failed; ``str(exc)`` is redacted and meant for the operator."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        timed_out: bool = False,
        status: int | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.timed_out = timed_out
        self.status = status
        self.body = body


def build_url(url: str, query: Mapping[str, str] | None) -> str:
    return f"{url}?{urlencode(query)}" if query else url


def exchange(
    method: str,
    url: str,
    *,
    timeout_s: float,
    redactor: Redactor,
    query: Mapping[str, str] | None = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    idempotent: bool,
    what: str,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    retry_delay_s: float = DEFAULT_RETRY_DELAY_S,
) -> HttpAnswer:
    """Send one request; return the answer of any status < 400 or raise :class:`TransportError`.

    ``what`` names the service in messages (e.g. ``MWA web service``).
    """
    full_url = build_url(url, query)
    data = urlencode(form).encode("utf-8") if form is not None else None
    all_headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if data is not None:
        all_headers["Content-Type"] = "application/x-www-form-urlencoded"
    all_headers.update(headers or {})
    shown_url = redactor.text(full_url)
    attempts = 0
    delay_s = retry_delay_s
    while True:
        attempts += 1
        request = urllib.request.Request(full_url, data=data, headers=all_headers, method=method)
        retryable: bool
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                body = response.read().decode(response.headers.get_content_charset() or "utf-8", "replace")
                return HttpAnswer(response.status, body, attempts)
        except urllib.error.HTTPError as exc:
            body = _read_error_body(exc)
            shown = redactor.text(body[:ERROR_BODY_CHARS])
            error = TransportError(
                f"{what} answered HTTP {exc.code} {exc.reason} for {method} {shown_url}: {shown}".rstrip(": "),
                attempts=attempts,
                status=exc.code,
                body=redactor.text(body),
            )
            retryable = idempotent and exc.code >= 500
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, ConnectionRefusedError):
                error = TransportError(
                    f"Could not connect to {what} at {shown_url} (connection refused).", attempts=attempts
                )
                retryable = True  # nothing was sent
            elif isinstance(reason, TimeoutError):
                error = TransportError(
                    f"{what} at {shown_url} did not accept the connection within {timeout_s:g} s.",
                    attempts=attempts,
                    timed_out=True,
                )
                retryable = idempotent
            else:
                text = redactor.text(str(reason))
                error = TransportError(f"Could not reach {what} at {shown_url}: {text}", attempts=attempts)
                retryable = idempotent
        except TimeoutError:
            error = TransportError(
                f"{what} did not answer {method} {shown_url} within {timeout_s:g} s"
                + ("." if idempotent else "; it may or may not have acted on the request, so it was not repeated."),
                attempts=attempts,
                timed_out=True,
            )
            retryable = idempotent
        except (OSError, http.client.HTTPException) as exc:
            error = TransportError(
                f"Connection to {what} at {shown_url} failed: {redactor.exception(exc)}", attempts=attempts
            )
            retryable = idempotent
        if not retryable or attempts >= max_attempts:
            if attempts > 1:
                raise TransportError(
                    f"{error} (gave up after {attempts} attempts)",
                    attempts=attempts,
                    timed_out=error.timed_out,
                    status=error.status,
                    body=error.body,
                )
            raise error
        time.sleep(delay_s)
        delay_s *= 2


def _read_error_body(exc: urllib.error.HTTPError) -> str:
    try:
        return exc.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException):
        return ""
