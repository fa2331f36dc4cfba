"""Inputs and results of World.run: NumPy arrays, torch tensors, DLPack.

Each input becomes (buffer, dtype code, shape) for the extension, which
borrows the buffer for the run without a copy (the runtime copies only a
buffer that is not 64-byte aligned). Zero-copy where the dtype and layout
allow: a contiguous array or CPU tensor of the argument's element type is
passed as is (torch through .numpy(), which shares the tensor's memory;
bf16 tensors reinterpreted as int16 bit patterns, as NumPy has no bf16);
anything else is converted (float to the argument's float type with
rounding to nearest even, a strided tensor made contiguous).
"""
import builtins

import numpy as np

from ._moe import Error, InvalidArgumentError, RunError

# moert::DType codes (include/moe/Runtime/Tensor.h).
CODES = {"f32": 0, "bf16": 1, "f16": 2, "i8": 3, "i4": 4, "i32": 5,
         "i64": 6, "i1": 7, "f8E4M3FN": 8, "f8E5M2": 9}
INTS = {"i32": np.int32, "i64": np.int64, "i1": np.bool_}


class ShapeError(InvalidArgumentError):
    """An input's rank or a static dimension differs from its argument's."""


class DTypeError(InvalidArgumentError):
    """An input's element type cannot be passed for its argument."""


class RankFailedError(RunError):
    """The layer failed on a rank (a NaN, a capacity exceeded, a peer that
    failed, ...): the message names the rank and why."""


class TimeoutError(RunError, builtins.TimeoutError):  # noqa: A001
    """A collective waited longer than the World's timeout for a rank."""


def run_error(error):
    """The RunError subclass for a runtime message."""
    text = str(error)
    cls = TimeoutError if "timed out after" in text else RankFailedError
    return cls(text)


def is_torch(value):
    return type(value).__module__.split(".")[0] == "torch"


def to_bf16_bits(a):
    """float32 -> bf16 bit patterns, round to nearest even (NaN kept)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    bits = a.view(np.uint32)
    rounded = bits + (0x7FFF + ((bits >> 16) & 1))
    out = (rounded >> 16).astype(np.uint16)
    nan = np.isnan(a)
    out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def bf16_bits_to_f32(bits):
    return (np.asarray(bits).astype(np.uint32) << 16).view(np.float32)


def _from_torch(t, info):
    """A NumPy view of CPU tensor `t` (no copy when contiguous); bf16
    tensors as uint16 bit patterns, flagged by the second result."""
    import torch
    name = info["name"]
    if t.device.type != "cpu":
        raise DTypeError(f"input '{name}': a {t.device.type} tensor; "
                         "World.run takes CPU tensors")
    t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(np.uint16), True
    return t.numpy(), False


def convert(value, info):
    """(buffer, dtype code, shape) of `value` for argument `info`."""
    name, dtype, want = info["name"], info["dtype"], info["shape"]
    bf16_bits = False
    if is_torch(value):
        a, bf16_bits = _from_torch(value, info)
    elif hasattr(value, "__dlpack__") and not isinstance(value, np.ndarray):
        a = np.from_dlpack(value)
    else:
        a = np.asarray(value)
    if a.ndim != len(want) or any(w >= 0 and w != g
                                  for w, g in zip(want, a.shape)):
        raise ShapeError(f"input '{name}': shape {list(a.shape)} for "
                         f"argument {info['type']}")
    if dtype in ("f32", "f16", "bf16"):
        if bf16_bits:
            if dtype == "bf16":
                return np.ascontiguousarray(a), CODES[dtype], list(a.shape)
            a = bf16_bits_to_f32(a)
        if a.dtype.kind != "f":
            raise DTypeError(f"input '{name}': expected a float array for "
                             f"{info['type']}, got {a.dtype}")
        if dtype == "f32":
            a = np.ascontiguousarray(a, dtype=np.float32)
        elif dtype == "f16":
            a = np.ascontiguousarray(a, dtype=np.float16)
        else:
            a = to_bf16_bits(a.astype(np.float32))
    elif dtype in ("i8", "f8E4M3FN", "f8E5M2"):
        ok = (np.dtype(np.int8),) if dtype == "i8" else ()
        if bf16_bits or a.dtype not in ok + (np.dtype(np.uint8),):
            got = "bfloat16" if bf16_bits else a.dtype
            raise DTypeError(
                f"input '{name}': expected "
                + ("int8 values or " if dtype == "i8" else "")
                + f"uint8 bytes for {info['type']}, got {got}")
        a = np.ascontiguousarray(a)
    elif dtype in INTS:
        if bf16_bits or a.dtype != INTS[dtype]:
            got = "bfloat16" if bf16_bits else a.dtype
            raise DTypeError(f"input '{name}': expected "
                             f"{np.dtype(INTS[dtype])} for {info['type']}, "
                             f"got {got}")
        a = np.ascontiguousarray(a)
    else:
        raise DTypeError(f"input '{name}': {info['type']} inputs are not "
                         "supported from Python")
    return a, CODES[dtype], list(a.shape)


def from_result(array, info, as_torch):
    """A result array (the runtime's storage, shared) as NumPy or torch.
    NumPy: bf16 and f16 as float32 (exact). torch: bf16 and f16 tensors
    sharing the storage."""
    dtype = info["dtype"]
    if as_torch:
        import torch
        if dtype == "bf16":
            return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
        if dtype == "f16":
            return torch.from_numpy(array.view(np.float16))
        return torch.from_numpy(array)
    if dtype == "bf16":
        return bf16_bits_to_f32(array)
    if dtype == "f16":
        return array.view(np.float16).astype(np.float32)
    return array


__all__ = ["Error", "ShapeError", "DTypeError", "RankFailedError",
           "TimeoutError", "convert", "from_result", "run_error"]
