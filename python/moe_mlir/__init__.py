"""moe_mlir: import, compile and run MoE layers from Python (docs/Python.md).

    import moe_mlir
    module = moe_mlir.import_config("config.json", layers=[3], chip="A3",
                                    tp=2, dp=4, ep=True)
    exe = moe_mlir.compile(module, max_tokens=512)
    print(exe.decisions[0].method, exe.decisions[0].reason)
    outs = moe_mlir.World(exe, ranks=8).run(inputs)   # one dict per rank

Inputs are NumPy arrays, CPU torch tensors or DLPack objects, passed
without a copy where dtype and layout allow (_tensors.py); results are
NumPy arrays, or torch tensors when the inputs were torch tensors. Errors
raise moe_mlir.Error subclasses: InvalidArgumentError (ShapeError,
DTypeError), CompileError, ConfigError, RunError (RankFailedError,
TimeoutError).
"""
import json
import os

from ._moe import (CompileError, ConfigError, Error,  # noqa: F401
                   InvalidArgumentError, RunError, api_version,
                   compile_options)
from . import _moe
from . import _tensors
from ._tensors import (DTypeError, RankFailedError, ShapeError,  # noqa: F401
                       TimeoutError)
from .decisions import (Candidate, LayerDecision, Quantization,  # noqa: F401
                        StreamPlan)

__all__ = ["compile", "empty", "import_config", "Executable", "World",
           "Error", "InvalidArgumentError", "ShapeError", "DTypeError",
           "CompileError", "ConfigError", "RunError", "RankFailedError",
           "LayerDecision", "Candidate", "Quantization", "StreamPlan",
           "api_version", "compile_options"]


def __getattr__(name):
    # moe_mlir.reference (the dense reference, NumPy only) on first use: it
    # puts the shipped scripts/reference modules on sys.path.
    if name == "reference":
        import importlib
        return importlib.import_module(".reference", __name__)
    raise AttributeError(f"module 'moe_mlir' has no attribute '{name}'")


def _option_text(value):
    if value is True or value is False:
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return str(value)


class ImportedModule(str):
    """The text of a module import_config built; `config` is the config
    after the overrides, `options` the deployment (moe_mlir.reference reads
    both to build a case for it)."""
    config: dict
    options: dict


def import_config(config, layers=(), chip="A3", tp=1, dp=1, ep=False,
                  quant="checkpoint", overrides=None, redundant_experts=0,
                  group_size=256, shared_expert_ranks=0):
    """The module of a Hugging Face config.json's MoE layers
    (docs/Import.md; moe-import with the same options). `config` is a path
    or a dict; `overrides` ({key: value}) replace keys of the config first,
    as moe-import --set key=value. quant: "checkpoint" (the config's
    quantization_config), "none", "w8a8_dynamic", "w4a8_dynamic".
    `shared_expert_ranks`: EP ranks reserved for the shared experts (MC2's
    shared_expert_rank_num, docs/Expansion.md). Errors raise ConfigError
    naming the key."""
    if isinstance(config, (str, os.PathLike)):
        with open(config) as f:
            text = f.read()
    else:
        text = json.dumps(config)
    settings = [f"{k}={_option_text(v)}" for k, v in (overrides or {}).items()]
    module = ImportedModule(_moe.import_config(
        text, settings, list(layers), chip, tp, dp, ep, redundant_experts,
        quant, group_size, shared_expert_ranks))
    module.config = json.loads(_moe.apply_config_overrides(text, settings))
    module.options = dict(layers=list(layers), chip=chip, tp=tp, dp=dp, ep=ep,
                          quant=quant, redundant_experts=redundant_experts,
                          group_size=group_size,
                          shared_expert_ranks=shared_expert_ranks)
    return module


class Executable:
    """A compiled layer: its arguments and results (dicts: name, dtype,
    shape, type), layout and the compiler's decisions."""

    def __init__(self, exe, module=None):
        self._exe = exe
        #: The ImportedModule it was compiled from, if any.
        self.module = module if isinstance(module, ImportedModule) else None
        self.decisions = [LayerDecision.from_dict(d)
                          for d in exe.decision_dicts]

    arguments = property(lambda self: self._exe.arguments)
    results = property(lambda self: self._exe.results)
    world_size = property(lambda self: self._exe.world_size)
    compile_seconds = property(lambda self: self._exe.compile_seconds)

    @property
    def decisions_json(self):
        """The decisions as the C API's JSON text."""
        return self._exe.decisions_json

    def __repr__(self):
        names = ", ".join(a["name"] for a in self.arguments)
        return (f"<moe_mlir.Executable ({names}) for {self.world_size} "
                f"ranks, {len(self.decisions)} layers>")

    def load_weights(self, checkpoint, rank, config=None, layer=-1,
                     phys2log=None):
        """Rank `rank`'s inputs that a Hugging Face safetensors checkpoint
        (a file, a directory, or one with model.safetensors.index.json)
        holds, as a dict name -> array: the routed and shared experts'
        weights (and e_score_correction_bias, shared_expert_gate) stacked and
        placed as the layer's arguments say (docs/Import.md, "Checkpoint
        weights"). `config`: the model's config.json (default: next to the
        checkpoint); `layer`: the decoder layer (default: N of the entry
        function layer_N); `phys2log`: with redundant experts, the logical
        expert of every physical one. Errors raise InvalidArgumentError."""
        arrays = _moe.load_checkpoint_weights(
            self._exe, rank, os.fspath(checkpoint),
            os.fspath(config) if config is not None else "", layer,
            [int(p) for p in phys2log] if phys2log is not None else [])
        return {a["name"]: v for a, v in zip(self.arguments, arrays)
                if v is not None}


def empty(shape, dtype):
    """An uninitialized array in the runtime's own storage, for an input of
    element type `dtype` ("f32", "bf16", "i8", ... as in
    Executable.arguments): fill it once (the weights), and a donating
    World.load may repack it in place instead of holding a packed copy.
    The array's NumPy dtype is the storage's (bf16: uint16 bit patterns;
    i4: uint8, two values per byte)."""
    if dtype not in _tensors.CODES:
        raise InvalidArgumentError(
            f"unknown dtype {dtype!r}; one of {', '.join(_tensors.CODES)}")
    return _moe.empty([int(d) for d in shape], _tensors.CODES[dtype])


def compile(source, pipeline=None, entry="", **options):
    """Compiles a module (text, or import_config's result) with
    moe-compile; keyword options are moe-compile's (underscores for dashes:
    max_tokens=4096), or a whole textual `pipeline`."""
    opts = [(k.replace("_", "-"), _option_text(v)) for k, v in options.items()]
    exe = _compiler().compile(str(source), pipeline=pipeline, entry=entry,
                              options=opts)
    return Executable(exe, source)


_the_compiler = None


def _compiler():
    global _the_compiler
    if _the_compiler is None:
        _the_compiler = _moe.Compiler()
    return _the_compiler


class World:
    """`ranks` ranks of the executable's layout, run as threads of this
    process. timeout: seconds a collective waits for the other ranks."""

    def __init__(self, executable, ranks, timeout=120.0, kernel_threads=0,
                 check_finite=True, trace=False):
        self.executable = executable
        self._world = _moe.World(executable._exe, ranks, timeout,
                                 kernel_threads, check_finite, trace)

    def write_trace(self, path):
        """With trace=True: writes every run so far as a Chrome trace-event
        file (moe-run --trace's format: a process per rank, a thread per
        stream, an event's record to its waits as flow arrows); open it in
        Perfetto or chrome://tracing."""
        self._world.write_trace(os.fspath(path))

    @property
    def num_ranks(self):
        return self._world.num_ranks

    @property
    def failed(self):
        return self._world.failed

    def _pack(self, r, rank_inputs):
        args = self.executable.arguments
        if isinstance(rank_inputs, dict):
            names = {a["name"] for a in args}
            missing = [a["name"] for a in args if a["name"] not in rank_inputs]
            extra = sorted(set(rank_inputs) - names)
            if missing or extra:
                raise InvalidArgumentError(
                    f"rank {r}: missing inputs {missing}, unknown {extra}")
            values = [rank_inputs[a["name"]] for a in args]
        else:
            values = list(rank_inputs)
        if len(values) != len(args):
            raise InvalidArgumentError(
                f"rank {r}: {len(values)} inputs for {len(args)} arguments")
        as_torch = any(_tensors.is_torch(v) for v in values)
        return [_tensors.convert(v, a) for v, a in zip(values, args)], as_torch

    def _results(self, arrays, as_torch):
        return [_tensors.from_result(t, i, as_torch)
                for t, i in zip(arrays, self.executable.results)]

    def load(self, inputs, max_tokens=0, donate=False):
        """Load time, once after the weights are in `inputs` (as for run;
        any activations will do): with max_tokens > 0, calibrates the
        expert-matmul planner for steps of up to max_tokens tokens per
        rank; then every rank scans its inputs for NaNs, runs the load-time
        function and one warm-up step (results discarded), so the first run
        costs what a steady one does (docs/Runtime.md, "Load time").

        donate=True: the weights the load repacks (the f32, int8 and int4
        expert weights, npu.pack_weights) are repacked in their own
        storage instead of a copy when it is the runtime's (arrays from
        moe_mlir.empty, load_weights or a run): the weights are then held
        once, and those arrays hold the packed layout afterwards. Pass
        them unchanged to later runs and do not read them; other arrays
        are copied when packed."""
        if len(inputs) != self.num_ranks:
            raise InvalidArgumentError(
                f"{len(inputs)} input sets for {self.num_ranks} ranks")
        if max_tokens < 0:
            raise InvalidArgumentError(
                f"max_tokens must not be negative, got {max_tokens}")
        packed = [self._pack(r, x) for r, x in enumerate(inputs)]
        try:
            self._world.load_all(self.executable._exe,
                                 [p for p, _ in packed], max_tokens,
                                 bool(donate))
        except RunError as e:
            raise _tensors.run_error(e) from None

    def run(self, inputs):
        """Runs every rank (one thread each). inputs[r]: a dict name ->
        array or tensor (or a list in argument order) for rank r. Returns,
        per rank, the list of results."""
        if len(inputs) != self.num_ranks:
            raise InvalidArgumentError(
                f"{len(inputs)} input sets for {self.num_ranks} ranks")
        packed = [self._pack(r, x) for r, x in enumerate(inputs)]
        try:
            results = self._world.run_all(self.executable._exe,
                                          [p for p, _ in packed])
        except RunError as e:
            raise _tensors.run_error(e) from None
        return [self._results(out, t) for out, (_, t) in zip(results, packed)]

    def run_rank(self, rank, inputs):
        """Runs rank `rank` on the calling thread (run every rank of the
        world, each from its own thread)."""
        packed, as_torch = self._pack(rank, inputs)
        try:
            out = self._world.run_rank(self.executable._exe, rank, packed)
        except RunError as e:
            raise _tensors.run_error(e) from None
        return self._results(out, as_torch)
