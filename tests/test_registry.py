import doctest
import subprocess
import sys

import pytest

from fmood.errors import InvalidInputError
from fmood.registry import DuplicateNameError, Registry, UnknownNameError, matching
from fmood.scorers import KNNScorer, get_scorer, is_scorer, list_scorers, register
from fmood.scorers.base import SCORERS


@pytest.fixture
def shapes():
    return Registry("shape", {"square": 4, "triangle": 3, "hexagon": 6})


def test_register_refuses_a_taken_name_unless_overwrite(shapes):
    with pytest.raises(
        DuplicateNameError, match="a shape named 'square' is registered already; pass overwrite"
    ):
        shapes.register("square", 5)
    assert shapes.get("square") == 4
    assert shapes.register("square", 5, overwrite=True) == 5
    assert shapes.get("square") == 5
    assert shapes.register("circle", 0) == 0 and len(shapes) == 4


def test_duplicate_and_unknown_errors_are_input_errors():
    assert issubclass(DuplicateNameError, InvalidInputError)
    assert issubclass(UnknownNameError, InvalidInputError)


def test_a_domain_error_class_for_duplicates():
    class DuplicateShape(DuplicateNameError):
        pass

    shapes = Registry("shape", {"square": 4}, duplicate_error=DuplicateShape)
    with pytest.raises(DuplicateShape):
        shapes.register("square", 4)


def test_initial_entries_are_checked_like_registrations():
    with pytest.raises(InvalidInputError, match="non-empty string, got ''"):
        Registry("shape", {"": 1})
    with pytest.raises(InvalidInputError, match="non-empty string, got 3"):
        Registry("shape").register(3, "three")


def test_get_names_close_matches_and_everything(shapes):
    with pytest.raises(
        UnknownNameError,
        match="unknown shape 'sqare'; did you mean 'square'\\? available: hexagon, square, triangle",
    ):
        shapes.get("sqare")
    with pytest.raises(UnknownNameError, match="unknown shape 'zzz'; available: hexagon"):
        shapes.get("zzz")
    with pytest.raises(UnknownNameError, match=r"unknown shape \['square'\]"):
        shapes.get(["square"])  # unhashable: no TypeError leaks out


def test_names_filters_with_fnmatch(shapes):
    assert shapes.names() == ["hexagon", "square", "triangle"] == list(shapes)
    assert shapes.names("*a*") == ["hexagon", "square", "triangle"]
    assert shapes.names("?quare") == ["square"]
    assert shapes.names(["tri*", "hex*"]) == ["hexagon", "triangle"]
    assert shapes.names("Square") == []  # case-sensitive on every platform
    assert shapes.names([]) == []
    assert matching(["b", "a", "ab"], "a*") == ["a", "ab"]


def test_contains(shapes):
    assert "square" in shapes
    assert "circle" not in shapes
    assert None not in shapes and ["square"] not in shapes


def test_the_class_example_runs():
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    for test in finder.find(Registry, globs={"Registry": Registry}):
        runner.run(test)
    assert runner.tries > 0 and runner.failures == 0


def test_registry_module_imports_no_third_party_package():
    code = (
        "import sys, fmood.registry; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'numpy', 'scipy', 'sklearn', 'pandas', 'faiss', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the scorer registry --------------------------------------------------------------
@pytest.fixture
def own_scorers(monkeypatch):
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(SCORERS, "_entries", dict(SCORERS._entries))


def test_registering_a_taken_scorer_name_raises(own_scorers):
    class MyKNN(KNNScorer):
        name = "knn"

    with pytest.raises(DuplicateNameError, match="a scorer named 'knn' is registered already"):
        register(MyKNN)
    assert type(get_scorer("knn")) is KNNScorer
    assert register(MyKNN, overwrite=True) is MyKNN
    assert type(get_scorer("knn", k=3)) is MyKNN


def test_register_decorator_adds_a_new_scorer(own_scorers):
    @register
    class Wide(KNNScorer):
        name = "wide_knn"

    assert is_scorer("wide_knn") and "wide_knn" in list_scorers("*knn")
    assert get_scorer("wide_knn", k=2).k == 2


def test_list_and_is_scorer():
    assert list_scorers("*mahalanobis") == [
        "mahalanobis",
        "relative_mahalanobis",
        "residual_mahalanobis",
    ]
    assert list_scorers(["knn", "gmm"]) == ["gmm", "knn"]
    assert is_scorer("knn") and not is_scorer("odin")
    with pytest.raises(InvalidInputError, match="unknown scorer 'kn'; did you mean 'knn'"):
        get_scorer("kn")


def test_the_same_definition_registered_again_replaces_itself_a_new_one_is_refused():
    """A reloaded module or a re-run notebook cell defines the class again: not a clash."""
    registry: Registry[type] = Registry("thing")
    first = type("Thing", (), {"__module__": "notebook"})
    again = type("Thing", (), {"__module__": "notebook"})
    other = type("Other", (), {"__module__": "notebook"})
    registry.register("thing", first)
    registry.register("thing", again)
    assert registry["thing"] is again
    with pytest.raises(DuplicateNameError, match="registered already"):
        registry.register("thing", other)


def test_reloading_a_scorer_module_keeps_working():
    # In a subprocess: a reload swaps the class that this session's other tests hold.
    code = (
        "import importlib, fmood.scorers.knn as knn; importlib.reload(knn); "
        "from fmood.scorers import get_scorer; assert type(get_scorer('knn')) is knn.KNNScorer"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
