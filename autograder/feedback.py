"""Feedback pages for students: their graded notebook, without the hidden tests.

nbgrader's own feedback shows the hidden test code (nbgrader #917). Here the
hidden-test region of every test cell is replaced by a one-line note, and the
tracebacks of test cells are cut to the error's message, which says in words
what is wrong and never contains expected values. The student's own cells are
shown as they were graded.
"""
from __future__ import annotations

import copy
import html
from typing import TYPE_CHECKING

import nbformat
from nbconvert import HTMLExporter

from .notebooks import HIDDEN, GradedPart, nbgrader_meta

if TYPE_CHECKING:
    from .grading import Result

HIDDEN_NOTE = "# Hidden tests ran here: they check the same function on other inputs.\n"


def sanitize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an autograded notebook that is safe to show the student."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        is_test = cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")
        if not is_test:
            continue
        cell.source = HIDDEN.sub(HIDDEN_NOTE, cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return nb


def _summary_cell(assignment: str, result: "Result", parts: list[GradedPart]) -> nbformat.NotebookNode:
    from .grading import status_text, total

    rows = []
    for part in parts:
        score = result.scores.get(part.grade_id)
        shown = "to be graded by your instructor" if score is None else f"{score:g}"
        rows.append(f"| {part.grade_id} | {shown} | {part.points:g} |")
    notes = "".join(f"\n- {html.escape(n)}" for n in result.notes)
    text = (
        f"# Feedback: {assignment}, {result.student}\n\n"
        f"**Total so far: {total(result):g} of {sum(p.points for p in parts):g} points** "
        f"({html.escape(status_text(result, parts))}).\n\n"
        "| graded cell | points | out of |\n|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "Each test cell below shows the output it produced when it was graded. A test cell that "
        "ends in an error scored 0; read the message to see what was wrong." + (f"\n\nNotes:{notes}" if notes else "")
    )
    return nbformat.v4.new_markdown_cell(text)


def render(nb: nbformat.NotebookNode, assignment: str, result: "Result", parts: list[GradedPart]) -> str:
    """The HTML feedback page of one graded student notebook."""
    shown = sanitize(nb)
    shown.cells.insert(0, _summary_cell(assignment, result, parts))
    body, _ = HTMLExporter(template_name="classic").from_notebook_node(shown)
    return body


def render_problem(assignment: str, result: "Result") -> str:
    """A short page for a submission that could not be graded."""
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>Feedback: {html.escape(assignment)}</title></head><body>"
        f"<h1>Feedback: {html.escape(assignment)}, {html.escape(result.student)}</h1>"
        f"<p>Your submission could not be graded: <strong>{html.escape(result.status)}</strong>.</p>"
        f"<ul>{notes}</ul><p>Please contact your instructor.</p></body></html>"
    )
