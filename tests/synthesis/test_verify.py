"""The sentence-by-sentence check of an LLM's answer, on real seed passages with the real model."""

from __future__ import annotations

import pytest

from bot.synthesis.prompt import Passage
from bot.synthesis.claims import SentenceStream, citation_numbers, extract_facts, is_abstention, split_answer
from bot.synthesis.verify import MIN_COVERAGE, MIN_SIMILARITY, Verifier, segments, verify

from ..conftest import SEEDS

pytestmark = pytest.mark.integration  # the real embedding model


def seed_line(name: str, line: int) -> str:
    return (SEEDS / name).read_text().splitlines()[line - 1]


@pytest.fixture(scope="module")
def passages() -> list[Passage]:
    return [
        Passage(1, seed_line("004_aaf3fd2841cda9ab.txt", 14), "Can training empathy as a trait backfire?"),
        Passage(2, seed_line("002_a1f149fcb2b4d867.txt", 51)),  # five models, 5–9pp, 19.4%
        Passage(3, seed_line("003_9588276566671a77.txt", 35)),  # RLHF, grounding acts 77.5%
        Passage(4, seed_line("000_13d96628cd244b35.txt", 3)),   # thinking blocks channel training
        Passage(5, seed_line("002_a1f149fcb2b4d867.txt", 43)),  # GPT-4.5, 555 scenarios
    ]


# Paraphrases a person would write, not near-copies of the passages.
FAITHFUL = [
    "Training a model to be warm as a general character trait lowers its factual reliability by 10-30 "
    "percentage points [1].",
    "The errors get worse when users say they are sad or hold a false belief [1].",
    "Rewarding empathy as a contextual behaviour instead of a fixed trait keeps reliability intact [1].",
    "Warmth-trained models made 5–9pp more errors on medical reasoning and factual accuracy [2].",
    "Standard safety benchmarks did not detect this degradation [2].",
    "Emotional context made the errors 19.4% worse [2].",
    "RLHF rewards confident single-turn answers over clarifying questions [3].",
    "As a result, grounding acts fall 77.5% below human levels [3].",
    "Models look helpful but fail silently in multi-turn conversations [3].",
    "Thinking blocks seem to channel training toward empathy rather than reveal empathy that was already "
    "there [4].",
    "In one study, models trained with the same emotion rewards developed empathy only when they had "
    "think-then-say blocks [4].",
    "Without reasoning scaffolds, the models developed action-oriented problem-solving instead [4].",
    "GPT-4.5 judged the appropriateness of 555 social scenarios better than all human raters [5].",
    "Yet every model makes the same systematic errors, which suggests limits of pattern-based social "
    "understanding [5].",
]


def test_faithful_paraphrases_are_kept(embedder, passages):
    result = verify(" ".join(FAITHFUL), passages, embedder.encode)
    assert [d.reason for d in result.dropped] == []
    assert len(result.kept) == len(FAITHFUL)
    assert result.kept[0].citations == [1]
    assert result.kept[0].text.endswith("by 10-30 percentage points.")  # the mark is gone, the text intact
    assert not result.abstained


@pytest.mark.parametrize("sentence, check, reason", [
    ("Warm models lose 42% of their factual reliability [1].", "fact",
     "the number 42% is in none of the cited passages"),
    ("Training for warmth cut reliability by 10–40 percentage points [1].", "fact",
     "the number 40% is in none of the cited passages"),
    ("Six models trained for warmth showed more errors [2].", "fact",
     "the number Six is in none of the cited passages"),
    ("Warmth-trained models made 5–9pp more errors on medical reasoning [3].", "fact",  # swapped citation
     "the number 5% is in none of the cited passages"),
    ("Thinking blocks reveal empathy that was already latent [7].", "citation",
     "cites [7], but there is no passage 7"),
    ("Thinking blocks reveal latent empathy [4][8][9].", "citation",
     "cites [8][9], but there are no passages 8, 9"),
    ("Warmth training degrades factual reliability.", "citation", "no citation"),
    ('The paper calls this "a catastrophic collapse of truthfulness" [1].', "fact",
     'the quoted phrase "a catastrophic collapse of truthfulness" is in none of the cited passages'),
    ("The result comes from arXiv:2507.99999 [1].", "fact",
     "the arXiv id 2507.99999 is in none of the cited passages"),
    ("RLHF does not reward confident single-turn answers over clarifying questions [3].", "negation",
     'not supported by [3]: it says "not reward" where the passage it paraphrases says "rewarding"'),
])
def test_each_kind_of_error_is_dropped_with_its_reason(embedder, passages, sentence, check, reason):
    result = verify(sentence, passages, embedder.encode)
    assert result.kept == []
    [dropped] = result.dropped
    assert (dropped.check, dropped.reason) == (check, reason)


def test_a_claim_from_a_passage_that_was_not_cited_is_dropped(embedder, passages):
    # True of passage 1 (emotion rewards over a dialogue), cited as [2]: its words are not there.
    result = verify("Rewards that track a user's emotional trajectory push models toward genuine empathy [2].",
                    passages, embedder.encode)
    [dropped] = result.dropped
    assert dropped.check == "coverage"
    assert dropped.reason.startswith("not supported by [2]: too few of its words appear there")
    assert '"trajectory"' in dropped.reason


def test_a_claim_not_in_the_cited_passage_is_dropped(embedder, passages):
    # 4 of its 9 terms are in passage 4: under a coverage threshold of 0.5 it is dropped. At the
    # calibrated 0.4 (bench/synthesis_verifier.py) this borderline sentence gets through: one of the
    # misses the benchmark counts, not a behaviour wanted.
    result = verify("Reinforcement learning with verifiable rewards teaches base models new reasoning [4].",
                    passages, embedder.encode, min_coverage=0.5)
    assert [d.check for d in result.dropped] == ["coverage"]
    assert '(44%; missing "reinforcement", "learning", "teaches", "base")' in result.dropped[0].reason


def test_similarity_is_a_second_net_for_swapped_citations(embedder, passages):
    # A true sentence (of passage 1) citing passage 3: with the coverage check switched off, the
    # embedding check alone still drops it.
    result = verify("The errors get worse when users say they are sad or hold a false belief [3].", passages,
                    embedder.encode, min_coverage=0.0)
    [dropped] = result.dropped
    assert dropped.check == "similarity"
    assert dropped.reason.startswith("not supported by [3]: no sentence there says this (closest similarity 0.")


def test_thresholds_are_parameters(embedder, passages):
    sentence = FAITHFUL[0]
    assert verify(sentence, passages, embedder.encode).kept
    assert verify(sentence, passages, embedder.encode, min_coverage=1.01).dropped[0].check == "coverage"
    assert verify(sentence, passages, embedder.encode, min_similarity=0.999).dropped[0].check == "similarity"
    assert 0 < MIN_COVERAGE < 1 and 0 < MIN_SIMILARITY < 1


def test_mixed_answer_keeps_order_and_partitions_every_sentence(embedder, passages):
    text = (f"{FAITHFUL[0]} Warm models lose 42% of their reliability [1]. {FAITHFUL[7]} "
            "This is well known. " + FAITHFUL[9])
    result = verify(text, passages, embedder.encode)
    assert [type(c).__name__ for c in result.checked] == [
        "AnswerSentence", "DroppedSentence", "AnswerSentence", "DroppedSentence", "AnswerSentence"]
    assert len(result.checked) == len(split_answer(text))


def counting(embedder, calls):
    def embed(texts):
        calls.append(list(texts))
        return embedder.encode(texts)
    return embed


def test_embedding_calls_are_batched(embedder, passages):
    calls: list[list[str]] = []
    verifier = Verifier(passages, counting(embedder, calls))
    verifier.prepare()  # every passage's sentences, in one call
    verifier.feed(" ".join(FAITHFUL[:4]) + " " + FAITHFUL[6])
    verifier.finish()
    assert [len(c) for c in calls[1:]] == [4, 1]  # the four complete sentences together; the last one
    assert len(verifier.result.kept) == 5
    # a negated sentence is matched to what it paraphrases by its terms: no clause is embedded for it
    verifier.feed(" " + FAITHFUL[4])
    verifier.finish()
    assert len(calls) == 4 and calls[3] == [FAITHFUL[4].removesuffix(" [2].") + "."]
    assert len(verifier.result.kept) == 6


def test_sentence_vectors_from_the_index_are_used(embedder, passages):
    # As the answer layer will pass them: the passage's sentences with the vectors ingest computed.
    sentences = tuple(segments(passages[2].text)[:2])
    given = Passage(3, passages[2].text, sentences=sentences, vectors=embedder.encode(list(sentences)))
    calls: list[list[str]] = []
    result = verify(FAITHFUL[6], [given], counting(embedder, calls))
    assert len(result.kept) == 1
    assert calls == [[FAITHFUL[6].removesuffix(" [3].") + "."]]  # only the LLM's sentence was embedded


def test_abstention_is_recognised_not_checked(embedder, passages):
    for text in ("None of the notes address this.", "None of the notes address this. [1]",
                 "none of the passages address the question"):
        result = verify(text, passages, embedder.encode)
        assert result.abstained and result.checked == [], text
    result = verify(f"None of the notes address this. {FAITHFUL[0]}", passages, embedder.encode)
    assert result.abstained and len(result.kept) == 1
    assert not is_abstention("The notes address this well [1].")


# --- splitting the LLM's text ------------------------------------------------------------------------

def test_citation_forms():
    text = ("One thing holds [1]. Two hold [1][2]. Three hold [1, 3]. A footnote holds.[^2] "
            "A range holds [2-4]. Another [2–3]. Not cited here.")
    claims = split_answer(text)
    assert [c.citations for c in claims] == [(1,), (1, 2), (1, 3), (2,), (2, 3, 4), (2, 3), ()]
    assert [c.text for c in claims][:4] == ["One thing holds.", "Two hold.", "Three hold.", "A footnote holds."]
    assert citation_numbers("[^1, ^3]") == [1, 3]


def test_citations_after_the_full_stop_belong_to_that_sentence():
    claims = split_answer("Warmth hurts reliability. [1] Reasoning scaffolds shape empathy.[2][3]\n- A list item [4]")
    assert [(c.text, c.citations) for c in claims] == [
        ("Warmth hurts reliability.", (1,)), ("Reasoning scaffolds shape empathy.", (2, 3)), ("A list item", (4,))]


@pytest.mark.parametrize("text", [
    "Warm models were 10–30% less reliable [1]. E.g. they erred more [1][2]. Thinking helps.[^3] Last one [2]",
    "First point. [1] Second point [2].\n\nThird point [3], with more [1, 2]. None of the notes address this.",
    FAITHFUL[0] + " " + FAITHFUL[4] + " " + FAITHFUL[9],
])
def test_a_stream_yields_exactly_the_sentences_of_the_whole_text(text):
    stream = SentenceStream()
    streamed = []
    early = 0
    for i, char in enumerate(text):
        new = stream.feed(char)
        streamed.extend(new)
        if new and i < len(text) - 1:
            early += 1
    streamed.extend(stream.finish())
    assert streamed == split_answer(text)
    assert early >= 1  # sentences come out while the text is still arriving


# --- facts -------------------------------------------------------------------------------------------

def facts(text: str) -> set[tuple[str, str]]:
    return {(f.kind, f.value) for f in extract_facts(text)}


def test_facts_are_normalised():
    assert facts("by 10–30%") == facts("by 10-30 percent") == facts("by 10 - 30 percentage points") == {
        ("percent", "10"), ("percent", "30")}
    assert facts("five models") == facts("5 models") == {("number", "5")}
    assert facts("1,000 people") == facts("1000 people")
    assert facts("a ratio of 2.50") == {("number", "2.5")}
    assert facts("arXiv:2507.21919v2 (2025)") == {("arxiv", "2507.21919"), ("number", "2025")}
    assert facts("to 'access more empathy' in ways “that matter”") == {
        ("quote", "access more empathy"), ("quote", "that matter")}
    assert facts("one of the models' outputs") == set()  # "one" is no quantity; a possessive no quote


def test_segments_add_the_clauses_of_long_sentences():
    text = seed_line("003_9588276566671a77.txt", 35)
    parts = segments(text)
    assert parts[0].startswith("RLHF optimizes models")
    assert len(parts) >= 2 and all(p in text for p in parts)
