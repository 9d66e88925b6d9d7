"""Time a from-scratch LSTM layer against torch.nn.LSTM on the CPU.

    python benchmarks/lstm_speed.py [--threads N] [--repeats R]

Forward + backward (loss = sum of the outputs), float32, batch-first.
Three layers share the same parameters and input:

- nn.LSTM: PyTorch's built-in layer (one C++ loop, hand-written backward);
- fused:   Python loop; the input projections of all steps are computed
           before the loop in one matrix product, and the four recurrent
           gate products are one torch.addmm per step;
- naive:   Python loop; eight matrix products per step (input and state,
           gate by gate), the input indexed as x[:, t].

Prints a table of median times and ratios to nn.LSTM for a few sizes, as
chapter 5 does for one size. Nothing here asserts a time. The code stands
alone: it imports nothing from the chapters.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch
import torch.nn as nn

Params = dict[str, torch.Tensor]
SIZES = [  # (B, T, I, H)
    (32, 100, 32, 32),
    (32, 100, 128, 128),
    (32, 100, 256, 256),
    (64, 50, 512, 512),
]


def lstm_fused(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
               p: Params) -> torch.Tensor:
    """LSTM layer, gates i, f, g, o. x: (B, T, I), h, c: (B, H).
    Returns all hidden states (B, T, H)."""
    B, T, I = x.shape
    x_proj = torch.addmm(p["bias_ih"] + p["bias_hh"],
                         x.transpose(0, 1).reshape(T * B, I),
                         p["weight_ih"].T).view(T, B, -1)  # (T, B, 4H)
    W_hh_T = p["weight_hh"].T                              # (H, 4H)
    outputs = []
    for x_proj_t in x_proj.unbind(0):                      # (B, 4H)
        i, f, g, o = torch.addmm(x_proj_t, h, W_hh_T).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)               # (B, H)
        outputs.append(h)
    return torch.stack(outputs, dim=1)                     # (B, T, H)


def lstm_naive(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
               p: Params) -> torch.Tensor:
    """The same layer written gate by gate and step by step."""
    W_i, W_h = p["weight_ih"].chunk(4), p["weight_hh"].chunk(4)
    b = (p["bias_ih"] + p["bias_hh"]).chunk(4)
    outputs = []
    for t in range(x.shape[1]):
        x_t = x[:, t]                                          # (B, I)
        pre = [x_t @ W_i[k].T + h @ W_h[k].T + b[k] for k in range(4)]
        i, f, o = (torch.sigmoid(pre[k]) for k in (0, 1, 3))   # (B, H)
        c = f * c + i * torch.tanh(pre[2])
        h = o * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1)                         # (B, T, H)


def median_times(fns: dict[str, Callable[[], None]], repeats: int,
                 warmup: int = 2) -> dict[str, float]:
    """Median seconds per call; the functions take turns."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def measure(B: int, T: int, I: int, H: int, repeats: int
            ) -> tuple[dict[str, float], float]:
    """Times of the three layers at one size, and the largest difference
    of the fused layer's output from nn.LSTM's (a sanity check)."""
    torch.manual_seed(0)
    module = nn.LSTM(I, H, batch_first=True)
    p = {name: getattr(module, name + "_l0")
         for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    x = torch.randn(B, T, I)
    h0, c0 = torch.zeros(B, H), torch.zeros(B, H)
    with torch.no_grad():
        diff = (lstm_fused(x, h0, c0, p)
                - module(x, (h0[None], c0[None]))[0]).abs().max().item()

    def run_torch() -> None:
        module(x, (h0[None], c0[None]))[0].sum().backward()

    def run(layer) -> Callable[[], None]:
        return lambda: layer(x, h0, c0, p).sum().backward()

    fns = {"nn.LSTM": run_torch, "fused": run(lstm_fused),
           "naive": run(lstm_naive)}
    return median_times(fns, repeats), diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads (default 1, as in "
                             "the chapter)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"float32, forward + backward, median of {args.repeats}")
    print(f"{'B':>4} {'T':>4} {'I':>4} {'H':>4} {'nn.LSTM ms':>11} "
          f"{'fused ms':>9} {'naive ms':>9} {'fused/nn':>9} "
          f"{'naive/nn':>9} {'max diff':>9}")
    for B, T, I, H in SIZES:
        times, diff = measure(B, T, I, H, args.repeats)
        base = times["nn.LSTM"]
        print(f"{B:4d} {T:4d} {I:4d} {H:4d} {base * 1e3:11.1f} "
              f"{times['fused'] * 1e3:9.1f} {times['naive'] * 1e3:9.1f} "
              f"{times['fused'] / base:9.2f} {times['naive'] / base:9.2f} "
              f"{diff:9.1e}")


if __name__ == "__main__":
    main()
