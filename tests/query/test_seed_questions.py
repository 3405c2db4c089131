"""The seed question set (bench/seed_questions.yaml) scored by bench/seed_questions.py's own functions:
first the scoring itself on answers written by hand, then the real answer path on the seed pages,
asserting what issue 11 demands where it already holds. The cases that still fail today are marked
xfail one by one, each with the reason, so a fix shows up as a pass (XPASS)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import yaml

from ..conftest import ROOT, SEEDS

_spec = importlib.util.spec_from_file_location("seed_questions", ROOT / "bench" / "seed_questions.py")
sq = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("seed_questions", sq)
_spec.loader.exec_module(sq)

SPEC = yaml.safe_load((ROOT / "bench" / "seed_questions.yaml").read_text(encoding="utf-8"))
QUESTIONS = {q["id"]: q for q in SPEC["questions"]}
RELATED_CONCEPTS = ("2 of 5 related-concepts questions are answered from the note's body rather than the entry's "
                    "one-line relation (s13: the body's paragraph on the same parallel outscores it)")


# --- the scoring, on answers written by hand (pure) ---------------------------------------------


def cite(n, note_id, quote, start=0, end=None):
    return {"n": n, "note_id": note_id, "quote": quote, "start": start, "end": len(quote) if end is None else end}


def test_strict_lenient_and_first_citation():
    question = {"id": "x", "category": "section", "section": "sources", "expect": "source",
                "also_ok": ["page"], "evidence": ["error  increases"]}
    copy_first = [cite(1, "page", "Five models showed error increases."), cite(2, "source", "tiny")]
    s = sq.score_question(question, copy_first, abstained=False)
    assert (s["strict"], s["lenient"], s["strict_at_1"], s["lenient_at_1"]) == (False, True, False, True)
    both = copy_first + [cite(3, "source", "5–9pp error\nincreases on medical reasoning")]  # whitespace collapsed
    assert sq.score_question(question, both, False)["strict"]
    abstained = sq.score_question(question, [], abstained=True)
    assert abstained["false_abstention"] and not abstained["lenient"]


def test_off_topic_scoring_and_summary():
    off = {"id": "o", "category": "offtopic", "section": "body", "expect": "abstain"}
    scores = [sq.score_question(off, [], True), sq.score_question(off, [cite(1, "a", "x")], False, topic_only=True),
              sq.score_question(QUESTIONS["b10"], [cite(1, QUESTIONS["b10"]["expect"],
                                                        "empathy and warmth are not the same axis.")], False)]
    table = sq.summarise(scores)
    assert table["offtopic"] == {"questions": 2, "correct_abstentions": 1, "false_answers": 1, "topic_only": 1}
    assert table["body"]["strict"] == 1.0 and table["all answerable"]["questions"] == 1
    assert (table["body"]["topic_only"], table["body"]["topic_only_strict"]) == (0, 0)
    assert sq.topic_only("No passage says this outright; the closest notes are:\n\n1. ...")


def test_follow_up_scoring_reads_what_was_shown_from_the_markdown():
    pair = {"id": "f", "adds": {"notes": ["b"], "evidence": ["because"]}, "nothing_new_ok": False}
    first = {"strict": True, "lenient": True}
    markdown = "> q [[1]](/notes/a?hl=0-10#hl)\n\n**Sources:** [1] [A](/notes/a)"
    again = [cite(1, "a", "overlapping", 5, 15)]
    s = sq.score_follow_up(pair, first, markdown, again, False, False)
    assert (s["new_quotes"], s["repeated_quotes"], s["ok"]) == (0, 1, False)
    new = [cite(1, "a", "later", 10, 20), cite(2, "b", "It is so because of X.", 0, 22)]
    s = sq.score_follow_up(pair, first, markdown, new, False, False)
    assert (s["new_quotes"], s["repeated_quotes"], s["adds_expected"], s["ok"]) == (2, 0, True, True)
    allowed = dict(pair, nothing_new_ok=True)
    assert sq.score_follow_up(allowed, first, markdown, [], False, said_nothing_new=True)["ok"]


def test_source_following_cases():
    links = {"essay": [(10, 20, "src"), (40, 50, "other")]}
    kinds = {"essay": "inquiry", "src": "source", "other": "source"}
    beside = [cite(1, "essay", "x" * 30, 0, 30), cite(2, "src", "y")]
    far = [cite(1, "x", "z"), cite(2, "essay", "x" * 30, 0, 30), cite(3, "y", "w"), cite(4, "src", "y")]
    assert sq.source_following(beside, links, kinds) == [
        {"inquiry": "essay", "n": 1, "names": ["src"], "first_or_beside": True, "cited": True}]
    assert sq.source_following(far, links, kinds)[0]["first_or_beside"] is False
    assert sq.source_following([cite(1, "essay", "x" * 5, 0, 5)], links, kinds) == []  # names nothing
    question = {"id": "q", "category": "section", "expect": "src"}
    assert sq.direct_source(question, beside, links, kinds)["first_or_beside"]
    assert not sq.direct_source(question, far, links, kinds)["first_or_beside"]


# --- the real answer path on the seed pages ---------------------------------------------------------


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory, embedder):
    from bot.query.params import DEFAULT_ANSWER_PARAMS
    from bot.service import Bot
    from bot.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("seed-questions"), notes_dir=str(SEEDS))
    with Bot.open(settings, progress=False, embedder=embedder) as notes:
        after = sq.evaluate(notes, SPEC, DEFAULT_ANSWER_PARAMS)
        before = sq.evaluate(notes, SPEC, sq.before_params())
    scores = {s["id"]: s for s in after["questions"]}
    pairs = {p["id"]: p for p in after["follow_up_pairs"]}
    return {"after": after, "before": before, "scores": scores, "pairs": pairs}


def _ids(category, section=None):
    return [q["id"] for q in SPEC["questions"]
            if q["category"] == category and (section is None or q.get("section") == section)]


@pytest.mark.integration
@pytest.mark.parametrize("qid", [q for q in _ids("offtopic") if q not in ("o01", "o02", "o03")])
def test_off_topic_questions_abstain(seed_run, qid):
    assert seed_run["scores"][qid]["correct_abstention"], seed_run["scores"][qid]["answer"]


# strict=False: these sit at the passage bar's edge, and two cold builds of the same notes (HNSW
# graphs built by parallel inserts) can fall either side of it (o01 abstained in CI, not here).
NEAR_DOMAIN = pytest.mark.xfail(reason="near the domain (RLVER's learning rate and base model, the warmth models' "
                                        "GPUs): the notes' RLVER and warmth passages clear the abstention bar",
                                strict=False)


@pytest.mark.integration
@pytest.mark.parametrize("qid", [pytest.param(q, marks=NEAR_DOMAIN) for q in ("o01", "o02", "o03")])
def test_near_domain_off_topic_questions_abstain(seed_run, qid):
    assert seed_run["scores"][qid]["correct_abstention"]


@pytest.mark.integration
def test_body_questions_are_answered_from_their_note(seed_run):
    body = [seed_run["scores"][q] for q in _ids("body")]
    assert not [s["id"] for s in body if s["false_abstention"]]
    assert sum(s["lenient"] for s in body) >= 17, [s["id"] for s in body if not s["lenient"]]  # of 18 today
    assert seed_run["scores"]["b01"]["strict"]  # the issue's own example


@pytest.mark.integration
@pytest.mark.parametrize("qid", _ids("section", "sources"))
def test_a_source_summary_is_quoted_from_the_source_note_first(seed_run, qid):
    assert seed_run["scores"][qid]["strict_at_1"], seed_run["scores"][qid]["answer"]


@pytest.mark.integration
@pytest.mark.parametrize("section", ["anchor_paper", "research_prompt_finding",
                                     pytest.param("related_concepts", marks=pytest.mark.xfail(reason=RELATED_CONCEPTS,
                                                                                              strict=False)),
                                     "related_papers", "next_inquiring_lines", "original_title"])
def test_section_questions_are_answered_from_their_section(seed_run, section):
    scores = [seed_run["scores"][q] for q in _ids("section", section)]
    assert all(s["lenient"] for s in scores), [s["id"] for s in scores if not s["lenient"]]


@pytest.mark.integration
@pytest.mark.parametrize("qid", ["s01", "s06", pytest.param("s13", marks=pytest.mark.xfail(reason=RELATED_CONCEPTS,
                                                                                         strict=False))])
def test_the_issues_section_examples(seed_run, qid):
    assert seed_run["scores"][qid]["strict"]


@pytest.mark.integration
@pytest.mark.xfail(reason="paraphrases with little word overlap: 9 of 33 are under both the passage bar and the "
                          "topic bar today (18 before the topic view); the issue asks for none", strict=False)
def test_paraphrases_are_never_abstained(seed_run):
    assert not [q for q in _ids("paraphrase") if seed_run["scores"][q]["false_abstention"]]


@pytest.mark.integration
def test_paraphrases_close_to_a_note_get_a_pointer_answer_not_an_abstention(seed_run):
    # Under the passage bar, but close to a note as a whole: the answer says no passage answers
    # outright and points at the closest notes. p02's, p04's and p18's pointers quote the passage
    # that answers them.
    scores = seed_run["scores"]
    for qid in ("p02", "p04", "p18"):
        assert scores[qid]["topic_only"] and scores[qid]["strict"], scores[qid]["answer"]
    assert scores["p08"]["topic_only"] and "why-can-t-chatbots-detect-when-users-are-ambivalent-about-change" \
        in scores["p08"]["cited"]
    pointers = [s for s in scores.values() if s["topic_only"]]
    assert len(pointers) >= 8 and all(not s["abstained"] for s in pointers)
    assert sum(s["false_abstention"] for q, s in scores.items() if QUESTIONS[q]["category"] == "paraphrase") <= 9


@pytest.mark.integration
def test_off_topic_questions_never_get_a_pointer_answer(seed_run):
    assert not [q for q in _ids("offtopic") if seed_run["scores"][q]["topic_only"]]


@pytest.mark.integration
def test_follow_ups_never_repeat_a_quote(seed_run):
    after, before = seed_run["after"]["follow_ups"], seed_run["before"]["follow_ups"]
    assert after["repeated_quotes"] == 0 and before["repeated_quotes"] >= 10
    for pair in seed_run["pairs"].values():
        if pair["first_lenient"]:  # a first answer to follow: the follow-up adds or says nothing new
            assert pair["adds_new_passage"] or pair["said_nothing_new"], pair["id"]
    assert seed_run["pairs"]["f01"]["adds_expected"]  # "why is that?" after warmth: the reason, new


@pytest.mark.integration
@pytest.mark.xfail(reason="'what else?' after a section question: f03 (after the arXiv id) finds nothing unshown "
                          "above the bar, f06 (after a related concept) quotes the note's body, not the next concept",
                   strict=False)
@pytest.mark.parametrize("pid", ["f03", "f06"])
def test_section_follow_ups_add_the_next_entry(seed_run, pid):
    assert seed_run["pairs"][pid]["adds_expected"]


@pytest.mark.integration
def test_direct_sources_are_quoted_beside_the_inquiry(seed_run):
    before, after = seed_run["before"], seed_run["after"]
    share = after["direct_source"]["first_or_beside"] / after["direct_source"]["questions"]
    assert after["direct_source"]["first_or_beside"] >= before["direct_source"]["first_or_beside"]
    assert share >= 0.85, after["direct_source_cases"]
    assert (after["source_following"]["source_first_or_beside"]
            > before["source_following"]["source_first_or_beside"])


def test_doctests():
    import doctest

    assert doctest.testmod(sq).failed == 0
