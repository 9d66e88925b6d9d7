"""Assignment a1: realistic wrong implementations of the graded functions (see `engine.case.Mistake`)."""
from __future__ import annotations

import numpy as np
from torch import nn

from .. import reference as ref


# --- a1, part A: one RNN step ------------------------------------------------

def cell_missing_bias_hh(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return ref.rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, np.zeros_like(bias_hh))


def cell_transposed_weight_hh(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return ref.rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh.T, bias_ih, bias_hh)


def cell_sigmoid(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    a = x_t @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh  # (B, H)
    return 1.0 / (1.0 + np.exp(-a))


def cell_no_activation(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return x_t @ weight_ih.T + bias_ih + h_prev @ weight_hh.T + bias_hh


def cell_float32(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh):
    return ref.rnn_cell_forward(x_t, h_prev, weight_ih, weight_hh, bias_ih, bias_hh).astype(np.float32)


# --- a1, part B: forward over a sequence -------------------------------------

def forward_off_by_one(x, h0, params):
    """Stores the state before each step: returns h_0..h_{T-1} instead of h_1..h_T."""
    hs, _ = ref.rnn_forward(x, h0, params)
    shifted = np.concatenate([h0[:, None], hs[:, :-1]], axis=1)  # (B, T, H)
    return shifted, shifted @ params["weight_hy"].T + params["bias_y"]


def forward_ignores_h0(x, h0, params):
    return ref.rnn_forward(x, np.zeros_like(h0), params)


def forward_state_not_carried(x, h0, params):
    """Starts every step from h0 instead of the previous state."""
    steps = [ref.rnn_cell_forward(x[:, t], h0, params["weight_ih"], params["weight_hh"],
                                  params["bias_ih"], params["bias_hh"]) for t in range(x.shape[1])]
    hs = np.stack(steps, axis=1)  # (B, T, H)
    return hs, hs @ params["weight_hy"].T + params["bias_y"]


def forward_missing_output_bias(x, h0, params):
    return ref.rnn_forward(x, h0, {**params, "bias_y": np.zeros_like(params["bias_y"])})


def forward_transposed_weight_hh(x, h0, params):
    return ref.rnn_forward(x, h0, {**params, "weight_hh": params["weight_hh"].T})


def forward_sigmoid(x, h0, params):
    hs, h = [], h0
    for t in range(x.shape[1]):
        h = cell_sigmoid(x[:, t], h, params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"])
        hs.append(h)
    hs = np.stack(hs, axis=1)  # (B, T, H)
    return hs, hs @ params["weight_hy"].T + params["bias_y"]


# --- a1, part C: parameters from torch.nn.RNN --------------------------------

def params_transposed(rnn: nn.RNN, head: nn.Linear):
    params = ref.rnn_params_from_torch(rnn, head)
    return {k: (v.T.copy() if v.ndim == 2 else v) for k, v in params.items()}


def params_missing_bias_hh(rnn: nn.RNN, head: nn.Linear):
    params = ref.rnn_params_from_torch(rnn, head)
    return {**params, "bias_hh": np.zeros_like(params["bias_hh"])}


def params_float32(rnn: nn.RNN, head: nn.Linear):
    params = ref.rnn_params_from_torch(rnn, head)
    return {k: v.astype(np.float32) for k, v in params.items()}


def params_shared(rnn: nn.RNN, head: nn.Linear):
    """Right values, but for a float64 module the arrays are the module's own memory."""
    params = ref.rnn_params_from_torch(rnn, head)
    own = {"weight_ih": rnn.weight_ih_l0, "weight_hh": rnn.weight_hh_l0, "weight_hy": head.weight}
    return {**params, **{k: np.asarray(t.detach().numpy(), dtype=np.float64) for k, t in own.items()}}


def params_no_validation(rnn: nn.RNN, head: nn.Linear):
    """Converts any RNN, even ones the NumPy forward pass cannot run."""
    state = dict(rnn.named_parameters())
    hidden = rnn.hidden_size
    get = lambda name, size: (state[name].detach().double().numpy() if name in state else np.zeros(size))  # noqa: E731
    return {
        "weight_ih": get("weight_ih_l0", 0), "weight_hh": get("weight_hh_l0", 0),
        "bias_ih": get("bias_ih_l0", hidden), "bias_hh": get("bias_hh_l0", hidden),
        "weight_hy": head.weight.detach().double().numpy(),
        "bias_y": head.bias.detach().double().numpy() if head.bias is not None else np.zeros(head.out_features),
    }


# --- a1, part D: cross-entropy over a sequence --------------------------------

def xent_naive_softmax(logits, targets):
    """exp() of raw logits: overflows to inf/nan for large logits."""
    with np.errstate(all="ignore"):
        p = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)  # (B, T, O)
        picked = np.take_along_axis(p, targets[..., None], axis=-1)
        return float(-np.log(picked).mean())


def xent_sum_not_mean(logits, targets):
    return ref.sequence_cross_entropy(logits, targets) * targets.size


def xent_mean_over_batch_only(logits, targets):
    return ref.sequence_cross_entropy(logits, targets) * targets.shape[1]


def xent_softmax_over_time(logits, targets):
    """Normalizes over the time axis instead of the class axis."""
    logp = np.swapaxes(ref.log_softmax(np.swapaxes(logits, 1, 2)), 1, 2)  # (B, T, O)
    picked = np.take_along_axis(logp, targets[..., None], axis=-1)
    return float(-picked.mean())
