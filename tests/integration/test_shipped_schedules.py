"""Every schedule line we ship runs green, exactly as shipped: the jobs of ``schedules`` in
config/models.yaml through ``python -m jobs.scheduler --once --all``, every command line of
deploy/crontab.example and every CronJob command of deploy/kubernetes/cronjobs.yaml, each on a
small prepared data set (tests/integration/schedule_data.py). Before the all-models default,
``jobs.drift`` and ``jobs.shap`` exited 2 on every one of these lines."""

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
    """A job added to one way of scheduling and forgotten in another would silently never run."""
    configured = set(yaml.safe_load(CONFIG.read_text())["schedules"])
    assert {_job(argv) for _, argv in crontab_commands()} == configured
    assert {_job(argv) for _, argv, _env in cronjob_commands()} == configured


def test_every_configured_schedule_runs_green(shipped_env) -> None:
    _root, env = shipped_env
    done = _run(["-m", "jobs.scheduler", "--once", "--all"], env)
    assert done.returncode == 0, _no_failure(done)
    configured = yaml.safe_load(CONFIG.read_text())["schedules"]
    for job in configured:
        assert re.search(rf"^{job}: exit 0 after", done.stdout, re.M), _no_failure(done)
    # drift and SHAP covered every configured model (the lines that used to exit 2)
    for model in ("breast-cancer", "diabetes"):
        assert re.search(rf"^{model}: drift window 1d ending", done.stdout, re.M), _no_failure(done)
        assert re.search(rf"^{model}: 1 SHAP report \(v1 report \d+\)", done.stdout, re.M), _no_failure(done)


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


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_minute_env(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[dict[str, str], str]:
    """The prepared data set on each backend (PostgreSQL: a fresh schema on the real server)."""
    url = None if request.param == "sqlite" else request.getfixturevalue("pg_url")
    env = prepare(tmp_path / "data", url, rows=200)
    return env, url or f"sqlite:///{tmp_path / 'data' / 'vigil.db'}"


def test_jobs_sharing_a_minute_all_finish(shared_minute_env) -> None:
    """The shipped schedule starts ingest, slo, health, drift and the audit checkpoint in the same
    minute. On SQLite they used to die with 'database is locked' (e.g. on UPDATE job_runs),
    leaving the run 'running' forever. Two rounds of all of them at once: every process exits 0,
    every recorded run ends success, and the audit chain is still one valid chain."""
    from sqlalchemy import select

    from core.db import make_engine
    from core.tables import JobRun
    from governance.audit import AuditLog

    env, url = shared_minute_env
    jobs = ["ingest", "drift", "slo", "health", "audit_checkpoint"]
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
