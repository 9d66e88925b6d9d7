"""Call a student's function the way the grader asks, and return plain data.

This package is what the grader puts inside the student's sandbox, beside
the student's kernel: the input generators of one assignment, this module and
`wire`. It knows no right answer: no reference, no expected values, no
comparisons, no hints. For each graded part the grader runs, in the kernel,

    display_result(assignment, part, globals(), tables)

which calls the student's function on every trial's inputs and displays what
came back (or what was raised) as plain data; the grader reads it at once and
judges it in its own process, where student code never ran.

A part that calls an earlier part's function (a1's `rnn_forward` calls
`rnn_cell_forward`) is graded with that function replaced by a `Replay`: it
answers exactly the calls a correct implementation makes, from a table the
grader computes with its reference, so a mistake in the earlier part costs its
points once (any other call goes to the student's own function). Each answer is sealed with a key derived from its call's exact
arguments, so the table gives nothing to code that does not make those calls.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import inspect
import json
import struct
import warnings
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

from . import wire
from .hiding import blocked, torch_hidden

NOT_DEFINED = "NotDefined"


@dataclass(frozen=True)
class Trial:
    """One call of the graded function: its arguments and how to name them.
    `args` is a tuple (copied for every call) or a function that builds fresh
    arguments (for arguments that refer to each other, like a loss function
    and the array it reads, or a model and its optimizer)."""

    label: str
    args: tuple | Callable[[], tuple]

    def make(self) -> tuple:
        return self.args() if callable(self.args) else copy.deepcopy(self.args)


def call(function: Callable, args: tuple) -> Any:
    """The default way to run a graded function: its return value."""
    return function(*args)


@dataclass(frozen=True)
class Swap:
    """An earlier part's function that a graded function may call, replaced by
    a `Replay` during the call. `parameters` are its parameter names in order."""

    name: str
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class Calls:
    """How the grader calls the student's code for one graded part."""

    function: str  # the name in the notebook: a function, or a value such as a trained model
    trials: Callable[[], list[Trial]]
    run: Callable[[Callable, tuple], Any] = call  # what of a call is sent back
    hides_torch: str | None = None  # why torch is hidden during the call, if it is
    swaps: tuple[Swap, ...] = field(default=())
    # torch's ready-made functions the part may not call ("torch.lstm_cell"), and why
    blocks: tuple[str, ...] = field(default=())
    blocks_why: str | None = None


# --- replayed earlier parts ----------------------------------------------------

INDEX, KEY = b"index:", b"key:"


def _seal(arguments: tuple, outcome: Any) -> tuple[str, str]:
    """(index, sealed answer) of one call a correct implementation makes."""
    text, arrays = wire.pack([outcome])
    blob = struct.pack(">I", len(text)) + text.encode() + arrays
    stream = hashlib.shake_256(KEY + wire.digest(arguments).encode()).digest(len(blob))
    sealed = bytes(a ^ b for a, b in zip(blob, stream))
    return hashlib.sha256(INDEX + wire.digest(arguments).encode()).hexdigest(), base64.b64encode(sealed).decode()


def seal_table(calls: list[tuple[tuple, Any]]) -> dict[str, str]:
    """The grader's side: a table of sealed answers from (arguments, result) pairs."""
    return dict(_seal(arguments, result) for arguments, result in calls)


class ReplayMiss(RuntimeError):
    """A replayed function was called with arguments no correct implementation passes."""


class Replay:
    """Stands in for an earlier part's function during a later part's call."""

    def __init__(self, swap: Swap, part: str, table: dict[str, str], own: Any = None):
        self.swap, self.part, self.table, self.own = swap, part, table, own
        self.signature = inspect.Signature(
            [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in swap.parameters])
        self.__name__ = swap.name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            if callable(self.own):  # the student's own signature, say: their function answers
                return self.own(*args, **kwargs)
            raise ReplayMiss(f"{self.swap.name} was called with the wrong arguments: {error}") from None
        arguments = tuple(bound.arguments[p] for p in self.swap.parameters)
        sealed = self.table.get(hashlib.sha256(INDEX + wire.digest(arguments).encode()).hexdigest())
        if sealed is None and callable(self.own):
            # a call no correct implementation makes in this form (zeros for a None
            # bias, say): the student's own function answers it
            return self.own(*args, **kwargs)
        if sealed is None:
            raise ReplayMiss(
                f"while {self.part} is graded, a correct {self.swap.name} stands in for yours, so that a "
                f"mistake in it costs points only once; it answers the calls a correct {self.part} makes, "
                f"and this call's arguments differ from all of them (dtype, shape or values: each step's "
                f"input slice, the state from the step before, the weights as given)")
        blob = base64.b64decode(sealed)
        stream = hashlib.shake_256(KEY + wire.digest(arguments).encode()).digest(len(blob))
        plain = bytes(a ^ b for a, b in zip(blob, stream))
        (length,) = struct.unpack(">I", plain[:4])
        (outcome,) = wire.unpack(plain[4:4 + length], plain[4 + length:])
        return outcome


@contextmanager
def _swapped(scope: dict, replays: list[Replay]) -> Iterator[None]:
    kept = {r.swap.name: scope.get(r.swap.name, _MISSING) for r in replays}
    try:
        scope.update({r.swap.name: r for r in replays})
        yield
    finally:
        for name, value in kept.items():
            if value is _MISSING:
                scope.pop(name, None)
            else:
                scope[name] = value


_MISSING = object()


# --- calling -----------------------------------------------------------------

class NotDefined(NameError):
    """The graded name is not defined in the notebook."""


def outcome(calls: Calls, function: Any, trial: Trial, table: dict[str, str] | None = None,
            part: str = "this part") -> Any:
    """The result of one graded call, or the exception it raised (returned, not raised)."""
    if function is _MISSING:
        return NotDefined(f"{calls.function} is not defined in the notebook")
    scope = getattr(function, "__globals__", None)
    replays = [Replay(s, part, table or {}, scope.get(s.name)) for s in calls.swaps] \
        if isinstance(scope, dict) else []
    try:
        args = trial.make()
        with ExitStack() as stack:
            stack.enter_context(warnings.catch_warnings())
            warnings.simplefilter("ignore")
            stack.enter_context(np.errstate(all="ignore"))
            if replays:
                stack.enter_context(_swapped(scope, replays))
            if calls.hides_torch:
                stack.enter_context(torch_hidden(function))
            elif calls.blocks:
                stack.enter_context(blocked(function, calls.blocks))
            return calls.run(function, args)
    except (Exception, SystemExit) as error:  # anything the student's code may raise
        return error


def _module(assignment: str) -> Any:
    # ...course.<assignment>.calls, wherever this package is (here, or in the sandbox)
    return importlib.import_module(f"...course.{assignment}.calls", __package__)


def collect(calls: Calls, function: Any, tables: list[dict[str, str]] | None = None,
            part: str = "this part") -> tuple[str, bytes]:
    """Every trial's outcome for `function`, packed as plain data."""
    with _default_settings():
        trials = calls.trials()
        args = [_made(trial) for trial in trials]
    outcomes = [outcome(calls, function, Trial(trial.label, lambda made=made: made), tables[k] if tables else None,
                        part)
                if not isinstance(made, BaseException) else made
                for k, (trial, made) in enumerate(zip(trials, args))]
    return wire.pack(outcomes)


def _made(trial: Trial) -> tuple | BaseException:
    """A trial's arguments, built now (under the default settings); the
    student's call later gets them as they are."""
    try:
        return trial.make()
    except Exception as error:  # the notebook broke something the inputs need
        return error


RESULT_MIME = "application/vnd.rnn-course.result+json"


def display_result(assignment: str, part: str, scope: dict, tables: str) -> None:
    """The grader's call in the student's kernel: collect part `part` of
    `assignment` for the notebook's namespace `scope` (with the replay tables,
    as JSON) and display the packed result for the grader to read."""
    from IPython.display import display

    calls = _module(assignment).CALLS[part]
    text, arrays = collect(calls, scope.get(calls.function, _MISSING), json.loads(tables), part.split(".")[-1])
    display({RESULT_MIME: {"json": text, "npz": base64.b64encode(arrays).decode()}}, raw=True)


@contextmanager
def _default_settings() -> Iterator[None]:
    """While the trials build their inputs: torch's defaults, which a notebook
    may have changed (the grader builds the same inputs in its own process).
    The student's settings are back for the calls themselves."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    dtype, grad = torch.get_default_dtype(), torch.is_grad_enabled()
    torch.set_default_dtype(torch.float32)
    torch.set_grad_enabled(True)
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad)
