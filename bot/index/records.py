"""What the store keeps per note and chunk, and how it is encoded (pure).

    note_key("warmth", "ab12...", 3)      'warmth@ab12....3'  (note, content, first live version)
    pack_sentences(spans, quotable, vectors) / unpack_sentences(meta, 384)
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

FOREVER = 2**62


def note_key(note_id: str, content_hash: str, version: int) -> str:
    """A note record's id: the note, its content, and the version that first made it live."""
    return f"{note_id}@{content_hash[:16]}.{version}"


def key_note_id(key: str) -> str:
    return key.rsplit("@", 1)[0]


@dataclass(frozen=True)
class NoteRecordInfo:
    """A note record's small metadata (no text, no vectors)."""

    key: str
    note_id: str
    content_hash: str
    title: str
    kind: str
    path: str
    live_from: int
    live_until: int
    chunks: int | None = None  # chunk records the note has (written before the note record)

    def live_at(self, version: int) -> bool:
        return self.live_from <= version < self.live_until


# Sentence vectors travel inside chunk metadata.


def pack_sentences(spans: list[tuple[int, int]], quotable: list[bool], vectors: np.ndarray) -> dict:
    """Chunk metadata fields holding its sentences' offsets and float16 vectors."""
    return {
        "sentences": ",".join(f"{s}:{e}:{int(q)}" for (s, e), q in zip(spans, quotable)),
        "sentence_vectors": base64.b64encode(np.asarray(vectors, dtype=np.float16).tobytes()).decode("ascii"),
    }


def unpack_sentences(meta: dict, dimension: int) -> tuple[list[tuple[int, int, bool]], np.ndarray]:
    spans = []
    if meta.get("sentences"):
        for part in meta["sentences"].split(","):
            s, e, q = part.split(":")
            spans.append((int(s), int(e), q == "1"))
    blob = meta.get("sentence_vectors", "")
    vectors = np.frombuffer(base64.b64decode(blob), dtype=np.float16) if blob else np.zeros(0, np.float16)
    return spans, vectors.reshape(len(spans), dimension) if spans else np.zeros((0, dimension), np.float16)
