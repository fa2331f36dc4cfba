// The moe-compile pipeline (select -> expand -> fuse -> schedule -> verify)
// on the example layers, end to end.

// DeepSeek-V3 on A3, DP 16: the token count is dynamic, so both MC2
// (up to the capacity) and alltoall are compiled behind a run-time choice;
// w8a8 quantization moves into the MC2 dispatch (quant_mode 2) and before
// the all-to-all-v (int8 rows + scales); the shared experts run on stream 2
// in both cases; the streams verify.
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir -moe-compile 2>/dev/null | FileCheck %s --check-prefix=DSV3
// The remark names the choice at the layer's source location and carries no
// "see current operation" note: an op-attached remark printed the whole
// function under every remark, quadratic in the number of layers.
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir -moe-compile -o /dev/null 2>&1 | FileCheck %s --check-prefix=REMARK
// REMARK: deepseek_v3.mlir:{{[0-9]+}}:{{[0-9]+}}: remark: run-time choice on the largest token count across ranks: mc2 up to 256 tokens
// REMARK-NOT: see current operation
// The int8 expert weights are packed once, at load (moe-pack-weights, then
// moe-outline-load-time); the step reads the packed stacks. The pipeline's
// pack-weights=false leaves them row-major, without a load-time function.
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir '--pass-pipeline=builtin.module(moe-compile{pack-weights=false})' 2>/dev/null | FileCheck %s --check-prefix=NOPACK --implicit-check-not=pack_weights --implicit-check-not=npu.load_function
// NOPACK: npu.grouped_matmul %{{.+}}, %{{.+}}, %{{.+}} w8a8 {{.+}} tensor<18x7168x4096xi8>,
// DSV3-LABEL: func.func @deepseek_v3_moe__load
// DSV3: npu.pack_weights %{{.+}} : tensor<18x7168x4096xi8> -> tensor<18x7168x4096xi8, #npu.packed>
// DSV3: npu.pack_weights %{{.+}} : tensor<18x2048x7168xi8> -> tensor<18x2048x7168xi8, #npu.packed>
// DSV3-LABEL: func.func @deepseek_v3_moe(
// DSV3-SAME: tensor<18x7168x4096xi8, #npu.packed>, %{{.+}}: tensor<18x2048x7168xi8, #npu.packed>)
// DSV3: %[[M:[^,]+]], %{{.+}} = npu.step_sync %{{.+}}
// DSV3: %[[GT:.+]] = arith.cmpi ugt, %[[M]], %c256 : index
// DSV3: scf.index_switch
// DSV3: case 0 {
// DSV3: npu.dynamic_quant %{{.+}} stream(2)
// DSV3: npu.moe_gating_top_k {{.+}} k(8) sigmoid renormalize groups(8, 4)
// DSV3: npu.matmul {{.+}} w8a8 stream(2)
// DSV3: npu.moe_distribute_dispatch {{.+}} quant_mode(2) capacity(512) cumsum
// DSV3-NOT: npu.dynamic_quant %expand_x
// DSV3: npu.dequant_swiglu_quant
// DSV3: npu.matmul {{.+}} w8a8 stream(2)
// DSV3: %[[E:.+]] = npu.record stream(2)
// DSV3: npu.moe_distribute_combine
// DSV3: npu.wait %[[E]] stream(0)
// DSV3: npu.add
// DSV3: default {
// DSV3: npu.histogram
// DSV3: npu.dynamic_quant %permuted
// DSV3: npu.all_to_all_v %{{.+}} : tensor<?xf32>
// DSV3: npu.all_to_all_v %{{.+}} : tensor<?x7168xi8>
// DSV3: npu.moe_init_routing {{.+}} scale(
// DSV3: npu.add

// Qwen3-30B-A3B on A2, TP 2 x DP 2: 32 experts per device > 24, so the
// table picks allgather for every token count; unquantized, no shared
// experts; the gate overlap puts the hidden-state all-gather on stream 1.
// RUN: moe-opt %moe_src_root/examples/qwen3_30b_a3b.mlir -moe-compile 2>/dev/null | FileCheck %s --check-prefix=QWEN
// QWEN-LABEL: func.func @qwen3_moe
// QWEN-NOT: scf.index_switch
// QWEN: %[[E0:.+]] = npu.record stream(0)
// QWEN: npu.wait %[[E0]] stream(1)
// QWEN: npu.all_gather %{{.+}} dp stream(1) : tensor<?x2048xbf16>
// QWEN: %[[E1:.+]] = npu.record stream(1)
// QWEN: npu.all_gather %{{.+}} dp : tensor<?x128xf32>
// QWEN: npu.wait %[[E1]] stream(0)
// QWEN: npu.moe_init_routing
// QWEN: npu.reduce_scatter %{{.+}} dp
// QWEN: npu.all_reduce %{{.+}} sum tp

// Mixtral-8x7B, TP 2 without expert parallelism: allgather, tensor-sharded
// experts (the whole expert range is local), a TP all-reduce at the end.
// RUN: moe-opt %moe_src_root/examples/mixtral_8x7b.mlir -moe-compile 2>/dev/null | FileCheck %s --check-prefix=MIXTRAL
// MIXTRAL-LABEL: func.func @mixtral_moe
// MIXTRAL-NOT: npu.all_gather
// MIXTRAL: npu.moe_init_routing %{{.+}} range(%{{.+}}, 8) experts(8)
// MIXTRAL: npu.all_reduce %{{.+}} sum tp

// Options: a fixed method, no quant fusion, no multistream.
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir "-moe-compile=policy=fixed method=alltoall fuse-quant=false multistream=false" 2>/dev/null | FileCheck %s --check-prefix=FIXED
// FIXED-LABEL: func.func @deepseek_v3_moe
// FIXED-NOT: scf.index_switch
// FIXED-NOT: stream(
// FIXED: npu.all_to_all_v %{{.+}} : tensor<?x7168xbf16>
// FIXED: npu.dynamic_quant

// `lora` and `max-tokens` reach moe-select-comm-method: LoRA with EP forces
// alltoall; with a cost-model horizon of 64 tokens MC2 is the choice up to
// its capacity 256 (the horizon extends past every capacity, so counts
// above it fall back to alltoall instead of failing in MC2).
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir "-moe-compile=lora" 2>/dev/null | FileCheck %s --check-prefix=LORA
// LORA-LABEL: func.func @deepseek_v3_moe
// LORA-NOT: scf.index_switch
// LORA-NOT: npu.moe_distribute_dispatch
// LORA: npu.all_to_all_v
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir "-moe-compile=policy=cost-model max-tokens=64" 2>/dev/null | FileCheck %s --check-prefix=HORIZON
// HORIZON-LABEL: func.func @deepseek_v3_moe
// HORIZON: arith.constant 256 : index
// HORIZON: scf.index_switch
// HORIZON: case 0
// HORIZON: npu.moe_distribute_dispatch
// HORIZON: default
// HORIZON: npu.all_to_all_v

// The pipeline leaves nothing of level 1 behind and lowers to LLVM.
// RUN: moe-opt %moe_src_root/examples/deepseek_v3.mlir -moe-compile -moe-lower-to-llvm 2>/dev/null | FileCheck %s --check-prefix=LLVM
// LLVM-NOT: = {{(moe|npu|scf|arith|tensor)\.}}
// LLVM-NOT: {{  (npu|func)\.}}
// LLVM: llvm.func @_moe_entry_deepseek_v3_moe
