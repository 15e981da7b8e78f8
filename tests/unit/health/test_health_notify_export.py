"""Webhook only on change, survives a down webhook; metrics text passes promtool; scheduler --once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from monitoring.health.notify import notify_level
from tests.conftest import metric

REPO = Path(__file__).resolve().parents[3]


class _Hook:
    def __init__(self, fail: bool = False) -> None:
        self.bodies: list[dict] = []
        self.fail = fail
        self.status = 503
        self.posts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.posts += 1
                if hook.fail:
                    self.send_response(hook.status)
                    self.end_headers()
                    return
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_only_on_change_and_survives_outage(sqlite_ctx) -> None:  # type: ignore[no-untyped-def]
    hook = _Hook()
    at = datetime(2026, 11, 1, tzinfo=UTC)
    no_sleep = lambda s: None  # noqa: E731
    try:
        first = notify_level(sqlite_ctx, "m", "3", "ok", 95.0, [], at, url=hook.url, sleep=no_sleep)
        assert not first.changed and hook.bodies == []  # first sight, and it is fine
        again = notify_level(sqlite_ctx, "m", "3", "ok", 94.0, [], at, url=hook.url, sleep=no_sleep)
        assert not again.changed
        worse = notify_level(sqlite_ctx, "m", "3", "critical", 30.0, ["error_rate: 15%"], at, url=hook.url,
                             sleep=no_sleep)
        assert worse.changed and worse.sent and len(hook.bodies) == 1
        assert "ok -> critical" in hook.bodies[0]["text"] and hook.bodies[0]["attachments"][0]["fields"]
        same = notify_level(sqlite_ctx, "m", "3", "critical", 25.0, [], at, url=hook.url, sleep=no_sleep)
        assert not same.changed and len(hook.bodies) == 1
        # the webhook goes down: the job carries on, the change is owed
        hook.fail = True
        sleeps: list[float] = []
        down = notify_level(sqlite_ctx, "m", "3", "ok", 90.0, [], at, url=hook.url, retries=2, backoff=0.1,
                            sleep=sleeps.append)
        assert down.changed and not down.sent and "503" in (down.error or "")
        assert sleeps == [0.1, 0.2]  # exponential backoff
        hook.fail = False
        owed = notify_level(sqlite_ctx, "m", "3", "ok", 91.0, [], at, url=hook.url, sleep=no_sleep)
        assert owed.sent and "critical -> ok" in hook.bodies[-1]["text"]
        assert not notify_level(sqlite_ctx, "m", "3", "ok", 91.0, [], at, url=hook.url, sleep=no_sleep).changed
    finally:
        hook.close()
    # nothing listens there at all: still no exception
    refused = notify_level(sqlite_ctx, "m", "3", "warning", 70.0, [], at, url="http://127.0.0.1:9/x",
                           retries=1, backoff=0.0, sleep=no_sleep)
    assert refused.changed and not refused.sent and refused.error


@pytest.mark.parametrize(("status", "posts"), [(400, 1), (404, 1), (429, 3), (500, 3)])
def test_webhook_retries_only_what_may_succeed_later(status: int, posts: int) -> None:
    from monitoring.health.notify import send

    hook = _Hook(fail=True)
    hook.status = status
    sleeps: list[float] = []
    try:
        error = send(hook.url, {"text": "x"}, retries=2, backoff=1.0, sleep=sleeps.append)
    finally:
        hook.close()
    assert error is not None and error.startswith(f"HTTP {status}")
    assert hook.posts == posts and sleeps == [1.0, 2.0][: posts - 1]


def test_metrics_text_passes_promtool(tmp_path: Path) -> None:
    from core.runs import JobRunView
    from monitoring.health.exporter import build_metrics, render_metrics, write_textfile
    from monitoring.health.score import HealthInputs, compute_health
    from monitoring.health.service import HealthSnapshotView
    from monitoring.slo.service import SLOSnapshotView

    at = datetime(2026, 11, 1, tzinfo=UTC)
    result = compute_health(HealthInputs(latency_p95_ms=80, latency_target_ms=250))
    health = HealthSnapshotView(1, at, 'we"ird', "3", result.score, result.level, list(result.parts))
    slo = SLOSnapshotView(1, "m", "availability", "availability", "logs", at, 0.999, "30d",
                          {"5m": 0.01, "30d": None}, {"5m": 10.0, "30d": None}, {}, None, True, False)
    job = JobRunView(1, "slo", "m", at, at, "success", "scheduler", "", {})
    text = render_metrics([health], [slo], [job])
    assert 'model="we\\"ird"' in text  # the quote is escaped in the exposition
    assert metric(text, "vigil_health_level", model='we"ird', level="ok") == 1.0
    assert metric(text, "vigil_health_level", model='we"ird', level="critical") == 0.0
    assert metric(text, "vigil_slo_burn_rate", model="m", slo="availability", window="5m") == 10.0
    assert metric(text, "vigil_job_last_finished_timestamp_seconds", job="slo", model="m") == at.timestamp()
    assert "NaN" not in text and 'window="30d"' not in text  # no data is left out
    path = write_textfile(tmp_path / "vigil.prom", build_metrics([health], [slo], [job]))
    assert path.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["vigil.prom"]  # no temporary file left beside it
    if shutil.which("promtool") is None:
        from tests.conftest import server_missing

        server_missing("promtool")
    done = subprocess.run(["promtool", "check", "metrics"], input=path.read_text(), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_scheduler_once_runs_due_jobs(tmp_path: Path) -> None:
    pkg = tmp_path / "fakejobs"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    marker = tmp_path / "ran.txt"
    (pkg / "good.py").write_text(f"open({str(marker)!r}, 'a').write('good\\n')\n")
    (pkg / "bad.py").write_text("raise SystemExit(5)\n")
    (pkg / "later.py").write_text(f"open({str(marker)!r}, 'a').write('later\\n')\n")
    config = tmp_path / "models.yaml"
    config.write_text("models: []\nschedules:\n  good: '*/5 * * * *'\n  bad: '0 * * * *'\n  later: '0 3 * * *'\n")
    env = {**os.environ, "VIGIL_CONFIG": str(config), "VIGIL_DATA_DIR": str(tmp_path / "data"),
           "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    cmd = [sys.executable, "-m", "jobs.scheduler", "--once", "--module-prefix", "fakejobs"]
    done = subprocess.run(cmd + ["--at", "2026-11-01T10:00:00Z"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr  # bad failed
    assert marker.read_text().splitlines() == ["good"]
    assert "bad: exit 5" in done.stdout and "good: exit 0" in done.stdout
    done = subprocess.run(cmd + ["--at", "2026-11-01T10:05:00Z"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and marker.read_text().splitlines() == ["good", "good"]


def test_scheduler_serves_metrics_and_stops_on_sigterm(tmp_path: Path) -> None:
    import signal
    import socket
    import time

    import requests

    config = tmp_path / "models.yaml"
    config.write_text("models: []\nschedules:\n  never: '0 0 1 1 *'\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VIGIL_CONFIG": str(config), "VIGIL_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-m", "jobs.scheduler", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            try:
                body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                break
            except requests.RequestException:
                time.sleep(0.2)
        assert metric(body, "vigil_scheduler_job_running", job="never") == 0.0
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).text == "ok\n"
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=1).status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
