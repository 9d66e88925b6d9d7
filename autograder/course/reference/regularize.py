"""Reference: regularizing recurrent networks (a4): locked dropout, weight-drop,
zoneout, the layer-normalized LSTM cell and recurrent batch normalization.

Also the pieces the a4 judge needs: the gates of an LSTM step, a plain LSTM
run with a given weight_hh and its gradient, and binomial bounds for the
parts judged by the statistics of their random masks.

Pure functions and modules: NumPy and PyTorch only, no I/O, written
independently of the solution cells (a second implementation, not a copy)
and tested against torch's built-ins in `tests/test_reference.py`.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

Tensor = torch.Tensor

#: How many standard deviations a random mask's fraction may stray from its
#: probability. A correct draw leaves p +- 4.5 sigma with probability below
#: 7e-6 (two-sided normal tail), so a right implementation is not failed by
#: chance, while at 20,000 draws 4.5 sigma is under 0.015: a rate off by 0.05
#: or more is caught.
SIGMAS = 4.5

#: A property that a correct random draw breaks with at most this probability
#: (a mask equal to another one, a row of equal entries) is checked; on
#: smaller inputs, where chance could break it, it is not.
NEGLIGIBLE = 1e-9


def _check_probability(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"the drop probability p must satisfy 0 <= p < 1, not {p}")


def _keep_mask(shape: tuple[int, ...], keep: float, like: Tensor) -> Tensor:
    """Bernoulli(keep) entries of `shape`, in `like`'s dtype, from torch's global generator."""
    return torch.empty(shape, dtype=like.dtype).bernoulli_(keep)


# --- A. locked (variational) dropout -------------------------------------------------

def locked_dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Dropout with one mask per sequence and feature, the same at every step.

    x: (B, T, F). In training with p > 0, each (b, f) keeps all its T values,
    scaled by 1 / (1 - p), with probability 1 - p, or loses all of them.
    Otherwise x is returned as it is."""
    _check_probability(p)
    if not training or p == 0.0:
        return x
    batch, _, features = x.shape
    keep = _keep_mask((batch, 1, features), 1.0 - p, x)  # (B, 1, F)
    return x * (keep / (1.0 - p))  # (B, T, F)


# --- B. weight-drop on the recurrent weights ------------------------------------------

class WeightDrop(nn.Module):
    """A parametrization (torch.nn.utils.parametrize) that drops single
    weights: in training, each call returns weight * mask / (1 - p) with a new
    element-wise Bernoulli(1 - p) keep-mask; in eval, the weight itself."""

    def __init__(self, p: float):
        super().__init__()
        _check_probability(p)
        self.p = p

    def forward(self, weight: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return weight
        keep = _keep_mask(tuple(weight.shape), 1.0 - self.p, weight)  # (4H, H)
        return weight * keep / (1.0 - self.p)  # (4H, H)


def weight_drop(lstm: nn.LSTM, p: float) -> nn.LSTM:
    """Register WeightDrop(p) on a one-layer LSTM's weight_hh_l0 and return the
    same LSTM. The raw weight stays a parameter, at
    lstm.parametrizations.weight_hh_l0.original, so gradients reach it."""
    parametrize.register_parametrization(lstm, "weight_hh_l0", WeightDrop(p))
    return lstm


def _plain_lstm(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor,
                bias_hh: Tensor) -> nn.LSTM:
    lstm = nn.LSTM(x.shape[2], weight_hh.shape[1], batch_first=True, dtype=x.dtype)
    with torch.no_grad():
        for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                               (weight_ih, weight_hh, bias_ih, bias_hh)):
            getattr(lstm, name).copy_(value)
    return lstm


def lstm_output(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor) -> Tensor:
    """The output (B, T, H) of a plain one-layer batch-first LSTM with these
    weights, from zero state: what a forward with a dropped weight_hh must give."""
    with torch.no_grad():
        return _plain_lstm(x, weight_ih, weight_hh, bias_ih, bias_hh)(x)[0]


def weight_hh_gradient(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor,
                       projection: Tensor) -> Tensor:
    """The gradient of sum(output * projection) with respect to the weight_hh
    (4H, H) that a plain LSTM used; projection has the output's shape (B, T, H)."""
    lstm = _plain_lstm(x, weight_ih, weight_hh, bias_ih, bias_hh)
    output, _ = lstm(x)  # (B, T, H)
    (grad,) = torch.autograd.grad((output * projection).sum(), lstm.weight_hh_l0)
    return grad  # (4H, H)


# --- C. zoneout ---------------------------------------------------------------------

def lstm_gates(x: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor,
               bias_ih: Tensor, bias_hh: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The activated gates (i, f, g, o), each (B, H), of one LSTM step in
    PyTorch's layout (rows of the weights stacked i, f, g, o)."""
    h, _ = state
    pre = (torch.einsum("ki,bi->bk", weight_ih, x) + torch.einsum("kj,bj->bk", weight_hh, h)
           + bias_ih + bias_hh)  # (B, 4H)
    i, f, g, o = pre.chunk(4, dim=1)  # (B, H) each
    return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)


def lstm_step(x: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor,
              bias_ih: Tensor, bias_hh: Tensor) -> tuple[Tensor, Tensor]:
    """The ordinary LSTM step: (h_new, c_new), each (B, H)."""
    i, f, g, o = lstm_gates(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    c_new = f * state[1] + i * g  # (B, H)
    return o * torch.tanh(c_new), c_new


def zoneout_lstm_cell(x: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor,
                      bias_ih: Tensor, bias_hh: Tensor, p_h: float, p_c: float,
                      training: bool = True) -> tuple[Tensor, Tensor]:
    """One LSTM step with zoneout. Training: each unit of h (of c) keeps its
    previous value with probability p_h (p_c), independent masks, no scaling;
    h_new = o * tanh(c_new) uses the un-zoned c_new. Eval: the expectation,
    p * previous + (1 - p) * new. Returns (h_t, c_t), each (B, H)."""
    h, c = state
    h_new, c_new = lstm_step(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    if not training:
        return p_h * h + (1.0 - p_h) * h_new, p_c * c + (1.0 - p_c) * c_new
    zoned_c = _keep_mask(tuple(c.shape), p_c, c)  # (B, H): 1 keeps the previous value
    zoned_h = _keep_mask(tuple(h.shape), p_h, h)  # (B, H)
    return torch.where(zoned_h > 0, h, h_new), torch.where(zoned_c > 0, c, c_new)


# --- D. layer-normalized LSTM cell --------------------------------------------------

def layer_norm(a: Tensor, gamma: Tensor, beta: Tensor, eps: float) -> Tensor:
    """Normalize over the last axis with the biased variance, then scale and shift."""
    centred = a - a.mean(dim=-1, keepdim=True)  # (B, N)
    variance = (centred * centred).mean(dim=-1, keepdim=True)  # (B, 1)
    return gamma * centred / torch.sqrt(variance + eps) + beta  # (B, N)


def ln_lstm_cell(x: Tensor, state: tuple[Tensor, Tensor], weight_ih: Tensor, weight_hh: Tensor, bias: Tensor,
                 ln_ih: tuple[Tensor, Tensor], ln_hh: tuple[Tensor, Tensor], ln_c: tuple[Tensor, Tensor],
                 eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """One layer-normalized LSTM step: each of the two products normalized
    over its 4H pre-activations, one bias, the cell state normalized inside
    the tanh of h. Returns (h_t, c_t), each (B, H); c_t is not normalized."""
    h, c = state
    pre = (layer_norm(x @ weight_ih.T, *ln_ih, eps) + layer_norm(h @ weight_hh.T, *ln_hh, eps)
           + bias)  # (B, 4H)
    i, f, g, o = pre.chunk(4, dim=1)  # (B, H) each
    c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
    h_t = torch.sigmoid(o) * torch.tanh(layer_norm(c_t, *ln_c, eps))  # (B, H)
    return h_t, c_t


# --- E. recurrent batch normalization -------------------------------------------------

class RecurrentBatchNorm(nn.Module):
    """Batch normalization with running statistics per time step: x (B, F) at
    step t is normalized with its batch statistics in training (updating row
    t of running_mean / running_var as torch.nn.BatchNorm1d updates its own)
    and with row t's running statistics in eval; steps from max_steps on use
    the last row. gamma starts at 0.1, beta at 0."""

    def __init__(self, num_features: int, max_steps: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.max_steps, self.eps, self.momentum = num_features, max_steps, eps, momentum
        self.weight = nn.Parameter(torch.full((num_features,), 0.1))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(max_steps, num_features))
        self.register_buffer("running_var", torch.ones(max_steps, num_features))

    def forward(self, x: Tensor, t: int) -> Tensor:
        row = min(int(t), self.max_steps - 1)
        if self.training:
            n = x.shape[0]
            mean = x.mean(dim=0)  # (F,)
            variance = ((x - mean) ** 2).mean(dim=0)  # (F,), biased: used to normalize
            with torch.no_grad():
                m = self.momentum
                self.running_mean[row] = (1.0 - m) * self.running_mean[row] + m * mean
                self.running_var[row] = (1.0 - m) * self.running_var[row] + m * variance * n / (n - 1)
        else:
            mean, variance = self.running_mean[row], self.running_var[row]  # (F,) each
        return self.weight * (x - mean) / torch.sqrt(variance + self.eps) + self.bias  # (B, F)


# --- statistics of random masks ---------------------------------------------------------

def binomial_bounds(n: int, p: float, sigmas: float = SIGMAS) -> tuple[float, float]:
    """The range of the fraction of successes in n Bernoulli(p) draws that the
    judge accepts: p +- sigmas standard deviations, plus half a count for the
    normal approximation's discreteness, clipped to [0, 1]."""
    spread = sigmas * float(np.sqrt(p * (1.0 - p) / n)) + 0.5 / n
    return max(0.0, p - spread), min(1.0, p + spread)


def within(fraction: float, n: int, p: float) -> bool:
    low, high = binomial_bounds(n, p)
    return low <= fraction <= high


def chance_all_equal(n: int, p: float) -> float:
    """Probability that two independent masks of n Bernoulli(p) entries are equal."""
    return float((p * p + (1.0 - p) * (1.0 - p)) ** n)


def chance_constant_rows(rows: int, length: int, p: float) -> float:
    """Probability that every one of `rows` rows of `length` Bernoulli(p)
    draws has a single value (all kept or all dropped)."""
    return float((p ** length + (1.0 - p) ** length) ** rows)
