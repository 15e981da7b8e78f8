"""The MLflow model registry adapter: versions, aliases, metrics, models and reference data.

Everything MLflow-specific stays in this module, and so does the one champion rule
(:func:`champion_of`, :meth:`ModelRegistry.champion`: the version the ``champion`` alias points
at). Callers get frozen :class:`ModelVersionInfo` records and project errors: a registry that
does not answer raises ``ServiceUnavailable``, a missing registered model, version or artifact
raises ``NotFound``.

``mlflow`` is imported lazily (it takes seconds), so importing this module is cheap.

Timeouts: against an HTTP tracking server, :meth:`ModelRegistry.ping` asks ``/health`` with a
3-second timeout, and the other calls run with MLflow's retries lowered (the defaults retry
for minutes): ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=1``, ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=1``
and ``MLFLOW_HTTP_REQUEST_TIMEOUT=30`` unless the environment already sets them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from core.errors import InvalidInput, NotFound, ServiceUnavailable
from core.redact import redact_text, redact_url, url_secrets

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

CHAMPION = "champion"
REFERENCE_ARTIFACT = "reference/reference.parquet"
PING_TIMEOUT_S = 3.0
_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND", "ENDPOINT_NOT_FOUND"}


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version as the console shows it."""

    version: str
    run_id: str | None
    created_at: datetime  # UTC
    aliases: tuple[str, ...] = ()
    metrics: dict[str, float] = field(default_factory=dict)
    status: str = "READY"
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    registered_model: str = ""

    @property
    def is_champion(self) -> bool:
        """The one champion rule: the version the ``champion`` alias points at."""
        return CHAMPION in self.aliases


def champion_of(versions: Iterable[ModelVersionInfo]) -> ModelVersionInfo | None:
    """The champion among ``versions`` (:attr:`ModelVersionInfo.is_champion`), or None.

    Callers that already listed the versions use this instead of asking the registry again;
    :meth:`ModelRegistry.champion` applies the same rule through the alias."""
    return next((v for v in versions if v.is_champion), None)


def _quote(value: str) -> str:
    """Quote a value for an MLflow filter string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sqlite_file(uri: str) -> Path | None:
    if not uri.startswith("sqlite:"):
        return None
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    if not path or path == "/:memory:":
        return None
    # sqlite:///relative.db -> path "/relative.db"; sqlite:////abs.db -> "//abs.db"
    if uri.startswith("sqlite:////"):
        return Path(path[1:]) if path.startswith("//") else Path(path)
    return Path(path.lstrip("/")) if uri.startswith("sqlite:///") else Path(path)


class ModelRegistry:
    """Adapter over one MLflow tracking/registry URI (``sqlite:///...`` or ``http://...``)."""

    def __init__(self, tracking_uri: str):
        if not tracking_uri or not tracking_uri.strip():
            raise InvalidInput("MLFLOW_TRACKING_URI is empty: set it to a sqlite:/// or http:// URI")
        self.tracking_uri = tracking_uri.strip()
        self._client: MlflowClient | None = None
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if self._is_http:
            for key, value in _HTTP_DEFAULTS.items():
                os.environ.setdefault(key, value)

    def __repr__(self) -> str:
        return f"ModelRegistry({self.where!r})"

    @property
    def where(self) -> str:
        """The tracking URI as messages show it: credentials and tokens masked (core.redact)."""
        return redact_url(self.tracking_uri)

    def _safe(self, text: object) -> str:
        """``text`` with every secret of the tracking URI (and any other known secret) masked."""
        return redact_text(str(text), secrets=url_secrets(self.tracking_uri))

    @property
    def _is_http(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    # -- plumbing ---------------------------------------------------------------------------
    def _check_local_store(self) -> None:
        db = _sqlite_file(self.tracking_uri)
        if db is not None and not db.exists():
            raise ServiceUnavailable(
                f"MLflow registry {self.where}: database file {db} does not exist "
                "(run `python -m jobs.demo`, or set MLFLOW_TRACKING_URI to your registry)"
            )

    def _mlflow_client(self) -> MlflowClient:
        if self._client is None:
            self._check_local_store()
            import core  # noqa: F401  (telemetry off before mlflow is imported)

            with self._errors("connect"):
                from mlflow import MlflowClient

                self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        return self._client

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate MLflow and transport failures into project errors."""
        try:
            yield
        except (NotFound, ServiceUnavailable, InvalidInput):
            raise
        except Exception as exc:  # noqa: BLE001  every MLflow/transport failure is translated
            code = str(getattr(exc, "error_code", "") or "")
            message = self._safe(str(getattr(exc, "message", "") or exc).strip().splitlines()[0])[:300]
            if code in _NOT_FOUND_CODES:
                raise NotFound(f"{what}: {message}") from None
            raise ServiceUnavailable(
                f"MLflow registry {self.where} failed ({what}): {type(exc).__name__}: {message}"
            ) from None

    def _registered(self, name: str) -> Any:
        client = self._mlflow_client()
        try:
            with self._errors(f"registered model {name!r}"):
                return client.get_registered_model(name)
        except NotFound:
            raise NotFound(
                f"registered model {name!r} is not in the MLflow registry {self.where}"
            ) from None

    def _version(self, name: str, version: str | int) -> Any:
        self._registered(name)
        client = self._mlflow_client()
        try:
            with self._errors(f"version {version} of {name!r}"):
                return client.get_model_version(name, str(version))
        except NotFound:
            raise NotFound(f"registered model {name!r} has no version {version}") from None

    def _info(self, mv: Any, aliases: dict[str, str]) -> ModelVersionInfo:
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                with self._errors(f"run {mv.run_id}"):
                    metrics = dict(self._mlflow_client().get_run(mv.run_id).data.metrics)
            except NotFound:
                metrics = {}
        millis = int(mv.creation_timestamp or 0)
        version = str(mv.version)
        return ModelVersionInfo(
            registered_model=str(mv.name),
            version=version,
            run_id=mv.run_id or None,
            created_at=datetime.fromtimestamp(millis / 1000, tz=UTC),
            aliases=tuple(sorted(a for a, v in aliases.items() if str(v) == version)),
            metrics={k: float(v) for k, v in metrics.items()},
            status=str(mv.status or ""),
            description=str(mv.description or ""),
            tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
        )

    # -- public API -------------------------------------------------------------------------
    def ping(self) -> None:
        """Return when the registry answers; raise ``ServiceUnavailable`` within seconds if not."""
        if self._is_http:
            url = self.tracking_uri.rstrip("/") + "/health"
            try:
                with urllib.request.urlopen(url, timeout=PING_TIMEOUT_S) as response:
                    if response.status != 200:
                        raise ServiceUnavailable(
                            f"MLflow server {self.where} answered HTTP {response.status}")
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                raise ServiceUnavailable(
                    f"MLflow server {self.where} does not answer: {self._safe(reason)}"
                ) from None
        client = self._mlflow_client()
        with self._errors("ping"):
            client.search_registered_models(max_results=1)

    def list_versions(self, registered_model: str) -> list[ModelVersionInfo]:
        """All versions of a registered model, newest first, with run metrics and aliases."""
        rm = self._registered(registered_model)
        aliases = dict(getattr(rm, "aliases", None) or {})
        client = self._mlflow_client()
        with self._errors(f"versions of {registered_model!r}"):
            found = list(client.search_model_versions(f"name = {_quote(registered_model)}"))
        found.sort(key=lambda mv: int(mv.version), reverse=True)
        return [self._info(mv, aliases) for mv in found]

    def aliases(self, registered_model: str) -> dict[str, str]:
        """The registered model's aliases (alias -> version), read in one call."""
        rm = self._registered(registered_model)
        return {str(a): str(v) for a, v in dict(getattr(rm, "aliases", None) or {}).items()}

    def champion(self, registered_model: str) -> ModelVersionInfo | None:
        """The version the ``champion`` alias points at, or None when no alias is set."""
        return self.version_by_alias(registered_model, CHAMPION)

    def version_by_alias(self, registered_model: str, alias: str) -> ModelVersionInfo | None:
        rm = self._registered(registered_model)
        aliases = dict(getattr(rm, "aliases", None) or {})
        if alias not in aliases:
            return None
        return self._info(self._version(registered_model, aliases[alias]), aliases)

    def get_version(self, registered_model: str, version: str | int) -> ModelVersionInfo:
        rm = self._registered(registered_model)
        return self._info(self._version(registered_model, version), dict(getattr(rm, "aliases", {}) or {}))

    def set_alias(self, registered_model: str, alias: str, version: str | int) -> None:
        """Point ``alias`` (e.g. ``champion``) at ``version``; the version must exist."""
        if not alias or not alias.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"alias {alias!r}: use letters, digits, '-' or '_'")
        self._version(registered_model, version)
        with self._errors(f"set alias {alias!r} on {registered_model!r}"):
            self._mlflow_client().set_registered_model_alias(registered_model, alias, str(version))

    def delete_alias(self, registered_model: str, alias: str) -> None:
        """Remove ``alias`` from the registered model; a missing alias is not an error."""
        rm = self._registered(registered_model)
        if alias not in dict(getattr(rm, "aliases", None) or {}):
            return
        with self._errors(f"delete alias {alias!r} on {registered_model!r}"):
            self._mlflow_client().delete_registered_model_alias(registered_model, alias)

    def _download_model(self, registered_model: str, version: str | int, dst: str) -> Path:
        """Download the version's model directory. The artifact location is resolved through
        this registry's client, never through MLflow's process-wide tracking URI."""
        self._version(registered_model, version)
        client = self._mlflow_client()
        with self._errors(f"download {registered_model!r} version {version}"):
            import mlflow.artifacts

            location = client.get_model_version_download_uri(registered_model, str(version))
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=location, dst_path=dst, tracking_uri=self.tracking_uri
            )
        return Path(local)

    @staticmethod
    def _flavor_of(model_dir: Path) -> str:
        from mlflow.models import Model

        flavors = Model.load(str(model_dir / "MLmodel")).flavors
        for name in ("pytorch", "sklearn"):
            if name in flavors:
                return name
        return "python_function"

    def flavor(self, registered_model: str, version: str | int) -> str:
        """``pytorch``, ``sklearn`` or ``python_function``, read from the version's MLmodel."""
        with tempfile.TemporaryDirectory(prefix="vigil-model-") as tmp:
            model_dir = self._download_model(registered_model, version, tmp)
            with self._errors(f"MLmodel of {registered_model!r} version {version}"):
                return self._flavor_of(model_dir)

    def load_model(self, registered_model: str, version: str | int, *, device: str | None = None) -> Any:
        """The model object: torch ``nn.Module`` in eval mode (on ``device``, default CPU),
        sklearn estimator, or an MLflow pyfunc model for any other flavor."""
        tmp = tempfile.mkdtemp(prefix="vigil-model-")
        keep = False
        try:
            model_dir = self._download_model(registered_model, version, tmp)
            with self._errors(f"load {registered_model!r} version {version}"):
                flavor = self._flavor_of(model_dir)
                if flavor == "pytorch":
                    import mlflow.pytorch

                    model = mlflow.pytorch.load_model(str(model_dir), map_location=device or "cpu")
                    model.eval()
                    return model
                if flavor == "sklearn":
                    import mlflow.sklearn

                    return mlflow.sklearn.load_model(str(model_dir))
                import mlflow.pyfunc

                keep = True  # a pyfunc model may read its files lazily
                return mlflow.pyfunc.load_model(str(model_dir))
        finally:
            if not keep:
                shutil.rmtree(tmp, ignore_errors=True)

    def reference_data(self, registered_model: str, version: str | int) -> pd.DataFrame:
        """The training features logged with the version's run as ``reference/reference.parquet``."""
        mv = self._version(registered_model, version)
        if not mv.run_id:
            raise NotFound(f"{registered_model!r} version {version} has no run, so no reference data")
        client = self._mlflow_client()
        with tempfile.TemporaryDirectory(prefix="vigil-ref-") as tmp:
            try:
                with self._errors(f"reference data of {registered_model!r} version {version}"):
                    local = client.download_artifacts(mv.run_id, REFERENCE_ARTIFACT, tmp)
            except ServiceUnavailable as exc:
                if "No such file" in str(exc) or "not found" in str(exc).lower():
                    raise NotFound(
                        f"{registered_model!r} version {version} has no artifact "
                        f"{REFERENCE_ARTIFACT} in run {mv.run_id}"
                    ) from None
                raise
            if not Path(local).is_file():
                raise NotFound(
                    f"{registered_model!r} version {version} has no artifact "
                    f"{REFERENCE_ARTIFACT} in run {mv.run_id}"
                )
            import pandas as pd

            return pd.read_parquet(local)

    def log_artifact(
        self,
        registered_model: str,
        version: str | int,
        local_path: str | Path,
        artifact_path: str | None = None,
    ) -> None:
        """Attach a local file to the run of a version (e.g. a SHAP report)."""
        path = Path(local_path)
        if not path.exists():
            raise InvalidInput(f"cannot log artifact {path}: no such file")
        mv = self._version(registered_model, version)
        if not mv.run_id:
            raise NotFound(f"{registered_model!r} version {version} has no run to attach artifacts to")
        with self._errors(f"log artifact to {registered_model!r} version {version}"):
            self._mlflow_client().log_artifact(mv.run_id, str(path), artifact_path)


def model_versions(ctx: Any, model: str, *, viewer: str | None,
                   registry: ModelRegistry | None = None) -> list[ModelVersionInfo]:
    """The read service for a configured model's MLflow versions (newest first): needs
    ``model.view`` (``viewer=None``: a trusted internal caller); NotFound when the registered
    model does not exist yet, ServiceUnavailable when MLflow does not answer."""
    from governance.rbac import require_view

    require_view(ctx, viewer, model)
    registered = ctx.models.get(model).registered_model
    return list((registry or ModelRegistry(ctx.settings.mlflow_tracking_uri)).list_versions(registered))
