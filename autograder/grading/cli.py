"""`python -m autograder`: release assignments and grade submissions.

    python -m autograder release [ASSIGNMENT ...]
    python -m autograder grade SUBMISSIONS --assignment a1_rnn [--workspace grading] [--jobs N | --cluster ADDRESS]
    python -m autograder export --assignment a1_rnn [--workspace grading]
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from . import sandbox
from .options import Options
from .pool import LocalPool, default_workers

if TYPE_CHECKING:
    from .reports import Result
    from .workspace import Workspace

# The rest (nbformat, nbgrader, the course) is imported where it is used: the
# worker processes start first and get ready while the coordinator imports it.


def cmd_release(args: argparse.Namespace) -> int:
    from . import notebooks

    for assignment in args.assignments or notebooks.assignments():
        target = notebooks.release(assignment)
        print(f"released {assignment} -> {target.relative_to(notebooks.ROOT)}")
    return 0


def _options(args: argparse.Namespace) -> Options:
    return Options(workspace=Path(args.workspace), db_url=args.db_url, cell_timeout=args.timeout,
                   memory_gib=args.memory_gib, student_timeout=args.student_timeout,
                   sandbox=not getattr(args, "no_sandbox", False), force=getattr(args, "force", False),
                   job_deadline=getattr(args, "job_deadline", None))


NO_SANDBOX_WARNING = """
!!! --no-sandbox: the students' notebooks run UNCONFINED, as you, with your files,
!!! your network and your processes in reach. Verdicts are still made outside their
!!! kernels, but a submission can read and damage anything you can. Use it only for
!!! notebooks you trust. This run's report records it.
"""


def _finish(workspace: "Workspace", results: list["Result"]) -> int:
    from . import exports
    from .reports import summary_table

    csv_path = workspace.write_reports(results)
    (workspace.reports / "results.json").write_text(json.dumps([asdict(r) for r in results], indent=1))
    stats = exports.write_part_stats(workspace.reports, workspace.parts, results)
    lms = exports.write_lms_csv(workspace.path)  # every assignment graded in this workspace
    sheet = exports.write_moodle_worksheet(workspace.reports)
    print()
    print(summary_table(results, workspace.parts))
    print()
    print(exports.part_stats_table(workspace.parts, results))
    print()
    print(f"grades:    {csv_path}")
    print(f"feedback:  {workspace.reports / 'feedback'}/<student>.html")
    print(f"per part:  {stats}")
    print(f"LMS:       {lms} (Canvas or Moodle gradebook import; empty: not graded, or manual grading pending)")
    if sheet:
        print(f"Moodle:    {sheet} (the assignment's offline grading worksheet)")
    failed = [r for r in results if not r.graded]
    if failed:
        print(f"{len(failed)} of {len(results)} submissions could not be graded: see the status column.")
        return 1
    print(f"all {len(results)} submissions graded.")
    return 0


def _executor(args: argparse.Namespace, options: Options):
    """Where the jobs run: a Dask cluster, or worker processes here (started at
    once, so that they get ready while the workspace is set up). None, with
    the reason printed, if the sandbox cannot run there."""
    if args.cluster:
        from .cluster import DaskCluster

        try:
            executor = DaskCluster(args.cluster)
        except (RuntimeError, OSError) as error:
            print(f"cannot reach the Dask cluster at {args.cluster}: {error}", file=sys.stderr)
            return None
        problems = executor.check_workers(options.sandbox)
        if problems:
            executor.close()
            print("cannot grade on these workers:\n" +
                  "\n".join(f"  {w}: {why}" for w, why in problems.items()), file=sys.stderr)
            return None
        print(f"grading on the Dask cluster at {args.cluster} ({executor.threads()} worker threads)")
        return executor
    if options.sandbox:
        problem = sandbox.available()
        if problem:
            print(f"cannot grade: the sandbox is not available ({problem}).\n"
                  "Install bubblewrap (see the README), or pass --no-sandbox to grade unconfined "
                  "(only for notebooks you trust).", file=sys.stderr)
            return None
    workers = args.jobs or default_workers()
    print(f"grading with {workers} worker process{'es' if workers > 1 else ''} on this machine")
    return LocalPool(workers, options.workspace.resolve() / "scratch", args.assignment)


def cmd_grade(args: argparse.Namespace) -> int:
    # A run started in the background by a shell (`grade ... &`, nohup, a test
    # harness) inherits SIGINT ignored, and Python then installs no handler:
    # `kill -INT` would be lost and the run could not stop cleanly. Ctrl-C and
    # `kill -INT` stop a run the same way wherever it was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    options = _options(args)
    if not options.sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)
    executor = _executor(args, options)
    if executor is None:
        return 2
    try:
        return _grade(args, options, executor)
    finally:
        executor.close()  # with its workers' scratch folders


def _grade(args: argparse.Namespace, options: Options, executor) -> int:
    from .workspace import Workspace, collect

    workspace = Workspace(args.assignment, options)
    found = collect(Path(args.submissions), workspace.notebook_name, workspace.path)
    if not found:
        print(f"no submissions found in {args.submissions}", file=sys.stderr)
        return 2
    print(f"grading {len(found)} submissions of {args.assignment} in {workspace.path}")
    try:
        workspace.prepare()
    except RuntimeError as error:  # e.g. the database cannot be reached
        print(f"could not set up the grading workspace: {error}", file=sys.stderr)
        return 2
    bar = tqdm(total=len(found), desc="grading", unit="student")
    try:
        results = workspace.grade_all(found, executor.run, progress=lambda result: bar.update(1))
    except RuntimeError as error:  # the workers cannot start: nothing could be graded
        print(f"\ngrading stopped: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        bar.close()
        print(f"\ninterrupted: what was graded is kept in {workspace.path}; run the same command again "
              "to grade the rest (submissions already graded are skipped).", file=sys.stderr)
        return 130
    finally:
        bar.close()
    if workspace.skipped:
        print(f"{len(workspace.skipped)} submissions were graded before from the same notebook by the same "
              "grading and were not graded again (--force grades them again).")
    return _finish(workspace, results)


def cmd_export(args: argparse.Namespace) -> int:
    """Re-read the gradebook (after manual grading in formgrader) and rewrite the reports."""
    from .reports import Result
    from .workspace import Workspace

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
            where = p.add_mutually_exclusive_group()
            where.add_argument("--jobs", "-j", type=int, default=None,
                               help="submissions graded at once on this machine (default: the number of cores)")
            where.add_argument("--cluster", metavar="ADDRESS", default=None,
                               help="grade on a Dask cluster, e.g. tcp://10.0.0.5:8786 (see the README)")
            p.add_argument("--force", action="store_true",
                           help="grade again the submissions graded before from the same notebook")
            p.add_argument("--job-deadline", type=float, default=None,
                           help="seconds a worker may spend on one submission before it is taken to hang, "
                                "replaced, and the submission tried once more (default: the time allowed per "
                                "submission plus its kernels' start-up)")
        p.set_defaults(run=run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)
