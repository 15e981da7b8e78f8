"""Secret redaction: the one place that removes credentials from text before it is logged,
stored (audit log, job runs, notification state) or shown.

- :func:`redact_url` masks a URL's password (``postgresql://vigil:***@db/vigil``), a token
  used as the user name (``https://***@host``), token-like query parameters (``token``,
  ``access_token``, ``api_key``, ``secret``, ``password``, ``sig``, ``X-Amz-Signature``, ...)
  and token-like path parts: everything after ``hooks.slack.com/`` or a ``webhook(s)``/``hooks``
  segment, and any long random-looking segment (mixed case and digits).
- :func:`redact_text` finds URLs, ``key=value`` / ``key: value`` secrets, ``Bearer``/``Basic``
  credentials and the literal values of known secret settings in free text (exception
  messages) and masks them.
- :func:`redact_obj` applies :func:`redact_text` to every string of nested dicts/lists/tuples
  (and masks the whole value of a secret-named key).

Known secret settings are read lazily from the environment (no hook in core.settings needed):
the passwords, user tokens, secret query values and webhook paths of ``DATABASE_URL``,
``MLFLOW_TRACKING_URI``, ``PROMETHEUS_URL`` and ``VIGIL_WEBHOOK_URL``, and the values of
``PROMETHEUS_PASSWORD``, ``PROMETHEUS_BEARER_TOKEN``, ``MLFLOW_TRACKING_PASSWORD``,
``MLFLOW_TRACKING_TOKEN`` and ``VIGIL_TOKEN``. :func:`register_secret` adds more (literals
shorter than :data:`MIN_LITERAL` characters are ignored: masking them would garble text).

:func:`install_log_redaction` makes every log record pass through :func:`redact_text`
(a log-record factory plus a :class:`RedactingFilter` on the root handlers) and redacts
uncaught tracebacks; ``jobs._cli.setup_logging`` and ``app.py`` call it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

MASK = "***"
MIN_LITERAL = 4
_MIN_PREFIX = 6  # the shortest cut-off start of a known secret masked at the end of a text

# Parameter / key names whose value is a secret: the whole (lower-cased) name, or its last
# word after '-', '_' or '.' (access_token, X-Amz-Signature, client.secret).
_SECRET_NAMES = frozenset({
    "token", "secret", "password", "passwd", "pwd", "pass", "sig", "signature", "key", "apikey",
    "api-key", "api_key", "auth", "authorization", "credential", "credentials", "sas", "sessionid",
    "session_token", "private_key", "passphrase", "code_verifier", "x-amz-credential",
})
_SECRET_WORDS = frozenset({"token", "secret", "password", "passwd", "pwd", "sig", "signature", "key",
                           "apikey", "credential", "credentials", "passphrase", "auth"})
# Env variables whose whole value is a secret, and env URLs whose secret parts are registered.
SECRET_ENV = ("PROMETHEUS_PASSWORD", "PROMETHEUS_BEARER_TOKEN", "MLFLOW_TRACKING_PASSWORD",
              "MLFLOW_TRACKING_TOKEN", "VIGIL_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
URL_ENV = ("DATABASE_URL", "MLFLOW_TRACKING_URI", "PROMETHEUS_URL", "VIGIL_WEBHOOK_URL")
WEBHOOK_ENV = ("VIGIL_WEBHOOK_URL",)

_WEBHOOK_HOSTS = ("hooks.slack.com", "hooks.zapier.com", "webhook.office.com")
_WEBHOOK_SEGMENTS = frozenset({"webhook", "webhooks", "hooks"})
_URL_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
# Free text: "key", "auth" and "pass" alone are ordinary words ("unknown key: foo"); they count
# only with a prefix (api_key, basic-auth). Only secret-named keys match, so a preceding
# "Error: token=..." cannot swallow the secret.
_BARE = frozenset({"key", "auth", "pass"})
_KEY_WORDS = "|".join(sorted((re.escape(w) for w in (_SECRET_WORDS | _SECRET_NAMES) - _BARE),
                             key=len, reverse=True))
_KEY_VALUE_RE = re.compile(
    rf"(?i)(?<![A-Za-z0-9])(?P<key>(?:[A-Za-z0-9]+[_.\-])*(?:{_KEY_WORDS})"
    r"|(?:[A-Za-z0-9]+[_.\-])+(?:key|auth|pass))"
    r"(?![A-Za-z0-9])(?P<q1>['\"]?)"
    r"(?P<sep>\s*[=:]\s*)(?P<q2>['\"]?)(?P<value>[^\s&'\",;)}\]]+)"
)
_SCHEME_AUTH_RE = re.compile(r"(?i)\b(Bearer|Basic|Token)\s+([A-Za-z0-9._~+/=\-]{8,})")
_RANDOM_SEGMENT_RE = re.compile(r"[A-Za-z0-9_\-+=~.]{20,}")
_FILE_NAME_RE = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}$")

_extra: set[str] = set()
_lock = threading.Lock()
_env_cache: dict[tuple[str | None, ...], tuple[str, ...]] = {}


# ---- classification -----------------------------------------------------------------------
def is_secret_name(name: str) -> bool:
    """True for parameter/key names that carry secrets (token, api_key, X-Amz-Signature, ...)."""
    lowered = name.strip().strip("'\"").lower()
    if lowered in _SECRET_NAMES:
        return True
    last = re.split(r"[-_.]", lowered)[-1]
    return last in _SECRET_WORDS


def looks_random(segment: str) -> bool:
    """A long segment mixing upper case, lower case and digits: a token, not a name or a date."""
    if not _RANDOM_SEGMENT_RE.fullmatch(segment):
        return False
    if _FILE_NAME_RE.search(segment):
        return False  # a file name (report-2026-11-30T12.jsonl), not a token
    return (sum(c.isupper() for c in segment) >= 2 and sum(c.islower() for c in segment) >= 2
            and any(c.isdigit() for c in segment))


# ---- URLs ---------------------------------------------------------------------------------
def _redact_netloc(netloc: str) -> str:
    if "@" not in netloc:
        return netloc
    userinfo, host = netloc.rsplit("@", 1)
    if ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        user = MASK if looks_random(unquote(user)) or len(user) > 40 else user
        return f"{user}:{MASK}@{host}"
    # a user name alone is often a token (https://ghp_...@github.com): keep only short plain names
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9._\-]{0,31}", unquote(userinfo)) and not looks_random(userinfo):
        return netloc
    return f"{MASK}@{host}"


def _redact_path(host: str, path: str) -> str:
    segments = path.split("/")
    webhook_host = host.lower().split(":")[0] in _WEBHOOK_HOSTS
    out: list[str] = []
    after_hook = False
    for i, segment in enumerate(segments):
        if segment and (after_hook or (webhook_host and i >= 2) or looks_random(unquote(segment))):
            out.append(MASK)
            continue
        out.append(segment)
        if segment.lower() in _WEBHOOK_SEGMENTS:
            after_hook = True
    return "/".join(out)


def _redact_query(query: str) -> str:
    if not query:
        return query
    parts = []
    for piece in query.split("&"):
        name, eq, value = piece.partition("=")
        if eq and value and (is_secret_name(unquote(name)) or looks_random(unquote(value))):
            value = MASK
        parts.append(f"{name}{eq}{value}")
    return "&".join(parts)


def redact_url(url: str) -> str:
    """``url`` with its password, user token, secret query values and token-like path parts masked.

    Text that is not a URL with a scheme is returned as :func:`redact_text` leaves it.
    """
    if not isinstance(url, str):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _redact_literals(url)
    if not parts.scheme or "://" not in url:
        return redact_text(url)
    netloc = _redact_netloc(parts.netloc)
    host = parts.netloc.rsplit("@", 1)[-1]
    path = _redact_path(host, parts.path)
    query = _redact_query(parts.query)
    fragment = _redact_query(parts.fragment) if "=" in parts.fragment else parts.fragment
    try:
        out = urlunsplit((parts.scheme, netloc, path, query, fragment))
    except ValueError:  # pragma: no cover - urlsplit accepted it
        out = url
    # sqlite:////abs/path and similar keep their slashes through urlunsplit only when netloc is set
    triple = f"{parts.scheme}:///"
    if parts.netloc == "" and url.startswith(triple) and not out.startswith(triple):
        out = f"{parts.scheme}://" + out[len(parts.scheme) + 1:]
    return _redact_literals(out)


# ---- known secret settings ----------------------------------------------------------------
def url_secrets(url: str, *, webhook: bool = False) -> list[str]:
    """The secret parts of ``url``: password, user token, secret query values, token-like path
    segments (all of the path for a webhook), each raw and percent-decoded."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        user, colon, password = userinfo.partition(":")
        if colon:
            found.append(password)
            if looks_random(unquote(user)):
                found.append(user)
        elif _redact_netloc(parts.netloc).startswith(MASK):
            found.append(user)
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if is_secret_name(name) or looks_random(value):
            found.append(value)
    host = parts.netloc.rsplit("@", 1)[-1]
    if webhook and parts.path.strip("/"):
        found.append(parts.path.rstrip("/"))
        found.extend(s for s in parts.path.split("/") if len(s) >= 8)
    redacted = _redact_path(host, parts.path).split("/")
    found.extend(raw for raw, red in zip(parts.path.split("/"), redacted, strict=False) if red == MASK)
    out: list[str] = []
    for value in found:
        for form in (value, unquote(value), quote(unquote(value), safe="")):
            if len(form) >= MIN_LITERAL and form not in out:
                out.append(form)
    return out


def register_secret(*values: str | None) -> None:
    """Mask these literal values wherever they appear (values under MIN_LITERAL chars are ignored)."""
    with _lock:
        for value in values:
            if value and len(value) >= MIN_LITERAL:
                _extra.add(value)


def _env_literals() -> tuple[str, ...]:
    env = os.environ
    key = tuple(env.get(name) for name in (*SECRET_ENV, *URL_ENV))
    cached = _env_cache.get(key)
    if cached is not None:
        return cached
    values: list[str] = [v for v in (env.get(n) for n in SECRET_ENV) if v and len(v) >= MIN_LITERAL]
    for name in URL_ENV:
        url = env.get(name)
        if url:
            values.extend(url_secrets(url, webhook=name in WEBHOOK_ENV))
    # longest first, so that a path is masked before the segments inside it
    literals = tuple(sorted(set(values), key=len, reverse=True))
    if len(_env_cache) > 32:
        _env_cache.clear()
    _env_cache[key] = literals
    return literals


def _literals() -> Iterable[str]:
    with _lock:
        extra = sorted(_extra, key=len, reverse=True)
    return (*_env_literals(), *extra)


def _redact_literals(text: str, secrets: Iterable[str] = ()) -> str:
    extra = sorted((s for s in secrets if s and len(s) >= MIN_LITERAL), key=len, reverse=True)
    for literal in (*extra, *_literals()):
        if literal in text:
            text = text.replace(literal, MASK)
        else:  # a message cut short (``[:300]``) may end inside a secret: mask the cut-off prefix
            for size in range(len(literal) - 1, _MIN_PREFIX - 1, -1):
                if text.endswith(literal[:size]):
                    text = text[:-size] + MASK
                    break
    return text


# ---- free text ----------------------------------------------------------------------------
def _trim_url(match: re.Match[str]) -> str:
    url = match.group(0)
    tail = ""
    while url and url[-1] in ".,;:!?)]}":
        url, tail = url[:-1], url[-1] + tail
    return redact_url(url) + tail


def _key_value(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("key")) or match.group("value") == MASK:
        return match.group(0)
    if match.group("value").lower() in ("none", "null", "true", "false", "''", '""'):
        return match.group(0)
    return f"{match.group('key')}{match.group('q1')}{match.group('sep')}{match.group('q2')}{MASK}"


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (a log line, an exception message) with every secret it contains masked;
    ``secrets`` are further literals to mask (e.g. :func:`url_secrets` of a URL at hand)."""
    if not isinstance(text, str) or not text:
        return text
    text = _redact_literals(text, secrets)
    text = _URL_RE.sub(_trim_url, text)
    text = _SCHEME_AUTH_RE.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _KEY_VALUE_RE.sub(_key_value, text)


def redact_obj(obj: Any) -> Any:
    """A copy of nested dicts/lists/tuples with every string redacted and the values of
    secret-named keys masked."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {k: (MASK if isinstance(k, str) and is_secret_name(k) and v not in (None, "")
                    and not isinstance(v, (dict, list, tuple, bool)) else redact_obj(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj


# ---- logging ------------------------------------------------------------------------------
class RedactingFilter(logging.Filter):
    """Redact a record's message and traceback in place (install on handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_vigil_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: leave it to the handler to complain
        return
    redacted = redact_text(message)
    if redacted != message or record.args:
        record.msg, record.args = redacted, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact_text(record.exc_text)
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)
    record._vigil_redacted = True  # type: ignore[attr-defined]


_installed = False


def install_log_redaction() -> None:
    """Redact every log record of this process and every uncaught traceback (idempotent)."""
    global _installed
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if _installed:
        return
    _installed = True
    previous_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous_factory(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    previous_hook = sys.excepthook

    def excepthook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        import traceback

        text = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            sys.stderr.write(redact_text(text))
        except Exception:  # pragma: no cover - stderr gone
            previous_hook(exc_type, exc, tb)

    sys.excepthook = excepthook


#: A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` for a CSV cell a person opens in a spreadsheet: a leading apostrophe when the
    program would otherwise run it as a formula (OWASP "CSV injection")."""
    return "'" + text if text.startswith(FORMULA_START) else text
