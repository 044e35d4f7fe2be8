"""No import cycle between the parts of ``pipeline`` at module level.

The parts are its subpackages (``pipeline.fetch``, ``pipeline.discover``, …) and its top-level
modules (``pipeline.urls``, ``pipeline.warc``, …). An import at module level is one that runs when
the module is imported: imports inside functions and under ``if TYPE_CHECKING:`` are left out,
because neither can make importing one part half-initialise another. The imports are read from
the source with ``ast``, so the test sees what the files say, not what happens to be loaded.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


@dataclass(frozen=True)
class Edge:
    source: str  # the importing part
    target: str  # the imported part
    where: str  # file:line of one such import, for the failure message


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str | None:
    """``pipeline.fetch.warc`` → ``pipeline.fetch``; ``pipeline.urls`` → itself; None outside pipeline."""
    names = module.split(".")
    if names[0] != "pipeline":
        return None
    return ".".join(names[:2])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run on import: the module body and its if/try/with/class blocks, not function bodies."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.ClassDef):
            pending.extend(node.body)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            pending.extend([*node.body, *node.orelse, *node.finalbody, *(s for h in node.handlers for s in h.body)])
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            pending.extend([*node.body, *node.orelse] if not isinstance(node, (ast.With, ast.AsyncWith))
                           else node.body)


def _exists(module: str) -> bool:
    relative = Path(*module.split(".")[1:])
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def imported_modules(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolved against the importing module's package
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join(base + ([node.module] if node.module else []))
    else:
        module = node.module or ""
    # `from pipeline import fetch` imports the subpackage itself, not only pipeline/__init__.py.
    submodules = [f"{module}.{alias.name}" for alias in node.names if _exists(f"{module}.{alias.name}")]
    return submodules or [module]


def import_edges() -> list[Edge]:
    edges: list[Edge] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        source = part_of(importer)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in module_level_imports(tree):
            for module in imported_modules(node, importer, path.name == "__init__.py"):
                target = part_of(module)
                if source and target and target != source and target != "pipeline":
                    edges.append(Edge(source, target, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"))
    return edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_ignores_a_chain() -> None:
    chain = [Edge("a", "b", ""), Edge("b", "c", "")]
    assert cycles(chain) == []
    assert cycles([*chain, Edge("c", "a", ""), Edge("c", "d", "")]) == [["a", "b", "c"]]


def test_imports_inside_functions_and_under_type_checking_are_not_module_level() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import pipeline.urls\n"
        "if TYPE_CHECKING:\n    import pipeline.fetch\n"
        "def later():\n    import pipeline.discover\n"
        "try:\n    import pipeline.warc\nexcept ImportError:\n    pass\n"
    )
    names = [a.name for node in module_level_imports(tree) if isinstance(node, ast.Import) for a in node.names]
    assert sorted(names) == ["pipeline.urls", "pipeline.warc"]


def test_the_graph_is_read_from_the_real_package() -> None:
    edges = import_edges()
    # pipeline.fetch.run imports discovery at module level: fetch runs what discovery finds.
    assert any(e.source == "pipeline.fetch" and e.target == "pipeline.discover" for e in edges)


def test_discovery_never_imports_the_fetcher_not_even_inside_a_function() -> None:
    """Discovery reads WARC archives with pipeline.warc; fetch runs what discovery finds, not the reverse."""
    found = []
    for path in sorted((PACKAGE / "discover").rglob("*.py")):
        importer = module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = imported_modules(node, importer, path.name == "__init__.py")
                found += [f"{path.name}:{node.lineno} {m}" for m in modules if part_of(m) == "pipeline.fetch"]
    assert found == []


def test_no_import_cycle_between_pipeline_parts_at_module_level() -> None:
    edges = import_edges()
    found = cycles(edges)
    if found:
        lines = []
        for component in found:
            members = set(component)
            lines.append(" <-> ".join(component))
            lines += [f"    {e.source} -> {e.target}  ({e.where})"
                      for e in edges if e.source in members and e.target in members]
        raise AssertionError("import cycles at module level:\n" + "\n".join(lines))
