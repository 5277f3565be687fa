"""Traced `multiprocessing.shared_memory`: a named block of bytes any process can map,
whose item and slice reads and writes are recorded on the caller's lane.

Picklable: a block travels to a child by name and the child attaches to it, as the
real class does. Children unpickle it, so this module stays light (no supervisor).
"""

from __future__ import annotations

import struct
from multiprocessing import shared_memory as _shared_memory
from typing import Any

from app.timeline import Kind
from app.tracing import here


class SharedView:
    """A view of a `SharedMemory` block's bytes (its `buf`, or `buf.cast(fmt)`): item
    and slice reads and writes are recorded with the value seen or written."""

    def __init__(self, view: memoryview, label: str, family: list[SharedView]) -> None:
        self._view = view
        self._label = label
        self._family = family  # every view of the block's mapping, released at its close
        family.append(self)

    def _where(self, index: int | slice) -> str:
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self._view))
            return f"{self._label}[{start}:{stop}]"
        return f"{self._label}[{index}]"

    def __getitem__(self, index: int | slice) -> Any:
        rec, me = here()
        rec.check()
        seen: Any = self._view[index]
        if isinstance(seen, memoryview):  # a slice: read now, as the bytes it holds
            seen = seen.tobytes()
            rec.emit(me, Kind.READ, self._where(index), detail=seen.hex(" "))
        else:
            rec.emit(me, Kind.READ, self._where(index), detail=seen)
        return seen

    def __setitem__(self, index: int | slice, new: Any) -> None:
        rec, me = here()
        rec.check()
        self._view[index] = new
        shown = bytes(new).hex(" ") if isinstance(index, slice) else new
        rec.emit(me, Kind.WRITE, self._where(index), detail=shown)

    def __len__(self) -> int:
        return len(self._view)

    def cast(self, fmt: str) -> SharedView:
        """`memoryview.cast`: e.g. `cast("q")` sees the bytes as 64-bit ints."""
        view: Any = self._view  # typeshed types cast() per literal format only
        return SharedView(view.cast(fmt), self._label, self._family)

    def release(self) -> None:
        self._view.release()


class SharedMemory:
    """`multiprocessing.shared_memory.SharedMemory`: a named block of bytes that any
    process can map. `buf` (and its casts) record item reads and writes.

    Pickled, it travels by name and the receiving child attaches to the block (what the
    real class does). Only the creator unlinks it; a child `close()`s its mapping.

    Python 3.11's resource tracker registers the block again when a child attaches.
    Spawn and forkserver children share the server's tracker and its registry is a
    set, so that second registration changes nothing and the creator's `unlink()`
    removes the one entry. A child must NOT unregister the block: that would remove
    the creator's entry, the tracker would print a KeyError at the creator's unlink,
    and it would no longer free the block if the server died."""

    def __init__(self, inner: _shared_memory.SharedMemory, label: str) -> None:
        self._shm = inner
        self.label = label
        self._views: list[SharedView] = []
        self._buf: SharedView | None = None
        self._closed = False
        self._unlinked = False

    @property
    def name(self) -> str:
        return self._shm.name

    @property
    def size(self) -> int:
        return self._shm.size

    @property
    def buf(self) -> SharedView:
        if self._buf is None:
            assert self._shm.buf is not None
            self._buf = SharedView(self._shm.buf, self.label, self._views)
        return self._buf

    def close(self) -> None:
        """Unmap this process's view (BufferError while a cast view is unreleased,
        as with the real class)."""
        if not self._closed:
            self._shm.close()
            self._closed = True

    def unlink(self) -> None:
        """Destroy the block (once: a second unlink would confuse the tracker)."""
        if not self._unlinked:
            self._unlinked = True
            self._shm.unlink()

    def release_block(self) -> None:
        """The run's cleanup: release any view left, close, and always unlink."""
        try:
            for view in self._views:
                view.release()
            self.close()
        finally:
            self.unlink()

    def peek(self, fmt: str = "q", offset: int = 0) -> Any:
        """A value in the block without recording a read (for the parent's summary)."""
        assert self._shm.buf is not None
        return struct.unpack_from(fmt, self._shm.buf, offset)[0]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_attach_shared_memory, (self._shm.name, self.label))


def _attach_shared_memory(name: str, label: str) -> SharedMemory:
    """Unpickling in a child: attach to the parent's block by name."""
    return SharedMemory(_shared_memory.SharedMemory(name), label)
