"""A real MLflow tracking server on 127.0.0.1 for integration tests.

``mlflow_server`` (session scope) starts ``python -m mlflow server`` on a free port with a
SQLite backend and served artifacts in a temporary directory, waits for ``/health`` and
yields the server's URL. A server that does not come up skips the test (``CI`` unset) or
fails it (``CI=true``), as :func:`tests.conftest.server_missing` does.

Register it in conftest with ``pytest_plugins = ["tests.mlflow_server"]`` (or import the
fixture there).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 90.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _missing(what: str) -> None:
    from tests.conftest import server_missing

    server_missing(what)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL (``http://127.0.0.1:<port>``) of a fresh MLflow server, shared by the session."""
    root: Path = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # No job runner: it forks seven huey consumers, which slows start-up on small machines.
    env = dict(
        os.environ,
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
    )
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    log_path = root / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                _missing(f"MLflow server (exited with {process.returncode}): {tail}")
            if time.monotonic() > deadline:
                _missing(f"MLflow server at {url} (no answer on /health within {STARTUP_TIMEOUT_S:.0f} s)")
            time.sleep(0.5)
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=5)
