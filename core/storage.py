"""Storage by URL: where the artifact store, the log store and the quarantine live, and the one
write-then-publish rule every write to them follows.

A store's location is a local directory (the default: ``artifacts``, ``logstore`` and
``quarantine`` under VIGIL_DATA_DIR) or any fsspec URL (``s3://bucket/prefix``, ``gs://...``),
chosen by two settings: VIGIL_ARTIFACT_URL (the artifact store) and VIGIL_LOGSTORE_URL (the log
store; the quarantine lives under it, in ``_quarantine/``, a name dataset readers skip). An
object store's credentials and endpoint come from its client's own configuration (for S3:
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...), never from a URL that is shown.

**Write, then publish.** A reader sees no file or the whole file, never a partial one:

- local disk: the bytes go to a hidden temporary name in the target's directory
  (``.<name>.<random>.tmp``), are fsync'ed, then ``os.replace``'d onto the target;
- object store: the bytes are spooled to a local temporary file and uploaded as one object
  (one PUT, or a multipart upload that the server completes at the end); an object store shows
  an object only once its upload is complete.

:meth:`Location.move` publishes a staged file: ``os.replace`` locally; on an object store a
server-side copy then a delete (the copy is atomic; a crash in between leaves the staged object,
and moving it again is idempotent).

A stored file is named by its *address*: the local path as a string, or the full URL
(``s3://bucket/key``) on an object store. :func:`split` turns an address back into its
:class:`Location` and path.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LOCAL_PROTOCOLS = ("file", "local")
QUARANTINE_UNDER_LOGSTORE = "_quarantine"


def is_url(where: object) -> bool:
    return isinstance(where, str) and "://" in where


def protocol_of(fs: Any) -> str:
    """An fsspec filesystem's main protocol (``s3``, ``file``, ...)."""
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


@dataclass(frozen=True)
class Location:
    """A directory on local disk (``fs`` None) or under an fsspec filesystem's ``root``."""

    root: str
    fs: Any = None

    @classmethod
    def of(cls, where: str | Path | Location) -> Location:
        """A location from a local path, a ``file://`` URL or any fsspec URL."""
        if isinstance(where, Location):
            return where
        if not is_url(where):
            return cls(str(Path(where).expanduser()))
        import fsspec

        from core.errors import ConfigError
        from core.redact import redact_url

        try:
            fs, root = fsspec.core.url_to_fs(str(where))
        except (ImportError, ValueError) as exc:
            shown = redact_url(str(where))
            raise ConfigError(f"storage location {shown}: {type(exc).__name__}: {exc}") from None
        if protocol_of(fs) in LOCAL_PROTOCOLS:
            return cls(str(Path(root)))
        return cls(root.rstrip("/"), fs)

    @property
    def local(self) -> bool:
        return self.fs is None

    @property
    def url(self) -> str:
        """The location as a URL (a plain path when local)."""
        return self.address(self.root)

    def __str__(self) -> str:
        from core.redact import redact_url

        return redact_url(self.url)

    # --- paths ----------------------------------------------------------------------------------

    def join(self, *parts: str) -> str:
        """The path of ``parts`` under this location (a filesystem path, not an address)."""
        return "/".join([self.root.rstrip("/") or "/", *parts]) if parts else self.root

    def child(self, *parts: str) -> Location:
        return Location(self.join(*parts), self.fs)

    def address(self, path: str) -> str:
        """The stable name of ``path``: itself when local, the full URL on an object store."""
        return path if self.fs is None else self.fs.unstrip_protocol(path)

    def arrow_filesystem(self) -> Any:
        """The filesystem to hand to pyarrow: None (its native local one) or the fsspec one."""
        return self.fs

    # --- reading --------------------------------------------------------------------------------

    def isdir(self, path: str | None = None) -> bool:
        path = self.root if path is None else path
        return Path(path).is_dir() if self.fs is None else bool(self.fs.isdir(path))

    def exists(self, path: str) -> bool:
        return Path(path).exists() if self.fs is None else bool(self.fs.exists(path))

    def listdir(self, path: str | None = None) -> list[str]:
        """Names (not paths) directly under ``path`` (default: the root); [] when missing."""
        path = self.root if path is None else path
        if self.fs is None:
            p = Path(path)
            return sorted(c.name for c in p.iterdir()) if p.is_dir() else []
        try:
            entries = self.fs.ls(path, detail=False, refresh=True)
        except FileNotFoundError:
            return []
        names = {e.rstrip("/").rsplit("/", 1)[-1] for e in entries}
        names.discard(path.rstrip("/").rsplit("/", 1)[-1])
        return sorted(names)

    def find(self, path: str | None = None) -> list[str]:
        """Paths of every file under ``path`` (default: the root), recursively; [] when missing."""
        path = self.root if path is None else path
        if self.fs is None:
            p = Path(path)
            return sorted(str(c) for c in p.rglob("*") if c.is_file()) if p.is_dir() else []
        try:
            return sorted(self.fs.find(path))
        except FileNotFoundError:
            return []

    def mtime(self, path: str) -> float:
        if self.fs is None:
            return Path(path).stat().st_mtime
        modified = self.fs.modified(path)
        return float(modified.timestamp())

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes; FileNotFoundError when it is not there."""
        if self.fs is None:
            return Path(path).read_bytes()
        return bytes(self.fs.cat_file(path))

    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        return open(path, mode) if self.fs is None else self.fs.open(path, mode)  # noqa: SIM115

    @contextmanager
    def local_copy(self, path: str) -> Iterator[Path]:
        """A local file holding ``path``'s bytes for the body (the file itself when local)."""
        if self.fs is None:
            yield Path(path)
            return
        with tempfile.TemporaryDirectory(prefix="vigil-") as tmp:
            local = Path(tmp) / path.rsplit("/", 1)[-1]
            self.fs.get_file(path, str(local))
            yield local

    # --- writing (write, then publish) ----------------------------------------------------------

    def write_with(self, path: str, write: Callable[[IO[bytes]], Any]) -> None:
        """Publish the bytes ``write(handle)`` writes as ``path``, whole or not at all."""
        if self.fs is None:
            _write_local(Path(path), write)
            return
        with tempfile.NamedTemporaryFile(prefix="vigil-", suffix=".tmp") as tmp:
            write(tmp)
            tmp.flush()
            self.fs.put_file(tmp.name, path)

    def write_bytes(self, path: str, data: bytes) -> None:
        if self.fs is None:
            _write_local(Path(path), lambda handle: handle.write(data))
        else:
            self.fs.pipe_file(path, data)  # one PUT

    def move(self, src: str, dst: str) -> bool:
        """Publish ``src`` as ``dst`` (see the module docstring); False when ``src`` is gone."""
        try:
            if self.fs is None:
                os.replace(src, dst)
            else:
                self.fs.mv(src, dst)
        except FileNotFoundError:
            return False
        return True

    def remove(self, path: str) -> bool:
        """Delete one file; False when it was not there."""
        try:
            if self.fs is None:
                Path(path).unlink()
            else:
                self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        return True

    def clear(self) -> None:
        """Delete everything under this location (it stays usable: writes create what they need)."""
        if self.fs is None:
            shutil.rmtree(self.root, ignore_errors=True)
            Path(self.root).mkdir(parents=True, exist_ok=True)
            return
        for path in self.find():
            self.remove(path)


def _write_local(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def split(address: str | Path) -> tuple[Location, str]:
    """The location holding the file at ``address`` and its path there."""
    text = str(address)
    if not is_url(text):
        return Location(str(Path(text).parent)), text
    loc = Location.of(text)
    parent, _, _ = loc.root.rpartition("/")
    return Location(parent, loc.fs), loc.root


def write_bytes_atomic(address: str | Path, data: bytes) -> None:
    """Write ``data`` at ``address`` (a path or URL) so that readers see the old file or the new one."""
    loc, path = split(address)
    loc.write_bytes(path, data)


# --- the configured stores ----------------------------------------------------------------------


def artifact_location(settings: Any) -> Location:
    """VIGIL_ARTIFACT_URL, else ``<data>/artifacts``."""
    return Location.of(getattr(settings, "artifact_url", None) or settings.artifacts_dir)


def logstore_location(settings: Any) -> Location:
    """VIGIL_LOGSTORE_URL, else ``<data>/logstore``."""
    return Location.of(getattr(settings, "logstore_url", None) or settings.logstore_dir)


def quarantine_location(settings: Any) -> Location:
    """``_quarantine/`` under VIGIL_LOGSTORE_URL when it is set, else ``<data>/quarantine``."""
    url = getattr(settings, "logstore_url", None)
    if url:
        return Location.of(url).child(QUARANTINE_UNDER_LOGSTORE)
    return Location.of(settings.quarantine_dir)
