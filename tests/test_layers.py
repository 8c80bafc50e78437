"""The library's import graph: no cycles, and no import pointing up the layer table.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``
anywhere in a module, inside functions too. Two kinds of reference count for the layers but
not for cycles, because neither runs an import when the module does: imports under
``if TYPE_CHECKING:`` (annotations only), and string literals naming an fmood module
(``importlib.import_module("fmood.x")``, lazy-import tables; deferring an import by name is
how a registry reaches the modules that register into it).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import fmood

PACKAGE_DIR = Path(fmood.__file__).parent
FACADE = "fmood"  # fmood/__init__.py may import anything; nothing else may import it

#: Bottom -> top. A module may import from its own layer or lower ones. A module belongs to
#: the longest prefix below that names it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (  # 0: base
        "fmood.errors",
        "fmood._version",
        "fmood._validation",
        "fmood._extras",
        "fmood.sanitize",
        "fmood.progress",
        "fmood.utils",
    ),
    ("fmood.io", "fmood.metrics", "fmood.registry"),  # 1
    ("fmood.store", "fmood.backbones"),  # 2
    ("fmood.scorers", "fmood.distances", "fmood.datasets"),  # 3
    ("fmood.calibration",),  # 4
    ("fmood.embed",),  # 5
    ("fmood.report", "fmood.workflows"),  # 6
    ("fmood.cli",),  # 7
)
TOP = len(LAYERS) - 1

#: Being moved out of the library (issue 13): until then they may import anything, and only
#: the CLI (the top layer) and each other may import them, so that moving them breaks
#: nothing below. Delete an entry when its module moves.
PENDING_MOVE = frozenset(
    {
        "fmood.evaluation",
        "fmood.demo",
        "fmood.datasets.medical",
    }
)

#: Known imports that break a rule, each with why it is tolerated and until when.
ALLOWED = {
    # fmood.datasets re-exports make_medical_ood_dataset and friends; goes with the move.
    ("fmood.datasets", "fmood.datasets.medical"),
    # Deprecated alias: fmood.backbones.precomputed.embed_precomputed forwards, by name and
    # with a DeprecationWarning, to fmood.embed.embed_precomputed. Delete with the alias.
    ("fmood.backbones.precomputed", "fmood.embed.precomputed"),
}

#: Modules whose own rule breaks are expected for now (see test_workflows_layers).
IN_FLUX = "fmood.workflows"

_MODULE_NAME = re.compile(r"fmood(\.\w+)+(:\w+)?")


@dataclass(frozen=True)
class Import:
    """One reference from ``source`` to ``target``, at ``file:line``."""

    source: str
    target: str
    file: str
    line: int
    by_name: bool  # a string naming the module, not an import statement
    type_only: bool = False  # under ``if TYPE_CHECKING:``

    @property
    def runs(self) -> bool:
        """Whether importing ``source`` may import ``target`` (what a cycle is made of)."""
        return not (self.by_name or self.type_only)

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def verb(self) -> str:
        if self.by_name:
            return "names"
        return "imports (for type checking)" if self.type_only else "imports"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file, for every module under ``root`` (the directory of ``package``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` if it is a module, else its longest prefix that is (``pkg.Class`` -> ``pkg``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(root: Path, package: str) -> list[Import]:
    """Every reference between the modules of ``package``, in file and line order."""
    modules = module_names(root, package)
    found = []
    for source, path in modules.items():
        shown = f"{package}/{path.relative_to(root)}"
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        type_only = {
            id(inner)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and _is_type_checking(block.test)
            for statement in block.body
            for inner in ast.walk(statement)
        }
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom, ast.Constant)):
                continue
            targets: list[str] = []
            by_name = False
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = source.split(".") if is_package else source.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join(here + ([base] if base else []))
                # ``from pkg import sub`` imports the submodule pkg.sub
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _MODULE_NAME.fullmatch(node.value)
            ):
                targets, by_name = [node.value.partition(":")[0]], True
            for target in targets:
                if target != package and not target.startswith(package + "."):
                    continue
                # A string counts only when it names a module exactly, so prose never does;
                # a tag like "fmood.report" (the report's format) reads as its own package.
                resolved = target if by_name else _known(target, modules)
                if resolved is None or resolved not in modules or resolved == source:
                    continue
                found.append(
                    Import(source, resolved, shown, node.lineno, by_name, id(node) in type_only)
                )
    # set: ``from m import a, b`` names m twice on one line
    return sorted(set(found), key=lambda i: (i.file, i.line, i.target))


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Attribute):
        return test.attr == "TYPE_CHECKING"
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"


def layer_of(module: str) -> int | None:
    """Index in :data:`LAYERS` of the longest prefix naming ``module``; None if none does."""
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def pending(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PENDING_MOVE)


def layer_violations(imports: list[Import]) -> list[str]:
    """One line per reference that breaks the layer rules, naming file:line and both layers."""
    out = []
    for imp in imports:
        src, dst = imp.source, imp.target
        if src == FACADE or pending(src) or (src, dst) in ALLOWED:
            continue
        how = imp.verb
        if dst == FACADE:
            out.append(
                f"{imp.where()}: {src} {how} the top-level package {FACADE} "
                "(only its facade __init__ may be imported from outside; import the module "
                "that defines the name, e.g. fmood._version)"
            )
            continue
        src_layer = layer_of(src)
        if pending(dst):
            if src_layer != TOP:
                out.append(
                    f"{imp.where()}: {src} (layer {src_layer}) {how} {dst}, which is leaving "
                    "the library (PENDING_MOVE); only the CLI and other leaving modules may"
                )
            continue
        dst_layer = layer_of(dst)
        if src_layer is None or dst_layer is None:
            continue  # reported by test_every_module_has_a_layer
        if dst_layer > src_layer:
            out.append(
                f"{imp.where()}: {src} (layer {src_layer}) {how} {dst} (layer {dst_layer}), "
                "an upward import"
            )
    return out


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """Strongly connected groups of more than one module (imports that run only), each
    sorted, found by Tarjan's algorithm."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if imp.runs:
            graph.setdefault(imp.source, set()).add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def describe_cycle(group: list[str], imports: list[Import]) -> str:
    members = set(group)
    edges = [
        f"    {i.where()}: {i.source} -> {i.target}"
        for i in imports
        if i.runs and i.source in members and i.target in members
    ]
    return "cycle among " + ", ".join(group) + ":\n" + "\n".join(edges)


IMPORTS = imports_of(PACKAGE_DIR, "fmood")


def _in_flux(module: str) -> bool:
    return module == IN_FLUX or module.startswith(f"{IN_FLUX}.")


def test_every_module_has_a_layer():
    modules = module_names(PACKAGE_DIR, "fmood")
    homeless = sorted(m for m in modules if m != FACADE and not pending(m) and layer_of(m) is None)
    assert not homeless, f"modules in no layer of tests/test_layers.py LAYERS: {homeless}"


def test_no_import_cycle():
    cycles = [c for c in import_cycles(IMPORTS) if not all(_in_flux(m) for m in c)]
    assert not cycles, "\n".join(describe_cycle(c, IMPORTS) for c in cycles)


def test_no_import_points_up_the_layers():
    bad = layer_violations([i for i in IMPORTS if not _in_flux(i.source)])
    assert not bad, "imports against the layer order (bottom -> top):\n" + "\n".join(bad)


def test_every_allowed_exception_is_still_needed():
    # so that an entry is deleted once the import it excuses is gone
    present = {(i.source, i.target) for i in IMPORTS}
    assert present >= ALLOWED, f"stale ALLOWED entries: {sorted(ALLOWED - present)}"


@pytest.mark.xfail(
    strict=True,
    reason="issue 13 item 5: fmood/workflows is being reworked by another change and still "
    "breaks a rule (fmood.workflows.comparison.measures imports fmood.evaluation.probe, "
    "which is leaving the library); delete this mark when this test passes",
)
def test_workflows_layers():
    workflows = [i for i in IMPORTS if _in_flux(i.source)]
    cycles = [c for c in import_cycles(IMPORTS) if all(_in_flux(m) for m in c)]
    bad = layer_violations(workflows) + [describe_cycle(c, IMPORTS) for c in cycles]
    assert not bad, "\n".join(bad)


def test_the_checks_find_an_upward_import_a_cycle_and_a_lazy_name(tmp_path):
    # A miniature fmood: the checks must name file:line, both modules and both layers.
    root = tmp_path / "fmood"
    for name, text in {
        "__init__.py": "from fmood.cli import main\n",
        "errors.py": "",
        "store/__init__.py": "",
        "store/a.py": "def f():\n    from fmood.embed.b import g\n",
        "embed/__init__.py": "",
        "embed/b.py": "from fmood.store import a\n",
        "io/__init__.py": "X = 'fmood.cli.main'\n",
        "utils/__init__.py": "import fmood\n",
        "cli/__init__.py": "",
        "cli/main.py": "from fmood.demo import run\n",
        "demo.py": "from fmood.cli.main import x\n",
        "metrics/__init__.py": "from fmood.demo import run\n",
        "metrics/x.py": "import typing\nif typing.TYPE_CHECKING:\n    from fmood.metrics.y import Y\n",
        "metrics/y.py": "from typing import TYPE_CHECKING\nfrom fmood.metrics.x import X\n"
        "if TYPE_CHECKING:\n    from fmood.store.a import f\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    imports = imports_of(root, "fmood")
    bad = layer_violations(imports)
    assert bad == [
        "fmood/io/__init__.py:1: fmood.io (layer 1) names fmood.cli.main (layer 7), "
        "an upward import",
        "fmood/metrics/__init__.py:1: fmood.metrics (layer 1) imports fmood.demo, which is "
        "leaving the library (PENDING_MOVE); only the CLI and other leaving modules may",
        "fmood/metrics/y.py:4: fmood.metrics.y (layer 1) imports (for type checking) "
        "fmood.store.a (layer 2), an upward import",
        "fmood/store/a.py:2: fmood.store.a (layer 2) imports fmood.embed.b (layer 5), "
        "an upward import",
        "fmood/utils/__init__.py:1: fmood.utils imports the top-level package fmood (only its "
        "facade __init__ may be imported from outside; import the module that defines the "
        "name, e.g. fmood._version)",
    ]
    cycles = import_cycles(imports)  # not metrics.x <-> metrics.y: x imports y to annotate only
    assert sorted(cycles) == [["fmood.cli.main", "fmood.demo"], ["fmood.embed.b", "fmood.store.a"]]
    text = describe_cycle(["fmood.embed.b", "fmood.store.a"], imports)
    assert "fmood/store/a.py:2: fmood.store.a -> fmood.embed.b" in text
    assert "fmood/embed/b.py:1: fmood.embed.b -> fmood.store.a" in text
