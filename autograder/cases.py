"""The hidden-test cases: what is right for each graded part, and why not.

Grading is split in two. How a part's function is called (seeded inputs on a
grid of shapes with sizes of 1 and odd sizes, what of a call is sent back) is
in `autograder.sandboxed.<assignment>`: that half runs in the student's
sandboxed kernel and knows no answer. What is right is here, in the grader's
own process: for each part, the reference, the comparison and its tolerance,
the known mistakes whose hints explain a mismatch, and, for a part that calls
an earlier part's function, the calls a correct implementation makes (answered
by a replay in the kernel, so a mistake costs points once).

`judge(name, outcomes)` turns what came back from the kernel into messages;
`check(name, function)` runs both halves in this process, for pytest and for
an instructor running a solution notebook. Messages never contain expected
values, seeds or reference code.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
import re
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from . import mistakes as m
from . import reference as ref
from .compare import compare_array, compare_scalar, compare_tensor, describe_type
from .sandboxed import a1_rnn, a2_bptt, a3_gated, engine, wire
from .sandboxed.a3_gated import GATE_NAMES, RecallNet
from .sandboxed.engine import Calls, Trial
from .sandboxed.wire import Raised

#: The kernel-side module of each assignment, by the prefix of its part names.
ASSIGNMENTS: dict[str, ModuleType] = {"a1": a1_rnn, "a2": a2_bptt, "a3": a3_gated}


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


def calls_for(name: str) -> Calls:
    """How the grader calls the student's code for part `name` ("a1.rnn_forward")."""
    return ASSIGNMENTS[name.split(".")[0]].CALLS[name]


def module_for(name: str) -> str:
    """The kernel-side module's name of part `name`'s assignment ("a1_rnn")."""
    return ASSIGNMENTS[name.split(".")[0]].__name__.rsplit(".", 1)[-1]


NUMPY_ONLY = "this part is NumPy only"


# --- input generators (seeded: the same inputs in every run) ------------------


# (batch_size, seq_len, input_size, hidden_size, output_size): sizes of 1, odd
# sizes, and no two sizes equal where a swapped axis would go unnoticed.


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


def _compare_params(got: Any, expected: tuple[dict[str, np.ndarray], list[str]]) -> str | None:
    params, shared = got
    message = _compare_keys(params, expected[0], "parameters")
    if message:
        return message
    for key in ref.RNN_PARAM_KEYS:
        message = compare_array(f"params[{key!r}]", params[key], expected[0][key], rtol=0.0, atol=1e-12)
        if message:
            return message
    if shared and not expected[1]:  # (the reference shares nothing; a known mistake may)
        return (f"params[{shared[0]!r}] shares memory with the module's tensor, so it would change as the "
                f"module trains: return a copy (for a float64 module, .numpy() and np.asarray do not copy)")
    return None


def _compare_xent(got: Any, expected: float) -> str | None:
    message = compare_scalar("the loss", got, expected, **TOL)
    if message and "where a finite value is expected" in message:
        message += ": exp() overflows for large logits, so subtract each row's maximum first (log-sum-exp)"
    return message


def _forward_chain(args: tuple) -> list[tuple[tuple, Any]]:
    """The rnn_cell_forward calls a correct rnn_forward makes, with their results."""
    x, h, params = args
    calls = []
    for t in range(x.shape[1]):
        step = (x[:, t], h, params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"])
        h = ref.rnn_cell_forward(*step)
        calls.append((step, h))
    return calls


CASES: dict[str, Case] = {
    "a1.rnn_cell_forward": Case(
        title="rnn_cell_forward",
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
        reference=ref.rnn_forward,
        compare=_compare_forward,
        chain=_forward_chain,
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
        reference=ref.rnn_params_from_torch,
        compare=_compare_params,
        mistakes=(
            Mistake(m.params_transposed, "the weights look transposed: nn.RNN already stores weight_ih_l0 "
                    "as (hidden_size, input_size), the layout the NumPy code uses"),
            Mistake(m.params_missing_bias_hh, "bias_hh is zero: copy bias_hh_l0 too, nn.RNN has two biases"),
            Mistake(m.params_float32, "the arrays are float32: convert to float64"),
            Mistake(m.params_shared, "copy the arrays"),
        ),
    ),
    "a1.sequence_cross_entropy": Case(
        title="sequence_cross_entropy",
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


# --- a2: backpropagation through time ------------------------------------------

A2_TOL = {"rtol": 1e-7, "atol": 1e-10}


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


def _compare_numerical(got: Any, expected: tuple[np.ndarray, np.ndarray]) -> str | None:
    grad, changed = got
    if np.any(changed != 0):
        return "the array is not the same after the call: restore every entry after perturbing it"
    return compare_array("the numerical gradient", grad, expected[0], rtol=1e-6, atol=1e-8)


def _compare_clip(got: Any, expected: tuple[float, list[np.ndarray]]) -> str | None:
    norm, grads = got
    message = compare_scalar("the returned norm", norm, expected[0], rtol=1e-9, atol=1e-12)
    if message:
        return message + " (return the total norm of all gradients before clipping)"
    if not isinstance(grads, list) or len(grads) != len(expected[1]):
        return "the gradient arrays did not all come back"
    for i, (g, e) in enumerate(zip(grads, expected[1])):
        message = compare_array(f"gradient {i} after the call", g, e, rtol=1e-9, atol=1e-12)
        if message:
            return message + " (scale every array in place by the same factor)"
    return None


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
    if not isinstance(params, list) or len(params) != len(expected[1]) or any(
            not isinstance(p, np.ndarray) or p.shape != want.shape for p, want in zip(params, expected[1])):
        return "the model's parameters changed their number or shapes: train the given modules as they are"
    for got_p, want in zip(params, expected[1]):
        if not np.allclose(got_p, want, rtol=1e-9, atol=1e-12):
            return "the losses match but the parameters after training do not: one optimizer step per chunk"
    return None


def _compare_jacobian(got: Any, expected: np.ndarray) -> str | None:
    message = compare_array("the norms ||dh_T/dh_t||", got, expected, rtol=1e-7, atol=1e-12, time_axis=0)
    if message:  # entry i is t = i here, from t = 0 (h0) to t = T
        message = re.sub(r"time step t=\d+ \(index (\d+)\) of (\d+)",
                         lambda m: f"t={m[1]} (entries are t=0..{int(m[2]) - 1})", message)
    return message


A2_CASES: dict[str, Case] = {
    "a2.rnn_backward": Case(
        title="rnn_backward",
        reference=ref.rnn_backward,
        compare=_compare_grads,
        explain=_explain_backward,
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
        reference=ref.numerical_gradient,
        compare=_compare_numerical,
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
        reference=ref.relative_error,
        compare=lambda got, expected: compare_scalar("the relative error", got, expected, rtol=1e-9, atol=1e-15),
        mistakes=(
            Mistake(m.relerr_no_denominator, "this is the absolute error ||a - b||: divide by ||a|| + ||b||"),
            Mistake(m.relerr_max_denominator, "divide by ||a|| + ||b|| (at least 1e-12), not by ||a|| alone"),
            Mistake(m.relerr_second_denominator, "divide by ||a|| + ||b|| (at least 1e-12), not by ||b|| alone"),
        ),
    ),
    "a2.clip_grad_norm": Case(
        title="clip_grad_norm",
        reference=ref.clip_grad_norm,
        compare=_compare_clip,
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
        reference=ref.tbptt_train,
        compare=_compare_tbptt,
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
        reference=ref.jacobian_norms,
        compare=_compare_jacobian,
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


@functools.cache  # the same for every student: the reference runs once per part and trial
def _expected(name: str) -> tuple[tuple[Any, Exception | None], ...]:
    """(the reference's result, None) or (None, what it raised) for each trial of
    part `name`: a part whose reference rejects an input expects the student's
    code to reject it too. Empty results when the part has no reference."""
    case, calls = CASES[name], calls_for(name)
    found = []
    for trial in calls.trials():
        if case.reference is None:
            found.append((None, None))
            continue
        try:
            found.append((_run(calls, case.reference, trial), None))
        except Exception as error:
            found.append((None, error))
    return tuple(found)


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


def judge(name: str, outcomes: list[Any]) -> list[str]:
    """Messages for the outcomes (results or `Raised`, in trial order) that
    came back from the student's kernel for part `name`; [] when all pass."""
    case, calls = CASES[name], calls_for(name)
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
              for trial, got, want in zip(trials, outcomes, _expected(name))]
    messages = [message for _, message in judged if message]
    note = case.explain([(t, msg is None) for t, msg in judged]) if case.explain and messages else None
    if note:
        messages[0] += f". {note}"
    return messages


@functools.cache  # the same for every student: computed once per part
def replay_tables(name: str) -> list[dict[str, str]] | None:
    """The sealed answers of the earlier part's function for each trial of part
    `name`, if its Calls swap one in; else None."""
    case, calls = CASES[name], calls_for(name)
    if case.chain is None:
        return None
    return [engine.seal_table(case.chain(trial.make())) for trial in calls.trials()]


def summary(name: str, problems: list[str]) -> str | None:
    """One message for a part: the first failing trial, and how many more fail."""
    if not problems:
        return None
    others = len(problems) - 1
    more = f" ({others} more input set{'s fail' if others > 1 else ' fails'} too)" if others else ""
    return f"{CASES[name].title}: {problems[0]}{more}"


def failures(name: str, function: Callable) -> list[str]:
    """Run every trial of part `name` on `function` in this process, through
    the same plain-data round trip as grading; one message per failed trial.
    Only the part's reference, trusted code, may use torch where the part hides it."""
    calls, case = calls_for(name), CASES[name]
    if function is case.reference:  # trusted code: it may use torch where students may not
        calls = dataclasses.replace(calls, hides_torch=None, blocks=())
    elif any(function is mistake.function for mistake in case.mistakes):
        calls = dataclasses.replace(calls, blocks=())  # built on the reference's modules: judged by its result
    text, arrays = engine.collect(calls, function, replay_tables(name), name.split(".")[-1])
    return judge(name, wire.unpack(text, arrays))


def check(name: str, function: Callable) -> None:
    """Hidden test of one graded part, run in this process (pytest, or an
    instructor running a solution notebook): raise CheckFailure saying what
    differs, or return None when every trial passes."""
    message = summary(name, failures(name, function))
    if message:
        raise CheckFailure(message)


# --- a3: gated cells ------------------------------------------------------------

A3_TOL = {"rtol": 1e-6, "atol": 1e-8}  # float64 tensors: "matches torch.nn to 1e-6"




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


def _compare_lstm_layer(got: Any, expected: tuple) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2 or not isinstance(got[1], tuple) or len(got[1]) != 2:
        return f"should return (output, (h_n, c_n)) but returned a {describe_type(got)} of another form"
    return (compare_tensor("the output", got[0], expected[0], time_axis=1, **A3_TOL)
            or _compare_pair(got[1], expected[1], ("h_n", "c_n"), "(h_n, c_n)"))


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
    same_form = isinstance(got, dict) and set(got) == set(expected) \
        and got["hidden_size"] == expected["hidden_size"] \
        and all(isinstance(got[k], torch.Tensor) and got[k].shape == v.shape
                for k, v in expected.items() if k != "hidden_size")
    if not same_form:  # (and no work on sizes the grader did not choose)
        return ("the LSTM's parameters changed names or shapes: initialize the given tensors in place "
                "(under torch.no_grad(), with nn.init functions or .copy_/.fill_)")
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


def _compare_count(got: Any, expected: int) -> str | None:
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        return f"should return an int but returned a {describe_type(got)}"
    if int(got) != expected:
        return f"the count is too {'large' if got > expected else 'small'}"
    return None


RECALL_TARGET = 0.95
MAX_HIDDEN, MAX_LAYERS = 256, 2  # larger RecallNets are not rebuilt: the grader measures each one itself


def _held_out() -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out sequences of Part F and their targets: made here, from a
    seed in no notebook, and never sent to the student's kernel."""
    return ref.recall_batch(2000, torch.Generator().manual_seed(730_517))


def rebuild_recall_net(got: Any) -> RecallNet | str:
    """The RecallNet described by what the kernel sent (settings and weights),
    or a message saying why it cannot be rebuilt."""
    if not isinstance(got, dict) or got.get("class") != "RecallNet":
        name = got.get("class") if isinstance(got, dict) else describe_type(got)
        return (f"the model should be the RecallNet that train_recall_model trained (the class given in "
                f"the notebook), not a {name}")
    kind, hidden, layers, state = (got.get(k) for k in ("kind", "hidden_size", "num_layers", "state"))
    if kind not in ("LSTM", "GRU") or type(hidden) is not int or type(layers) is not int \
            or not (1 <= hidden <= MAX_HIDDEN and 1 <= layers <= MAX_LAYERS):
        return (f"the RecallNet's settings are not usable: kind 'LSTM' or 'GRU', hidden_size from 1 to "
                f"{MAX_HIDDEN}, num_layers from 1 to {MAX_LAYERS}")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "the RecallNet's weights did not come back as tensors"
    with torch.random.fork_rng():  # the random initial weights are overwritten: leave the global RNG alone
        torch.manual_seed(0)
        net = RecallNet(kind, hidden, layers)
    try:
        net.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    except (RuntimeError, KeyError, TypeError):
        return (f"the weights do not fit a RecallNet({kind!r}, {hidden}, {layers}): "
                f"return the RecallNet you trained, unchanged")
    return net.eval()


def held_out_recall_accuracy(model: nn.Module) -> float:
    """Accuracy on Part F's held-out sequences of a trained model, measured as
    grading measures it (rebuilt from its settings and weights): what
    tests/test_training_parts.py measures the reference by."""
    (sent,) = wire.unpack(*wire.pack([a3_gated.run_model(model, ())]))
    net = rebuild_recall_net(sent)
    if isinstance(net, str):
        raise ValueError(net)
    x, y = _held_out()
    return ref.accuracy(net, x, y)


def _compare_recall(got: Any, expected: Any) -> str | None:
    net = rebuild_recall_net(got)
    if isinstance(net, str):
        return net
    x, y = _held_out()
    acc = ref.accuracy(net, x, y)
    if acc < RECALL_TARGET:
        return (f"the accuracy on held-out sequences is {acc:.3f}; this part needs {RECALL_TARGET} "
                f"(chance is {1 / a3_gated.RECALL_SYMBOLS:.3f})")
    return None


def _layer_chain(args: tuple) -> list[tuple[tuple, Any]]:
    """The lstm_cell calls a correct lstm_layer makes, with their results."""
    x, weight_ih, weight_hh, bias_ih, bias_hh, state = args
    batch, hidden = x.shape[0], weight_hh.shape[1]
    if state is None:
        h, c = (torch.zeros(batch, hidden, dtype=x.dtype) for _ in "hc")
    else:
        h, c = state[0][0], state[1][0]
    calls = []
    for t in range(x.shape[1]):
        step = (x[:, t], (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
        h, c = ref.lstm_cell(*step)
        calls.append((step, (h, c)))
    return calls


A3_CASES: dict[str, Case] = {
    "a3.lstm_cell": Case(
        title="lstm_cell",
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
        reference=ref.lstm_layer,
        compare=_compare_lstm_layer,
        chain=_layer_chain,
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
        reference=ref.init_lstm_,
        compare=_compare_init,
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
        reference=ref.param_count,
        compare=_compare_count,
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
        reference=None,
        compare=_compare_recall,
        by_properties=True,
        mistakes=(
            Mistake(m.recall_untrained, "this part needs 0.95"),
            Mistake(m.recall_rule, "the model should be the RecallNet that train_recall_model trained"),
            Mistake(m.recall_resized, "the weights do not fit a RecallNet"),
        ),
    ),
}
CASES.update(A3_CASES)
