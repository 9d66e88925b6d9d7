"""Run a student's function with torch out of reach, for parts that forbid it.

The NumPy-only parts (and a3's counting part) are graded with torch hidden
while the student's function runs, so that calling torch, directly or through
a helper of the notebook such as a2's `torch_gradients`, cannot earn points.
Three fences, all taken down when the call returns or raises:

- names in the function's namespace (its `__globals__`: the notebook) that are
  torch or come from it (`torch`, `nn`, `F`, `from torch import tensor`, a
  module or tensor made in an earlier cell) are swapped for stand-ins that
  fail when used; helpers defined in the notebook share that namespace;
- torch leaves `sys.modules` and an import hook refuses to load it, so
  `import torch` inside the function fails (a library's probe for torch
  meanwhile finds none, and does not count against the student);
- torch's ways in from NumPy data and to autograd (`torch.tensor`,
  `torch.from_numpy`, `Tensor.backward`, `torch.autograd.grad`, building or
  calling a torch.nn module, ...) fail, for code that reaches the real module
  another way.

Every attempt is recorded, so a function that catches the error still fails.
This stops realistic shortcuts; it is no sandbox (grading runs in one, see
`autograder.sandbox`).
"""
from __future__ import annotations

import functools
import importlib.abc
import inspect
import sys
import types
from contextlib import contextmanager
from typing import Any, Callable, Iterator

# Ways into torch that a NumPy-only function could reach without a name of its
# notebook: (module, attributes) and (class, attribute, what using it does).
ENTRY_POINTS = (
    ("torch", ("tensor", "from_numpy", "as_tensor", "asarray",
               "lstm_cell", "gru_cell", "rnn_tanh_cell", "rnn_relu_cell")),
    ("torch.autograd", ("grad", "backward")),
    ("torch.autograd.functional", ("jacobian", "hessian", "vjp", "jvp", "vhp", "hvp")),
    ("torch.func", ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "vmap",
                    "functional_call")),
    ("torch.nn.functional", ("cross_entropy", "nll_loss", "log_softmax", "softmax")),
    ("torch.nn.utils", ("clip_grad_norm_", "clip_grad_norm", "clip_grad_value_")),
)
CLASS_ENTRY_POINTS = (
    ("torch", "Tensor", "backward", "use torch.Tensor.backward"),
    ("torch.nn", "Module", "__init__", "build a torch.nn module"),
    ("torch.nn", "Module", "__call__", "call a torch.nn module"),
)
# Namespaces whose names make the shortest description of a torch object.
PUBLIC = ("torch", "torch.nn", "torch.nn.functional", "torch.autograd", "torch.func", "torch.nn.utils")
_MISSING = object()


class TorchHidden(RuntimeError):
    """Torch was used while it was hidden. `used` says how, e.g.
    "use torch.tensor through torch_gradients"."""

    def __init__(self, used: str):
        super().__init__(f"torch is hidden here, but the code tried to {used}")
        self.used = used


def _is_torch(module_name: Any) -> bool:
    return isinstance(module_name, str) and module_name.partition(".")[0] == "torch"


def _public_name(value: Any) -> str:
    """torch.nn.RNNCell rather than torch.nn.modules.rnn.RNNCell."""
    name = getattr(value, "__name__", "")
    for space in PUBLIC:
        module = sys.modules.get(space)
        if module is not None and name and vars(module).get(name) is value:
            return f"{space}.{name}"
    return f"{value.__module__}.{getattr(value, '__qualname__', name)}"


def torch_name(key: str, value: Any) -> str | None:
    """How to name `value`, bound to `key`, if it is torch or comes from it; else None."""
    if isinstance(value, _StandIn):
        return None
    if isinstance(value, types.ModuleType):
        name = vars(value).get("__name__")
        return name if _is_torch(name) else None
    if isinstance(value, type) or inspect.isroutine(value):
        return _public_name(value) if _is_torch(getattr(value, "__module__", None)) else None
    kind = type(value)
    return f"{key} (a {_public_name(kind)})" if _is_torch(kind.__module__) else None


class _Fence:
    """One window with torch hidden: records every attempt to use it."""

    def __init__(self, function: Callable):
        while isinstance(function, functools.partial):
            function = function.func
        self.code = getattr(function, "__code__", None)  # where the graded call starts
        self.scope = getattr(function, "__globals__", {})  # its notebook's names
        self.attempts: list[str] = []

    def refuse(self, action: str) -> TorchHidden:
        """Record `action` (e.g. "use torch.tensor") and make the error to raise."""
        helpers = self._helpers()
        used = action + (f" through {' and '.join(helpers)}" if helpers else "")
        self.attempts.append(used)
        return TorchHidden(used)

    def _helpers(self) -> list[str]:
        """The named functions between the graded function and the attempt, outermost first."""
        names = []
        frame = sys._getframe(1)
        while frame is not None and frame.f_code is not self.code:
            module = frame.f_globals.get("__name__", "")
            if module.endswith("runner.collect"):
                break  # the graded function's own frame was not found: stop at the grader
            if module != __name__ and not _is_torch(module) and not module.startswith("importlib") \
                    and not frame.f_code.co_name.startswith("<"):
                names.append(frame.f_code.co_name)
            frame = frame.f_back
        return names[::-1]


class _StandIn:
    """Takes the place of a torch module, function, class or object: using it fails."""

    def __init__(self, fence: _Fence, name: str, real: Any = None, action: str | None = None):
        self._fence, self._name, self._real, self._action = fence, name, real, action

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        if not isinstance(self._real, types.ModuleType):
            raise self._fence.refuse(self._action or f"use {self._name}")
        inner = vars(self._real).get(attr)  # not getattr: no lazy import of a submodule
        if isinstance(inner, types.ModuleType):
            return _StandIn(self._fence, f"{self._name}.{attr}", inner)
        raise self._fence.refuse(f"use {self._name}.{attr}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise self._fence.refuse(self._action or f"call {self._name}")

    def __repr__(self) -> str:
        return f"<{self._name}, hidden while this part is graded>"


class _RefuseImport(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: torch cannot be imported. An import in the
    graded code counts as using torch; one in a library it calls (a probe for
    an optional dependency) just finds no torch."""

    def __init__(self, fence: _Fence):
        self.fence = fence

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if not _is_torch(name):
            return None
        frame = sys._getframe(1)
        while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", __name__)):
            frame = frame.f_back
        if frame is not None and frame.f_globals is self.fence.scope:
            raise self.fence.refuse(f"import {name}")
        raise ModuleNotFoundError(f"torch is hidden here: no module named {name!r}", name=name)


def _swap_names(fence: _Fence, kept: dict[str, Any]) -> None:
    """Replace the torch things among the graded function's names by stand-ins,
    keeping the originals in `kept`."""
    for key, value in list(fence.scope.items()):
        name = torch_name(key, value)
        if name is not None:
            kept[key] = value
            fence.scope[key] = _StandIn(fence, name, value)


def _patch(owner: Any, attr: str, value: Any, undo: list) -> None:
    undo.append((owner, attr, vars(owner).get(attr, _MISSING)))
    setattr(owner, attr, value)


def _block_entry_points(fence: _Fence, undo: list) -> None:
    for space, attrs in ENTRY_POINTS:
        module = sys.modules.get(space)
        for attr in attrs if module is not None else ():
            if attr in vars(module):
                _patch(module, attr, _StandIn(fence, f"{space}.{attr}"), undo)
    for space, cls, attr, action in CLASS_ENTRY_POINTS:
        owner = vars(sys.modules[space]).get(cls) if space in sys.modules else None
        if owner is not None:
            _patch(owner, attr, _StandIn(fence, f"{space}.{cls}.{attr}", action=action), undo)


@contextmanager
def _watched(fence: _Fence) -> Iterator[None]:
    """Run the block; raise TorchHidden if it used what the fence guards, even
    if the code caught the error it got."""
    try:
        yield
    except Exception:
        if not fence.attempts:
            raise
    if fence.attempts:
        raise TorchHidden(fence.attempts[0])


def _restore(undo: list) -> None:
    """Put back what _patch replaced, last first."""
    for owner, attr, value in reversed(undo):
        if value is _MISSING:
            delattr(owner, attr)
        else:
            setattr(owner, attr, value)


@contextmanager
def torch_hidden(function: Callable) -> Iterator[None]:
    """Hide torch while the block runs `function`. Raises TorchHidden when the
    block used torch, even if the code caught the error it got."""
    fence = _Fence(function)
    kept_names: dict[str, Any] = {}
    kept_modules = {key: module for key, module in sys.modules.items() if _is_torch(key)}
    undo: list = []
    finder = _RefuseImport(fence)
    try:
        _swap_names(fence, kept_names)
        _block_entry_points(fence, undo)
        for key in kept_modules:
            del sys.modules[key]
        sys.meta_path.insert(0, finder)
        with _watched(fence):
            yield
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        for key in [key for key in sys.modules if _is_torch(key)]:
            del sys.modules[key]
        sys.modules.update(kept_modules)
        _restore(undo)
        fence.scope.update(kept_names)


@contextmanager
def blocked(function: Callable, names: tuple[str, ...]) -> Iterator[None]:
    """Block some of torch's ready-made functions and classes (dotted names such
    as "torch.lstm_cell", "torch.nn.LSTMCell"), torch itself staying usable,
    while the block runs `function`; the notebook's own names for them are
    blocked too. Raises TorchHidden when one was used, even if the code caught
    the error it got."""
    fence = _Fence(function)
    undo: list = []
    kept: dict[str, Any] = {}
    try:
        targets = []
        for name in names:
            space, _, attr = name.rpartition(".")
            module = sys.modules.get(space)
            if module is not None and attr in vars(module):
                targets.append(vars(module)[attr])
                _patch(module, attr, _StandIn(fence, name), undo)
        for key, value in list(fence.scope.items()):
            if any(value is target for target in targets):
                kept[key] = value
                fence.scope[key] = _StandIn(fence, key)
        with _watched(fence):
            yield
    finally:
        _restore(undo)
        fence.scope.update(kept)
