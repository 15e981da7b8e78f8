"""Session-state keys, one constant each, prefixed by the page or area that owns them.

Tests use these constants too (e.g. to put a session token in place), so a renamed key
breaks loudly instead of silently signing everybody out.
"""

from __future__ import annotations

# Identity (ui/auth.py)
AUTH_TOKEN = "auth.token"  # local-mode session token from governance.identity.authenticate
AUTH_EXTERNAL_USER = "auth.external_user"  # username signed in through OIDC or the proxy header
AUTH_EXTERNAL_REFUSED = "auth.external_refused"  # external username refused in this session
AUTH_EXTERNAL_TOKEN = "auth.external_token"  # session token returned by external_sign_in, if any
AUTH_CURRENT = "auth.current"  # CurrentUser resolved by app.py for the current run
AUTH_NOTICE = "auth.notice"  # one-off message shown on the sign-in page (e.g. "session expired")
AUTH_COOKIE_WRITE = "auth.cookie_write"  # pending session-cookie write: a token to set, "" to clear
AUTH_COOKIE_STALE = "auth.cookie_stale"  # cookie token this browser session must not use again

# Sign-in page
SIGN_IN_ERROR = "sign_in.error"

# Audit page
AUDIT_EXPORT_RESULT = "audit.export_result"  # (filename, mime, zip bytes) of the last confirmed export
AUDIT_EXPORT_ERROR = "audit.export_error"
AUDIT_PACK_RESULT = "audit.pack_result"  # (filename, mime, zip bytes) of the last evidence pack
AUDIT_PACK_ERROR = "audit.pack_error"

# Access page
ACCESS_RESULT = "access.result"  # message of the last confirmed grant / revoke
ACCESS_ERROR = "access.error"

# Personal API tokens (ui/tokens.py, on the API tokens and Access pages)
TOKENS_NEW = "tokens.new"  # the plaintext of the token just created: shown on the next run, then dropped
TOKENS_RESULT = "tokens.result"
TOKENS_ERROR = "tokens.error"

# Confirmation dialogs (ui/components.py): the name of the write waiting for confirmation
CONFIRM_PENDING = "confirm.pending"

# Approvals page (ui/approvals.py)
APPROVALS_PENDING = "approvals.pending"  # (request id, "approve" | "reject") waiting in the dialog
APPROVALS_COMMENT = "approvals.comment"  # the dialog's comment box
APPROVALS_RESULT = "approvals.result"  # message of the last confirmed decision
APPROVALS_ERROR = "approvals.error"  # the service's refusal of the last confirmed decision
APPROVALS_STATE = "approvals.state"  # the state filter of the "All requests" list

# Releases page (ui/releases.py)
RELEASES_PENDING = "releases.pending"  # (model, "rollback" | "retrain") waiting in its dialog
RELEASES_TARGET = "releases.rollback.target"  # the rollback dialog's target version
RELEASES_REASON = "releases.rollback.reason"  # the rollback dialog's reason box
RELEASES_RETRAIN_REASON = "releases.retrain.reason"  # the retrain dialog's reason box
RELEASES_LOG_JOB = "releases.log_job"  # the retrain job whose log tail is shown
RELEASES_RESULT = "releases.result"  # message of the last confirmed rollback or retrain
RELEASES_ERROR = "releases.error"
