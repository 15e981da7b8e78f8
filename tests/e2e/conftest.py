"""A real dashboard server on 127.0.0.1 and Debian's Chromium driven by Playwright.

Missing Chromium or a server that does not come up skips the tests on a developer machine
and fails them under CI=true (tests/conftest.server_missing). Data: demo accounts through
governance.access.ensure_demo_accounts; with VIGIL_E2E_FULL_DEMO=1 the whole
``python -m jobs.demo`` runs first (models, versions, logs: slower, and what the README
screenshot shows); VIGIL_E2E_DATA_DIR=<dir> uses a data directory built beforehand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, server_missing

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    data_dir: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 90) -> str | None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"the server exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return None
        except Exception as exc:  # not up yet
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    return f"no healthy answer within {timeout_s:.0f} s ({last})"


def server_env(data_dir: Path) -> dict[str, str]:
    """The environment of a demo-mode dashboard (and of jobs run beside it) on ``data_dir``."""
    env = {
        **os.environ,
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
        "VIGIL_DEMO": "true",
        "VIGIL_AUTH_MODE": "local",
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    for key in ("DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_URL"):
        env.pop(key, None)
    return env


@contextmanager
def running_server(data_dir: Path, env: dict[str, str]) -> Iterator[Server]:
    """A Streamlit server of the dashboard on a free port of 127.0.0.1, stopped on exit."""
    port = _free_port()
    log = open(data_dir / "streamlit.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "asgi_app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        problem = _wait_healthy(url, proc)
        if problem:
            server_missing(f"the Streamlit server ({problem}; log: {data_dir / 'streamlit.log'})")
        yield Server(url, env, data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    existing = os.environ.get("VIGIL_E2E_DATA_DIR")  # a data directory built beforehand
    data_dir = Path(existing) if existing else tmp_path_factory.mktemp("vigil-e2e") / "data"
    env = server_env(data_dir)
    if existing:
        pass  # use it as it is (e.g. after python -m jobs.demo and the jobs, for the screenshot)
    elif os.environ.get("VIGIL_E2E_FULL_DEMO"):
        subprocess.run([sys.executable, "-m", "jobs.demo"], cwd=REPO_ROOT, env=env, check=True)
    else:
        subprocess.run([sys.executable, "-c", (
            "import core\nfrom core.context import AppContext\n"
            "from governance.access import ensure_demo_accounts\n"
            "ensure_demo_accounts(AppContext.create())\n")], cwd=REPO_ROOT, env=env, check=True)
    with running_server(data_dir, env) as running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        server_missing(f"Chromium at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                  args=CHROMIUM_ARGS)
        except Exception as exc:
            server_missing(f"Chromium that starts ({type(exc).__name__}: {exc})")
        yield instance
        instance.close()


@pytest.fixture
def page(browser, server: Server) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
