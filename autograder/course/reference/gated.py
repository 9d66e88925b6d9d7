"""Reference: LSTM and GRU cells and layers, initialization, parameter counts, the recall task (a3).

The LSTM and GRU references run PyTorch's own modules with the given weights,
so "matches torch.nn" is true by construction; the Cho et al. (2014) GRU, which
torch.nn does not offer, is written out gate by gate.

Pure functions: NumPy and PyTorch only, no I/O, written independently of the
solution cells (a second implementation, not a copy) and tested against
`torch.nn` in `tests/test_reference.py`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Gate names in the order PyTorch stacks their rows in weight_ih / weight_hh.
LSTM_GATES = ("i", "f", "g", "o")
GRU_GATES = ("r", "z", "n")

Tensor = torch.Tensor


def _load(module: nn.Module, suffix: str, weight_ih: Tensor, weight_hh: Tensor,
          bias_ih: Tensor | None, bias_hh: Tensor | None) -> nn.Module:
    """Copy the given weights into `module` (created with matching sizes and dtype)."""
    with torch.no_grad():
        getattr(module, "weight_ih" + suffix).copy_(weight_ih)
        getattr(module, "weight_hh" + suffix).copy_(weight_hh)
        if bias_ih is not None:
            getattr(module, "bias_ih" + suffix).copy_(bias_ih)
            getattr(module, "bias_hh" + suffix).copy_(bias_hh)
    return module


def lstm_cell(x: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor | None, bias_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """One LSTM step: x (B, I), state (h, c) each (B, H), weight_ih (4H, I) and
    weight_hh (4H, H) stacking the i, f, g, o blocks, biases (4H,) or both None.
    Returns the new (h, c), each (B, H), as torch.nn.LSTMCell computes them."""
    hidden_size, input_size = weight_hh.shape[1], weight_ih.shape[1]
    cell = nn.LSTMCell(input_size, hidden_size, bias=bias_ih is not None, dtype=x.dtype)
    _load(cell, "", weight_ih, weight_hh, bias_ih, bias_hh)
    with torch.no_grad():
        return cell(x, state)


def lstm_layer(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
               bias_hh: Tensor | None, state: tuple[Tensor, Tensor] | None = None
               ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """A one-layer LSTM over a batch-first sequence x (B, T, I), from `state`
    (h_0, c_0), each (1, B, H), or zeros if None. Returns (output (B, T, H),
    (h_n, c_n) each (1, B, H)), as torch.nn.LSTM(batch_first=True) does."""
    hidden_size, input_size = weight_hh.shape[1], weight_ih.shape[1]
    lstm = nn.LSTM(input_size, hidden_size, bias=bias_ih is not None, batch_first=True, dtype=x.dtype)
    _load(lstm, "_l0", weight_ih, weight_hh, bias_ih, bias_hh)
    with torch.no_grad():
        return lstm(x, state)


def gru_cell(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor | None,
             bias_hh: Tensor | None, reset_after: bool = True) -> Tensor:
    """One GRU step: x (B, I), h (B, H), weights (3H, I) and (3H, H) stacking the
    r, z, n blocks, biases (3H,) or both None. Returns the new h (B, H) =
    (1 - z) * n + z * h. reset_after=True is torch.nn.GRUCell (r multiplies
    W_hn h + b_hn); reset_after=False is Cho et al. (2014): r multiplies h
    before the product, n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)."""
    hidden_size, input_size = weight_hh.shape[1], weight_ih.shape[1]
    if reset_after:
        cell = nn.GRUCell(input_size, hidden_size, bias=bias_ih is not None, dtype=x.dtype)
        _load(cell, "", weight_ih, weight_hh, bias_ih, bias_hh)
        with torch.no_grad():
            return cell(x, h)
    zero = torch.zeros(3 * hidden_size, dtype=x.dtype)
    b_i = zero if bias_ih is None else bias_ih
    b_h = zero if bias_hh is None else bias_hh
    rows = {gate: slice(k * hidden_size, (k + 1) * hidden_size) for k, gate in enumerate(GRU_GATES)}

    def from_x(gate: str) -> Tensor:
        return torch.einsum("ki,bi->bk", weight_ih[rows[gate]], x) + b_i[rows[gate]]  # (B, H)

    def from_h(gate: str, state: Tensor) -> Tensor:
        return torch.einsum("kj,bj->bk", weight_hh[rows[gate]], state) + b_h[rows[gate]]  # (B, H)

    r = torch.sigmoid(from_x("r") + from_h("r", h))  # (B, H)
    z = torch.sigmoid(from_x("z") + from_h("z", h))  # (B, H)
    n = torch.tanh(from_x("n") + from_h("n", r * h))  # (B, H)
    return z * h + (1.0 - z) * n  # (B, H)


def glorot_bound(fan_in: int, fan_out: int) -> float:
    """Half-width a of Glorot/Xavier-uniform U(-a, a): sqrt(6 / (fan_in + fan_out))."""
    return float(np.sqrt(6.0 / (fan_in + fan_out)))


def init_lstm_(lstm: nn.LSTM) -> None:
    """The course's LSTM initialization, in place, for every layer and direction:
    each (H, H) gate block of weight_hh orthogonal, each (H, in) gate block of
    weight_ih Glorot-uniform, biases zero except the forget gate's, which is 1
    in bias_ih (so the two biases sum to 1)."""
    hidden = lstm.hidden_size
    with torch.no_grad():
        for name, param in lstm.named_parameters():
            blocks = param.split(hidden, dim=0)  # four (H, ...) or (H,) views: i, f, g, o
            if name.startswith("weight_hh"):
                for block in blocks:
                    nn.init.orthogonal_(block)
            elif name.startswith("weight_ih"):
                for block in blocks:
                    nn.init.xavier_uniform_(block)
            else:
                param.zero_()
                if name.startswith("bias_ih"):
                    blocks[1].fill_(1.0)


GATE_BLOCKS = {"RNN": 1, "LSTM": len(LSTM_GATES), "GRU": len(GRU_GATES)}  # row blocks per weight matrix


def param_count(kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                bidirectional: bool = False, bias: bool = True) -> int:
    """Number of parameters of torch.nn.RNN / LSTM / GRU with these settings,
    counted on a real module."""
    module = getattr(nn, kind)(input_size, hidden_size, num_layers=num_layers,
                               bidirectional=bidirectional, bias=bias)
    return sum(p.numel() for p in module.parameters())


# The long-dependency task of part F: which symbol stood at the marked step?
RECALL_SYMBOLS, RECALL_SEQ_LEN = 6, 60


def recall_batch(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """n sequences of RECALL_SEQ_LEN random symbols, one-hot in the first
    RECALL_SYMBOLS channels; the last channel marks one step, uniform over the
    sequence. Returns x (n, T, symbols + 1) float32 and the marked step's
    symbol (n,) int64. Half of the marks lie 30 or more steps before the end,
    so high accuracy needs a memory that lasts 50 steps and more."""
    symbols = torch.randint(0, RECALL_SYMBOLS, (n, RECALL_SEQ_LEN), generator=generator)  # (n, T)
    marked = torch.randint(0, RECALL_SEQ_LEN, (n,), generator=generator)  # (n,)
    x = torch.zeros(n, RECALL_SEQ_LEN, RECALL_SYMBOLS + 1)  # (n, T, symbols + 1)
    x.scatter_(2, symbols.unsqueeze(2), 1.0)
    rows = torch.arange(n)
    x[rows, marked, RECALL_SYMBOLS] = 1.0
    return x, symbols[rows, marked]


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Fraction of sequences whose largest logit (model(x): (n, symbols)) is the target."""
    with torch.no_grad():
        return float((model(x).argmax(dim=-1) == y).double().mean())


def recall_oracle(x: Tensor) -> Tensor:
    """A perfect "model" of the recall task, read off the input: logits (n, symbols)
    that are 1 for the marked step's symbol and 0 elsewhere."""
    marked = x[..., -1].argmax(dim=1)  # (n,)
    return x[torch.arange(x.shape[0]), marked, :-1]  # (n, symbols)
