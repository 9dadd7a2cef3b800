"""A lean MCAP writer: the `mcap` library's records, with messages packed in bulk.

The library's `Writer` builds each message through a record object and a dozen small
writes (about 8 µs a message); a 3-hour session has some 160,000. `McapFile` writes the
same file layout (chunks compressed with zstd at its quickest level, message indexes,
schemas and channels repeated in the summary, statistics, chunk and metadata indexes,
summary offsets, CRCs) but appends each message to its chunk with one `struct.pack`, and
leaves every other record to the library's record classes, so any MCAP reader reads it as
the library's own.
The output needs no `tell()` or `seek()`: offsets are counted as bytes are written.

A file can be written in two parts by two processes: one writes the start and its chunks,
another only chunks (`finish_part` then gives an account of them), and the first appends
those bytes after its own (`append_part`), their chunk indexes moved by where they land,
before its summary. Both give each schema and channel the same id (the caller's choice):
a record written in both parts is written the same, as MCAP allows.
"""

from __future__ import annotations

import errno
import struct
import zlib
from collections import defaultdict
from typing import Any, BinaryIO

import zstandard
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Header,
    McapRecord,
    Metadata,
    MetadataIndex,
    Schema,
    Statistics,
    SummaryOffset,
)

MAGIC = b"\x89MCAP0\r\n"
CHUNK_SIZE = 1024 * 1024
"""A chunk is closed once its uncompressed records reach this many bytes (the library's
default)."""
MESSAGE = struct.Struct("<BQHIQQ")
"""A message record's head: opcode, record length, channel, sequence, log time, publish time."""
PACK_MESSAGE = MESSAGE.pack
MESSAGE_OPCODE = int(Opcode.MESSAGE)
"""The opcode as a plain int: reading an enum member costs more than packing a message."""
MESSAGE_HEAD = MESSAGE.size - 9
"""The bytes of a message record's content before its data."""
COMPRESSOR = zstandard.ZstdCompressor(level=1)
"""zstd's quickest level: a third quicker than its default on a session's JSON, as small.
A chunk's records are checked by its CRC, not by a zstd checksum: a reader takes a chunk
whose compression it does not know (its name altered) as uncompressed, and only the CRC
tells it that what it then reads are no records."""
COPY_BYTES = 1 << 20
"""Bytes of a part copied at a time."""
INDEX_HEAD = struct.Struct("<BQHI")
"""A message index record's head: opcode, record length, channel, length of its entries."""


class McapFile:
    """An MCAP file being written to `out`: `start`, then records, then `finish`."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._offset = 0
        self._data_crc = 0
        self._schemas: dict[int, Schema] = {}
        self._channels: dict[int, Channel] = {}
        self._metadata: list[MetadataIndex] = []
        self._chunk_indexes: list[ChunkIndex] = []
        self.chunk = bytearray()
        """The current chunk's records (a bulk writer appends its messages: see `message`)."""
        self.index: defaultdict[int, list[int]] = defaultdict(list)
        """The current chunk's messages per channel: log time and offset in `chunk`, flat."""
        self._counts: defaultdict[int, int] = defaultdict(int)
        self._times: list[int] = []
        """The earliest and latest log time of each chunk so far."""

    def start(self, profile: str, library: str) -> None:
        """Write the magic and the header."""
        self._write(MAGIC)
        self._write(_record(Header(profile=profile, library=library)))

    def metadata(self, name: str, data: dict[str, str]) -> None:
        """Write a metadata record (between chunks) and index it."""
        self.end_chunk()
        record = _record(Metadata(name=name, metadata=data))
        self._metadata.append(MetadataIndex(offset=self._offset, length=len(record), name=name))
        self._write(record)

    def schema(self, schema_id: int, name: str, encoding: str, data: bytes) -> None:
        """Register a schema (written into the current chunk) under `schema_id` (1–65535)."""
        schema = Schema(id=schema_id, name=name, encoding=encoding, data=data)
        self._schemas[schema_id] = schema
        self.chunk += _record(schema)

    def channel(self, channel_id: int, topic: str, encoding: str, schema_id: int) -> None:
        """Register a channel (written into the current chunk) under `channel_id`."""
        channel = Channel(
            id=channel_id, topic=topic, message_encoding=encoding, schema_id=schema_id, metadata={}
        )
        self._channels[channel_id] = channel
        self.chunk += _record(channel)

    def message(
        self, channel: int, log_time: int, data: bytes, publish_time: int, sequence: int
    ) -> None:
        """Add a message to the current chunk (times in ns, held to 64 bits by the caller).

        A writer of many messages may do the same in its own loop, with `chunk` and `index`
        at hand, and close the chunk as this does once it holds `CHUNK_SIZE` bytes.
        """
        chunk = self.chunk
        self.index[channel].extend((log_time, len(chunk)))
        head = PACK_MESSAGE(
            MESSAGE_OPCODE, MESSAGE_HEAD + len(data), channel, sequence, log_time, publish_time
        )
        chunk += head + data  # one append: quicker than two
        if len(chunk) >= CHUNK_SIZE:
            self.end_chunk()

    def finish_part(self) -> dict[str, Any]:
        """Close the last chunk of a part written without `start`; return an account of it
        (a JSON value) for `append_part`."""
        self.end_chunk()
        return {
            "length": self._offset,
            "schemas": [
                [s.id, s.name, s.encoding, s.data.decode("latin-1")] for s in self._schemas.values()
            ],
            "channels": [
                [c.id, c.topic, c.message_encoding, c.schema_id] for c in self._channels.values()
            ],
            "chunks": [
                [
                    index.message_start_time,
                    index.message_end_time,
                    index.chunk_start_offset,
                    index.chunk_length,
                    index.message_index_offsets,
                    index.message_index_length,
                    index.compressed_size,
                    index.uncompressed_size,
                ]
                for index in self._chunk_indexes
            ],
            "counts": self._counts,
            "times": self._times,
        }

    def append_part(self, part: BinaryIO, account: dict[str, Any]) -> None:
        """Close the current chunk; append the bytes of a part `finish_part` gave `account`
        of (a file at its start), and take its schemas, channels and chunks into the summary."""
        self.end_chunk()
        base = self._offset
        while data := part.read(COPY_BYTES):
            self._write(data)
        if self._offset - base != account["length"]:
            raise OSError(  # errno and text: the CLI names what failed by `strerror`
                errno.EIO,
                f"its second half is {self._offset - base} bytes, not {account['length']}",
            )
        for schema_id, name, encoding, text in account["schemas"]:
            self._schemas.setdefault(
                schema_id,
                Schema(id=schema_id, name=name, encoding=encoding, data=text.encode("latin-1")),
            )
        for channel_id, topic, encoding, schema_id in account["channels"]:
            self._channels.setdefault(
                channel_id,
                Channel(
                    id=channel_id,
                    topic=topic,
                    message_encoding=encoding,
                    schema_id=schema_id,
                    metadata={},
                ),
            )
        for start, end, offset, length, indexes, index_length, compressed, whole in account[
            "chunks"
        ]:
            self._chunk_indexes.append(
                ChunkIndex(
                    message_start_time=start,
                    message_end_time=end,
                    chunk_start_offset=base + offset,
                    chunk_length=length,
                    message_index_offsets={int(c): base + o for c, o in indexes.items()},
                    message_index_length=index_length,
                    compression="zstd",
                    compressed_size=compressed,
                    uncompressed_size=whole,
                )
            )
        for channel_id, count in account["counts"].items():
            self._counts[int(channel_id)] += count
        self._times += account["times"]

    def finish(self) -> None:
        """Close the last chunk; write the data end, the summary, the footer and the magic."""
        self.end_chunk()
        self._write(_record(DataEnd(data_section_crc=self._data_crc)))
        summary_start = self._offset
        summary = bytearray()
        offsets: list[SummaryOffset] = []
        groups: list[tuple[Opcode, list[McapRecord]]] = [
            (Opcode.SCHEMA, [self._schemas[key] for key in sorted(self._schemas)]),
            (Opcode.CHANNEL, [self._channels[key] for key in sorted(self._channels)]),
            (Opcode.STATISTICS, [self._statistics()]),
            (Opcode.CHUNK_INDEX, list(self._chunk_indexes)),
            (Opcode.METADATA_INDEX, list(self._metadata)),
        ]
        for opcode, records in groups:
            start = len(summary)
            for record in records:
                summary += _record(record)
            offsets.append(SummaryOffset(opcode, summary_start + start, len(summary) - start))
        offset_start = summary_start + len(summary)
        for offset in offsets:
            summary += _record(offset)
        footer_head = struct.pack("<BQQQ", Opcode.FOOTER, 20, summary_start, offset_start)
        crc = zlib.crc32(footer_head, zlib.crc32(summary))
        self._write(bytes(summary))
        self._write(_record(Footer(summary_start, offset_start, crc)))
        self._write(MAGIC)

    def _statistics(self) -> Statistics:
        times = self._times or [0]
        return Statistics(
            message_count=sum(self._counts.values()),
            schema_count=len(self._schemas),
            channel_count=len(self._channels),
            attachment_count=0,
            metadata_count=len(self._metadata),
            chunk_count=len(self._chunk_indexes),
            message_start_time=min(times),
            message_end_time=max(times),
            channel_message_counts=dict(self._counts),
        )

    def end_chunk(self) -> None:
        """Compress and write the current chunk and its message indexes, if it has messages
        (`finish`, `finish_part` and `append_part` do: a part's writer may do it before it
        waits for the other part)."""
        if not self.index:
            return
        data = bytes(self.chunk)
        times = [time for entries in self.index.values() for time in entries[::2]]
        start, end = min(times), max(times)
        self._times += (start, end)
        compressed = COMPRESSOR.compress(data)
        chunk = _record(
            Chunk(
                message_start_time=start,
                message_end_time=end,
                uncompressed_size=len(data),
                uncompressed_crc=zlib.crc32(data),
                compression="zstd",
                data=compressed,
            )
        )
        chunk_offset = self._offset
        self._write(chunk)
        index_start = self._offset
        index_offsets = {}
        for channel, entries in self.index.items():
            index_offsets[channel] = self._offset
            self._counts[channel] += len(entries) // 2
            size = len(entries) * 8
            head = INDEX_HEAD.pack(Opcode.MESSAGE_INDEX, 6 + size, channel, size)
            self._write(head + struct.pack(f"<{len(entries)}Q", *entries))
        self._chunk_indexes.append(
            ChunkIndex(
                message_start_time=start,
                message_end_time=end,
                chunk_start_offset=chunk_offset,
                chunk_length=len(chunk),
                message_index_offsets=index_offsets,
                message_index_length=self._offset - index_start,
                compression="zstd",
                compressed_size=len(compressed),
                uncompressed_size=len(data),
            )
        )
        self.chunk.clear()  # in place: a bulk writer holds it
        self.index.clear()

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._offset += len(data)
        self._data_crc = zlib.crc32(data, self._data_crc)


def _record(record: McapRecord) -> bytes:
    """One record as bytes, written by the library."""
    builder = RecordBuilder()
    record.write(builder)
    data: bytes = builder.end()  # type: ignore[no-untyped-call]  # unannotated in the library
    return data
