"""The application context: settings, models config and database engine, built once.

Entry points (app.py through ui/, and each job) build one context and pass it to services.
Services never build engines themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from core.config import ModelsConfig, load_models_config
from core.db import engine_from_settings, migrate
from core.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    models: ModelsConfig

    @classmethod
    def create(cls, settings: Settings | None = None, *, run_migrations: bool = True,
               models: ModelsConfig | None = None) -> AppContext:
        settings = settings or Settings.from_env()
        models = models if models is not None else load_models_config(settings.config_file)
        settings.ensure_dirs()
        engine = engine_from_settings(settings)
        if run_migrations:
            migrate(engine, busy_timeout=settings.db_busy_timeout_seconds)
        return cls(settings=settings, engine=engine, models=models)

    @cached_property
    def audit(self):  # type: ignore[no-untyped-def]
        from governance.audit import AuditLog

        return AuditLog(self.engine)

    @cached_property
    def artifacts(self):  # type: ignore[no-untyped-def]
        from core.artifacts import ArtifactStore
        from core.storage import artifact_location

        return ArtifactStore(artifact_location(self.settings))
