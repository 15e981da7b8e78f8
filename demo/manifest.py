"""``<data>/demo/manifest.json``: the demo's anchor time and which build steps have finished.

Re-running the demo skips finished steps; ``--force`` starts a new manifest (and a new anchor).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.artifacts import atomic_write_bytes
from core.errors import ConfigError

FORMAT = 1


def manifest_path(data_dir: Path) -> Path:
    return Path(data_dir) / "demo" / "manifest.json"


@dataclass
class Manifest:
    """Mutable build state, saved after every step."""

    path: Path
    anchor: datetime
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Manifest | None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            anchor = datetime.fromisoformat(raw["anchor"]).astimezone(UTC)
            steps = dict(raw.get("steps") or {})
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"{path}: not a valid demo manifest ({exc}); rebuild with `python -m jobs.demo --force`"
            ) from None
        return cls(path=path, anchor=anchor, steps=steps)

    def done(self, step: str) -> bool:
        return step in self.steps

    def mark(self, step: str, details: dict[str, Any]) -> None:
        self.steps[step] = {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "details": details,
        }
        self.save()

    def details(self, step: str) -> dict[str, Any]:
        return dict(self.steps.get(step, {}).get("details") or {})

    def save(self) -> None:
        body = {"format": FORMAT, "anchor": self.anchor.isoformat(), "steps": self.steps}
        atomic_write_bytes(self.path, (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8"))
