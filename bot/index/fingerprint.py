"""A model's identity: what names its vectors' collection and its embedding cache."""

from __future__ import annotations

import hashlib
from pathlib import Path


def model_fingerprint(model: str) -> str:
    """A short, stable identity for a model: its folder's config and weights, or its id."""
    path = Path(model)
    if not path.is_dir():
        return hashlib.sha256(model.encode("utf-8")).hexdigest()[:16]
    digest = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"):
        file = path / name
        if file.is_file():
            digest.update(name.encode() + file.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        stat = weights.stat()
        digest.update(weights.name.encode() + str(stat.st_size).encode())
        with weights.open("rb") as handle:  # head and tail: cheap, and changes with any retrain
            digest.update(handle.read(1 << 20))
            handle.seek(max(0, stat.st_size - (1 << 20)))
            digest.update(handle.read())
    return digest.hexdigest()[:16]
