"""The old paths of what left the library (issue 13) still work, and warn with the new path."""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest

#: (old module, a name, the module it now comes from): one name per deprecated alias module.
MOVED = [
    ("fmood.demo", "run_demo", "fmood_bench.demo"),
    ("fmood.evaluation.methods", "score_methods", "fmood_bench.evaluation.methods"),
    ("fmood.evaluation.tables", "severity_table", "fmood_bench.evaluation.tables"),
    ("fmood.evaluation.probe", "LinearProbe", "fmood.metrics.probe"),
    ("fmood.datasets", "make_medical_ood_dataset", "fmood_bench.datasets.medical"),
    ("fmood.datasets", "GROUPS", "fmood_bench.datasets.medical"),
    ("fmood.datasets", "MedicalOODDataset", "fmood_bench.datasets.medical"),
    ("fmood.datasets.medical", "axial_level", "fmood_bench.datasets.medical"),
    (
        "fmood.datasets.medical.artifacts",
        "apply_artifact",
        "fmood_bench.datasets.medical.artifacts",
    ),
    ("fmood.datasets.medical.builder", "COLUMNS", "fmood_bench.datasets.medical.builder"),
    ("fmood.datasets.medical.labels", "axial_level", "fmood_bench.datasets.medical.labels"),
    ("fmood.datasets.medical.shifts", "SHIFTS", "fmood_bench.datasets.medical.shifts"),
    ("fmood.datasets.medical.sources", "mni_template", "fmood_bench.datasets.medical.sources"),
]


def _message(old: str, name: str, new: str) -> str:
    return rf"^{re.escape(f'{old}.{name} is deprecated; use {new}.{name}')}$"


@pytest.mark.parametrize(("old", "name", "new"), MOVED, ids=[f"{o}.{n}" for o, n, _ in MOVED])
def test_an_old_name_is_the_new_object_and_warns(old, name, new):
    module = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=_message(old, name, new)):
        value = getattr(module, name)
    assert value is getattr(importlib.import_module(new), name)


def test_the_pytorch_ood_baselines_old_path():
    pytest.importorskip("pytorch_ood")
    from fmood_bench.evaluation import baselines

    old = importlib.import_module("fmood.evaluation.baselines")
    with pytest.warns(
        DeprecationWarning, match=_message(old.__name__, "make_baseline", baselines.__name__)
    ):
        assert old.make_baseline is baselines.make_baseline


def test_the_warning_points_at_the_code_that_used_the_old_path():
    with pytest.warns(DeprecationWarning) as record:
        from fmood.datasets.medical import builder
        from fmood.evaluation.tables import severity_table  # noqa: F401
    assert {Path(w.filename) for w in record} == {Path(__file__)}
    # a submodule reached through the old package is its own alias, whatever was imported first
    assert builder is importlib.import_module("fmood.datasets.medical.builder")


def test_star_import_keeps_the_public_names():
    namespace: dict = {}
    with pytest.warns(DeprecationWarning):
        exec("from fmood.datasets.medical import *", namespace)
    assert "make_medical_ood_dataset" in namespace and "ARTIFACT_TYPES" in namespace


def test_unknown_and_dunder_names_raise_attribute_error_without_a_warning():
    old = importlib.import_module("fmood.demo")
    datasets = importlib.import_module("fmood.datasets")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(old, "__wrapped__")  # probed by inspect and doctest
        with pytest.raises(AttributeError, match="module 'fmood.demo' has no attribute 'nope'"):
            old.nope  # noqa: B018
        with pytest.raises(AttributeError, match="'fmood.datasets' has no attribute 'nope'"):
            datasets.nope  # noqa: B018
        assert datasets.make_hospital_shift  # what stays in fmood.datasets does not warn
