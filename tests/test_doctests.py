"""Every public name of `harness` (its __all__) has a numpydoc docstring
with a runnable example, and the examples pass (doctest)."""

from __future__ import annotations

import doctest
import inspect

import pytest

import harness

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
#: names in __all__ that are not documented objects
NOT_OBJECTS = {"__version__"}
PUBLIC = sorted(set(harness.__all__) - NOT_OBJECTS)


def _docstrings(name: str):
    """(qualified name, object) of a public name and, for a class, of each
    of its public methods and properties."""
    obj = getattr(harness, name)
    yield f"harness.{name}", obj
    if inspect.isclass(obj):
        for attr, member in sorted(vars(obj).items()):
            if attr.startswith("_"):
                continue
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if inspect.isfunction(member):
                yield f"harness.{name}.{attr}", member


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_has_a_numpydoc_example(name):
    obj = getattr(harness, name)
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc and "Examples\n--------" in doc, f"harness.{name}: no numpydoc Examples section"


@pytest.mark.parametrize("name", ["Results"])
def test_methods_named_in_the_issue_have_examples(name):
    cls = getattr(harness, name)
    for method in ("load", "hist", "roc", "threshold_for", "risk"):
        doc = inspect.getdoc(getattr(cls, method)) or ""
        assert ">>>" in doc and "Examples\n--------" in doc, f"harness.{name}.{method}"


def test_report_write_report_example_passes(tmp_path, monkeypatch):
    """harness.report.write_report (what harness.write_report calls) has its own example."""
    import harness.report

    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    tests = doctest.DocTestFinder(recurse=False).find(
        harness.report.write_report, "harness.report.write_report", globs={}
    )
    assert tests and all(runner.run(t).failed == 0 for t in tests)


@pytest.mark.parametrize("name", PUBLIC)
def test_examples_pass(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples write only into temporary folders
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    ran = 0
    for qualname, obj in _docstrings(name):
        for test in finder.find(obj, qualname, globs={}):
            result = runner.run(test)
            ran += result.attempted
            assert result.failed == 0, f"{qualname}: {result.failed} example(s) failed (see output above)"
    assert ran > 0, f"harness.{name}: no example ran"
