"""Assignment notebooks: sources pass their tests, releases fail them, exercises/ is generated."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbgrader.validator import Validator
from traitlets.config import Config

from autograder import notebooks
from autograder.notebooks import (cell_timeout, graded_parts, lint, lint_test_cell, nbgrader_meta, release,
                                  source_notebook)

ASSIGNMENTS = notebooks.assignments()


def test_there_is_an_assignment():
    assert "a1_rnn" in ASSIGNMENTS


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_lints_clean(assignment):
    assert lint(source_notebook(assignment)) == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_passes_all_its_tests(assignment):
    """nbgrader validate exits 0 even on failure: read the Validator's result."""
    path = source_notebook(assignment)
    timeout = cell_timeout(nbformat.read(path, as_version=4))  # as in grading
    result = Validator(config=Config({"Execute": {"timeout": timeout}})).validate(str(path))
    assert result == {}, json.dumps(result, indent=1)[:3000]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_fails_every_graded_cell(root, assignment):
    path = root / "exercises" / assignment / source_notebook(assignment).name
    result = Validator().validate(str(path))
    failed = result.get("failed", [])
    parts = graded_parts(nbformat.read(path, as_version=4))
    assert len(failed) == len(parts), f"{len(failed)} of {len(parts)} graded cells fail"
    autograded_errors = [f["raw_error"] for f in failed if "NotImplementedError" in f["raw_error"]]
    assert len(autograded_errors) == sum(not p.manual for p in parts)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercises_equal_a_fresh_release(root, tmp_path, assignment):
    release(assignment, root=root, release_root=tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in (tmp_path / "exercises" / assignment).rglob("*") if p.is_file())
    committed = sorted(p.relative_to(root) for p in (root / "exercises" / assignment).rglob("*") if p.is_file())
    assert fresh == committed
    for rel in fresh:
        assert (tmp_path / rel).read_bytes() == (root / rel).read_bytes(), (
            f"{rel} is out of date: run `python -m autograder release {assignment}`")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_hides_solutions_and_hidden_tests(root, assignment):
    text = (root / "exercises" / assignment / source_notebook(assignment).name).read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder", "Model answer"):
        assert marker not in text
    nb = nbformat.reads(text, as_version=4)
    stubs = [c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code"]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


def test_lint_catches_test_cells_that_cannot_fail():
    assert "has no assert among its visible tests" in " ".join(lint_test_cell('"""Doc."""\nx = 1 == 2'))
    assert "docstring" in " ".join(lint_test_cell("assert True"))
    assert "partial credit" in " ".join(lint_test_cell('"""Doc."""\nassert True\n0.5'))
    hidden_only = '"""Doc."""\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS\n'
    assert "has no assert among its visible tests" in " ".join(lint_test_cell(hidden_only))
    assert lint_test_cell('"""Doc."""\nassert f(1) == 2\n### BEGIN HIDDEN TESTS\ncheck("x", f)\n### END HIDDEN TESTS\n') == []


def _notebooks(root: Path) -> list[Path]:
    return sorted([*(root / "solutions").rglob("*.ipynb"), *(root / "exercises").rglob("*.ipynb")])


def test_no_stored_outputs(root):
    for path in [*_notebooks(root), *(root / "chapters").glob("*.ipynb")]:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path} has stored outputs"


def _h1_count(markdown: str) -> int:
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)  # not inside code blocks
    return len(re.findall(r"^# \S", markdown, flags=re.M))


def test_every_page_has_exactly_one_title(root):
    for path in _notebooks(root):
        nb = nbformat.read(path, as_version=4)
        count = sum(_h1_count(c.source) for c in nb.cells if c.cell_type == "markdown")
        assert count == 1, f"{path} has {count} H1 titles"
    for path in sorted((root / "chapters").glob("*.md")):
        text = path.read_text()
        assert text.startswith("---\njupytext:"), f"{path} lacks its jupytext header"
        body = re.sub(r"^```\{code-cell\}.*?^```", "", text.split("---", 2)[2], flags=re.M | re.S)
        assert _h1_count(body) == 1, f"{path} should have exactly one H1 title"


def test_toc_lists_every_chapter_and_exercise(root):
    toc = (root / "_toc.yml").read_text()
    for path in [*(root / "chapters").glob("*.md"), *(root / "exercises").rglob("*.ipynb")]:
        assert str(path.relative_to(root).with_suffix("")) in toc, f"{path} is not in _toc.yml"
