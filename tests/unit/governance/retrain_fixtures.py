"""Shared set-up of the retrain tests: a models file whose retrain commands are real Python
one-liners (written to disk, so a worker subprocess reads the same file), and the accounts of
the release tests (opal operates both models, vic only views breast-cancer)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import yaml

from core.config import ModelsConfig

BC, DIA = "breast-cancer", "diabetes"


def py(code: str) -> str:
    """A retrain command running ``code`` in this interpreter."""
    return f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}"


def with_retrain(models_config: ModelsConfig, commands: dict[str, str], *, timeout_s: int = 60,
                 policy: dict[str, dict] | None = None) -> ModelsConfig:
    raw = models_config.model_dump()
    for m in raw["models"]:
        if m["name"] in commands:
            m["retrain"] = {"command": commands[m["name"]], "timeout_s": timeout_s,
                            "policy": (policy or {}).get(m["name"], {})}
    return ModelsConfig.model_validate(raw)


def write_models(config: ModelsConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    return path
