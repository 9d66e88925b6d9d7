"""Record a graded submission in nbgrader's gradebook, as `nbgrader autograde` would.

The notebook ran in the sandbox and the scores were decided by the grader, so
nbgrader's own execution and scoring are not used; what they leave behind is
reproduced: the submission's rows (updated in place on re-grading, so manual
grades and comments survive), each test cell's auto score, written answers
left for manual grading (or 0 with "No response." when untouched), and the
notebook in `autograded/<student>/<assignment>/` with nbgrader's metadata,
for Formgrader and `nbgrader export`. That copy holds the hidden tests (put
back by nbgrader's OverwriteCells) and is for instructors only: students get
the grader's own feedback pages, not `nbgrader generate_feedback`'s.
Checked against real `nbgrader autograde` row by row (nbgrader 0.9.6).
"""
from __future__ import annotations

import copy
import warnings
from pathlib import Path

import nbformat


def record(course_root: Path, db_url: str, assignment: str, notebook: str, student: str,
           executed: nbformat.NotebookNode, scores: dict[str, float | None]) -> None:
    """Write one student's submission of `notebook` (its name without .ipynb):
    `scores` maps every autograded test cell's grade_id to its points."""
    from nbgrader import utils
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import CheckCellMetadata, DeduplicateIds, OverwriteCells, OverwriteKernelspec

    resources = {"nbgrader": {"notebook": notebook, "assignment": assignment, "student": student,
                              "db_url": db_url}}
    nb = copy.deepcopy(executed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SQLAlchemy's "not in session" warnings, as in nbgrader itself
        for step in (DeduplicateIds(), OverwriteKernelspec(), OverwriteCells(add_missing_cells=True),
                     CheckCellMetadata()):
            nb, resources = step.preprocess(nb, resources)
        with Gradebook(db_url, "rnn-course") as gb:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student)
            for cell in nb.cells:
                meta = cell.metadata.get("nbgrader", {})
                grade_id = meta.get("grade_id")
                if utils.is_grade(cell):
                    grade = gb.find_grade(grade_id, notebook, assignment, student)
                    if cell.cell_type == "code" and not utils.is_solution(cell):
                        grade.auto_score = float(scores[grade_id] or 0.0)
                    else:  # a written answer: 0 if untouched, else for a person to grade
                        grade.auto_score, _ = utils.determine_grade(cell)
                    grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
                if utils.is_solution(cell) or utils.is_task(cell):
                    comment = gb.find_comment(grade_id, notebook, assignment, student)
                    same = meta.get("checksum") == utils.compute_checksum(cell)
                    comment.auto_comment = "No response." if same and not utils.is_task(cell) else None
            gb.db.commit()
            gb.find_submission_notebook(notebook, assignment, student).late_submission_penalty = None
            gb.db.commit()
    folder = course_root / "autograded" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(inert(nb), folder / f"{notebook}.ipynb")


def create(db_url: str) -> None:
    """Open the gradebook at `db_url`, creating it if it is new. nbgrader
    stamps a new database with its alembic revision, which it asks of the
    `alembic` command in a subprocess (5 s, most of a small run's set-up);
    the same revision is read here from nbgrader's own migration scripts."""
    from unittest import mock

    from nbgrader import api

    with mock.patch.object(api, "get_alembic_version", alembic_head):
        api.Gradebook(db_url, "rnn-course").close()


def alembic_head() -> str:
    """The head revision of nbgrader's database migrations: what `alembic heads` prints."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader import dbutil

    config = Config()
    config.set_main_option("script_location", dbutil.ALEMBIC_DIR)
    return ScriptDirectory.from_config(config).get_current_head()


#: Output types an instructor's browser may show from a student's kernel.
SAFE_OUTPUT_TYPES = ("text/plain", "image/png", "image/jpeg")


def inert(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as Formgrader may show it: Formgrader renders the
    `autograded/` copy in the instructor's browser, on the Jupyter server's
    origin, without sanitizing, so nothing of the student's may be active
    there: outputs keep plain text and images only, and markdown the student
    wrote shows its HTML as text."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and (meta.get("solution") or not meta.get("locked")):
            cell.source = cell.source.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k in SAFE_OUTPUT_TYPES}
    return nb
