"""Sign-in under concurrency, on SQLite and PostgreSQL: parallel browsers all get an answer,
every wrong guess is counted and audited, and the lockout falls at exactly the threshold.

Each sign-in runs in its own thread (as Streamlit serves each browser session), all released
together by a barrier so they hit the database at the same moment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.actor import Actor
from core.context import AppContext
from core.db import session_scope
from core.errors import AuthenticationError
from governance import access, identity
from governance.identity import SIGN_IN_FAILED, authenticate, resolve_session
from governance.tables import User

pytestmark = pytest.mark.integration
ADMIN = Actor("root", "cli")
REPO_ROOT = Path(__file__).resolve().parents[2]
RIGHT = "right-password-1"


def _all_at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call in its own thread, started together; each result or exception, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the test inspects every outcome
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _failed_attempts(ctx: AppContext, username: str) -> int:
    with session_scope(ctx.engine) as s:
        return int(s.scalar(select(User.failed_attempts).where(User.username == username)))


def _failures_of(ctx: AppContext, username: str) -> list[str]:
    return [e.reason for e in ctx.audit.query(action="auth.sign_in", actor=username, outcome="failed")]


def test_twenty_parallel_sign_ins_right_ones_sign_in_wrong_ones_counted(ctx: AppContext) -> None:
    access.bootstrap_admin(ctx, "root", "root-password")
    for i in range(10):
        identity.create_user(ctx, ADMIN, f"right{i}", RIGHT)
        identity.create_user(ctx, ADMIN, f"wrong{i}", RIGHT)
    calls: list[Callable[[], Any]] = []
    for i in range(10):
        calls.append(lambda i=i: authenticate(ctx, f"right{i}", RIGHT))
        calls.append(lambda i=i: authenticate(ctx, f"wrong{i}", "not-the-password"))
    results = _all_at_once(calls)

    signed = results[0::2]
    refused = results[1::2]
    assert all(isinstance(r, identity.SignedIn) for r in signed), [repr(r) for r in signed]
    assert [resolve_session(ctx, r.token) for r in signed] == [f"right{i}" for i in range(10)]
    # every refusal is the one message, never a database error
    assert [str(r) for r in refused] == [SIGN_IN_FAILED] * 10
    assert all(isinstance(r, AuthenticationError) for r in refused)
    for i in range(10):
        assert _failed_attempts(ctx, f"wrong{i}") == 1
        assert _failures_of(ctx, f"wrong{i}") == ["wrong password"]
    successes = ctx.audit.query(action="auth.sign_in", outcome="success")
    assert sorted(e.actor for e in successes) == sorted(f"right{i}" for i in range(10))


def test_twelve_parallel_wrong_guesses_lock_the_account_at_exactly_the_threshold(ctx: AppContext) -> None:
    threshold = ctx.settings.lockout_threshold
    assert threshold == 5
    access.bootstrap_admin(ctx, "root", "root-password")
    identity.create_user(ctx, ADMIN, "victim", RIGHT)
    results = _all_at_once([lambda n=n: authenticate(ctx, "victim", f"guess-{n:04d}") for n in range(12)])

    assert [str(r) for r in results] == [SIGN_IN_FAILED] * 12
    failures = _failures_of(ctx, "victim")
    assert len(failures) == 12  # every guess audited, none lost to a locked database
    # exactly one guess locked it: the threshold-th counted one
    assert sum("account locked for" in r for r in failures) == 1
    # the others: counted wrong passwords before the lock, or refusals once it was locked
    assert all(r.startswith(("wrong password", "account locked until")) for r in failures), failures
    locked = identity.get_user(ctx, "victim")
    assert locked is not None and locked.locked_until is not None
    # later, the right password is refused while locked, and that refusal is audited
    with pytest.raises(AuthenticationError, match=f"^{SIGN_IN_FAILED}$"):
        authenticate(ctx, "victim", RIGHT)
    assert _failures_of(ctx, "victim")[-1].startswith("account locked until")


def test_parallel_guesses_below_the_threshold_are_each_counted(ctx: AppContext) -> None:
    access.bootstrap_admin(ctx, "root", "root-password")
    identity.create_user(ctx, ADMIN, "carol", RIGHT)
    below = ctx.settings.lockout_threshold - 1
    results = _all_at_once([lambda: authenticate(ctx, "carol", "nope-nope") for _ in range(below)])
    assert [str(r) for r in results] == [SIGN_IN_FAILED] * below
    assert _failed_attempts(ctx, "carol") == below
    assert len(_failures_of(ctx, "carol")) == below
    assert authenticate(ctx, "carol", RIGHT).username == "carol"  # not locked: one short of it
    assert _failed_attempts(ctx, "carol") == 0


GUESS_IN_A_PROCESS = """
import os, sys, time
from core.context import AppContext
from core.errors import AuthenticationError
from core.settings import Settings
from governance.identity import authenticate
ctx = AppContext.create(Settings.from_env(), run_migrations=False)
while not os.path.exists(sys.argv[1]):  # start line: every process guesses at the same moment
    time.sleep(0.005)
try:
    authenticate(ctx, "victim", sys.argv[2], source="cli")
except AuthenticationError as exc:
    print(exc)
"""


@pytest.mark.slow
def test_parallel_guesses_from_separate_processes_lock_at_the_threshold(
        ctx: AppContext, tmp_path: Path) -> None:
    """The same race across processes (dashboard replicas, a script): each guess is counted and
    audited once and the lock falls once."""
    access.bootstrap_admin(ctx, "root", "root-password")
    identity.create_user(ctx, ADMIN, "victim", RIGHT)
    go = tmp_path / "go"
    env = {**os.environ, "DATABASE_URL": ctx.settings.database_url, "PYTHONPATH": str(REPO_ROOT),
           "VIGIL_DATA_DIR": str(ctx.settings.data_dir), "VIGIL_CONFIG": str(ctx.settings.config_file)}
    procs = [subprocess.Popen([sys.executable, "-c", GUESS_IN_A_PROCESS, str(go), f"guess-{n:04d}"],
                              cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for n in range(12)]
    time.sleep(0.5)  # let them import; the start line below releases them together
    go.touch()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [out.strip() for out, _ in outputs] == [SIGN_IN_FAILED] * 12, [err for _, err in outputs]
    failures = _failures_of(ctx, "victim")
    assert len(failures) == 12
    assert sum("account locked for" in r for r in failures) == 1
    with pytest.raises(AuthenticationError):
        authenticate(ctx, "victim", RIGHT)
    assert _failures_of(ctx, "victim")[-1].startswith("account locked until")
