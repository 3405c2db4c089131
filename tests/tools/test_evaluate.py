"""`bot eval` on a small BEIR-format fixture built here, with metrics checked by hand."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.tools.evaluate import BeirData, METRIC_KEYS, QueryResult, held_out, load_beir, metrics, mrr_at, ndcg_at, quote_hits_evidence, quote_is_tight, gold_share, recall_at
from bot.errors import BeirError

DOCS = [
    ("d1", "Aspirin and heart attacks",
     ["Daily low-dose aspirin lowered the risk of a first heart attack by a fifth in adults over fifty.",
      "Bleeding in the stomach became more common.",
      "The trial followed twelve thousand people for five years."]),
    ("d2", "Coffee and sleep",
     ["Participants were recruited from three universities.",
      "Their caffeine intake was logged with a diary app.",
      "Drinking coffee after four in the afternoon delayed sleep onset by forty minutes on average."]),
    ("d3", "Glacier retreat in the Alps",
     ["Alpine glaciers lost a third of their volume between 1980 and 2020.",
      "Meltwater lakes formed at the glacier snouts."]),
    ("d4", "Bee colonies and pesticides",
     ["Neonicotinoid exposure reduced the foraging success of bumblebee colonies.",
      "Colonies near treated fields produced fewer queens."]),
    ("d5", "Sourdough fermentation",
     ["Lactic acid bacteria dominate a mature sourdough starter.",
      "Wild yeasts supply most of the carbon dioxide that leavens the bread."]),
]
QUERIES = {
    "q1": "Daily low-dose aspirin lowers the risk of a first heart attack in adults over fifty.",
    "q2": "Drinking coffee late in the afternoon delays sleep onset.",
    "q3": "Deep-sea vents host chemosynthetic bacteria.",
}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d-missing", 1)]
RATIONALES = [
    {"query_id": "q1", "doc_id": "d1", "sentences": [0]},  # the sentence the query restates
    {"query_id": "q2", "doc_id": "d2", "sentences": [0]},  # a sentence unrelated to the query
]


def write_beir(directory, splits=("train",), rationales=True):
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "corpus.jsonl", "w") as handle:
        for doc_id, title, sentences in DOCS:
            handle.write(json.dumps({"_id": doc_id, "title": title, "text": " ".join(sentences),
                                     "sentences": sentences}) + "\n")
    with open(directory / "queries.jsonl", "w") as handle:
        for query_id, text in QUERIES.items():
            handle.write(json.dumps({"_id": query_id, "text": text}) + "\n")
    (directory / "qrels").mkdir(exist_ok=True)
    for split in splits:
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
        (directory / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
        if rationales:
            with open(directory / f"rationales_{split}.jsonl", "w") as handle:
                for record in RATIONALES:
                    handle.write(json.dumps(record) + "\n")
    return directory


# --- the metrics, by hand ---------------------------------------------------------------------


def test_ndcg_recall_mrr_by_hand():
    relevant = {"a": 1, "c": 1}
    ranking = ["b", "a", "x", "c"]
    # DCG = 1/log2(3) + 1/log2(5); IDCG = 1 + 1/log2(3)
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at(ranking, relevant, 10) == pytest.approx(expected)
    assert ndcg_at(ranking, relevant, 2) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert recall_at(ranking, relevant, 2) == 0.5 and recall_at(ranking, relevant, 10) == 1.0
    assert mrr_at(ranking, relevant, 10) == 0.5 and mrr_at(["x"] * 10 + ["a"], relevant, 10) == 0.0
    assert ndcg_at([], relevant) == 0.0


def test_quote_precision_rule():
    evidence = {"d": ["The effect was large.", "It held in mice."]}
    assert quote_hits_evidence({"doc_id": "d", "text": "The effect   was large. It held in mice."}, evidence)
    assert quote_hits_evidence({"doc_id": "d", "text": "It held"}, evidence)  # inside one
    assert not quote_hits_evidence({"doc_id": "e", "text": "The effect was large."}, evidence)
    three = "The effect was large. It held in mice. Nobody knows why."
    assert not quote_hits_evidence({"doc_id": "d", "text": three}, evidence)  # more than two sentences
    long = "The effect was large. " + "x" * 400
    assert not quote_hits_evidence({"doc_id": "d", "text": long}, evidence)


def test_tight_rule_counts_the_quote_characters_that_are_gold():
    document = {"d": ["Patients were recruited in 2010 from three hospitals.", "The effect was large.",
                      "It held in mice.", "Funding came from a charity."]}
    evidence = {"d": ["The effect was large.", "It held in mice."]}
    exact = {"doc_id": "d", "text": "The effect was large."}
    preamble = {"doc_id": "d", "text": "Patients were recruited in 2010 from three hospitals. The effect was large."}
    two_gold = {"doc_id": "d", "text": "The effect was large.  It held   in mice."}
    gold_then_short = {"doc_id": "d", "text": "It held in mice. Funding came from a charity."}
    part_of_one = {"doc_id": "d", "text": "effect was large"}
    # The preamble quote holds a gold sentence whole: a hit, but not tight (21 of 75 characters).
    assert quote_hits_evidence(preamble, evidence) and not quote_is_tight(preamble, evidence, document)
    assert gold_share(preamble, evidence, document) == pytest.approx(21 / 75, abs=1e-4)
    for quote in (exact, two_gold, part_of_one):
        assert quote_hits_evidence(quote, evidence) and quote_is_tight(quote, evidence, document)
    # 16 of 45 characters gold: a hit, not tight.
    assert quote_hits_evidence(gold_then_short, evidence) and not quote_is_tight(gold_then_short, evidence, document)
    # A quote that cuts a gold sentence counts the part it quotes: "was large. It held in mice." is
    # all gold although it holds only one gold sentence whole; "hospitals. The effect" is not.
    assert gold_share({"doc_id": "d", "text": "was large. It held in mice."}, evidence, document) == 1.0
    cut = {"doc_id": "d", "text": "three hospitals. The effect"}
    assert not quote_hits_evidence(cut, evidence)
    assert gold_share(cut, evidence, document) == pytest.approx(10 / 27, abs=1e-4)
    assert not quote_is_tight(cut, evidence, document)
    # Without the document's sentences only whole gold sentences count.
    assert gold_share({"doc_id": "d", "text": "was large. It held in mice."}, evidence) == pytest.approx(16 / 27, abs=1e-4)  # "It held in mice."
    # Another document's quote is never tight, even with the same words.
    assert not quote_is_tight({"doc_id": "e", "text": "The effect was large."}, evidence, document)
    assert gold_share({"doc_id": "d", "text": "   "}, evidence, document) == 0.0


def test_metrics_over_a_hand_made_run():
    data = BeirData(directory=None, split="t", corpus_path=None, queries={"1": "a", "2": "b"},
                    qrels={"1": {"x": 1}, "2": {"y": 1, "z": 1}},
                    rationales={"1": {"x": [0]}}, sentences={"x": ["Gold sentence."]})
    results = {
        "1": QueryResult([("x", 2.0), ("y", 1.0)], [{"doc_id": "x", "text": "Gold sentence."}], 10.0),
        "2": QueryResult([("q", 2.0), ("z", 1.0)], [], 30.0),
    }
    m = metrics(results, data)
    assert list(m) == list(METRIC_KEYS)
    assert m["ndcg@10"] == pytest.approx(round((1 + (1 / math.log2(3)) / (1 + 1 / math.log2(3))) / 2, 4))
    assert m["recall@10"] == pytest.approx(0.75) and m["mrr@10"] == pytest.approx(0.75)
    assert m["quote_precision@1"] == 1.0 and m["tight@1"] == 1.0
    padded = dict(results, **{"1": QueryResult(results["1"].ranking,
                                               [{"doc_id": "x", "text": "A far longer opening sentence. Gold sentence."}],
                                               10.0)})
    assert metrics(padded, data)["quote_precision@1"] == 1.0 and metrics(padded, data)["tight@1"] == 0.0
    assert m["latency_ms_p50"] == 20.0 and m["latency_ms_p95"] == pytest.approx(29.0)
    one_of_two_at_rank_2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert metrics(results, data, ["2"])["ndcg@10"] == pytest.approx(round(one_of_two_at_rank_2, 4))


def test_held_out_is_a_stable_half():
    ids = [str(i) for i in range(1000)]
    share = sum(held_out(i) for i in ids) / len(ids)
    assert 0.45 < share < 0.55
    assert [held_out(i) for i in ids] == [held_out(i) for i in ids]


# --- the folder -------------------------------------------------------------------------------


def test_split_is_found_or_must_be_named(tmp_path):
    one = write_beir(tmp_path / "one")
    assert load_beir(one).split == "train"
    two = write_beir(tmp_path / "two", splits=("train", "test"))
    with pytest.raises(BeirError, match="several splits \\(test, train\\)"):
        load_beir(two)
    assert load_beir(two, "test").split == "test"
    with pytest.raises(BeirError, match="no qrels/dev.tsv"):
        load_beir(two, "dev")
    with pytest.raises(BeirError, match="corpus.jsonl is missing"):
        load_beir(tmp_path)


def test_rationales_become_evidence_sentences(tmp_path):
    data = load_beir(write_beir(tmp_path / "b"))
    assert set(data.queries) == {"q1", "q2", "q3"}
    assert data.evidence("q1") == {"d1": [DOCS[0][2][0]]}
    assert data.evidence("q3") == {}


# --- the command, end to end ------------------------------------------------------------------


@pytest.mark.integration
def test_eval_command_on_a_small_beir_folder(tmp_path, embedder):
    folder = write_beir(tmp_path / "beir")
    out = tmp_path / "result.json"
    runner = CliRunner()
    result = runner.invoke(cli, ["eval", "--beir", str(folder), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert list(report) == ["metrics", "run", "quotes"]
    m = report["metrics"]
    assert list(m) == list(METRIC_KEYS)
    # q1 and q2 restate their document: found first. q3's relevant document is not in the corpus.
    assert report["run"]["q1"][0][0] == "d1" and report["run"]["q2"][0][0] == "d2"
    assert m["ndcg@10"] == pytest.approx(0.6667) and m["recall@10"] == pytest.approx(0.6667)
    assert m["recall@100"] == pytest.approx(0.6667) and m["mrr@10"] == pytest.approx(0.6667)
    # q1's first quote holds its gold sentence; q2's gold sentence is not what the query asks about.
    assert m["quote_precision@1"] == pytest.approx(0.5)
    # q1 states its gold sentence: the first quote is that sentence alone, so tight as well.
    assert m["tight@1"] == pytest.approx(0.5)
    assert report["quotes"]["q1"][0]["doc_id"] == "d1"
    assert DOCS[0][2][0] in report["quotes"]["q1"][0]["text"]
    assert m["latency_ms_p50"] > 0 and m["latency_ms_p95"] >= m["latency_ms_p50"]
    for query_id, ranking in report["run"].items():
        assert len(ranking) <= 100 and all(isinstance(doc, str) and isinstance(s, float) for doc, s in ranking)
        assert [s for _, s in ranking] == sorted((s for _, s in ranking), reverse=True), query_id
    # The table goes to the terminal (stderr), the JSON to the file.
    assert "ndcg@10" in result.stderr

    # The corpus's store is kept, keyed by the corpus hash: a second run ingests nothing.
    stores = list((tmp_path.parent).glob("**/eval/corpus-*/chroma"))
    again = runner.invoke(cli, ["eval", "--beir", str(folder), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["run"] == report["run"]
    assert list((tmp_path.parent).glob("**/eval/corpus-*/chroma")) == stores


def test_eval_command_refuses_an_ambiguous_folder(tmp_path):
    folder = write_beir(tmp_path / "two", splits=("train", "test"))
    result = CliRunner().invoke(cli, ["eval", "--beir", str(folder)])
    assert result.exit_code == 2
    assert "several splits (test, train)" in result.stderr


def test_doctests():
    import doctest

    import bot.query.answer
    import bot.tools.evaluate

    for module in (bot.tools.evaluate, bot.query.answer):
        assert doctest.testmod(module).failed == 0, module.__name__
