"""The Prometheus adapter: instant and range queries with auth, TLS, timeouts and clear errors.

Connection options (``PrometheusConfig.from_env`` reads them; ``PROMETHEUS_URL`` is also
``settings.prometheus_url``):

| variable | meaning |
|---|---|
| PROMETHEUS_URL | base URL, e.g. ``https://prometheus.example:9090`` |
| PROMETHEUS_BEARER_TOKEN | sent as ``Authorization: Bearer ...`` |
| PROMETHEUS_USERNAME / PROMETHEUS_PASSWORD | HTTP basic auth |
| PROMETHEUS_CA_FILE | CA bundle to verify the server's certificate |
| PROMETHEUS_INSECURE | 1/true: do not verify TLS (testing only) |
| PROMETHEUS_TIMEOUT | seconds per request (default 10) |

The client is ``prometheus_api_client.PrometheusConnect`` configured with our own
``requests.Session`` (auth, TLS, few retries). Its ``custom_query`` drops Prometheus'
``warnings`` and the ``errorType`` of a refused query, so the queries go through the same
session to ``/api/v1/query`` and ``/api/v1/query_range`` and keep both: warnings are collected
on :attr:`PrometheusSource.warnings`; a refused query raises ``InvalidInput`` with Prometheus'
own message, an unreachable or failing server ``ServiceUnavailable``.

Times must be timezone-aware. A range query never asks for more than ``MAX_POINTS`` (11,000,
Prometheus' limit per series) points: :func:`step_for` widens the step, :func:`chunks` splits a
long range at a fixed step into pieces that each stay under the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from core.errors import InvalidInput, ServiceUnavailable
from core.redact import redact_text, redact_url

MAX_POINTS = 11_000


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{what}: a timezone-aware time is required, got {moment.isoformat()}")
    return moment


def points(start: datetime, end: datetime, step_s: float) -> int:
    """How many samples Prometheus returns per series for a range query."""
    span = (end - start).total_seconds()
    return int(math.floor(span / step_s)) + 1


def step_for(start: datetime, end: datetime, *, max_points: int = MAX_POINTS, min_step_s: float = 1.0,
             nice: bool = True) -> float:
    """The smallest step (seconds) keeping the query at or under ``max_points`` per series.

    With ``nice`` the step is rounded up to a whole number of seconds (and of minutes once
    above a minute) so the samples line up with wall-clock time.
    """
    span = max((end - start).total_seconds(), 0.0)
    step = max(min_step_s, span / (max_points - 1) if max_points > 1 else span)
    if nice:
        step = float(math.ceil(step))
        if step > 60:
            step = float(math.ceil(step / 60.0) * 60)
    while points(start, end, step) > max_points:
        step += 1.0
    return step


def chunks(start: datetime, end: datetime, step_s: float, *, max_points: int = MAX_POINTS) -> list[tuple[datetime, datetime]]:
    """Split [start, end] at a fixed step into ranges of at most ``max_points`` samples each,
    without overlap (each chunk starts one step after the previous one ended)."""
    if end < start:
        return []
    per_chunk = timedelta(seconds=step_s * (max_points - 1))
    out = []
    cursor = start
    while cursor <= end:
        stop = min(cursor + per_chunk, end)
        out.append((cursor, stop))
        cursor = stop + timedelta(seconds=step_s)
    return out


@dataclass(frozen=True)
class PrometheusConfig:
    url: str
    bearer_token: str | None = None
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_env(cls, url: str | None = None, env: Mapping[str, str] | None = None) -> PrometheusConfig:
        from core.settings import Settings

        settings = Settings.from_env(env)
        url = url or settings.prometheus_url or ""
        if not url:
            raise InvalidInput("no Prometheus URL (set PROMETHEUS_URL or pass --prometheus-url)")
        return cls(url=url.rstrip("/"), bearer_token=settings.prometheus_bearer_token,
                   username=settings.prometheus_username, password=settings.prometheus_password,
                   ca_file=settings.prometheus_ca_file, insecure=settings.prometheus_insecure,
                   timeout_s=settings.prometheus_timeout_seconds)


@dataclass
class Series:
    labels: dict[str, str]
    samples: list[tuple[datetime, float | None]]


@dataclass
class PrometheusSource:
    config: PrometheusConfig
    warnings: list[str] = field(default_factory=list)
    queries: int = 0

    def __post_init__(self) -> None:
        from prometheus_api_client import PrometheusConnect

        session = requests.Session()
        session.verify = False if self.config.insecure else (self.config.ca_file or True)
        retry = Retry(total=1, connect=1, read=0, backoff_factor=0.1, status_forcelist=(502, 503, 504),
                      raise_on_status=False,
                      allowed_methods=("GET", "POST"))
        session.mount(self.config.url, HTTPAdapter(max_retries=retry))
        headers = {"Authorization": f"Bearer {self.config.bearer_token}"} if self.config.bearer_token else None
        auth = (self.config.username, self.config.password or "") if self.config.username else None
        session.auth = auth
        if headers:
            session.headers.update(headers)
        self._session = session
        self.client = PrometheusConnect(url=self.config.url, headers=headers, auth=auth,
                                        session=session, timeout=self.config.timeout_s, retry=retry)

    @property
    def where(self) -> str:
        """The base URL as messages show it: credentials and tokens masked (core.redact)."""
        return redact_url(self.config.url)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PrometheusSource:
        return cls(PrometheusConfig(url=url.rstrip("/"), **options))

    # ---- HTTP --------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, Any]) -> Any:
        url = f"{self.config.url}{path}"
        self.queries += 1
        try:
            response = self._session.get(url, params=params, timeout=self.config.timeout_s)
        except requests.exceptions.Timeout:
            raise ServiceUnavailable(f"Prometheus at {self.where} did not answer within "
                                     f"{self.config.timeout_s:g} s") from None
        except requests.exceptions.SSLError as exc:
            raise ServiceUnavailable(
                f"Prometheus at {self.where}: TLS error: {redact_text(str(exc))}") from None
        except requests.exceptions.RequestException as exc:
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            if isinstance(reason, (ReadTimeoutError, ConnectTimeoutError)) and not isinstance(
                    reason, NewConnectionError):  # urllib3 derives 'refused' from ConnectTimeoutError
                raise ServiceUnavailable(f"Prometheus at {self.where} did not answer within "
                                         f"{self.config.timeout_s:g} s") from None
            why = "connection refused or host unreachable" if isinstance(exc, requests.exceptions.ConnectionError) \
                else type(exc).__name__
            raise ServiceUnavailable(f"Prometheus at {self.where} does not answer ({why})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for warning in body.get("warnings") or []:
                if warning not in self.warnings:
                    self.warnings.append(str(warning))
        if response.status_code in (401, 403):
            raise ServiceUnavailable(f"Prometheus at {self.where} refused the credentials "
                                     f"(HTTP {response.status_code})")
        if isinstance(body, dict) and body.get("status") == "error":
            message = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
            if response.status_code in (400, 422):
                raise InvalidInput(f"Prometheus refused the query {params.get('query')!r}: {message}")
            raise ServiceUnavailable(f"Prometheus at {self.where} failed: {message}")
        if response.status_code != 200 or not isinstance(body, dict):
            raise ServiceUnavailable(f"Prometheus at {self.where} answered HTTP "
                                     f"{response.status_code}: {redact_text(response.text)[:200]}")
        return body.get("data")

    def ping(self) -> None:
        """Raise ServiceUnavailable unless Prometheus answers its build-info endpoint."""
        self._get("/api/v1/status/buildinfo", {})

    # ---- queries -----------------------------------------------------------------------
    def instant(self, query: str, at: datetime) -> list[tuple[dict[str, str], float | None]]:
        at = _aware(at, "query time")
        data = self._get("/api/v1/query", {"query": query, "time": f"{at.timestamp():.3f}"})
        kind = data.get("resultType")
        result = data.get("result")
        if kind == "scalar":
            return [({}, _num(result[1]))]
        if kind != "vector":
            raise InvalidInput(f"query {query!r} returned a {kind}, expected an instant vector")
        return [(item.get("metric", {}), _num(item["value"][1])) for item in result]

    def scalar(self, query: str, at: datetime) -> float | None:
        """The single value of ``query`` at ``at``; ``None`` for an empty result or NaN."""
        rows = self.instant(query, at)
        if not rows:
            return None
        if len(rows) > 1:
            raise InvalidInput(f"query {query!r} returned {len(rows)} series; aggregate it (e.g. sum(...))")
        return rows[0][1]

    def range(self, query: str, start: datetime, end: datetime, step_s: float | None = None, *,
              max_points: int = MAX_POINTS) -> list[Series]:
        """A range query; ``step_s`` None picks :func:`step_for`; long ranges are chunked."""
        start, end = _aware(start, "range start"), _aware(end, "range end")
        if end < start:
            raise InvalidInput("range end is before its start")
        step = step_s or step_for(start, end, max_points=max_points)
        merged: dict[tuple, Series] = {}
        for lo, hi in chunks(start, end, step, max_points=max_points):
            data = self._get("/api/v1/query_range", {"query": query, "start": f"{lo.timestamp():.3f}",
                                                     "end": f"{hi.timestamp():.3f}", "step": f"{step:g}"})
            for item in data.get("result", []):
                key = tuple(sorted(item.get("metric", {}).items()))
                series = merged.setdefault(key, Series(dict(item.get("metric", {})), []))
                series.samples.extend((datetime.fromtimestamp(float(t), tz=lo.tzinfo), _num(v))
                                      for t, v in item.get("values", []))
        return list(merged.values())

    def has_series(self, selector: str, at: datetime) -> bool:
        try:
            return bool(self.instant(f"count({selector})", at))
        except InvalidInput:
            return False


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number
