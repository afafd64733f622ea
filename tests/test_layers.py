"""The layers of the `harness` package, and the test that enforces them.

Layers, lowest first. A module may import any module of its own component
(``harness.<component>...``) and of any LOWER layer; never one of a higher
layer, and never a sibling on the same line (siblings are independent).
Function-local and ``TYPE_CHECKING`` imports count like any other.

     1  errors
     2  compiled | imageio
     3  metrics
     4  risk
     5  datasets | transforms
     6  hashers
     7  config
     8  results
     9  engine | attacks | screen
    10  verify
    11  report
    12  risk_cli
    13  cli
    14  __main__ | harness

- ``errors``: the exception types; ``compiled``: the one numba switch;
  ``imageio``: image identity (sha256 of the bytes) and decoding to RGB.
- ``metrics`` and ``risk`` are pure functions over arrays and DataFrames;
  they sit low because they need nothing but numbers (the pipeline feeds
  them, they never reach back into it). ``risk`` builds on ``metrics``.
- ``datasets`` (catalog, fetch, loaders) and ``transforms`` know nothing
  of hashing; ``hashers`` read images through ``imageio`` only.
- ``config`` validates an experiment against the datasets catalog, the
  hasher registry and the transform families; ``results`` is the one
  type for a results folder (``harness.Results``), read by the report and
  the front ends and returned by the engine.
- ``engine`` runs dataset x transforms x hashers; ``attacks`` only call
  hashers; ``screen`` (duplicate screening) hashes a dataset, so it sits
  above ``hashers`` and beside the engine.
- ``verify`` re-hashes a results folder through the engine.
- ``report`` reads results and draws; the front ends (``risk_cli``,
  ``cli``, ``python -m harness`` and the package's own ``__init__`` with
  the public names) parse arguments and print.
- Benchmarks live outside the package, in ``benchmarks/`` at the
  repository root, and may import anything.

The one import of the package root allowed below the front ends is its
version string (``from harness import __version__``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import harness

PACKAGE = Path(harness.__file__).resolve().parent

#: imports that cross the layers today, each with the change that removes it.
#: An entry that no longer occurs fails the test, so the list only shrinks.
KNOWN_EXCEPTIONS: dict = {}


def layers() -> dict[str, int]:
    """{component: layer number} parsed from this module's docstring."""
    out = {}
    for line in __doc__.splitlines():
        m = re.fullmatch(r"\s+(\d+)\s+([\w|\s]+)", line)
        if m:
            for name in m.group(2).split("|"):
                out[name.strip()] = int(m.group(1))
    return out


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def component(module: str) -> str:
    """'harness.metrics.hamming' -> 'metrics'; the package root -> 'harness'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "harness"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import of a harness module in the
    file, at any depth (function-local imports included). ``from X import
    name`` counts as importing X.name when that is a module, else X."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or (
                    PACKAGE.parent / Path(*sub.split(".")) / "__init__.py"
                ).is_file()
                found.append((node.lineno, sub if is_module else target))
    return sorted({(line, m) for line, m in found if m == "harness" or m.startswith("harness.")})


def violations() -> tuple[list[str], set]:
    table = layers()
    problems, crossed = [], set()
    for path in sorted(PACKAGE.rglob("*.py")):
        mod = module_name(path)
        src = component(mod)
        if src not in table:
            problems.append(f"{mod}: component {src!r} has no layer; add it to the table in tests/test_layers.py")
            continue
        for line, target in imported_modules(path):
            dst = component(target)
            if dst == src or target == "harness" and src != "harness" and _is_version_import(path, line):
                continue
            if dst not in table:
                problems.append(f"{mod}:{line} imports {target}, whose component {dst!r} has no layer")
                continue
            if table[dst] < table[src]:
                continue
            if (src, dst) in KNOWN_EXCEPTIONS:
                crossed.add((src, dst))
                continue
            how = "a sibling" if table[dst] == table[src] else "a higher layer"
            problems.append(
                f"{path.relative_to(PACKAGE.parent)}:{line}: {src} (layer {table[src]}) imports "
                f"{target}, {how} ({dst}, layer {table[dst]})"
            )
    return problems, crossed


def _is_version_import(path: Path, line: int) -> bool:
    text = path.read_text().splitlines()[line - 1]
    return bool(re.search(r"import __version__\b", text))


def test_every_component_has_a_layer_and_no_import_goes_up():
    problems, crossed = violations()
    assert not problems, "\n".join(problems)
    stale = set(KNOWN_EXCEPTIONS) - crossed
    assert not stale, f"known exceptions no longer needed, delete them from KNOWN_EXCEPTIONS: {sorted(stale)}"


def test_the_table_parses():
    table = layers()
    assert table["errors"] == 1 and table["metrics"] < table["risk"] < table["hashers"] < table["screen"]
    assert table["cli"] > table["report"] > table["engine"]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from ..hashers import get_hasher\n", "higher layer"),  # datasets -> hashers
        ("def f():\n    from harness.report import write_report\n", "higher layer"),  # function-local
        ("import harness.transforms.spec\n", "sibling"),  # datasets -> transforms
    ],
)
def test_the_checker_catches_an_upward_import(tmp_path, monkeypatch, source, expected):
    """Plant a module that imports upward in a copy of the package and check
    that it is reported (the checker is not vacuous)."""
    import shutil

    copy = tmp_path / "harness"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "datasets" / "planted.py").write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", copy)
    problems, _ = violations()
    assert len(problems) == 1 and "harness/datasets/planted.py" in problems[0] and expected in problems[0], problems
