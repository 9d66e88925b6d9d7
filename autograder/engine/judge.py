"""The trusted judge: what came back from a student's kernel, compared with the reference.

A `Part` is one graded part: its case (what is right, `engine.case`) and its
calls (how the student's function is called, `engine.runner.collect`). The
judge runs in the grader's process, where student code never ran; `check`
runs both halves in this process, for pytest and for an instructor running a
solution notebook. Messages never contain expected values, seeds or
reference code.
"""
from __future__ import annotations

import dataclasses
import functools
import warnings
from typing import Any, Callable

import numpy as np

from .case import Case
from .compare import describe_type
from .runner import collect as runner
from .runner import wire
from .runner.collect import Calls, Trial
from .runner.wire import Raised


class Part:
    """One graded part ("a1.rnn_forward"): its case, its calls, and the
    kernel-side module that holds the calls ("a1_rnn"). What is the same for
    every student (the reference's results, the replay tables) is computed
    once per part."""

    def __init__(self, name: str, case: Case, calls: Calls, assignment: str):
        self.name, self.case, self.calls, self.assignment = name, case, calls, assignment

    def __repr__(self) -> str:
        return f"Part({self.name!r})"

    @functools.cached_property
    def expected(self) -> tuple[tuple[Any, Exception | None], ...]:
        """(the reference's result, None) or (None, what it raised) for each
        trial: a part whose reference rejects an input expects the student's
        code to reject it too. Empty results when the part has no reference."""
        found = []
        for trial in self.calls.trials():
            if self.case.reference is None:
                found.append((None, None))
                continue
            try:
                found.append((_run(self.calls, self.case.reference, trial), None))
            except Exception as error:
                found.append((None, error))
        return tuple(found)

    @functools.cached_property
    def replay_tables(self) -> list[dict[str, str]] | None:
        """The sealed answers of the earlier part's function for each trial, if
        the calls swap one in; else None."""
        if self.case.chain is None:
            return None
        return [runner.seal_table(self.case.chain(trial.make())) for trial in self.calls.trials()]


class CheckFailure(AssertionError):
    """Raised by `check()`: the message says what is wrong, in words."""


def _run(calls: Calls, function: Callable, trial: Trial) -> Any:
    """Run trusted code (the reference, a known mistake) the way the part is
    called, in this process, through the same plain-data round trip as the
    student's results, so both sides are compared in the same form."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = calls.run(function, trial.make())
    (decoded,) = wire.unpack(*wire.pack([result]))
    return decoded


def _same(case: Case, calls: Calls, got: Any, mistake: Callable, trial: Trial) -> bool:
    """Does the student's result match what a known mistake gives?"""
    try:
        return case.compare(got, _run(calls, mistake, trial)) is None
    except Exception:
        return False


def _compare(case: Case, got: Any, expected: Any) -> str | None:
    try:
        return case.compare(got, expected)
    except Exception:  # a result of a shape the comparison did not foresee
        return f"the result (a {describe_type(got)}) is not of the form this part returns"


def _judge(case: Case, calls: Calls, got: Any, trial: Trial, expected: Any,
           expected_error: Exception | None) -> str | None:
    """The message for one trial's outcome, or None if it passes."""
    where = f"with {trial.label}"
    if expected_error is not None:
        if isinstance(got, Raised) and got.is_a(type(expected_error).__name__):
            return None
        did = f"raised {got.name}" if isinstance(got, Raised) else "returned normally"
        return f"{where}: should raise {type(expected_error).__name__} but {did}"
    if isinstance(got, Raised):
        meaning = [hint for text, hint in case.error_hints if text in got.message]
        return f"{where}: raised {got.name}: {got.message}" + (f". Hint: {meaning[0]}" if meaning else "")
    problem = _compare(case, got, expected)
    if problem is None:
        return None
    hints = [] if case.by_properties else [
        mk.hint for mk in case.mistakes if _same(case, calls, got, mk.function, trial)]
    return f"{where}: {problem}" + (f". Hint: {hints[0]}" if hints else "")


def judge(part: Part, outcomes: list[Any]) -> list[str]:
    """Messages for the outcomes (results or `Raised`, in trial order) that
    came back from the student's kernel for `part`; [] when all pass."""
    case, calls = part.case, part.calls
    trials = calls.trials()
    if len(outcomes) != len(trials):
        return [f"the grader's calls of {calls.function} did not all come back"]
    for got in outcomes:  # one message when the inputs do not matter
        if isinstance(got, Raised) and got.is_a("NotImplementedError"):
            return [f"{case.title} is not implemented yet (it raised NotImplementedError)"]
        if isinstance(got, Raised) and got.is_a("NotDefined"):
            return [f"{calls.function} is not defined in the notebook (was its cell run, or renamed?)"]
        if isinstance(got, Raised) and got.is_a("TorchHidden") and calls.hides_torch:
            used = got.message.partition("tried to ")[2] or "use it"
            return [f"{calls.hides_torch}, so torch is hidden while {case.title} runs, but it tried to {used}"]
        if isinstance(got, Raised) and got.is_a("TorchHidden") and calls.blocks_why:
            used = got.message.partition("tried to ")[2] or "use one of them"
            return [f"{calls.blocks_why}, but {case.title} tried to {used}"]
    judged = [(trial, _judge(case, calls, got, trial, *want))
              for trial, got, want in zip(trials, outcomes, part.expected)]
    messages = [message for _, message in judged if message]
    note = case.explain([(t, msg is None) for t, msg in judged]) if case.explain and messages else None
    if note:
        messages[0] += f". {note}"
    return messages


def summary(part: Part, problems: list[str]) -> str | None:
    """One message for a part: the first failing trial, and how many more fail."""
    if not problems:
        return None
    others = len(problems) - 1
    more = f" ({others} more input set{'s fail' if others > 1 else ' fails'} too)" if others else ""
    return f"{part.case.title}: {problems[0]}{more}"


def failures(part: Part, function: Callable) -> list[str]:
    """Run every trial of `part` on `function` in this process, through
    the same plain-data round trip as grading; one message per failed trial.
    Only the part's reference, trusted code, may use torch where the part hides it."""
    calls, case = part.calls, part.case
    if function is case.reference:  # trusted code: it may use torch where students may not
        calls = dataclasses.replace(calls, hides_torch=None, blocks=())
    elif any(function is mistake.function for mistake in case.mistakes):
        calls = dataclasses.replace(calls, blocks=())  # built on the reference's modules: judged by its result
    text, arrays = runner.collect(calls, function, part.replay_tables, part.name.split(".")[-1])
    return judge(part, wire.unpack(text, arrays))


def check(part: Part, function: Callable) -> None:
    """Hidden test of one graded part, run in this process (pytest, or an
    instructor running a solution notebook): raise CheckFailure saying what
    differs, or return None when every trial passes."""
    message = summary(part, failures(part, function))
    if message:
        raise CheckFailure(message)

