"""Reference: the vanilla RNN forward pass, its parameters and its loss (a1).

Pure functions: NumPy and PyTorch only, no I/O, written independently of the
solution cells (a second implementation, not a copy) and tested against
`torch.nn` in `tests/test_reference.py`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Keys of the parameter dictionary used by the NumPy RNN of assignment a1.
RNN_PARAM_KEYS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hy", "bias_y")


def rnn_cell_forward(
    x_t: np.ndarray,
    h_prev: np.ndarray,
    weight_ih: np.ndarray,
    weight_hh: np.ndarray,
    bias_ih: np.ndarray,
    bias_hh: np.ndarray,
) -> np.ndarray:
    """One tanh RNN step. x_t: (B, I), h_prev: (B, H). Returns h_t: (B, H)."""
    a = np.einsum("hi,bi->bh", weight_ih, x_t) + np.einsum("hk,bk->bh", weight_hh, h_prev)  # (B, H)
    return np.tanh(a + (bias_ih + bias_hh))  # (B, H)


def rnn_forward(
    x: np.ndarray, h0: np.ndarray, params: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Run the RNN over a batch-first sequence.

    x: (B, T, I), h0: (B, H), params: the `RNN_PARAM_KEYS` arrays.
    Returns (hs, ys): hs (B, T, H) holds h_1..h_T and ys (B, T, O) the outputs
    y_t = W_hy h_t + b_y of every step.
    """
    seq_len = x.shape[1]
    states = []
    h = h0  # (B, H)
    for t in range(seq_len):
        h = rnn_cell_forward(
            x[:, t], h, params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"]
        )  # (B, H)
        states.append(h)
    hs = np.stack(states, axis=1)  # (B, T, H)
    ys = np.einsum("oh,bth->bto", params["weight_hy"], hs) + params["bias_y"]  # (B, T, O)
    return hs, ys


def rnn_params_from_torch(rnn: nn.RNN, head: nn.Linear) -> dict[str, np.ndarray]:
    """Copy a one-layer, unidirectional tanh `nn.RNN` and its `nn.Linear` head
    into the NumPy parameter dictionary (float64 arrays; zero biases where the
    module has none). Raises ValueError for an RNN the NumPy code cannot run."""
    if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh":
        raise ValueError("only a one-layer, unidirectional tanh RNN can be converted")
    state = dict(rnn.named_parameters())

    def copy(t: torch.Tensor) -> np.ndarray:
        return t.detach().to(torch.float64).cpu().numpy().copy()

    def bias(t: torch.Tensor | None, size: int) -> np.ndarray:
        return np.zeros(size, dtype=np.float64) if t is None else copy(t)

    return {
        "weight_ih": copy(state["weight_ih_l0"]),
        "weight_hh": copy(state["weight_hh_l0"]),
        "bias_ih": bias(state.get("bias_ih_l0"), rnn.hidden_size),
        "bias_hh": bias(state.get("bias_hh_l0"), rnn.hidden_size),
        "weight_hy": copy(head.weight),
        "bias_y": bias(head.bias, head.out_features),
    }


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, stable for any finite logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (..., O), max entry is 0
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (..., O)


def sequence_cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean cross-entropy over batch and time.

    logits: (B, T, O) unnormalized scores; targets: (B, T) class indices.
    Returns the mean over all B*T steps of -log softmax(logits)[target].
    """
    logp = log_softmax(logits)  # (B, T, O)
    picked = np.take_along_axis(logp, targets[..., None].astype(np.int64), axis=-1)  # (B, T, 1)
    return float(-picked.mean())
