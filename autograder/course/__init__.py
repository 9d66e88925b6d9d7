"""The course: one package per assignment, and reference code by topic.

Each assignment is a folder `aN_slug/` (named like its folder in solutions/):

- `calls.py`: how each graded part's function is called (seeded inputs, what
  is sent back). It runs in the student's sandboxed kernel and knows no answer.
- `cases.py`: what is right for each part (reference, comparison, hints), in
  the grader's process; `CASES` maps part names ("a1.rnn_forward") to cases.
- `mistakes.py`: realistic wrong implementations, which pytest shows the
  cases reject and whose hints explain a student's mismatch.

`reference/` holds the reference implementations by topic and `inputs.py`
the input generators the calls share. Adding an assignment means adding a
folder: parts are found by their prefix ("a4.…" in the folder `a4_*`).
"""
from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path
from typing import Callable

from ..engine import judge
from ..engine.judge import Part

_FOLDER = re.compile(r"a\d+_\w+")


@functools.cache
def assignments() -> dict[str, str]:
    """Part-name prefix -> assignment folder, e.g. {"a1": "a1_rnn", ...}."""
    here = Path(__file__).parent
    found = sorted(p.name for p in here.iterdir() if _FOLDER.fullmatch(p.name) and (p / "cases.py").exists())
    return {name.split("_")[0]: name for name in found}


def _module(assignment: str, kind: str):
    return importlib.import_module(f"{__name__}.{assignment}.{kind}")


@functools.cache
def part(name: str) -> Part:
    """The graded part `name` ("a1.rnn_forward"); KeyError if there is none."""
    assignment = assignments()[name.split(".")[0]]
    case = _module(assignment, "cases").CASES[name]
    return Part(name, case, _module(assignment, "calls").CALLS[name], assignment)


def part_names(assignment: str | None = None) -> list[str]:
    """Every graded part's name, or one assignment's."""
    chosen = [assignment] if assignment else list(assignments().values())
    return [name for a in chosen for name in _module(a, "cases").CASES]


def check(name: str, function: Callable) -> None:
    """The hidden test of part `name`, run in this process (pytest, or an
    instructor running a solution notebook): raise `CheckFailure` saying what
    differs, or return None when every trial passes."""
    judge.check(part(name), function)
