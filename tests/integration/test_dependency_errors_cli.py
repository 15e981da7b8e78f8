"""A dependency that is wrong, down, hung or locked: the real CLI exits 2 (configuration) or 5
(unavailable) within a bound of the configured timeout, with one line on stderr naming what to
fix, no traceback and no password."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import PG_URL

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-pw"
TIMEOUT_S = 3


def run_cli(module: str, env: dict[str, str], tmp_path: Path) -> tuple[int, str, float]:
    full = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO_ROOT),
            "VIGIL_CONFIG": str(REPO_ROOT / "config" / "models.yaml"),
            "VIGIL_DB_CONNECT_TIMEOUT_SECONDS": str(TIMEOUT_S),
            "VIGIL_DB_BUSY_TIMEOUT_SECONDS": str(TIMEOUT_S), **env}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", module], cwd=REPO_ROOT, env=full, text=True,
                          capture_output=True, timeout=120)
    return proc.returncode, proc.stderr, time.monotonic() - started


def assert_one_clear_line(stderr: str, *needles: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and SECRET not in stderr and "[SQL" not in stderr, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def pg_server() -> str:
    """host:port of the real PostgreSQL (skipped, or failed under CI=true, when it is down)."""
    from sqlalchemy.engine import make_url

    from tests.conftest import server_missing

    url = make_url(PG_URL)
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2).close()
    except OSError as exc:
        server_missing(f"PostgreSQL at {url.host}:{url.port} ({exc})")
    return f"{url.host}:{url.port or 5432}"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung PostgreSQL)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("module", ["jobs.migrate", "jobs.health"])
@pytest.mark.parametrize("case, url, needle", [
    ("database name", "postgresql://postgres:{pw}@{server}/no_such_database", 'database "no_such_database"'),
    ("user", "postgresql://no_such_role:{pw}@{server}/test", 'role "no_such_role"'),
    ("host", "postgresql://postgres:{pw}@no-such-host.invalid:5432/test", "no-such-host.invalid"),
])
def test_wrong_database_name_user_or_host_is_a_configuration_error(
        pg_server: str, tmp_path: Path, module: str, case: str, url: str, needle: str) -> None:
    rc, err, _ = run_cli(module, {"DATABASE_URL": url.format(pw=SECRET, server=pg_server)}, tmp_path)
    assert rc == 2, (case, err)
    assert_one_clear_line(err, "DATABASE_URL", needle, "***")


def test_unwritable_sqlite_path_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    rc, err, _ = run_cli("jobs.migrate", {"DATABASE_URL": f"sqlite:///{blocker / 'vigil.db'}"}, tmp_path)
    assert rc == 2, err
    assert_one_clear_line(err, "DATABASE_URL", str(blocker), "writable")


@pytest.mark.parametrize("module", ["jobs.migrate", "jobs.health"])
def test_postgresql_that_accepts_and_never_answers_is_unavailable_within_the_timeout(
        silent_server: int, tmp_path: Path, module: str) -> None:
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:{silent_server}/test"
    rc, err, took = run_cli(module, {"DATABASE_URL": url}, tmp_path)
    assert rc == 5, err
    assert_one_clear_line(err, "did not answer in time", "VIGIL_DB_CONNECT_TIMEOUT_SECONDS")
    assert took < 3 * TIMEOUT_S + 5  # the connect timeout bounds it (5 s: interpreter start-up)


def test_locked_sqlite_database_is_unavailable_after_the_busy_timeout(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "vigil.db"
    holder = sqlite3.connect(db, isolation_level=None)  # another process's write lock, held
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE held (x)")
    try:
        rc, err, took = run_cli("jobs.migrate", {"DATABASE_URL": f"sqlite:///{db}"}, tmp_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert rc == 5, err
    assert_one_clear_line(err, "locked by another process", "VIGIL_DB_BUSY_TIMEOUT_SECONDS")
    assert took < 3 * TIMEOUT_S + 5
    # once the lock is gone, the same command succeeds
    rc, err, _ = run_cli("jobs.migrate", {"DATABASE_URL": f"sqlite:///{db}"}, tmp_path)
    assert rc == 0, err


def test_binary_models_file_is_a_configuration_error_naming_the_file(tmp_path: Path) -> None:
    models = tmp_path / "models.yaml"
    models.write_bytes(bytes(range(256)) * 4)
    rc, err, _ = run_cli("jobs.health", {"VIGIL_CONFIG": str(models),
                                         "DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}"}, tmp_path)
    assert rc == 2, err
    assert_one_clear_line(err, str(models), "not a UTF-8 text file")


@pytest.mark.parametrize("value, needle", [("slo_budget=abc", "slo_budget=abc"),
                                           ("no_such_part=1", "no_such_part"),
                                           ("latency=-1", "latency")])
def test_bad_health_weights_are_a_configuration_error_naming_the_variable(
        tmp_path: Path, value: str, needle: str) -> None:
    rc, err, _ = run_cli("jobs.health", {"VIGIL_HEALTH_WEIGHTS": value,
                                         "DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}"}, tmp_path)
    assert rc == 2, err
    assert_one_clear_line(err, "VIGIL_HEALTH_WEIGHTS", needle)
