"""The package graph holds: import-linter's contracts (pyproject.toml), no import cycles, small modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE_LINES = 400


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), counting imports inside functions."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0

    def visit(module: str) -> None:  # iterative enough for a package of ~100 modules
        nonlocal counter
        index[module] = low[module] = counter
        counter += 1
        stack.append(module)
        on_stack.add(module)
        for target in graph.find_modules_directly_imported_by(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_import_linter_contracts_are_kept():
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_import_cycles_counting_function_level_imports():
    graph = grimp.build_graph("bot", exclude_type_checking_imports=True)
    assert len(graph.modules) > 40  # the whole package was read
    assert import_cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    class Graph:
        modules = {"a", "b", "c"}
        edges = {"a": {"b"}, "b": {"a"}, "c": {"a"}}

        def find_modules_directly_imported_by(self, module):
            return self.edges[module]

    assert import_cycles(Graph()) == [["a", "b"]]


def test_modules_are_small_unless_they_say_why():
    too_long = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES and "must be one piece" not in text:
            too_long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert too_long == []


def test_every_package_says_what_it_owns_and_may_import():
    for init in sorted((ROOT / "bot").rglob("__init__.py")):
        package = init.parent
        if package.name in ("formats",) or package == ROOT / "bot":
            continue
        doc = init.read_text(encoding="utf-8")
        assert "May import" in doc or "may import" in doc, f"{init.relative_to(ROOT)} doesn't say what it may import"
