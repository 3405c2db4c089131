"""Answers on the real seed pages: the note each question must cite, abstention, follow-ups, format."""

from __future__ import annotations

import re

import pytest

from bot.query.compose import NOT_ADDRESSED, TOPIC_ONLY
from bot.errors import QuestionError
from bot.query.answer import answer_question
from bot.query.followups import expand_follow_up, is_follow_up, read_conversation, shown_passages
from bot.query.sources import named_in
from bot.urls import note_url, passage_url
from bot.service import Bot
from bot.errors import FilterError
from bot.settings import Settings

from ..conftest import SEEDS

pytestmark = pytest.mark.integration

# Written from reading the five pages in seeds/: each question in its own words, and the note
# that holds the answer (a source note's summary, or the page itself).
SEED_QUESTIONS = [
    ("How many percentage points did warmth training add to error rates across the five models?",
     "does-warmth-training-make-language-models-less-reliable"),
    ("What happens when thinking and non-thinking models are trained with the same emotion reward?",
     "do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"),
    ("Do LLMs give solution-focused advice when a client discloses emotions?",
     "do-llm-therapists-respond-to-emotions-like-low-quality-human-therapists"),
    ("By how much does preference alignment cut grounding acts below human levels?",
     "does-preference-optimization-harm-conversational-understanding"),
    ("How accurately did GPT-4.5 judge the appropriateness of social scenarios?",
     "can-ai-systems-learn-social-norms-without-embodied-experience"),
    ("How does RLVER use a simulated user's emotion trajectory as a reward?",
     "can-emotion-rewards-make-language-models-genuinely-empathic"),
    ("How long did it take to create proto-personas with an LLM?",
     "can-ai-generated-personas-build-genuine-empathy-in-product-teams"),
    ("What does Shanahan argue about role-play and a model's true self?",
     "does-a-language-model-have-an-authentic-voice-underneath"),
    ("Did LLMs score higher than trainee therapists on empathy and validation?",
     "can-language-models-match-therapist-empathy-in-real-conversations"),
    ("Why do chatbots miss users who are ambivalent about changing their health behaviour?",
     "why-can-t-chatbots-detect-when-users-are-ambivalent-about-change"),
    ("What directive information do scalar rewards throw away compared with natural feedback?",
     "can-scalar-rewards-capture-all-the-information-in-agent-feedback"),
    ("Does RL training collapse the behavioural diversity of search agents?",
     "does-reinforcement-learning-squeeze-exploration-diversity-in-search-agents"),
    ("Are maximally challenging training environments worse for empathetic agents?",
     "do-harder-training-environments-always-produce-better-empathetic-ai-agents"),
    ("Which mechanisms elicit reasoning that is already present in base model activations?",
     "do-base-models-already-contain-hidden-reasoning-ability"),
    ("Does thinking mode make vanilla models doubt themselves?",
     "does-extended-thinking-help-or-hurt-model-reasoning"),
    ("Is trait-level warmth training worse for factual accuracy than behaviour-level emotion rewards?",
     "does-training-granularity-change-how-ai-empathy-affects-reliability"),
    ("Do language models use more moral framing than people in their arguments?",
     "do-llms-use-moral-language-more-than-humans"),
    ("Why does RLHF push therapy chatbots toward fixing problems instead of emotional holding?",
     "does-rlhf-training-push-therapy-chatbots-toward-problem-solving"),
    ("Do hybrid Bayesian architectures with explicit belief tracking beat LLMs at perspective-taking?",
     "do-large-language-models-genuinely-simulate-mental-states"),
    ("Why is recognizing a feeling not enough for empathy without knowing the person's character?",
     "can-ai-give-truly-empathetic-responses-without-knowing-someone-s-character",
     "why-does-effective-empathy-require-deep-character-knowledge-of-the-person"),  # either holds the answer
]

# Questions answered by a page's sections other than its body (issue 11): the note, and a string
# the quote must hold verbatim.
CHARACTER = "why-does-effective-empathy-require-deep-character-knowledge-of-the-person"
SCAFFOLDS = "do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"
SECTION_QUESTIONS = [
    ("What is the arXiv id of the RLVER paper?", CHARACTER, "arXiv:2507.03112"),  # the issue's example
    ("What is the arXiv id of the paper showing that training language models to be warm and empathetic "
     "makes them less reliable and more sycophantic?", CHARACTER, "arXiv:2507.21919"),
    ("Which anchor paper has the id 2212.10983, and from what year is it?", CHARACTER,
     "Computer says 'No': The Case Against Empathetic Conversational AI"),
    ("What years do the findings in the character-knowledge research prompt span?", CHARACTER,
     "findings span 2019–2025"),
    ("Which two research questions does the research prompt propose on the assumption that the regime "
     "may have shifted?", CHARACTER, "Can reasoning-augmented LLMs synthesize character knowledge"),
    ("Which related concept of the reasoning scaffolds note is an apparent counter-example, and why?", SCAFFOLDS,
     "apparent counter-example: reasoning scaffold helps with empathy"),
    ("According to the related concepts, why might the thinking scaffold work for empathy when reasoning "
     "models struggle with theory of mind?", SCAFFOLDS, "precisely because it enables social deliberation"),
    ("Which related paper asks whether chain-of-thought reasoning is a mirage?", SCAFFOLDS,
     "Is Chain-of-Thought Reasoning of LLMs a Mirage? A Data Distribution Lens"),
    ("What was the original title of the note on whether reasoning scaffolds reshape empathy skills?", SCAFFOLDS,
     "Thinking and non-thinking models develop distinct empathy profiles under RL training"),
    ("Which inquiring lines use the reasoning scaffolds note as a source?", SCAFFOLDS,
     ("Is natural empathy primarily about curiosity or emotional regulation?",
      "Can reasoning scaffolds help with nuanced judgment tasks like empathy?",
      "How does the pretrained prior constrain the ceiling for empathy RL improvements?")),
]

OFF_TOPIC = [
    "What is the capital of France?",
    "How do I bake sourdough bread at home?",
    "Who won the 2018 FIFA World Cup?",
    "How do I change a flat bicycle tyre?",
    "What is the time complexity of quicksort?",
    "How do I configure nginx as a reverse proxy?",
    "What's a good recipe for vegetable lasagna?",
    "How are capital gains taxed in Germany?",
    "What is the arXiv id of the DeepSeek-R1 paper?",  # the research prompt lists arXiv ids, not this one
]


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory, embedder):
    settings = Settings(data_dir=tmp_path_factory.mktemp("answer-data"), notes_dir=str(SEEDS))
    index = Bot.open(settings, progress=False).index
    yield index
    index.close()


def cited_ids(answer) -> list[str]:
    return list(dict.fromkeys(c.note_id for c in answer.citations))


@pytest.mark.parametrize("question,note_ids", [(q, tuple(ids)) for q, *ids in SEED_QUESTIONS],
                         ids=[n[1] for n in SEED_QUESTIONS])
def test_seed_question_cites_its_note(seed_index, question, note_ids):
    answer = answer_question(seed_index, question)
    assert not answer.abstained, question
    assert set(note_ids) & set(cited_ids(answer)), (question, cited_ids(answer))


@pytest.mark.parametrize("question,note_id,holds", SECTION_QUESTIONS, ids=[q[:40] for q, *_ in SECTION_QUESTIONS])
def test_a_section_question_is_answered_from_that_section(seed_index, question, note_id, holds):
    answer = answer_question(seed_index, question)
    assert not answer.abstained, question
    assert answer.citations[0].note_id == note_id, (question, cited_ids(answer))
    holding = [c for c in answer.citations if c.note_id == note_id
               and any(h in c.quote for h in ((holds,) if isinstance(holds, str) else holds))]
    assert holding, (question, [c.quote for c in answer.citations])
    note = seed_index.snapshot.note(note_id)
    assert note.text[holding[0].start:holding[0].end] == holding[0].quote
    assert holding[0].start >= note.body_end()  # from a section, not the body


def test_the_issue_examples_quote_the_answer_first(seed_index):
    """The RLVER arXiv id, a research-prompt finding, a related concept: each is the first quote."""
    for question, holds in [
        ("What is the arXiv id of the RLVER paper?", "arXiv:2507.03112"),
        ("What years do the findings in the character-knowledge research prompt span?", "findings span 2019–2025"),
        ("Which related concept of the reasoning scaffolds note is an apparent counter-example, and why?",
         "apparent counter-example"),
    ]:
        first = answer_question(seed_index, question).citations[0]
        assert holds in first.quote, (question, first.quote)


def test_a_source_summary_listed_on_several_pages_is_quoted_once_from_its_source(seed_index):
    for question, source in [
        ("By how much does preference alignment reduce grounding acts below human levels?",
         "does-preference-optimization-harm-conversational-understanding"),
        ("Which RL algorithm does RLVER use to deliver stable empathy improvements?",
         "can-emotion-rewards-make-language-models-genuinely-empathic"),
    ]:
        answer = answer_question(seed_index, question)
        assert answer.citations[0].note_id == source
        summary = seed_index.snapshot.note(source).text
        assert [c.note_id for c in answer.citations if c.quote in summary] == [source]


def test_asking_a_note_by_its_original_title_cites_it_first(seed_index):
    note = seed_index.snapshot.note(SCAFFOLDS)
    answer = answer_question(seed_index, note.aliases[0])
    assert cited_ids(answer)[0] == SCAFFOLDS


def test_mentions_of_notes_in_a_quote_are_its_links(seed_index):
    """Inline citations in prose (and titles in lists) come with each citation as links, offsets into
    the quote, and the answer's Markdown links them to their notes while the quote stays verbatim."""
    snapshot = seed_index.snapshot
    seen = 0
    for question in ["Does empathy training make AI systems less reliable when users are sad?",
                     "Which inquiring lines use the reasoning scaffolds note as a source?",
                     "What does the thinking scaffold parallel?"]:
        answer = answer_question(seed_index, question)
        for citation in answer.citations:
            note = snapshot.note(citation.note_id)
            inside = [s for s in note.link_spans if citation.start <= s.start and s.end <= citation.end]
            assert [(k.start + citation.start, k.end + citation.start, k.note_id) for k in citation.links] == [
                (s.start, s.end, s.note_id) for s in inside]
            for link in citation.links:
                target = snapshot.note(link.note_id)
                assert link.title == target.title and link.note_id != citation.note_id
                assert citation.quote[link.start:link.end] in [target.title, *target.aliases]
                assert f"]({note_url(link.note_id)})" in answer.answer
                seen += 1
    assert seen >= 2


def test_most_seed_questions_cite_their_note_first(seed_index):
    first = [cited_ids(answer_question(seed_index, q))[0] in ids for q, *ids in SEED_QUESTIONS]
    assert sum(first) >= 0.8 * len(first), [q for (q, *_), ok in zip(SEED_QUESTIONS, first) if not ok]


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_question_abstains(seed_index, question):
    answer = answer_question(seed_index, question)
    assert answer.abstained and answer.answer == NOT_ADDRESSED
    assert answer.citations == []
    assert 1 <= len(answer.suggestions) <= 3
    assert all(s.url == f"/notes/{s.note_id}" for s in answer.suggestions)


def test_asking_a_title_cites_that_note_first(seed_index):
    for note in seed_index.snapshot.notes:
        answer = answer_question(seed_index, note.title)
        assert answer.citations and answer.citations[0].note_id == note.id, (note.title, cited_ids(answer))


def test_answer_format(seed_index):
    answer = answer_question(seed_index, "Does empathy training make models less reliable?")
    lines = answer.answer.splitlines()
    assert re.fullmatch(r"(One note addresses|(Two|Three) notes address) this:", lines[0])
    numbers = sorted({c.n for c in answer.citations})
    assert numbers == list(range(1, len(numbers) + 1))
    for citation in answer.citations:
        note = seed_index.snapshot.note(citation.note_id)
        assert note.text[citation.start:citation.end] == citation.quote
        assert citation.url == passage_url(citation.note_id, citation.start, citation.end)
        assert citation.url == f"/notes/{citation.note_id}?hl={citation.start}-{citation.end}#hl"
        assert f"[[{citation.n}]]({citation.url})" in answer.answer
        assert len(citation.quote) <= 400 and citation.quote != note.title
    by_note = {}
    for citation in answer.citations:  # one number per note
        assert by_note.setdefault(citation.note_id, citation.n) == citation.n
    assert len(set(by_note.values())) == len(by_note)
    assert len(answer.related) <= 3
    assert not {r.note_id for r in answer.related} & set(by_note)
    assert all(line.startswith("> ") for line in lines if line.startswith(">"))


def test_quotes_never_hold_a_section_heading(seed_index):
    """Every section is quotable, but not its heading line or the page's navigation hints under it."""
    snapshot = seed_index.snapshot
    questions = [q for q, *_ in SEED_QUESTIONS[:8]] + [q for q, *_ in SECTION_QUESTIONS]
    for question in questions:
        for citation in answer_question(seed_index, question).citations:
            note = snapshot.note(citation.note_id)
            assert 0 <= citation.start < citation.end <= len(note.text)
            for section in note.sections:
                assert citation.end <= section.start or citation.start >= section.content, (question, citation.quote)


def test_filters_restrict_both_searches(seed_index):
    answer = answer_question(seed_index, "Does warmth training hurt reliability?", filters={"kinds": ["inquiry"]})
    kinds = {seed_index.snapshot.note(c.note_id).kind for c in answer.citations}
    assert kinds == {"inquiry"}
    only = "do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop"
    answer = answer_question(seed_index, "thinking models empathy", filters={"note_ids": [only]})
    assert cited_ids(answer) == [only]
    with pytest.raises(FilterError, match="kinds are"):
        answer_question(seed_index, "anything", filters={"kinds": ["essay"]})


def test_bad_questions_say_why(seed_index):
    with pytest.raises(QuestionError, match="empty"):
        answer_question(seed_index, "   ")
    with pytest.raises(QuestionError, match="limit"):
        answer_question(seed_index, "why " * 1000)


def test_timings_name_every_stage(seed_index):
    timings: dict[str, float] = {}
    answer_question(seed_index, "Does warmth training hurt reliability?", timings=timings)
    assert {"embed", "dense", "lexical", "search", "fusion", "quotes", "compose"} <= set(timings)
    assert timings["search"] == pytest.approx(timings["dense"] + timings["lexical"])
    assert all(value >= 0 for value in timings.values())


# --- follow-ups -------------------------------------------------------------------------------


def turn(index, question, history=None):
    answer = answer_question(index, question, history)
    return answer, (history or []) + [{"role": "user", "content": question},
                                      {"role": "assistant", "content": answer.answer}]


def test_follow_up_is_resolved_against_the_previous_turn(seed_index):
    _, history = turn(seed_index, "Does warmth training make language models less reliable?")
    follow_up = "and what about behaviour-level emotion rewards?"
    answer = answer_question(seed_index, follow_up, history)
    # Resolved: the evidence is about reliability under behavior-level rewards, the new aspect of the old topic.
    first = answer.citations[0].quote.lower()
    assert "warmth" in first and "behavior-level" in first, first
    alone = answer_question(seed_index, follow_up)
    assert "warmth" not in alone.citations[0].quote.lower()


def test_follow_up_about_the_other_side(seed_index):
    _, history = turn(seed_index, "What do thinking models improve at under empathy RL training?")
    answer = answer_question(seed_index, "and what about non-thinking models?", history)
    # the other side, in the first quote: what models without the thinking scaffold develop
    first = answer.citations[0].quote
    assert "Non-thinking models focus on action-oriented" in first or "models without them" in first, first
    assert "do-reasoning-scaffolds-reshape-which-empathy-skills-models-develop" in cited_ids(answer)


def test_follow_up_chain_keeps_the_topic(seed_index):
    _, history = turn(seed_index, "Do LLM therapists jump to problem-solving when users share emotions?")
    _, history = turn(seed_index, "why?", history)
    query, cited = expand_follow_up("and is RLHF to blame?", history)
    assert "therapists" in query and "RLHF" in query
    assert cited  # the notes the previous answer cited, read from its links


def test_follow_up_resolution_is_deterministic():
    history = [
        {"role": "user", "content": "Does warmth training hurt reliability?"},
        {"role": "assistant", "content": "> quote [[1]](/notes/does-warmth?hl=1-9#hl)"},
    ]
    first = expand_follow_up("and what about empathy?", history)
    assert first == expand_follow_up("and what about empathy?", history)
    assert first == ("and what about empathy? Does warmth training hurt reliability?", {"does-warmth"})


def test_gradio_style_content_parts_are_read():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Does RL squeeze exploration?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "[[1]](/notes/x%2Fy?hl=0-5#hl)"}]},
    ]
    assert expand_follow_up("why?", history) == ("why? Does RL squeeze exploration?", {"x/y"})


def test_new_question_is_not_a_follow_up():
    history = [{"role": "user", "content": "Does warmth training hurt reliability?"},
               {"role": "assistant", "content": "..."}]
    question = "Can AI systems learn social norms without embodied experience?"
    assert not is_follow_up(question)
    assert expand_follow_up(question, history) == (question, set())
    assert is_follow_up("and what about non-thinking models?") and is_follow_up("why?")
    assert is_follow_up("does it hold for them too?")


# --- properties ---------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st  # noqa: E402

_WORDS = ["warmth", "empathy", "reasoning", "RLHF", "therapists", "reward", "models", "thinking", "why",
          "does", "the", "of", "character", "reliability", "personas", "norms", "banana", "quantum", "?",
          # the words of the other sections: research prompt, anchor papers, related concepts, ...
          "arXiv", "id", "2507.03112", "what", "year", "2025", "anchor", "papers", "research prompt",
          "related concepts", "related papers", "inquiring lines", "original title", "sources", "Mirage"]
questions = st.one_of(
    st.text(min_size=1, max_size=200).filter(lambda s: s.strip()),
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=12).map(" ".join),
)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=questions)
def test_every_citation_is_verbatim_and_every_number_is_cited(seed_index, question):
    answer = answer_question(seed_index, question)
    snapshot = seed_index.snapshot
    for citation in answer.citations:
        note = snapshot.note(citation.note_id)
        assert note.text[citation.start:citation.end] == citation.quote
        assert 0 < len(citation.quote) <= 400
        assert not any(s.start < citation.end and citation.start < s.content for s in note.sections)
    quotes = [" ".join(c.quote.split()) for c in answer.citations]
    assert len(set(quotes)) == len(quotes)  # a summary listed on several pages is quoted once
    shown = {int(n) for n in re.findall(r"\[\[(\d+)\]\]\(/notes/", answer.answer)}
    assert shown == {c.n for c in answer.citations}
    if answer.abstained:
        assert answer.answer == NOT_ADDRESSED and not answer.citations


@pytest.mark.integration
def test_the_term_tables_give_what_tokenizing_the_text_gives(seed_index, tmp_path):
    """Questions score sentences and titles from term ids worked out when the snapshot was built;
    they must agree with tokenizing the text itself, also for a snapshot read back from its cache."""
    import numpy as np

    from bot.index.snapshot import _read_cache, _write_cache, note_names
    from bot.index.lexical import row_sums, tokenize
    from bot.query.quotes import sentence_terms
    from bot.query.passages import QueryTerms
    from bot.query.retrieval import title_match, title_matches

    _write_cache(seed_index.snapshot, tmp_path / "v1")
    for snapshot in (seed_index.snapshot, _read_cache(tmp_path / "v1")):
        rows = np.arange(len(snapshot.notes))
        for question in ["Does warmth training make models less reliable?", "What is RLVER?", "empathy"]:
            weights = snapshot.lexical.weights(list(dict.fromkeys(tokenize(question))))
            terms = QueryTerms.of(snapshot, weights)
            every = np.arange(len(snapshot.sentence_note))
            shares = row_sums(snapshot.sentence_term_ptr, snapshot.sentence_term_ids, every, terms.ids,
                              terms.id_weights) / terms.total
            expected = [sum(w for t, w in weights.items() if t in sentence_terms(
                snapshot.notes[snapshot.sentence_note[r]].text[snapshot.sentence_start[r]:snapshot.sentence_end[r]]))
                / terms.total for r in every]
            assert np.allclose(shares, expected) and max(expected) > 0
            titles = title_matches(snapshot, rows, question)
            assert np.allclose(titles, [max(title_match(set(tokenize(question)), name) for name in note_names(n))
                                        for n in snapshot.notes])
        own_title = snapshot.notes[0].title
        assert title_matches(snapshot, rows[:1], own_title)[0] == 1.0


# --- follow-ups add something (issue 11, item 5) ------------------------------------------------

WARMTH_QUESTION = "Does warmth training make language models less reliable?"


def quoted_spans(answer) -> set[tuple[str, int, int]]:
    return {(c.note_id, c.start, c.end) for c in answer.citations}


def test_why_is_that_repeats_no_quote_and_adds_the_reason(seed_index):
    first, history = turn(seed_index, WARMTH_QUESTION)
    answer = answer_question(seed_index, "why is that?", history)
    assert not answer.abstained and answer.citations
    shown = quoted_spans(first)
    for citation in answer.citations:  # not one passage of the first answer again, nor part of one
        assert not any(citation.note_id == note and citation.start < end and start < citation.end
                       for note, start, end in shown), citation.quote
    reason = "whether empathy is learned as a global character trait versus contextual behavioral responses"
    assert any(reason in c.quote for c in answer.citations), [c.quote for c in answer.citations]


def test_without_novelty_the_follow_up_repeated_itself(seed_index):
    """The behaviour issue 11 reported, kept reachable for the benchmark's before/after."""
    import dataclasses

    from bot.query.answer import respond
    from bot.query.params import DEFAULT_ANSWER_PARAMS

    first, history = turn(seed_index, WARMTH_QUESTION)
    old = dataclasses.replace(DEFAULT_ANSWER_PARAMS, follow_up_novelty=False)
    repeated = respond(seed_index, "why is that?", history, params=old).answer
    assert len(quoted_spans(repeated) & quoted_spans(first)) >= 2


def test_what_was_shown_is_read_from_the_history_alone(seed_index):
    first, history = turn(seed_index, WARMTH_QUESTION)
    conversation = read_conversation("why is that?", history)
    assert set(conversation.shown) == quoted_spans(first) == set(conversation.previous)
    assert conversation.cited_before >= {c.note_id for c in first.citations}
    # the same history as a client would send it (Gradio-style parts) gives the same answer
    parts = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]} for m in history]
    assert answer_question(seed_index, "why is that?", parts) == answer_question(seed_index, "why is that?", history)


def test_a_follow_up_with_nothing_new_says_so_and_points_back(seed_index):
    """When every passage that answers has been shown, one line says so and links them."""
    from bot.query.compose import NOTHING_NEW

    question = "What happens to empathetic agents trained in maximally challenging environments?"
    first, history = turn(seed_index, question)
    answer = answer_question(seed_index, "why is that?", history)
    if answer.citations:  # something new passed the bar: then it must really be new
        assert not quoted_spans(answer) & quoted_spans(first)
        pytest.skip("the notes held something new for this follow-up")
    assert not answer.abstained and answer.answer.startswith(NOTHING_NEW)
    assert len(answer.answer.splitlines()) == 1
    assert {s.url for s in answer.suggestions} <= {c.url for c in first.citations}
    assert all(f"]({s.url})" in answer.answer for s in answer.suggestions) and answer.suggestions
    # and a follow-up of that still knows what was shown
    _, history = turn(seed_index, "why is that?", history)
    assert set(read_conversation("and what else?", history).shown) == quoted_spans(first)


def test_a_new_question_in_a_conversation_is_answered_as_a_first_one(seed_index):
    _, history = turn(seed_index, WARMTH_QUESTION)
    question = "Can AI systems learn social norms without embodied experience?"
    assert answer_question(seed_index, question, history) == answer_question(seed_index, question)


def test_shown_passages_are_parsed_from_answer_links():
    markdown = ("> a [[1]](/notes/warmth?hl=0-240#hl)\n\n> b [[2]](/bot/notes/x%2Fy?hl=10-20#hl)\n\n"
                "**Sources:** [1] [Warmth](/notes/warmth) · [2] [X](/notes/x%2Fy)")
    assert shown_passages(markdown) == [("warmth", 0, 240), ("x/y", 10, 20)]
    assert shown_passages("[[1]](/notes/a?hl=9-3#hl) [[2]](/notes/b?hl=x-1#hl)") == []


# --- following citations to their sources (issue 11, item 4) ------------------------------------


def test_an_inquiry_quote_brings_the_source_it_cites_beside_it(seed_index):
    """Where a quoted inquiry passage cites a note inline and that note answers the question on its
    own words, the answer quotes that note too, first or right beside the inquiry."""
    snapshot = seed_index.snapshot
    checked = 0
    for question in ["Why do counselling bots trained on human approval push fixes instead of just being there?",
                     "Does teaching a bot to be more compassionate make it worse at getting health questions right?",
                     WARMTH_QUESTION, "What signal does RLVER use as its reward?",
                     "Why do LLM therapists jump to problem-solving when someone shares emotion?"]:
        answer = answer_question(seed_index, question)
        numbers = {}
        for c in answer.citations:
            numbers.setdefault(c.note_id, c.n)
        for c in answer.citations:
            note = snapshot.note(c.note_id)
            named = named_in(note, c.start, c.end)
            if note.kind != "inquiry" or not named:
                continue
            placed = [numbers[t] for t in named if t in numbers]
            supported = [t for t in named if source_supports(seed_index, question, t)]
            if supported:  # a cited note that answers on its own words is quoted, first or beside
                checked += 1
                assert any(p == 1 or abs(p - c.n) == 1 for p in placed), (question, c.note_id, named, numbers)
    assert checked >= 3


def source_supports(index, question, note_id) -> bool:
    """Does the note answer the question on its own words (evidence at the abstention bar)?"""
    from bot.query.answer import ABSTAIN_BELOW, respond

    evidence = respond(index, question, filters={"note_ids": [note_id]}).evidence
    return bool(evidence) and evidence[0].score >= ABSTAIN_BELOW


def test_following_sources_adds_the_primary_evidence(seed_index):
    import dataclasses

    from bot.query.answer import respond
    from bot.query.params import DEFAULT_ANSWER_PARAMS

    question = "What does RL do to exploration, according to the inquiry on pretrained priors and exploration ceilings?"
    old = respond(seed_index, question, params=dataclasses.replace(DEFAULT_ANSWER_PARAMS, follow_sources=False)).answer
    new = answer_question(seed_index, question)
    source = "does-reinforcement-learning-squeeze-exploration-diversity-in-search-agents"
    assert cited_ids(new)[:2] == ["can-pretrained-priors-set-exploration-ceilings-for-empathetic-capability", source]
    assert all(c.quote == seed_index.snapshot.note(c.note_id).text[c.start:c.end] for c in new.citations)
    assert len(cited_ids(new)) >= len(cited_ids(old))


def test_followups_doctests():
    import doctest

    import bot.query.followups

    assert doctest.testmod(bot.query.followups).failed == 0


AMBIVALENCE = "Are bots any good at noticing when someone is torn about quitting a habit?"


def test_a_question_close_to_a_note_but_no_passage_says_so_and_points_at_it(seed_index):
    # A paraphrase under the passage bar whose note as a whole is close: no passage is presented
    # as the answer; the lead line says so, and the closest note's nearest passage is quoted verbatim.
    answer = answer_question(seed_index, AMBIVALENCE)
    assert not answer.abstained and answer.answer.startswith(TOPIC_ONLY)
    assert answer.citations[0].note_id == "why-can-t-chatbots-detect-when-users-are-ambivalent-about-change"
    for citation in answer.citations:
        note = seed_index.snapshot.note(citation.note_id)
        assert note.text[citation.start:citation.end] == citation.quote
        assert f"[[{citation.n}]]({citation.url})" in answer.answer


def test_the_topic_bar_is_a_setting(seed_index):
    strict = seed_index.settings.model_copy(update={"topic_at_least": 0.99})
    original = seed_index.settings
    seed_index.settings = strict
    try:
        answer = answer_question(seed_index, AMBIVALENCE)
    finally:
        seed_index.settings = original
    assert answer.abstained and answer.answer == NOT_ADDRESSED
