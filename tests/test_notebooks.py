"""Assignment notebooks: sources pass their tests, releases fail them, exercises/ is generated."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from nbgrader.validator import Validator
from traitlets.config import Config

from autograder.grading import notebooks
from autograder.grading.notebooks import (cell_timeout, graded_parts, lint, lint_test_cell, nbgrader_meta, release,
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


def _cells(path: Path) -> dict[str, nbformat.NotebookNode]:
    nb = nbformat.read(path, as_version=4)
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if nbgrader_meta(c).get("grade_id")}


def _visible(source: str) -> str:
    return notebooks.HIDDEN.sub("", source)


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_a3_given_recall_net_is_the_graders(root, folder):
    """The RecallNet students build is the one the grader rebuilds: same
    parameter names and shapes, same logits from the same weights."""
    import torch
    from torch import nn

    from autograder.course.a3_gated.calls import RECALL_SYMBOLS, RecallNet

    cells = _cells(root / folder / "a3_gated" / "a3_gated.ipynb")
    given = cells["recall_net"]
    meta = nbgrader_meta(given)
    assert meta["locked"] and not meta["grade"] and not meta["solution"]
    order = list(cells)
    assert order.index("recall_task") < order.index("recall_net") < order.index("train_recall_model")
    scope = {"torch": torch, "nn": nn}
    exec(cells["recall_task"].source, scope)
    exec(given.source, scope)
    assert scope["SYMBOLS"] == RECALL_SYMBOLS
    x = torch.randn(3, 7, RECALL_SYMBOLS + 1)
    for kind, hidden, layers in [("LSTM", 48, 1), ("GRU", 5, 2), ("LSTM", 3, 4)]:
        torch.manual_seed(0)
        theirs = scope["RecallNet"](kind, hidden, layers)
        ours = RecallNet(kind, hidden, layers)
        assert {k: v.shape for k, v in theirs.state_dict().items()} == {
            k: v.shape for k, v in ours.state_dict().items()}
        ours.load_state_dict(theirs.state_dict(), strict=True)
        assert torch.equal(theirs(x), ours(x))
    with pytest.raises(ValueError):
        scope["RecallNet"]("RNN")


def test_a3_visible_test_wants_a_recall_net(root):
    """Part F's visible test rejects a model that is not the given RecallNet,
    with a message that says so, before it measures anything."""
    import torch
    from torch import nn

    cells = _cells(source_notebook("a3_gated", root))
    scope = {"torch": torch, "nn": nn}
    for name in ("recall_task", "recall_net"):
        exec(cells[name].source, scope)

    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = nn.LSTM(7, 4, batch_first=True), nn.Linear(4, 6)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    scope.update(model=Other().eval(), training_seconds=1.0)
    with pytest.raises(AssertionError, match="should return the RecallNet it trained, not a Other"):
        exec(_visible(cells["test_trained_model"].source), scope)
    scope.update(model=scope["RecallNet"]("GRU", 8).eval())  # a RecallNet, untrained: measured, too weak
    with pytest.raises(AssertionError, match="validation accuracy is"):
        exec(_visible(cells["test_trained_model"].source), scope)


def test_a1_visible_test_catches_arrays_that_share_memory(root):
    """Part C's visible test fails a copy that is a view of a float64 module's
    tensors, which np.asarray and .numpy() give."""
    cells = _cells(source_notebook("a1_rnn", root))
    viewing = '''
def rnn_params_from_torch(rnn, head):
    H = rnn.hidden_size
    get = lambda t, n: np.zeros(n) if t is None else np.asarray(t.detach(), dtype=np.float64)
    return {"weight_ih": get(rnn.weight_ih_l0, 0), "weight_hh": get(rnn.weight_hh_l0, 0),
            "bias_ih": get(getattr(rnn, "bias_ih_l0", None), H),
            "bias_hh": get(getattr(rnn, "bias_hh_l0", None), H),
            "weight_hy": get(head.weight, 0), "bias_y": get(head.bias, head.out_features)}
'''
    scope: dict = {}
    exec(cells["imports"].source, scope)
    exec(viewing, scope)
    with pytest.raises(AssertionError, match=r"params\['weight_ih'\] shares memory with rnn.weight_ih_l0"):
        exec(_visible(cells["test_rnn_params_from_torch"].source), scope)
    exec(cells["rnn_params_from_torch"].source, scope)  # the solution passes
    exec(_visible(cells["test_rnn_params_from_torch"].source), scope)


def _defining(cells: dict[str, nbformat.NotebookNode], pattern: str) -> tuple[str, nbformat.NotebookNode]:
    """The (grade_id, cell) whose source defines `pattern` (a regular expression at a line's start)."""
    found = [(k, c) for k, c in cells.items() if c.cell_type == "code" and re.search(pattern, c.source, re.M)]
    assert len(found) == 1, f"{len(found)} cells define {pattern!r}"
    return found[0]


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_a4_given_char_model_is_the_graders(root, folder, monkeypatch):
    """The CharLM, VOCAB, encode and bpc students get are the grader's: same
    vocabulary and encoding, same bits per character, and a trained CharLM
    (with Part B's parametrization on its LSTM) rebuilt by the grader gives
    the same logits in eval."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from autograder.course import reference as ref
    from autograder.course.a4_regularize import calls, cases
    from autograder.engine.runner import wire

    path = root / folder / "a4_regularize" / "a4_regularize.ipynb"
    if not path.exists():
        pytest.skip(f"{path.relative_to(root)} does not exist yet")
    cells = _cells(path)
    given = [_defining(cells, pattern) for pattern in (r"^VOCAB\s*=", r"^def encode\(", r"^def bpc\(",
                                                       r"^class CharLM\(")]
    order = list(cells)
    for grade_id, cell in given:
        meta = nbgrader_meta(cell)
        assert meta["locked"] and not meta["grade"] and not meta["solution"], grade_id
        assert order.index(grade_id) < order.index("train_char_model"), grade_id
    monkeypatch.chdir(path.parent)  # a given cell may read the released text beside the notebook
    scope = {"torch": torch, "nn": nn, "F": F}
    if "imports" in cells:
        exec(cells["imports"].source, scope)
    scope.update(locked_dropout=ref.locked_dropout, weight_drop=ref.weight_drop)  # Parts A and B, right
    for grade_id in dict.fromkeys(k for k, _ in given):
        exec(cells[grade_id].source, scope)
    assert scope["VOCAB"] == calls.VOCAB
    for text in ("", "ROSALIND.\nO, how full of briers is this working-day world!", "caf\u00e9\t\u2014 ~"):
        assert torch.equal(scope["encode"](text), calls.encode(text))
    ids = calls.encode((root / "solutions/a4_regularize/as_you_like_it.txt").read_text()[:3000])
    for settings in [(96, 16, 8, 0.0, 0.0), (96, 8, 12, 0.3, 0.4), (96, 64, 256, 0.25, 0.5)]:
        torch.manual_seed(0)
        theirs = scope["CharLM"](*settings)
        assert type(theirs).__name__ == "CharLM"
        assert ("rnn.parametrizations.weight_hh_l0.original" in theirs.state_dict()) == (settings[4] > 0)
        (sent,) = wire.unpack(*wire.pack([calls.run_model(theirs, ())]))
        ours = cases.rebuild_char_model(sent)
        assert not isinstance(ours, str), ours
        theirs.eval()
        with torch.no_grad():
            torch.testing.assert_close(theirs(ids[None, :50]), ours(ids[None, :50]), rtol=0, atol=0)
        for seq_len in (200, 37):
            assert scope["bpc"](theirs, ids, seq_len) == pytest.approx(calls.bpc(ours, ids, seq_len), rel=1e-12)
