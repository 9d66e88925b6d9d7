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
    """A known wrong implementation and the hint shown when a result matches it."""

    function: Callable
    hint: str


@dataclass(frozen=True)
class Case:
    """What is right for one graded part (how it is called: `calls_for(name)`)."""

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
