"""Who performs an action, and from where: every service call that changes state takes one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Source = Literal["ui", "job", "cli", "mcp"]


@dataclass(frozen=True)
class Actor:
    username: str
    source: Source
    client_addr: str | None = None

    def describe(self) -> str:
        where = f"{self.source}@{self.client_addr}" if self.client_addr else self.source
        return f"{self.username} ({where})"
