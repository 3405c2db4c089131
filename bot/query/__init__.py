"""Stage 3, query: the read path, from a question to an answer made of the notes' own words.

Owns: hybrid retrieval (`retrieval`), quote picking (`quotes`) and the one passage path
every caller uses (`passages`), what a question asks for (`asks`: an arXiv id, a year, a named
section of a page), the mentions of other notes inside a quote (`mentions`), evidence scoring and
re-ranking (`evidence`), following a quoted passage's inline citations to the notes it cites
(`sources`), composing the Markdown answer and abstaining (`compose`), follow-ups and what a
conversation has shown (`followups`), the whole path for one
question (`answer`), search without an answer (`search`), and the read-only facade over a
snapshot for note pages and the API (`library`).

May import: `bot.index` (read side: snapshot, served, lexical, store's search breadth),
`bot.notes`, and the shared leaves. Never `bot.index.ingest`: the read path never builds.
"""
