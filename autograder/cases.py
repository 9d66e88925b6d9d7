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
import itertools
import re
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import mistakes as m
from . import reference as ref
from .compare import compare_array, compare_scalar, compare_tensor, describe_type
from .hiding import TorchHidden, torch_hidden


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
    run: Callable[[Callable, tuple], Any] = call  # what of a call is compared
    explain: Callable[[list[tuple[Trial, bool]]], str | None] | None = None  # from which trials pass
    error_hints: tuple[tuple[str, str], ...] = ()  # (text in an exception's message, what it means)
    # True when compare() judges properties of the result alone (the expected
    # value is unused): the mistakes' hints are then phrases of its messages.
    by_properties: bool = False
    # Why the part forbids torch, when it does ("this part is NumPy only"): the
    # student's function then runs with torch hidden (autograder.hiding), and
    # using torch fails the part with a message that gives this reason.
    hides_torch: str | None = None


NUMPY_ONLY = "this part is NumPy only"


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


def _compare_keys(got: Any, expected: dict, what: str) -> str | None:
    """A dict result must be a dict with exactly the expected keys."""
    if not isinstance(got, dict):
        return f"should return a dict of {what} but returned a {describe_type(got)}"
    if set(got) != set(expected):
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        return f"the dict's keys are wrong (missing: {missing or 'none'}; unexpected: {extra or 'none'})"
    return None


def _compare_params(got: Any, expected: dict[str, np.ndarray]) -> str | None:
    message = _compare_keys(got, expected, "parameters")
    if message:
        return message
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
        hides_torch=NUMPY_ONLY,
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
        hides_torch=NUMPY_ONLY,
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
        hides_torch=NUMPY_ONLY,
        mistakes=(
            Mistake(m.xent_sum_not_mean, "the loss matches the sum over all steps: average over batch and time"),
            Mistake(m.xent_mean_over_batch_only, "the loss matches an average over the batch only: "
                    "average over batch and time"),
            Mistake(m.xent_softmax_over_time, "the loss matches a softmax over the time axis: "
                    "normalize over the last axis, the classes"),
        ),
    ),
}


# --- a2: backpropagation through time ------------------------------------------

A2_TOL = {"rtol": 1e-7, "atol": 1e-10}


def _backward_trials() -> list[Trial]:
    """Caches of the a2 forward pass; shortest sequences first, so the first
    failure tells whether one step already goes wrong or only the recursion."""
    rng = _rng(7201)
    trials = []
    # output_size >= 2: with one class the softmax is constant and every gradient is 0
    grid = sorted({(b, t, i, h, max(o, 2)) for b, t, i, h, o in [*SHAPES, (3, 1, 2, 3, 2)]},
                  key=lambda shape: (shape[1], shape))
    for b, t, i, h, o in grid:
        p = _rnn_params(rng, i, h, o)
        x, h0 = rng.normal(size=(b, t, i)), rng.normal(scale=0.7, size=(b, h))
        targets = rng.integers(0, o, size=(b, t))
        _, cache = ref.rnn_forward_with_cache(x, targets, h0, p)
        trials.append(Trial(_label(b, t, i, h, o), (cache,)))
    return trials


def _compare_grads(got: Any, expected: dict[str, np.ndarray]) -> str | None:
    message = _compare_keys(got, expected, "gradients")
    if message:
        return message
    wrong = {k: compare_array(f"grads[{k!r}]", got[k], expected[k], **A2_TOL) for k in ref.GRAD_KEYS}
    bad = [k for k, message in wrong.items() if message]
    if not bad:
        return None
    right = [k for k in ref.GRAD_KEYS if k not in bad]
    return wrong[bad[0]] + (f"; also wrong: {', '.join(bad[1:])}" if len(bad) > 1 else "") + (
        f"; right: {', '.join(right)}" if right else "")


def _explain_backward(passed: list[tuple[Trial, bool]]) -> str | None:
    """Right for one time step but not for more: the recursion is wrong."""
    one_step = [ok for trial, ok in passed if "seq_len=1," in trial.label]
    longer = [ok for trial, ok in passed if "seq_len=1," not in trial.label]
    if one_step and all(one_step) and not all(longer):
        return ("The gradients are right for sequences of one time step and wrong for longer ones, "
                "so the error is in the recursion: how the gradient reaches h_t from step t + 1 "
                "(W_hh^T times the next step's delta), added to the gradient from h_t's own output")
    return None


def _quadratic_trials() -> list[Trial]:
    """Loss functions that read an array: f() depends on every entry."""
    rng = _rng(7202)
    trials = []
    for shape in [(1,), (3,), (2, 3), (4, 1)]:
        weights = rng.normal(size=(5, int(np.prod(shape))))
        start = rng.normal(size=shape)

        def make(weights=weights, start=start):
            param = start.copy()
            return (lambda: float(np.sum(np.tanh(weights @ param.reshape(-1)) ** 2) + np.sum(param ** 3)), param)
        trials.append(Trial(f"a loss of an array of shape {shape}", make))
    return trials


def _run_numerical(function: Callable, args: tuple) -> tuple[Any, np.ndarray]:
    """The gradient, and the array afterwards (it must be restored)."""
    f, param = args
    start = param.copy()
    grad = function(f, param)
    return grad, (param - start)


def _compare_numerical(got: Any, expected: tuple[np.ndarray, np.ndarray]) -> str | None:
    grad, changed = got
    if np.any(changed != 0):
        return "the array is not the same after the call: restore every entry after perturbing it"
    return compare_array("the numerical gradient", grad, expected[0], rtol=1e-6, atol=1e-8)


def _relative_error_trials() -> list[Trial]:
    rng = _rng(7203)
    a = rng.normal(size=(3, 4))
    return [
        Trial("two different arrays", (a, rng.normal(size=(3, 4)))),
        Trial("two equal arrays", (a, a.copy())),
        Trial("nearly equal arrays", (a, a + 1e-7 * rng.normal(size=(3, 4)))),
        Trial("arrays of size 1e-9", (1e-9 * a, 1e-9 * (a + 0.1))),
        Trial("arrays of size 1e6", (1e6 * a, 1e6 * (a + 0.1))),
        Trial("two zero arrays", (np.zeros(3), np.zeros(3))),
    ]


def _clip_trials() -> list[Trial]:
    rng = _rng(7204)
    shapes = [[(3, 4), (5,)], [(2,)], [(1, 1), (4, 3), (3,)]]
    trials = []
    for k, grad_shapes in enumerate(shapes):
        for max_norm in (0.5, 100.0):
            grads = [rng.normal(scale=1 + k, size=shape) for shape in grad_shapes]
            trials.append(Trial(f"gradients of shapes {grad_shapes}, max_norm={max_norm}", (grads, max_norm)))
    return trials


def _run_clip(function: Callable, args: tuple) -> tuple[Any, list[np.ndarray]]:
    """The returned norm, and the gradient arrays afterwards (clipped in place)."""
    grads, max_norm = args
    return function(grads, max_norm), [g.copy() for g in grads]


def _compare_clip(got: Any, expected: tuple[float, list[np.ndarray]]) -> str | None:
    norm, grads = got
    message = compare_scalar("the returned norm", norm, expected[0], rtol=1e-9, atol=1e-12)
    if message:
        return message + " (return the total norm of all gradients before clipping)"
    for i, (g, e) in enumerate(zip(grads, expected[1])):
        message = compare_array(f"gradient {i} after the call", g, e, rtol=1e-9, atol=1e-12)
        if message:
            return message + " (scale every array in place by the same factor)"
    return None


def _tbptt_trials() -> list[Trial]:
    specs = [(2, 7, 3, 4, 3, 3), (1, 5, 2, 3, 2, 1), (3, 6, 1, 2, 2, 10), (2, 8, 2, 5, 4, 4)]
    trials = []
    for n, (b, t, i, h, o, k) in enumerate(specs):
        def make(b=b, t=t, i=i, h=h, o=o, k=k, seed=7205 + n):
            torch.manual_seed(seed)
            rnn, head = nn.RNN(i, h, batch_first=True).double(), nn.Linear(h, o).double()
            optimizer = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.5)
            x = torch.randn(b, t, i, dtype=torch.float64)
            return rnn, head, x, torch.randint(0, o, (b, t)), k, optimizer
        trials.append(Trial(_label(b, t, i, h, o) + f", k={k}", make))
    return trials


def _run_tbptt(function: Callable, args: tuple) -> tuple[Any, list[np.ndarray]]:
    """The returned losses, and the parameters after training."""
    rnn, head = args[0], args[1]
    losses = function(*args)
    return losses, [p.detach().numpy().copy() for p in (*rnn.parameters(), *head.parameters())]


def _compare_tbptt(got: Any, expected: tuple[list[float], list[np.ndarray]]) -> str | None:
    losses, params = got
    if not isinstance(losses, (list, tuple)):
        return f"should return a list of chunk losses but returned a {describe_type(losses)}"
    if not all(isinstance(v, float) for v in losses):
        return "the chunk losses should be Python floats: append loss.item(), not the tensor"
    if len(losses) != len(expected[0]):
        return (f"returned {len(losses)} chunk losses, expected {len(expected[0])}: one per chunk of k "
                "steps, the last chunk shorter if k does not divide seq_len")
    message = compare_array("the chunk losses", np.array(losses), np.array(expected[0]),
                            rtol=1e-9, atol=1e-12, time_axis=0)
    if message:
        return re.sub(r"time step t=(\d+) \(index \d+\) of (\d+)", r"chunk \1 of \2", message)
    for got_p, want in zip(params, expected[1]):
        if not np.allclose(got_p, want, rtol=1e-9, atol=1e-12):
            return "the losses match but the parameters after training do not: one optimizer step per chunk"
    return None


def _jacobian_trials() -> list[Trial]:
    rng = _rng(7206)
    trials = []
    for t, i, h, radius in [(1, 1, 1, 0.9), (6, 2, 3, 0.5), (8, 3, 4, 1.0), (5, 1, 5, 2.0), (9, 2, 2, 1.5)]:
        w_hh = rng.normal(size=(h, h))
        w_hh *= radius / max(abs(np.linalg.eigvals(w_hh)).max(), 1e-12)  # spectral radius `radius`
        args = (rng.normal(size=(t, i)), rng.normal(scale=0.5, size=h), rng.normal(size=(h, i)),
                w_hh, rng.normal(scale=0.3, size=h))
        trials.append(Trial(f"seq_len={t}, input_size={i}, hidden_size={h}, spectral radius {radius}", args))
    return trials


def _compare_jacobian(got: Any, expected: np.ndarray) -> str | None:
    message = compare_array("the norms ||dh_T/dh_t||", got, expected, rtol=1e-7, atol=1e-12, time_axis=0)
    if message:  # entry i is t = i here, from t = 0 (h0) to t = T
        message = re.sub(r"time step t=\d+ \(index (\d+)\) of (\d+)",
                         lambda m: f"t={m[1]} (entries are t=0..{int(m[2]) - 1})", message)
    return message


A2_CASES: dict[str, Case] = {
    "a2.rnn_backward": Case(
        title="rnn_backward",
        trials=_backward_trials,
        reference=ref.rnn_backward,
        compare=_compare_grads,
        explain=_explain_backward,
        hides_torch=NUMPY_ONLY,
        mistakes=(
            Mistake(m.backward_no_output_path, "the gradients match a backward pass that forgets the path "
                    "from each h_t to its own output y_t: add W_hy^T dy_t at every step, not only the last"),
            Mistake(m.backward_transposed_weight_hh, "grads['weight_hh'] looks transposed: "
                    "it is the sum over t of da_t^T @ h_(t-1)"),
            Mistake(m.backward_tanh_prime_of_a, "the tanh derivative looks like 1 - a_t**2: "
                    "it is 1 - tanh(a_t)**2 = 1 - h_t**2"),
            Mistake(m.backward_tanh_of_h, "the tanh derivative looks like 1 - tanh(h_t)**2: "
                    "h_t is already tanh(a_t), so it is 1 - h_t**2"),
            Mistake(m.backward_h0_without_weight, "grads['h0'] looks like delta_1 itself: "
                    "it is W_hh^T delta_1, in batched rows delta_1 @ weight_hh"),
            Mistake(m.backward_recursion_transposed, "the gradient passed back to h_(t-1) seems to use W_hh "
                    "instead of W_hh^T: in batched rows it is delta_t @ weight_hh, not delta_t @ weight_hh.T"),
            Mistake(m.backward_sum_not_mean, "the gradients are B*T times too large: the loss is a mean "
                    "over batch and time, so dy_t = (p_t - onehot(c_t)) / (B*T)"),
            Mistake(m.backward_last_step_only, "the recurrent gradients only count the last step: "
                    "sum the contributions of every time step"),
            Mistake(m.backward_h0_missing, "grads['h0'] is zero: it is W_hh^T da_1, the gradient that "
                    "reaches h0 from the first step"),
        ),
    ),
    "a2.numerical_gradient": Case(
        title="numerical_gradient",
        trials=_quadratic_trials,
        reference=ref.numerical_gradient,
        compare=_compare_numerical,
        run=_run_numerical,
        hides_torch=NUMPY_ONLY,
        mistakes=(
            Mistake(m.numgrad_forward_difference, "this matches a forward difference (f(p + eps) - f(p)) / eps: "
                    "use the central difference"),
            Mistake(m.numgrad_half_step, "the gradient is twice too large: divide by 2 * eps"),
            Mistake(m.numgrad_on_copy, "the gradient is all zeros: perturb param itself, not a copy "
                    "(param.flatten() copies; param.reshape(-1) of a contiguous array does not)"),
        ),
    ),
    "a2.relative_error": Case(
        title="relative_error",
        trials=_relative_error_trials,
        reference=ref.relative_error,
        compare=lambda got, expected: compare_scalar("the relative error", got, expected, rtol=1e-9, atol=1e-15),
        hides_torch=NUMPY_ONLY,
        mistakes=(
            Mistake(m.relerr_no_denominator, "this is the absolute error ||a - b||: divide by ||a|| + ||b||"),
            Mistake(m.relerr_max_denominator, "divide by ||a|| + ||b|| (at least 1e-12), not by ||a|| alone"),
            Mistake(m.relerr_second_denominator, "divide by ||a|| + ||b|| (at least 1e-12), not by ||b|| alone"),
        ),
    ),
    "a2.clip_grad_norm": Case(
        title="clip_grad_norm",
        trials=_clip_trials,
        reference=ref.clip_grad_norm,
        compare=_compare_clip,
        run=_run_clip,
        hides_torch=NUMPY_ONLY,
        mistakes=(
            Mistake(m.clip_per_tensor, "each array seems clipped by its own norm: clip by the global norm "
                    "of all arrays together"),
            Mistake(m.clip_returns_clipped_norm, "this returns the norm after clipping: return it from before"),
            Mistake(m.clip_not_in_place, "the arrays are unchanged: scale them in place (g *= factor)"),
            Mistake(m.clip_also_scales_up, "small gradients were scaled up: only scale when the factor is below 1"),
        ),
    ),
    "a2.tbptt_train": Case(
        title="tbptt_train",
        trials=_tbptt_trials,
        reference=ref.tbptt_train,
        compare=_compare_tbptt,
        run=_run_tbptt,
        error_hints=(("backward through the graph a second time",
                      "the state is not detached between chunks: state = state.detach()"),),
        mistakes=(
            Mistake(m.tbptt_state_reset, "every chunk seems to start from a zero state: "
                    "carry the last state of a chunk into the next one (detached)"),
            Mistake(m.tbptt_no_zero_grad, "the gradients of earlier chunks seem to add up: "
                    "call optimizer.zero_grad() before each backward"),
            Mistake(m.tbptt_whole_sequence, "this trains once on the whole sequence: split it into chunks of k steps"),
        ),
    ),
    "a2.jacobian_norms": Case(
        title="jacobian_norms",
        trials=_jacobian_trials,
        reference=ref.jacobian_norms,
        compare=_compare_jacobian,
        hides_torch=NUMPY_ONLY,
        mistakes=(
            Mistake(m.jacnorm_no_tanh_derivative, "the norms match powers of W_hh alone: "
                    "each step's Jacobian is diag(1 - h_(t+1)**2) @ W_hh"),
            Mistake(m.jacnorm_reversed_product, "the product seems to be taken in the wrong order: "
                    "dh_T/dh_t = J_T @ J_(T-1) @ ... @ J_(t+1)"),
            Mistake(m.jacnorm_frobenius, "these are Frobenius norms: use the spectral norm, np.linalg.norm(J, 2)"),
            Mistake(m.jacnorm_off_by_one, "the tanh derivative seems taken one step too early: "
                    "dh_(t+1)/dh_t = diag(1 - h_(t+1)**2) @ W_hh"),
            Mistake(m.jacnorm_reversed_order, "the norms are in reverse order: entry t is ||dh_T/dh_t|| "
                    "for t = 0..T, so the first entry is for h0 and the last one is 1"),
        ),
    ),
}
CASES.update(A2_CASES)


class CheckFailure(AssertionError):
    """Raised by `check()`: the message says what is wrong, in words."""


def _call(case: Case, function: Callable, trial: Trial, hide: bool = False) -> Any:
    """Call with private copies of the arguments and with warnings silenced
    (a warning from correct code must not cost points); with torch hidden
    during the call if `hide`."""
    args = trial.make()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        with torch_hidden(function) if hide else nullcontext():
            return case.run(function, args)


def _same(case: Case, got: Any, mistake: Callable, trial: Trial) -> bool:
    """Does the student's result match what a known mistake gives?"""
    try:
        return case.compare(got, _call(case, mistake, trial)) is None
    except Exception:
        return False


def _outcome(case: Case, function: Callable, trial: Trial, hide: bool = False) -> tuple[Any, Exception | None]:
    """(result, None) or (None, the exception raised)."""
    try:
        return _call(case, function, trial, hide), None
    except Exception as error:  # anything a student's code may raise
        return None, error


def _judge(case: Case, function: Callable, trial: Trial) -> str | None:
    """The message for one trial, or None if the function passes it.
    Raises NotImplementedError or TorchHidden if the function does.
    Only the reference, trusted code, may use torch in a part that hides it."""
    where = f"with {trial.label}"
    expected, expected_error = _outcome(case, case.reference, trial)
    got, error = _outcome(case, function, trial, hide=bool(case.hides_torch) and function is not case.reference)
    if isinstance(error, (NotImplementedError, TorchHidden)):
        raise error
    if expected_error is not None:  # the reference rejects these inputs: so must the student
        if isinstance(error, type(expected_error)):
            return None
        did = f"raised {type(error).__name__}" if error else "returned normally"
        return f"{where}: should raise {type(expected_error).__name__} but {did}"
    if error is not None:
        meaning = [hint for text, hint in case.error_hints if text in str(error)]
        return f"{where}: raised {type(error).__name__}: {error}" + (f". Hint: {meaning[0]}" if meaning else "")
    problem = case.compare(got, expected)
    if problem is None:
        return None
    hints = [] if case.by_properties else [mk.hint for mk in case.mistakes if _same(case, got, mk.function, trial)]
    return f"{where}: {problem}" + (f". Hint: {hints[0]}" if hints else "")


def failures(name: str, function: Callable) -> list[str]:
    """Run every trial of case `name` on `function`; return one message per failed trial."""
    case = CASES[name]
    judged = []
    for trial in case.trials():
        try:
            judged.append((trial, _judge(case, function, trial)))
        except NotImplementedError:
            return [f"{case.title} is not implemented yet (it raised NotImplementedError)"]
        except TorchHidden as error:  # one message: the inputs do not matter
            return [f"{case.hides_torch}, so torch is hidden while {case.title} runs, "
                    f"but it tried to {error.used}"]
    messages = [message for _, message in judged if message]
    note = case.explain([(t, m is None) for t, m in judged]) if case.explain and messages else None
    if note:
        messages[0] += f". {note}"
    return messages


def check(name: str, function: Callable) -> None:
    """Hidden test of one graded part: raise CheckFailure saying what differs,
    on the first failing trial, or return None when every trial passes."""
    problems = failures(name, function)
    if problems:
        title = CASES[name].title
        others = len(problems) - 1
        more = f" ({others} more input set{'s fail' if others > 1 else ' fails'} too)" if others else ""
        raise CheckFailure(f"{title}: {problems[0]}{more}")


# --- a3: gated cells ------------------------------------------------------------

A3_TOL = {"rtol": 1e-6, "atol": 1e-8}  # float64 tensors: "matches torch.nn to 1e-6"
SATURATE = 40.0  # a bias this large holds a gate at 0 or 1 to float64 precision


def _tensors(rng: np.random.Generator, gates: int, input_size: int, hidden_size: int,
             bias: bool = True) -> tuple:
    """weight_ih (gates*H, I), weight_hh (gates*H, H), bias_ih, bias_hh (gates*H,) as
    float64 tensors, a bit larger than PyTorch's default so that gates differ."""
    rows = gates * hidden_size
    shapes = [(rows, input_size), (rows, hidden_size)] + [(rows,)] * 2
    made = [torch.from_numpy(_weights(rng, shape, hidden_size) * 1.5) for shape in shapes]
    return tuple(made) if bias else (made[0], made[1], None, None)


def _gate_label(b: int, i: int, h: int, extra: str = "") -> str:
    return _label(b, None, i, h, None) + extra


def _saturated(bias: torch.Tensor, hidden: int, gates: str, settings: dict[str, float]) -> torch.Tensor:
    """A copy of `bias` with the rows of the named gates pushed to +-SATURATE."""
    bias = bias.clone()
    for gate, sign in settings.items():
        k = gates.index(gate)
        bias[k * hidden:(k + 1) * hidden] += sign * SATURATE
    return bias


LSTM_PROBES = {  # gate under test -> the other gates held at 0 (-1) or 1 (+1)
    "f": {"i": -1, "o": +1},  # c_t = f * c_prev
    "i": {"g": +1, "o": +1},  # with c_prev = 0: c_t = i
    "g": {"i": +1, "o": +1},  # with c_prev = 0: c_t = g
    "o": {"f": +1, "i": -1},  # c_t = c_prev, h_t = o * tanh(c_prev)
}
GATE_NAMES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g", "o": "output gate o",
              "r": "reset gate r", "z": "update gate z", "n": "candidate n"}


def _lstm_cell_trials() -> list[Trial]:
    rng = _rng(7301)
    trials = []
    for b, _, i, h, _ in SHAPES:
        x, hc = torch.from_numpy(rng.normal(size=(b, i))), torch.from_numpy(rng.normal(scale=0.7, size=(b, h)))
        c = torch.from_numpy(rng.normal(scale=1.5, size=(b, h)))
        trials.append(Trial(_gate_label(b, i, h), (x, (hc, c), *_tensors(rng, 4, i, h))))
    x, state = torch.from_numpy(rng.normal(size=(3, 2))), tuple(torch.from_numpy(rng.normal(size=(3, 4))) for _ in "hc")
    trials.append(Trial(_gate_label(3, 2, 4, ", bias_ih = bias_hh = None"), (x, state, *_tensors(rng, 4, 2, 4, bias=False))))
    for gate, settings in LSTM_PROBES.items():  # last: explain() reads them
        w_ih, w_hh, b_ih, b_hh = _tensors(rng, 4, 2, 3)
        x, state = torch.from_numpy(rng.normal(size=(4, 2))), tuple(torch.from_numpy(rng.normal(size=(4, 3))) for _ in "hc")
        if gate in "ig":  # c_prev = 0 takes the forget gate out
            state = (state[0], torch.zeros_like(state[1]))
        held = ", ".join(f"{k}={'1' if v > 0 else '0'}" for k, v in settings.items()) + (
            ", c_prev=0" if gate in "ig" else "")
        trials.append(Trial(f"probe of the {GATE_NAMES[gate]} (gates held at {held})",
                            (x, state, w_ih, w_hh, _saturated(b_ih, 3, "ifgo", settings), b_hh)))
    return trials


def _compare_pair(got: Any, expected: tuple, names: tuple[str, str], what: str) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"should return a tuple {what} but returned a {describe_type(got)}"
    wrong = [compare_tensor(n, g, e, **A3_TOL) for n, g, e in zip(names, got, expected)]
    if wrong[0] and wrong[1]:
        return f"{wrong[0]}; {names[1]} is wrong too"
    if wrong[0] or wrong[1]:
        return (wrong[0] or wrong[1]) + f"; {names[1] if wrong[0] else names[0]} is right"
    return None


def _compare_lstm_cell(got: Any, expected: tuple) -> str | None:
    return _compare_pair(got, expected, ("the new hidden state h", "the new cell state c"), "(h, c)")


def _explain_probes(passed: list[tuple[Trial, bool]]) -> str | None:
    """Name the gates whose probe fails, when some probes pass."""
    probes = {t.label.split("probe of the ")[1].split(" (")[0]: ok for t, ok in passed if t.label.startswith("probe")}
    wrong, right = [g for g, ok in probes.items() if not ok], [g for g, ok in probes.items() if ok]
    if wrong and right:
        return (f"Probing one gate at a time (the other gates held at 0 or 1 by large biases): "
                f"{', '.join(wrong)} differ{'s' if len(wrong) == 1 else ''}; {', '.join(right)} "
                f"match{'es' if len(right) == 1 else ''}")
    return None


def _lstm_layer_trials() -> list[Trial]:
    rng = _rng(7302)
    trials = []
    for k, (b, t, i, h, _) in enumerate(SHAPES):
        x = torch.from_numpy(rng.normal(size=(b, t, i)))
        state = None if k % 2 else tuple(torch.from_numpy(rng.normal(scale=0.8, size=(1, b, h))) for _ in "hc")
        extra = ", state=None" if state is None else ", state given"
        trials.append(Trial(_label(b, t, i, h, None) + extra, (x, *_tensors(rng, 4, i, h), state)))
    x = torch.from_numpy(rng.normal(size=(2, 3, 2)))
    state = tuple(torch.from_numpy(rng.normal(size=(1, 2, 3))) for _ in "hc")
    trials.append(Trial(_label(2, 3, 2, 3, None) + ", state given, no biases", (x, *_tensors(rng, 4, 2, 3, bias=False), state)))
    return trials


def _run_layer(function: Callable, args: tuple) -> Any:
    """Call the student's layer with the reference cell in place of their
    `lstm_cell`, if it uses one: a mistake in Part A is not charged twice."""
    scope = getattr(function, "__globals__", {})
    if not callable(scope.get("lstm_cell")):
        return function(*args)
    own = scope["lstm_cell"]
    scope["lstm_cell"] = ref.lstm_cell
    try:
        return function(*args)
    finally:
        scope["lstm_cell"] = own


def _compare_lstm_layer(got: Any, expected: tuple) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1], tuple) or len(got[1]) != 2:
        return f"should return (output, (h_n, c_n)) but returned a {describe_type(got)} of another form"
    return (compare_tensor("the output", got[0], expected[0], time_axis=1, **A3_TOL)
            or _compare_pair(got[1], expected[1], ("h_n", "c_n"), "(h_n, c_n)"))


GRU_PROBES = {"z": {"n": +1}, "n": {"z": -1}}  # h_t = (1 - z) + z * h_prev; h_t = n


def _gru_trials() -> list[Trial]:
    rng = _rng(7303)
    trials = []
    for b, _, i, h, _ in SHAPES[1:] + SHAPES[:1]:  # hidden_size=1 later: there r*(W h) = W (r*h)
        for reset_after in (True, False):
            x, hp = torch.from_numpy(rng.normal(size=(b, i))), torch.from_numpy(rng.normal(scale=0.7, size=(b, h)))
            trials.append(Trial(_gate_label(b, i, h, f", reset_after={reset_after}"),
                                (x, hp, *_tensors(rng, 3, i, h), reset_after)))
    for reset_after in (True, False):
        x, hp = torch.from_numpy(rng.normal(size=(3, 2))), torch.from_numpy(rng.normal(size=(3, 4)))
        trials.append(Trial(_gate_label(3, 2, 4, f", bias_ih = bias_hh = None, reset_after={reset_after}"),
                            (x, hp, *_tensors(rng, 3, 2, 4, bias=False), reset_after)))
    for gate, settings in GRU_PROBES.items():
        for reset_after in (True, False):
            w_ih, w_hh, b_ih, b_hh = _tensors(rng, 3, 2, 3)
            x, hp = torch.from_numpy(rng.normal(size=(4, 2))), torch.from_numpy(rng.normal(size=(4, 3)))
            held = ", ".join(f"{g}={'1' if v > 0 else '0'}" for g, v in settings.items())
            trials.append(Trial(f"probe of the {GATE_NAMES[gate]} (held: {held}), reset_after={reset_after}",
                                (x, hp, w_ih, w_hh, _saturated(b_ih, 3, "rzn", settings), b_hh, reset_after)))
    return trials


def _explain_gru(passed: list[tuple[Trial, bool]]) -> str | None:
    """Which variant fails, and which probed gate."""
    notes = []
    for flag, name in (("True", "PyTorch's variant (reset_after=True)"), ("False", "Cho et al.'s (reset_after=False)")):
        results = [ok for t, ok in passed if t.label.endswith(f"reset_after={flag}") or f"reset_after={flag}," in t.label]
        if results and all(results):
            notes.append(f"{name} is right")
    probes = _explain_probes([(t, ok) for t, ok in passed])
    return "; ".join(notes + ([probes] if probes else [])) or None


def _compare_gru(got: Any, expected: torch.Tensor) -> str | None:
    return compare_tensor("the new hidden state h", got, expected, **A3_TOL)


# Part D is graded on properties, so its messages carry the hints themselves.
ORTHO_TOL, BIAS_TOL = 1e-5, 1e-6


def _init_trials() -> list[Trial]:
    def build(seed: int, *args, **kwargs) -> Callable[[], tuple]:
        def make() -> tuple:
            torch.manual_seed(seed)
            return (nn.LSTM(*args, **kwargs),)
        return make
    specs = [((3, 5), {}), ((30, 40), {}), ((4, 6), {"num_layers": 2, "bidirectional": True}), ((1, 1), {}),
             ((7, 2), {"batch_first": True})]
    return [Trial(f"nn.LSTM({', '.join(map(str, a))}{''.join(f', {k}={v}' for k, v in kw.items())})",
                  build(7304 + n, *a, **kw)) for n, (a, kw) in enumerate(specs)]


def _run_init(function: Callable, args: tuple) -> dict[str, torch.Tensor]:
    """Call the initializer on a fresh module; what counts is the module afterwards."""
    (lstm,) = args
    torch.manual_seed(7399)
    function(lstm)
    return {"hidden_size": lstm.hidden_size, **{n: p.detach().clone().double() for n, p in lstm.named_parameters()}}


def _untouched(name: str, param: torch.Tensor, hidden: int) -> str | None:
    """PyTorch's default U(-1/sqrt(H), 1/sqrt(H)) left in place?"""
    if float(param.abs().max()) <= hidden ** -0.5 and param.numel() >= 16:
        return (f"{name} looks untouched (PyTorch's default initialization): initialize every layer "
                f"and direction, including the _reverse parameters of a bidirectional LSTM")
    return None


def _check_orthogonal(name: str, blocks: tuple, hidden: int) -> str | None:
    for gate, q in zip(ref.LSTM_GATES, blocks):
        off = float((q.T @ q - torch.eye(hidden, dtype=q.dtype)).abs().max())
        if off > ORTHO_TOL:
            return (f"{name}: the {GATE_NAMES[gate]} block is not orthogonal (Q^T Q differs from the identity "
                    f"by up to {off:.2g}); apply nn.init.orthogonal_ to each (H, H) block, not to the whole matrix")
    if hidden > 1 and any(torch.allclose(q, torch.eye(hidden, dtype=q.dtype)) for q in blocks):
        return f"{name}: a block is the identity matrix: draw random orthogonal blocks (nn.init.orthogonal_)"
    if hidden > 1 and any(torch.equal(a, b) for k, a in enumerate(blocks) for b in blocks[k + 1:]):
        return f"{name}: two gate blocks are identical: draw a random orthogonal matrix for each block"
    return None


def _check_glorot(name: str, blocks: tuple, hidden: int) -> str | None:
    fan_in = blocks[0].shape[1]
    bound = ref.glorot_bound(fan_in, hidden)
    for gate, w in zip(ref.LSTM_GATES, blocks):
        largest = float(w.abs().max())
        spread = float(w.std()) if w.numel() > 1 else 0.0
        expected_spread = bound / np.sqrt(3.0)
        if largest > bound * (1 + 1e-6) or (w.numel() >= 200 and (
                largest < 0.9 * bound or abs(spread / expected_spread - 1) > 0.15)):
            return (f"{name}: the {GATE_NAMES[gate]} block does not look Glorot-uniform for a ({hidden}, {fan_in}) "
                    f"block: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / ({fan_in} + {hidden})); "
                    f"its largest |w| is {largest / bound:.2f} a and its standard deviation "
                    f"{spread / expected_spread:.2f} times a / sqrt(3). Is nn.init.xavier_uniform_ applied to "
                    f"each block rather than the whole matrix?")
    return None


def _check_biases(got: dict, suffix: str, hidden: int) -> str | None:
    total = got["bias_ih" + suffix] + got["bias_hh" + suffix]  # (4H,): only the sum matters
    for gate, block in zip(ref.LSTM_GATES, total.split(hidden)):
        want = 1.0 if gate == "f" else 0.0
        if float((block - want).abs().max()) > BIAS_TOL:
            value = float(block.mean())
            if gate == "f" and abs(value - 2.0) < BIAS_TOL:
                return (f"bias_ih{suffix} + bias_hh{suffix} is 2 on the forget-gate rows: the two biases are "
                        f"added, so set the forget bias to 1 in only one of them")
            return (f"bias_ih{suffix} + bias_hh{suffix} should be 1 on the forget-gate rows (H:2H) and 0 "
                    f"elsewhere, but the {GATE_NAMES[gate]} rows are not {want:g}")
    return None


def _compare_init(got: Any, expected: dict) -> str | None:
    hidden = got["hidden_size"]
    for name, param in got.items():
        if name == "hidden_size" or name.startswith("bias"):
            continue
        blocks = param.split(hidden, dim=0)
        check_blocks = _check_orthogonal if name.startswith("weight_hh") else _check_glorot
        message = check_blocks(name, blocks, hidden)
        if message and name.startswith("weight_hh"):
            message = _untouched(name, param, hidden) or message
        if message:
            return message
    for name in got:
        if name.startswith("bias_ih"):
            message = _check_biases(got, name[len("bias_ih"):], hidden)
            if message:
                return message
    return None


def _count_trials() -> list[Trial]:
    specs = [("RNN", 1, 1, 1, False, True), ("LSTM", 3, 5, 1, False, True), ("GRU", 3, 5, 1, False, True),
             ("RNN", 7, 4, 2, False, True), ("LSTM", 2, 6, 3, False, True), ("GRU", 5, 3, 2, True, True),
             ("LSTM", 4, 7, 2, True, True), ("RNN", 6, 5, 1, True, False), ("LSTM", 9, 2, 2, False, False),
             ("GRU", 1, 8, 1, False, True)]
    return [Trial(f"{k}(input_size={i}, hidden_size={h}, num_layers={n}, bidirectional={d}, bias={b})",
                  (k, i, h, n, d, b)) for k, i, h, n, d, b in specs]


def _compare_count(got: Any, expected: int) -> str | None:
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        return f"should return an int but returned a {describe_type(got)}"
    if int(got) != expected:
        return f"the count is too {'large' if got > expected else 'small'}"
    return None


def _recall_trials() -> list[Trial]:
    generator = torch.Generator().manual_seed(730_517)  # the held-out seed: in no notebook
    return [Trial(f"{n} held-out sequences of seq_len={ref.RECALL_SEQ_LEN}", ref.recall_batch(n, generator))
            for n in (2000,)]


RECALL_TARGET = 0.95


def _run_recall(model: Callable, args: tuple) -> tuple[Any, torch.Tensor]:
    x, y = args
    if model is None:  # the notebook's training cell leaves None when Part F is not done
        raise NotImplementedError()
    if isinstance(model, nn.Module):
        model.eval()
    with torch.no_grad():
        return model(x), y


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is the target."""
    return float((logits.argmax(dim=-1) == y).double().mean())


def held_out_recall_accuracy(model: nn.Module) -> float:
    """Accuracy of a trained a3 recall model on the hidden test's held-out
    sequences: what tests/test_training_parts.py measures the reference by."""
    (logits, y), = (_run_recall(model, trial.make()) for trial in _recall_trials())
    return _accuracy(logits, y)


def _compare_recall(got: Any, expected: Any) -> str | None:
    logits, y = got
    shape = (y.shape[0], ref.RECALL_SYMBOLS)
    if not isinstance(logits, torch.Tensor):
        return f"model(x) should return a torch.Tensor of logits but returned a {describe_type(logits)}"
    if tuple(logits.shape) != shape:
        return (f"model(x) should return logits of shape {shape}, one row per sequence, but returned shape "
                f"{tuple(logits.shape)}")
    acc = _accuracy(logits, y)
    if acc < RECALL_TARGET:
        return (f"the accuracy on held-out sequences is {acc:.3f}; this part needs {RECALL_TARGET} "
                f"(chance is {1 / ref.RECALL_SYMBOLS:.3f})")
    return None


A3_CASES: dict[str, Case] = {
    "a3.lstm_cell": Case(
        title="lstm_cell",
        trials=_lstm_cell_trials,
        reference=ref.lstm_cell,
        compare=_compare_lstm_cell,
        explain=_explain_probes,
        mistakes=(
            Mistake(m.lstm_swap_h_c, "h and c look swapped: return (h, c)"),
            Mistake(m.lstm_no_bias_hh, "the result matches a cell without bias_hh: add both biases"),
            Mistake(m.lstm_no_bias_ih, "the result matches a cell without bias_ih: add both biases"),
            Mistake(m.lstm_sigmoid_c, "the cell state looks squashed by a sigmoid: "
                    "c_t = f * c_prev + i * g, with no activation around it"),
            Mistake(m.lstm_no_tanh_c, "h matches o * c_t: apply tanh to the cell state, h = o * tanh(c_t)"),
            Mistake(m.lstm_sigmoid_g, "the candidate g looks like a sigmoid: g uses tanh, the gates i, f, o "
                    "the sigmoid"),
            Mistake(m.lstm_tanh_c_prev, "h seems to use the previous cell state: h = o * tanh(c_t), "
                    "with the new c_t"),
            Mistake(m.lstm_float32, "the result is float32: keep the inputs' float64 precision"),
            *(Mistake(m.lstm_gate_order(order), f"gate order: the result matches the stacked rows read as "
                      f"{', '.join(order)}; PyTorch stacks i, f, g, o (rows 0:H, H:2H, 2H:3H, 3H:4H)")
              for order in sorted({"".join(p) for p in itertools.permutations("ifgo")} - {"ifgo"})),
        ),
    ),
    "a3.lstm_layer": Case(
        title="lstm_layer",
        trials=_lstm_layer_trials,
        reference=ref.lstm_layer,
        compare=_compare_lstm_layer,
        run=_run_layer,
        mistakes=(
            Mistake(m.layer_ignores_state, "the result matches a layer that starts from zeros: "
                    "start from the given state (h_0, c_0) when it is not None"),
            Mistake(m.layer_state_not_carried, "every step seems to start from the initial state: "
                    "carry (h, c) from one step to the next"),
            Mistake(m.layer_c_not_carried, "the cell state seems to restart at every step: carry c as well as h"),
            Mistake(m.layer_outputs_c, "the output holds the cell states: output[:, t] is the hidden state h"),
            Mistake(m.layer_off_by_one, "the output looks shifted by one step: it holds h_1..h_T, "
                    "the state after each step"),
            Mistake(m.layer_no_layer_axis, "h_n and c_n have shape (num_layers, B, H) = (1, B, H), "
                    "as in torch.nn.LSTM"),
            Mistake(m.layer_swap_h_n_c_n, "h_n and c_n look swapped: return (output, (h_n, c_n))"),
        ),
    ),
    "a3.gru_cell": Case(
        title="gru_cell",
        trials=_gru_trials,
        reference=ref.gru_cell,
        compare=_compare_gru,
        explain=_explain_gru,
        mistakes=(
            Mistake(m.gru_reset_always_before, "with reset_after=True the result matches the reset gate applied "
                    "to h before the product: torch.nn.GRUCell computes r * (W_hn h + b_hn)"),
            Mistake(m.gru_reset_always_after, "with reset_after=False the result matches PyTorch's variant: "
                    "in Cho et al.'s, r multiplies h before the product, W_hn (r * h) + b_hn"),
            Mistake(m.gru_b_hn_outside_reset, "b_hn seems added outside the reset product: "
                    "PyTorch computes r * (W_hn h + b_hn)"),
            Mistake(m.gru_z_swapped, "the update looks reversed: h = (1 - z) * n + z * h_prev, "
                    "so z = 1 keeps the old state"),
            Mistake(m.gru_no_bias_hh, "the result matches a cell without bias_hh: add both biases"),
            Mistake(m.gru_no_bias_ih, "the result matches a cell without bias_ih: add both biases"),
            Mistake(m.gru_order_zrn, "gate order: the result matches rows read as z, r, n; "
                    "PyTorch stacks r, z, n"),
        ),
    ),
    "a3.init_lstm_": Case(
        title="init_lstm_",
        trials=_init_trials,
        reference=ref.init_lstm_,
        compare=_compare_init,
        run=_run_init,
        by_properties=True,
        mistakes=(
            Mistake(m.init_orthogonal_whole, "not to the whole matrix"),
            Mistake(m.init_identity, "a block is the identity matrix"),
            Mistake(m.init_glorot_whole, "applied to each block rather than the whole matrix"),
            Mistake(m.init_glorot_normal, "does not look Glorot-uniform"),
            Mistake(m.init_no_forget_bias, "the forget gate f rows are not 1"),
            Mistake(m.init_forget_bias_in_both, "set the forget bias to 1 in only one of them"),
            Mistake(m.init_output_bias, "the forget gate f rows are not 1"),
            Mistake(m.init_reverse_untouched, "including the _reverse parameters"),
        ),
    ),
    "a3.param_count": Case(
        title="param_count",
        trials=_count_trials,
        reference=ref.param_count,
        compare=_compare_count,
        hides_torch="the count must come from a formula, not from a module",
        mistakes=(
            Mistake(m.count_one_bias, "the count matches one bias vector per gate: PyTorch keeps two, "
                    "bias_ih and bias_hh"),
            Mistake(m.count_first_layer_input_everywhere, "layers after the first read the previous layer's "
                    "output, of size H (2H when bidirectional), not the input"),
            Mistake(m.count_not_bidirectional, "a bidirectional layer has a second set of weights, "
                    "one per direction"),
            Mistake(m.count_later_layers_read_h, "after a bidirectional layer, the next layer reads both "
                    "directions' outputs: input size 2H, not H"),
            Mistake(m.count_gates_swapped, "the LSTM has 4 gate blocks (i, f, g, o) and the GRU 3 (r, z, n)"),
        ),
    ),
    "a3.trained_model": Case(
        title="the trained model",
        trials=_recall_trials,
        reference=ref.recall_oracle,
        compare=_compare_recall,
        run=_run_recall,
        by_properties=True,
        error_hints=(("Double", "the model must take float32 input, the dtype of the task's x"),),
        mistakes=(
            Mistake(m.recall_last_step, "this part needs 0.95"),
            Mistake(m.recall_every_step, "should return logits of shape"),
        ),
    ),
}
CASES.update(A3_CASES)
