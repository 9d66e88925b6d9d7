"""The instructor's exports: per-part statistics and the LMS gradebook files.

Reports are built here from fake results (no grading run): grades.csv by the
same `reports.write_reports` as a real run, results.json as `cli._finish`
writes it, plus the `lms`/`lms_id` fields that intake would add.
"""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autograder.grading import exports, reports
from autograder.grading.exports import (gist_of, hint_of, part_stats_table, write_lms_csv, write_moodle_worksheet,
                                        write_part_stats)
from autograder.grading.intake import find_submissions, lms_identity
from autograder.grading.notebooks import GradedPart
from autograder.grading.reports import Result

PARTS = [GradedPart("test_a", 10.0, False), GradedPart("test_b", 5.0, False), GradedPart("answer", 5.0, True)]
HINT_X = "hs looks shifted by one step: it should hold h_1..h_T, not h_0..h_(T-1)"
HINT_Y = "the result matches a sigmoid activation: the vanilla RNN uses tanh"
SECRETS = ("0.123456789", "SECRET-VALUE", "4.2e-07")  # what a message must never carry into an export


def msg(problem: str, hint: str | None = None, more: int = 0, note: str = "") -> str:
    """A verdict as judge.summary builds it."""
    text = f"rnn_forward: with batch_size=2, seq_len=3: {problem}" + (f". Hint: {hint}" if hint else "")
    text += f". {note}" if note else ""
    return text + (f" ({more} more input sets fail too)" if more else "")


def class_results() -> list[Result]:
    return [
        Result("alice", "graded", {"test_a": 10.0, "test_b": 5.0, "answer": 4.0},
               messages={"test_a": None, "test_b": None}),
        Result("bob", "graded", {"test_a": 0.0, "test_b": 5.0, "answer": None},
               messages={"test_a": msg("hs differs at [0, 1] (off by 0.123456789)", HINT_X), "test_b": None}),
        Result("carol", "graded", {"test_a": 0.0, "test_b": 0.0, "answer": 2.0},
               messages={"test_a": msg("hs differs", HINT_X, more=2, note="The error is in the recursion"),
                         "test_b": msg("hs has shape (2, 3), expected shape (3, 2)")}),
        Result("dave", "graded", {"test_a": 0.0, "test_b": 0.0, "answer": 5.0},
               messages={"test_a": msg("h differs (rtol=4.2e-07)", HINT_Y),
                         "test_b": msg("raised ValueError: SECRET-VALUE is 0.123456789")}),
        Result("erin", "kernel died", {}, notes=["the kernel died"]),
    ]


def save(workspace: Path, assignment: str, results: list[Result], parts: list[GradedPart] = PARTS,
         lms: dict[str, tuple[str, str]] | None = None) -> Path:
    """grades.csv and results.json of one assignment, as a grading run leaves them."""
    folder = workspace / "reports" / assignment
    reports.write_reports(folder, assignment, parts, results, executed=lambda student: folder / "none.ipynb")
    saved = []
    for r in results:
        entry = dict(r.__dict__)
        if lms and r.student in lms:
            entry["lms"], entry["lms_id"] = lms[r.student]
        saved.append(entry)
    (folder / "results.json").write_text(json.dumps(saved, indent=1))
    return folder


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# --- per-part statistics ---------------------------------------------------------------

def test_part_stats_csv(tmp_path):
    path = write_part_stats(tmp_path / "a1_rnn", PARTS, class_results())
    assert path == tmp_path / "a1_rnn" / "part_stats.csv"
    rows = read_csv(path)
    assert rows[0] == ["grade_id", "kind", "points", "graded", "pending", "mean", "full_marks", "zero",
                       "problem", "problem_kind", "problem_students"]
    by_id = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert list(by_id) == ["test_a", "test_b", "answer"]
    a, b, answer = by_id["test_a"], by_id["test_b"], by_id["answer"]
    # erin (kernel died) is not counted anywhere
    assert (a["kind"], a["points"], a["graded"], a["pending"]) == ("auto", "10", "4", "0")
    assert (a["mean"], a["full_marks"], a["zero"]) == ("2.5", "0.25", "0.75")  # (10 + 0 + 0 + 0) / 4
    # the most common hint, 2 of 3 failing students (carol's has a note and a "more" suffix)
    assert (a["problem"], a["problem_kind"], a["problem_students"]) == (HINT_X, "hint", "2")
    assert (b["mean"], b["full_marks"], b["zero"]) == ("2.5", "0.5", "0.5")
    # no hint among failing students: the gist of their messages, numbers masked; tie -> alphabetical
    assert (b["problem"], b["problem_kind"], b["problem_students"]) == (
        "hs has shape (#, #), expected shape (#, #)", "message", "1")
    # manual part: bob's score is not there yet, so the mean is over 3 students
    assert (answer["kind"], answer["graded"], answer["pending"]) == ("manual", "3", "1")
    assert (answer["mean"], answer["full_marks"], answer["zero"]) == ("3.67", "0.333", "0")  # (4 + 2 + 5) / 3
    assert (answer["problem"], answer["problem_kind"], answer["problem_students"]) == ("", "", "")


def test_part_stats_never_copy_messages(tmp_path):
    """Only hints (canned text) and masked gists leave the messages: no value,
    no student exception text, no inputs, in the CSV or the terminal table."""
    results = class_results()
    text = write_part_stats(tmp_path, PARTS, results).read_text() + part_stats_table(PARTS, results)
    for secret in (*SECRETS, "batch_size", "ValueError: "):
        assert secret not in text
    assert "raised ValueError" in gist_of(results[3].messages["test_b"])


def test_most_common_hint_wins_over_messages_without_hint(tmp_path):
    results = [Result(s, "graded", {"test_a": 0.0}, messages={"test_a": msg("differs")}) for s in "abc"]
    results.append(Result("d", "graded", {"test_a": 0.0}, messages={"test_a": msg("differs", HINT_Y)}))
    rows = read_csv(write_part_stats(tmp_path, PARTS[:1], results))
    assert rows[1][8:] == [HINT_Y, "hint", "1"]


def test_part_stats_with_nobody_graded(tmp_path):
    rows = read_csv(write_part_stats(tmp_path, PARTS[:1], [Result("x", "no .ipynb file in the submission")]))
    assert rows[1] == ["test_a", "auto", "10", "0", "0", "", "", "", "", "", ""]


def test_problem_text_cannot_become_a_formula(tmp_path):
    """A student's exception text after a fake '. Hint: ' is not a formula in a spreadsheet."""
    message = msg("raised ValueError: x. Hint: =HYPERLINK(\"http://evil\")")
    rows = read_csv(write_part_stats(tmp_path, PARTS[:1], [Result("x", "graded", {"test_a": 0.0},
                                                                  messages={"test_a": message})]))
    assert rows[1][8].startswith("'=")


def test_part_stats_table():
    table = part_stats_table(PARTS, class_results())
    lines = table.splitlines()
    assert lines[0].split()[:6] == ["part", "points", "graded", "mean", "full", "zero"]
    a = next(line for line in lines if line.startswith("test_a"))
    assert a.split()[1:6] == ["10", "4", "2.5", "25%", "75%"]
    assert len(HINT_X) > 70 and a.endswith(f"hint: {HINT_X[:67]}... (2)")  # cut to 70 characters
    answer = next(line for line in lines if line.startswith("answer"))
    assert answer.split()[1:6] == ["5", "3", "3.67", "33%", "0%"]
    assert "1 pending manual grading" in answer
    assert lines[-1] == "4 of 5 submissions graded; the others are not in these figures."
    assert len(lines) == 6 and max(map(len, lines)) < 140


@pytest.mark.parametrize("message,hint", [
    (msg("differs"), None),
    (msg("differs", HINT_X), HINT_X),
    (msg("differs", HINT_X, more=3, note="The gradients are right for one step"), HINT_X),
    (msg("differs", "dh_T/dh_t = J_T @ J_(T-1) @ ... @ J_(t+1)", more=1), "dh_T/dh_t = J_T @ J_(T-1) @ ... @ J_(t+1)"),
])
def test_hint_of(message, hint):
    assert hint_of(message) == hint


def test_gist_of():
    assert gist_of(msg("h has dtype float32, expected float64")) == "h has dtype float32, expected float64"
    assert gist_of(msg("values differ at [3, 4] (off by 2.5 times rtol=1e-06)", more=2)) == \
        "values differ at [#, #] (off by # times rtol=#)"
    assert gist_of("rnn_forward is not implemented yet (it raised NotImplementedError)") == \
        "rnn_forward is not implemented yet (it raised NotImplementedError)"
    assert gist_of("rnn_forward: not graded, the time allowed per submission (900 s) ran out") == \
        "not graded, the time allowed per submission (# s) ran out"


# --- LMS identities ----------------------------------------------------------------------

@pytest.mark.parametrize("name,identity", [
    ("doejane_12345_67890_a1_rnn", ("canvas", "12345")),
    ("doejane_LATE_12345_67890_a1_rnn-1", ("canvas", "12345")),
    ("doejane_12345_67890_my_copy", ("canvas", "12345")),
    ("anon_ab12c_67890_a1_rnn", None),  # anonymous grading: no user id in the name
    ("LATE_anon_ab12c_67890_1_a1_rnn", None),
    ("Jane Doe_12345_assignsubmission_file_", ("moodle", "12345")),
    ("Jane Doe_12345_assignsubmission_file_a1_rnn", ("moodle", "12345")),
    ("Participant_77_assignsubmission_file_", ("moodle", "77")),  # blind marking
    ("alice", None),
    ("alice_a1_rnn", None),
])
def test_lms_identity(name, identity):
    assert lms_identity(name) == identity


# --- LMS gradebook file -------------------------------------------------------------------

def graded(student: str, a: float, b: float, answer: float | None) -> Result:
    return Result(student, "graded", {"test_a": a, "test_b": b, "answer": answer})


def two_assignments(workspace: Path) -> None:
    save(workspace, "a1_rnn", [
        graded("alice", 10, 5, 4.5),     # 19.5 of 20
        graded("bob", 10, 0, None),      # manual grading pending: no grade yet
        Result("carol", "does not parse"),
        graded("frank", 0, 0, 1),        # a Moodle submission: its participant id is not a user id
    ], lms={"alice": ("canvas", "111"), "bob": ("canvas", "222"), "frank": ("moodle", "999")})
    save(workspace, "a2_bptt", [
        graded("alice-2", 10, 5, 5),     # same Canvas user, another intake id (name collision renamed)
        graded("dave", 0, 5, 0),         # dave is not in a1_rnn; no LMS id (an old results.json)
    ], lms={"alice-2": ("canvas", "111")})


def test_lms_csv(tmp_path):
    two_assignments(tmp_path)
    path = write_lms_csv(tmp_path)
    assert path == tmp_path / "reports" / "lms_grades.csv"
    assert read_csv(path) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "a1_rnn", "a2_bptt"],
        ["alice", "111", "", "", "", "19.5", "20"],
        ["bob", "222", "", "", "", "", ""],
        ["carol", "", "", "", "", "", ""],
        ["dave", "", "", "", "", "", "5"],
        ["frank", "", "", "", "", "1", ""],
    ]


def test_lms_csv_titles_and_points_row(tmp_path):
    two_assignments(tmp_path)
    rows = read_csv(write_lms_csv(tmp_path, titles={"a1_rnn": "Assignment 1: RNNs (4567)"}, points_row=True))
    assert rows[0][5:] == ["Assignment 1: RNNs (4567)", "a2_bptt"]
    assert rows[1] == ["Points Possible", "", "", "", "", "20", "20"]  # max_total from grades.csv
    assert rows[2][:2] == ["alice", "111"]


def test_lms_csv_follows_what_canvas_and_moodle_read(tmp_path):
    """The header rules of Canvas's GradebookImporter, and Moodle's need of a
    filled identifier on every row and no non-student row."""
    two_assignments(tmp_path)
    rows = read_csv(write_lms_csv(tmp_path))
    header = rows[0]
    assert "Student" in header[0] and "ID" in header[1]
    assert header[2:4] == ["SIS User ID", "SIS Login ID"] and header[4] == "Section"
    assert all(len(row) == len(header) for row in rows)
    assert all(row[0] and "Points Possible" not in row[0] for row in rows[1:])
    assert all(cell == "" or float(cell) >= 0 for row in rows[1:] for cell in row[5:])


def test_lms_csv_without_grades_csv(tmp_path):
    folder = tmp_path / "reports" / "a1_rnn"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps([graded("alice", 10, 5, 5).__dict__,
                                                     graded("bob", 10, 5, None).__dict__]))
    assert read_csv(write_lms_csv(tmp_path))[1:] == [["alice", "", "", "", "", "20"], ["bob", "", "", "", "", ""]]


def test_lms_csv_of_an_empty_workspace(tmp_path):
    assert read_csv(write_lms_csv(tmp_path)) == [exports.LMS_STUDENT_COLUMNS]


# --- Moodle grading worksheet --------------------------------------------------------------

def test_moodle_worksheet(tmp_path):
    folder = save(tmp_path, "a1_rnn", [graded("Jane_Doe", 10, 5, 5), graded("John_Roe", 10, 0, None),
                                       graded("alice", 10, 5, 5)],
                  lms={"Jane_Doe": ("moodle", "12"), "John_Roe": ("moodle", "7"), "alice": ("canvas", "5")})
    when = datetime(2025, 1, 31, 12, 0, tzinfo=timezone.utc)
    path = write_moodle_worksheet(folder, when)
    assert path == folder / "moodle_worksheet.csv"
    assert read_csv(path) == [
        ["Identifier", "Full name", "Grade", "Maximum Grade", "Last modified (grade)"],
        ["Participant 7", "John Roe", "", "20", "2025-01-31T12:00:00+00:00"],  # pending: Moodle skips it
        ["Participant 12", "Jane Doe", "20", "20", "2025-01-31T12:00:00+00:00"],
    ]


def test_no_moodle_worksheet_without_moodle_ids(tmp_path):
    folder = save(tmp_path, "a1_rnn", [graded("alice", 10, 5, 5)])
    assert write_moodle_worksheet(folder) is None
    assert not (folder / "moodle_worksheet.csv").exists()


def test_intake_keeps_the_lms_id_that_the_export_keys_rows_by(tmp_path):
    """Canvas and Moodle downloads: the student id and the LMS id come from the names at intake."""
    (tmp_path / "doejane_LATE_12345_67890_a1_rnn.ipynb").write_text("{}")
    (tmp_path / "Jane Roe_4321_assignsubmission_file_").mkdir()
    (tmp_path / "Jane Roe_4321_assignsubmission_file_" / "a1_rnn.ipynb").write_text("{}")
    (tmp_path / "alice.ipynb").write_text("{}")
    found = {f.student: (f.lms, f.lms_id) for f in find_submissions(tmp_path, "a1_rnn.ipynb")}
    assert found == {"doejane": ("canvas", "12345"), "Jane_Roe": ("moodle", "4321"), "alice": ("", "")}
