"""Hostile submissions against the sandboxed grader: one grading run, many checks.

Every cheat of tests/adversarial.py must get 0 where it solves nothing, every
honest student its exact points; nothing the students start may outlive the run,
touch the instructor's tree, the environment, other submissions or the reports.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from adversarial import CANARY_FILE, CANARY_FILE_TEXT, MARKER, PARTS, make_adversarial

pytestmark = pytest.mark.slow

ENV_CANARY = "canary-1234"
NOBODY = 65534


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file of the instructor's tree (and the top-level names), so
    that a change names its files."""
    digests = {"<top-level names>": " ".join(sorted(p.name for p in root.iterdir()))}
    for top in ("solutions", "exercises", "autograder", "nbgrader_config.py"):
        for path in sorted([root / top, *(root / top).rglob("*")]):
            if path.is_file() and "__pycache__" not in path.parts:
                digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def site_listing() -> list[tuple[str, int, int]]:
    """Names, sizes and mtimes of the venv's site-packages top level (and of prefix/lib)."""
    import site

    rows = []
    for folder in sorted({*site.getsitepackages(), sys.prefix}):
        for path in sorted(Path(folder).iterdir()):
            stat = path.stat()
            rows.append((str(path), stat.st_size, stat.st_mtime_ns))
    return rows


def processes() -> dict[int, tuple[int, str, str, str]]:
    """pid -> (uid, cmdline, cwd, environ) of every visible process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uid = entry.stat().st_uid
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                cwd = ""
            try:
                environ = (entry / "environ").read_bytes().decode(errors="replace")
            except OSError:
                environ = ""
        except OSError:
            continue
        found[int(entry.name)] = (uid, cmdline, cwd, environ)
    return found


def ours(work: Path, before: set[int]) -> list[str]:
    """Live processes the run started: new since `before`, and tied to the run's
    folder (its cwd, command line or environment names it) or to a cheat's marker."""
    return [f"{pid} uid={uid} {cmd[:120]!r} cwd={cwd}" for pid, (uid, cmd, cwd, env) in processes().items()
            if pid not in before and pid != os.getpid()
            and (str(work) in cmd or str(work) in cwd or str(work) in env or MARKER in cmd)]


def mtimes(paths: list[Path]) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in paths if p.exists()}


@pytest.fixture(scope="module")
def run(root, tmp_path_factory):
    from autograder.grading import sandbox

    problem = sandbox.available()
    if problem:
        pytest.skip(problem)
    work = tmp_path_factory.mktemp("adversarial")
    students = make_adversarial(root / "exercises/a1_rnn/a1_rnn.ipynb", root / "solutions/a1_rnn/a1_rnn.ipynb")
    written: dict[Path, bytes] = {}
    for student, (nb, _) in students.items():
        target = work / "submissions" / student / "a1_rnn.ipynb"
        target.parent.mkdir(parents=True)
        target.write_text(nbformat.writes(nb))
        written[target] = target.read_bytes()
    canary = work / "submissions" / "h_right" / CANARY_FILE
    canary.write_text(CANARY_FILE_TEXT)
    written[canary] = canary.read_bytes()

    tree_before, site_before = tree_digest(root), site_listing()
    procs_before = set(processes())
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"],
           "INSTRUCTOR_SECRET": ENV_CANARY}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade", "submissions", "--assignment", "a1_rnn",
                           "--workspace", "W", "--timeout", "10"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=3000)
    elapsed = time.monotonic() - start
    workspace = work / "W"
    watched = [workspace / "gradebook.db", *(workspace / "reports").rglob("*")]
    stamps = mtimes(watched)
    time.sleep(1.0)
    survivors_at_exit = ours(work, procs_before)
    time.sleep(4.0)
    print(f"\ngraded {len(students)} submissions in {elapsed:.0f} s: {elapsed / len(students):.1f} s each")
    submitted = sorted((p.stat().st_mtime, p.parts[-3]) for p in (workspace / "submitted").glob("*/a1_rnn/a1_rnn.ipynb"))
    for (t0, student), (t1, _) in zip(submitted, submitted[1:]):
        print(f"  {student}: {t1 - t0:.1f} s")
    print(done.stdout[-4000:])
    return {"work": work, "done": done, "students": students, "written": written, "tree_before": tree_before,
            "site_before": site_before, "procs_before": procs_before, "stamps": stamps, "watched": watched,
            "survivors_at_exit": survivors_at_exit}


def test_every_student_gets_exactly_its_points(run):
    path = run["work"] / "W/reports/a1_rnn/grades.csv"
    assert path.exists(), run["done"].stdout + run["done"].stderr
    with path.open() as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(run["students"]), run["done"].stdout + run["done"].stderr
    wrong = {}
    for student, (_, expected) in run["students"].items():
        got = [rows[student][p] for p in PARTS]
        if got != [str(x) for x in expected]:
            wrong[student] = (got, expected, rows[student]["status"], rows[student]["notes"][:300])
    assert not wrong, wrong


def test_nothing_the_students_started_survives(run):
    assert not run["survivors_at_exit"], run["survivors_at_exit"]
    assert not ours(run["work"], run["procs_before"])
    nobody = [f"{pid} {cmd[:120]!r} cwd={cwd}" for pid, (uid, cmd, cwd, _) in processes().items() if uid == NOBODY]
    if nobody:  # another test run may have kernels of its own: name them, fail only on ours
        print("processes of uid 65534 alive (not started by this run):", nobody)
    assert not [p for p in nobody if str(run["work"]) in p or MARKER in p]


def test_instructor_tree_and_environment_untouched(run, root):
    after, before = tree_digest(root), run["tree_before"]
    changed = sorted(k for k in {*after, *before} if after.get(k) != before.get(k))
    # (the sandbox cannot see this tree: a change here while the run lasted may also be a
    # person editing the package at the same time; the mtimes and owners tell which)
    assert not changed, [(k, time.ctime((root / k).stat().st_mtime) if (root / k).exists() else "gone")
                         for k in changed]
    assert site_listing() == run["site_before"]
    assert not (root / "W").exists() and not (root / "grading").exists()


def test_other_submissions_are_byte_identical(run):
    changed = [str(p) for p, data in run["written"].items() if not p.exists() or p.read_bytes() != data]
    assert not changed, changed


def test_reports_not_modified_after_the_grader_exited(run):
    assert mtimes(run["watched"]) == run["stamps"]
    for path in run["watched"]:
        if path.is_file() and path.suffix in (".csv", ".html"):
            assert "HACKED-BY" not in path.read_text(errors="replace"), path


TAG = re.compile(r"<[a-zA-Z][^>]*>")


def test_feedback_pages_are_inert_and_leak_nothing(run):
    pages = sorted((run["work"] / "W/reports/a1_rnn/feedback").glob("*.html"))
    assert {p.stem for p in pages} == set(run["students"])
    texts = {p.name: p.read_text() for p in pages}
    csv_text = (run["work"] / "W/reports/a1_rnn/grades.csv").read_text()
    problems = []
    for name, text in [*texts.items(), ("grades.csv", csv_text)]:
        for secret in ("<script", "BEGIN HIDDEN TESTS", "check(", "autograder.course import", "autograder.engine",
                       "730517", "730_517",
                       ENV_CANARY, "INSTRUCTOR_SECRET", CANARY_FILE_TEXT, "REFERENCE-IMPORTED", "NETWORK-OK",
                       "WROTE-OK", "HACKED-BY"):
            if secret.lower() in text.lower():
                problems.append((name, secret))
        for tag in TAG.findall(text):  # escaped text may show ' onerror=': no real tag may carry it
            if re.search(r"\son\w+\s*=|javascript:|<(script|iframe|svg|object|embed)", tag, re.I):
                problems.append((name, tag[:200]))
    assert not problems, problems
