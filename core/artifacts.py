"""The content-addressed artifact store (reports, profiles, exports): ``<kind>/<sha256[:2]>/
<sha256>/<name>`` under ``<data>/artifacts`` or under VIGIL_ARTIFACT_URL (any fsspec URL, e.g.
``s3://bucket/artifacts``; see core.storage).

Every artifact is addressed by its SHA-256, so an approval can cite exactly the report it saw,
and a read checks the checksum. Writes follow core.storage's write-then-publish rule: readers see
no artifact or the whole one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.errors import InvalidInput, NotFound
from core.storage import Location, write_bytes_atomic


@dataclass(frozen=True)
class StoredArtifact:
    kind: str
    name: str
    sha256: str
    path: Path | str  # a local Path, or the object's URL when the store is remote
    size: int


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` (a local path or a URL) so that readers see the old file or
    the whole new one (core.storage's write-then-publish rule)."""
    write_bytes_atomic(path, data)


class ArtifactStore:
    """Put and get artifacts under one location (a directory or an fsspec URL)."""

    def __init__(self, root: Path | str | Location):
        self.location = Location.of(root)

    @property
    def root(self) -> Path | str:
        return Path(self.location.root) if self.location.local else self.location.url

    def _key(self, kind: str, sha256: str, name: str) -> str:
        return self.location.join(kind, sha256[:2], sha256, name)

    def put(self, kind: str, name: str, data: bytes) -> StoredArtifact:
        """Store ``data`` as ``<kind>/<sha256[:2]>/<sha256>/<name>`` and return its address."""
        if "/" in name or name in {"", ".", ".."} or "/" in kind or not kind:
            raise InvalidInput(f"artifact kind/name must be plain names, got {kind!r}/{name!r}")
        digest = hashlib.sha256(data).hexdigest()
        key = self._key(kind, digest, name)
        if not self.location.exists(key):
            self.location.write_bytes(key, data)
        return StoredArtifact(kind=kind, name=name, sha256=digest, path=self.path(kind, digest, name),
                              size=len(data))

    def get(self, kind: str, sha256: str, name: str) -> bytes:
        try:
            data = self.location.read_bytes(self._key(kind, sha256, name))
        except FileNotFoundError:
            raise NotFound(f"artifact {kind}/{sha256}/{name} is not in the store") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise InvalidInput(f"artifact {kind}/{sha256}/{name} is corrupted (checksum mismatch)")
        return data

    def path(self, kind: str, sha256: str, name: str) -> Path | str:
        """Where the artifact lies: a local Path, or its URL on an object store."""
        key = self._key(kind, sha256, name)
        return Path(key) if self.location.local else self.location.address(key)

    @contextmanager
    def local_file(self, kind: str, sha256: str, name: str) -> Iterator[Path]:
        """A local file with the artifact's bytes for the body (for APIs that need a path, such
        as MLflow's log_artifact); the stored file itself when the store is local."""
        with self.location.local_copy(self._key(kind, sha256, name)) as local:
            yield local
