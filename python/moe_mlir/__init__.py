"""moe_mlir: compile and run MoE layers from Python (docs/Python.md).

    import numpy as np, moe_mlir
    exe = moe_mlir.compile(open("layer.mlir").read(), policy="fixed", method="mc2")
    world = moe_mlir.World(exe, ranks=2)
    outs = world.run([{"x": x0, "logits": l0, ...}, {"x": x1, ...}])

Inputs are NumPy arrays (or anything with __array__, e.g. CPU torch
tensors); each is converted to its argument's type: float arrays to f32 /
f16 / bf16 (rounded to nearest even), integer arrays must match (int8 for
i8, uint8 for raw bytes such as packed fp4 or fp8 bit patterns). bf16 and
f16 results come back as float32 (exactly). Errors raise moe_mlir.Error
subclasses: InvalidArgumentError, CompileError, RunError.
"""
import numpy as np

from ._moe import (CompileError, Error, InvalidArgumentError, RunError,  # noqa: F401
                   api_version, compile_options)
from . import _moe

__all__ = ["compile", "World", "Error", "InvalidArgumentError",
           "CompileError", "RunError", "api_version", "compile_options"]

_CODES = {"f32": 0, "bf16": 1, "f16": 2, "i8": 3, "i4": 4, "i32": 5,
          "i64": 6, "i1": 7, "f8E4M3FN": 8, "f8E5M2": 9}
_INTS = {"i32": np.int32, "i64": np.int64, "i1": np.bool_}


def compile(source, pipeline=None, entry="", **options):
    """Compiles a module (text) with moe-compile; keyword options are
    moe-compile's (underscores for dashes: max_tokens=4096), or a whole
    `pipeline`."""
    opts = [(k.replace("_", "-"), "true" if v is True else
             "false" if v is False else str(v)) for k, v in options.items()]
    return _compiler().compile(source, pipeline=pipeline, entry=entry,
                               options=opts)


_the_compiler = None


def _compiler():
    global _the_compiler
    if _the_compiler is None:
        _the_compiler = _moe.Compiler()
    return _the_compiler


def _to_bf16_bits(a):
    """float32 -> bf16 bit patterns, round to nearest even (NaN kept)."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = bits + (0x7FFF + ((bits >> 16) & 1))
    out = (rounded >> 16).astype(np.uint16)
    nan = np.isnan(a)
    out[nan] = ((bits[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def _convert(value, info):
    name, dtype = info["name"], info["dtype"]
    a = np.asarray(value)
    if dtype in ("f32", "f16", "bf16"):
        if a.dtype.kind != "f":
            raise InvalidArgumentError(
                f"input '{name}': expected a float array for {info['type']}, "
                f"got {a.dtype}")
        if dtype == "f32":
            a = np.ascontiguousarray(a, dtype=np.float32)
        elif dtype == "f16":
            a = np.ascontiguousarray(a, dtype=np.float16)
        else:
            a = _to_bf16_bits(a.astype(np.float32))
    elif dtype in ("i8", "f8E4M3FN", "f8E5M2"):
        ok = (np.int8,) if dtype == "i8" else ()
        if a.dtype not in ok + (np.dtype(np.uint8),):
            raise InvalidArgumentError(
                f"input '{name}': expected "
                + ("int8 values or " if dtype == "i8" else "")
                + f"uint8 bytes for {info['type']}, got {a.dtype}")
        a = np.ascontiguousarray(a)
    elif dtype in _INTS:
        if a.dtype != _INTS[dtype]:
            raise InvalidArgumentError(
                f"input '{name}': expected {np.dtype(_INTS[dtype])} for "
                f"{info['type']}, got {a.dtype}")
        a = np.ascontiguousarray(a)
    else:
        raise InvalidArgumentError(
            f"input '{name}': {info['type']} inputs are not supported from "
            "Python yet")
    return (a, _CODES[dtype], list(np.shape(value)))


def _from_result(array, info):
    if info["dtype"] == "bf16":
        return (array.astype(np.uint32) << 16).view(np.float32)
    if info["dtype"] == "f16":
        return array.view(np.float16).astype(np.float32)
    return array


class World:
    """`ranks` ranks of the executable's layout, run as threads."""

    def __init__(self, executable, ranks, timeout=120.0, kernel_threads=0,
                 check_finite=True):
        self.executable = executable
        self._world = _moe.World(executable, ranks, timeout, kernel_threads,
                                 check_finite)

    @property
    def num_ranks(self):
        return self._world.num_ranks

    def run(self, inputs):
        """inputs[r]: a dict name -> array (or a list in argument order)
        for rank r. Returns, per rank, the list of results."""
        args = self.executable.arguments
        if len(inputs) != self.num_ranks:
            raise InvalidArgumentError(
                f"{len(inputs)} input sets for {self.num_ranks} ranks")
        packed = []
        for r, rank_inputs in enumerate(inputs):
            if isinstance(rank_inputs, dict):
                missing = [a["name"] for a in args if a["name"] not in rank_inputs]
                extra = set(rank_inputs) - {a["name"] for a in args}
                if missing or extra:
                    raise InvalidArgumentError(
                        f"rank {r}: missing inputs {missing}, unknown {sorted(extra)}")
                values = [rank_inputs[a["name"]] for a in args]
            else:
                values = list(rank_inputs)
            if len(values) != len(args):
                raise InvalidArgumentError(
                    f"rank {r}: {len(values)} inputs for {len(args)} arguments")
            packed.append([_convert(v, a) for v, a in zip(values, args)])
        results = self._world.run_all(self.executable, packed)
        infos = self.executable.results
        return [[_from_result(t, i) for t, i in zip(rank, infos)]
                for rank in results]
