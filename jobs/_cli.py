"""Shared helper for job entry points: logging, exit codes, clear errors instead of tracebacks.

Exit codes (cron and CI rely on them):
    0 success, 1 failure (including a broken audit chain), 2 usage or configuration error,
    3 drift found with --fail-on-drift, 4 permission denied, 5 a dependency is unavailable.
    6 no data: the data to check had no rows (never read as "no drift").
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from core.errors import (
    AuthenticationError,
    ConfigError,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    VigilError,
)
from core.redact import install_log_redaction, redact_text

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DRIFT = 3
EXIT_DENIED = 4
EXIT_UNAVAILABLE = 5
EXIT_NO_DATA = 6

log = logging.getLogger("vigil.jobs")


def iso_time(value: str) -> datetime:
    """argparse type of an ISO-8601 moment (UTC unless it carries an offset; ``Z`` allowed)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO-8601 time: {value!r} (e.g. 2027-01-01T00:00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_redaction()  # core.redact: no secret in any log line or uncaught traceback
    if not verbose:  # migrations at start-up would otherwise print ~10 INFO lines per command
        logging.getLogger("alembic").setLevel(logging.WARNING)


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m jobs.{prog}", description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return p


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run ``main`` and turn project errors into one line on stderr and an exit code."""
    try:
        return main(argv)
    except ConfigError as exc:
        print(f"configuration error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (InvalidInput, NotFound) as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except (PermissionDenied, AuthenticationError) as exc:
        print(f"permission denied: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_DENIED
    except ServiceUnavailable as exc:
        print(f"unavailable: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except Conflict as exc:
        print(f"conflict: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except VigilError as exc:
        print(f"error: {redact_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # a database outage no service translated: one line (no SQL, no parameters), exit 5
        from sqlalchemy.exc import InterfaceError, OperationalError

        if not isinstance(exc, (OperationalError, InterfaceError)):
            raise
        from core.db import describe_db_error

        print(f"unavailable: {describe_db_error(exc)}", file=sys.stderr)
        return EXIT_UNAVAILABLE
