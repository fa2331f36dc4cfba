//===- MoeEnums.td - enumerations of the moe dialect -------*- tablegen -*-===//

#ifndef MOE_ENUMS_TD
#define MOE_ENUMS_TD

include "Moe/MoeDialect.td"
include "mlir/IR/EnumAttr.td"

def Moe_CommMethod : I32EnumAttr<"CommMethod",
    "how tokens travel from their rank to the rank owning their expert", [
      I32EnumAttrCase<"Unset", 0, "unset">,
      I32EnumAttrCase<"AllGather", 1, "allgather">,
      I32EnumAttrCase<"AllToAll", 2, "alltoall">,
      I32EnumAttrCase<"MC2", 3, "mc2">,
      I32EnumAttrCase<"FusedMC2", 4, "fused_mc2">,
      // Mixture of Grouped Experts (seed 002 TokenDispatcherWithMoge): run
      // only when asked for (policy=fixed or the context types).
      I32EnumAttrCase<"Moge", 5, "moge">
    ]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def Moe_CommMethodAttr : EnumAttr<Moe_Dialect, Moe_CommMethod, "method"> {
  let summary = "communication method of an MoE layer";
  let assemblyFormat = "`<` $value `>`";
}

def Moe_ChipKind : I32EnumAttr<"ChipKind", "Ascend SoC generation", [
      I32EnumAttrCase<"A2", 0, "A2">,
      I32EnumAttrCase<"A3", 1, "A3">,
      I32EnumAttrCase<"A5", 2, "A5">,
      // "310P" is not a keyword (it starts with a digit).
      I32EnumAttrCase<"A310P", 3, "A310P">
    ]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

// Used directly as an op attribute so the custom form prints a bare word.
def Moe_ScoringFunc : I32EnumAttr<"ScoringFunc",
    "how router logits become expert scores", [
      I32EnumAttrCase<"Softmax", 0, "softmax">,
      I32EnumAttrCase<"Sigmoid", 1, "sigmoid">
    ]> {
  let cppNamespace = "::mlir::moe";
}

def Moe_QuantDtype : I32EnumAttr<"QuantDtype",
    "element type of an activation or weight in a quantization descriptor", [
      I32EnumAttrCase<"F32", 0, "f32">,
      I32EnumAttrCase<"BF16", 1, "bf16">,
      I32EnumAttrCase<"F16", 2, "f16">,
      I32EnumAttrCase<"FP8E4M3", 3, "fp8_e4m3">,
      I32EnumAttrCase<"Int8", 4, "int8">,
      I32EnumAttrCase<"Int4", 5, "int4">,
      I32EnumAttrCase<"MXFP4", 6, "mxfp4">,
      I32EnumAttrCase<"NVFP4", 7, "nvfp4">,
      I32EnumAttrCase<"FP8E5M2", 8, "fp8_e5m2">,
      I32EnumAttrCase<"MXFP6E3M2", 9, "mxfp6_e3m2">,
      I32EnumAttrCase<"MXFP6E2M3", 10, "mxfp6_e2m3">
    ]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

def Moe_QuantScheme : I32EnumAttr<"QuantScheme",
    "the named quantization schemes vllm-ascend executes", [
      I32EnumAttrCase<"None", 0, "none">,
      I32EnumAttrCase<"W8A8Dynamic", 1, "w8a8_dynamic">,
      I32EnumAttrCase<"W4A8Dynamic", 2, "w4a8_dynamic">,
      I32EnumAttrCase<"Custom", 3, "custom">
    ]> {
  let cppNamespace = "::mlir::moe";
  let genSpecializedAttr = 0;
}

#endif // MOE_ENUMS_TD
