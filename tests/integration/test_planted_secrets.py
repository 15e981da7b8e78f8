"""A planted-secrets run (issue 8 item 3): credentials in every URL and secret setting, the jobs
run as cron runs them, the pages rendered; then no secret may be found in any table (every
column of every row), any line the jobs printed or logged, any page, or any file of the data
directory.

Everything points at 127.0.0.1 ports where nothing listens (MLflow, Prometheus, the webhook,
a remote log location), so every secret also travels through the error paths, where exception
messages quote URLs. PostgreSQL's trust authentication accepts any password, so the real
database URL carries one too.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.logs.loghelpers import add_user, diabetes_record, write_jsonl

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery"

# Letters and digits only: no markdown escape or HTML entity on a page can split them, so a plain
# substring search finds every copy.
DB_PW = "PlantedDbPw4471"
SECRETS = {
    "mlflow url password": "PlantedMlflowPw8823",
    "mlflow url token": "PlantedMlflowTok5531",
    "prometheus url password": "PlantedPromUrlPw6612",
    "prometheus url token": "PlantedPromTok2290",
    "PROMETHEUS_PASSWORD": "PlantedPromBasic7714",
    "PROMETHEUS_BEARER_TOKEN": "PlantedPromBearer3307",
    "webhook team": "T0PLANT9Q",
    "webhook channel": "B0PLANT7W",
    "webhook secret": "PlantedHookSecret0042",
    "log location password": "PlantedLogPw9051",
    "log location signature": "PlantedLogSig1187",
}


PLANTED_ENV = ("VIGIL_DATA_DIR", "VIGIL_CONFIG", "DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_URL",
               "PROMETHEUS_USERNAME", "PROMETHEUS_PASSWORD", "PROMETHEUS_BEARER_TOKEN", "PROMETHEUS_TIMEOUT",
               "VIGIL_WEBHOOK_URL", "VIGIL_JOB_USER", "VIGIL_DEMO", "VIGIL_AUTH_MODE")


def _navigation_as_on_a_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """As tests/app/conftest.py: every AppTest run goes through app.py, as on a server."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_password(url: str, password: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(password=password).render_as_string(hide_password=False)


@pytest.fixture
def planted(tmp_path: Path, db_url: str) -> Iterator[dict[str, Any]]:
    """An installation whose every URL and secret setting carries a planted secret."""
    from core.context import AppContext
    from core.settings import Settings
    from governance import access

    secrets = dict(SECRETS)
    database_url = db_url
    if not db_url.startswith("sqlite"):
        database_url = _with_password(db_url, DB_PW)
        secrets["database password"] = DB_PW
    data = tmp_path / "data"
    config = yaml.safe_load((REPO / "config" / "models.yaml").read_text())
    diabetes = next(m for m in config["models"] if m["name"] == "diabetes")
    remote = {**diabetes, "name": "remote", "registered_model": "remote-gbr",
              "logs": (f"http://logger:{SECRETS['log location password']}@127.0.0.1:{_dead_port()}"
                       f"/logs/remote/?sig={SECRETS['log location signature']}")}
    config["models"] = [diabetes, remote]
    config_file = tmp_path / "models.yaml"
    config_file.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(data),
        "VIGIL_CONFIG": str(config_file),
        "DATABASE_URL": database_url,
        "MLFLOW_TRACKING_URI": (f"http://mlf:{SECRETS['mlflow url password']}@127.0.0.1:{_dead_port()}"
                                f"/?token={SECRETS['mlflow url token']}"),
        "PROMETHEUS_URL": (f"http://scraper:{SECRETS['prometheus url password']}@127.0.0.1:{_dead_port()}"
                           f"/prom?access_token={SECRETS['prometheus url token']}"),
        "PROMETHEUS_USERNAME": "scraper",
        "PROMETHEUS_PASSWORD": SECRETS["PROMETHEUS_PASSWORD"],
        "PROMETHEUS_BEARER_TOKEN": SECRETS["PROMETHEUS_BEARER_TOKEN"],
        "PROMETHEUS_TIMEOUT": "2",
        "VIGIL_WEBHOOK_URL": (f"http://127.0.0.1:{_dead_port()}/services/{SECRETS['webhook team']}/"
                              f"{SECRETS['webhook channel']}/{SECRETS['webhook secret']}"),
        "VIGIL_JOB_USER": "scheduler",
        "VIGIL_DEMO": "false",
        "VIGIL_AUTH_MODE": "local",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": "2",
    }
    ctx = AppContext.create(Settings.from_env(env))
    add_user(ctx, "scheduler", "operator")
    access.bootstrap_admin(ctx, "alice", PASSWORD)
    # an hour of logs, half of them errors: the health level changes, so the webhook is called
    now = datetime.now(UTC).replace(microsecond=0)
    records = []
    for i in range(240):
        record = diabetes_record(i, now - timedelta(minutes=60) + timedelta(seconds=15 * i))
        if i % 2:
            record["status"] = "error"
        records.append(record)
    write_jsonl(data / "logs" / "diabetes" / "hour.jsonl", records)
    yield {"env": env, "ctx": ctx, "secrets": secrets, "data": data}
    ctx.engine.dispose()


def _job(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    return f"$ {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"


def _all_rows(engine: Any) -> Iterator[tuple[str, str]]:
    from sqlalchemy import MetaData

    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(table.select()):
                yield table.name, repr(tuple(row))


def _page_text(at: Any) -> str:
    """Everything rendered in the AppTest tree, as its protobuf text (dataframes included)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for child in children.values():
                walk(child)

    walk(at._tree)
    return "\n".join(parts)


def _found(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value in text]


@pytest.mark.integration
@pytest.mark.slow
def test_no_planted_secret_reaches_a_table_a_log_a_page_or_a_file(
        planted: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from governance.identity import authenticate
    from tests.app.conftest import new_app
    from ui import state

    env, secrets = planted["env"], planted["secrets"]
    # -- the jobs, as cron runs them ----------------------------------------------------------
    outputs = [
        _job(env, "jobs.ingest", "--model", "diabetes"),
        _job(env, "jobs.ingest", "--model", "remote"),
        _job(env, "jobs.drift", "--model", "diabetes"),
        _job(env, "jobs.slo", "--model", "diabetes"),
        _job(env, "jobs.health", "--model", "diabetes"),
        _job(env, "jobs.health", "--model", "remote"),
        _job(env, "jobs.audit", "verify"),
    ]
    printed = "\n".join(outputs)
    assert "-> 0" in outputs[0], outputs[0]  # the local logs were ingested
    assert "unavailable: Prometheus at http://scraper:***@127.0.0.1:" in outputs[3], outputs[3]

    # -- the pages, signed in as the admin --------------------------------------------------------
    for key in PLANTED_ENV:
        monkeypatch.setenv(key, env[key])
    monkeypatch.chdir(REPO)
    _navigation_as_on_a_server(monkeypatch)
    import streamlit as st

    st.cache_data.clear()
    caplog.set_level(logging.INFO)
    pages: dict[str, str] = {}
    token = authenticate(planted["ctx"], "alice", PASSWORD).token
    for path in ("pages/overview.py", "pages/drift.py", "pages/slos.py", "pages/system.py", "pages/audit.py"):
        at = new_app()
        at.session_state[state.AUTH_TOKEN] = token
        at.run()
        at.switch_page(path).run()
        assert not at.exception, (path, [e.value for e in at.exception])
        pages[path] = _page_text(at)
    assert "Services" in pages["pages/system.py"] and "127.0.0.1" in pages["pages/system.py"]

    # -- the pre-sign-in page and a job when the database is unreachable or its driver missing ------
    for case, bad_db in (("unreachable", f"postgresql://vigil:{DB_PW}@127.0.0.1:{_dead_port()}/vigil"),
                         ("no driver", f"mysql+nosuchdriver://vigil:{DB_PW}@127.0.0.1/vigil")):
        monkeypatch.setenv("DATABASE_URL", bad_db)
        at = new_app().run()
        pages[f"start-up error, database {case}"] = _page_text(at)
        assert "Vigil cannot start" in pages[f"start-up error, database {case}"]
        printed += _job({**env, "DATABASE_URL": bad_db}, "jobs.audit", "verify")
    all_secrets = {**secrets, "database password": DB_PW}

    # -- the search ----------------------------------------------------------------------------------
    leaks: list[str] = []
    leaks += [f"printed by a job: {n}" for n in _found(printed, all_secrets)]
    leaks += [f"page {p}: {n}" for p, text in pages.items() for n in _found(text, all_secrets)]
    leaks += [f"log record: {n}" for n in _found(caplog.text, all_secrets)]
    rows = 0
    for table, row in _all_rows(planted["ctx"].engine):
        rows += 1
        leaks += [f"table {table}: {n}" for n in _found(row, secrets)]
    files = 0
    for path in planted["data"].rglob("*"):
        if path.is_file():
            files += 1
            content = path.read_bytes().decode("latin-1")
            leaks += [f"file {path.relative_to(planted['data'])}: {n}" for n in _found(content, secrets)]
    assert leaks == [], "\n".join(leaks) + "\n\n" + printed
    # the run did reach every sink: rows in the audit log, job runs and the notification state,
    # and what carried a secret is kept, masked
    tables = {table for table, _ in _all_rows(planted["ctx"].engine)}
    assert {"audit_log", "job_runs", "notification_state"} <= tables and rows > 20 and files > 0
    from sqlalchemy import text

    with planted["ctx"].engine.connect() as conn:
        last_error = conn.execute(text("SELECT last_error FROM notification_state WHERE model = 'diabetes'")
                                  ).scalar_one()
        reasons = " ".join(conn.execute(text("SELECT reason FROM audit_log")).scalars())
    assert "ConnectionError" in last_error and "***" in last_error, last_error
    assert "Prometheus at http://scraper:***@127.0.0.1:" in reasons, reasons
