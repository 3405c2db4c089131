"""The one exception hierarchy: the table in its docstring is what the code does, so the CLI's exit
codes and the API's statuses can be read off it."""

from __future__ import annotations

import doctest
import inspect
import re

import bot.errors as errors
from bot.errors import BotError, IndexMissing, LLMError

ROW = re.compile(r"^\s+[│├└─ ]*(\w+)(?:\s+exit (\d)\s+HTTP (\d{3}))?\s{2,}\S")


def documented() -> dict[str, tuple[str | None, int | None, int | None]]:
    """Each class in the docstring's tree: (its parent in the tree, exit code, HTTP status)."""
    rows, parents = {}, {}
    for line in errors.__doc__.splitlines():
        match = ROW.match(line)
        if not match or not hasattr(errors, match.group(1)):
            continue
        depth = (len(line) - len(line.lstrip(" │├└─"))) // 4
        parents[depth] = match.group(1)
        parent = parents.get(depth - 1) if depth else None
        code = int(match.group(2)) if match.group(2) else None
        status = int(match.group(3)) if match.group(3) else None
        rows[match.group(1)] = (parent, code, status)
    return rows


def test_every_error_is_in_the_table_under_its_parent_with_its_codes():
    table = documented()
    classes = {name: cls for name, cls in inspect.getmembers(errors, inspect.isclass)
               if issubclass(cls, BotError) and cls.__module__ == errors.__name__}
    assert set(table) == set(classes)
    for name, (parent, code, status) in table.items():
        cls = classes[name]
        if parent is not None:
            assert issubclass(cls, classes[parent]), name
        inherited = next(table[p.__name__] for p in cls.__mro__ if p.__name__ in table and table[p.__name__][1])
        assert cls.exit_code == (code or inherited[1]), name
        assert cls.http_status == (status or inherited[2]), name


def test_input_errors_exit_2_and_everything_else_1():
    assert {cls.__name__ for cls in vars(errors).values() if isinstance(cls, type)
            and issubclass(cls, BotError) and cls.exit_code == 2} == {
        "InputError", "QuestionError", "FilterError", "SettingsError", "AccountsError", "BeirError", "PathNotFound"}


def test_the_errors_that_need_arguments_say_what_to_do():
    missing = IndexMissing("notes-abc", "/data/chroma")
    assert "notes-abc" in str(missing) and "/data/chroma" in str(missing) and "bot ingest" in str(missing)
    error = LLMError("timeout", "the LLM did not answer within 30 s")
    assert error.kind == "timeout" and str(error) == "the LLM did not answer within 30 s"


def test_doctests():
    result = doctest.testmod(errors)
    assert result.failed == 0 and result.attempted > 0
