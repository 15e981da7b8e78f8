"""Who a command-line job acts as: the one resolver every job uses (``cli_actor``).

1. ``VIGIL_TOKEN`` is set: the owner of that personal API token (source ``cli``). A token that
   is unknown, expired or revoked, or whose owner may no longer act, is refused (exit 4, and the
   refused attempt is audited with a short hash id of the token, never the token). ``--as``, if
   also given, must name the token's owner.
2. Demo mode (``VIGIL_DEMO=true``) and ``--as USER``: USER (source ``cli``), so the demo's
   published accounts work from a shell as its docs show.
3. Otherwise: the job service account ``VIGIL_JOB_USER`` (default ``scheduler``, source ``job``).

``--as`` outside demo mode without a token is refused (exit 4) and audited: anyone with a shell
could otherwise claim to be an administrator. Create a token on the dashboard's "API tokens"
page and export it as ``VIGIL_TOKEN``.

Every actor built here carries ``client_addr = "os:<OS user>@<host>"``, so each CLI and job
audit entry says which login on which machine ran the command.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any

from core.actor import Actor
from core.errors import PermissionDenied

TOKEN_ENV = "VIGIL_TOKEN"
AS_HELP = ("act as this person: needs VIGIL_TOKEN holding that person's API token, except in demo "
           "mode (VIGIL_DEMO=true); default: the token's owner, else the job account VIGIL_JOB_USER")


def os_identity() -> str:
    """``os:<user>@<host>`` of this process (the effective user from the password database)."""
    try:
        import pwd

        user = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):  # no passwd entry (containers with a bare uid)
        import getpass

        try:
            user = getpass.getuser()
        except Exception:  # noqa: BLE001  (getpass raises OSError or KeyError by platform)
            user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"os:{user}@{socket.gethostname()}"[:128]


def cli_actor(ctx: Any, as_user: str | None = None, *, env: Mapping[str, str] | None = None) -> Actor:
    """The Actor a job or CLI command acts as (see the module docstring for the rules)."""
    from core.settings import Settings

    where = os_identity()
    token = (Settings.from_env(env).job_token or "").strip()
    if token:
        from governance.tokens import resolve_token

        owner = resolve_token(ctx, token, client_addr=where)
        actor = Actor(owner, "cli", where)
        if as_user and as_user != owner:
            claimed = _claimed(ctx, as_user)
            _refuse(ctx, actor, claimed, f"--as {claimed} does not match the owner of VIGIL_TOKEN ({owner})")
        return actor
    if as_user:
        if ctx.settings.demo_mode:
            return Actor(as_user, "cli", where)
        claimed = _claimed(ctx, as_user)
        _refuse(ctx, Actor("anonymous", "cli", where), claimed,
                f"--as {claimed} needs a personal API token outside demo mode: create one on the "
                "dashboard's API tokens page and export it as VIGIL_TOKEN")
    return Actor(ctx.settings.job_user, "job", where)


def _claimed(ctx: Any, as_user: str) -> str:
    """The ``--as`` value as it may be recorded: an existing username, else ``(unknown user)`` (a
    mistyped password must not reach the append-only audit log)."""
    from governance.identity import get_user

    return as_user if get_user(ctx, as_user) is not None else "(unknown user)"


def _refuse(ctx: Any, actor: Actor, claimed: str, message: str) -> None:
    ctx.audit.append(actor, "auth.cli", f"user:{claimed}", "denied", reason=message)
    raise PermissionDenied(message)


def job_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for scheduled jobs: without ``VIGIL_TOKEN``, so they act as the job account."""
    return {k: v for k, v in (os.environ if env is None else env).items() if k != TOKEN_ENV}
