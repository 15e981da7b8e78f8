"""The project's exception hierarchy: every error a user can see derives from VigilError.

Public functions translate low-level failures (SQLAlchemy, HTTP, file system) into one of
these, with a message that names what the user must fix.
"""


class VigilError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(VigilError):
    """Configuration is missing or invalid; the message names the key and the file."""


class PermissionDenied(VigilError):
    """The acting user lacks the permission for the action on the resource."""


class AuthenticationError(VigilError):
    """Sign-in failed. The message never says whether the user exists."""


class NotFound(VigilError):
    """A named object (model, version, user, run) does not exist."""


class ServiceUnavailable(VigilError):
    """A dependency (database, MLflow, Prometheus, webhook) did not answer."""


class InvalidInput(VigilError):
    """Input data or an argument is malformed; the message says what and where."""


class Conflict(VigilError):
    """The action conflicts with the current state (e.g. a job of the same kind is running)."""
