"""Column stores for a snapshot's per-note and per-chunk data: one UTF-8 blob per column of
strings, numpy arrays beside it, and exact-key lookups over 64-bit hashes, so that every worker
on a host maps the same files instead of holding its own Python objects (bench/memory.py).

    strings = Strings.build(["tides", "sleep"])    # the blob, offsets into it, decoded per item
    strings[1], len(strings), strings.rows_containing(b"ee")       # 'sleep', 2, array([1])
    rows = KeyIndex.build(strings); rows["sleep"], rows.get("nope")   # 1, None
    notes = NoteTable(Strings.build([note.model_dump_json() for note in notes]))  # Note per row

Written by `save(directory, name)`, read back by `load(directory, name, shared=...)`: `shared`
maps the files read-only (the pages live once in the OS page cache, whoever reads them);
otherwise they are read into this process's memory.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..models import Note

def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _read_blob(path: Path, shared: bool):
    """The file's bytes: mapped read-only (`shared`) or read in; an empty file is b""."""
    if not shared or path.stat().st_size == 0:
        return path.read_bytes()
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


class Strings(Sequence[str]):
    """A column of strings: one UTF-8 blob and `offsets` (n + 1); item i is decoded when asked for."""

    def __init__(self, blob, offsets: np.ndarray) -> None:
        self.blob = blob  # bytes, or a read-only mmap
        self.offsets = offsets

    @classmethod
    def build(cls, strings: Iterable[str]) -> Strings:
        encoded = [_encode(s) for s in strings]
        return cls(b"".join(encoded), _ptr([len(b) for b in encoded]))

    def save(self, directory: Path, name: str) -> None:
        (directory / f"{name}.bin").write_bytes(bytes(self.blob))
        np.save(directory / f"{name}.offsets.npy", np.asarray(self.offsets, dtype=np.int64))

    @classmethod
    def load(cls, directory: Path, name: str, *, shared: bool = True) -> Strings:
        offsets = np.load(directory / f"{name}.offsets.npy", mmap_mode="r" if shared else None)
        blob = _read_blob(directory / f"{name}.bin", shared)
        if len(offsets) < 1 or int(offsets[-1]) != len(blob):
            raise ValueError(f"{name}: the offsets don't match the blob")
        return cls(blob, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def raw(self, i: int) -> bytes:
        """Item i, encoded."""
        return self.blob[int(self.offsets[i]):int(self.offsets[i + 1])]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.raw(i).decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        offsets = np.asarray(self.offsets).tolist()
        for begin, end in zip(offsets, offsets[1:]):
            yield self.blob[begin:end].decode("utf-8", "surrogatepass")

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def rows_containing(self, needle: bytes) -> np.ndarray:
        """The items holding `needle` as a substring (one blob scan; never across two items)."""
        rows: list[int] = []
        if not needle or len(self) == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = self.offsets
        position = self.blob.find(needle)
        while position >= 0:
            row = int(np.searchsorted(offsets, position, side="right")) - 1
            end = int(offsets[row + 1])
            if position + len(needle) <= end:
                rows.append(row)
                position = self.blob.find(needle, end)  # the next item
            else:  # straddles two items: not a match; look again one byte on
                position = self.blob.find(needle, position + 1)
        return np.asarray(rows, dtype=np.int64)


def key_hash(key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little")


class KeyIndex(Mapping[str, int]):
    """Exact lookup of a string column: key -> its value (by default its row), through the keys'
    sorted 64-bit hashes, every hit checked against the key itself. Keys are distinct."""

    def __init__(self, keys: Strings, hashes: np.ndarray, order: np.ndarray, values: np.ndarray | None = None) -> None:
        self.keys_column = keys
        self.hashes = hashes  # uint64, sorted
        self.order = order  # row of the key at each hash position
        self.values = values  # value per key row; None: the row itself

    @classmethod
    def build(cls, keys: Strings, values: np.ndarray | None = None) -> KeyIndex:
        hashes = np.fromiter((key_hash(keys.raw(i)) for i in range(len(keys))), dtype=np.uint64, count=len(keys))
        order = np.argsort(hashes, kind="stable").astype(np.int64)
        return cls(keys, hashes[order], order, None if values is None else np.asarray(values, dtype=np.int64))

    def save(self, directory: Path, name: str) -> None:
        np.save(directory / f"{name}.hashes.npy", self.hashes)
        np.save(directory / f"{name}.order.npy", self.order)
        if self.values is not None:
            np.save(directory / f"{name}.values.npy", self.values)

    @classmethod
    def load(cls, directory: Path, name: str, keys: Strings, *, shared: bool = True) -> KeyIndex:
        mode = "r" if shared else None
        values_path = directory / f"{name}.values.npy"
        index = cls(keys, np.load(directory / f"{name}.hashes.npy", mmap_mode=mode),
                    np.load(directory / f"{name}.order.npy", mmap_mode=mode),
                    np.load(values_path, mmap_mode=mode) if values_path.exists() else None)
        if len(index.hashes) != len(keys):
            raise ValueError(f"{name}: the key index doesn't match its keys")
        return index

    def _find(self, key: bytes, hashed: int, at: int) -> int:
        """The row of `key`, walking the keys whose hash is `hashed` from position `at`; -1 if none."""
        while at < len(self.hashes) and int(self.hashes[at]) == hashed:
            row = int(self.order[at])
            if self.keys_column.raw(row) == key:
                return row
            at += 1
        return -1

    def lookup(self, keys: Sequence[str]) -> np.ndarray:
        """The value of each key, -1 for keys it doesn't hold (one vectorised search, then each
        hit checked against its key: a question's 800 Chroma ids in well under a millisecond)."""
        found = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys) or not len(self.hashes):
            return found
        encoded = [_encode(k) for k in keys]
        hashed = np.fromiter((key_hash(k) for k in encoded), dtype=np.uint64, count=len(encoded))
        at = np.searchsorted(self.hashes, hashed)
        clipped = np.minimum(at, len(self.hashes) - 1)
        rows = np.asarray(self.order[clipped], dtype=np.int64)
        candidates = np.flatnonzero((at < len(self.hashes)) & (np.asarray(self.hashes[clipped]) == hashed))
        offsets, blob = self.keys_column.offsets, self.keys_column.blob
        begins = np.asarray(offsets[rows[candidates]]).tolist()
        ends = np.asarray(offsets[rows[candidates] + 1]).tolist()
        for i, begin, end in zip(candidates.tolist(), begins, ends):
            if blob[begin:end] == encoded[i]:
                found[i] = rows[i]
            else:  # another key with the same hash comes first: walk them
                found[i] = self._find(encoded[i], int(hashed[i]), int(at[i]))
        if self.values is not None:
            found = np.where(found >= 0, np.asarray(self.values)[np.maximum(found, 0)], -1)
        return found

    def get(self, key, default=None):
        if not isinstance(key, str):
            return default
        found = int(self.lookup([key])[0])
        return default if found < 0 else found

    def __getitem__(self, key: str) -> int:
        found = self.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_column)

    def __len__(self) -> int:
        return len(self.keys_column)


class NoteTable(Sequence[Note]):
    """The notes, one JSON document per row of a `Strings` column, parsed when a row is asked for
    (the last few hundred parsed are kept, so a question's repeated looks cost one parse)."""

    def __init__(self, documents: Strings) -> None:
        self.documents = documents
        self._parse = lru_cache(maxsize=512)(self._parse_row)

    def _parse_row(self, row: int) -> Note:
        return Note.model_validate_json(self.documents.raw(row))

    def __len__(self) -> int:
        return len(self.documents)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._parse(i)

    def __iter__(self) -> Iterator[Note]:
        for row in range(len(self)):
            yield Note.model_validate_json(self.documents.raw(row))


class Backlinks(Mapping[str, list[str]]):
    """note id -> the ids of the notes citing it, in row order, from a CSR table over note rows."""

    def __init__(self, note_ids: Strings, by_id: KeyIndex, ptr: np.ndarray, rows: np.ndarray) -> None:
        self.note_ids, self.by_id, self.ptr, self.rows = note_ids, by_id, ptr, rows

    @classmethod
    def build(cls, note_ids: Strings, by_id: KeyIndex, links: Sequence[Sequence[str]]) -> Backlinks:
        citing: list[list[int]] = [[] for _ in range(len(note_ids))]
        for row, targets in enumerate(links):
            for target in targets:
                at = by_id.get(target)
                if at is not None:
                    citing[at].append(row)
        ptr, rows = csr(citing)
        return cls(note_ids, by_id, ptr, rows)

    def _of_row(self, row: int) -> list[str]:
        return [self.note_ids[int(r)] for r in self.rows[int(self.ptr[row]):int(self.ptr[row + 1])]]

    def __getitem__(self, note_id: str) -> list[str]:
        row = self.by_id.get(note_id)
        citing = [] if row is None else self._of_row(row)
        if not citing:
            raise KeyError(note_id)
        return citing

    def __iter__(self) -> Iterator[str]:
        counts = np.diff(np.asarray(self.ptr))
        return (self.note_ids[int(row)] for row in np.flatnonzero(counts))

    def __len__(self) -> int:
        return int(np.count_nonzero(np.diff(np.asarray(self.ptr)))) if len(self.ptr) > 1 else 0


def _ptr(lengths: list[int]) -> np.ndarray:
    ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    if lengths:
        np.cumsum(lengths, out=ptr[1:])
    return ptr


def csr(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Lists of ints as (ptr, ids): list i is `ids[ptr[i]:ptr[i + 1]]`."""
    return _ptr([len(x) for x in lists]), np.asarray([v for x in lists for v in x], dtype=np.int32)
