"""Columnar event logs: a run's events as fixed-width number columns, ~25 bytes an event
in memory and a few bytes on disk, read back as the `Event` tuples everyone else uses.

Each event ``[t_ns, worker, kind, obj, detail, link]`` (app/timeline.py) is split into
columns, one `array.array` each::

    column  type    holds
    t_ns    int64   ns since the run started
    worker  uint32  an id in the log's string table
    kind    uint8   the kind's position in `KINDS` (the order of `app.timeline.Kind`)
    obj     uint32  a string id
    detail  uint32  0 for None, else n: the n-th distinct detail, kept as JSON text
    link    uint32  a string id ("" is id 0)

Strings (lane and object names) repeat endlessly and are stored once per log; so are
details seen before (a lock's acquire depth, a lane kind), up to `INTERNED_DETAILS`
distinct ones, after which each new detail is stored as it comes (a print's text).

Usage::

    log = EventColumns()
    log.extend(events)              # Event tuples, or raw tuples in the same order
    len(log), log[i], log[a:b]      # a Sequence[Event]: exports, claims, the watchdog
    log.wire_json(a, b)             # the SSE batch `[[t, worker, kind, ...], ...]` as text
    data = log.to_block(a, b)       # self-contained and compressed: what a store keeps
    log.extend_block(data)          # read back, without building Event tuples
    encode_block(events), decode_block(data)   # the same for a plain list of events

A block is ``MAGIC`` then a zlib stream of: a header (``<III``: events, strings,
details), the strings and the details as UTF-8 (a uint32 length column, then the bytes),
then the six columns, little-endian and byte-shuffled (all first bytes of a column, then
all second bytes...: t is stored as the difference from the previous event, so its high
bytes are zeros that compress to nothing). Ids in a block are local to it.

No FastAPI, no SQL, no asyncio: the worker side may encode with it too.
"""

from __future__ import annotations

import json
import struct
import sys
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any, overload

from app.timeline import JSON, Event, Kind

KINDS: tuple[Kind, ...] = tuple(Kind)  # code -> kind; the code is the position
KIND_CODES: dict[str, int] = {kind: code for code, kind in enumerate(KINDS)}
_KIND_JSON: tuple[str, ...] = tuple(json.dumps(str(kind)) for kind in KINDS)
INTERNED_DETAILS = 4096  # distinct details stored once; bounds the interning dict
MAGIC = b"ILC1"  # "Interleave columns", version 1
_HEADER = struct.Struct("<III")
_LITTLE = sys.byteorder == "little"
_SCALARS = (str, int, float, bool)


def _typed(code: str, itemsize: int) -> array[Any]:
    column = array(code)
    assert column.itemsize == itemsize, f"array {code!r} is {column.itemsize} bytes here"
    return column


class EventColumns(Sequence[Event]):
    """One run's events, column by column (see the module docstring).

    Append-only: `extend` adds at the end and nothing is ever changed, so a reader may
    slice the events it has been told about while the loop appends more.
    """

    def __init__(self) -> None:
        self._t: array[int] = _typed("q", 8)
        self._worker: array[int] = _typed("I", 4)
        self._kind: array[int] = _typed("B", 1)
        self._obj: array[int] = _typed("I", 4)
        self._detail: array[int] = _typed("I", 4)
        self._link: array[int] = _typed("I", 4)
        self._strings: list[str] = []
        self._string_ids: dict[str, int] = {}
        self._string_json: list[str] = []  # each string as JSON text, for `wire_json`
        self.intern("")  # id 0: no object, no link
        # Details: JSON texts back to back in one bytearray; detail n (from 1) spans
        # _detail_ends[n - 2] (or 0) to _detail_ends[n - 1].
        self._detail_bytes = bytearray()
        self._detail_ends: array[int] = _typed("Q", 8)
        self._detail_ids: dict[Any, int] = {}  # (type, value) or JSON text -> id, bounded
        self._detail_cache: dict[int, JSON] = {}  # decoded immutable interned details

    # --- writing ----------------------------------------------------------------------
    def intern(self, text: str) -> int:
        """The string's id in this log (added if new)."""
        found = self._string_ids.get(text)
        if found is None:
            found = self._string_ids[text] = len(self._strings)
            self._strings.append(text)
            self._string_json.append(json.dumps(text))
        return found

    def _detail_id(self, value: JSON) -> int:
        """The id of a detail that is not None (None is id 0, written by `extend`)."""
        key: Any = (type(value), value) if isinstance(value, _SCALARS) else None
        if key is not None and (found := self._detail_ids.get(key)) is not None:
            return found
        text = json.dumps(value, separators=(",", ":"))
        if key is None:
            key = text
            if (found := self._detail_ids.get(key)) is not None:
                return found
        return self._add_detail(text.encode(), key)

    def _add_detail(self, encoded: bytes, key: Any = None) -> int:
        self._detail_bytes += encoded
        self._detail_ends.append(len(self._detail_bytes))
        ident = len(self._detail_ends)
        if key is not None and len(self._detail_ids) < INTERNED_DETAILS:
            self._detail_ids[key] = ident
        return ident

    def extend(self, events: Iterable[Sequence[Any]]) -> None:
        """Append events: `Event`s, or tuples in the same order (t_ns, worker, kind,
        obj, detail, link)."""
        batch = events if isinstance(events, list) else list(events)
        if not batch:
            return
        ids, intern, codes, detail_id = self._string_ids, self.intern, KIND_CODES, self._detail_id
        self._t.extend([e[0] for e in batch])
        self._worker.extend([ids[e[1]] if e[1] in ids else intern(e[1]) for e in batch])
        self._kind.extend([codes[e[2]] for e in batch])
        self._obj.extend([ids[e[3]] if e[3] in ids else intern(e[3]) for e in batch])
        self._detail.extend([0 if e[4] is None else detail_id(e[4]) for e in batch])
        self._link.extend([ids[e[5]] if e[5] in ids else intern(e[5]) for e in batch])

    def append(self, event: Sequence[Any]) -> None:
        self.extend([event])

    # --- reading ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._t)

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return list(self._events(start, stop))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("event index out of range")
        return next(self._events(index, index + 1))

    def __iter__(self) -> Iterator[Event]:
        return self._events(0, len(self))

    def _rows(self, start: int, stop: int) -> Iterator[tuple[int, int, int, int, int, int]]:
        """Events [start, stop) as rows of codes: t, worker, kind, obj, detail, link."""
        return zip(
            self._t[start:stop],
            self._worker[start:stop],
            self._kind[start:stop],
            self._obj[start:stop],
            self._detail[start:stop],
            self._link[start:stop],
            strict=True,
        )

    def _events(self, start: int, stop: int) -> Iterator[Event]:
        strings, detail = self._strings, self._detail_value
        for t, w, k, o, d, ln in self._rows(start, stop):
            yield Event(t, strings[w], KINDS[k], strings[o], None if d == 0 else detail(d), strings[ln])

    def _detail_text(self, ident: int) -> bytes:
        start = self._detail_ends[ident - 2] if ident > 1 else 0
        return bytes(self._detail_bytes[start : self._detail_ends[ident - 1]])

    def _detail_value(self, ident: int) -> JSON:
        cached = self._detail_cache.get(ident, self)
        if cached is not self:
            return cached
        value = json.loads(self._detail_text(ident))
        # Only interned details repeat; only immutable ones may be handed out twice.
        if ident <= INTERNED_DETAILS and isinstance(value, _SCALARS):
            self._detail_cache[ident] = value
        return value

    def wire_json(self, start: int, stop: int) -> str:
        """Events [start, stop) as the JSON array the event stream sends, written from
        the columns (no Event tuples, details never decoded)."""
        sj, texts = self._string_json, {0: "null"}
        parts = []
        for t, w, k, o, d, ln in self._rows(start, stop):
            text = texts.get(d)
            if text is None:
                text = texts[d] = self._detail_text(d).decode()
            parts.append(f"[{t},{sj[w]},{_KIND_JSON[k]},{sj[o]},{text},{sj[ln]}]")
        return "[" + ",".join(parts) + "]"

    def nbytes(self) -> int:
        """Memory the columns and tables hold (arrays by their allocated size)."""
        columns = (self._t, self._worker, self._kind, self._obj, self._detail, self._link, self._detail_ends)
        tables = sum(sys.getsizeof(s) for s in self._strings) * 2 + sys.getsizeof(self._detail_bytes)
        return sum(sys.getsizeof(c) for c in columns) + tables

    # --- blocks -----------------------------------------------------------------------
    def to_block(self, start: int = 0, stop: int | None = None) -> bytes:
        """Events [start, stop) as one self-contained compressed block."""
        stop = len(self) if stop is None else stop
        t = self._t[start:stop]
        strings_used = sorted({0, *self._worker[start:stop], *self._obj[start:stop], *self._link[start:stop]})
        local = {ident: n for n, ident in enumerate(strings_used)}
        details_used = sorted(set(self._detail[start:stop]) - {0})
        local_detail = {ident: n + 1 for n, ident in enumerate(details_used)}
        local_detail[0] = 0
        strings = [self._strings[i].encode() for i in strings_used]
        details = [self._detail_text(i) for i in details_used]
        deltas = array("q", [b - a for a, b in zip([0, *t], t, strict=False)])
        columns = (
            (deltas, 8),
            (array("I", [local[i] for i in self._worker[start:stop]]), 4),
            (self._kind[start:stop], 1),
            (array("I", [local[i] for i in self._obj[start:stop]]), 4),
            (array("I", [local_detail[i] for i in self._detail[start:stop]]), 4),
            (array("I", [local[i] for i in self._link[start:stop]]), 4),
        )
        payload = [_HEADER.pack(len(t), len(strings), len(details))]
        for texts in (strings, details):
            payload += [_little(array("I", [len(s) for s in texts])), *texts]
        payload += [_shuffle(_little(column), width) for column, width in columns]
        return MAGIC + zlib.compress(b"".join(payload))

    def extend_block(self, block: bytes) -> int:
        """Append the events of a block made by `to_block`/`encode_block`; returns how many."""
        if block[: len(MAGIC)] != MAGIC:
            raise ValueError("not an event block (bad magic): written by another version?")
        payload = memoryview(zlib.decompress(block[len(MAGIC) :]))
        count, n_strings, n_details = _HEADER.unpack_from(payload)
        at = _HEADER.size
        tables: list[list[bytes]] = []
        for n in (n_strings, n_details):
            lengths = _column("I", payload[at : at + 4 * n])
            at += 4 * n
            texts = []
            for length in lengths:
                texts.append(bytes(payload[at : at + length]))
                at += length
            tables.append(texts)
        string_ids = [self.intern(s.decode()) for s in tables[0]]
        detail_ids = [0, *(self._add_detail(text) for text in tables[1])]
        columns = []
        for code, width in (("q", 8), ("I", 4), ("B", 1), ("I", 4), ("I", 4), ("I", 4)):
            columns.append(_column(code, _unshuffle(payload[at : at + count * width], width)))
            at += count * width
        deltas, worker, kind, obj, detail, link = columns
        self._t.extend(accumulate(deltas))
        self._worker.extend([string_ids[i] for i in worker])
        self._kind.extend(kind)
        self._obj.extend([string_ids[i] for i in obj])
        self._detail.extend([detail_ids[i] for i in detail])
        self._link.extend([string_ids[i] for i in link])
        return int(count)

    @classmethod
    def from_blocks(cls, blocks: Iterable[bytes]) -> EventColumns:
        log = cls()
        for block in blocks:
            log.extend_block(block)
        return log


def encode_block(events: Iterable[Sequence[Any]]) -> bytes:
    """A list of events as one compressed, self-contained block."""
    log = EventColumns()
    log.extend(events)
    return log.to_block()


def decode_block(block: bytes) -> list[Event]:
    """The events of one block."""
    log = EventColumns()
    log.extend_block(block)
    return list(log)


def _little(column: array[Any]) -> bytes:
    if _LITTLE:
        return column.tobytes()
    swapped = array(column.typecode, column)
    swapped.byteswap()
    return swapped.tobytes()


def _column(code: str, data: bytes | memoryview) -> array[Any]:
    """A column read from little-endian bytes."""
    column = array(code)
    column.frombytes(data)
    if not _LITTLE:
        column.byteswap()
    return column


def _shuffle(data: bytes, width: int) -> bytes:
    """Byte i of every value together, for each i: slowly changing numbers turn into
    long runs of equal bytes that zlib squeezes."""
    if width == 1:
        return data
    view = memoryview(data)
    return b"".join(bytes(view[i::width]) for i in range(width))


def _unshuffle(data: memoryview, width: int) -> bytes:
    if width == 1:
        return bytes(data)
    count = len(data) // width
    out = bytearray(len(data))
    for i in range(width):
        out[i::width] = data[i * count : (i + 1) * count]
    return bytes(out)
