"""Assignment a2 (backpropagation through time): what is right for each graded part."""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ...engine.case import Case, Mistake
from ...engine.compare import compare_array, compare_keys, compare_scalar, describe_type
from ...engine.runner.collect import Trial
from .. import reference as ref
from . import mistakes as m

A2_TOL = {"rtol": 1e-7, "atol": 1e-10}


def _compare_grads(got: Any, expected: dict[str, np.ndarray]) -> str | None:
    message = compare_keys(got, expected, "gradients")
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


CASES: dict[str, Case] = {
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
