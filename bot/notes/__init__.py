"""Stage 1, notes: files in, `Note`s and their sentences and chunks out.

Owns: the note formats (`formats/`, one module per format behind a registry: where to add
one), reading files from disk (`files`, the stage's only I/O), ids, content hashes and source
notes (`collection`), links between notes (`links`), sentence spans (`sentences`) and chunks
that fit the model's window (`chunks`). Everything but `files` is pure.

May import: the shared leaves (`bot.settings`, `bot.models`, `bot.errors`) and PyYAML.
Nothing here knows about vectors, stores, questions or the web.

    files ──files.read_notes──▶ ParsedFile ──collection.build_notes──▶ Note ──links.resolve_links──▶ Note
    Note ──chunks.segment_note──▶ sentences + chunks (offsets into Note.text)
"""
