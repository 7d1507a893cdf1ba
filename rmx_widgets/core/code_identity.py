"""Cache identities for user functions: derived from their code and the values they capture.

An RM or perturber given as a bare function has no name to key its cache by. Its qualified name
is not enough: every lambda of a module is ``<lambda>``, and a closure made twice with different
weights has one qualname, so two different functions would share cached scores or rewrites.
``callable_identity`` therefore digests what decides the function's output:

* its code: bytecode, constants (nested functions and comprehensions included) and names;
* its defaults, keyword defaults and closure cells, by value;
* the module globals its code names, by value where a value can be fingerprinted (numbers,
  text, containers of them, arrays, functions, objects with an ``identity``), else by type
  only (a global's state is then the user's to version, as with any imported library);
* for a bound method, ``functools.partial`` or callable object: the object's state too.

A captured value whose state cannot be fingerprinted (e.g. a closure over a torch module or an
open client) raises: the user must pass ``name=`` (with a version), never share a key. The
digest depends on the Python version's bytecode, so a new interpreter recomputes once.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import sys
import types
from typing import Any

from rmx_widgets.core.errors import RMXError

#: how deep functions reached through closures and globals are followed (then named only)
MAX_DEPTH = 4
#: how many values one fingerprint may visit before the function counts as too large
MAX_ITEMS = 200_000
#: the largest array or tensor fingerprinted by its bytes
MAX_ARRAY_BYTES = 64 * 2**20

_SCALARS = (type(None), bool, int, float, complex, str, bytes)


class _Unstable(Exception):
    """A value whose state cannot be fingerprinted; ``what`` says where it is."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _Digest:
    """One fingerprint walk: the visited functions (recursion, cycles) and an item budget."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.items = 0

    def value(self, v: Any, where: str, depth: int) -> str:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise _Unstable(f"{where} (more than {MAX_ITEMS} values to fingerprint)")
        if isinstance(v, _SCALARS):
            return f"{type(v).__name__}:{v!r}"
        if isinstance(v, enum.Enum):
            return f"enum:{_qualname(type(v))}.{v.name}"
        if isinstance(v, (tuple, list)):
            return f"{type(v).__name__}[{','.join(self.value(x, where, depth) for x in v)}]"
        if isinstance(v, (set, frozenset)):
            return f"set[{','.join(sorted(self.value(x, where, depth) for x in v))}]"
        if isinstance(v, dict):
            inner = ",".join(
                f"{self.value(k, where, depth)}={self.value(x, where, depth)}" for k, x in v.items()
            )
            return f"dict{{{inner}}}"
        if isinstance(v, types.ModuleType):
            return f"module:{v.__name__}"
        if isinstance(v, type):
            return f"class:{_qualname(v)}"
        identity = getattr(v, "identity", None)
        if isinstance(identity, str):  # a reward model, perturber … names its own state
            return f"identity:{type(v).__name__}:{identity}"
        if callable(v):
            return self.function(v, where, depth)
        array = _array(v, where)
        if array is not None:
            return array
        if dataclasses.is_dataclass(v):
            fields = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)}
            return f"data:{_qualname(type(v))}{self.value(fields, where, depth)}"
        state = _state(v)
        if state is not None:
            inner = f"{where} (a {type(v).__name__})"
            return f"obj:{_qualname(type(v))}{self.value(state, inner, depth)}"
        raise _Unstable(f"{where} holds an object of type {type(v).__name__}")

    def function(self, fn: Any, where: str, depth: int) -> str:
        if id(fn) in self.seen or depth > MAX_DEPTH:
            return f"ref:{_qualname(fn)}"
        self.seen.add(id(fn))
        if isinstance(fn, types.FunctionType):
            return self._python_function(fn, where, depth)
        if isinstance(fn, types.MethodType):
            obj = self.value(fn.__self__, f"{where}'s object", depth + 1)
            return f"method:{obj}.{self.function(fn.__func__, where, depth)}"
        if isinstance(fn, functools.partial):
            args = self.value((fn.args, fn.keywords), f"{where}'s arguments", depth + 1)
            return f"partial:{self.function(fn.func, where, depth + 1)}{args}"
        if isinstance(fn, types.BuiltinFunctionType):
            owner = getattr(fn, "__self__", None)
            if owner is None or isinstance(owner, types.ModuleType):
                return f"builtin:{_qualname(fn)}"
            return f"builtin:{_qualname(fn)}@{self.value(owner, where, depth + 1)}"
        # a callable object: its class's __call__ and its state
        call = type(fn).__dict__.get("__call__") or getattr(type(fn), "__call__", None)  # noqa: B004
        state = _state(fn)
        if not isinstance(call, types.FunctionType) or state is None:
            raise _Unstable(f"{where} is an object of type {type(fn).__name__}")
        code = self.function(call, where, depth + 1)
        inner = f"{where} (a {type(fn).__name__})"
        return f"object:{_qualname(type(fn))}:{code}{self.value(state, inner, depth + 1)}"

    def _python_function(self, fn: types.FunctionType, where: str, depth: int) -> str:
        parts = [_code(fn.__code__)]
        parts.append(self.value(fn.__defaults__, f"{where}'s default arguments", depth + 1))
        parts.append(self.value(fn.__kwdefaults__, f"{where}'s default arguments", depth + 1))
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                content = cell.cell_contents
            except ValueError:  # a cell not filled yet (a recursive inner function)
                content = None
            parts.append(
                f"{name}={self.value(content, f'its captured variable {name!r}', depth + 1)}"
            )
        for name in sorted(_names(fn.__code__)):
            if name in fn.__globals__:
                value, items = fn.__globals__[name], self.items
                try:
                    parts.append(f"{name}={self.value(value, name, depth + 1)}")
                except _Unstable:  # a global's state is the user's to version (see module doc)
                    self.items = items
                    parts.append(f"{name}~{type(value).__name__}")
        return "fn(" + "|".join(parts) + ")"


def _code(code: types.CodeType) -> str:
    """The bytecode, constants (nested code objects recursively) and names of ``code``."""
    consts = ",".join(
        _code(c) if isinstance(c, types.CodeType) else f"{type(c).__name__}:{_const(c)}"
        for c in code.co_consts
    )
    names = ",".join(code.co_names)
    return f"code:{code.co_code.hex()}:{consts}:{names}:{code.co_argcount}:{code.co_flags}"


def _const(c: Any) -> str:
    if isinstance(c, frozenset):  # constant sets: order their members (hash order varies)
        return "{" + ",".join(sorted(map(_const, c))) + "}"
    if isinstance(c, tuple):
        return "(" + ",".join(map(_const, c)) + ")"
    return repr(c)


def _state(v: Any) -> dict[str, Any] | None:
    """The attributes of a plain Python object (every class of its type, but ``object``,
    defined in Python without ``__slots__``); ``None`` for objects whose state lives in C
    (arrays, tensors, connections) and cannot be read."""
    cls = type(v)
    heap = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class defined by a class statement
    for base in cls.__mro__[:-1]:
        if not base.__flags__ & heap or "__slots__" in base.__dict__:
            return None
    state = getattr(v, "__dict__", None)
    return dict(state) if isinstance(state, dict) else None


def _names(code: types.CodeType) -> set[str]:
    """Every name ``code`` and its nested code objects look up (globals and attributes)."""
    out = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            out |= _names(c)
    return out


def _array(v: Any, where: str) -> str | None:
    """A numpy array or scalar, or a torch tensor, by dtype, shape and bytes (up to
    ``MAX_ARRAY_BYTES``: a model's weights are too large, name the function instead); ``None``
    for anything else."""
    np, torch = sys.modules.get("numpy"), sys.modules.get("torch")  # only imported ones
    if torch is not None and isinstance(v, torch.Tensor):
        if v.layout != torch.strided or v.numel() * v.element_size() > MAX_ARRAY_BYTES:
            raise _Unstable(f"{where} holds a tensor of shape {tuple(v.shape)}, too large")
        try:
            flat = v.detach().cpu().contiguous().reshape(-1)
            raw = flat.view(torch.uint8).numpy().tobytes()
        except Exception:  # quantised, meta or other tensors without plain bytes
            raise _Unstable(f"{where} holds a {v.dtype} tensor without readable data") from None
        return f"tensor:{v.dtype}:{tuple(v.shape)}:{hashlib.sha256(raw).hexdigest()}"
    if np is None:
        return None
    if isinstance(v, np.generic):
        return f"np:{v.dtype}:{v!r}"
    if isinstance(v, np.ndarray) and v.dtype != object:
        if v.nbytes > MAX_ARRAY_BYTES:
            raise _Unstable(f"{where} holds an array of shape {v.shape}, too large")
        digest = hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
        return f"array:{v.dtype}:{v.shape}:{digest}"
    return None


def _qualname(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    return f"{module}.{name}"


def callable_identity(fn: Any, *, kind: str, error: type[RMXError]) -> str:
    """``callable:<module>.<qualname>:<digest>`` for ``fn``, from its code and what it
    captures (see the module docstring); ``error`` when a captured value cannot be
    fingerprinted, asking for ``name=``. ``kind`` names the role (``"reward model"``)."""
    label, example = _qualname(fn), kind.replace(" ", "-")
    try:
        text = _Digest().function(fn, "the function", 0)
    except _Unstable as e:
        raise error(
            f"cannot derive a cache identity for the {kind} function {label}: {e.what}, "
            "whose state cannot be fingerprinted, so two different functions could share "
            f"cached results. Pass name='...' with a version (e.g. name='my-{example}:v1') and "
            "change it whenever the function or what it uses changes."
        ) from None
    except RecursionError:
        raise error(
            f"cannot derive a cache identity for the {kind} function {label}: what it "
            "captures is nested too deeply; pass name='...' with a version."
        ) from None
    return (
        f"callable:{label}:{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
    )
