"""Results as plain data: what crosses from the student's kernel to the grader.

A graded call's result (arrays, tensors, numbers, strings, tuples, lists,
dicts of these) is written as one JSON document plus one `.npz` file of
arrays. Neither format can carry code: the JSON is read with `json.loads`,
the arrays with `numpy.load(allow_pickle=False)`. Anything else a student's
function returns (a custom class, a generator, a module) arrives as an
`Opaque` that only knows its type's name, so no student object ever reaches
the grader, and no comparison can be rigged (an `__eq__` that always says
yes stays behind in the kernel).

`decode` trusts nothing: every document it reads may have been written by the
student's code instead of `encode`. It raises `WireError` on anything that is
not exactly the format below, and caps sizes and depth.
"""
from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_DEPTH = 12
MAX_ITEMS = 100_000  # JSON nodes in one document
MAX_ARRAY_BYTES = 64 * 2**20  # all arrays of one document together
MAX_TEXT = 4000  # characters of a string or an error message kept
NUMERIC_KINDS = "biufc"  # bool, int, uint, float, complex
TENSOR_DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
                 "complex64", "complex128"}


class WireError(ValueError):
    """A document that is not plain data in the expected form."""


@dataclass(frozen=True)
class Opaque:
    """Stands for a returned object that is not plain data: only its type's name."""

    type_name: str


@dataclass(frozen=True)
class Raised:
    """The call raised: the exception's class names (its MRO, most derived
    first) and its message."""

    names: tuple[str, ...]
    message: str

    @property
    def name(self) -> str:
        return self.names[0] if self.names else "Exception"

    def is_a(self, name: str) -> bool:
        return name in self.names


def _type_name(value: Any) -> str:
    kind = type(value)
    module = (getattr(kind, "__module__", None) or "builtins").split(".")[0]
    return kind.__name__ if module == "builtins" else f"{module}.{kind.__name__}"


class _Encoder:
    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.items = 0

    def array(self, array: np.ndarray) -> int:
        self.arrays.append(np.ascontiguousarray(array).reshape(np.shape(array)))  # keeps 0-d arrays 0-d
        return len(self.arrays) - 1

    def encode(self, value: Any, depth: int = 0) -> Any:
        """Plain data as a tagged node; anything that cannot be sent (a sparse or
        quantized tensor, an int too long to print) as an Opaque of its type."""
        kept = len(self.arrays)
        try:
            return self._encode(value, depth)
        except Exception:
            del self.arrays[kept:]
            return {"t": "opaque", "type": _type_name(value)[:200]}

    def _key(self, key: Any) -> Any:
        """Dict keys: str and int (NumPy's included), float, bool, None."""
        if type(key) is np.str_:
            return str(key)
        if isinstance(key, np.integer):
            return int(key)
        if key is None or type(key) in (str, int, float, bool):
            return key
        raise TypeError("not a plain dict key")

    def _encode(self, value: Any, depth: int) -> Any:
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            return {"t": "opaque", "type": "a structure too deep or too large to send"}
        torch = _torch()
        if value is None:
            return {"t": "none"}
        if type(value) is bool:
            return {"t": "bool", "v": value}
        if isinstance(value, np.generic) and value.dtype.kind in NUMERIC_KINDS:
            return {"t": "npscalar", "i": self.array(np.asarray(value))}
        if isinstance(value, bool):  # a subclass of bool cannot exist, but be exact
            return {"t": "bool", "v": bool(value)}
        if isinstance(value, int) and type(value) is int:
            return {"t": "int", "v": str(value)[:MAX_TEXT]}
        if type(value) is float:
            return {"t": "float", "v": repr(value)}
        if type(value) is str:
            return {"t": "str", "v": value[:MAX_TEXT]}
        if type(value) is np.ndarray and value.dtype.kind in NUMERIC_KINDS:
            return {"t": "ndarray", "i": self.array(value)}
        if torch is not None and type(value) in (torch.Tensor, torch.nn.Parameter):
            tensor = value.detach().cpu()
            dtype = str(tensor.dtype).removeprefix("torch.")
            if tensor.dtype == torch.bfloat16:
                tensor = tensor.float()
            return {"t": "tensor", "dtype": dtype, "i": self.array(tensor.resolve_conj().numpy())}
        if type(value) in (tuple, list):
            return {"t": type(value).__name__, "v": [self.encode(v, depth + 1) for v in value]}
        if type(value) is dict:
            items = [(self._key(k), v) for k, v in value.items()]
            return {"t": "dict", "k": [self.encode(k, depth + 1) for k, _ in items],
                    "v": [self.encode(v, depth + 1) for _, v in items]}
        return {"t": "opaque", "type": _type_name(value)[:200]}


def _torch() -> Any:
    import sys

    return sys.modules.get("torch")


def encode_raised(error: BaseException) -> dict:
    names = [k.__name__ for k in type(error).__mro__][:20]
    try:
        message = str(error)
    except Exception:  # a __str__ that raises
        message = ""
    return {"t": "raised", "names": names, "message": message[:MAX_TEXT]}


def pack(outcomes: list[Any]) -> tuple[str, bytes]:
    """Encode a list of outcomes (a result, or a `BaseException` the call
    raised) as (JSON text, npz bytes)."""
    encoder = _Encoder()
    encoded = [encode_raised(o) if isinstance(o, BaseException) else encoder.encode(o) for o in outcomes]
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{k}": a for k, a in enumerate(encoder.arrays)})
    return json.dumps({"outcomes": encoded}), buffer.getvalue()


# --- reading (the grader's side) -------------------------------------------------

def _load_arrays(data: bytes) -> list[np.ndarray]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
        if total > MAX_ARRAY_BYTES:
            raise WireError("the arrays are too large")
        with np.load(io.BytesIO(data), allow_pickle=False) as loaded:
            names = sorted(loaded.files, key=lambda n: int(n[1:]) if n[1:].isdigit() else -1)
            if names != [f"a{k}" for k in range(len(names))]:
                raise WireError("unexpected array names")
            arrays = [loaded[n] for n in names]
    except WireError:
        raise
    except Exception as error:  # not a zip, a pickled array, a truncated file, ...
        raise WireError(f"the arrays cannot be read: {type(error).__name__}") from None
    for array in arrays:
        if array.dtype.kind not in NUMERIC_KINDS or not array.dtype.isnative:
            raise WireError(f"an array of dtype {array.dtype} is not plain numbers in this machine's order")
    return arrays


class _Decoder:
    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays
        self.items = 0

    def array(self, node: dict) -> np.ndarray:
        index = node.get("i")
        if type(index) is not int or not 0 <= index < len(self.arrays):
            raise WireError("bad array index")
        return self.arrays[index]

    def decode(self, node: Any, depth: int = 0) -> Any:
        self.items += 1
        if depth > MAX_DEPTH + 1 or self.items > MAX_ITEMS:
            raise WireError("too deep or too large")
        if type(node) is not dict or type(node.get("t")) is not str:
            raise WireError("not a tagged value")
        tag = node["t"]
        if tag == "none":
            return None
        if tag == "bool" and type(node.get("v")) is bool:
            return node["v"]
        if tag == "int" and type(node.get("v")) is str:
            try:
                return int(node["v"])
            except ValueError:
                raise WireError("bad int") from None
        if tag == "float" and type(node.get("v")) is str:
            try:
                return float(node["v"])
            except ValueError:
                raise WireError("bad float") from None
        if tag == "str" and type(node.get("v")) is str:
            return node["v"][:MAX_TEXT]
        if tag == "npscalar":
            array = self.array(node)
            if array.shape != ():
                raise WireError("a NumPy scalar must be 0-d")
            return array[()]
        if tag == "ndarray":
            return self.array(node).copy()
        if tag == "tensor":
            import torch

            name = node.get("dtype")
            if name not in TENSOR_DTYPES:
                raise WireError("bad tensor dtype")
            try:
                return torch.from_numpy(self.array(node).copy()).to(getattr(torch, name))
            except (TypeError, ValueError, RuntimeError):
                raise WireError("the tensor's data does not fit its dtype") from None
        if tag in ("tuple", "list") and type(node.get("v")) is list:
            items = [self.decode(v, depth + 1) for v in node["v"]]
            return tuple(items) if tag == "tuple" else items
        if tag == "dict" and type(node.get("k")) is list and type(node.get("v")) is list \
                and len(node["k"]) == len(node["v"]):
            keys = [self.decode(k, depth + 1) for k in node["k"]]
            if not all(type(k) in (str, int, float, bool) or k is None for k in keys):
                raise WireError("a dict key must be a string or a number")
            return dict(zip(keys, (self.decode(v, depth + 1) for v in node["v"])))
        if tag == "opaque" and type(node.get("type")) is str:
            return Opaque(node["type"][:200])
        if tag == "raised" and type(node.get("names")) is list and type(node.get("message")) is str \
                and all(type(n) is str for n in node["names"]):
            return Raised(tuple(n[:100] for n in node["names"][:20]), node["message"][:MAX_TEXT])
        raise WireError(f"unknown or malformed value {tag[:40]!r}")


def unpack(text: str | bytes, data: bytes) -> list[Any]:
    """The outcomes `pack` wrote: results, `Raised` or `Opaque`. Raises WireError."""
    if len(text) > 32 * 2**20:
        raise WireError("the document is too large")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise WireError("not JSON") from None
    if type(document) is not dict or type(document.get("outcomes")) is not list:
        raise WireError("no list of outcomes")
    decoder = _Decoder(_load_arrays(data))
    return [decoder.decode(node) for node in document["outcomes"]]


def digest(value: Any) -> str:
    """A fingerprint of plain-data arguments (arrays, tensors, numbers, None,
    tuples and lists of them): equal exactly when dtypes, shapes and every bit
    agree. Used to recognize the calls a correct implementation makes."""
    hasher = hashlib.sha256()

    def feed(v: Any) -> None:
        torch = _torch()
        if torch is not None and isinstance(v, torch.Tensor):
            hasher.update(f"T{v.dtype}{tuple(v.shape)}".encode())
            v = v.detach().cpu().resolve_conj().resolve_neg()
            if v.dtype == torch.bfloat16:
                v = v.view(torch.int16)
            try:
                hasher.update(np.ascontiguousarray(v.numpy()).tobytes())
            except (TypeError, RuntimeError):  # a dtype NumPy lacks: never equal to a table's key
                hasher.update(f"unhashable:{id(v)}".encode())
        elif isinstance(v, np.ndarray):
            hasher.update(f"A{v.dtype}{v.shape}".encode())
            hasher.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, (tuple, list)):
            hasher.update(f"L{len(v)}(".encode())
            for item in v:
                feed(item)
            hasher.update(b")")
        elif v is None or isinstance(v, (bool, int, float, str)):
            hasher.update(f"{type(v).__name__}:{v!r};".encode())
        else:
            hasher.update(f"?{type(v).__name__};".encode())

    feed(value)
    return hasher.hexdigest()

