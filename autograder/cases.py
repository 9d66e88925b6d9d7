"""The hidden-test cases: one declarative entry per graded part.

A hidden test cell in `solutions/` is one line, e.g.
`check("a1.rnn_cell_forward", rnn_cell_forward)`. The case says which seeded
inputs to try (a grid of shapes with sizes of 1 and odd sizes), which reference
to compare with, at which tolerance, and how to explain a mismatch. The same
case runs in pytest (the reference must pass, the known mistakes must fail)
and inside the notebook during grading.
"""
from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import mistakes as m
from . import reference as ref
from .compare import compare_array, compare_scalar, describe_type


@dataclass(frozen=True)
class Trial:
    """One call of the graded function: its arguments and how to name them."""

    label: str
    args: tuple


@dataclass(frozen=True)
class Mistake:
    """A known wrong implementation and the hint shown when a result matches it."""

    function: Callable
    hint: str


@dataclass(frozen=True)
class Case:
    """Everything the hidden test of one graded part needs."""

    title: str
    trials: Callable[[], list[Trial]]
    reference: Callable
    compare: Callable[[Any, Any], str | None]
    mistakes: tuple[Mistake, ...] = field(default=())


# --- input generators (seeded: the same inputs in every run) ------------------

def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _weights(rng: np.random.Generator, shape: tuple[int, ...], hidden_size: int) -> np.ndarray:
    """Uniform weights a bit larger than PyTorch's default, so tanh bends."""
    bound = 1.5 / np.sqrt(hidden_size)
    return rng.uniform(-bound, bound, size=shape)


def _rnn_params(rng: np.random.Generator, input_size: int, hidden_size: int, output_size: int) -> dict:
    return {
        "weight_ih": _weights(rng, (hidden_size, input_size), hidden_size),
        "weight_hh": _weights(rng, (hidden_size, hidden_size), hidden_size),
        "bias_ih": _weights(rng, (hidden_size,), hidden_size),
        "bias_hh": _weights(rng, (hidden_size,), hidden_size),
        "weight_hy": _weights(rng, (output_size, hidden_size), hidden_size),
        "bias_y": _weights(rng, (output_size,), hidden_size),
    }


# (batch_size, seq_len, input_size, hidden_size, output_size): sizes of 1, odd
# sizes, and no two sizes equal where a swapped axis would go unnoticed.
SHAPES = [(1, 1, 1, 1, 1), (2, 5, 3, 4, 2), (3, 7, 1, 2, 3), (1, 4, 2, 3, 1), (5, 3, 4, 1, 2), (4, 6, 5, 3, 7)]


def _label(b: int, t: int | None, i: int | None, h: int | None, o: int | None) -> str:
    names = zip(("batch_size", "seq_len", "input_size", "hidden_size", "output_size"), (b, t, i, h, o))
    return ", ".join(f"{n}={v}" for n, v in names if v is not None)


def _cell_trials() -> list[Trial]:
    rng = _rng(7101)
    trials = []
    for b, _, i, h, _ in SHAPES:
        p = _rnn_params(rng, i, h, 1)
        x_t, h_prev = rng.normal(size=(b, i)), rng.normal(scale=0.7, size=(b, h))
        trials.append(Trial(_label(b, None, i, h, None),
                            (x_t, h_prev, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])))
    return trials


def _forward_trials() -> list[Trial]:
    rng = _rng(7102)
    trials = []
    for k, (b, t, i, h, o) in enumerate(SHAPES):
        p = _rnn_params(rng, i, h, o)
        x = rng.normal(size=(b, t, i))
        h0 = np.zeros((b, h)) if k == 1 else rng.normal(scale=0.7, size=(b, h))
        trials.append(Trial(_label(b, t, i, h, o) + (", h0=0" if k == 1 else ""), (x, h0, p)))
    return trials


def _module_trials() -> list[Trial]:
    torch.manual_seed(7103)
    specs = [  # (input_size, hidden_size, output_size, RNN keyword arguments, head bias)
        (1, 1, 1, {}, True), (3, 4, 2, {"batch_first": True}, True), (5, 2, 3, {"bias": False}, True),
        (2, 3, 1, {}, False), (4, 3, 2, {"num_layers": 2}, True), (2, 3, 2, {"nonlinearity": "relu"}, True),
        (2, 3, 2, {"bidirectional": True}, True),
    ]
    trials = []
    for i, h, o, kwargs, head_bias in specs:
        rnn, head = nn.RNN(i, h, **kwargs), nn.Linear(h, o, bias=head_bias)
        extra = "".join(f", {k}={v!r}" for k, v in kwargs.items()) + ("" if head_bias else ", head without bias")
        trials.append(Trial(f"nn.RNN({i}, {h}{extra}) with nn.Linear({h}, {o})", (rnn, head)))
    return trials


def _xent_trials() -> list[Trial]:
    rng = _rng(7104)
    trials = []
    for b, t, _, _, o in SHAPES:
        logits = rng.normal(scale=3.0, size=(b, t, o))
        trials.append(Trial(_label(b, t, None, None, o), (logits, rng.integers(0, o, size=(b, t)))))
    for scale in (1e3, 1e5):  # large logits: a naive softmax overflows
        logits = rng.normal(scale=scale, size=(3, 4, 5))
        trials.append(Trial(f"batch_size=3, seq_len=4, output_size=5, logits of size {scale:g}",
                            (logits, rng.integers(0, 5, size=(3, 4)))))
    return trials


# --- comparisons ---------------------------------------------------------------

TOL = {"rtol": 1e-7, "atol": 1e-10}  # float64 throughout a1


def _compare_cell(got: Any, expected: np.ndarray) -> str | None:
    return compare_array("the new hidden state h_t", got, expected, **TOL)


def _compare_forward(got: Any, expected: tuple[np.ndarray, np.ndarray]) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"should return a tuple (hs, ys) but returned a {describe_type(got)}"
    return (compare_array("the hidden states hs", got[0], expected[0], time_axis=1, **TOL)
            or compare_array("the outputs ys", got[1], expected[1], time_axis=1, **TOL))


def _compare_params(got: Any, expected: dict[str, np.ndarray]) -> str | None:
    if not isinstance(got, dict):
        return f"should return a dict but returned a {describe_type(got)}"
    if set(got) != set(expected):
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        return f"the dict's keys are wrong (missing: {missing or 'none'}; unexpected: {extra or 'none'})"
    for key in ref.RNN_PARAM_KEYS:
        message = compare_array(f"params[{key!r}]", got[key], expected[key], rtol=0.0, atol=1e-12)
        if message:
            return message
    return None


def _compare_xent(got: Any, expected: float) -> str | None:
    message = compare_scalar("the loss", got, expected, **TOL)
    if message and "where a finite value is expected" in message:
        message += ": exp() overflows for large logits, so subtract each row's maximum first (log-sum-exp)"
    return message


CASES: dict[str, Case] = {
    "a1.rnn_cell_forward": Case(
        title="rnn_cell_forward",
        trials=_cell_trials,
        reference=ref.rnn_cell_forward,
        compare=_compare_cell,
        mistakes=(
            Mistake(m.cell_missing_bias_hh, "the result matches an RNN step without bias_hh: add both biases"),
            Mistake(m.cell_transposed_weight_hh, "the result matches weight_hh used transposed: "
                    "for batched rows the recurrent term is h_prev @ weight_hh.T"),
            Mistake(m.cell_sigmoid, "the result matches a sigmoid activation: the vanilla RNN uses tanh"),
            Mistake(m.cell_no_activation, "the result matches the pre-activation: apply tanh"),
            Mistake(m.cell_float32, "the result is float32: keep the inputs' float64 precision"),
        ),
    ),
    "a1.rnn_forward": Case(
        title="rnn_forward",
        trials=_forward_trials,
        reference=ref.rnn_forward,
        compare=_compare_forward,
        mistakes=(
            Mistake(m.forward_off_by_one, "hs looks shifted by one step: it should hold h_1..h_T, "
                    "the state after each step, not h_0..h_(T-1)"),
            Mistake(m.forward_ignores_h0, "the result matches a forward pass that starts from zeros: start from h0"),
            Mistake(m.forward_state_not_carried, "each step seems to start from h0: "
                    "feed the previous step's state into the next step"),
            Mistake(m.forward_missing_output_bias, "the outputs match y_t without bias_y: add the output bias"),
            Mistake(m.forward_transposed_weight_hh, "the result matches weight_hh used transposed"),
            Mistake(m.forward_sigmoid, "the result matches a sigmoid activation: the vanilla RNN uses tanh"),
        ),
    ),
    "a1.rnn_params_from_torch": Case(
        title="rnn_params_from_torch",
        trials=_module_trials,
        reference=ref.rnn_params_from_torch,
        compare=_compare_params,
        mistakes=(
            Mistake(m.params_transposed, "the weights look transposed: nn.RNN already stores weight_ih_l0 "
                    "as (hidden_size, input_size), the layout the NumPy code uses"),
            Mistake(m.params_missing_bias_hh, "bias_hh is zero: copy bias_hh_l0 too, nn.RNN has two biases"),
            Mistake(m.params_float32, "the arrays are float32: convert to float64"),
        ),
    ),
    "a1.sequence_cross_entropy": Case(
        title="sequence_cross_entropy",
        trials=_xent_trials,
        reference=ref.sequence_cross_entropy,
        compare=_compare_xent,
        mistakes=(
            Mistake(m.xent_sum_not_mean, "the loss matches the sum over all steps: average over batch and time"),
            Mistake(m.xent_mean_over_batch_only, "the loss matches an average over the batch only: "
                    "average over batch and time"),
            Mistake(m.xent_softmax_over_time, "the loss matches a softmax over the time axis: "
                    "normalize over the last axis, the classes"),
        ),
    ),
}


class CheckFailure(AssertionError):
    """Raised by `check()`: the message says what is wrong, in words."""


def _call(function: Callable, args: tuple) -> Any:
    """Call with private copies of the arguments and with warnings silenced
    (a warning from correct code must not cost points)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return function(*copy.deepcopy(args))


def _same(compare: Callable, a: Any, b: Any) -> bool:
    try:
        return compare(a, b) is None
    except Exception:
        return False


def _outcome(function: Callable, args: tuple) -> tuple[Any, Exception | None]:
    """(result, None) or (None, the exception raised)."""
    try:
        return _call(function, args), None
    except Exception as error:  # anything a student's code may raise
        return None, error


def failures(name: str, function: Callable) -> list[str]:
    """Run every trial of case `name` on `function`; return one message per failed trial."""
    case = CASES[name]
    messages = []
    for trial in case.trials():
        where = f"with {trial.label}"
        expected, expected_error = _outcome(case.reference, trial.args)
        got, error = _outcome(function, trial.args)
        if isinstance(error, NotImplementedError):
            return [f"{case.title} is not implemented yet (it raised NotImplementedError)"]
        if expected_error is not None:  # the reference rejects these inputs: so must the student
            if not isinstance(error, type(expected_error)):
                did = f"raised {type(error).__name__}" if error else "returned normally"
                messages.append(f"{where}: should raise {type(expected_error).__name__} but {did}")
            continue
        if error is not None:
            messages.append(f"{where}: raised {type(error).__name__}: {error}")
            continue
        problem = case.compare(got, expected)
        if problem is None:
            continue
        hints = [mk.hint for mk in case.mistakes if _same(case.compare, got, _call(mk.function, trial.args))]
        messages.append(f"{where}: {problem}" + (f". Hint: {hints[0]}" if hints else ""))
    return messages


def check(name: str, function: Callable) -> None:
    """Hidden test of one graded part: raise CheckFailure saying what differs,
    on the first failing trial, or return None when every trial passes."""
    problems = failures(name, function)
    if problems:
        title = CASES[name].title
        more = f" ({len(problems) - 1} more input sets fail too)" if len(problems) > 1 else ""
        raise CheckFailure(f"{title}: {problems[0]}{more}")
