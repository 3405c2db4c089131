"""Markdown that shows a note's text as written: escaped, so nothing in a note becomes markup (pure).

    >>> print(md_escape("a *b* <i>"))
    a \\*b\\* &lt;i&gt;
"""

from __future__ import annotations

import re

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def md_escape(text: str) -> str:
    """Text that renders literally in Markdown: no emphasis, links or HTML from a note."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"(?m)^(\s*)([-+*]|\d+[.)])(\s)", lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


def blockquote(text: str) -> str:
    lines = [line.strip() for line in md_escape(text).splitlines() if line.strip()]
    return "\n".join(f"> {line}" for line in lines)
