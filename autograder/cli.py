"""`python -m autograder`: release assignments and grade submissions.

    python -m autograder release [ASSIGNMENT ...]
    python -m autograder grade SUBMISSIONS --assignment a1_rnn [--workspace grading]
    python -m autograder export --assignment a1_rnn [--workspace grading]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tqdm import tqdm

from . import notebooks, sandbox
from .grading import Options, Result, Workspace, collect, summary_table


def cmd_release(args: argparse.Namespace) -> int:
    for assignment in args.assignments or notebooks.assignments():
        target = notebooks.release(assignment)
        print(f"released {assignment} -> {target.relative_to(notebooks.ROOT)}")
    return 0


def _options(args: argparse.Namespace) -> Options:
    return Options(workspace=Path(args.workspace), db_url=args.db_url, cell_timeout=args.timeout,
                   memory_gib=args.memory_gib, student_timeout=args.student_timeout,
                   sandbox=not getattr(args, "no_sandbox", False))


NO_SANDBOX_WARNING = """
!!! --no-sandbox: the students' notebooks run UNCONFINED, as you, with your files,
!!! your network and your processes in reach. Verdicts are still made outside their
!!! kernels, but a submission can read and damage anything you can. Use it only for
!!! notebooks you trust. This run's report records it.
"""


def _finish(workspace: Workspace, results: list[Result]) -> int:
    csv_path = workspace.write_reports(results)
    (workspace.reports / "results.json").write_text(json.dumps([r.__dict__ for r in results], indent=1))
    print()
    print(summary_table(results, workspace.parts))
    print()
    print(f"grades:   {csv_path}")
    print(f"feedback: {workspace.reports / 'feedback'}/<student>.html")
    failed = [r for r in results if not r.graded]
    if failed:
        print(f"{len(failed)} of {len(results)} submissions could not be graded: see the status column.")
        return 1
    print(f"all {len(results)} submissions graded.")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    workspace = Workspace(args.assignment, _options(args))
    found = collect(Path(args.submissions), workspace.notebook_name, workspace.path)
    if not found:
        print(f"no submissions found in {args.submissions}", file=sys.stderr)
        return 2
    if workspace.options.sandbox:
        problem = sandbox.available()
        if problem:
            print(f"cannot grade: the sandbox is not available ({problem}).\n"
                  "Install bubblewrap (see the README), or pass --no-sandbox to grade unconfined "
                  "(only for notebooks you trust).", file=sys.stderr)
            return 2
    else:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    print(f"grading {len(found)} submissions of {args.assignment} in {workspace.path}")
    try:
        workspace.prepare()
    except RuntimeError as error:  # e.g. the database cannot be reached
        print(f"could not set up the grading workspace: {error}", file=sys.stderr)
        return 2
    results = []
    for index, entry in enumerate(tqdm(found, desc="grading", unit="student")):
        try:
            result = workspace.grade(entry, index)
        except Exception as error:  # a fault of the grader: this student is reported, the others graded
            result = Result(entry.student, "grader error", notes=[f"{type(error).__name__}: {str(error)[:300]}"])
        if not workspace.options.sandbox:
            result.notes.append("graded WITHOUT a sandbox (--no-sandbox)")
        results.append(result)
    return _finish(workspace, results)


def cmd_export(args: argparse.Namespace) -> int:
    """Re-read the gradebook (after manual grading in formgrader) and rewrite the reports."""
    workspace = Workspace(args.assignment, _options(args))
    saved = workspace.reports / "results.json"
    if not saved.exists():
        print(f"nothing graded yet in {workspace.path}: run `grade` first", file=sys.stderr)
        return 2
    results = [Result(**r) for r in json.loads(saved.read_text())]
    for r in results:
        if r.graded:
            r.scores = workspace.read_scores(r.student)
    return _finish(workspace, results)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    sub = top.add_subparsers(dest="command", required=True)

    release = sub.add_parser("release", help="regenerate exercises/ from solutions/")
    release.add_argument("assignments", nargs="*", help="assignment folders (default: all)")
    release.set_defaults(run=cmd_release)

    for name, run, text in (("grade", cmd_grade, "autograde a folder or zip of submissions"),
                            ("export", cmd_export, "rewrite grades.csv and feedback after manual grading")):
        p = sub.add_parser(name, help=text)
        if name == "grade":
            p.add_argument("submissions", help="a folder of <student>/<notebook>.ipynb, a folder of "
                                               "<student>.ipynb files, or an LMS zip of either")
        p.add_argument("--assignment", required=True, help="assignment folder in solutions/, e.g. a1_rnn")
        p.add_argument("--workspace", default="grading", help="grading folder outside the source tree (default: grading)")
        p.add_argument("--db-url", default=None, help="gradebook database URL (default: SQLite in the workspace; "
                                                      "e.g. postgresql://user@host/db)")
        p.add_argument("--timeout", type=int, default=None,
                       help="seconds per notebook cell (default: the assignment's own setting, else 30)")
        p.add_argument("--memory-gib", type=float, default=4.0, help="memory limit per submission (default: 4)")
        p.add_argument("--student-timeout", type=int, default=900, help="seconds per submission (default: 900)")
        if name == "grade":
            p.add_argument("--no-sandbox", action="store_true",
                           help="run the notebooks without the bubblewrap sandbox (unsafe; recorded in the report)")
        p.set_defaults(run=run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
