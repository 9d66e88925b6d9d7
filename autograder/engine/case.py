"""The case model: what is right for one graded part, and the known mistakes that explain a wrong result.

A case is data. The same case is judged for a student in the grader's process
(`autograder.engine.judge`), for pytest, and for an instructor running a
solution notebook; how the part is called lives beside it, in the
assignment's `calls` module (`autograder.engine.runner.collect.Calls`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .runner.collect import Trial


@dataclass(frozen=True)
class Mistake:
    """A known wrong implementation ("mutant") and the hint shown when a result matches it.

    Each is a mistake students make, kept in the assignment's `mistakes.py`.
    A case uses them twice: pytest shows that the case rejects every one, and
    the judge compares a failing student's result with them to add the hint
    ("looks like weight_hh is transposed"). They reuse the reference with one
    thing changed, so each differs from a right answer in exactly the way its
    name says. For a part whose calls hide torch (`Calls.hides_torch`) they
    are NumPy or plain Python, as a student's code must be: the tests run
    them as students, with torch hidden."""

    function: Callable
    hint: str


def variant(step: Callable, name: str, **options: Any) -> Callable:
    """`step` with some options fixed: one named wrong implementation
    (`variant(_bptt, "backward_sum_not_mean", flaw="sum_not_mean")`)."""
    def mistake(*args: Any, **kwargs: Any) -> Any:
        return step(*args, **kwargs, **options)
    mistake.__name__ = name
    return mistake


@dataclass(frozen=True)
class Case:
    """What is right for one graded part (how it is called: the assignment's `calls.CALLS`)."""

    title: str
    reference: Callable | None  # None: judged by properties alone
    compare: Callable[[Any, Any], str | None]
    mistakes: tuple[Mistake, ...] = field(default=())
    explain: Callable[[list[tuple[Trial, bool]]], str | None] | None = None  # from which trials pass
    error_hints: tuple[tuple[str, str], ...] = ()  # (text in an exception's message, what it means)
    # True when compare() judges properties of the result alone (the expected
    # value is unused): the mistakes' hints are then phrases of its messages.
    by_properties: bool = False
    # For a part whose Calls swap in an earlier part's function: from a trial's
    # arguments, the (arguments, result) of every call a correct implementation
    # makes to it, computed with the reference.
    chain: Callable[[tuple], list[tuple[tuple, Any]]] | None = None
