"""The documentation: README.md is a short front page, docs/ is a mkdocs
site that builds with --strict (a broken link, an anchor that does not
exist, a page missing from the nav or a docstring that griffe cannot parse
fails), every relative link of the markdown files resolves to a file of the
repository, every CLI command is documented, and the plugin example of
CONTRIBUTING.md works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && phash-harness run",
    "python3 -m venv .venv && . .venv/bin/activate && pip install '.[dev]' && python -m pytest",
)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"\s*$', re.M)


def _markdown_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", ROOT / "datasets.md"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    return files


def _without_code(text: str) -> str:
    """Markdown text without fenced code blocks and inline code spans (links
    inside code are examples, not links)."""
    text = re.sub(r"^(```|~~~).*?^\1[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def relative_links(text: str) -> list[str]:
    """Targets of the markdown links and images in `text` that point into the
    repository (no scheme, no pure in-page anchor)."""
    out = []
    for m in LINK.finditer(_without_code(text)):
        target = m.group(1) or m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        out.append(target)
    return out


def test_relative_links_parser_finds_links_and_ignores_code():
    text = textwrap.dedent("""\
        See [a](docs/a.md#x), ![img](figures/roc.png) and [web](https://example.org).
        `[not](a-link.md)`
        ```
        [not](either.md)
        ```
        [anchor](#here)
        """)
    assert relative_links(text) == ["docs/a.md#x", "figures/roc.png"]


def test_readme_is_a_short_front_page_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200, f"README.md has {len(text.splitlines())} lines (at most 200)"
    for command in SETUP_COMMANDS:
        assert command in text, f"README.md lost the set-up command: {command}"
    # the same commands are the getting-started page's and CONTRIBUTING's
    assert SETUP_COMMANDS[0] in (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert SETUP_COMMANDS[1] in (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command_and_ruff():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet '.[dev]'" in ci and "python -m pytest" in ci
    assert ci.index("ruff check .") < ci.index("python -m pytest")


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_of_the_repository(path):
    text = path.read_text(encoding="utf-8")
    broken = []
    for target in relative_links(text):
        file_part = target.split("#", 1)[0]
        if not file_part:
            continue
        resolved = (path.parent / file_part).resolve()
        if ROOT not in resolved.parents and resolved != ROOT or not resolved.exists():
            broken.append(target)
    for snippet in SNIPPET.findall(text):  # pymdownx.snippets paths are relative to the repository root
        if not (ROOT / snippet).is_file():
            broken.append(f'--8<-- "{snippet}"')
    assert not broken, f"{path.relative_to(ROOT)}: links to missing files: {broken}"


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    import yaml

    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages: list[str] = []

    def walk(items):
        for item in items:
            for value in item.values():
                walk(value) if isinstance(value, list) else pages.append(value)

    walk(cfg["nav"])
    on_disk = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(pages) == on_disk


def test_mkdocs_build_strict(tmp_path):
    """The site builds with --strict; the API pages hold the docstrings."""
    site = tmp_path / "site"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    api = {
        name: (site / "api" / name / "index.html").read_text(encoding="utf-8")
        for name in ("harness", "metrics", "risk")
    }
    assert "hash_image" in api["harness"] and "run_experiment" in api["harness"]
    assert "pair_histogram" in api["metrics"] and "roc_from_histograms" in api["metrics"]
    assert "account_flag_probability" in api["risk"]
    # snippets were included: the catalogue and the study's headline table
    assert "caltech101" in (site / "datasets" / "index.html").read_text(encoding="utf-8")
    # the study page includes the committed headline table (its first data row, verbatim)
    headline = (ROOT / "results" / "caltech101" / "headline.md").read_text(encoding="utf-8")
    first_row = next(line for line in headline.splitlines() if line.startswith("| ahash "))
    pairs = first_row.split("|")[3].strip()
    assert pairs.isdigit() and pairs in (site / "study" / "index.html").read_text(encoding="utf-8")


def test_every_command_and_option_is_in_the_cli_reference():
    from harness.cli import build_parser

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    missing = []
    for name, command in sub.choices.items():
        if f"`{name}`" not in page and f"## {name}" not in page:
            missing.append(name)
        if name == "bench":  # each benchmark's options are on the benchmarks page
            continue
        for action in command._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help" and option not in page:
                    missing.append(f"{name} {option}")
    assert not missing, f"not in docs/reference/cli.md: {missing}"


def test_the_plugin_example_of_contributing_registers_and_hashes(tmp_path, monkeypatch):
    """The code and the entry point of CONTRIBUTING.md, installed as a
    package would be (a package folder and its dist-info on sys.path)."""
    import numpy as np

    import harness
    from harness.hashers import list_hashers

    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n# mypackage/hashers.py\n(.*?)```", text, re.S).group(1)
    toml = re.search(r"```toml\n# mypackage/pyproject.toml\n(.*?)```", text, re.S).group(1)
    group, entry = re.search(r'\[project\.entry-points\."([^"]+)"\]\n(\w+ = "[^"]+")', toml).groups()
    assert group == "harness.hashers"
    name, target = entry.replace('"', "").split(" = ")
    (tmp_path / "mypackage").mkdir()
    (tmp_path / "mypackage" / "__init__.py").write_text("")
    (tmp_path / "mypackage" / "hashers.py").write_text(code)
    dist = tmp_path / "mypackage-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypackage\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{group}]\n{name} = {target}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert name in list_hashers()
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    hex_a = harness.hash_image(photo, hasher=name)
    assert re.fullmatch(r"[0-9a-f]{16}", hex_a)
    assert harness.hash_image(photo.copy(), hasher=name) == hex_a
    assert harness.hash_image(255 - photo, hasher=name) != hex_a  # inverted photo: complementary bits
    monkeypatch.undo()
    assert name not in list_hashers()


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python block, with `photo.jpg` and `my.yaml` made here: a
    sample photo saved as JPEG and a one-hasher experiment on the sample."""
    import yaml
    from PIL import Image

    from harness.datasets.sample import sample_dir
    from harness.risk import account_flag_probability

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## From Python\n\n```python\n(.*?)```", text, re.S).group(1)
    Image.open(os.path.join(sample_dir(), "camera.png")).convert("RGB").save(tmp_path / "photo.jpg", quality=90)
    (tmp_path / "my.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "readme",
                "dataset": {"source": "sample"},
                "hashers": ["phash"],
                "transforms": [{"family": "jpeg", "severities": [50]}],
                "output": str(tmp_path / "out"),
                "metrics": {"bootstrap_replicates": 0, "retrieval": False, "diagnostics": False},
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert re.fullmatch(r"[0-9a-f]{16}", namespace["harness"].hash_image("photo.jpg", hasher="phash"))
    metrics = namespace["results"].metrics
    assert set(metrics["hasher"]) == {"phash"} and len(metrics) > 0
    # the figure quoted in the README's comment
    assert f"{account_flag_probability(1e-6, 2000, 30):.3g}" in code
