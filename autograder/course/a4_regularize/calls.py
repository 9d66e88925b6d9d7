"""Assignment a4 (regularization): how each graded part is called.

Parts A to C draw random masks. Each call runs with torch's global generator
seeded (and restored afterwards, so the notebook's own random stream is left
as it was), and is judged by properties that hold for any draw: what each
entry may be, and how often it may be dropped (tests/test_cases.py runs the
judge on many seeds of the reference).
"""
from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from ...engine.runner.collect import Calls, Trial
from ..inputs import SHAPES, label, seeded, weights

#: The seed of torch's global generator while a part that draws masks runs.
DRAW_SEED = 7_400


def _float64(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.from_numpy(rng.normal(scale=scale, size=shape))


def _lstm_weights(rng: np.random.Generator, input_size: int, hidden_size: int) -> tuple:
    """weight_ih (4H, I), weight_hh (4H, H), bias_ih, bias_hh (4H,): float64 tensors."""
    shapes = [(4 * hidden_size, input_size), (4 * hidden_size, hidden_size), (4 * hidden_size,), (4 * hidden_size,)]
    return tuple(torch.from_numpy(weights(rng, shape, hidden_size)) for shape in shapes)


def _seeded_call(function: Callable, *args: Any) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DRAW_SEED)
        return function(*args)


# --- A. locked dropout ------------------------------------------------------------------

def dropout_trials() -> list[Trial]:
    rng = seeded(7401)
    specs = [  # (batch_size, seq_len, features, p, training); None: training left at its default
        (400, 3, 50, 0.3, True), (200, 4, 100, 0.65, None), (3, 7, 2, 0.25, True), (1, 1, 1, 0.5, True),
        (2, 5, 3, 0.4, False), (4, 3, 5, 0.0, True), (6, 2, 4, 0.0, None),
    ]
    trials = []
    for b, t, f, p, training in specs:
        x = _float64(rng, b, t, f)
        args = (x, p) if training is None else (x, p, training)
        mode = "training left at its default" if training is None else f"training={training}"
        trials.append(Trial(f"x of shape ({b}, {t}, {f}), p={p}, {mode}", args))
    return trials


def run_locked_dropout(function: Callable, args: tuple) -> dict[str, Any]:
    """Two calls on the same x (their masks must differ), the input as given
    and as it is after the calls."""
    x, p = args[0], args[1]
    given = x.clone()
    first, second = _seeded_call(lambda: (function(*args), function(*args)))
    return {"x": given, "p": p, "training": args[2] if len(args) > 2 else True, "first": first, "second": second,
            "x_after": x.clone()}


# --- B. weight-drop ---------------------------------------------------------------------

def weight_drop_trials() -> list[Trial]:
    rng = seeded(7402)
    specs = [(4, 70, 3, 4, 0.3), (3, 50, 2, 3, 0.6), (2, 3, 2, 5, 0.5)]  # (input_size, hidden_size, B, T, p)
    trials = []
    for i, h, b, t, p in specs:
        lstm_weights = _lstm_weights(rng, i, h)
        x, projection = _float64(rng, b, t, i), _float64(rng, b, t, h)
        trials.append(Trial(f"nn.LSTM({i}, {h}, batch_first=True) in float64, x of shape ({b}, {t}, {i}), p={p}",
                            (lstm_weights, x, projection, p)))
    return trials


def _raw_weight(lstm: nn.LSTM) -> Any:
    """The raw weight_hh_l0 where torch.nn.utils.parametrize keeps it, or None."""
    try:
        return lstm.parametrizations.weight_hh_l0.original
    except AttributeError:
        return None


def _weight_drop_forward(lstm: nn.LSTM, x: torch.Tensor, projection: torch.Tensor,
                         backward: bool = True) -> dict[str, Any]:
    """One forward: the raw weight before it, the weight_hh_l0 it used, its
    output, and (after a backward of sum(output * projection)) the gradient
    on the raw weight."""
    lstm.zero_grad(set_to_none=True)
    raw_before = _detached(_raw_weight(lstm))
    with parametrize.cached():  # the weight read here is the one the forward uses
        used = lstm.weight_hh_l0
        weight_ih = lstm.weight_ih_l0
        output, _ = lstm(x)
        if backward:
            (output * projection).sum().backward()
    raw = _raw_weight(lstm)
    grad = raw.grad if isinstance(raw, torch.Tensor) else None
    return {"raw": raw_before, "weight_hh": _detached(used), "weight_ih": _detached(weight_ih),
            "output": _detached(output), "raw_grad": _detached(grad)}


def _detached(value: Any) -> Any:
    return value.detach().clone() if isinstance(value, torch.Tensor) else value


def run_weight_drop(function: Callable, args: tuple) -> dict[str, Any]:
    """Build a float64 nn.LSTM with the trial's weights, call weight_drop on
    it, then: two forwards in training, one in eval, one in training again."""
    (weight_ih, weight_hh, bias_ih, bias_hh), x, projection, p = args

    def steps() -> dict[str, Any]:
        lstm = nn.LSTM(x.shape[2], weight_hh.shape[1], batch_first=True, dtype=torch.float64)
        with torch.no_grad():
            for name, value in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
                                   (weight_ih, weight_hh, bias_ih, bias_hh)):
                getattr(lstm, name).copy_(value)
        returned = function(lstm, p)
        lstm.train()
        first = _weight_drop_forward(lstm, x, projection)
        second = _weight_drop_forward(lstm, x, projection)
        lstm.eval()
        evaluated = _weight_drop_forward(lstm, x, projection, backward=False)
        lstm.train()
        again = _weight_drop_forward(lstm, x, projection, backward=False)
        return {"same_module": returned is lstm, "raw_found": isinstance(_raw_weight(lstm), torch.Tensor),
                "train": [first, second], "eval": evaluated, "again": again}

    return {"inputs": {"weights": (weight_ih.clone(), weight_hh.clone(), bias_ih.clone(), bias_hh.clone()),
                       "x": x.clone(), "projection": projection.clone(), "p": p},
            **_seeded_call(steps)}


# --- C. zoneout -------------------------------------------------------------------------

def zoneout_trials() -> list[Trial]:
    rng = seeded(7403)
    trials = []

    def add(b: int, i: int, h: int, p_h: float, p_c: float, training: bool) -> None:
        x, state = _float64(rng, b, i), (_float64(rng, b, h, scale=0.7), _float64(rng, b, h, scale=1.5))
        trials.append(Trial(f"{label(b, None, i, h, None)}, p_h={p_h}, p_c={p_c}, training={training}",
                            (x, state, *_lstm_weights(rng, i, h), p_h, p_c, training)))

    add(200, 3, 100, 0.15, 0.35, True)  # 20,000 entries: the rates are measured
    add(400, 2, 50, 0.4, 0.1, True)
    for (b, _, i, h, _), (p_h, p_c) in zip(SHAPES, [(0.3, 0.6), (0.1, 0.5), (0.45, 0.2), (0.25, 0.05),
                                                      (0.7, 0.35), (0.5, 0.15)]):
        add(b, i, h, p_h, p_c, False)
    add(3, 2, 4, 0.0, 0.0, True)  # nothing zoned out: the plain LSTM step
    add(1, 1, 1, 0.3, 0.6, True)
    return trials


def run_zoneout(function: Callable, args: tuple) -> dict[str, Any]:
    """The result, and the inputs as given (the judge recomputes the plain step from them)."""
    given = copy.deepcopy(args)
    return {"inputs": given, "result": _seeded_call(function, *args)}


# --- D. layer-normalized LSTM cell ------------------------------------------------------

def ln_trials() -> list[Trial]:
    rng = seeded(7404)
    trials = []
    shapes = [(b, i, h) for b, _, i, h, _ in SHAPES] + [(3, 4, 5), (2, 3, 1)]
    eps_values = [None, 1e-5, None, 0.1, 1e-3, None, 0.5, 0.01]
    for (b, i, h), eps in zip(shapes, eps_values):
        w_ih, w_hh, bias, _ = _lstm_weights(rng, i, h)
        scale = 0.05 if eps == 0.01 else 1.0  # small pre-activations: eps matters
        w_ih, w_hh = w_ih * scale, w_hh * scale
        x, state = _float64(rng, b, i), (_float64(rng, b, h, scale=0.7), _float64(rng, b, h, scale=1.5))
        norms = [(1.0 + 0.3 * _float64(rng, n), 0.3 * _float64(rng, n)) for n in (4 * h, 4 * h, h)]
        args = (x, state, w_ih, w_hh, bias, *norms) + (() if eps is None else (eps,))
        extra = ", eps left at its default" if eps is None else f", eps={eps}"
        trials.append(Trial(label(b, None, i, h, None) + extra, args))
    return trials


# --- E. recurrent batch norm -------------------------------------------------------------

def batch_norm_trials() -> list[Trial]:
    rng = seeded(7405)
    specs = [  # (num_features, max_steps, batch_size, options, training steps t, eval steps t)
        (4, 3, 6, {}, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]),
        (1, 1, 2, {"eps": 1e-3, "momentum": 0.3}, [0, 1, 2, 0], [0, 2]),
        (5, 4, 3, {"eps": 1e-2, "momentum": 0.5}, [0, 1, 2, 3, 4, 5] * 2, [5, 3, 1, 0]),
        (3, 6, 8, {"momentum": 0.25}, list(range(8)), list(range(8))),
    ]
    trials = []
    for features, max_steps, b, options, train_steps, eval_steps in specs:
        def batches(steps: list[int]) -> list[tuple[torch.Tensor, int]]:
            return [(torch.from_numpy(rng.normal(loc=rng.uniform(-2, 2, size=features),
                                                 scale=rng.uniform(0.5, 3.0, size=features),
                                                 size=(b, features))), t) for t in steps]
        extra = "".join(f", {k}={v}" for k, v in options.items())
        trials.append(Trial(f"RecurrentBatchNorm({features}, {max_steps}{extra}).double(), batch_size={b}, "
                            f"training steps t={train_steps}, then eval steps t={eval_steps}",
                            (features, max_steps, options, batches(train_steps), batches(eval_steps))))
    return trials


def _tensor_attribute(module: Any, name: str) -> Any:
    return _detached(getattr(module, name, None))


def run_batch_norm(cls: Callable, args: tuple) -> dict[str, Any]:
    """Build the module (as float64), run the training steps, then the eval steps."""
    return _seeded_call(_batch_norm_steps, cls, *args)


def _batch_norm_steps(cls: Callable, features: int, max_steps: int, options: dict, train: list,
                      evaluate: list) -> dict[str, Any]:
    module = cls(features, max_steps, **options).double()
    found = {"parameters": sorted(name for name, _ in module.named_parameters()),
             "buffers": sorted(name for name, _ in module.named_buffers()),
             "weight": _tensor_attribute(module, "weight"), "bias": _tensor_attribute(module, "bias")}
    module.train()
    found["train"] = [_detached(module(x, t)) for x, t in train]
    found["running_mean"] = _tensor_attribute(module, "running_mean")
    found["running_var"] = _tensor_attribute(module, "running_var")
    module.eval()
    with torch.no_grad():
        found["eval"] = [_detached(module(x, t)) for x, t in evaluate]
    return found


# --- F. the trained character model ----------------------------------------------------

# Given cells of the notebook, identical there.
VOCAB = "\n" + "".join(chr(i) for i in range(32, 127))  # 96 symbols, fixed


def encode(text: str) -> torch.Tensor:
    """The indices in VOCAB of the characters of `text`, (N,) int64; a
    character outside VOCAB counts as a space."""
    index = {symbol: k for k, symbol in enumerate(VOCAB)}
    space = index[" "]
    return torch.tensor([index.get(symbol, space) for symbol in text], dtype=torch.int64)


def bpc(model: nn.Module, ids: torch.Tensor, seq_len: int = 200) -> float:
    """Bits per character of `model` (in eval mode, no grad) on `ids`: cut into
    rows of seq_len + 1 (the remainder dropped), predict each next character
    of a row from the ones before it, state reset per row; mean cross-entropy / ln 2."""
    rows = len(ids) // (seq_len + 1)
    chunks = ids[: rows * (seq_len + 1)].reshape(rows, seq_len + 1)  # (rows, seq_len + 1)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(chunks[:, :-1])  # (rows, seq_len, V)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunks[:, 1:].reshape(-1))
    finally:
        model.train(was_training)
    return loss.item() / math.log(2)


class CharLM(nn.Module):
    """The model of Part F as the grader rebuilds it: embedding, one-layer
    batch-first LSTM, linear head. The notebook's CharLM also applies
    locked_dropout (Part A) to the LSTM's input and output and registers
    weight_drop (Part B) on its recurrent weights; in eval both do nothing,
    and the grader only evaluates, so this class leaves them out (it knows no
    answer to Parts A and B) and refuses to train with them."""

    def __init__(self, vocab_size: int, embedding_size: int = 64, hidden_size: int = 256,
                 dropout: float = 0.0, weight_drop_p: float = 0.0):
        super().__init__()
        self.dropout, self.weight_drop_p = dropout, weight_drop_p
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.rnn = nn.LSTM(embedding_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.training and (self.dropout > 0 or self.weight_drop_p > 0):
            raise RuntimeError("the grader's CharLM only evaluates: dropout is the notebook's")
        out, _ = self.rnn(self.embedding(ids))  # (B, T, H)
        return self.head(out)  # (B, T, V)


def model_trials() -> list[Trial]:
    return [Trial("the model train_char_model() returned", ())]


def run_model(model: Any, args: tuple) -> dict[str, Any]:
    """The trained model's settings and weights, for the grader to rebuild a
    CharLM and measure it on held-out text that never enters the kernel."""
    if model is None:  # the notebook's training cell leaves None when Part F is not done
        raise NotImplementedError("train_char_model did not return a model")
    embedding, rnn = getattr(model, "embedding", None), getattr(model, "rnn", None)
    return {
        "class": type(model).__name__,
        "vocab_size": getattr(embedding, "num_embeddings", None),
        "embedding_size": getattr(embedding, "embedding_dim", None),
        "hidden_size": getattr(rnn, "hidden_size", None),
        "dropout": getattr(model, "dropout", None),
        "weight_drop_p": getattr(model, "weight_drop_p", None),
        "state": {str(k): v for k, v in model.state_dict().items()} if isinstance(model, nn.Module) else None,
    }


CALLS: dict[str, Calls] = {
    "a4.locked_dropout": Calls("locked_dropout", dropout_trials, run=run_locked_dropout),
    "a4.weight_drop": Calls("weight_drop", weight_drop_trials, run=run_weight_drop),
    "a4.zoneout_lstm_cell": Calls("zoneout_lstm_cell", zoneout_trials, run=run_zoneout),
    "a4.ln_lstm_cell": Calls("ln_lstm_cell", ln_trials),
    "a4.recurrent_batch_norm": Calls("RecurrentBatchNorm", batch_norm_trials, run=run_batch_norm),
    "a4.trained_char_model": Calls("model", model_trials, run=run_model),
}
