"""Bring the database schema to the newest version, once, however many processes start at once.

    python -m jobs.migrate [--check]

Every job and the dashboard also migrate at start-up; this command is the explicit way (run it
in a deployment step or an init container before the jobs). Migration holds a lock
(``pg_advisory_lock`` on PostgreSQL, a lock file beside the SQLite database): a second process
waits for the first and then finds the schema current. ``--check`` changes nothing and says
whether the schema is at the newest version.

The database comes from ``DATABASE_URL`` (default: SQLite under ``VIGIL_DATA_DIR``); waits are
bounded by ``VIGIL_DB_CONNECT_TIMEOUT_SECONDS``, ``VIGIL_DB_STATEMENT_TIMEOUT_SECONDS`` and
``VIGIL_DB_BUSY_TIMEOUT_SECONDS``.

Exit codes: 0 schema current, 1 --check found it behind, 2 bad configuration (URL, database
name, user, password, unwritable path), 5 the database does not answer or stays locked.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from jobs._cli import EXIT_FAILED, EXIT_OK, parser, run_main, setup_logging


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("migrate", __doc__ or "")
    p.add_argument("--check", action="store_true",
                   help="only report whether the schema is at the newest version (exit 1 if not)")
    args = p.parse_args(argv)
    setup_logging(args.verbose)

    from core.db import current_revision, engine_from_settings, head_revision, migrate, safe_url
    from core.settings import Settings

    settings = Settings.from_env()
    engine = engine_from_settings(settings)
    try:
        head = head_revision()
        where = safe_url(engine.url)
        if args.check:
            current = current_revision(engine)
            if current != head:
                print(f"{where}: schema at {current or 'nothing'}, newest is {head}: "
                      "run python -m jobs.migrate")
                return EXIT_FAILED
            print(f"{where}: schema current ({head})")
            return EXIT_OK
        before = current_revision(engine)
        if migrate(engine, busy_timeout=settings.db_busy_timeout_seconds):
            print(f"{where}: schema migrated from {before or 'nothing'} to {head}")
        else:
            print(f"{where}: schema already current ({head})")
        return EXIT_OK
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(run_main(main))
