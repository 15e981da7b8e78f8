"""`python -m jobs.worker` and its pieces with real subprocess commands (the kill and the
two-worker tests on SQLite and the real PostgreSQL, the rest on SQLite): output capture and the
log tail, the VIGIL_VERSION contract opening a release request, failures audited and posted to
the webhook, timeouts, a SIGKILLed worker whose job is marked failed once its heartbeat lapses,
two workers that never run the same job, and `jobs.release retrain` exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from core.actor import Actor
from core.context import AppContext
from core.settings import Settings
from governance import releases, retrain
from jobs._cli import EXIT_DENIED, EXIT_FAILED, EXIT_OK
from jobs.worker import run_job, work
from tests.unit.governance.release_fixtures import FakeVersions, create_accounts, facts
from tests.unit.governance.retrain_fixtures import BC, DIA, py, with_retrain, write_models

REPO = Path(__file__).resolve().parents[3]
OPAL = Actor("opal", "job")


class Hook:
    """A local webhook that records the JSON bodies posted to it."""

    def __init__(self) -> None:
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


def make_ctx(tmp_path: Path, models_config, commands: dict[str, str], *, timeout_s: int = 60,
             webhook: str | None = None, db_url: str | None = None) -> tuple[AppContext, dict[str, str]]:  # type: ignore[no-untyped-def]
    config = with_retrain(models_config, commands, timeout_s=timeout_s)
    path = write_models(config, tmp_path / "models.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIGIL_TOKEN", "VIGIL_WEBHOOK_URL")}
    env.update({"VIGIL_DATA_DIR": str(tmp_path / "data"), "VIGIL_CONFIG": str(path), "VIGIL_DEMO": "true",
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"})
    if webhook:
        env["VIGIL_WEBHOOK_URL"] = webhook
    if db_url:
        env["DATABASE_URL"] = db_url
    ctx = AppContext.create(Settings.from_env(env), models=config)
    create_accounts(ctx)
    return ctx, env


def test_a_command_that_prints_a_version_succeeds_and_opens_its_release_request(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = make_ctx(tmp_path, models_config, {DIA: py("print('trained'); print('VIGIL_VERSION=3')")})
    job = retrain.request_retrain(ctx, OPAL, DIA, reason="weekly")
    claimed = retrain.claim_next(ctx, "w1")
    final = run_job(ctx, OPAL, claimed, "w1", heartbeat_s=0.2,
                    versions=FakeVersions(facts("3", author="ml-engineer", rmse=50.0)))
    assert (final.state, final.exit_code, final.produced_version) == ("succeeded", 0, "3")
    assert final.log_tail.splitlines() == ["trained", "VIGIL_VERSION=3"]
    assert final.finished_at is not None and final.error is None
    request = releases.show_request(ctx, "opal", final.release_request_id)
    assert (request.model, request.version, request.state) == (DIA, "3", "open")
    assert f"retrain {job.id}" in request.reason and "weekly" in request.reason
    runs = [e for e in ctx.audit.query(action="model.retrain") if e.details.get("step") == "run"]
    assert [(e.actor, e.outcome, e.details["produced_version"]) for e in runs] == [("opal", "success", "3")]


def test_a_failing_command_is_failed_audited_and_notified(tmp_path, models_config, hook) -> None:  # type: ignore[no-untyped-def]
    code = "import sys\nfor i in range(500): print('line', i)\nprint('password=hunter2xyz')\nsys.exit(3)"
    ctx, _ = make_ctx(tmp_path, models_config, {BC: py(code)}, webhook=hook.url)
    retrain.request_retrain(ctx, OPAL, BC, reason="x")
    final = run_job(ctx, OPAL, retrain.claim_next(ctx, "w1"), "w1", heartbeat_s=0.2)
    assert (final.state, final.exit_code, final.error) == ("failed", 3, "the command exited with 3")
    tail = final.log_tail.splitlines()
    assert len(tail) == retrain.TAIL_LINES and tail[0] == "line 301"  # the last 200 lines
    assert "hunter2xyz" not in final.log_tail and "password=" in final.log_tail  # redacted
    assert final.release_request_id is None
    last = ctx.audit.query(action="model.retrain")[-1]
    assert (last.outcome, last.details["step"]) == ("failed", "run") and "exited with 3" in last.reason
    assert len(hook.bodies) == 1 and "retrain" in hook.bodies[0]["text"] and "failed" in hook.bodies[0]["text"]
    assert "hunter2xyz" not in json.dumps(hook.bodies)


def test_a_command_past_its_timeout_is_killed_and_failed(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = make_ctx(tmp_path, models_config, {BC: py("import time; print('start', flush=True); time.sleep(60)")},
                      timeout_s=1)
    retrain.request_retrain(ctx, OPAL, BC, reason="x")
    started = time.monotonic()
    final = run_job(ctx, OPAL, retrain.claim_next(ctx, "w1"), "w1", heartbeat_s=0.2)
    assert time.monotonic() - started < 30
    assert final.state == "failed" and "timed out after 1 s" in (final.error or "")
    assert final.log_tail == "start"


def test_a_command_that_cannot_start_is_failed(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    ctx, _ = make_ctx(tmp_path, models_config, {BC: "/no/such/trainer --fast"})
    retrain.request_retrain(ctx, OPAL, BC, reason="x")
    assert work(ctx, OPAL, heartbeat_s=0.2) == EXIT_FAILED
    view = retrain.list_retrains(ctx, "opal", BC)[0]
    assert view.state == "failed" and "cannot start: FileNotFoundError" in (view.error or "")


def worker(env: dict[str, str], *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "jobs.worker", "--as", "opal", *argv], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_sigkilled_worker_leaves_a_job_that_is_failed_after_its_heartbeat_lapses(tmp_path, models_config, db_url) -> None:  # type: ignore[no-untyped-def]
    pid_file = tmp_path / "trainer.pid"
    code = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    ctx, env = make_ctx(tmp_path, models_config, {BC: py(code)}, db_url=db_url)
    job = retrain.request_retrain(ctx, OPAL, BC, reason="x")
    proc = worker(env, "--once", "--heartbeat-s", "0.2", "--lapse-s", "2")
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    trainer = int(pid_file.read_text())
    assert retrain.show_retrain(ctx, "opal", job.id).state == "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    for _ in range(100):  # the command dies with its worker (parent-death signal)
        try:
            os.kill(trainer, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(trainer, signal.SIGKILL)
        pytest.fail("the retrain command outlived its SIGKILLed worker")
    assert retrain.show_retrain(ctx, "opal", job.id).state == "running"  # nobody has noticed yet
    time.sleep(2.5)
    nxt = worker(env, "--once", "--heartbeat-s", "0.2", "--lapse-s", "2")
    out, err = nxt.communicate(timeout=120)
    assert nxt.returncode == EXIT_OK, err
    view = retrain.show_retrain(ctx, "opal", job.id)
    assert view.state == "failed" and "stopped sending heartbeats" in (view.error or "")
    assert f"retrain {job.id} of {BC}: failed" in out
    last = ctx.audit.query(action="model.retrain")[-1]
    assert (last.outcome, last.details["step"], last.details["retrain_job"]) == ("failed", "reap", job.id)


def test_two_workers_never_run_the_same_job(tmp_path, models_config, db_url) -> None:  # type: ignore[no-untyped-def]
    ran = tmp_path / "ran.txt"
    code = (f"import os, time; time.sleep(0.5); "
            f"open({str(ran)!r}, 'a').write(os.environ['VIGIL_RETRAIN_JOB'] + '\\n')")
    ctx, env = make_ctx(tmp_path, models_config, {BC: py(code), DIA: py(code)}, db_url=db_url)
    ids = {retrain.request_retrain(ctx, OPAL, m, reason="x").id for m in (BC, DIA)}
    workers = [worker(env, "--heartbeat-s", "0.2") for _ in range(3)]  # bare: drain the queue
    for w in workers:
        _, err = w.communicate(timeout=180)
        assert w.returncode == EXIT_OK, err
    assert sorted(ran.read_text().split()) == sorted(str(i) for i in ids)  # each job ran exactly once
    assert {v.state for v in retrain.list_retrains(ctx, "opal")} == {"succeeded"}


def release(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobs.release", *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_release_retrain_cli_queues_refuses_and_the_worker_runs_it(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    ctx, env = make_ctx(tmp_path, models_config, {BC: py("print('trained')")})
    denied = release(env, "retrain", "--as", "vic", "--model", BC, "--reason", "please")
    assert denied.returncode == EXIT_DENIED and "vic may not model.retrain" in denied.stderr
    last = ctx.audit.query()[-1]
    assert (last.actor, last.action, last.outcome) == ("vic", "model.retrain", "denied")
    queued = release(env, "retrain", "--as", "opal", "--model", BC, "--reason", "drift since May")
    assert queued.returncode == EXIT_OK, queued.stderr
    job = retrain.list_retrains(ctx, "opal", BC)[0]
    assert queued.stdout.startswith(f"retrain {job.id} of {BC} queued")
    twice = release(env, "retrain", "--as", "opal", "--model", BC, "--reason", "again")
    assert twice.returncode == EXIT_FAILED and f"retrain {job.id} of {BC} is queued" in twice.stderr
    done = subprocess.run([sys.executable, "-m", "jobs.worker", "--once", "--as", "opal"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_OK, done.stderr
    assert f"retrain {job.id} of {BC}: succeeded (exit 0)" in done.stdout
    assert retrain.show_retrain(ctx, "vic", job.id).log_tail == "trained"


def test_worker_policy_mode_queues_what_fires_and_leaves_the_rest(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from core.db import write_scope
    from monitoring.drift.tables import DriftRun

    config = with_retrain(models_config, {BC: py("print(1)"), DIA: py("print(1)")},
                          policy={DIA: {"enabled": True, "drift_consecutive": 2, "new_labels": None}})
    ctx, env = make_ctx(tmp_path, config, {})
    end = datetime(2026, 11, 30, tzinfo=UTC)
    with write_scope(ctx.engine) as session:
        for day in range(2):
            session.add(DriftRun(model=DIA, version="1", window="1d", window_start=end - timedelta(days=day + 1),
                                 window_end=end - timedelta(days=day), at=end, status="ok", dataset_drift=True))
    done = subprocess.run([sys.executable, "-m", "jobs.worker", "--policy", "--as", "opal"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT_OK, done.stderr
    job = retrain.list_retrains(ctx, "opal", DIA)[0]
    assert f"{DIA}: retrain {job.id} queued (dataset drift in each of the last 2 drift runs)" in done.stdout
    assert f"{BC}: no retrain (policy off)" in done.stdout
    assert (job.requested_by, job.trigger, job.state) == ("system", "policy", "queued")


def test_a_leading_python_is_the_workers_own_interpreter(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    # the shipped commands say `python -m jobs.demo ...`; PATH's python may lack the project's packages
    ctx, _ = make_ctx(tmp_path, models_config, {BC: "python -c 'import sys; print(sys.executable)'"})
    retrain.request_retrain(ctx, OPAL, BC, reason="x")
    final = run_job(ctx, OPAL, retrain.claim_next(ctx, "w1"), "w1", heartbeat_s=0.2)
    assert (final.state, final.log_tail) == ("succeeded", sys.executable)


def test_a_worker_account_without_model_retrain_is_refused_audited_and_the_job_failed(tmp_path, models_config) -> None:  # type: ignore[no-untyped-def]
    from core.errors import PermissionDenied

    ran = tmp_path / "ran.txt"
    ctx, _ = make_ctx(tmp_path, models_config, {BC: py(f"open({str(ran)!r}, 'w').write('ran')")})
    job = retrain.request_retrain(ctx, OPAL, BC, reason="x")
    with pytest.raises(PermissionDenied):
        run_job(ctx, Actor("vic", "job"), retrain.claim_next(ctx, "w1"), "w1", heartbeat_s=0.2)
    assert not ran.exists()  # refused before the command ran
    view = retrain.show_retrain(ctx, "opal", job.id)
    assert view.state == "failed" and "vic may not model.retrain" in (view.error or "")
    last = ctx.audit.query(action="model.retrain")[-1]
    assert (last.actor, last.outcome) == ("vic", "denied")
