"""Every schedule line we ship runs green, exactly as shipped: the jobs of ``schedules`` in
config/models.yaml through ``python -m jobs.scheduler --once --all``, every command line of
deploy/crontab.example and every CronJob command of deploy/kubernetes/cronjobs.yaml, each on a
small prepared data set (tests/integration/schedule_data.py). Before the all-models default,
``jobs.drift`` and ``jobs.shap`` exited 2 on every one of these lines. The three ways name the
same jobs on the same cron expressions; the scheduler's ``worker`` runs a queued retrain whose
version gets its release request, and the ``release`` cycle asks for nothing twice; the long-lived
worker Deployment (deploy/kubernetes/worker.yaml) starts and stops cleanly."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration.schedule_data import CONFIG, REPO, prepare

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CRONTAB = REPO / "deploy" / "crontab.example"
CRONJOBS = REPO / "deploy" / "kubernetes" / "cronjobs.yaml"
WORKER_DEPLOYMENT = REPO / "deploy" / "kubernetes" / "worker.yaml"
JOB_TIMEOUT_S = 300


def crontab_commands() -> list[tuple[str, list[str]]]:
    """(cron schedule, argv after ``python``) of every job line of the crontab example."""
    out = []
    for line in CRONTAB.read_text().splitlines():
        if line.startswith("#") or " -m jobs." not in line:
            continue
        fields = line.split(None, 5)
        command = re.search(r"python (-m jobs\.\w+.*?)\s*(?:>>|\||$)", fields[5])
        assert command, line
        out.append((" ".join(fields[:5]), shlex.split(command.group(1))))
    return out


def cronjob_commands() -> list[tuple[str, list[str], dict[str, str]]]:
    """(schedule, argv after ``python``, container env) of every CronJob container."""
    out = []
    for doc in yaml.safe_load_all(CRONJOBS.read_text()):
        if not doc or doc.get("kind") != "CronJob":
            continue
        pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        for container in pod["containers"]:
            argv = list(container["command"]) + list(container.get("args", []))
            assert argv[0] == "python", argv
            env = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            out.append((doc["spec"]["schedule"], argv[1:], env))
    return out


def _job(argv: list[str]) -> str:
    return argv[argv.index("-m") + 1].removeprefix("jobs.")


@pytest.fixture(scope="module")
def shipped_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("schedules")
    return root, prepare(root / "data")


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT_S, check=False)


def _no_failure(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"


def test_the_three_ways_schedule_the_same_jobs() -> None:
    """A job added to one way of scheduling and forgotten in another would silently never run;
    one on another cron expression would run at times nobody reading the models file expects."""
    configured = yaml.safe_load(CONFIG.read_text())["schedules"]
    assert {"worker", "retrain_policy", "release"} <= set(configured)  # retrains and the release cycle
    assert {_job(argv): cron for cron, argv in crontab_commands()} == configured
    assert {_job(argv): cron for cron, argv, _env in cronjob_commands()} == configured
    # each bare: the scheduler runs `python -m jobs.<name>` with no arguments, and so do the others
    assert all(argv == ["-m", f"jobs.{_job(argv)}"] for _, argv in crontab_commands() if _job(argv) != "health")
    assert all(argv == ["-m", f"jobs.{_job(argv)}"] for _, argv, _env in cronjob_commands())


def _queue_a_retrain(env: dict[str, str], model: str) -> int:
    from core.actor import Actor
    from core.context import AppContext
    from core.settings import Settings
    from governance.retrain import request_retrain

    ctx = AppContext.create(Settings.from_env(env))
    try:
        return request_retrain(ctx, Actor("scheduler", "job"), model, reason="schedule test").id
    finally:
        ctx.engine.dispose()


def _release_state(env: dict[str, str]) -> tuple[list[tuple[str, str, str, str]], list[tuple[str, str]]]:
    """(model, version, state, requested by) of every release request; (model, state) of every retrain."""
    from core.context import AppContext
    from core.settings import Settings
    from governance.releases import list_requests
    from governance.retrain import list_retrains

    ctx = AppContext.create(Settings.from_env(env))
    try:
        return ([(v.model, v.version, v.stored_state, v.requested_by) for v in list_requests(ctx, "scheduler")],
                [(j.model, j.state) for j in list_retrains(ctx, "scheduler")])
    finally:
        ctx.engine.dispose()


def test_every_configured_schedule_runs_green(shipped_env) -> None:
    _root, env = shipped_env
    _queue_a_retrain(env, "diabetes")  # the scheduler's `worker` runs it: the models file's retrain command
    done = _run(["-m", "jobs.scheduler", "--once", "--all"], env)
    assert done.returncode == 0, _no_failure(done)
    configured = yaml.safe_load(CONFIG.read_text())["schedules"]
    for job in configured:
        assert re.search(rf"^{job}: exit 0 after", done.stdout, re.M), _no_failure(done)
    # drift and SHAP covered every configured model (the lines that used to exit 2)
    for model in ("breast-cancer", "diabetes"):
        assert re.search(rf"^{model}: drift window 1d ending", done.stdout, re.M), _no_failure(done)
        assert re.search(rf"^{model}: 1 SHAP report \(v1 report \d+\)", done.stdout, re.M), _no_failure(done)
    # the worker ran the retrain, which registered version 2 and opened its release request; the
    # release cycle after it saw that request and asked for nothing more
    assert re.search(r"^retrain 1 of diabetes: succeeded \(exit 0\); version 2; release request 1 opened",
                     done.stdout, re.M), _no_failure(done)
    assert re.search(r"^diabetes: version 2 already had release request 1 \(open\)", done.stdout, re.M), \
        _no_failure(done)
    assert re.search(r"^breast-cancer: champion is version 1, the newest: nothing to request", done.stdout,
                     re.M), _no_failure(done)
    assert re.search(r"^breast-cancer: no retrain \(policy off\)", done.stdout, re.M), _no_failure(done)
    assert _release_state(env) == ([("diabetes", "2", "open", "scheduler")], [("diabetes", "succeeded")])


@pytest.mark.parametrize(("schedule", "argv"), crontab_commands(),
                         ids=lambda v: v if isinstance(v, str) else _job(v))
def test_every_crontab_line_runs_green(shipped_env, schedule: str, argv: list[str]) -> None:
    root, env = shipped_env
    # Same arguments; absolute paths outside the checkout (node-exporter's textfile directory)
    # move under the temporary root.
    argv = [str(root / a.lstrip("/")) if a.startswith("/") else a for a in argv]
    for a in argv:
        if a.startswith(str(root)):
            Path(a).parent.mkdir(parents=True, exist_ok=True)
    done = _run(argv, env)
    assert done.returncode == 0, _no_failure(done)
    assert "Traceback" not in done.stderr
    if "--textfile" in argv:
        assert "vigil_health_score" in Path(argv[argv.index("--textfile") + 1]).read_text()


@pytest.mark.parametrize(("schedule", "argv", "container_env"), cronjob_commands(),
                         ids=lambda v: v if isinstance(v, str) else (_job(v) if isinstance(v, list) else ""))
def test_every_cronjob_command_runs_green(shipped_env, schedule: str, argv: list[str],
                                          container_env: dict[str, str]) -> None:
    _root, env = shipped_env
    # The container's own env names the mounted config and data volume: point them at ours.
    assert container_env.get("VIGIL_CONFIG") == "/etc/vigil/models.yaml"
    assert container_env.get("VIGIL_DATA_DIR") == "/var/lib/vigil"
    done = _run(argv, env)
    assert done.returncode == 0, _no_failure(done)
    assert "Traceback" not in done.stderr


def test_the_worker_deployment_runs_the_queue_until_stopped(shipped_env) -> None:
    """deploy/kubernetes/worker.yaml's command, as shipped: it polls the queue, picks up a retrain
    queued while it runs, and stops cleanly on SIGTERM (what Kubernetes sends on a rollout)."""
    import signal
    import time

    _root, env = shipped_env
    [doc] = [d for d in yaml.safe_load_all(WORKER_DEPLOYMENT.read_text()) if d]
    assert doc["kind"] == "Deployment"
    [container] = doc["spec"]["template"]["spec"]["containers"]
    argv = list(container["command"])
    assert argv[:4] == ["python", "-m", "jobs.worker", "--loop"]
    env_names = {e["name"]: e["value"] for e in container["env"]}
    assert env_names == {"VIGIL_CONFIG": "/etc/vigil/models.yaml", "VIGIL_DATA_DIR": "/var/lib/vigil"}
    argv = [a if a != "5" else "1" for a in argv]  # --poll-s 1: the test waits less
    proc = subprocess.Popen([sys.executable, *argv[1:]], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # the worker is up and found nothing to do
        job = _queue_a_retrain(env, "breast-cancer")
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while time.monotonic() < deadline and ("breast-cancer", "succeeded") not in _release_state(env)[1]:
            time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    assert re.search(rf"^retrain {job} of breast-cancer: succeeded \(exit 0\); version 2; release request \d+ "
                     "opened", out, re.M), out
    assert "Traceback" not in err


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_minute_env(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], str]:
    """The prepared data set on each backend (PostgreSQL: a fresh schema on the real server)."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    env = prepare(tmp_path / "data", url, rows=200)
    return env, url or f"sqlite:///{tmp_path / 'data' / 'vigil.db'}"


def test_jobs_sharing_a_minute_all_finish(shared_minute_env) -> None:
    """The shipped schedule starts most jobs in the same minute (at :15 ingest, drift, slo, health,
    the audit checkpoint and the worker; at :20 the retrain policies and the release cycle with them);
    here all of them start at once. On SQLite they used to die with 'database is locked' (e.g. on UPDATE job_runs),
    leaving the run 'running' forever. Two rounds of all of them at once: every process exits 0,
    every recorded run ends success, and the audit chain is still one valid chain."""
    from sqlalchemy import select

    from core.db import make_engine
    from core.tables import JobRun
    from governance.audit import AuditLog

    env, url = shared_minute_env
    jobs = ["ingest", "drift", "slo", "health", "audit_checkpoint", "worker", "retrain_policy", "release"]
    for _round in range(2):
        procs = {job: subprocess.Popen([sys.executable, "-m", f"jobs.{job}"], cwd=REPO, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for job in jobs}
        for job, proc in procs.items():
            out, err = proc.communicate(timeout=JOB_TIMEOUT_S)
            assert proc.returncode == 0, f"{job}: exit {proc.returncode}\n{out[-2000:]}\n{err[-2000:]}"
            assert "database is locked" not in err and "Traceback" not in err, f"{job}: {err[-2000:]}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            statuses = [tuple(r) for r in conn.execute(select(JobRun.job, JobRun.model, JobRun.status))]
        assert statuses, "the jobs recorded no runs"
        assert {s for _j, _m, s in statuses} == {"success"}, statuses
        report = AuditLog(engine).verify()
        assert report.ok, report.line()
    finally:
        engine.dispose()
