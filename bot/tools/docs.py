"""Documentation generated from the code, so the README can't drift from it."""

from __future__ import annotations

from ..settings import Settings


def settings_table() -> str:
    """The README's configuration table: one row per setting."""
    rows = ["| Variable | Default | What it does |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = {
                "data_dir": "`~/.local/share/notes-bot`",
                "model_cache_dir": "`~/.cache/notes-bot`",
                "embedding_model": "the bundled all-MiniLM-L6-v2",
            }.get(name, "computed")
        else:
            default = f"`{field.default}`" if field.default not in (None, "") else "unset"
        rows.append(f"| `BOT_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows)
