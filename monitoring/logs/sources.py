"""Where inference logs come from: listing a log location, naming what each file is, opening it
as a stream of (decompressed) bytes, and fingerprinting its content.

A log file is ``<name>.<kind>[.<n>][.<compression>]``: kind ``jsonl``/``ndjson``/``json``,
``csv`` or ``parquet``; an optional logrotate index (``x.jsonl.1``); an optional compression
(``.gz``, ``.zst``, ``.bz2``, ``.xz``). Anything else in the location is listed as skipped with
its reason, never silently ignored. A location on another machine (any fsspec URL) that does
not answer raises :class:`core.errors.ServiceUnavailable` with the URL's password removed.

Offsets and checksums are taken over the *decompressed* bytes, so ``x.jsonl.2.gz`` is
recognised as the same content as the ``x.jsonl.1`` it was compressed from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from core.errors import ServiceUnavailable
from core.redact import redact_text, redact_url, url_secrets
from core.storage import LOCAL_PROTOCOLS
from core.storage import protocol_of as _protocol

CHUNK = 1 << 20
MAX_LINE_BYTES = 16 << 20  # a longer "line" is quarantined as too long, never held in memory
KINDS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2", ".xz": "xz"}
_ROTATION = re.compile(r"^\.\d{1,4}$")


def _redact_text(text: str, url: str) -> str:
    """``text`` with ``url`` and every secret in it masked (core.redact is the one place)."""
    return redact_text(text, url_secrets(url))


@dataclass(frozen=True)
class LogFile:
    """One file of a log location: its path for the filesystem, display URL and kind."""

    path: str
    url: str
    kind: str  # jsonl | csv | parquet
    compression: str | None
    rotation: int  # 0 for the live file, n for logrotate's ``.n``

    @property
    def final(self) -> bool:
        """A compressed file is complete: its last line counts even without a newline."""
        return self.compression is not None


def classify(name: str) -> tuple[str, str | None, int] | str:
    """(kind, compression, rotation index) of a file name, or the reason it is not a log file."""
    lower = name.lower()
    stem, suffix = _split(lower)
    compression = None
    if suffix in COMPRESSIONS:
        compression = COMPRESSIONS[suffix]
        stem, suffix = _split(stem)
    rotation = 0
    if _ROTATION.match(suffix):
        rotation = int(suffix[1:])
        stem, suffix = _split(stem)
    if suffix not in KINDS:
        kinds = ", ".join(sorted(KINDS))
        return f"not a log file type this job reads ({kinds}, optionally .gz/.zst/.bz2/.xz)"
    kind = KINDS[suffix]
    if kind == "parquet" and compression is not None:
        return "compressed Parquet files are not read (Parquet compresses its pages itself)"
    return kind, compression, rotation


def _split(name: str) -> tuple[str, str]:
    dot = name.rfind(".")
    return (name, "") if dot <= 0 else (name[:dot], name[dot:])


def display_url(fs: Any, path: str) -> str:
    protocol = _protocol(fs)
    url = path if protocol in LOCAL_PROTOCOLS or "://" in path else f"{protocol}://{path.lstrip('/')}"
    return redact_url(url)


def list_location(location: str) -> tuple[Any, list[LogFile], list[tuple[str, str]]]:
    """The filesystem, the log files under ``location`` (oldest rotation first) and the other
    files with the reason each is skipped. Raises ServiceUnavailable when a remote location
    does not answer; a location that does not exist has no files."""
    import fsspec

    shown = redact_url(location)
    try:
        fs, root = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        from core.errors import ConfigError

        raise ConfigError(f"log location {shown}: {_redact_text(str(exc), location)}") from None
    remote = _protocol(fs) not in LOCAL_PROTOCOLS
    try:
        if remote:
            # fsspec's exists()/find() answer False/[] when the server is down: ask directly
            try:
                fs.ls(root, detail=False)
            except FileNotFoundError:
                if not fs.isfile(root):
                    return fs, [], []
        elif not fs.exists(root):
            return fs, [], []
        paths = [root] if fs.isfile(root) else list(fs.find(root))
    except FileNotFoundError:
        return fs, [], []
    except Exception as exc:  # noqa: BLE001 - any client error of any filesystem
        if not remote:
            raise
        raise ServiceUnavailable(
            f"log location {shown} does not answer: {type(exc).__name__}: {_redact_text(str(exc), location)}"
        ) from None
    files: list[LogFile] = []
    skipped: list[tuple[str, str]] = []
    for path in paths:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if name.startswith("."):
            continue  # hidden: editors' and writers' temporaries
        what = classify(name)
        url = display_url(fs, path)
        if isinstance(what, str):
            skipped.append((url, what))
        else:
            files.append(LogFile(path, url, *what))
    files.sort(key=lambda f: (_series(f.path), -f.rotation, f.path))
    return fs, files, sorted(skipped)


def _series(path: str) -> str:
    """The path without rotation index and compression: siblings sort together."""
    name = path.lower()
    stem, suffix = _split(name)
    if suffix in COMPRESSIONS:
        stem, suffix = _split(stem)
    if _ROTATION.match(suffix):
        return stem
    return f"{stem}{suffix}"


def open_stream(fs: Any, log: LogFile) -> IO[bytes]:
    """The file's decompressed bytes as a binary stream (caller closes it)."""
    raw = fs.open(log.path, "rb")
    if log.compression is None:
        return raw
    if log.compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if log.compression == "bz2":
        import bz2

        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if log.compression == "xz":
        import lzma

        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    import pyarrow as pa

    # zstd through pyarrow's bundled codec (no extra package); it reports a truncated frame
    return pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "zstd")  # type: ignore[return-value]


def iter_chunks(stream: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        yield chunk


@dataclass(frozen=True)
class Fingerprint:
    """What one pass over a file's bytes found."""

    length: int
    end: int  # end of the consumable bytes: after the last newline (or ``length`` when final)
    checksum: str  # SHA-256 of bytes [0, end)
    matches: dict[int, str]  # candidate size -> SHA-256 of bytes [0, size)


def fingerprint(chunks: Iterator[bytes], candidates: Sequence[int], *, final: bool) -> Fingerprint:
    """Hash a stream once, recording the prefix checksum at each candidate size and at the
    end of the last complete line. Memory: one chunk."""
    wanted = sorted({c for c in candidates if c > 0})
    wanted_set = set(wanted)
    hasher = hashlib.sha256()
    matches: dict[int, str] = {0: hasher.hexdigest()} if 0 in candidates else {}
    pos = 0
    end, end_digest = 0, hasher.hexdigest()
    i = 0
    for chunk in chunks:
        stop = pos + len(chunk)
        newline = chunk.rfind(b"\n")
        line_end = pos + newline + 1 if newline >= 0 else -1
        cuts: list[int] = []
        while i < len(wanted) and wanted[i] <= stop:
            cuts.append(wanted[i])
            i += 1
        if line_end > 0:
            cuts.append(line_end)
        done = pos
        for cut in sorted(set(cuts)):
            hasher.update(chunk[done - pos : cut - pos])
            done = cut
            digest = hasher.hexdigest()
            if cut == line_end:
                end, end_digest = cut, digest
            if cut in wanted_set:
                matches[cut] = digest
        hasher.update(chunk[done - pos :])
        pos = stop
    if final and pos > end:
        end, end_digest = pos, hasher.hexdigest()
    return Fingerprint(pos, end, end_digest, matches)


@dataclass(frozen=True)
class Line:
    number: int  # 1-based line number in the file
    data: bytes  # without the newline (and without a trailing carriage return)
    too_long: bool = False


class RangeReader:
    """Re-read bytes ``[0, end)`` of a stream: hash all of them (so the caller can prove they are
    the bytes the fingerprint saw) and yield the lines that start at or after ``start`` (a line
    boundary). ``header`` is the file's first line when ``start`` > 0 (CSV needs it)."""

    def __init__(self, chunks: Iterator[bytes], start: int, end: int):
        self._chunks = chunks
        self.start, self.end = start, end
        self.prefix_digest: str | None = hashlib.sha256().hexdigest() if start == 0 else None
        self.whole_digest: str | None = None
        self.length = 0
        self.header: bytes | None = None

    def lines(self) -> Iterator[Line]:
        hasher = hashlib.sha256()
        pos, number = 0, 1
        buffer = bytearray()
        dropping = False
        header = bytearray()
        need_header = self.start > 0
        for chunk in self._chunks:
            if pos >= self.end:
                break
            chunk = chunk[: self.end - pos]
            rest = chunk
            if pos < self.start:
                skip = min(len(chunk), self.start - pos)
                head = chunk[:skip]
                hasher.update(head)
                number += head.count(b"\n")
                if need_header:
                    newline = head.find(b"\n")
                    header += head if newline < 0 else head[:newline]
                    if newline >= 0 or len(header) > MAX_LINE_BYTES:
                        self.header, need_header = bytes(header).rstrip(b"\r"), False
                if pos + skip == self.start:
                    self.prefix_digest = hasher.hexdigest()
                rest = chunk[skip:]
            hasher.update(rest)
            pos += len(chunk)
            offset = 0
            while offset < len(rest):
                newline = rest.find(b"\n", offset)
                if newline < 0:
                    if not dropping:
                        buffer += rest[offset:]
                        if len(buffer) > MAX_LINE_BYTES:
                            yield Line(number, bytes(buffer[:4096]), too_long=True)
                            buffer.clear()
                            dropping = True
                    break
                if dropping:
                    dropping = False
                else:
                    buffer += rest[offset:newline]
                    yield _line(number, buffer)
                buffer.clear()
                number += 1
                offset = newline + 1
        if buffer and not dropping:  # a final (compressed) file's unterminated last line
            yield _line(number, buffer)
        self.length = pos
        self.whole_digest = hasher.hexdigest()


def _line(number: int, buffer: bytearray) -> Line:
    if len(buffer) > MAX_LINE_BYTES:
        return Line(number, bytes(buffer[:4096]), too_long=True)
    return Line(number, bytes(buffer).rstrip(b"\r"))
