"""Where audit checkpoints are kept: one small sink interface and its three implementations.

- :class:`FsspecSink`: a directory on any fsspec filesystem (a local path, ``file://``,
  ``s3://bucket/prefix`` with Object Lock / retention, ...): one file per checkpoint, named
  ``<seq:012d>-<time>.json`` (so names sort by seq), holding one JSON line; local files are
  created atomically and exclusively, read-only, and never replaced; elsewhere one PUT each;
- :class:`JsonlFileSink`: one local ``.jsonl`` file, one line appended per checkpoint (for a
  file with the append-only attribute); a last line without its newline is an unfinished write;
- :class:`WebhookSink`: an ``http(s)://`` URL that receives each checkpoint as a JSON POST
  (write-only: verify cannot read it back).

What a checkpoint is and how it is signed and checked: governance.audit_anchor.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from core.errors import ConfigError, Conflict, ServiceUnavailable

if TYPE_CHECKING:
    from governance.audit_checkpoint import Checkpoint

ENV_URL = "VIGIL_AUDIT_CHECKPOINT_URL"


def display_url(url: str) -> str:
    """A sink URL without userinfo, query or fragment (tokens live there), for messages."""
    parts = urlsplit(url)
    if not parts.scheme or len(parts.scheme) == 1:  # a local path (or a Windows drive letter)
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    path = parts.path if parts.scheme not in ("http", "https") else ("/..." if parts.path.strip("/") else "")
    return f"{parts.scheme}://{host}{path}"


class CheckpointSink(Protocol):
    label: str
    readable: bool

    def write(self, cp: Checkpoint) -> str:
        """Store ``cp``; return where (for messages). Raise ServiceUnavailable on failure."""
        ...

    def newest(self, limit: int) -> list[tuple[str, str]]:
        """(location, text) of the newest ``limit`` checkpoints (0: all), oldest first."""
        ...


class FsspecSink:
    """A directory of checkpoint files on any fsspec filesystem (local, s3://, memory://, ...)."""

    readable = True

    def __init__(self, url: str):
        import fsspec

        self.url, self.label = url, display_url(url)
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"{ENV_URL}: cannot use {self.label}: {exc}") from None

    def write(self, cp: Checkpoint) -> str:
        from fsspec.implementations.local import LocalFileSystem

        data = (cp.to_json() + "\n").encode("utf-8")
        target = f"{self.root.rstrip('/')}/{cp.name}"
        try:
            if isinstance(self.fs, LocalFileSystem):
                _write_local_once(Path(target), data)
            else:  # one PUT: atomic on object stores; retention/Object Lock keeps it unchanged
                self.fs.makedirs(self.root, exist_ok=True)
                self.fs.pipe_file(target, data)
        except FileExistsError:
            raise Conflict(f"checkpoint {cp.name} already exists at {self.label}") from None
        except Exception as exc:
            raise ServiceUnavailable(f"cannot write checkpoint to {self.label}: "
                                     f"{type(exc).__name__}: {exc}") from None
        return f"{self.label.rstrip('/')}/{cp.name}"

    def newest(self, limit: int) -> list[tuple[str, str]]:
        try:
            if not self.fs.exists(self.root):
                return []
            base = {p: p.rsplit("/", 1)[-1] for p in self.fs.ls(self.root, detail=False)}
            # <seq:012d>-<time>.json sorts by seq, then time; dot files are writes in progress
            names = sorted((p for p, b in base.items() if b.endswith(".json") and not b.startswith(".")),
                           key=base.__getitem__)
            chosen = names[-limit:] if limit > 0 else names
            where = self.label.rstrip("/")
            return [(f"{where}/{base[p]}", self.fs.cat_file(p).decode("utf-8", errors="replace"))
                    for p in chosen]
        except Exception as exc:
            raise ServiceUnavailable(f"cannot read checkpoints at {self.label}: "
                                     f"{type(exc).__name__}: {exc}") from None


def _write_local_once(target: Path, data: bytes) -> None:
    """Write a new read-only file atomically; never replace an existing one (FileExistsError)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o444)
        os.link(tmp, target)  # fails if the name exists: an existing checkpoint is never replaced
    finally:
        tmp.unlink(missing_ok=True)


class WebhookSink:
    """POST each checkpoint as JSON to a URL (write-only)."""

    readable = False

    def __init__(self, url: str, timeout: float = 10.0):
        self.url, self.label, self.timeout = url, display_url(url), timeout

    def write(self, cp: Checkpoint) -> str:
        import httpx

        try:
            response = httpx.post(self.url, content=cp.to_json().encode("utf-8"), timeout=self.timeout,
                                  headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot POST checkpoint to {self.label}: "
                                     f"{type(exc).__name__}") from None
        if response.status_code >= 300:
            raise ServiceUnavailable(f"checkpoint webhook {self.label} answered HTTP {response.status_code}")
        return self.label

    def newest(self, limit: int) -> list[tuple[str, str]]:
        return []


class JsonlFileSink:
    """One local JSON-lines file, appended to (suits a file with the append-only attribute)."""

    readable = True

    def __init__(self, path: str):
        self.path, self.label = Path(path.removeprefix("file://")), display_url(path)

    def write(self, cp: Checkpoint) -> str:
        line = (cp.to_json() + "\n").encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if os.fstat(fd).st_size and not self.path.read_bytes().endswith(b"\n"):
                    line = b"\n" + line  # an earlier write was cut short: never glue onto it
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ServiceUnavailable(f"cannot append checkpoint to {self.label}: "
                                     f"{exc.strerror or exc}") from None
        return f"{self.label}#seq={cp.seq}"

    def newest(self, limit: int) -> list[tuple[str, str]]:
        try:
            if not self.path.exists():
                return []
            data = self.path.read_bytes()
        except OSError as exc:
            raise ServiceUnavailable(f"cannot read checkpoints at {self.label}: "
                                     f"{exc.strerror or exc}") from None
        lines = data.split(b"\n")[:-1]  # the part after the last newline is an unfinished write
        numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
        chosen = numbered[-limit:] if limit > 0 else numbered
        return [(f"{self.label}:{n}", line.decode("utf-8", errors="replace")) for n, line in chosen]


def make_sink(url: str) -> CheckpointSink:
    if url.startswith(("http://", "https://")):
        return WebhookSink(url)
    if url.endswith(".jsonl"):
        if "://" in url and not url.startswith("file://"):
            raise ConfigError(f"{ENV_URL}: {display_url(url)}: a .jsonl file is appended to, which only a "
                              "local file allows; give a directory URL for an object store")
        return JsonlFileSink(url)
    return FsspecSink(url)
