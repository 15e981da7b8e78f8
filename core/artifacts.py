"""Content-addressed artifact store under ``<data>/artifacts`` (reports, profiles, exports).

Writes are atomic (temporary file, fsync, rename); every artifact is addressed by its
SHA-256 so that an approval can cite exactly the report it saw.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class StoredArtifact:
    kind: str
    name: str
    sha256: str
    path: Path
    size: int


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def put(self, kind: str, name: str, data: bytes) -> StoredArtifact:
        """Store ``data`` as ``<kind>/<sha256[:2]>/<sha256>/<name>`` and return its address."""
        if "/" in name or name in {"", ".", ".."} or "/" in kind or not kind:
            raise InvalidInput(f"artifact kind/name must be plain names, got {kind!r}/{name!r}")
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / kind / digest[:2] / digest / name
        if not path.exists():
            atomic_write_bytes(path, data)
        return StoredArtifact(kind=kind, name=name, sha256=digest, path=path, size=len(data))

    def get(self, kind: str, sha256: str, name: str) -> bytes:
        path = self.root / kind / sha256[:2] / sha256 / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(f"artifact {kind}/{sha256}/{name} is not in the store") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise InvalidInput(f"artifact {kind}/{sha256}/{name} is corrupted (checksum mismatch)")
        return data

    def path(self, kind: str, sha256: str, name: str) -> Path:
        return self.root / kind / sha256[:2] / sha256 / name
