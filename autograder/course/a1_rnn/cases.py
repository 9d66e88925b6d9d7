"""Assignment a1 (the vanilla RNN forward pass): what is right for each graded part."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...engine.case import Case, Mistake
from ...engine.compare import compare_array, compare_keys, compare_scalar, describe_type
from .. import reference as ref
from . import mistakes as m

TOL = {"rtol": 1e-7, "atol": 1e-10}  # float64 throughout a1


def _compare_cell(got: Any, expected: np.ndarray) -> str | None:
    return compare_array("the new hidden state h_t", got, expected, **TOL)


def _compare_forward(got: Any, expected: tuple[np.ndarray, np.ndarray]) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"should return a tuple (hs, ys) but returned a {describe_type(got)}"
    return (compare_array("the hidden states hs", got[0], expected[0], time_axis=1, **TOL)
            or compare_array("the outputs ys", got[1], expected[1], time_axis=1, **TOL))


def _compare_params(got: Any, expected: tuple[dict[str, np.ndarray], list[str]]) -> str | None:
    params, shared = got
    message = compare_keys(params, expected[0], "parameters")
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


