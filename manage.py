#!/usr/bin/env python3
"""Owns the project's two commands, needing nothing but Python 3.11+:

    python3 manage.py demo    # set up, build the demo (idempotent) and start the dashboard
    python3 manage.py test    # set up, then run the whole test suite

Set-up creates ``.venv`` beside this file and installs the pinned requirements into it; it is
skipped when the requirement files have not changed since the last install. Extra arguments
after ``test`` go to pytest unchanged (e.g. ``python3 manage.py test tests/unit -x``; the fast
loop without real servers or a browser: ``python3 manage.py test -m "not integration and not e2e"``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("VIGIL_VENV", ROOT / ".venv"))
ALIBI_VENV = ROOT / ".venv-alibi"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"


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


def cmd_demo(args: list[str]) -> int:
    ensure_venv("requirements.txt")
    env = dict(os.environ)
    env.setdefault("VIGIL_DEMO", "true")
    _run([PY, "-m", "jobs.demo"], env=env)
    port = env.get("VIGIL_PORT", "8501")
    _say(f"starting the dashboard on http://localhost:{port} (Ctrl+C to stop)")
    return subprocess.call([str(BIN / "streamlit"), "run", "asgi_app.py", "--server.port", port,
                            "--server.headless", "true", *args], cwd=ROOT, env=env)


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
