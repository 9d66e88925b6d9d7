"""The reference implementations agree with PyTorch's built-ins."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.course import reference as ref

SIZES = [(1, 1, 1, 1, 1), (2, 5, 3, 4, 2), (3, 7, 1, 2, 3), (4, 6, 5, 3, 7)]


def params_of(rnn: nn.RNN, head: nn.Linear) -> dict[str, np.ndarray]:
    """Read the weights straight from the modules (independent of the reference's converter)."""
    return {
        "weight_ih": rnn.weight_ih_l0.detach().numpy(), "weight_hh": rnn.weight_hh_l0.detach().numpy(),
        "bias_ih": rnn.bias_ih_l0.detach().numpy(), "bias_hh": rnn.bias_hh_l0.detach().numpy(),
        "weight_hy": head.weight.detach().numpy(), "bias_y": head.bias.detach().numpy(),
    }


@pytest.mark.parametrize("b,t,i,h,o", SIZES)
def test_cell_matches_rnncell(b, t, i, h, o):
    torch.manual_seed(b * 100 + h)
    cell = nn.RNNCell(i, h).double()
    x, h_prev = torch.randn(b, i, dtype=torch.float64), torch.randn(b, h, dtype=torch.float64)
    got = ref.rnn_cell_forward(x.numpy(), h_prev.numpy(), *(p.detach().numpy() for p in
                               (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)))
    torch.testing.assert_close(torch.from_numpy(got), cell(x, h_prev), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("b,t,i,h,o", SIZES)
def test_forward_matches_rnn_and_linear(b, t, i, h, o):
    torch.manual_seed(t * 10 + o)
    rnn, head = nn.RNN(i, h, batch_first=True).double(), nn.Linear(h, o).double()
    x, h0 = torch.randn(b, t, i, dtype=torch.float64), torch.randn(1, b, h, dtype=torch.float64)
    hs, ys = ref.rnn_forward(x.numpy(), h0[0].numpy(), params_of(rnn, head))
    out, h_n = rnn(x, h0)
    torch.testing.assert_close(torch.from_numpy(hs), out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.from_numpy(hs[:, -1]), h_n[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.from_numpy(ys), head(out), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_first", [True, False])
def test_params_from_torch_reproduce_the_module(batch_first):
    torch.manual_seed(3)
    rnn, head = nn.RNN(3, 5, batch_first=batch_first), nn.Linear(5, 2)
    params = ref.rnn_params_from_torch(rnn, head)
    assert all(v.dtype == np.float64 for v in params.values())
    x = torch.randn(4, 6, 3)
    with torch.no_grad():
        out, _ = rnn(x if batch_first else x.transpose(0, 1))
        out = out if batch_first else out.transpose(0, 1)
        expected = head(out).numpy()
    _, ys = ref.rnn_forward(x.double().numpy(), np.zeros((4, 5)), params)
    np.testing.assert_allclose(ys, expected, rtol=1e-5, atol=1e-5)  # torch ran in float32


def test_params_from_torch_copies_and_fills_missing_biases():
    rnn, head = nn.RNN(2, 3, bias=False), nn.Linear(3, 4, bias=False)
    params = ref.rnn_params_from_torch(rnn, head)
    for key, size in (("bias_ih", 3), ("bias_hh", 3), ("bias_y", 4)):
        np.testing.assert_array_equal(params[key], np.zeros(size))
    params["weight_hh"][0, 0] = 123.0
    assert rnn.weight_hh_l0[0, 0].item() != 123.0, "the arrays must be copies"


@pytest.mark.parametrize("kwargs", [{"num_layers": 2}, {"bidirectional": True}, {"nonlinearity": "relu"}])
def test_params_from_torch_rejects_what_numpy_cannot_run(kwargs):
    with pytest.raises(ValueError):
        ref.rnn_params_from_torch(nn.RNN(2, 3, **kwargs), nn.Linear(3, 1))


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3, 1e6])
def test_cross_entropy_matches_torch_and_is_stable(scale):
    rng = np.random.default_rng(int(scale))
    logits, targets = scale * rng.normal(size=(3, 5, 4)), rng.integers(0, 4, size=(3, 5))
    expected = F.cross_entropy(torch.from_numpy(logits).reshape(15, 4), torch.from_numpy(targets).reshape(15)).item()
    got = ref.sequence_cross_entropy(logits, targets)
    assert isinstance(got, float) and np.isfinite(got)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_log_softmax_matches_torch():
    logits = np.random.default_rng(0).normal(scale=50.0, size=(2, 3, 7))
    np.testing.assert_allclose(ref.log_softmax(logits), torch.log_softmax(torch.from_numpy(logits), -1).numpy(),
                               rtol=1e-12, atol=1e-12)


# --- a2 ---------------------------------------------------------------------------

def _a2_problem(seed: int = 0, b: int = 3, t: int = 5, i: int = 2, h: int = 4, o: int = 3):
    rng = np.random.default_rng(seed)
    params = {"weight_ih": rng.normal(size=(h, i)), "weight_hh": 0.5 * rng.normal(size=(h, h)),
              "bias_ih": rng.normal(size=h), "bias_hh": rng.normal(size=h),
              "weight_hy": rng.normal(size=(o, h)), "bias_y": rng.normal(size=o)}
    return rng.normal(size=(b, t, i)), rng.integers(0, o, size=(b, t)), rng.normal(size=(b, h)), params


def test_forward_with_cache_matches_a1_reference():
    x, targets, h0, params = _a2_problem()
    loss, cache = ref.rnn_forward_with_cache(x, targets, h0, params)
    hs, ys = ref.rnn_forward(x, h0, params)
    np.testing.assert_array_equal(cache["hs"], hs)
    np.testing.assert_allclose(cache["ps"].sum(axis=-1), 1.0)
    assert loss == pytest.approx(ref.sequence_cross_entropy(ys, targets))


@pytest.mark.parametrize("seed,t", [(0, 1), (1, 5), (2, 8)])
def test_backward_agrees_with_finite_differences_and_hand_written_bptt(seed, t):
    """Three independent computations: autograd, central differences, BPTT by hand."""
    from autograder.course.a2_bptt.mistakes import _bptt

    x, targets, h0, params = _a2_problem(seed, t=t)
    _, cache = ref.rnn_forward_with_cache(x, targets, h0, params)
    grads, by_hand = ref.rnn_backward(cache), _bptt(cache)
    arrays = {**params, "h0": h0}
    for key, array in arrays.items():
        numeric = ref.numerical_gradient(lambda: ref.rnn_forward_with_cache(x, targets, h0, params)[0], array)
        assert ref.relative_error(numeric, grads[key]) < 1e-7, key
        np.testing.assert_allclose(by_hand[key], grads[key], rtol=1e-10, atol=1e-13)


def test_numerical_gradient_restores_and_is_second_order():
    p = np.array([0.3, -1.2])
    kept = p.copy()
    grad = ref.numerical_gradient(lambda: float(np.sum(p ** 3)), p, eps=1e-4)
    np.testing.assert_array_equal(p, kept)
    np.testing.assert_allclose(grad, 3 * p ** 2 + 1e-8, rtol=1e-9)  # the central difference's exact error: eps**2


def test_relative_error_properties():
    a = np.random.default_rng(0).normal(size=(3, 4))
    assert ref.relative_error(a, a) == 0.0 and ref.relative_error(a, -a) == pytest.approx(1.0)
    assert ref.relative_error(np.zeros(2), np.zeros(2)) == 0.0


def test_clip_grad_norm_follows_the_formula():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    before = [g.copy() for g in grads]
    total = np.sqrt(sum(float(np.sum(g ** 2)) for g in before))
    assert ref.clip_grad_norm(grads, 0.5) == pytest.approx(total, rel=1e-12)
    for g, b in zip(grads, before):
        np.testing.assert_allclose(g, b * 0.5 / (total + 1e-6), rtol=1e-12)
    small = [1e-3 * before[0]]
    ref.clip_grad_norm(small, 0.5)
    np.testing.assert_array_equal(small[0], 1e-3 * before[0])


def test_tbptt_carries_the_state_and_stops_gradients_at_chunk_boundaries():
    torch.manual_seed(0)
    rnn, head = nn.RNN(2, 3, batch_first=True).double(), nn.Linear(3, 2).double()
    x, targets = torch.randn(2, 7, 2, dtype=torch.float64), torch.randint(0, 2, (2, 7))
    frozen = torch.optim.SGD([*rnn.parameters(), *head.parameters()], lr=0.0)
    losses = ref.tbptt_train(rnn, head, x, targets, 3, frozen)
    with torch.no_grad():
        out, _ = rnn(x)
    full = [F.cross_entropy(head(out[:, s:s + 3]).flatten(0, 1), targets[:, s:s + 3].flatten()).item()
            for s in (0, 3, 6)]
    np.testing.assert_allclose(losses, full, rtol=1e-12)
    last = F.cross_entropy(head(rnn(x[:, 6:], out[:, 5][None])[0]).flatten(0, 1), targets[:, 6:].flatten())
    torch.testing.assert_close(rnn.weight_hh_l0.grad, torch.autograd.grad(last, rnn.weight_hh_l0)[0])


def test_jacobian_norms_match_the_explicit_product():
    from autograder.course.a2_bptt.mistakes import _jacobians

    rng = np.random.default_rng(3)
    x, h0 = rng.normal(size=(7, 2)), rng.normal(size=4)
    args = (x, h0, rng.normal(size=(4, 2)), rng.normal(size=(4, 4)), rng.normal(size=4))
    np.testing.assert_allclose(ref.jacobian_norms(*args), _jacobians(*args), rtol=1e-12)


# --- a3 ---------------------------------------------------------------------------

from autograder.course.a3_gated import mistakes as a3m  # noqa: E402


def _random_weights(gates: int, i: int, h: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float64)
            for shape in ((gates * h, i), (gates * h, h), (gates * h,), (gates * h,))]


@pytest.mark.parametrize("b,t,i,h,o", SIZES)
def test_lstm_references_match_hand_written_steps(b, t, i, h, o):
    """ref.lstm_cell / lstm_layer (torch.nn) equal the hand-written step the mutants start from."""
    w = _random_weights(4, i, h, seed=b + 10 * h)
    x, h0, c0 = torch.randn(b, t, i, dtype=torch.float64), torch.randn(b, h, dtype=torch.float64), \
        torch.randn(b, h, dtype=torch.float64)
    for got, want in zip(ref.lstm_cell(x[:, 0], (h0, c0), *w), a3m._lstm_step(x[:, 0], (h0, c0), *w)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    state = (h0[None], c0[None])
    out, (h_n, c_n) = ref.lstm_layer(x, *w, state)
    out2, (h_n2, c_n2) = a3m._lstm_layer(x, *w, state)
    for got, want in ((out, out2), (h_n, h_n2), (c_n, c_n2)):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_gru_variants_against_hand_computation():
    """Both GRU variants equal a unit-by-unit computation with Python floats."""
    import math
    i, h = 2, 3
    w_ih, w_hh, b_ih, b_hh = (p.tolist() for p in _random_weights(3, i, h, seed=5))
    x, hp = torch.randn(1, i, dtype=torch.float64), torch.randn(1, h, dtype=torch.float64)
    xs, hs = x[0].tolist(), hp[0].tolist()
    sig = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    a = [sum(w_ih[k][j] * xs[j] for j in range(i)) + b_ih[k] for k in range(3 * h)]
    u = [sum(w_hh[k][j] * hs[j] for j in range(h)) + b_hh[k] for k in range(3 * h)]
    r = [sig(a[k] + u[k]) for k in range(h)]
    z = [sig(a[h + k] + u[h + k]) for k in range(h)]
    after = [math.tanh(a[2 * h + k] + r[k] * u[2 * h + k]) for k in range(h)]
    before = [math.tanh(a[2 * h + k] + b_hh[2 * h + k] + sum(w_hh[2 * h + k][j] * r[j] * hs[j] for j in range(h)))
              for k in range(h)]
    weights = [torch.tensor(v, dtype=torch.float64) for v in (w_ih, w_hh, b_ih, b_hh)]
    for reset_after, n in ((True, after), (False, before)):
        want = torch.tensor([[(1 - z[k]) * n[k] + z[k] * hs[k] for k in range(h)]], dtype=torch.float64)
        torch.testing.assert_close(ref.gru_cell(x, hp, *weights, reset_after=reset_after), want,
                                   rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(a3m._gru_step(x, hp, *weights, reset_after=reset_after), want,
                                   rtol=1e-12, atol=1e-12)


def test_gru_matches_nn_gru_layer():
    gru = nn.GRU(3, 4, batch_first=True).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    h = torch.zeros(2, 4, dtype=torch.float64)
    weights = (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)
    with torch.no_grad():
        out, _ = gru(x)
        for t in range(5):
            h = ref.gru_cell(x[:, t], h, *weights)
            torch.testing.assert_close(h, out[:, t], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional,bias", [(1, False, True), (3, True, True), (2, False, False)])
def test_param_count_matches_the_formula(kind, layers, bidirectional, bias):
    gates, dirs, i, h = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind], 2 if bidirectional else 1, 5, 7
    formula = sum(dirs * gates * h * ((i if k == 0 else dirs * h) + h + 2 * bias) for k in range(layers))
    assert ref.param_count(kind, i, h, layers, bidirectional, bias) == formula


def test_initializer_has_the_stated_properties():
    torch.manual_seed(0)
    lstm = nn.LSTM(20, 30, num_layers=2, bidirectional=True)
    ref.init_lstm_(lstm)
    for name, p in lstm.named_parameters():
        blocks = p.detach().double().split(30)
        if name.startswith("weight_hh"):
            for q in blocks:
                torch.testing.assert_close(q.T @ q, torch.eye(30, dtype=torch.float64), atol=1e-5, rtol=0)
        elif name.startswith("weight_ih"):
            bound = ref.glorot_bound(p.shape[1], 30)
            assert all(float(b.abs().max()) <= bound for b in blocks)
    total = lstm.bias_ih_l1_reverse + lstm.bias_hh_l1_reverse
    assert total.tolist() == [0.0] * 30 + [1.0] * 30 + [0.0] * 60


def test_recall_task_matches_the_notebook_and_the_oracle_is_perfect(root):
    import nbformat
    nb = nbformat.read(root / "solutions/a3_gated/a3_gated.ipynb", as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "recall_task"]
    scope = {"torch": torch}
    exec(cell.source, scope)  # the generator students get; it also builds a validation set
    for seed in (0, 1):
        x, y = scope["recall_batch"](50, torch.Generator().manual_seed(seed))
        x_ref, y_ref = ref.recall_batch(50, torch.Generator().manual_seed(seed))
        assert torch.equal(x, x_ref) and torch.equal(y, y_ref)
    x, y = ref.recall_batch(500, torch.Generator().manual_seed(3))
    assert ref.accuracy(ref.recall_oracle, x, y) == 1.0
    assert (x[..., -1].sum(dim=1) == 1).all()  # exactly one marked step per sequence


def test_recall_net_given_in_the_notebook_is_the_one_the_grader_rebuilds(root):
    """Part F is graded by rebuilding the grader's RecallNet from the settings
    and weights of the student's: the notebook's class must be the same model."""
    import nbformat
    from autograder.course.a3_gated import calls as a3_gated

    assert (a3_gated.RECALL_SYMBOLS, a3_gated.RECALL_SEQ_LEN) == (ref.RECALL_SYMBOLS, ref.RECALL_SEQ_LEN)
    nb = nbformat.read(root / "solutions/a3_gated/a3_gated.ipynb", as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    scope = {"torch": torch, "nn": nn}
    exec(cells["recall_task"], scope)
    exec(cells["recall_net"], scope)
    x, _ = ref.recall_batch(7, torch.Generator().manual_seed(0))
    for kind, hidden, layers in [("LSTM", 48, 1), ("GRU", 5, 2), ("LSTM", 1, 3)]:
        with torch.random.fork_rng():
            torch.manual_seed(1)
            given = scope["RecallNet"](kind, hidden, layers)
            torch.manual_seed(1)
            grader = a3_gated.RecallNet(kind, hidden, layers)
        assert type(given).__name__ == "RecallNet" and given.kind == kind
        assert {k: v.shape for k, v in given.state_dict().items()} == \
            {k: v.shape for k, v in grader.state_dict().items()}
        grader.load_state_dict(given.state_dict(), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(given(x), grader(x), rtol=0, atol=0)
    with pytest.raises(ValueError):
        scope["RecallNet"]("RNN")


# --- a4 ---------------------------------------------------------------------------

import copy  # noqa: E402

from torch.nn.utils import parametrize  # noqa: E402

from autograder.course.a4_regularize import calls as a4_calls  # noqa: E402
from autograder.course.a4_regularize import mistakes as a4m  # noqa: E402


def _lstm_problem(b: int, i: int, h: int, seed: int):
    """x (B, I), state (h, c), and the four weights of an LSTM cell, float64."""
    g = torch.Generator().manual_seed(seed)
    x, h0, c0 = (torch.randn(b, n, generator=g, dtype=torch.float64) for n in (i, h, h))
    return x, (h0, c0), _random_weights(4, i, h, seed)


@pytest.mark.parametrize("b,i,h", [(1, 1, 1), (3, 2, 4), (5, 4, 3)])
def test_zoneout_without_zoning_is_lstm_cell(b, i, h):
    """p_h = p_c = 0 in training, and eval with p = 0: torch.nn.LSTMCell's step;
    eval with p > 0: the stated mix of the previous and the new state."""
    x, state, w = _lstm_problem(b, i, h, seed=b + 7 * h)
    cell = nn.LSTMCell(i, h, dtype=torch.float64)
    with torch.no_grad():
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), w):
            getattr(cell, name).copy_(value)
        h_new, c_new = cell(x, state)
    for training in (True, False):
        got = ref.zoneout_lstm_cell(x, state, *w, 0.0, 0.0, training)
        torch.testing.assert_close(got, (h_new, c_new), rtol=1e-12, atol=1e-12)
    h_t, c_t = ref.zoneout_lstm_cell(x, state, *w, 0.3, 0.6, training=False)
    torch.testing.assert_close(h_t, 0.3 * state[0] + 0.7 * h_new, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_t, 0.6 * state[1] + 0.4 * c_new, rtol=1e-12, atol=1e-12)


def test_zoneout_in_training_keeps_old_or_new_values_at_the_rates():
    x, state, w = _lstm_problem(400, 3, 50, seed=1)
    h_new, c_new = ref.lstm_step(x, state, *w)
    torch.manual_seed(0)
    h_t, c_t = ref.zoneout_lstm_cell(x, state, *w, 0.2, 0.7)
    for got, old, new, p in ((h_t, state[0], h_new, 0.2), (c_t, state[1], c_new, 0.7)):
        kept_old = got == old
        assert (kept_old | (got == new)).all()
        assert ref.within(float(kept_old.double().mean()), kept_old.numel(), p)
    both = ((h_t == state[0]) == (c_t == state[1])).double().mean()  # independent masks: 0.2*0.7 + 0.8*0.3
    assert abs(float(both) - 0.38) < 0.02


def _ln_lstm_with_torch(x, state, weight_ih, weight_hh, bias, ln_ih, ln_hh, ln_c, eps):
    """The layer-normalized step written with torch.nn.LayerNorm modules."""
    def norm(a, gamma, beta):
        layer = nn.LayerNorm(a.shape[-1], eps=eps, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(gamma)
            layer.bias.copy_(beta)
            return layer(a)
    h, c = state
    i, f, g, o = (norm(x @ weight_ih.T, *ln_ih) + norm(h @ weight_hh.T, *ln_hh) + bias).chunk(4, dim=1)
    c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(norm(c_t, *ln_c)), c_t


@pytest.mark.parametrize("b,i,h,eps", [(1, 1, 1, 1e-5), (3, 2, 4, 1e-5), (2, 5, 3, 0.1), (4, 3, 1, 1e-3)])
def test_ln_lstm_cell_matches_layer_norm_modules(b, i, h, eps):
    x, state, (w_ih, w_hh, bias, _) = _lstm_problem(b, i, h, seed=3 * b + h)
    g = torch.Generator().manual_seed(b)
    norms = [(1 + 0.3 * torch.randn(n, generator=g, dtype=torch.float64),
              0.3 * torch.randn(n, generator=g, dtype=torch.float64)) for n in (4 * h, 4 * h, h)]
    want = _ln_lstm_with_torch(x, state, w_ih, w_hh, bias, *norms, eps)
    torch.testing.assert_close(ref.ln_lstm_cell(x, state, w_ih, w_hh, bias, *norms, eps), want,
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(a4m._ln_lstm(x, state, w_ih, w_hh, bias, *norms, eps), want, rtol=1e-12, atol=1e-12)
    if h == 1:  # LN over one unit gives beta: h_t = sigmoid(o) * tanh(beta_c)
        assert torch.equal(ref.layer_norm(want[1], *norms[2], eps), norms[2][1].expand(b, 1))


@pytest.mark.parametrize("cls", [ref.RecurrentBatchNorm, a4m._batch_norm_class("")],
                         ids=["reference", "mistakes' base"])
@pytest.mark.parametrize("features,max_steps,momentum,eps", [(4, 3, 0.1, 1e-5), (1, 2, 0.3, 1e-3), (3, 5, 0.5, 0.1)])
def test_recurrent_batch_norm_is_one_batch_norm_per_step(cls, features, max_steps, momentum, eps):
    """Per step: torch.nn.BatchNorm1d fed that step's batches only (steps past
    max_steps share the last one), in training and in eval."""
    torch.manual_seed(features)
    ours = cls(features, max_steps, eps=eps, momentum=momentum).double()
    theirs = [nn.BatchNorm1d(features, eps=eps, momentum=momentum, dtype=torch.float64) for _ in range(max_steps)]
    assert {n for n, _ in ours.named_parameters()} == {"weight", "bias"}
    assert {n for n, _ in ours.named_buffers()} == {"running_mean", "running_var"}
    torch.testing.assert_close(ours.weight, torch.full((features,), 0.1, dtype=torch.float64))  # 0.1 in float32
    assert not ours.bias.any() and not ours.running_mean.any() and (ours.running_var == 1).all()
    with torch.no_grad():
        for bn in theirs:
            bn.weight.copy_(ours.weight)
    steps = [0, 1, 2, 3, 4, 5, 6, 0, 2]
    for train in (True, False):
        ours.train(train)
        for bn in theirs:
            bn.train(train)
        for t in steps:
            x = 3 * torch.randn(5, features, dtype=torch.float64) + torch.arange(features) - t
            with torch.no_grad():
                torch.testing.assert_close(ours(x, t), theirs[min(t, max_steps - 1)](x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.running_mean, torch.stack([bn.running_mean for bn in theirs]))
    torch.testing.assert_close(ours.running_var, torch.stack([bn.running_var for bn in theirs]))


def test_weight_drop_in_eval_is_the_plain_lstm_and_in_training_drops_entries():
    torch.manual_seed(0)
    plain = nn.LSTM(3, 40, batch_first=True, dtype=torch.float64)
    lstm = ref.weight_drop(copy.deepcopy(plain), 0.4)
    raw = lstm.parametrizations.weight_hh_l0.original
    assert torch.equal(raw, plain.weight_hh_l0) and isinstance(raw, nn.Parameter)
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    lstm.eval()
    with torch.no_grad():
        torch.testing.assert_close(lstm(x)[0], plain(x)[0], rtol=0, atol=0)
    lstm.train()  # train -> eval -> train works, and drops again
    with parametrize.cached():
        used = lstm.weight_hh_l0
        out, _ = lstm(x)
    assert ((used == 0) | torch.isclose(used, raw / 0.6, rtol=1e-12, atol=0)).all()
    assert ref.within(float((used == 0).double().mean()), used.numel(), 0.4)
    torch.testing.assert_close(out, ref.lstm_output(x, plain.weight_ih_l0, used, plain.bias_ih_l0, plain.bias_hh_l0),
                               rtol=1e-12, atol=1e-12)
    out.sum().backward()
    assert raw.grad is not None and bool((raw.grad[used == 0] == 0).all()) and bool((raw.grad != 0).any())
    projection = torch.ones_like(out)
    torch.testing.assert_close(raw.grad, (used != 0).double() / 0.6 * ref.weight_hh_gradient(
        x, plain.weight_ih_l0, used.detach(), plain.bias_ih_l0, plain.bias_hh_l0, projection), rtol=1e-10, atol=1e-12)
    assert torch.equal(lstm.weight_ih_l0, plain.weight_ih_l0)


def test_locked_dropout_properties():
    x = torch.randn(300, 4, 60, dtype=torch.float64)
    assert ref.locked_dropout(x, 0.3, training=False) is x and ref.locked_dropout(x, 0.0) is x
    out = ref.locked_dropout(x, 0.3)
    assert out.dtype == torch.float64 and out.shape == x.shape
    kept = out[:, :1] != 0  # (B, 1, F)
    torch.testing.assert_close(out, x * kept / 0.7, rtol=1e-12, atol=0)
    assert ref.within(1 - float(kept.double().mean()), kept.numel(), 0.3)
    with pytest.raises(ValueError):
        ref.locked_dropout(x, 1.0)


def test_binomial_bounds_hold_a_correct_rate_and_reject_the_rates_of_mistakes():
    low, high = ref.binomial_bounds(20_000, 0.3)
    assert high - low < 0.03 and low < 0.3 < high
    assert not ref.within(0.7, 20_000, 0.3) and not ref.within(0.35, 20_000, 0.3)
    assert ref.binomial_bounds(50, 0.0) == (0.0, 0.01) and ref.within(0.0, 1, 0.5) and ref.within(1.0, 1, 0.5)
    torch.manual_seed(0)
    rates = torch.distributions.Binomial(20_000, torch.tensor(0.3, dtype=torch.float64)).sample((2000,)) / 20_000
    assert all(ref.within(float(r), 20_000, 0.3) for r in rates)  # 2000 draws: none at 4.5 sigma
    assert ref.chance_all_equal(20_000, 0.3) == 0.0 and ref.chance_all_equal(4, 0.5) == 0.5 ** 4
    assert ref.chance_constant_rows(3, 2, 0.5) == 0.5 ** 3


def test_encode_and_bpc_of_the_graders_char_model():
    ids = a4_calls.encode("ab\n\u00e9\t~")
    assert ids.dtype == torch.int64 and ids.tolist() == [66, 67, 0, 1, 1, 95]  # outside VOCAB: " "
    assert len(a4_calls.VOCAB) == 96 and a4_calls.encode("").shape == (0,)

    class Uniform(nn.Module):
        def forward(self, ids):
            return torch.zeros(*ids.shape, 96)

    assert a4_calls.bpc(Uniform(), torch.arange(50) % 96, seq_len=7) == pytest.approx(np.log2(96), rel=1e-6)
    torch.manual_seed(0)
    model = a4_calls.CharLM(96, 8, 16).train()
    ids = torch.randint(0, 96, (1000,))
    with torch.no_grad():  # by hand: rows of 101, the last 1000 - 9 * 101 = 91 dropped
        rows = ids[:909].reshape(9, 101)
        logits = model.eval()(rows[:, :-1])
        want = F.cross_entropy(logits.reshape(-1, 96), rows[:, 1:].reshape(-1)).item() / np.log(2)
    model.train()
    assert a4_calls.bpc(model, ids, seq_len=100) == pytest.approx(want, rel=1e-6)
    assert model.training  # left as it was
