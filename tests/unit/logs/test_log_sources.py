"""The byte-level pieces ingestion trusts: prefix checksums, the end of the last complete line,
line splitting from a resume offset, and file naming (rotation, compression)."""

from __future__ import annotations

import hashlib
import io

import pytest

from monitoring.logs.sources import (
    MAX_LINE_BYTES,
    RangeReader,
    classify,
    fingerprint,
    iter_chunks,
    redact_url,
)

DATA = b"".join(b'{"n": %d}\n' % i for i in range(300)) + b'{"n": 300, "half'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, len(DATA) - 1, len(DATA), 1 << 20])
def test_fingerprint_matches_a_direct_hash_for_every_chunking(chunk):
    complete = DATA.rfind(b"\n") + 1
    candidates = [0, 5, 9, 100, complete, len(DATA), len(DATA) + 10]
    fp = fingerprint(iter_chunks(io.BytesIO(DATA), chunk), candidates, final=False)
    assert (fp.length, fp.end, fp.checksum) == (len(DATA), complete, _sha(DATA[:complete]))
    assert fp.matches == {c: _sha(DATA[:c]) for c in candidates if c <= len(DATA)}
    final = fingerprint(iter_chunks(io.BytesIO(DATA), chunk), [], final=True)
    assert (final.end, final.checksum) == (len(DATA), _sha(DATA))


@pytest.mark.parametrize("chunk", [1, 3, 50, 4096])
def test_range_reader_yields_the_lines_after_the_offset_and_proves_the_bytes(chunk):
    end = DATA.rfind(b"\n") + 1
    start = DATA.index(b'{"n": 120}')
    reader = RangeReader(iter_chunks(io.BytesIO(DATA), chunk), start, end)
    lines = list(reader.lines())
    assert [ln.number for ln in lines] == list(range(121, 301))
    assert [ln.data for ln in lines] == DATA[start:end].split(b"\n")[:-1]
    assert reader.prefix_digest == _sha(DATA[:start]) and reader.whole_digest == _sha(DATA[:end])
    assert reader.header == b'{"n": 0}'


def test_an_overlong_line_is_cut_not_held():
    data = b"a\n" + b"x" * (MAX_LINE_BYTES + 10) + b"\nb\n"
    lines = list(RangeReader(iter_chunks(io.BytesIO(data), 1 << 20), 0, len(data)).lines())
    got = [(ln.number, ln.too_long, len(ln.data)) for ln in lines]
    assert got == [(1, False, 1), (2, True, 4096), (3, False, 1)]


def test_file_names():
    assert classify("app.jsonl.2.gz") == ("jsonl", "gzip", 2)
    assert classify("app.csv.zst") == ("csv", "zstd", 0)
    assert classify("app.jsonl.1") == ("jsonl", None, 1)
    assert "not a log file" in classify("notes.txt")  # type: ignore[operator]
    assert "compressed Parquet" in classify("a.parquet.gz")  # type: ignore[operator]


def test_redact_url_drops_the_password_only():
    assert redact_url("s3://key:secret@bucket/logs") == "s3://key:***@bucket/logs"
    assert redact_url("http://u:p%40ss@host:8080/x?y=1") == "http://u:***@host:8080/x?y=1"
    assert redact_url("/var/log/app") == "/var/log/app"
