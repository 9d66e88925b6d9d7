"""Assignment a4 (regularization): what is right for each graded part.

Parts A to C draw random masks, so no single result is right: they are
judged by properties that every correct draw has (each entry is one of the
allowed values; the mask has the right shape; two calls draw different
masks) and by how often entries are dropped, which must lie within 4.5
standard deviations of the binomial expectation (`ref.binomial_bounds`). A
correct implementation leaves those bounds with probability below 7e-6 per
check; tests/test_cases.py runs the judge on the reference with 200 seeds.
The inputs are large enough (20,000 mask entries) that the bounds are
narrower than 0.015, so a mask drawn with the wrong rate is rejected. Their
messages name the mistake themselves (`by_properties`).

Parts D and E are deterministic, compared with the reference; Part F is a
trained model, rebuilt from its settings and weights and measured on
held-out text that never enters the student's kernel.
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import torch

from ...engine.case import Case, Mistake
from ...engine.compare import compare_tensor, describe_type
from ...engine.runner import wire
from ...engine.runner.collect import Trial
from .. import reference as ref
from . import calls as a4_regularize
from . import mistakes as m
from .calls import VOCAB, CharLM, bpc, encode

A4_TOL = {"rtol": 1e-6, "atol": 1e-8}  # float64 tensors, as in the contract of Parts C, D, E
EXACT = {"rtol": 1e-12, "atol": 1e-12}  # "x / (1 - p)", up to the order of rounding


def _tensor_problem(what: str, got: Any, like: torch.Tensor) -> str | None:
    """Type, shape, dtype and finiteness of a tensor result; None if they are right."""
    if not isinstance(got, torch.Tensor):
        return f"{what} should be a torch.Tensor but is a {describe_type(got)}"
    if got.shape != like.shape:
        return f"{what} has shape {tuple(got.shape)}, expected shape {tuple(like.shape)}"
    if got.dtype != like.dtype:
        return f"{what} has dtype {got.dtype}, expected {like.dtype} (do not change the precision)"
    if not torch.isfinite(got).all():
        return f"{what} contains inf or nan"
    return None


def _not_sent(got: Any, keys: tuple[str, ...]) -> str | None:
    """What the grader's calls send is a dict with these keys; anything else did not come from them."""
    if isinstance(got, dict) and all(k in got for k in keys):
        return None
    return f"the result (a {describe_type(got)}) is not of the form this part's calls send back"


def _close(a: torch.Tensor, b: torch.Tensor, tol: dict) -> torch.Tensor:
    return torch.isclose(a, b, rtol=tol["rtol"], atol=tol["atol"])


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.1f}%"


def _rate_range(n: int, p: float) -> str:
    low, high = ref.binomial_bounds(n, p)
    return f"between {_percent(low)} and {_percent(high)}"


# --- A. locked dropout ------------------------------------------------------------------

A_PER_STEP = "the mask changes over time"
A_NOT_SCALED = "the kept entries are not scaled"
A_TIMES_KEEP = "multiplied by (1 - p) instead of divided by it"
A_IN_EVAL = "should return x unchanged"
A_SHARED_BATCH = "the same mask for every sequence of the batch"
A_SHARED_FEATURES = "the same mask for every feature of a sequence"
A_KEEP_PROBABILITY = "p is the probability of dropping"
A_SAME_TWICE = "two calls used the same mask"


def _check_locked_mask(out: torch.Tensor, x: torch.Tensor, p: float) -> str | None:
    """One training call's result: every (b, f) all 0 or all x / (1 - p), at the right rate."""
    zero = out == 0  # (B, T, F)
    kept = _close(out, x / (1 - p), EXACT)  # (B, T, F)
    if not (zero | kept).all():
        other = ~zero
        for scaled, message in ((x, f"{A_NOT_SCALED} by 1 / (1 - p): return x * mask / (1 - p), so that each "
                                    f"entry keeps its expected value"),
                                (x * (1 - p), f"the kept entries are {A_TIMES_KEEP}: return x * mask / (1 - p)"),
                                (x / p, f"the kept entries are x / p: {A_KEEP_PROBABILITY}, so the keep-mask is "
                                        f"Bernoulli(1 - p) and the kept entries are x / (1 - p)")):
            if _close(out[other], scaled[other], EXACT).all():
                return message
        return "some entries are neither 0 nor x / (1 - p): return x * mask / (1 - p) with a 0/1 mask"
    dropped, kept_pairs = zero.all(dim=1), kept.all(dim=1)  # (B, F) each
    if not (dropped | kept_pairs).all():
        return (f"{A_PER_STEP}: some (sequence, feature) pairs are dropped at some steps and kept at others; "
                f"draw one mask of shape (B, 1, F) and use it at every step")
    batch, features = kept_pairs.shape
    if batch > 1 and ref.chance_constant_rows(features, batch, p) < ref.NEGLIGIBLE \
            and (kept_pairs == kept_pairs[:1]).all():
        return (f"{A_SHARED_BATCH}: each feature is dropped for all sequences or for none; draw one mask per "
                f"sequence and feature, of shape (B, 1, F)")
    if features > 1 and ref.chance_constant_rows(batch, features, p) < ref.NEGLIGIBLE \
            and (kept_pairs == kept_pairs[:, :1]).all():
        return (f"{A_SHARED_FEATURES}: each sequence is dropped whole or kept whole; draw one mask entry per "
                f"sequence and feature, of shape (B, 1, F)")
    n = kept_pairs.numel()
    rate = float(dropped.double().mean())
    if ref.within(rate, n, p):
        return None
    if ref.within(rate, n, 1 - p):
        return (f"{_percent(rate)} of the (sequence, feature) pairs are dropped, about 1 - p: {A_KEEP_PROBABILITY} "
                f"(the keep-mask is Bernoulli(1 - p))")
    return (f"{_percent(rate)} of the {n} (sequence, feature) pairs are dropped; with p={p} a correct mask drops "
            f"{_rate_range(n, p)} of them (4.5 standard deviations)")


def _compare_locked_dropout(got: Any, expected: dict) -> str | None:
    x, p, training = expected["x"], expected["p"], expected["training"]
    if problem := _not_sent(got, ("first", "second", "x_after")):
        return problem
    if not isinstance(got["x_after"], torch.Tensor) or not torch.equal(got["x_after"], x):
        return "locked_dropout changed its input x in place: return a new tensor, x * mask / (1 - p)"
    first, second = got["first"], got["second"]
    for what, out in (("the result", first), ("the result of a second call", second)):
        problem = _tensor_problem(what, out, x)
        if problem:
            return problem
    if not training or p == 0:
        if _close(first, x, EXACT).all() and _close(second, x, EXACT).all():
            return None
        when = "with training=False" if not training else "with p=0"
        dropped = " (some entries are dropped)" if ((first == 0) | (second == 0)).any() else ""
        return f"{when} locked_dropout {A_IN_EVAL}{dropped}"
    problem = _check_locked_mask(first, x, p) or _check_locked_mask(second, x, p)
    if problem:
        return problem
    n = x.shape[0] * x.shape[2]
    if ref.chance_all_equal(n, p) < ref.NEGLIGIBLE and torch.equal(first == 0, second == 0):
        return (f"{A_SAME_TWICE}: draw a new mask at every call, from torch's global generator (do not seed "
                f"a generator inside the function)")
    return None


# --- B. weight-drop ---------------------------------------------------------------------

B_NOT_SAME = "weight_drop should return the LSTM it was given"
B_WEIGHT_IH = "weight_ih_l0 changed"
B_NO_RAW = "the raw weight is not at lstm.parametrizations.weight_hh_l0.original"
B_NOT_DROPPED = "is not dropped in training"
B_NOT_SCALED = "the kept weights are not scaled"
B_ROWS = "whole rows of weight_hh_l0 are dropped together"
B_COLUMNS = "whole columns of weight_hh_l0 are dropped together"
B_OUTPUT = "does not match a plain LSTM run with the weight_hh_l0 read in the same parametrize.cached() block"
B_RAW_CHANGED = "the raw weight lstm.parametrizations.weight_hh_l0.original changed"
B_NO_GRADIENT = "no gradient reaches the raw weight"
B_GRADIENT = "the gradient on the raw weight is not mask / (1 - p) times"
B_ONCE = "the two forward passes in training used the same mask"
B_IN_EVAL = "in eval, lstm.weight_hh_l0 should be the raw weight"
B_AGAIN = "after lstm.eval() and lstm.train() again"

_RAW = "lstm.parametrizations.weight_hh_l0.original"


def _check_dropped_weight(used: Any, raw: torch.Tensor, p: float, when: str) -> str | None:
    """A weight_hh_l0 read in training: each entry 0 or raw / (1 - p), single entries, the right rate."""
    problem = _tensor_problem(f"lstm.weight_hh_l0 {when}", used, raw)
    if problem:
        return problem
    zero, kept = used == 0, _close(used, raw / (1 - p), EXACT)  # (4H, H) each
    if not (zero | kept).all():
        if _close(used, raw, EXACT).all():
            return f"lstm.weight_hh_l0 {B_NOT_DROPPED} ({when}, it equals the raw weight)"
        if _close(used[~zero], raw[~zero], EXACT).all():
            return f"{B_NOT_SCALED} by 1 / (1 - p) ({when}): return weight * mask / (1 - p)"
        return f"lstm.weight_hh_l0 {when} has entries that are neither 0 nor raw / (1 - p)"
    rows, columns = used.shape
    if ref.chance_constant_rows(rows, columns, p) < ref.NEGLIGIBLE and (zero == zero[:, :1]).all():
        return f"{B_ROWS} ({when}): draw one mask entry per weight, a mask of the weight's shape"
    if ref.chance_constant_rows(columns, rows, p) < ref.NEGLIGIBLE and (zero == zero[:1]).all():
        return f"{B_COLUMNS} ({when}): draw one mask entry per weight, a mask of the weight's shape"
    n, rate = zero.numel(), float(zero.double().mean())
    if not ref.within(rate, n, p):
        return (f"{_percent(rate)} of the {n} recurrent weights are dropped ({when}); with p={p} a correct mask "
                f"drops {_rate_range(n, p)} of them")
    return None


def _check_forward(record: dict, inputs: dict, when: str, backward: bool = True) -> str | None:
    """The output of one forward is a plain LSTM's with the weight it read; the raw weight's gradient."""
    (weight_ih, weight_hh, bias_ih, bias_hh), x, projection, p = (inputs[k] for k in ("weights", "x", "projection",
                                                                                     "p"))
    used = record["weight_hh"]
    want = ref.lstm_output(x, weight_ih, used, bias_ih, bias_hh)
    problem = _tensor_problem(f"the LSTM's output {when}", record["output"], want)
    if problem:
        return problem
    if not _close(record["output"], want, A4_TOL).all():
        return f"the LSTM's output {when} {B_OUTPUT}: use torch.nn.utils.parametrize, so that nn.LSTM reads it"
    if not backward:
        return None
    grad = record["raw_grad"]
    if not isinstance(grad, torch.Tensor) or not bool((grad != 0).any()):
        return (f"{B_NO_GRADIENT} {_RAW} ({when}): compute the dropped weight from it with differentiable "
                f"operations (no .data, .detach() or torch.no_grad())")
    want = (used != 0).to(used.dtype) / (1 - p) * ref.weight_hh_gradient(x, weight_ih, used, bias_ih, bias_hh,
                                                                         projection)
    problem = _tensor_problem(f"the gradient on {_RAW}", grad, want)
    if problem:
        return problem
    if not _close(grad, want, A4_TOL).all():
        return (f"{B_GRADIENT} the gradient on the weight the forward used ({when}): return a new tensor "
                f"weight * mask / (1 - p); never overwrite the parameter in place")
    return None


def _compare_weight_drop(got: Any, expected: dict) -> str | None:
    inputs = expected["inputs"]
    (weight_ih, weight_hh, _, _), p = inputs["weights"], inputs["p"]
    if problem := _not_sent(got, ("same_module", "raw_found", "train", "eval", "again")):
        return problem
    if got["same_module"] is not True:
        return f"{B_NOT_SAME} (the same object), with the parametrization registered on it"
    first, second = got["train"]
    for record, when in ((first, "in the first training forward"), (second, "in the second training forward")):
        problem = _tensor_problem(f"lstm.weight_ih_l0 {when}", record["weight_ih"], weight_ih)
        if problem or not _close(record["weight_ih"], weight_ih, EXACT).all():
            return problem or (f"{B_WEIGHT_IH} {when}: weight-drop applies to the recurrent weights "
                               f"weight_hh_l0 only")
    if got["raw_found"] is not True:
        return (f"{B_NO_RAW}: register WeightDrop(p) on weight_hh_l0 with "
                f"torch.nn.utils.parametrize.register_parametrization")
    records = ((first, "the first training forward"), (second, "the second training forward"),
               (got["eval"], "the forward in eval"), (got["again"], "the training forward after eval"))
    for record, when in records:
        raw = record["raw"]
        if not isinstance(raw, torch.Tensor) or raw.shape != weight_hh.shape \
                or not _close(raw, weight_hh, EXACT).all():
            return (f"before {when}, {B_RAW_CHANGED} (it should keep the values it was given): compute "
                    f"weight * mask / (1 - p) as a new tensor, never overwrite the parameter in place")
    for record, when in ((first, "in the first training forward"), (second, "in the second training forward")):
        problem = _check_dropped_weight(record["weight_hh"], weight_hh, p, when) or _check_forward(record, inputs,
                                                                                                 when)
        if problem:
            return problem
    n = weight_hh.numel()
    if ref.chance_all_equal(n, p) < ref.NEGLIGIBLE and torch.equal(first["weight_hh"] == 0,
                                                                   second["weight_hh"] == 0):
        return f"{B_ONCE}: draw a new mask at every call of WeightDrop.forward"
    evaluated = got["eval"]
    problem = _tensor_problem("lstm.weight_hh_l0 in eval", evaluated["weight_hh"], weight_hh)
    if problem:
        return problem
    if not _close(evaluated["weight_hh"], weight_hh, EXACT).all():
        return f"{B_IN_EVAL}, unchanged: WeightDrop.forward returns the weight itself when not self.training"
    problem = _check_forward(evaluated, inputs, "in eval", backward=False)
    if problem:
        return problem
    again = got["again"]
    when = "in training after lstm.eval() and lstm.train()"
    problem = _check_dropped_weight(again["weight_hh"], weight_hh, p, when) or _check_forward(again, inputs, when,
                                                                                            backward=False)
    if problem:
        return problem
    if ref.chance_all_equal(n, p) < ref.NEGLIGIBLE and torch.equal(again["weight_hh"], weight_hh):
        return f"{B_AGAIN} nothing is dropped"
    return None


# --- C. zoneout -------------------------------------------------------------------------

C_WRONG_WAY = "kept its previous value in about 1 - p of the entries"
C_EVAL_RANDOM = "the result is randomly zoned out"
C_EVAL_SWAPPED = "the mix has p and 1 - p swapped"
C_EVAL_PLAIN = "the result is the plain LSTM step"
_IN_EVAL = "In eval (training=False)"
C_ONE_MASK = "h and c are zoned out with the same mask"
C_RATES_SWAPPED = "the rates of h and c look swapped"
C_SCALED = "looks scaled by 1 / (1 - p) as in dropout"
C_FROM_ZONED = "h_new seems computed from the zoned-out cell state"


def _zoneout_pair(got: Any) -> tuple[Any, Any] | str:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"should return a tuple (h_t, c_t) but returned a {describe_type(got)}"
    return got


def _diagnose_zoneout_eval(h_t: torch.Tensor, c_t: torch.Tensor, inputs: tuple) -> str | None:
    x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh, p_h, p_c, _ = inputs
    h_new, c_new = ref.lstm_step(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
    both = [(h_t, h, h_new), (c_t, c, c_new)]
    if all(_close(t, new, A4_TOL).all() for t, _, new in both):
        return (f"{_IN_EVAL} {C_EVAL_PLAIN}: zoneout in eval uses its expectation, "
                f"h_t = p_h * h + (1 - p_h) * h_new and c_t = p_c * c + (1 - p_c) * c_new")
    if all(_close(t, (1 - p) * old + p * new, A4_TOL).all() for (t, old, new), p in zip(both, (p_h, p_c))):
        return (f"{_IN_EVAL} {C_EVAL_SWAPPED}: h_t = p_h * h + (1 - p_h) * h_new, as d = 1 (probability p) "
                f"keeps the old value")
    if all((_close(t, old, A4_TOL) | _close(t, new, A4_TOL)).all() for t, old, new in both):
        return (f"{_IN_EVAL} {C_EVAL_RANDOM}: there is no mask in eval, h_t = p_h * h + (1 - p_h) * h_new "
                f"(and c_t likewise)")
    o = ref.lstm_gates(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)[3]
    if _close(c_t, p_c * c + (1 - p_c) * c_new, A4_TOL).all() \
            and _close(h_t, p_h * h + (1 - p_h) * o * torch.tanh(c_t), A4_TOL).all():
        return f"{_IN_EVAL} {C_FROM_ZONED} c_t: h_new = o * tanh(c_new) uses the new, un-zoned cell state"
    return None


def _zoned_entries(t: torch.Tensor, old: torch.Tensor, new: torch.Tensor, p: float, name: str,
                   o: torch.Tensor, c_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | str:
    """(kept old, unambiguous) masks of one state's entries, or what is wrong with them."""
    is_old, is_new = _close(t, old, A4_TOL), _close(t, new, A4_TOL)  # (B, H) each
    if (is_old | is_new).all():
        return is_old, is_old ^ is_new
    if _close(t, old + (new - old) / (1 - p), A4_TOL)[~is_old].all():
        return (f"{name}_t {C_SCALED}: zoneout keeps the previous value or takes the new one, unscaled: "
                f"{name}_t = d * {name} + (1 - d) * {name}_new")
    if name == "h" and (is_old | _close(t, o * torch.tanh(c_t), A4_TOL)).all():
        return f"{C_FROM_ZONED} c_t: h_new = o * tanh(c_new) uses the new, un-zoned cell state"
    return (f"some entries of {name}_t are neither the previous {name} nor the new LSTM value {name}_new: in "
            f"training each entry is one or the other, {name}_t = d * {name} + (1 - d) * {name}_new")


def _check_zoneout_training(h_t: torch.Tensor, c_t: torch.Tensor, inputs: tuple) -> str | None:
    x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh, p_h, p_c, _ = inputs
    h_new, c_new = ref.lstm_step(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)
    o = ref.lstm_gates(x, (h, c), weight_ih, weight_hh, bias_ih, bias_hh)[3]
    found = {}
    for name, t, old, new, p in (("c", c_t, c, c_new, p_c), ("h", h_t, h, h_new, p_h)):
        entries = _zoned_entries(t, old, new, p, name, o, c_t)
        if isinstance(entries, str):
            return entries
        found[name] = entries
    (old_h, clear_h), (old_c, clear_c) = found["h"], found["c"]
    both = clear_h & clear_c
    agree = 1.0 - (p_h + p_c - 2 * p_h * p_c)  # chance that independent draws agree in one entry
    if agree ** int(both.sum()) < ref.NEGLIGIBLE and torch.equal(old_h[both], old_c[both]):
        return f"{C_ONE_MASK}: draw two independent masks, d_h with rate p_h and d_c with rate p_c"
    n_h, n_c = max(int(clear_h.sum()), 1), max(int(clear_c.sum()), 1)
    rate_h = float(old_h[clear_h].double().mean()) if clear_h.any() else p_h
    rate_c = float(old_c[clear_c].double().mean()) if clear_c.any() else p_c
    if ref.within(rate_h, n_h, p_h) and ref.within(rate_c, n_c, p_c):
        return None
    if ref.within(rate_h, n_h, p_c) and ref.within(rate_c, n_c, p_h):
        return (f"{C_RATES_SWAPPED}: h kept its previous value in {_percent(rate_h)} of the entries and c in "
                f"{_percent(rate_c)}, with p_h={p_h} and p_c={p_c}")
    if ref.within(rate_h, n_h, 1 - p_h) and ref.within(rate_c, n_c, 1 - p_c):
        return (f"h_t {C_WRONG_WAY} ({_percent(rate_h)} with p_h={p_h}): d = 1, drawn with probability p, "
                f"keeps the previous value")
    name, rate, n, p = ("h", rate_h, n_h, p_h) if not ref.within(rate_h, n_h, p_h) else ("c", rate_c, n_c, p_c)
    return (f"{name}_t kept its previous value in {_percent(rate)} of its {n} entries; with p_{name}={p} a "
            f"correct mask keeps {_rate_range(n, p)} of them")


def _compare_zoneout(got: Any, expected: dict) -> str | None:
    inputs = expected["inputs"]
    if problem := _not_sent(got, ("result",)):
        return problem
    pair = _zoneout_pair(got["result"])
    if isinstance(pair, str):
        return pair
    (h_t, c_t), (h_want, c_want) = pair, expected["result"]
    problem = _tensor_problem("the new hidden state h_t", h_t, h_want) or \
        _tensor_problem("the new cell state c_t", c_t, c_want)
    if problem:
        return problem
    if inputs[-1]:  # training
        return _check_zoneout_training(h_t, c_t, inputs)
    wrong = [compare_tensor(n, g, e, **A4_TOL) for n, g, e in (("the new hidden state h_t", h_t, h_want),
                                                               ("the new cell state c_t", c_t, c_want))]
    if not any(wrong):
        return None
    message = f"{wrong[0]}; c_t is wrong too" if all(wrong) else (
        wrong[0] or wrong[1]) + ("; c_t is right" if wrong[0] else "; h_t is right")
    diagnosis = _diagnose_zoneout_eval(h_t, c_t, inputs)
    return f"{message}. {diagnosis}" if diagnosis else message


def _explain_zoneout(passed: list[tuple[Trial, bool]]) -> str | None:
    """Say which mode fails when the other is right."""
    modes = {flag: [ok for t, ok in passed if t.label.endswith(f"training={flag}")] for flag in ("True", "False")}
    if all(modes["True"]) and not all(modes["False"]):
        return "Training (training=True) is right; eval (training=False) is not"
    if all(modes["False"]) and not all(modes["True"]):
        return "Eval (training=False) is right; training (training=True) is not"
    return None


# --- D. layer-normalized LSTM cell ------------------------------------------------------

def _compare_ln(got: Any, expected: tuple) -> str | None:
    if not isinstance(got, tuple) or len(got) != 2:
        return f"should return a tuple (h_t, c_t) but returned a {describe_type(got)}"
    names = ("the new hidden state h_t", "the new cell state c_t")
    wrong = [compare_tensor(n, g, e, **A4_TOL) for n, g, e in zip(names, got, expected)]
    if wrong[0] and wrong[1]:
        return f"{wrong[0]}; c_t is wrong too"
    if wrong[0] or wrong[1]:
        return (wrong[0] or wrong[1]) + ("; c_t is right" if wrong[0] else "; h_t is right")
    return None


# --- E. recurrent batch norm -------------------------------------------------------------

def _compare_steps(what: str, got: Any, expected: list) -> str | None:
    if not isinstance(got, list) or len(got) != len(expected):
        return f"{what}: the grader's calls did not all return"
    for k, (g, e) in enumerate(zip(got, expected)):
        message = compare_tensor(f"{what} at call {k + 1}", g, e, **A4_TOL)
        if message:
            return message
    return None


def _compare_batch_norm(got: Any, expected: dict) -> str | None:
    if problem := _not_sent(got, tuple(expected)):
        return problem
    parameters, buffers = got["parameters"], got["buffers"]
    if not isinstance(parameters, list) or not {"weight", "bias"} <= set(parameters):
        return ("RecurrentBatchNorm should hold its gamma and beta as parameters named weight and bias "
                "(nn.Parameter)")
    if not isinstance(buffers, list) or not {"running_mean", "running_var"} <= set(buffers):
        return ("RecurrentBatchNorm should keep running_mean and running_var as buffers "
                "(self.register_buffer), so that .double() and state_dict() include them")
    return (compare_tensor("the initial weight (gamma)", got["weight"], expected["weight"], **A4_TOL)
            or compare_tensor("the initial bias (beta)", got["bias"], expected["bias"], **A4_TOL)
            or _compare_steps("the output in training", got["train"], expected["train"])
            or compare_tensor("running_mean after the training steps", got["running_mean"],
                              expected["running_mean"], **A4_TOL)
            or compare_tensor("running_var after the training steps", got["running_var"],
                              expected["running_var"], **A4_TOL)
            or _compare_steps("the output in eval", got["eval"], expected["eval"]))


# --- F. the trained character model ----------------------------------------------------

#: Held-out bits per character a trained CharLM must reach (lower is better).
#: Calibrated with the solution's recipe (30,000 training characters, 150 steps, dropout and
#: weight-drop 0.25), seeds 0-4: regularized 2.738-2.785 held-out bpc; the same recipe without
#: regularization (early stopping kept; its best is at step 75, so 150 or 200 steps give the
#: same model) 2.856-2.911. Every run measured on several paths (native, MKL_CBWR=COMPATIBLE,
#: ATEN_CPU_CAPABILITY=default) agreed to 1e-4. About 0.035 on each side of the target.
BPC_TARGET = 2.82
MAX_EMBEDDING, MAX_HIDDEN = 64, 256  # the contract's limits; larger models are not rebuilt
_RAW_KEY, _PLAIN_KEY = "rnn.parametrizations.weight_hh_l0.original", "rnn.weight_hh_l0"


@functools.cache
def _held_out_ids() -> torch.Tensor:
    """The rest of the play after the released text, (N,) int64: read here and
    never sent to the student's kernel."""
    text = resources.files(__package__).joinpath("heldout.txt").read_text(encoding="utf-8")
    return encode(text)


def rebuild_char_model(got: Any) -> CharLM | str:
    """The CharLM described by what the kernel sent (settings and weights), in
    eval mode, or a message saying why it cannot be rebuilt."""
    if not isinstance(got, dict) or got.get("class") != "CharLM":
        name = got.get("class") if isinstance(got, dict) else describe_type(got)
        return (f"the model should be the CharLM that train_char_model trained (the class given in the "
                f"notebook), not a {name}")
    vocab, embedding, hidden, state = (got.get(k) for k in ("vocab_size", "embedding_size", "hidden_size", "state"))
    if vocab != len(VOCAB):
        return (f"the CharLM's vocab_size should be len(VOCAB) = {len(VOCAB)}, the given vocabulary, "
                f"not {vocab if type(vocab) is int else 'unknown'}")
    if type(embedding) is not int or type(hidden) is not int \
            or not (1 <= embedding <= MAX_EMBEDDING and 1 <= hidden <= MAX_HIDDEN):
        return (f"the CharLM's settings are not usable: embedding_size from 1 to {MAX_EMBEDDING}, "
                f"hidden_size from 1 to {MAX_HIDDEN}")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        return "the CharLM's weights did not come back as tensors"
    plain = {(_PLAIN_KEY if k == _RAW_KEY else k): v for k, v in state.items()
             if k == _RAW_KEY or not k.startswith("rnn.parametrizations.")}
    with torch.random.fork_rng(devices=[]):  # the random initial weights are overwritten: leave the RNG alone
        torch.manual_seed(0)
        model = CharLM(vocab, embedding, hidden)
    try:
        model.load_state_dict({k: v.float() for k, v in plain.items()}, strict=True)
    except (RuntimeError, KeyError, TypeError):
        return (f"the weights do not fit a CharLM({vocab}, embedding_size={embedding}, hidden_size={hidden}): "
                f"return the CharLM you trained, unchanged")
    return model.eval()


def held_out_bpc(model: torch.nn.Module) -> float:
    """Bits per character on Part F's held-out text of a trained model,
    measured as grading measures it (rebuilt from its settings and weights):
    what tests/test_training_parts.py measures the reference by."""
    (sent,) = wire.unpack(*wire.pack([a4_regularize.run_model(model, ())]))
    rebuilt = rebuild_char_model(sent)
    if isinstance(rebuilt, str):
        raise ValueError(rebuilt)
    return bpc(rebuilt, _held_out_ids())


def _compare_char_model(got: Any, expected: Any) -> str | None:
    rebuilt = rebuild_char_model(got)
    if isinstance(rebuilt, str):
        return rebuilt
    score = bpc(rebuilt, _held_out_ids())
    if not score <= BPC_TARGET:
        return (f"the model's bits per character on held-out text are {score:.3f}; this part needs at most "
                f"{BPC_TARGET} (predicting all {len(VOCAB)} symbols as equally likely gives "
                f"{float(torch.log2(torch.tensor(float(len(VOCAB))))):.2f})")
    return None


# --- the cases ---------------------------------------------------------------------------

BN_CLAMP = "steps t >= max_steps use the running statistics of the last step, max_steps - 1"

CASES: dict[str, Case] = {
    "a4.locked_dropout": Case(
        title="locked_dropout",
        reference=ref.locked_dropout,
        compare=_compare_locked_dropout,
        by_properties=True,
        mistakes=(
            Mistake(m.dropout_per_step, A_PER_STEP),
            Mistake(m.dropout_no_scaling, A_NOT_SCALED),
            Mistake(m.dropout_times_keep, A_TIMES_KEEP),
            Mistake(m.dropout_in_eval, A_IN_EVAL),
            Mistake(m.dropout_shared_over_batch, A_SHARED_BATCH),
            Mistake(m.dropout_shared_over_features, A_SHARED_FEATURES),
            Mistake(m.dropout_p_is_keep, A_KEEP_PROBABILITY),
            Mistake(m.dropout_fixed_seed, A_SAME_TWICE),
        ),
    ),
    "a4.weight_drop": Case(
        title="weight_drop",
        reference=ref.weight_drop,
        compare=_compare_weight_drop,
        by_properties=True,
        mistakes=(
            Mistake(m.weight_drop_once, B_ONCE),
            Mistake(m.weight_drop_no_scaling, B_NOT_SCALED),
            Mistake(m.weight_drop_in_eval, B_IN_EVAL),
            Mistake(m.weight_drop_weight_ih, B_WEIGHT_IH),
            Mistake(m.weight_drop_rows, B_ROWS),
            Mistake(m.weight_drop_columns, B_COLUMNS),
            Mistake(m.weight_drop_in_place, B_RAW_CHANGED),
            Mistake(m.weight_drop_detached, B_NO_GRADIENT),
            Mistake(m.weight_drop_copy, B_NOT_SAME),
        ),
    ),
    "a4.zoneout_lstm_cell": Case(
        title="zoneout_lstm_cell",
        reference=ref.zoneout_lstm_cell,
        compare=_compare_zoneout,
        by_properties=True,
        explain=_explain_zoneout,
        mistakes=(
            Mistake(m.zoneout_wrong_way, C_WRONG_WAY),
            Mistake(m.zoneout_eval_random, C_EVAL_RANDOM),
            Mistake(m.zoneout_eval_swapped, C_EVAL_SWAPPED),
            Mistake(m.zoneout_eval_plain, C_EVAL_PLAIN),
            Mistake(m.zoneout_one_mask, C_ONE_MASK),
            Mistake(m.zoneout_rates_swapped, C_RATES_SWAPPED),
            Mistake(m.zoneout_dropout_scaling, C_SCALED),
            Mistake(m.zoneout_h_from_zoned_c, C_FROM_ZONED),
        ),
    ),
    "a4.ln_lstm_cell": Case(
        title="ln_lstm_cell",
        reference=ref.ln_lstm_cell,
        compare=_compare_ln,
        mistakes=(
            Mistake(m.ln_batch_axis, "the result matches layer norm over the batch axis: normalize each "
                    "example over its last axis (dim=-1)"),
            Mistake(m.ln_of_sum, "the result matches one layer norm of the summed products: normalize "
                    "x @ weight_ih.T with ln_ih and h @ weight_hh.T with ln_hh, each on its own, then add them"),
            Mistake(m.ln_per_gate, "the result matches each gate's H pre-activations normalized on their own: "
                    "normalize all 4H of one example together"),
            Mistake(m.ln_unbiased, "the result matches the unbiased variance: layer norm divides by N, as "
                    "nn.LayerNorm does (unbiased=False)"),
            Mistake(m.ln_eps_outside, "the result matches eps added outside the square root: "
                    "divide by sqrt(var + eps)"),
            Mistake(m.ln_normalized_c, "c_t looks normalized: return the cell state c_t itself and normalize "
                    "only inside the tanh of h_t"),
            Mistake(m.ln_norm_on_h, "the result matches layer norm applied to h_t: h_t = sigmoid(o) * "
                    "tanh(LN(c_t)), with the norm inside the tanh"),
            Mistake(m.ln_no_cell_norm, "h_t matches sigmoid(o) * tanh(c_t): normalize the cell state with "
                    "ln_c inside the tanh"),
        ),
    ),
    "a4.recurrent_batch_norm": Case(
        title="RecurrentBatchNorm",
        reference=ref.RecurrentBatchNorm,
        compare=_compare_batch_norm,
        error_hints=(("out of bounds", BN_CLAMP), ("out of range", BN_CLAMP)),
        mistakes=(
            Mistake(m.batch_norm_shared_over_time, "the statistics look shared over time: keep one row of "
                    "running statistics per step, buffers of shape (max_steps, num_features)"),
            Mistake(m.batch_norm_gamma_one, "gamma looks initialized to 1: initialize weight to 0.1"),
            Mistake(m.batch_norm_eval_batch_statistics, "eval seems to use the batch's statistics: in eval, "
                    "normalize with row t of running_mean and running_var"),
            Mistake(m.batch_norm_biased_running, "running_var matches an update with the biased variance: the "
                    "running update uses the unbiased variance (divide by B - 1), as nn.BatchNorm1d"),
            Mistake(m.batch_norm_momentum_reversed, "the running statistics look updated with momentum the "
                    "wrong way round: running = (1 - momentum) * running + momentum * batch statistic"),
            Mistake(m.batch_norm_no_clamp, BN_CLAMP),
            Mistake(m.batch_norm_unbiased_normalization, "the training output matches normalization with the "
                    "unbiased variance: normalize with the biased batch variance (divide by B)"),
        ),
    ),
    "a4.trained_char_model": Case(
        title="the trained character model",
        reference=None,
        compare=_compare_char_model,
        by_properties=True,
        mistakes=(
            Mistake(m.char_untrained, "this part needs at most"),
            Mistake(m.char_bigram, "the model should be the CharLM that train_char_model trained"),
            Mistake(m.char_resized, "the weights do not fit a CharLM"),
            Mistake(m.char_too_large, "settings are not usable"),
            Mistake(m.char_own_vocabulary, "vocab_size should be len(VOCAB)"),
        ),
    ),
}
