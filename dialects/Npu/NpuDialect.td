//===- NpuDialect.td - the npu device-op dialect -----------*- tablegen -*-===//
//
// Level 2 of moe-mlir: one op per device operator that vllm-ascend calls
// (torch_npu operators, HCCL collectives, streams and events).
//
//===----------------------------------------------------------------------===//

#ifndef NPU_DIALECT_TD
#define NPU_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Npu_Dialect : Dialect {
  let name = "npu";
  let cppNamespace = "::mlir::npu";
  let summary = "Ascend device operators, collectives, streams and events";
  let description = [{
    Each op stands for one device operator with the operator's own attributes
    (`npu_moe_init_routing_v2`, `npu_moe_distribute_dispatch`,
    `npu_grouped_matmul`, HCCL `all_to_all_v`, ...), on tensors with value
    semantics. `convert-moe-to-npu` produces it from the `moe` dialect;
    `convert-npu-to-runtime` lowers every op to one call into the C++ runtime.

    Device ops run on a stream, given by their `stream(N)` attribute (0, the
    main stream, when absent). Ops of one stream run in program order; ops of
    different streams are ordered only by events: `npu.record` returns an
    `!npu.event` capturing everything issued to its stream so far, and
    `npu.wait` makes another stream wait for it (see `docs/Streams.md`).

    Collectives name their group: `tp`, `dp`, `ep`, `pcp` (prefill context
    parallel) or `world` (every rank of the layer's `#moe.layout`); rank
    `r = (dp_rank * pcp + pcp_rank) * tp + tp_rank`.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  // `npu.shared_expert` marks the ops of a layer's shared-expert MLP with
  // their stage (NpuDialect::SharedExpertAttrHelper); verified by
  // NpuDialect::verifyOperationAttribute.
  // `npu.load_function` and `npu.load_args` tie an entry function to the
  // load-time function `moe-outline-load-time` made of it (docs/Runtime.md,
  // "Load time").
  let discardableAttrs = (ins "::mlir::npu::SharedExpertStageAttr":$shared_expert,
                              "::mlir::FlatSymbolRefAttr":$load_function,
                              "::mlir::DenseI64ArrayAttr":$load_args);
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    void registerTypes();
    void registerAttributes();
  }];
}

/// A `#npu.packed` tensor (npu.pack_weights) is an operand only as
/// npu.grouped_matmul's weight and a result only of npu.pack_weights.
def Npu_PackedWhereRead : NativeOpTrait<"PackedWhereRead"> {
  let cppNamespace = "::mlir::npu::OpTrait";
}

class Npu_Op<string mnemonic, list<Trait> traits = []>
    : Op<Npu_Dialect, mnemonic, !listconcat(traits, [Npu_PackedWhereRead])> {
  // convert-npu-to-runtime lowers the op to one call of the generated
  // runtime ABI, `moert_npu_<mnemonic>(where[, stream], <one parameter per
  // argument>, <one out-parameter per result>)` (moe-tblgen
  // -gen-runtime-abi-*, docs/RuntimeAbi.md). Device ops set it.
  bit hasRuntimeCall = 0;
  // The call also passes the element type of every tensor result (a
  // `DType`) after the op's arguments, for kernels whose result type is not
  // implied by their operands.
  bit passResultDTypes = 0;
}

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Npu_Group : I32EnumAttr<"Group", "communication group of a collective", [
      I32EnumAttrCase<"World", 0, "world">,
      I32EnumAttrCase<"TP", 1, "tp">,
      I32EnumAttrCase<"DP", 2, "dp">,
      I32EnumAttrCase<"EP", 3, "ep">,
      I32EnumAttrCase<"PCP", 4, "pcp">
    ]> {
  let cppNamespace = "::mlir::npu";
}

def Npu_ReduceKind : I32EnumAttr<"ReduceKind", "reduction of a collective", [
      I32EnumAttrCase<"Sum", 0, "sum">,
      I32EnumAttrCase<"Max", 1, "max">
    ]> {
  let cppNamespace = "::mlir::npu";
}

def Npu_Scoring : I32EnumAttr<"Scoring", "router scoring function", [
      I32EnumAttrCase<"Softmax", 0, "softmax">,
      I32EnumAttrCase<"Sigmoid", 1, "sigmoid">
    ]> {
  let cppNamespace = "::mlir::npu";
}

def Npu_GroupListType : I32EnumAttr<"GroupListType",
    "how a group list gives the row groups of a grouped operator", [
      I32EnumAttrCase<"Cumsum", 0, "cumsum">,
      I32EnumAttrCase<"Count", 1, "count">
    ]> {
  let cppNamespace = "::mlir::npu";
}

def Npu_MatmulQuant : I32EnumAttr<"MatmulQuant",
    "operand types of a (grouped) matmul", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"W8A8", 1, "w8a8">,
      I32EnumAttrCase<"W4A8", 2, "w4a8">
    ]> {
  let cppNamespace = "::mlir::npu";
}

def Npu_DType : I32EnumAttr<"DType",
    "element type of a runtime tensor", [
      I32EnumAttrCase<"F32", 0, "f32">,
      I32EnumAttrCase<"BF16", 1, "bf16">,
      I32EnumAttrCase<"F16", 2, "f16">,
      I32EnumAttrCase<"I8", 3, "i8">,
      I32EnumAttrCase<"I4", 4, "i4">,
      I32EnumAttrCase<"I32", 5, "i32">,
      I32EnumAttrCase<"I64", 6, "i64">,
      I32EnumAttrCase<"I1", 7, "i1">,
      // fp8 (OCP 8-bit floating point): one byte, MLIR f8E4M3FN / f8E5M2.
      I32EnumAttrCase<"F8E4M3FN", 8, "f8e4m3fn">,
      I32EnumAttrCase<"F8E5M2", 9, "f8e5m2">
    ]> {
  let cppNamespace = "::mlir::npu";
}

/// Element format of quantized values (npu.quant_dequant,
/// npu.dequantize_weights, npu.dequantize_fp4_weights): how the runtime
/// reads and writes their bytes. docs/Quantization.md, "fp8 and int8
/// weight-only schemes" and "mxfp4 and nvfp4".
def Npu_QuantFormat : I32EnumAttr<"QuantFormat",
    "element format of quantized values", [
      I32EnumAttrCase<"Int8", 0, "int8">,
      I32EnumAttrCase<"Fp8E4M3", 1, "fp8_e4m3">,
      I32EnumAttrCase<"Fp8E5M2", 2, "fp8_e5m2">,
      // OCP MX v1.0 FP4 E2M1 elements with one E8M0 scale per 32.
      I32EnumAttrCase<"Mxfp4", 3, "mxfp4">,
      // NVIDIA nvfp4: E2M1 elements, an E4M3 scale per 16, a global f32.
      I32EnumAttrCase<"Nvfp4", 4, "nvfp4">
    ]> {
  let cppNamespace = "::mlir::npu";
}

/// `quant_mode` of npu_moe_init_routing_v2. torch_npu numbers the modes -1
/// (none) and 1 (dynamic); enum cases cannot be negative, so the textual form
/// and the runtime call use `torchQuantMode()` (NpuDialect.h), the one
/// mapping between the two.
def Npu_RoutingQuantMode : I64EnumAttr<"RoutingQuantMode",
    "quantization of the rows npu_moe_init_routing_v2 gathers", [
      I64EnumAttrCase<"None", 0, "none">,
      I64EnumAttrCase<"Dynamic", 1, "dynamic">
    ]> {
  let cppNamespace = "::mlir::npu";
}

/// `quant_mode` of npu_moe_distribute_dispatch, numbered as torch_npu numbers
/// it: 0 (none) and 2 (dynamic).
def Npu_DispatchQuantMode : I64EnumAttr<"DispatchQuantMode",
    "quantization of the rows npu_moe_distribute_dispatch sends", [
      I64EnumAttrCase<"None", 0, "none">,
      I64EnumAttrCase<"Dynamic", 2, "dynamic">
    ]> {
  let cppNamespace = "::mlir::npu";
}

def Npu_SharedExpertStage : I32EnumAttr<"SharedExpertStage",
    "stage of a layer's shared-expert MLP", [
      I32EnumAttrCase<"Quantize", 0, "quantize">,
      I32EnumAttrCase<"GateUp", 1, "gate_up">,
      I32EnumAttrCase<"Activation", 2, "activation">,
      I32EnumAttrCase<"Down", 3, "down">
    ]> {
  let cppNamespace = "::mlir::npu";
  let genSpecializedAttr = 0;
}

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def Npu_SharedExpertStageAttr
    : EnumAttr<Npu_Dialect, Npu_SharedExpertStage, "shared_expert"> {
  let summary = "the shared-expert stage a device op belongs to";
  let description = [{
    `convert-moe-to-npu` marks every device op it emits for a
    `moe.shared_experts` with the discardable attribute `npu.shared_expert`,
    naming the op's stage of the MLP: `quantize` (the input's dynamic
    quantization), `gate_up` (the gate-up projection), `activation` (SwiGLU
    and its requantization), `down` (the down projection, whose result the
    layer's finalize adds to the routed output). `moe-schedule-multistream`
    moves the stages to the shared stream by this role instead of matching
    op shapes; an op without it stays where it is.

    ```mlir
    %h = npu.matmul %q, %w13 scale(%s13 : tensor<32xf32>)
        per_token_scale(%s : tensor<?xf32>) w8a8
        {npu.shared_expert = #npu.shared_expert<gate_up>}
        : tensor<?x64xi8>, tensor<64x32xi8> -> tensor<?x32xf32>
    ```
  }];
  let assemblyFormat = "`<` $value `>`";
}

def Npu_PackedAttr : AttrDef<Npu_Dialect, "Packed"> {
  let mnemonic = "packed";
  let summary = "tensor encoding: a weight in the runtime's packed layout";
  let description = [{
    The encoding of a weight stack that `npu.pack_weights` made: the values
    are those of the plain `[G, K, N]` weight, the bytes are in whatever
    blocked layout the runtime's int8 engine on the executing CPU reads
    (docs/Runtime.md, "Packed weights"). Only `npu.grouped_matmul` takes
    such a tensor, as its weight: int8 with `w8a8`, int4 with `w4a8`.

    ```mlir
    %p = npu.pack_weights %w13 : tensor<32x2048x1536xi8> -> tensor<32x2048x1536xi8, #npu.packed>
    ```
  }];
}

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

def Npu_EventType : TypeDef<Npu_Dialect, "Event"> {
  let mnemonic = "event";
  let summary = "a point in one stream's work, recorded by npu.record";
  let description = [{
    An SSA timepoint: the value `npu.record` returns stands for all work
    issued to the recording stream before it; `npu.wait` orders another
    stream after it.
  }];
}

//===----------------------------------------------------------------------===//
// Stream interface
//===----------------------------------------------------------------------===//

def Npu_StreamOpInterface : OpInterface<"StreamOpInterface"> {
  let cppNamespace = "::mlir::npu";
  let description = [{
    A device op issued to a stream. Ops of one stream run in program order;
    the main stream is 0.
  }];
  let methods = [
    InterfaceMethod<"The stream the op runs on.", "int64_t", "getStreamId",
      (ins), [{}], [{ return $_op.getStream(); }]>,
    InterfaceMethod<"Moves the op to another stream.", "void", "setStreamId",
      (ins "int64_t":$stream), [{}], [{ $_op.setStream(stream); }]>
  ];
}

//===----------------------------------------------------------------------===//
// Roles in a layer: what passes query instead of op lists
//===----------------------------------------------------------------------===//

/// The op moves routed rows toward their experts: the first such op of a
/// layer is its dispatch (moe-schedule-multistream anchors the shared
/// experts' gate-up projection there).
def Npu_DispatchesRows : NativeOpTrait<"DispatchesRows"> {
  let cppNamespace = "::mlir::npu::OpTrait";
}

/// The op computes from the layer's weights alone, once before the first
/// step (load-time processing): moe-outline-load-time moves it into the
/// entry function's load-time function when its operands are arguments.
def Npu_RunsAtLoadTime : NativeOpTrait<"RunsAtLoadTime"> {
  let cppNamespace = "::mlir::npu::OpTrait";
}

def Npu_CombineOpInterface : OpInterface<"CombineOpInterface"> {
  let cppNamespace = "::mlir::npu";
  let description = [{
    An op that can bring expert outputs back to their tokens: the combine of
    a layer (moe-schedule-multistream anchors the shared experts' down
    projection there).
  }];
  let methods = [
    InterfaceMethod<[{
        Whether this op combines expert outputs. `expertsRan` tells whether
        the layer's experts ran before it, for ops that move rows either way
        (an all-to-all-v sends tokens out before the experts and outputs back
        after them).
      }], "bool", "combinesExpertOutputs", (ins "bool":$expertsRan), [{}],
      [{ return true; }]>
  ];
}

def Npu_QuantFusableDispatchOpInterface
    : OpInterface<"QuantFusableDispatchOpInterface"> {
  let cppNamespace = "::mlir::npu";
  let description = [{
    A dispatch that can take over the `npu.dynamic_quant` of the rows it
    produces, so int8 rows plus one f32 scale per row travel instead of
    float rows (SEMANTICS §7). moe-fuse-quant-into-dispatch asks the
    producer of every `npu.dynamic_quant`'s input for this interface and
    lets it rewrite; the pass itself knows no dispatch op.
  }];
  let methods = [
    InterfaceMethod<[{
        Fuses `quant`, whose input this op produces, into the dispatch with
        `rewriter`. Succeeds when `quant` has been replaced and erased (a
        partial fusion remarks on `quant` what it could not move). Fails,
        leaving the IR unchanged, when this op is not the end of a dispatch
        it fuses (silently) or when an op is in the way (with a remark on
        `quant` saying why and a note on that op).
      }], "::mlir::LogicalResult", "fuseDynamicQuant",
      (ins "::mlir::npu::DynamicQuantOp &":$quant,
           "::mlir::RewriterBase &":$rewriter)>
  ];
}

def Npu_StreamAttr : DefaultValuedAttr<ConfinedAttr<I64Attr, [IntNonNegative]>, "0">;

//===----------------------------------------------------------------------===//
// Effects: the streams as one resource
//===----------------------------------------------------------------------===//

/// The device's streams. Device ops read it: they may be merged or dropped
/// when nothing orders them, but never moved across an op that writes it.
/// npu.record, npu.wait and everything that involves other ranks
/// (collectives, MC2, host-side all-reduce and checks) write it, so no
/// upstream pass moves device work across a synchronization point or merges,
/// drops or reorders a rendezvous. See docs/Streams.md, "Effects".
def Npu_StreamResource : Resource<"::mlir::npu::StreamResource">;

/// The effects of an op that takes part in stream ordering or a rendezvous
/// of ranks.
def Npu_Synchronizes : MemoryEffects<[MemRead<Npu_StreamResource>,
                                      MemWrite<Npu_StreamResource>]>;

/// An op that can fail at run time on values the verifier cannot see
/// (capacities, out-of-range ids, splits or group lists that do not add up,
/// dynamic dimensions that disagree): never executed speculatively.
def Npu_MayFailAtRunTimeImpl : NativeOpTrait<"MayFailAtRunTime"> {
  let cppNamespace = "::mlir::npu::OpTrait";
}
def Npu_MayFailAtRunTime : TraitList<[ConditionallySpeculatable,
                                      Npu_MayFailAtRunTimeImpl]>;

/// An op that cannot fail once its operands verify.
def Npu_CannotFail : TraitList<[ConditionallySpeculatable,
                                AlwaysSpeculatableImplTrait]>;

/// A device op: runs on the stream of its `stream` attribute and reads the
/// streams' resource. `traits` says whether it can fail at run time
/// (Npu_MayFailAtRunTime or Npu_CannotFail).
class Npu_DeviceOp<string mnemonic, list<Trait> traits = []>
    : Npu_Op<mnemonic, !listconcat(traits, [Npu_StreamOpInterface,
          MemoryEffects<[MemRead<Npu_StreamResource>]>])> {
  let hasRuntimeCall = 1;
}

/// A device op that exchanges data with other ranks (an HCCL collective or an
/// MC2 kernel): a rendezvous, so it also writes the streams' resource, and it
/// fails when the ranks disagree.
class Npu_CollectiveOp<string mnemonic, list<Trait> traits = []>
    : Npu_Op<mnemonic, !listconcat(traits, [Npu_StreamOpInterface,
          Npu_Synchronizes, Npu_MayFailAtRunTime])> {
  let hasRuntimeCall = 1;
}

#endif // NPU_DIALECT_TD
