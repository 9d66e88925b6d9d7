"""End to end: `python -m autograder grade` on fixture submissions of a1."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from submissions import make_all, write_all

pytestmark = pytest.mark.slow

PARTS = ["test_rnn_cell_forward", "test_rnn_forward", "test_rnn_params_from_torch",
         "test_sequence_cross_entropy", "answer_parameter_sharing"]
PENDING = "graded, manual grading pending: answer_parameter_sharing"
# student: (points per part in PARTS order, total, status, a phrase expected in the notes)
EXPECTED = {
    "right":     (["20", "25", "20", "20", ""], "85", PENDING, ""),
    "untouched": (["0", "0", "0", "0", "0"], "0", "graded", ""),
    "half":      (["20", "25", "0", "0", "0"], "45", "graded", ""),
    "noisy":     (["20", "25", "20", "20", "0"], "85", "graded", ""),
    "looping":   (["20", "0", "20", "20", "0"], "60", "graded (see notes)", "time limit reached in: test_rnn_forward"),
    "crashing":  (["20", "0", "20", "20", "0"], "60", "graded (see notes)", "kernel died in cell rnn_forward"),
    "memoryhog": (["20", "25", "20", "0", "0"], "65", "graded", ""),
    "edited":    (["20", "25", "20", "0", "0"], "65", "graded (see notes)", "test cells edited"),
    "deleted":   (["20", "25", "20", "20", "0"], "85", "graded (see notes)", "cells deleted, put back"),
    "wrongnb":   (["", "", "", "", ""], "0", "wrong assignment", "none of a1_rnn's graded cells"),
    "corrupt":   (["", "", "", "", ""], "0", "unreadable", "not a valid notebook"),
}


def tree_digest(root: Path) -> str:
    """A fingerprint of the instructor's tree: the top-level names and every file of
    the assignment sources, releases, grading package and nbgrader configuration."""
    digest = hashlib.sha256(" ".join(sorted(p.name for p in root.iterdir())).encode())
    for top in ("solutions", "exercises", "autograder", "nbgrader_config.py"):
        for path in sorted([root / top, *(root / top).rglob("*")]):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def grade(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1500)


def read_rows(csv_path: Path) -> dict[str, dict[str, str]]:
    with csv_path.open() as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def graded_folder(root, tmp_path_factory):
    work = tmp_path_factory.mktemp("grading")
    write_all(work / "submissions", root / "exercises/a1_rnn/a1_rnn.ipynb", root / "solutions/a1_rnn/a1_rnn.ipynb")
    before = tree_digest(root)
    done = grade(["submissions", "--assignment", "a1_rnn", "--timeout", "10", "--jobs", "1"], cwd=work)
    # as graded, before a test below grades a written answer by hand
    shutil.copy(work / "grading/reports/a1_rnn/grades.csv", work / "grades-one-worker.csv")
    return work, done, before


def test_every_fixture_gets_its_expected_grade(graded_folder):
    work, done, _ = graded_folder
    rows = read_rows(work / "grading/reports/a1_rnn/grades.csv")
    assert set(rows) == set(EXPECTED), done.stdout + done.stderr
    for student, (points, total, status, note) in EXPECTED.items():
        row = rows[student]
        assert [row[p] for p in PARTS] == points, (student, row)
        assert (row["total"], row["max_total"], row["status"]) == (total, "100", status), (student, row)
        assert note in row["notes"], (student, row["notes"])


def test_exit_code_and_summary(graded_folder):
    _, done, _ = graded_folder
    assert done.returncode == 1, "two submissions could not be graded: the exit code must say so"
    assert "2 of 11 submissions could not be graded" in done.stdout
    assert "half" in done.stdout and "45" in done.stdout


def test_feedback_hides_hidden_tests_and_solutions(graded_folder):
    work, _, _ = graded_folder
    pages = work / "grading/reports/a1_rnn/feedback"
    assert sorted(p.stem for p in pages.glob("*.html")) == sorted(EXPECTED)
    for page in pages.glob("*.html"):
        text = page.read_text()
        for secret in ("BEGIN HIDDEN TESTS", "autograder", "check(", "BEGIN SOLUTION", "Model answer"):
            assert secret not in text, f"{page.name} shows {secret!r}"
    untouched = (pages / "untouched.html").read_text()
    assert "np.stack(hs, axis=1)" not in untouched and "NotImplementedError" in untouched
    half = (pages / "half.html").read_text()
    assert "45 of 100" in half and "should have shape (5, 3)" in half
    assert "could not be graded" in (pages / "corrupt.html").read_text()
    assert "did not finish within 10 s" in (pages / "looping.html").read_text()
    assert "stopped the Python kernel during grading" in (pages / "crashing.html").read_text()


def test_grading_leaves_the_instructor_tree_alone(graded_folder, root):
    _, _, before = graded_folder
    assert tree_digest(root) == before
    assert not (root / "grading").exists() and not (root / "gradebook.db").exists()


def test_lms_zip_with_all_passing_students_exits_zero(root, tmp_path):
    students = make_all(root / "exercises/a1_rnn/a1_rnn.ipynb", root / "solutions/a1_rnn/a1_rnn.ipynb")
    archive = tmp_path / "canvas_export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("doejane_1234_5678_a1_rnn.ipynb", nbformat.writes(students["right"]))
        zf.writestr("roerichard_LATE_4321_8765_a1_rnn.ipynb", nbformat.writes(students["half"]))
    done = grade([str(archive), "--assignment", "a1_rnn", "--workspace", "term1"], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_rows(tmp_path / "term1/reports/a1_rnn/grades.csv")
    assert {k: v["total"] for k, v in rows.items()} == {"doejane": "85", "roerichard": "45"}


def test_manual_grades_from_formgrader_reach_the_csv(graded_folder):
    """What the Formgrader does when a person grades the written answer, then `export`."""
    from nbgrader.api import Gradebook

    work, _, _ = graded_folder
    with Gradebook(f"sqlite:///{work / 'grading/gradebook.db'}") as gb:
        grade_row = gb.find_grade("answer_parameter_sharing", "a1_rnn", "a1_rnn", "right")
        grade_row.manual_score = 13
        gb.db.commit()
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    done = subprocess.run([sys.executable, "-m", "autograder", "export", "--assignment", "a1_rnn"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr  # still two ungradable submissions
    right = read_rows(work / "grading/reports/a1_rnn/grades.csv")["right"]
    assert (right["answer_parameter_sharing"], right["total"], right["status"]) == ("13", "98", "graded")
    assert "98 of 100" in (work / "grading/reports/a1_rnn/feedback/right.html").read_text()


def test_a_cell_that_kills_the_kernel_is_skipped_not_the_test():
    """When the kernel dies in a test cell, the student's code before it is skipped."""
    import nbformat
    from autograder.grading.jobs import SKIPPED_CELL, _skip_cell

    def cell(source, **meta):
        c = nbformat.v4.new_code_cell(source)
        if meta:
            c.metadata["nbgrader"] = meta
        return c

    nb = nbformat.v4.new_notebook(cells=[
        cell("import numpy as np", grade_id="imports", locked=True),
        cell("def f(): ...", grade_id="f", solution=True),
        cell("assert f() is None", grade_id="test_f", grade=True, solution=False),
    ])
    assert _skip_cell(nb, 2) == "f" and nb.cells[1].source == SKIPPED_CELL
    assert _skip_cell(nb, 2) is None, "a locked cell is never replaced, and nothing is skipped twice"


A2_PARTS = ["test_rnn_backward", "test_numerical_gradient", "test_relative_error", "test_clip_grad_norm",
            "test_tbptt_train", "test_jacobian_norms", "answer_tiny_rnn"]


def grade_three(root: Path, tmp_path: Path, assignment: str, make, parts: list[str]) -> dict[str, list[str]]:
    """Grade the right, untouched and half-right students of `make` (and any
    others it makes): their points per part, then the total."""
    name = f"{assignment}/{assignment}.ipynb"
    students = make(root / "exercises" / name, root / "solutions" / name)
    for student, nb in students.items():
        (tmp_path / "subs" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "subs" / student / f"{assignment}.ipynb")
    done = grade(["subs", "--assignment", assignment], cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = read_rows(tmp_path / f"grading/reports/{assignment}/grades.csv")
    return {student: [rows[student][p] for p in parts] + [rows[student]["total"]] for student in rows}


def test_a2_end_to_end(root, tmp_path):
    from submissions import make_a2

    assert grade_three(root, tmp_path, "a2_bptt", make_a2, A2_PARTS) == {
        "right": ["25", "10", "5", "15", "15", "15", "", "85"],
        "untouched": ["0", "0", "0", "0", "0", "0", "0", "0"],
        "half": ["25", "10", "5", "0", "0", "15", "0", "55"],
        "cheat": ["0", "10", "5", "15", "15", "15", "0", "60"],  # Part A through torch_gradients
    }
    half = (tmp_path / "grading/reports/a2_bptt/feedback/half.html").read_text()
    assert "the state is not detached between chunks" in half
    assert "BEGIN HIDDEN TESTS" not in half and "autograder" not in half
    cheat = (tmp_path / "grading/reports/a2_bptt/feedback/cheat.html").read_text()
    assert "this part is NumPy only, so torch is hidden while its test runs, but your code used torch.tensor" in cheat


A3_PARTS = ["test_lstm_cell", "test_lstm_layer", "test_gru_cell", "test_init_lstm_", "test_param_count",
            "test_trained_model", "answer_counting"]


def test_a3_end_to_end(root, tmp_path):
    from submissions import make_a3

    assert grade_three(root, tmp_path, "a3_gated", make_a3, A3_PARTS) == {
        "right": ["15", "15", "15", "10", "10", "20", "", "85"],
        "untouched": ["0", "0", "0", "0", "0", "0", "0", "0"],
        "half": ["15", "15", "0", "10", "0", "0", "0", "40"],
        "rule": ["15", "15", "15", "10", "10", "0", "0", "65"],  # a hand-written rule dressed as a RecallNet
        "frames": ["15", "15", "15", "10", "0", "20", "0", "75"],  # answers looked up in the callers' frames
    }
    half = (tmp_path / "grading/reports/a3_gated/feedback/half.html").read_text()
    # the hidden checks run before the visible asserts, so their diagnoses are what students read
    assert "torch.nn.GRUCell computes r * (W_hn h + b_hn)" in half
    assert "PyTorch keeps two, bias_ih and bias_hh" in half
    assert "the accuracy on held-out sequences is" in half
    assert "BEGIN HIDDEN TESTS" not in half and "autograder" not in half


A4_PARTS = ["test_locked_dropout", "test_weight_drop", "test_zoneout_lstm_cell", "test_ln_lstm_cell",
            "test_recurrent_batch_norm", "test_trained_char_model", "written_answer"]


def test_a4_end_to_end(root, tmp_path):
    """a4 reads its play from a file released beside the notebook: the kernel
    finds it, the right student's model is trained there and measured on the
    held-out part of the play."""
    from submissions import make_a4

    assert grade_three(root, tmp_path, "a4_regularize", make_a4, A4_PARTS) == {
        "right": ["12", "15", "12", "12", "14", "20", "", "85"],
        "untouched": ["0", "0", "0", "0", "0", "0", "0", "0"],
        "half": ["0", "15", "12", "0", "14", "0", "", "41"],  # the model answer copied: a person grades it
    }
    half = (tmp_path / "grading/reports/a4_regularize/feedback/half.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in half and "autograder" not in half
    assert "FileNotFoundError" not in half
    assert "the mask changes over time" in half and "LN over the batch axis" in half


def test_assignment_sets_its_own_cell_timeout(root, tmp_path):
    """a3 trains a model in a cell, so its notebook asks for more than the default 30 s."""
    from autograder.grading.workspace import Options, Workspace

    assert Workspace("a3_gated", Options(workspace=tmp_path)).cell_timeout == 120
    assert Workspace("a3_gated", Options(workspace=tmp_path, cell_timeout=45)).cell_timeout == 45
    assert Workspace("a1_rnn", Options(workspace=tmp_path)).cell_timeout == 30


def test_a_dask_cluster_of_two_workers_grades_as_one_worker_does_even_when_one_dies(graded_folder):
    """The same fixtures on a local Dask cluster (two worker processes), one of
    which is killed mid-run: the same rows as the one-worker run above."""
    distributed = pytest.importorskip("distributed")
    import signal
    import time

    work, _, _ = graded_folder
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit=0) as cluster, distributed.Client(cluster) as client:
        env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
        run = subprocess.Popen([sys.executable, "-m", "autograder", "grade", "submissions", "--assignment", "a1_rnn",
                                "--timeout", "10", "--workspace", "on-dask", "--cluster", cluster.scheduler_address],
                               cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        end = time.monotonic() + 600
        while len(list((work / "on-dask/executed").glob("*/result.json"))) < 5:  # 2 at intake, 3 graded
            assert time.monotonic() < end and run.poll() is None, run.communicate()[0]
            time.sleep(0.2)
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        output, _ = run.communicate(timeout=1200)
    assert run.returncode == 1, output  # the two ungradable submissions, as with one worker
    assert "grading on the Dask cluster" in output
    one = read_rows(work / "grades-one-worker.csv")
    two = read_rows(work / "on-dask/reports/a1_rnn/grades.csv")
    assert two == one
    workers = {json.loads(p.read_text())["worker"] for p in (work / "on-dask/executed").glob("*/result.json")}
    assert len(workers - {""}) >= 2, workers  # "": ungradable at intake, never sent


def test_the_gradebook_is_stamped_with_nbgraders_own_revision(monkeypatch):
    """The workspace's gradebook is created in-process with the alembic head read
    from nbgrader's migrations: the same revision nbgrader's subprocess finds."""
    from nbgrader.api import get_alembic_version

    from autograder.grading.gradebook import alembic_head

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    assert alembic_head() == get_alembic_version()
