#!/usr/bin/env python3
"""Owns the project's two commands, needing nothing but Python 3.11+:

    python3 manage.py demo    # set up, build the demo (idempotent), start the scheduler and the dashboard
    python3 manage.py test    # set up, then run the whole test suite

Set-up creates ``.venv`` beside this file and installs the pinned requirements into it; it is
skipped when the requirement files have not changed since the last install. Extra arguments
after ``test`` go to pytest unchanged (e.g. ``python3 manage.py test tests/unit -x``; the fast
loop without real servers or a browser: ``python3 manage.py test -m "not integration and not e2e"``).

``demo`` starts ``python -m jobs.scheduler`` in the background beside the dashboard and stops it
when the dashboard stops (Ctrl+C), so a retrain asked for on the Releases page runs (the
``worker`` job) and opens its release request, new MLflow versions and requests past their expiry
are handled (the ``release`` job), and the scheduler's auto-rollback watcher runs. It schedules
only those jobs (:data:`DEMO_JOBS`): the monitoring jobs would score the demo's replayed 30 days
at the current time and hide its incidents. Its metrics listen on 127.0.0.1 at a free port
(``VIGIL_METRICS_PORT`` to choose one); its log is ``<data>/demo/scheduler.log``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VIGIL_VENV", ROOT / ".venv"))
ALIBI_VENV = ROOT / ".venv-alibi"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
DEMO_JOBS = "worker,release"  # the scheduler's jobs in the demo (see the module docstring)
SCHEDULER_GRACE_S = 20


def _say(msg: str) -> None:
    print(f"[manage] {msg}", file=sys.stderr, flush=True)


def _digest(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()


def _run(cmd: list[str], **kw: object) -> None:
    _say(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kw)  # type: ignore[arg-type]


def ensure_venv(requirements: str) -> None:
    """Create .venv and install ``requirements`` unless already installed unchanged."""
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    req = ROOT / requirements
    files = [req, ROOT / "requirements.txt"]
    stamp = VENV / f".installed-{req.stem}"
    want = _digest(*files)
    if stamp.exists() and stamp.read_text() == want and PY.exists():
        return
    if not PY.exists():
        _say(f"creating virtual environment {VENV}")
        venv.EnvBuilder(with_pip=True).create(VENV)
    _run([PY, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", req])
    stamp.write_text(want)


def ensure_alibi_venv() -> None:
    """alibi-detect (Business Source License, numpy<2) lives in its own environment."""
    req = ROOT / "requirements-alibi.txt"
    if not req.exists():
        return
    py = ALIBI_VENV / "bin" / "python"
    stamp = ALIBI_VENV / ".installed"
    want = _digest(req)
    if stamp.exists() and stamp.read_text() == want and py.exists():
        return
    if not py.exists():
        _say(f"creating the optional alibi-detect environment {ALIBI_VENV}")
        venv.EnvBuilder(with_pip=True).create(ALIBI_VENV)
    _run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", req])
    stamp.write_text(want)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_demo_scheduler(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python -m jobs.scheduler --jobs DEMO_JOBS`` in the background, logging to the data
    directory's demo/scheduler.log (its metrics on 127.0.0.1 at a free port unless set)."""
    env = dict(env)
    env.setdefault("VIGIL_METRICS_HOST", "127.0.0.1")
    env.setdefault("VIGIL_METRICS_PORT", str(_free_port()))
    data = Path(env.get("VIGIL_DATA_DIR", "data")).expanduser()
    log = (data if data.is_absolute() else ROOT / data) / "demo" / "scheduler.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [str(PY), "-m", "jobs.scheduler", "--jobs", DEMO_JOBS, "--grace", str(SCHEDULER_GRACE_S)]
    _say(f"starting the scheduler ({DEMO_JOBS} and the auto-rollback watcher; metrics on "
         f"http://127.0.0.1:{env['VIGIL_METRICS_PORT']}/metrics, log {log})")
    with open(log, "ab") as out:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)


def stop_demo_scheduler(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (the scheduler releases its lease and lets running jobs finish), then kill."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=SCHEDULER_GRACE_S + 15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _say(f"scheduler stopped (exit {proc.returncode})")


def cmd_demo(args: list[str]) -> int:
    ensure_venv("requirements.txt")
    env = dict(os.environ)
    env.setdefault("VIGIL_DEMO", "true")
    _run([PY, "-m", "jobs.demo"], env=env)
    port = env.get("VIGIL_PORT", "8501")
    scheduler = start_demo_scheduler(env)
    try:
        _say(f"starting the dashboard on http://localhost:{port} (Ctrl+C to stop)")
        return subprocess.call([str(BIN / "streamlit"), "run", "asgi_app.py", "--server.port", port,
                                "--server.headless", "true", *args], cwd=ROOT, env=env)
    finally:
        stop_demo_scheduler(scheduler)


def cmd_test(args: list[str]) -> int:
    ensure_venv("requirements-dev.txt")
    if os.environ.get("VIGIL_SKIP_ALIBI", "") not in ("1", "true"):
        ensure_alibi_venv()
    return subprocess.call([str(PY), "-m", "pytest", *args], cwd=ROOT)


def main() -> int:
    commands = {"demo": cmd_demo, "test": cmd_test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        return commands[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        _say(f"failed: {exc}")
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
