"""The library's import graph: no cycles, and no import pointing up the layer table.

The graph is read from the source with ``ast``: every ``import`` and ``from ... import``
anywhere in a module, inside functions too. Two kinds of reference count for the layers but
not for cycles, because neither runs an import when the module does: imports under
``if TYPE_CHECKING:`` (annotations only), and string literals naming an fmood module
(``importlib.import_module("fmood.x")``, lazy-import tables; deferring an import by name is
how a registry reaches the modules that register into it).

The benchmark and demo package ``fmood_bench`` ships beside the library and is no part of it:
the library never imports it, except the ``fmood demo`` command and the deprecated aliases
that old paths still reach it by (issue 13).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import fmood
import fmood_bench

PACKAGE_DIR = Path(fmood.__file__).parent
REPO = Path(__file__).resolve().parents[1]
BENCH = "fmood_bench"
BENCH_DIR = Path(fmood_bench.__file__).parent
FACADE = "fmood"  # fmood/__init__.py may import anything; nothing else may import it

#: Bottom -> top. A module may import from its own layer or lower ones. A module belongs to
#: the longest prefix below that names it.
LAYERS: tuple[tuple[str, ...], ...] = (
    (  # 0: base
        "fmood.errors",
        "fmood._version",
        "fmood._validation",
        "fmood._extras",
        "fmood._deprecation",
        "fmood._lazy",
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

#: Old paths of what moved out of the library (issue 13), kept as deprecated aliases that
#: forward each name to its new home with a DeprecationWarning. They are in no layer and may
#: import fmood_bench; nothing else in the library may import them. Delete with the aliases.
DEPRECATED_ALIASES = frozenset(
    {
        "fmood.demo",
        "fmood.evaluation",
        "fmood.evaluation.baselines",
        "fmood.evaluation.methods",
        "fmood.evaluation.probe",
        "fmood.evaluation.tables",
        "fmood.datasets.medical",
        "fmood.datasets.medical.artifacts",
        "fmood.datasets.medical.builder",
        "fmood.datasets.medical.labels",
        "fmood.datasets.medical.shifts",
        "fmood.datasets.medical.sources",
        "fmood.workflows.compare_measures",
        "fmood.workflows.compare_output",
    }
)

#: The library modules besides the aliases that may import fmood_bench, each with why.
BENCH_IMPORTERS = {
    "fmood.cli.demo": "the demo command runs fmood_bench.demo, imported inside the command",
    "fmood.datasets": "make_medical_ood_dataset & co. forward there (deprecated, lazily)",
}

#: Names that fmood.datasets forwards, deprecated, to fmood_bench.datasets.medical.
DEPRECATED_NAMES = frozenset(
    [
        *(
            f"fmood.datasets.{name}"
            for name in ("GROUPS", "MedicalOODDataset", "make_medical_ood_dataset")
        ),
        "fmood.embed.writer.open_store",
        "fmood.backbones.precomputed.embed_precomputed",
    ]
)

#: What only the benchmark and the demo need (the bench and demo extras): no library module
#: may load it.
BENCH_ONLY = ("pytorch_ood", "torchio", "nilearn", "skimage")

#: Known imports that break a rule, each with why it is tolerated and until when.
ALLOWED = {
    # Deprecated alias: fmood.backbones.precomputed.embed_precomputed forwards, by name and
    # with a DeprecationWarning, to fmood.embed.embed_precomputed. Delete with the alias.
    ("fmood.backbones.precomputed", "fmood.embed.precomputed"),
}

#: Modules whose own rule breaks are expected for now (see test_workflows_layers).
IN_FLUX = "fmood.workflows"

_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.\w+)+(:\w+)?")


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


def imports_of(root: Path, package: str, others: Mapping[str, Path] | None = None) -> list[Import]:
    """Every reference from a module of ``package`` to a module of ``package`` or of the
    packages in ``others`` (name -> directory), in file and line order."""
    sources = module_names(root, package)
    modules = dict(sources)
    for name, directory in (others or {}).items():
        modules.update(module_names(directory, name))
    packages = (package, *(others or {}))
    found = []
    for source, path in sources.items():
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
                if not any(target == p or target.startswith(p + ".") for p in packages):
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


def in_bench(module: str) -> bool:
    return module == BENCH or module.startswith(BENCH + ".")


def layer_violations(imports: list[Import]) -> list[str]:
    """One line per reference that breaks the layer rules, naming file:line and both layers."""
    out = []
    for imp in imports:
        src, dst = imp.source, imp.target
        if src in DEPRECATED_ALIASES or (src, dst) in ALLOWED:
            continue
        how, src_layer = imp.verb, layer_of(src)
        named = src if src == FACADE else f"{src} (layer {src_layer})"
        if dst in DEPRECATED_ALIASES:
            out.append(
                f"{imp.where()}: {named} {how} {dst}, a deprecated alias (DEPRECATED_ALIASES); "
                "import the name from its new home"
            )
            continue
        if in_bench(dst) and src not in BENCH_IMPORTERS:
            out.append(
                f"{imp.where()}: {named} {how} {dst}, which is no part of the library; only "
                "the deprecated aliases and BENCH_IMPORTERS may import fmood_bench"
            )
            continue
        if src == FACADE:
            continue
        if dst == FACADE:
            out.append(
                f"{imp.where()}: {src} {how} the top-level package {FACADE} "
                "(only its facade __init__ may be imported from outside; import the module "
                "that defines the name, e.g. fmood._version)"
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


IMPORTS = imports_of(PACKAGE_DIR, "fmood", {BENCH: BENCH_DIR})


def _in_flux(module: str) -> bool:
    return module == IN_FLUX or module.startswith(f"{IN_FLUX}.")


def test_every_module_has_a_layer():
    modules = module_names(PACKAGE_DIR, "fmood")
    homeless = sorted(
        m for m in modules if m != FACADE and m not in DEPRECATED_ALIASES and layer_of(m) is None
    )
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
    importers = {i.source for i in IMPORTS if in_bench(i.target)}
    stale = sorted(BENCH_IMPORTERS.keys() - importers)
    assert not stale, f"stale BENCH_IMPORTERS entries: {stale}"
    gone = sorted(DEPRECATED_ALIASES - module_names(PACKAGE_DIR, "fmood").keys())
    assert not gone, f"DEPRECATED_ALIASES that are no module any more: {gone}"


def test_workflows_layers():
    workflows = [i for i in IMPORTS if _in_flux(i.source)]
    cycles = [c for c in import_cycles(IMPORTS) if all(_in_flux(m) for m in c)]
    bad = layer_violations(workflows) + [describe_cycle(c, IMPORTS) for c in cycles]
    assert not bad, "\n".join(bad)


def test_the_checks_find_an_upward_import_a_cycle_a_lazy_name_and_fmood_bench(tmp_path):
    # A miniature fmood (fmood.demo is one of DEPRECATED_ALIASES, fmood.cli.demo one of
    # BENCH_IMPORTERS): the checks must name file:line, both modules and both layers.
    root = tmp_path / "fmood"
    for name, text in {
        "../fmood_bench/__init__.py": "",
        "../fmood_bench/demo.py": "from fmood.metrics import auroc\n",
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
        "cli/demo.py": "def run():\n    from fmood_bench.demo import run_demo\n",
        "demo.py": "from fmood.cli.main import x\nfrom fmood_bench.demo import run_demo\n",
        "metrics/__init__.py": "from fmood_bench.demo import run_demo\n",
        "metrics/x.py": "import typing\nif typing.TYPE_CHECKING:\n    from fmood.metrics.y import Y\n",
        "metrics/y.py": "from typing import TYPE_CHECKING\nfrom fmood.metrics.x import X\n"
        "if TYPE_CHECKING:\n    from fmood.store.a import f\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    imports = imports_of(root, "fmood", {BENCH: tmp_path / BENCH})
    bad = layer_violations(imports)
    assert bad == [
        "fmood/cli/main.py:1: fmood.cli.main (layer 7) imports fmood.demo, a deprecated alias "
        "(DEPRECATED_ALIASES); import the name from its new home",
        "fmood/io/__init__.py:1: fmood.io (layer 1) names fmood.cli.main (layer 7), "
        "an upward import",
        "fmood/metrics/__init__.py:1: fmood.metrics (layer 1) imports fmood_bench.demo, which "
        "is no part of the library; only the deprecated aliases and BENCH_IMPORTERS may "
        "import fmood_bench",
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


def old_paths_in(root: Path, skip: frozenset[str] = frozenset()) -> list[str]:
    """``file:line: name`` for each import, or string naming a module, in the ``.py`` files
    under ``root`` (but those named in ``skip``) that reaches a deprecated alias or name."""
    old = DEPRECATED_ALIASES | DEPRECATED_NAMES
    out = []
    for path in sorted(root.rglob("*.py")):
        if path.name in skip:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if _MODULE_NAME.fullmatch(node.value) else []
            else:
                continue
            for name in names:
                if any(name == o or name.startswith(o + ".") for o in old):
                    out.append(f"{path.relative_to(root.parent)}:{node.lineno}: {name}")
                    break
    return out


def test_our_code_uses_no_deprecated_path():
    # so that only a user's old code sees the DeprecationWarnings; the aliases' own tests
    # (tests/bench/test_old_paths.py, tests/workflows/test_comparison.py for the workflows
    # aliases) and this file are the places that name them
    used = old_paths_in(PACKAGE_DIR) + old_paths_in(BENCH_DIR)
    alias_tests = frozenset({"test_old_paths.py", "test_comparison.py", "test_layers.py"})
    for folder in ("benchmarks", "examples", "tests"):
        used += old_paths_in(REPO / folder, skip=alias_tests)
    assert not used, "deprecated paths used; import from the new homes:\n" + "\n".join(used)


def test_the_library_loads_no_benchmark_dependency():
    # a subprocess, so that what this test session imported does not count
    subpackages = sorted(
        {".".join(m.split(".")[:2]) for m in module_names(PACKAGE_DIR, "fmood")}
        - DEPRECATED_ALIASES
    )
    code = (
        "import importlib, sys\n"
        "from fmood.errors import MissingExtraError\n"
        f"for name in {subpackages!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except MissingExtraError:\n"
        "        pass  # the core install: this part needs an extra\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(BENCH_ONLY)!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{subpackages} loaded {done.stdout.strip()}"
