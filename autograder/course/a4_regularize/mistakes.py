"""Assignment a4: realistic wrong implementations of the graded functions (see `engine.case.Mistake`).

Each is the reference's computation with one thing changed, the way its name
says; the tests show that the hidden test rejects every one, with its hint.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ...engine.case import variant
from .. import reference as ref


# --- A. locked dropout --------------------------------------------------------------

def _locked_dropout(x, p, training=True, flaw: str = ""):
    """Locked dropout with one `flaw`; correct when flaw is empty."""
    if flaw != "in eval" and (not training or p == 0.0):
        return x
    batch, steps, features = x.shape
    if flaw == "per step":  # ordinary dropout: a new mask for every entry, every step
        return F.dropout(x, p, training=True)
    if flaw == "fixed seed":  # the same mask at every call
        generator = torch.Generator().manual_seed(0)
        keep = torch.bernoulli(torch.full((batch, 1, features), 1.0 - p, dtype=x.dtype), generator=generator)
        return x * keep / (1.0 - p)
    shapes = {"shared over batch": (1, 1, features), "shared over features": (batch, 1, 1)}
    shape = shapes.get(flaw, (batch, 1, features))
    keep_probability = p if flaw == "p is keep" else 1.0 - p
    keep = torch.bernoulli(torch.full(shape, keep_probability, dtype=x.dtype))  # (B or 1, 1, F)
    if flaw == "no scaling":
        return x * keep
    if flaw == "times keep":
        return x * keep * (1.0 - p)
    return x * keep / keep_probability  # (B, T, F)


def _dropout_flawed(flaw: str):
    return variant(_locked_dropout, "dropout_" + flaw.replace(" ", "_"), flaw=flaw)


dropout_per_step = _dropout_flawed("per step")
dropout_no_scaling = _dropout_flawed("no scaling")
dropout_times_keep = _dropout_flawed("times keep")
dropout_in_eval = _dropout_flawed("in eval")
dropout_shared_over_batch = _dropout_flawed("shared over batch")
dropout_shared_over_features = _dropout_flawed("shared over features")
dropout_p_is_keep = _dropout_flawed("p is keep")
dropout_fixed_seed = _dropout_flawed("fixed seed")


# --- B. weight-drop -----------------------------------------------------------------

class _FlawedWeightDrop(nn.Module):
    """WeightDrop with one `flaw`; correct when flaw is empty."""

    def __init__(self, p: float, flaw: str = ""):
        super().__init__()
        self.p, self.flaw, self.mask = p, flaw, None

    def forward(self, weight):
        if not self.training and self.flaw != "in eval":
            return weight
        shape = (weight.shape[0], 1) if self.flaw == "rows" else \
            (1, weight.shape[1]) if self.flaw == "columns" else weight.shape
        keep = torch.bernoulli(torch.full(shape, 1.0 - self.p, dtype=weight.dtype))  # (4H, H), (4H, 1) or (1, H)
        if self.flaw == "once":  # drawn at the first call, then reused forever
            self.mask = keep if self.mask is None else self.mask
            keep = self.mask
        if self.flaw == "no scaling":
            return weight * keep
        if self.flaw == "in place":  # AWD-LSTM's way: overwrite the parameter's values
            with torch.no_grad():
                weight.mul_(keep / (1.0 - self.p))
            return weight
        if self.flaw == "detached":
            return (weight * keep / (1.0 - self.p)).detach()
        return weight * keep / (1.0 - self.p)


def _weight_drop(lstm, p, flaw: str = ""):
    name = "weight_ih_l0" if flaw == "weight_ih" else "weight_hh_l0"
    parametrize.register_parametrization(lstm, name, _FlawedWeightDrop(p, flaw))
    return lstm


def _weight_drop_flawed(flaw: str):
    return variant(_weight_drop, "weight_drop_" + flaw.replace(" ", "_"), flaw=flaw)


weight_drop_once = _weight_drop_flawed("once")
weight_drop_no_scaling = _weight_drop_flawed("no scaling")
weight_drop_in_eval = _weight_drop_flawed("in eval")
weight_drop_weight_ih = _weight_drop_flawed("weight_ih")
weight_drop_rows = _weight_drop_flawed("rows")
weight_drop_columns = _weight_drop_flawed("columns")
weight_drop_in_place = _weight_drop_flawed("in place")
weight_drop_detached = _weight_drop_flawed("detached")


def weight_drop_copy(lstm, p):
    """A new LSTM with the parametrization, not the one it was given."""
    import copy

    return ref.weight_drop(copy.deepcopy(lstm), p)


# --- C. zoneout ---------------------------------------------------------------------

def _zoneout(x, state, weight_ih, weight_hh, bias_ih, bias_hh, p_h, p_c, training=True, flaw: str = ""):
    """A zoneout LSTM step with one `flaw`; correct when flaw is empty."""
    h, c = state  # (B, H) each
    i, f, g, o = ref.lstm_gates(x, state, weight_ih, weight_hh, bias_ih, bias_hh)  # (B, H) each
    c_new = f * c + i * g  # (B, H)
    h_new = o * torch.tanh(c_new)  # (B, H)
    rate_h, rate_c = (p_c, p_h) if flaw == "rates swapped" else (p_h, p_c)
    if flaw == "dropout scaling":  # dropout on the update: the kept updates scaled by 1 / (1 - p)
        return h + F.dropout(h_new - h, rate_h, training), c + F.dropout(c_new - c, rate_c, training)
    if not training and flaw != "eval random":
        if flaw == "eval plain":
            return h_new, c_new
        if flaw in ("eval swapped", "wrong way"):
            return (1 - rate_h) * h + rate_h * h_new, (1 - rate_c) * c + rate_c * c_new
        c_t = rate_c * c + (1 - rate_c) * c_new  # (B, H)
        if flaw == "h from zoned c":
            h_new = o * torch.tanh(c_t)
        return rate_h * h + (1 - rate_h) * h_new, c_t
    zoned_c = torch.bernoulli(torch.full_like(c, rate_c))  # (B, H): 1 keeps the previous value
    zoned_h = zoned_c if flaw == "one mask" else torch.bernoulli(torch.full_like(h, rate_h))  # (B, H)
    if flaw == "wrong way":
        zoned_c, zoned_h = 1 - zoned_c, 1 - zoned_h
    c_t = zoned_c * c + (1 - zoned_c) * c_new  # (B, H)
    if flaw == "h from zoned c":
        h_new = o * torch.tanh(c_t)
    return zoned_h * h + (1 - zoned_h) * h_new, c_t


def _zoneout_flawed(flaw: str):
    return variant(_zoneout, "zoneout_" + flaw.replace(" ", "_"), flaw=flaw)


zoneout_wrong_way = _zoneout_flawed("wrong way")
zoneout_eval_random = _zoneout_flawed("eval random")
zoneout_eval_swapped = _zoneout_flawed("eval swapped")
zoneout_eval_plain = _zoneout_flawed("eval plain")
zoneout_one_mask = _zoneout_flawed("one mask")
zoneout_rates_swapped = _zoneout_flawed("rates swapped")
zoneout_dropout_scaling = _zoneout_flawed("dropout scaling")
zoneout_h_from_zoned_c = _zoneout_flawed("h from zoned c")


# --- D. layer-normalized LSTM cell --------------------------------------------------

def _norm(a, gamma, beta, eps, flaw: str = ""):
    axis = 0 if flaw == "batch axis" else -1
    mean = a.mean(dim=axis, keepdim=True)
    variance = a.var(dim=axis, keepdim=True, unbiased=flaw == "unbiased")
    if flaw == "eps outside":
        return gamma * (a - mean) / (torch.sqrt(variance) + eps) + beta
    return gamma * (a - mean) / torch.sqrt(variance + eps) + beta


def _norm_gates(a, gamma, beta, eps, flaw: str = ""):
    """LN of the 4H pre-activations, or of each gate's H on its own."""
    if flaw != "per gate":
        return _norm(a, gamma, beta, eps, flaw)
    parts = zip(a.chunk(4, dim=1), gamma.chunk(4), beta.chunk(4))
    return torch.cat([_norm(x, g, b, eps) for x, g, b in parts], dim=1)


def _ln_lstm(x, state, weight_ih, weight_hh, bias, ln_ih, ln_hh, ln_c, eps=1e-5, flaw: str = ""):
    """A layer-normalized LSTM step with one `flaw`; correct when flaw is empty."""
    h, c = state  # (B, H) each
    if flaw == "sum":  # one LN of the summed products
        pre = _norm(x @ weight_ih.T + h @ weight_hh.T, *ln_ih, eps) + bias  # (B, 4H)
    else:
        pre = _norm_gates(x @ weight_ih.T, *ln_ih, eps, flaw) + _norm_gates(h @ weight_hh.T, *ln_hh, eps, flaw) + bias
    i, f, g, o = pre.chunk(4, dim=1)  # (B, H) each
    c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (B, H)
    normalized = _norm(c_t, *ln_c, eps, flaw if flaw != "per gate" else "")  # (B, H)
    if flaw == "no cell norm":
        return torch.sigmoid(o) * torch.tanh(c_t), c_t
    if flaw == "norm on h":
        return _norm(torch.sigmoid(o) * torch.tanh(c_t), *ln_c, eps), c_t
    h_t = torch.sigmoid(o) * torch.tanh(normalized)  # (B, H)
    return h_t, normalized if flaw == "normalized c" else c_t


def _ln_flawed(flaw: str):
    return variant(_ln_lstm, "ln_" + flaw.replace(" ", "_"), flaw=flaw)


ln_batch_axis = _ln_flawed("batch axis")
ln_of_sum = _ln_flawed("sum")
ln_per_gate = _ln_flawed("per gate")
ln_unbiased = _ln_flawed("unbiased")
ln_eps_outside = _ln_flawed("eps outside")
ln_normalized_c = _ln_flawed("normalized c")
ln_norm_on_h = _ln_flawed("norm on h")
ln_no_cell_norm = _ln_flawed("no cell norm")


# --- E. recurrent batch norm --------------------------------------------------------

def _batch_norm_class(flaw: str) -> type:
    """RecurrentBatchNorm with one `flaw`."""

    class RecurrentBatchNorm(nn.Module):
        def __init__(self, num_features, max_steps, eps=1e-5, momentum=0.1):
            super().__init__()
            self.max_steps, self.eps, self.momentum = max_steps, eps, momentum
            self.weight = nn.Parameter(torch.full((num_features,), 1.0 if flaw == "gamma one" else 0.1))
            self.bias = nn.Parameter(torch.zeros(num_features))
            rows = () if flaw == "shared over time" else (max_steps,)
            self.register_buffer("running_mean", torch.zeros(*rows, num_features))
            self.register_buffer("running_var", torch.ones(*rows, num_features))

        def _row(self, buffer):
            """The running statistics of step t: one row per step, or the only one."""
            if flaw == "shared over time":
                return buffer
            return buffer[self.t if flaw == "no clamp" else min(self.t, self.max_steps - 1)]

        def forward(self, x, t):
            self.t = t
            if not self.training and flaw != "eval batch statistics":
                mean, variance = self._row(self.running_mean), self._row(self.running_var)  # (F,) each
                return self.weight * (x - mean) / torch.sqrt(variance + self.eps) + self.bias
            mean = x.mean(dim=0)  # (F,)
            variance = x.var(dim=0, unbiased=flaw == "unbiased normalization")  # (F,)
            if self.training:
                running = x.var(dim=0, unbiased=flaw != "biased running")  # (F,)
                m = self.momentum
                keep, add = (m, 1 - m) if flaw == "momentum reversed" else (1 - m, m)
                with torch.no_grad():
                    self._row(self.running_mean).copy_(keep * self._row(self.running_mean) + add * mean)
                    self._row(self.running_var).copy_(keep * self._row(self.running_var) + add * running)
            return self.weight * (x - mean) / torch.sqrt(variance + self.eps) + self.bias

    RecurrentBatchNorm.__qualname__ = f"RecurrentBatchNorm ({flaw})"
    return RecurrentBatchNorm


batch_norm_shared_over_time = _batch_norm_class("shared over time")
batch_norm_gamma_one = _batch_norm_class("gamma one")
batch_norm_eval_batch_statistics = _batch_norm_class("eval batch statistics")
batch_norm_biased_running = _batch_norm_class("biased running")
batch_norm_momentum_reversed = _batch_norm_class("momentum reversed")
batch_norm_no_clamp = _batch_norm_class("no clamp")
batch_norm_unbiased_normalization = _batch_norm_class("unbiased normalization")


# --- F. the trained character model ---------------------------------------------------

def _char_lm(vocab_size: int | None = None, **settings) -> nn.Module:
    """A CharLM as built, never trained, made without touching the global RNG."""
    from .calls import VOCAB, CharLM

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return CharLM(len(VOCAB) if vocab_size is None else vocab_size, **settings).eval()


class Bigram(nn.Module):
    """Counts of which character follows which, as logits: no LSTM, and not a CharLM."""

    def __init__(self, vocab_size: int = 96):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(vocab_size, vocab_size))

    def forward(self, ids):
        return self.logits[ids]  # (B, T, V)


def _resized() -> nn.Module:
    model = _char_lm(embedding_size=32, hidden_size=64)
    model.rnn.hidden_size = 48  # the settings say 48, the weights are 64 wide
    return model


char_untrained = _char_lm(embedding_size=32, hidden_size=64)
char_bigram = Bigram()
char_resized = _resized()
char_too_large = _char_lm(hidden_size=512)
char_own_vocabulary = _char_lm(vocab_size=65, embedding_size=16, hidden_size=32)  # the text's own characters
