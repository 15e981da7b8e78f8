"""The Prometheus adapter against a local stand-in server: auth headers, warnings surfaced,
refused queries and server errors turned into clear project errors."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from core.errors import InvalidInput, ServiceUnavailable
from monitoring.slo.prometheus import PrometheusConfig, PrometheusSource

AT = datetime(2026, 11, 1, tzinfo=UTC)


class _Fake:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.headers.append(dict(self.headers))
                query = parse_qs(urlparse(self.path).query).get("query", [""])[0]
                if query == "bad(":
                    status, body = 400, {"status": "error", "errorType": "bad_data", "error": "parse error"}
                elif query == "boom":
                    status, body = 503, {"status": "error", "errorType": "unavailable", "error": "overloaded"}
                elif query == "many":
                    status, body = 200, {"status": "success", "data": {"resultType": "vector", "result": [
                        {"metric": {"a": "1"}, "value": [1, "1"]}, {"metric": {"a": "2"}, "value": [1, "2"]}]}}
                else:
                    status, body = 200, {"status": "success", "warnings": ["PromQL info: metric might not be a counter"],
                                         "data": {"resultType": "vector",
                                                  "result": [{"metric": {}, "value": [1, "NaN" if query == "nan" else "0.5"]}]}}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake():  # type: ignore[no-untyped-def]
    server = _Fake()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_bearer_and_basic_auth(fake) -> None:  # type: ignore[no-untyped-def]
    PrometheusSource(PrometheusConfig(fake.url, bearer_token="s3cret")).scalar("x", AT)
    assert fake.headers[-1]["Authorization"] == "Bearer s3cret"
    PrometheusSource(PrometheusConfig(fake.url, username="u", password="p")).scalar("x", AT)
    assert fake.headers[-1]["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


def test_values_warnings_and_errors(fake) -> None:  # type: ignore[no-untyped-def]
    source = PrometheusSource.from_url(fake.url)
    assert source.scalar("x", AT) == 0.5
    assert source.warnings == ["PromQL info: metric might not be a counter"]
    assert source.scalar("nan", AT) is None  # 0/0 in PromQL is no data, not NaN
    with pytest.raises(InvalidInput, match="bad_data: parse error"):
        source.scalar("bad(", AT)
    with pytest.raises(ServiceUnavailable, match="overloaded"):
        source.scalar("boom", AT)
    with pytest.raises(InvalidInput, match="2 series"):
        source.scalar("many", AT)


def test_config_from_env() -> None:
    cfg = PrometheusConfig.from_env(env={"PROMETHEUS_URL": "https://p:9090/", "PROMETHEUS_CA_FILE": "/ca.pem",
                                         "PROMETHEUS_TIMEOUT": "3", "PROMETHEUS_INSECURE": "false"})
    assert cfg.url == "https://p:9090" and cfg.ca_file == "/ca.pem" and cfg.timeout_s == 3.0
    assert PrometheusSource(cfg)._session.verify == "/ca.pem"
    with pytest.raises(InvalidInput):
        PrometheusConfig.from_env(env={})
