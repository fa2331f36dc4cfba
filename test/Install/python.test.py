"""Imports the installed moe_mlir (python.test), then imports Mixtral's
config scaled down, compiles it for 4 EP ranks and checks a run against
the package's dense reference."""
import sys

import moe_mlir

prefix, config = sys.argv[1:3]
assert moe_mlir.__file__.startswith(prefix), moe_mlir.__file__
print("moe_mlir from", moe_mlir.__file__)
module = moe_mlir.import_config(
    config, layers=[0], chip="A3", dp=4, ep=True, quant="none",
    overrides=dict(num_hidden_layers=1, hidden_size=32, intermediate_size=16,
                   num_local_experts=8, torch_dtype="float32"))
exe = moe_mlir.compile(module)
case = moe_mlir.reference.random_case(exe, tokens=[3, 0, 5, 2], seed=1)
print(case.check(moe_mlir.World(exe, ranks=4).run(case.inputs)))
