"""Stage 2, index: notes in, a versioned, searchable index out.

Owns: the encoder (`embedder`; its ONNX fast path `onnx`; the on-disk vector cache `cache`;
a model's identity `fingerprint`), BM25 and the shared tokenizer (`lexical`), the Chroma
store (`store`, with its client quirks in `chroma`, its lock in `lock`, its record encoding in
`records`), the write path (`ingest`: notes → chunks → vectors → a new committed version),
the in-memory snapshot of a committed version (`snapshot`) and the served index that swaps
snapshots (`served`).

May import: `bot.notes` and the shared leaves. Never `bot.query` or anything above it.
The read side (`snapshot`, `served`) never imports `ingest`: building is the service's call.
"""
