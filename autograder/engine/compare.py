"""Tolerant comparison of a student's result with the expected one.

Each function returns None when the result is acceptable and otherwise one
sentence that says what differs: the type, the shape, the dtype, where values
stop being finite, or the first time step whose values differ. Messages never
contain expected values, so they can be shown to students as they are.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def describe_type(value: Any) -> str:
    """A short name for the type of `value`, as a student would write it."""
    type_name = getattr(value, "type_name", None)
    if type(value).__name__ == "Opaque" and isinstance(type_name, str):
        return type_name  # a result the grader received only as its type's name
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


def compare_array(
    what: str,
    got: Any,
    expected: np.ndarray,
    *,
    rtol: float,
    atol: float,
    time_axis: int | None = None,
) -> str | None:
    """Compare one array result. `what` names it in the message ("the hidden
    states hs"); `time_axis`, if given, is the axis of time steps, so that the
    message can name the first step that differs."""
    if not isinstance(got, np.ndarray):
        hint = " (convert with .detach().numpy())" if describe_type(got).startswith("torch.") else ""
        return f"{what} should be a NumPy array but is a {describe_type(got)}{hint}"
    if got.shape != expected.shape:
        return f"{what} has shape {got.shape}, expected shape {expected.shape}"
    if got.dtype != expected.dtype:
        return f"{what} has dtype {got.dtype}, expected {expected.dtype} (do not change the precision)"
    finite = np.isfinite(expected)
    if not np.isfinite(got[finite]).all():
        return f"{what} contains inf or nan where finite values are expected"
    close = np.isclose(got, expected, rtol=rtol, atol=atol)
    if close.all():
        return None
    off = _times_tolerance(got, expected, rtol, atol)
    where = ""
    if time_axis is not None and got.ndim > time_axis:
        other_axes = tuple(a for a in range(got.ndim) if a != time_axis)
        bad_steps = np.flatnonzero(~close.all(axis=other_axes))
        first = int(bad_steps[0])
        steps = got.shape[time_axis]
        where = f" starting at time step t={first + 1} (index {first}) of {steps}"
        if first > 0:
            where += "; the earlier steps match"
    return f"{what}: values do not match the expected ones{where} ({off})"


def compare_scalar(what: str, got: Any, expected: float, *, rtol: float, atol: float) -> str | None:
    """Compare a scalar result; a NumPy scalar or 0-d array counts as a scalar."""
    if isinstance(got, np.ndarray) and got.shape != ():
        return f"{what} should be a single number but has shape {got.shape} (did you forget to average?)"
    if not isinstance(got, (int, float, np.integer, np.floating, np.ndarray)) or isinstance(got, bool):
        return f"{what} should be a Python float but is a {describe_type(got)}"
    value = float(got)
    if not np.isfinite(value):
        return f"{what} is {value} where a finite value is expected"
    if np.isclose(value, expected, rtol=rtol, atol=atol):
        return None
    return f"{what} does not match the expected value ({_times_tolerance(value, expected, rtol, atol)})"


def _times_tolerance(got: Any, expected: Any, rtol: float, atol: float) -> str:
    """How far off, as a multiple of the allowed difference: large means a logic
    error, small means a precision problem. Unlike the raw difference, it cannot
    reveal an expected value (a zero answer would show that value's size)."""
    allowed = atol + rtol * np.abs(expected)
    ratio = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - expected) / allowed))
    return f"off by up to {ratio:.2g} times the tolerance rtol={rtol:g}, atol={atol:g}"


def compare_tensor(what: str, got: Any, expected: Any, *, rtol: float, atol: float,
                   time_axis: int | None = None) -> str | None:
    """Like `compare_array`, for a result that must be a torch.Tensor."""
    import torch  # here, so that the NumPy-only parts do not need torch

    if not isinstance(got, torch.Tensor):
        hint = " (use torch operations, not NumPy)" if isinstance(got, np.ndarray) else ""
        return f"{what} should be a torch.Tensor but is a {describe_type(got)}{hint}"
    if got.dtype != expected.dtype:
        return f"{what} has dtype {got.dtype}, expected {expected.dtype} (do not change the precision)"
    return compare_array(what, got.detach().cpu().numpy(), expected.detach().cpu().numpy(),
                         rtol=rtol, atol=atol, time_axis=time_axis)


def compare_keys(got: Any, expected: dict, what: str) -> str | None:
    """A dict result must be a dict with exactly the expected keys."""
    if not isinstance(got, dict):
        return f"should return a dict of {what} but returned a {describe_type(got)}"
    if set(got) != set(expected):
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        return f"the dict's keys are wrong (missing: {missing or 'none'}; unexpected: {extra or 'none'})"
    return None
