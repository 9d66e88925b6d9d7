"""Exports an instructor uses besides grades.csv: per-part statistics and a gradebook file for the LMS.

`write_part_stats` writes `reports/<assignment>/part_stats.csv`, one row per
graded part, so an instructor sees which part the class struggled with and
the most common known mistake there; `part_stats_table` is the same for the
terminal. Only students whose status is "graded" count. Verdict messages are
never copied raw: a part's most common problem is the hint of a known mistake
(the text after ". Hint: ", which names the mistake and never contains
expected values), or, when the failing students had no hint, the gist of the
message with every number masked as "#".

`write_lms_csv` writes `reports/lms_grades.csv` from every
`reports/*/results.json` and `grades.csv` of a workspace: one row per student,
one column of total points per assignment. A cell is left empty when the
autograder has no grade to give: the student is not in that assignment's
results, the submission could not be graded (the reason is in grades.csv), or
a manually graded part is not graded yet (run `export` after grading it in
formgrader). An empty cell is not "no change" in either LMS when the
gradebook already holds a grade there (see below).

What the LMS imports require, as read in their documentation and source:

Canvas, Grades > Import (its source, instructure/canvas-lms: the class
`GradebookImporter`, and the upload step
ui/features/gradebook_uploads/jquery/process_gradebook_upload.js):
- The header row must start with a column containing "Student", then one
  containing "ID"; it may go on with "SIS User ID", "SIS Login ID" (optionally
  "Integration ID", "Root Account"), and the last student column must be
  "Section". The later columns are assignments (besides Canvas's own score
  columns and custom columns), matched by "Title (id)" or by the exact title;
  an unknown title creates a new assignment.
- Rows are matched to students by the ID column (the Canvas user id), then by
  SIS User ID, then SIS Login ID, then by the Student column equal to the
  student's name or sortable name ("Doe, Jane"). Unmatched rows are shown as
  unknown students for the instructor to resolve by hand.
- A row whose first cell contains "Points Possible" is optional: it sets the
  points of the assignment columns (used for assignments the import creates).
- The upload sends every cell whose value differs from the gradebook's, so an
  empty cell where Canvas holds a score clears that score (Canvas lists the
  changes before they are applied).
- The Canvas user id is the number after the name in the file names of a
  Canvas submissions download: `lib/content_zipper.rb` names each file
  `<sortable name>[_LATE]_<user id>_<attachment id>_<file name>`
  (`anon_<anonymous id>` instead of name and user id when grading is anonymous).
Community guide (third-party copy):
https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades
("Student Name OR Student ID OR Student SIS User ID ... SIS Login ID ...
Section ... Assignment Name"; "If a score already exists ... the uploaded
grade in the CSV will overwrite the grade").

Moodle, Grades > Import > CSV file (https://docs.moodle.org/311/en/Grade_import,
and grade/import/csv/classes/load_data.php in moodle/moodle):
- Any header row; after upload the instructor maps one column ("Map from") to
  a user field ("Map to": userid, username, useridnumber or useremail) and
  each other column to an existing grade item, a new grade item, or ignore.
- Every row must identify an enrolled user: a value that matches no user
  aborts the whole import, and (in the version read) a row whose identifier is
  empty is attributed to the previous row's user. So the file has no
  "Points Possible" row by default, and the column mapped must be filled on
  every row ("Student" is; "ID" is filled only for Canvas submissions).
- An empty cell (or "-") in a column mapped to an existing grade item is
  imported as "no grade", replacing a grade already there.
- The number in Moodle's submission file names
  (`<full name>_<number>_assignsubmission_file_`) is the assignment's
  participant id (mod/assign: `get_uniqueid_for_user`, a per-assignment
  mapping), not a user id: it matches none of the fields above. It is what the
  assignment's offline grading worksheet (Assignment > Upload grading
  worksheet, mod/assign/feedback/offline) matches, as "Participant <number>"
  in its "Identifier" column; see `write_moodle_worksheet`.

So `lms_grades.csv` has the columns Student, ID, SIS User ID, SIS Login ID,
Section (as Canvas exports them) and one column per assignment. Student is
the id found at intake; ID is the Canvas user id when the results carry one
(`lms == "canvas"`, `lms_id`, see `intake.lms_identity`), else empty; SIS User ID, SIS
Login ID and Section are empty. A row is one student: keyed by the Canvas user
id when there is one, else by the intake id.
"""
from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .notebooks import GradedPart
from .reports import Result, text_table

STATS_FILE = "part_stats.csv"
LMS_FILE = "lms_grades.csv"
WORKSHEET_FILE = "moodle_worksheet.csv"
LMS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MAX_PROBLEM_CHARS = 160

_MORE = re.compile(r"\s*\(\d+ more input sets? fails?(?: too)?\)\s*$")  # judge.summary's suffix
_NOTE = re.compile(r"\. (?=[A-Z])")  # a case's explanation, appended after the hint as a new sentence
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?!\w)")  # not in names (float64, h_1)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# --- per-part statistics ---------------------------------------------------------------

@dataclass(frozen=True)
class PartStats:
    """How the graded students did on one graded part."""

    grade_id: str
    points: float
    manual: bool
    counted: int  # graded students with a score for this part
    pending: int  # graded students without one yet (manual grading pending)
    mean: float | None  # mean points over `counted`; None when nobody counted
    full_share: float | None  # share of `counted` with full marks
    zero_share: float | None  # share of `counted` with 0 points
    problem: str  # the most common hint among failing students, or message gist; "" if none failed
    problem_kind: str  # "hint", "message" or ""
    problem_count: int  # failing students with that problem


def hint_of(message: str) -> str | None:
    """The hint of a known mistake in a verdict message, if it has one."""
    _message, sep, hint = message.rpartition(". Hint: ")
    if not sep:
        return None
    hint = _NOTE.split(_MORE.sub("", hint), maxsplit=1)[0]
    return _clean(hint) or None


def gist_of(message: str) -> str:
    """What a verdict message without a hint says, without the part's title,
    the inputs, any number (masked as "#") or a student's exception text."""
    text = _NOTE.split(_MORE.sub("", message), maxsplit=1)[0]
    title, sep, rest = text.partition(": ")
    if sep:
        text = rest
        if text.startswith("with "):
            _inputs, sep, rest = text.partition(": ")
            text = rest if sep else text
    raised = re.match(r"raised (\w+)", text)
    if raised:
        return f"raised {raised.group(1)}"
    return _clean(_NUMBER.sub("#", text))


def _clean(text: str) -> str:
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= MAX_PROBLEM_CHARS else text[: MAX_PROBLEM_CHARS - 3].rstrip() + "..."


def _most_common(counter: Counter[str]) -> tuple[str, int]:
    text, count = min(counter.items(), key=lambda item: (-item[1], item[0]))  # ties: alphabetical
    return text, count


def part_stats(parts: list[GradedPart], results: list[Result]) -> list[PartStats]:
    """One `PartStats` per part, over the results whose status is "graded"."""
    graded = [r for r in results if r.graded]
    stats = []
    for part in parts:
        scores = [r.scores.get(part.grade_id) for r in graded]
        counted = [s for s in scores if s is not None]
        n = len(counted)
        failing = [m for r in graded if (m := r.messages.get(part.grade_id)) is not None]
        hints = Counter(h for m in failing if (h := hint_of(m)) is not None)
        problem, kind, count = "", "", 0
        if hints:
            (problem, count), kind = _most_common(hints), "hint"
        elif failing:
            (problem, count), kind = _most_common(Counter(gist_of(m) for m in failing)), "message"
        stats.append(PartStats(
            grade_id=part.grade_id, points=part.points, manual=part.manual, counted=n,
            pending=len(scores) - n,
            mean=sum(counted) / n if n else None,
            full_share=sum(s >= part.points - 1e-9 for s in counted) / n if n else None,
            zero_share=sum(s == 0 for s in counted) / n if n else None,
            problem=problem, problem_kind=kind, problem_count=count))
    return stats


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return ""
    text = f"{round(value, digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _safe_cell(text: str) -> str:
    """Text a spreadsheet opening the CSV does not read as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def write_part_stats(folder: Path, parts: list[GradedPart], results: list[Result]) -> Path:
    """`folder/part_stats.csv`: one row per graded part. Columns: grade_id,
    kind (auto or manual), points, graded (students counted), pending (graded
    students whose manual score is not there yet: not in the mean), mean,
    full_marks and zero (shares of the counted students, 0 to 1), problem (the
    most common hint among failing students, or the most common message gist
    when none had a hint), problem_kind (hint or message) and problem_students."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / STATS_FILE
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["grade_id", "kind", "points", "graded", "pending", "mean", "full_marks", "zero",
                         "problem", "problem_kind", "problem_students"])
        for s in part_stats(parts, results):
            writer.writerow([s.grade_id, "manual" if s.manual else "auto", _num(s.points), s.counted, s.pending,
                             _num(s.mean), _num(s.full_share, 3), _num(s.zero_share, 3), _safe_cell(s.problem),
                             s.problem_kind, s.problem_count or ""])
    return path


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def part_stats_table(parts: list[GradedPart], results: list[Result], width: int = 70) -> str:
    """The per-part statistics as a short plain-text table for the terminal."""
    stats = part_stats(parts, results)
    headers = ["part", "points", "graded", "mean", "full", "zero", "most common problem (students)"]
    rows = []
    for s in stats:
        problem = ""
        if s.problem:
            text = s.problem if len(s.problem) <= width else s.problem[: width - 3] + "..."
            problem = f"{'hint: ' if s.problem_kind == 'hint' else ''}{text} ({s.problem_count})"
        if s.pending:
            problem = f"{s.pending} pending manual grading" + (f"; {problem}" if problem else "")
        rows.append([s.grade_id, _num(s.points), str(s.counted), _num(s.mean) or "-", _percent(s.full_share),
                     _percent(s.zero_share), problem])
    graded = sum(r.graded for r in results)
    footer = f"{graded} of {len(results)} submissions graded; the others are not in these figures."
    return text_table(headers, rows) + "\n" + footer


def _lms_id(result: dict[str, Any], lms: str) -> str:
    """The result's id in `lms`, or "" (results written before intake kept one have none)."""
    value = str(result.get("lms_id") or "")
    return value if result.get("lms") == lms and value.isdigit() else ""


# --- gradebook files -----------------------------------------------------------------------

@dataclass
class _Assignment:
    name: str
    results: list[dict[str, Any]]
    parts: list[str]  # grade_ids, from grades.csv's header (else from the results' scores)
    max_total: float | None


def _read_assignment(folder: Path) -> _Assignment:
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    parts: list[str] = []
    max_total = None
    grades = folder / "grades.csv"
    if grades.exists():
        with grades.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if rows and "total" in rows[0]:
            header = rows[0]
            parts = header[1: header.index("total")]
            if len(rows) > 1 and "max_total" in header and rows[1][header.index("max_total")]:
                max_total = float(rows[1][header.index("max_total")])
    if not parts:
        parts = list(dict.fromkeys(g for r in results for g in r.get("scores", {})))
    return _Assignment(folder.name, results, parts, max_total)


def lms_total(result: dict[str, Any], parts: list[str]) -> float | None:
    """A result's total points for the LMS, or None: not graded, or a part
    (a manual one) not graded yet."""
    scores = result.get("scores") or {}
    if result.get("status") != "graded" or any(scores.get(p) is None for p in parts):
        return None
    return float(sum(scores[p] for p in parts))


def write_lms_csv(workspace: Path, titles: dict[str, str] | None = None, points_row: bool = False) -> Path:
    """`workspace/reports/lms_grades.csv` from every assignment graded in the
    workspace (see the module's docstring for the format and why). `titles`
    renames assignment columns (folder name -> the LMS's exact assignment
    title, or Canvas's "Title (id)"); `points_row` adds Canvas's optional
    "Points Possible" row (Canvas only: Moodle rejects the file with it)."""
    reports = workspace / "reports"
    assignments = [_read_assignment(p.parent) for p in sorted(reports.glob("*/results.json"))]
    names: dict[tuple[str, str], str] = {}  # row key -> Student column
    canvas_ids: dict[tuple[str, str], str] = {}
    cells: dict[tuple[tuple[str, str], str], str] = {}
    for a in assignments:
        for r in a.results:
            canvas = _lms_id(r, "canvas")
            key = ("canvas", canvas) if canvas else ("student", str(r["student"]))
            names.setdefault(key, str(r["student"]))
            canvas_ids[key] = canvas
            cells[key, a.name] = _num(lms_total(r, a.parts))
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / LMS_FILE
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*LMS_STUDENT_COLUMNS, *[(titles or {}).get(a.name, a.name) for a in assignments]])
        if points_row:
            writer.writerow(["Points Possible", "", "", "", "", *[_num(a.max_total) for a in assignments]])
        for key in sorted(names, key=lambda k: (names[k].lower(), canvas_ids[k])):
            writer.writerow([names[key], canvas_ids[key], "", "", "",
                             *[cells.get((key, a.name), "") for a in assignments]])
    return path


def write_moodle_worksheet(folder: Path, when: datetime | None = None) -> Path | None:
    """`folder/moodle_worksheet.csv` for one assignment's report folder: the
    columns Moodle's offline grading worksheet import reads (Identifier as
    "Participant <id>", Grade, Last modified (grade); plus Full name and
    Maximum Grade, which it ignores), for the results that carry a Moodle
    participant id. Column names are Moodle's English strings: the import
    matches them in the instructor's language. Moodle skips an empty Grade, a
    grade out of the assignment's range, and (unless "Ignore modified" is
    ticked) a grade changed in Moodle after `when` (default: now).
    None, and no file, when no result has a Moodle participant id."""
    a = _read_assignment(folder)
    moodle = [r for r in a.results if _lms_id(r, "moodle")]
    if not moodle:
        return None
    stamp = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    path = folder / WORKSHEET_FILE
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)"])
        for r in sorted(moodle, key=lambda r: int(_lms_id(r, "moodle"))):
            writer.writerow([f"Participant {_lms_id(r, 'moodle')}", str(r["student"]).replace("_", " "),
                             _num(lms_total(r, a.parts)), _num(a.max_total), stamp])
    return path
