"""Ingest's pipeline (bot/index/pipeline.py): stages overlap, order is kept, errors reach the caller."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from bot.index import pipeline


def _encode(texts):
    return np.asarray([[float(len(t))] for t in texts])


def test_every_group_is_stored_in_order_with_its_own_vectors():
    groups = [["a", "bb"], ["ccc"], ["dddd", "e", "ff"]]
    stored, progress = [], []
    times = pipeline.run(iter(groups), list, _encode, lambda g, v: stored.append((g, v[:, 0].tolist())),
                         lambda g, n: progress.append(n))
    assert stored == [(["a", "bb"], [1.0, 2.0]), (["ccc"], [3.0]), (["dddd", "e", "ff"], [4.0, 1.0, 2.0])]
    assert progress == [2, 1, 3]
    assert 0 <= times.encode_seconds <= times.wall_seconds and 0 <= times.encoder_share <= 1


def test_segmenting_and_storing_run_beside_the_encoder():
    threads = {}

    def groups():
        for n in range(3):
            threads.setdefault("segment", threading.current_thread())
            yield [str(n)]

    def store(group, vectors):
        threads.setdefault("store", threading.current_thread())

    pipeline.run(groups(), list, _encode, store)
    assert len({threads["segment"], threads["store"], threading.current_thread()}) == 3


@pytest.mark.parametrize("stage", ["segment", "encode", "store"])
def test_an_error_in_any_stage_is_raised_in_the_caller(stage):
    def groups():
        yield ["a"]
        if stage == "segment":
            raise ValueError("segment failed")
        yield from ([str(n)] for n in range(50))

    def encode(texts):
        if stage == "encode" and texts == ["3"]:
            raise ValueError("encode failed")
        return _encode(texts)

    def store(group, vectors):
        if stage == "store" and group == ["5"]:
            raise ValueError("store failed")

    with pytest.raises(ValueError, match=f"{stage} failed"):
        pipeline.run(groups(), list, encode, store)
    assert not [t for t in threading.enumerate() if t.name.startswith("ingest-")]


def test_grouped_fills_groups_to_the_limit():
    assert list(pipeline.grouped(iter([1, 2, 3, 4, 1]), lambda n: n, 3)) == [[1, 2], [3], [4], [1]]
