"""core.redact: URLs, free text and nested objects lose their secrets and keep everything else."""

from __future__ import annotations

import logging

import pytest

from core.redact import (
    MASK,
    RedactingFilter,
    install_log_redaction,
    redact_obj,
    redact_text,
    redact_url,
    register_secret,
    url_secrets,
)

SLACK = "https://hooks.slack.com/services/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"


@pytest.fixture(autouse=True)
def _no_env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_URL", "VIGIL_WEBHOOK_URL",
                 "PROMETHEUS_PASSWORD", "PROMETHEUS_BEARER_TOKEN", "VIGIL_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("url", "expected"), [
    ("postgresql://vigil:s3cr3t-pw@db.internal:5432/vigil", f"postgresql://vigil:{MASK}@db.internal:5432/vigil"),
    ("postgresql+psycopg://vigil:p%40ss%2Fw0rd@db/vigil", f"postgresql+psycopg://vigil:{MASK}@db/vigil"),
    ("https://ghp_A1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvWx@github.com/o/r.git", f"https://{MASK}@github.com/o/r.git"),
    ("http://prom:9090/api/v1/query?query=up&access_token=abcd1234", f"http://prom:9090/api/v1/query?query=up&access_token={MASK}"),
    ("https://bucket.s3.amazonaws.com/logs/a.jsonl?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=deadbeef99&X-Amz-Expires=60",
     f"https://bucket.s3.amazonaws.com/logs/a.jsonl?X-Amz-Credential={MASK}&X-Amz-Signature={MASK}&X-Amz-Expires=60"),
    ("https://acct.blob.core.windows.net/c/f.parquet?sv=2020&sig=abc%2Bdef", f"https://acct.blob.core.windows.net/c/f.parquet?sv=2020&sig={MASK}"),
    (SLACK, f"https://hooks.slack.com/services/{MASK}/{MASK}/{MASK}"),
    ("https://chat.example/hooks/abc123secret", f"https://chat.example/hooks/{MASK}"),
    ("https://api.example/v1/files/aZ3kQ9xR2mT7pL5vN8cB4dF6/download", f"https://api.example/v1/files/{MASK}/download"),
])
def test_redact_url_masks_userinfo_tokens_and_token_like_path_parts(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9090",
    "https://prometheus.example:9090/api/v1/query_range?query=sum(rate(x[5m]))&step=60",
    "sqlite:////var/lib/vigil/data/vigil.db",
    "sqlite:///data/mlflow/mlflow.db",
    "postgresql://vigil@db/vigil",
    "s3://inference-logs/fraud-detector/2026-11-30/part-0001.parquet",
    "mlflow-artifacts:/1/0a1b2c3d4e5f67890a1b2c3d4e5f6789/artifacts/model",
    "https://mlflow.example/#/models/fraud-detector/versions/12",
    "file:///srv/logs/model-a/inference-2026-11-30T12-00-00.jsonl",
])
def test_ordinary_urls_are_left_alone(url: str) -> None:
    assert redact_url(url) == url


def test_redact_text_finds_urls_key_values_and_bearer_tokens_in_exception_messages() -> None:
    message = ("OperationalError: connection to 'postgresql://vigil:hunter2pw@10.0.0.5/vigil' failed; "
               "retry with password=hunter3pw or api_key: 'k-99887766' (Authorization: Bearer eyJhbGciOi.J9x)")
    out = redact_text(message)
    for secret in ("hunter2pw", "hunter3pw", "k-99887766", "eyJhbGciOi.J9x"):
        assert secret not in out
    assert "postgresql://vigil:***@10.0.0.5/vigil" in out and "OperationalError: connection to" in out


def test_redact_text_keeps_ordinary_messages_and_paths() -> None:
    text = ("KeyError: 'latency_ms' in /srv/logs/model-a/2026-11-30.jsonl line 12: monkey: 3, "
            "status=failed, keys=4, http://127.0.0.1:5000/api/2.0/mlflow/registered-models/get?name=a")
    assert redact_text(text) == text


def test_redact_obj_walks_nested_details_and_masks_secret_named_keys() -> None:
    details = {"location": "https://u:pw-9f8e7d@logs.example/a?token=zz11yy22", "password": "plain-pw",
               "nested": [{"url": SLACK}, 3, None], "count": 5, "ok": True}
    out = redact_obj(details)
    flat = repr(out)
    for secret in ("pw-9f8e7d", "zz11yy22", "plain-pw", "Xy7QpL2mNa9RtV4sWc8KdE1f", "T0ABCDE12"):
        assert secret not in flat
    assert out["count"] == 5 and out["ok"] is True and out["nested"][1:] == [3, None]


def test_known_secret_settings_are_masked_wherever_they_appear(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://vigil:Pl4nted-DB-pw@127.0.0.1/vigil")
    monkeypatch.setenv("PROMETHEUS_BEARER_TOKEN", "prom-bearer-0042")
    monkeypatch.setenv("VIGIL_WEBHOOK_URL", "http://127.0.0.1:9/services/T0001/B0002/plainwebhookpath")
    # requests puts the webhook path (no scheme, no host) into its ConnectionError message
    text = ("ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
            "/services/T0001/B0002/plainwebhookpath (Caused by ...); the password was Pl4nted-DB-pw, "
            "token prom-bearer-0042")
    out = redact_text(text)
    for secret in ("Pl4nted-DB-pw", "prom-bearer-0042", "plainwebhookpath", "T0001/B0002"):
        assert secret not in out
    assert "HTTPConnectionPool(host='127.0.0.1', port=9)" in out


def test_url_secrets_lists_raw_and_decoded_forms() -> None:
    found = url_secrets("postgresql://vigil:p%40ssw0rd@db/vigil")
    assert "p%40ssw0rd" in found and "p@ssw0rd" in found


def test_register_secret_masks_a_literal() -> None:
    register_secret("literal-secret-4711")
    assert redact_text("value literal-secret-4711 here") == f"value {MASK} here"


def test_log_records_are_redacted_by_the_filter_and_the_record_factory(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.handler.addFilter(RedactingFilter())
    log = logging.getLogger("vigil.test.redact")
    with caplog.at_level(logging.INFO):
        log.info("connecting to %s", "https://user:log-pw-5566@example.org/x")
        try:
            raise RuntimeError("token=tb-8899aabb failed")
        except RuntimeError:
            log.exception("boom")
    text = caplog.text
    assert "log-pw-5566" not in text and "tb-8899aabb" not in text
    assert "https://user:***@example.org/x" in text and "RuntimeError" in text


def test_bare_key_and_auth_words_in_messages_are_not_secrets() -> None:
    text = "models[0]: unknown key: latency; auth: local; secret_key=sk-55aa66bb"
    assert redact_text(text) == f"models[0]: unknown key: latency; auth: local; secret_key={MASK}"


def test_a_message_cut_inside_a_known_secret_loses_the_cut_off_part(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_PASSWORD", "Cut-Off-Secret-1234")
    assert redact_text("login failed with Cut-Off-Sec") == f"login failed with {MASK}"


def test_extra_secrets_of_a_url_at_hand_are_masked_in_foreign_messages() -> None:
    uri = "http://mlflow-user:mlf-pw-2468@127.0.0.1:5999"
    message = "InvalidURL: nonnumeric port: 'mlf-pw-2468@127.0.0.1:5999'"
    assert "mlf-pw-2468" not in redact_text(message, secrets=url_secrets(uri))
