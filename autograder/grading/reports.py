"""What an instructor reads after grading: results, grades.csv, feedback pages, a terminal table.

Written by the coordinator only, after every student's kernel has stopped.
"""
from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from . import feedback
from .notebooks import GradedPart


@dataclass
class Result:
    """What grading one student produced, as the coordinator keeps it."""

    student: str
    status: str  # "graded", or why the submission could not be graded
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> points (None: not graded yet)
    notes: list[str] = field(default_factory=list)
    messages: dict[str, str | None] = field(default_factory=dict)  # test grade_id -> verdict (None: passed)
    notebook_sha256: str = ""  # the submitted file's hash: `grade` again skips it while it and the grading are the same
    grading_sha256: str = ""  # the hash of what graded it (source notebook and grading code)
    worker: str = ""
    seconds: float = 0.0
    lms: str = ""  # the LMS the submission was downloaded from ("canvas", "moodle"), if its name says
    lms_id: str = ""  # the student's id there (`intake.lms_identity`)

    @property
    def graded(self) -> bool:
        return self.status == "graded"


def total(result: Result) -> float:
    return sum(v for v in result.scores.values() if v is not None)


def pending_manual(result: Result, parts: list[GradedPart]) -> list[str]:
    return [p.grade_id for p in parts if result.graded and result.scores.get(p.grade_id) is None]


def status_text(result: Result, parts: list[GradedPart]) -> str:
    pending = pending_manual(result, parts)
    text = f"graded, manual grading pending: {', '.join(pending)}" if pending else result.status
    return text + (" (see notes)" if result.graded and result.notes else "")


def _cell(result: Result, part: GradedPart) -> str:
    value = result.scores.get(part.grade_id)
    return "" if value is None else _fmt(value)


def _fmt(value: float) -> str:
    return f"{value:g}"


def write_reports(folder: Path, assignment: str, parts: list[GradedPart], results: list[Result],
                  executed: Callable[[str], Path]) -> Path:
    """grades.csv (one column per graded part) and one feedback page per
    student in `folder`; `executed(student)` is the path of a student's
    executed notebook. Returns the CSV's path."""
    folder.mkdir(parents=True, exist_ok=True)
    feedback_dir = folder / "feedback"
    if feedback_dir.exists():
        shutil.rmtree(feedback_dir)
    feedback_dir.mkdir()
    csv_path = folder / "grades.csv"
    max_total = sum(p.points for p in parts)
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", *[p.grade_id for p in parts], "total", "max_total", "status", "notes"])
        for r in results:
            writer.writerow([r.student, *[_cell(r, p) for p in parts], _fmt(total(r)), _fmt(max_total),
                             status_text(r, parts), "; ".join(r.notes)])
    for r in results:
        page = feedback_dir / f"{r.student}.html"
        path = executed(r.student)
        if r.graded and path.exists():
            page.write_text(_feedback(assignment, parts, r, nbformat.read(path, as_version=4)))
        else:
            page.write_text(feedback.render_problem(assignment, r.student, r.status, r.notes))
    return csv_path


def _feedback(assignment: str, parts: list[GradedPart], r: Result, nb: nbformat.NotebookNode) -> str:
    verdicts = [feedback.PartVerdict(p.grade_id, r.scores.get(p.grade_id) or 0.0, p.points,
                                     r.messages.get(p.grade_id))
                for p in parts if not p.manual]
    manual = [(p.grade_id, r.scores.get(p.grade_id), p.points) for p in parts if p.manual]
    return feedback.render(nb, assignment, r.student, total(r), sum(p.points for p in parts),
                           status_text(r, parts), r.notes, verdicts, manual)


def summary_table(results: list[Result], parts: list[GradedPart]) -> str:
    """A plain-text table of the run for the terminal."""
    headers = ["student", *[p.grade_id.removeprefix("test_") for p in parts], "total", "status"]
    rows = [[r.student, *[_cell(r, p) or "-" for p in parts], _fmt(total(r)), status_text(r, parts)] for r in results]
    return text_table(headers, rows)


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, a rule under the headers."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
