"""Optional answer synthesis: an LLM writes the answer, the bot checks every sentence.

    answer (extractive) ──passages.cited_passages──▶ passages numbered as its citations
    question, turns, passages ──prompt.build_messages──▶ messages
    messages ──client.LLMClient.stream_batches──▶ text       (any OpenAI-compatible API)
    text ──verify.Verifier──▶ sentences kept | dropped (with reasons)
    synthesize.Synthesizer.run: all of it, a step a checked sentence, and the fallback

This package owns the HTTP client for `{BOT_LLM_URL}/chat/completions` (client.py), the passages and
the chat messages the LLM is sent (passages.py, prompt.py), what its sentences claim (claims.py), the
words the check weighs (lexicon.py: content terms, negations, antonyms, names), what a sentence is
compared with (segments.py), the check itself (verify.py) and one synthesized answer with its
fallback to the quotes (synthesize.py). The service (`bot.service.Bot`) builds a Synthesizer from the
settings and is the only way in: bot.web, bot.cli and bot.tools may not import this package
(import-linter holds it).

What it may import: the query layer and everything below it (the snapshot for passages, the
index's tokenizer, the notes' sentence splitter, settings, models, errors), numpy and httpx.
"""
