"""Adapt the embedding model to a collection: contrastive fine-tuning on its own title → text pairs.

Every note collection pairs a short statement of what a note is about (its
title) with the note itself. Training the embedder so that each title lands
nearest its own text, with the other notes of the batch as negatives
(multiple-negatives ranking loss, both directions), teaches it the
collection's vocabulary and what its questions look like, with no labels and
no network. On two CPU cores it takes minutes; the result is a local model
folder, used like any other:

    $ bot adapt ../shared/eval/scifact/corpus.jsonl
    adapted all-MiniLM-L6-v2 on 5,183 title → text pairs: 1 epoch, 162 steps, 6.1 min
    export BOT_EMBEDDING_MODEL=/data/models/adapted-3f2a...

A new model has a new fingerprint, so its vectors go to a collection of their
own (the index is built again on first use; the old one is left untouched).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..index.fingerprint import model_fingerprint
from ..models import Note
from ..settings import Settings

log = logging.getLogger(__name__)

MIN_TITLE_CHARS = 12


@dataclass(frozen=True)
class AdaptParams:
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup: float = 0.1  # share of the steps with a rising learning rate
    scale: float = 20.0  # cosine similarities times this, as logits
    max_text_tokens: int = 128  # a note's opening: what its title promises (and half the cost of 256)
    hard_batches: bool = True  # batches of notes with similar titles: negatives worth learning from
    seed: int = 0


@dataclass
class AdaptReport:
    model_dir: str
    base_model: str
    pairs: int
    epochs: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float

    def summary(self) -> str:
        return (
            f"adapted {Path(self.base_model).name or self.base_model} on {self.pairs:,} title → text pairs: "
            f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}, {self.steps} steps, "
            f"{self.seconds / 60:.1f} min (loss {self.first_loss:.3f} → {self.last_loss:.3f})"
        )


def title_text_pairs(notes: list[Note]) -> list[tuple[str, str]]:
    """(title, text) of every note whose title says something of its own (pure).

    Titles made up from a file name, or that merely repeat the text's opening,
    teach nothing and are left out; each title is used once.

        >>> title_text_pairs([Note(id="a", title="Does warmth training hurt reliability?", text="It does.")])
        [('Does warmth training hurt reliability?', 'It does.')]
    """
    pairs, seen = [], set()
    for note in notes:
        title, text = note.title.strip(), note.text.strip()
        if len(title) < MIN_TITLE_CHARS or not text or title in seen:
            continue
        if text.startswith(title) or note.source_path.endswith(title):
            continue
        seen.add(title)
        pairs.append((title, text))
    return pairs


def default_output(settings: Settings, pairs: list[tuple[str, str]], params: AdaptParams) -> Path:
    digest = hashlib.sha256()
    digest.update(model_fingerprint(settings.embedding_model).encode())
    digest.update(json.dumps(asdict(params), sort_keys=True).encode())
    for title, text in pairs:
        digest.update(hashlib.sha256(f"{title}\x00{text}".encode("utf-8", "surrogatepass")).digest())
    return Path(settings.data_dir) / "models" / f"adapted-{digest.hexdigest()[:12]}"


def adapt(notes: list[Note], settings: Settings, output: Path | None = None, *,
          params: AdaptParams = AdaptParams(), progress: bool = True) -> AdaptReport:
    """Fine-tune the configured model on the notes' title → text pairs; save it to `output`."""
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    pairs = title_text_pairs(notes)
    if len(pairs) < 2 * params.batch_size:
        raise ValueError(
            f"only {len(pairs)} notes have a title of their own; adapting needs at least "
            f"{2 * params.batch_size} (the other notes of a batch are the negatives)"
        )
    output = Path(output) if output is not None else default_output(settings, pairs, params)
    torch.set_num_threads(settings.encoder_threads)
    torch.manual_seed(params.seed)
    started = time.perf_counter()
    model = SentenceTransformer(settings.embedding_model, device="cpu")
    window = model.max_seq_length
    model.max_seq_length = min(window, params.max_text_tokens)
    model.train()
    batches_per_epoch = len(pairs) // params.batch_size  # full batches: every row has its negatives
    total = batches_per_epoch * params.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.learning_rate)
    warmup = max(1, int(total * params.warmup))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    bar = _bar(total, progress)
    rng = random.Random(params.seed)
    title_vectors = None
    if params.hard_batches:
        title_vectors = model.encode([t for t, _ in pairs], batch_size=64, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
    losses: list[float] = []
    try:
        for _ in range(params.epochs):
            if title_vectors is not None:
                order = similar_batches(title_vectors, params.batch_size, rng)
            else:
                order = list(range(len(pairs)))
                rng.shuffle(order)
            for b in range(batches_per_epoch):
                batch = [pairs[i] for i in order[b * params.batch_size:(b + 1) * params.batch_size]]
                titles = _embed(model, [t for t, _ in batch])
                texts = _embed(model, [x for _, x in batch])
                logits = params.scale * F.normalize(titles, dim=-1) @ F.normalize(texts, dim=-1).T
                target = torch.arange(len(batch))
                loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                losses.append(float(loss.detach()))
                if bar is not None:
                    bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.3f}")
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    model.max_seq_length = window  # trained on openings; indexes whole chunks as the base model did
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    head, tail = losses[: max(1, len(losses) // 10)], losses[-max(1, len(losses) // 10):]
    report = AdaptReport(
        model_dir=str(output), base_model=settings.embedding_model, pairs=len(pairs), epochs=params.epochs,
        steps=len(losses), seconds=time.perf_counter() - started,
        first_loss=sum(head) / len(head), last_loss=sum(tail) / len(tail),
    )
    (output / "adapt.json").write_text(json.dumps({**asdict(report), "params": asdict(params)}, indent=2))
    return report


def similar_batches(vectors, batch_size: int, rng: random.Random) -> list[int]:
    """An order of the rows in which each run of `batch_size` holds one row and its nearest free rows.

    In-batch negatives drawn at random are too easy to teach anything (the base
    model already tells most titles apart); neighbours are the confusions to fix.
    """
    import numpy as np

    free = np.ones(len(vectors), dtype=bool)
    seeds = list(range(len(vectors)))
    rng.shuffle(seeds)
    order: list[int] = []
    for seed in seeds:
        if not free[seed]:
            continue
        similarity = np.where(free, vectors @ vectors[seed], -np.inf)
        take = min(batch_size, int(free.sum()))
        group = np.argpartition(-similarity, take - 1)[:take]
        free[group] = False
        order.extend(int(i) for i in group)
    return order


def _embed(model, texts: list[str]):
    prepare = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` before v6
    features = prepare(texts)
    return model(features)["sentence_embedding"]


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="adapting", unit="step", dynamic_ncols=True, leave=False)


def steps_for(pairs: int, params: AdaptParams) -> int:
    return math.floor(pairs / params.batch_size) * params.epochs
