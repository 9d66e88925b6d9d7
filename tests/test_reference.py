"""The reference implementations agree with PyTorch's built-ins."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder import reference as ref

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
