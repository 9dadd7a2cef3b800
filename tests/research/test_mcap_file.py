"""The MCAP writer: a second part shorter than its account is refused, not joined, and a
chunk altered after it was written is refused by a reader, not read as other messages."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mcap.opcode import Opcode
from mcap.reader import make_reader
from mcap.records import Chunk
from mcap.stream_reader import StreamReader

from controller.journal import Event
from controller.research.mcap_export import export_mcap
from controller.research.mcap_file import CHUNK_SIZE, McapFile
from tests.research.support import write_journal


def test_a_part_shorter_than_its_account_is_an_error_that_says_so() -> None:
    writer = McapFile(io.BytesIO())
    writer.start(profile="", library="test")
    account = {"length": 10, "schemas": [], "channels": [], "chunks": [], "counts": {}, "times": []}
    with pytest.raises(OSError) as refused:
        writer.append_part(io.BytesIO(b"cut"), account)
    assert refused.value.strerror == "its second half is 3 bytes, not 10"


def messages(data: bytes) -> list[tuple[str, int, bytes]]:
    reader = make_reader(io.BytesIO(data), validate_crcs=True)
    return [(c.topic, m.log_time, m.data) for _, c, m in reader.iter_messages()]


def test_a_chunk_altered_anywhere_is_refused_by_a_reader_that_checks(tmp_path: Path) -> None:
    """A bit flipped in each byte in turn of a chunk's record (its times, sizes, CRC, the
    name of its compression, its compressed records): the reader reads the messages as
    written or raises. A reader takes a chunk whose compression it does not know (`zstd`
    with a bit flipped: `rstd`) as uncompressed; with no CRC to check (zstd's checksum in
    its place), it read the compressed bytes as no records at all, and the chunk's messages
    were gone without an error."""
    notes = [(n / 10, Event("note", f"note {n} " + "x" * (n % 50))) for n in range(300)]
    out = io.BytesIO()
    export_mcap(write_journal(tmp_path, notes), out)
    written = out.getvalue()
    [chunk] = [
        r
        for r in StreamReader(io.BytesIO(written), emit_chunks=True).records
        if isinstance(r, Chunk)
    ]
    data_start = written.index(chunk.data)
    record_start = data_start - (1 + 8 + 8 + 8 + 8 + 4 + 4 + len(chunk.compression) + 8)
    assert written[record_start] == Opcode.CHUNK
    expected = messages(written)
    assert len(expected) == 300
    for byte in range(record_start, data_start + len(chunk.data)):
        altered = bytearray(written)
        altered[byte] ^= 1 << byte % 8
        try:
            read = messages(bytes(altered))
        except Exception:  # zstd's errors and the library's alike
            continue
        assert read == expected, f"byte {byte - record_start} of the chunk changed what was read"


@pytest.mark.parametrize("key", [None, b"k" * 32], ids=["journal", "pseudonymised"])
def test_large_payloads_are_written_in_chunks_of_a_megabyte_not_one_per_thousand_events(
    tmp_path: Path, key: bytes | None
) -> None:
    """A journal of large payloads (notes of 300 kB): a chunk is closed once it holds
    `CHUNK_SIZE` bytes, as the library's writer does. Closed only every thousand events,
    one chunk held them all (a thousand 1 MB notes: a gigabyte held three times over in
    memory while it was compressed, and a reader must decompress it whole to read any of
    its messages)."""
    notes = [(n / 10, Event("note", f"{n} " + "x" * 300_000)) for n in range(40)]
    out = io.BytesIO()
    export_mcap(write_journal(tmp_path, notes), out, key=key)
    out.seek(0)
    chunks = make_reader(out, validate_crcs=True).get_summary().chunk_indexes
    assert max(chunk.uncompressed_size for chunk in chunks) < CHUNK_SIZE + 400_000
    assert len(chunks) >= 10
