"""Owns the health-change webhook: when a model's health level changes, what is sent (Slack-compatible
JSON), how a send is retried (tenacity), and what is owed when the webhook is down.

- Only a change of level notifies (ok -> warning, warning -> critical, critical -> ok, ...).
  The first level ever seen for a model notifies only when it is not ``ok``.
- A send is retried by tenacity with exponential backoff (``retries`` attempts after the first,
  delays ``backoff * 2**n`` seconds; a 4xx other than 429 is final). When the webhook stays
  down the change is kept as *pending* in ``notification_state`` and sent at the next run; the
  health job itself carries on. The stored and logged error is redacted (core.redact):
  a webhook URL's path is its secret.
- The payload is Slack's incoming-webhook format: ``{"text": ..., "attachments": [{"color",
  "fields"}]}`` which Mattermost, Rocket.Chat and most chat tools accept too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from core.db import write_scope
from core.redact import redact_text
from monitoring.health.tables import NotificationState

log = logging.getLogger("vigil.notify")
COLORS = {"ok": "#2eb886", "warning": "#daa038", "critical": "#a30200", "no_data": "#888888"}


@dataclass(frozen=True)
class NotifyOutcome:
    changed: bool
    sent: bool
    error: str | None = None
    previous: str | None = None


def payload(model: str, version: str | None, previous: str | None, level: str, score: float | None,
            reasons: list[str], at: datetime) -> dict[str, Any]:
    arrow = f"{previous or 'unknown'} -> {level}"
    score_text = "no data" if score is None else f"{score:.0f}/100"
    text = f"[Vigil] {model}{' v' + version if version else ''}: health {arrow} (score {score_text})"
    fields = [{"title": "Reason", "value": r, "short": False} for r in reasons[:5]]
    return {"text": text,
            "attachments": [{"color": COLORS.get(level, "#888888"), "fallback": text,
                             "fields": fields, "ts": int(at.timestamp())}]}


class _SendError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class _Retryable(_SendError):
    """A send that may succeed if tried again (a connection error, 5xx, 429)."""


class _Final(_SendError):
    """A refusal that retrying will not change (4xx other than 429)."""


def send(url: str, body: dict[str, Any], *, retries: int = 3, backoff: float = 0.5, timeout: float = 5.0,
         sleep: Callable[[float], None] = time.sleep) -> str | None:
    """POST ``body``; returns None on success or the last error message.

    tenacity retries a connection error, a 5xx or a 429 up to ``retries`` times after the first
    attempt, waiting ``backoff * 2**n`` seconds before retry n+1 (``sleep`` does the waiting, so a
    test can record it); any other 4xx is final at once.
    """

    def attempt() -> None:
        try:
            response = requests.post(url, json=body, timeout=timeout)
        except requests.RequestException as exc:  # requests names the webhook path: redact
            raise _Retryable(redact_text(f"{type(exc).__name__}: {exc}")[:300]) from None
        if 200 <= response.status_code < 300:
            return
        error = redact_text(f"HTTP {response.status_code}: {response.text}")[:200]
        if 400 <= response.status_code < 500 and response.status_code != 429:
            raise _Final(error)  # the webhook refuses this payload: retrying will not help
        raise _Retryable(error)

    retrying = Retrying(stop=stop_after_attempt(retries + 1),
                        wait=wait_exponential(multiplier=backoff, exp_base=2, min=0),
                        retry=retry_if_exception_type(_Retryable), sleep=sleep, reraise=True)
    try:
        retrying(attempt)
    except _SendError as exc:
        return exc.error
    return None


def notify_level(ctx: Any, model: str, version: str | None, level: str, score: float | None,
                 reasons: list[str], at: datetime, *, url: str | None = None, retries: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> NotifyOutcome:
    """Send a notification if ``level`` differs from the last level notified (or one is owed)."""
    url = url if url is not None else ctx.settings.webhook_url
    with write_scope(ctx.engine) as session:
        state = session.get(NotificationState, model)
        if state is None:
            state = NotificationState(model=model, level=None, observed_level=None, pending=False,
                                      attempts=0, last_error="")
            session.add(state)
            first = True
        else:
            first = state.level is None and not state.pending
        previous = state.level
        changed = (level != previous) and not (first and level in ("ok", "no_data"))
        if state.observed_level != level:
            state.observed_level = level
            state.changed_at = at
        if not changed:
            if first:
                state.level = level
            state.pending = False
            return NotifyOutcome(False, False, None, previous)
        if not url:
            state.level = level  # nowhere to send: remember the level, owe nothing
            state.pending = False
            return NotifyOutcome(True, False, "no webhook configured", previous)
    error = send(url, payload(model, version, previous, level, score, reasons, at), retries=retries,
                 backoff=backoff, sleep=sleep)
    with write_scope(ctx.engine) as session:
        state = session.get(NotificationState, model)
        if error is None:
            state.level, state.pending, state.attempts, state.last_error = level, False, 0, ""
            state.last_sent_at = datetime.now(UTC)
        else:
            state.pending = True
            state.attempts = (state.attempts or 0) + 1
            state.last_error = error
            log.warning("webhook notification for %s failed (%s); will retry at the next run", model, error)
    return NotifyOutcome(True, error is None, error, previous)
