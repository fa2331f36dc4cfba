//===- MoeTypes.td - types of the moe dialect --------------*- tablegen -*-===//

#ifndef MOE_TYPES_TD
#define MOE_TYPES_TD

include "Moe/MoeAttrs.td"

class Moe_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Moe_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Moe_PrepareCtxType : Moe_Type<"PrepareCtx", "prepare_ctx"> {
  let summary = "bookkeeping moe.prepare hands to moe.finalize";
  let description = [{
    What finalize needs to undo prepare: the rank's original token count and
    how its rows were padded, split or gathered. The parameter is the
    communication method both stages implement.

    ```mlir
    !moe.prepare_ctx<mc2>
    ```
  }];
  let parameters = (ins EnumParameter<Moe_CommMethod>:$method);
  let assemblyFormat = "`<` $method `>`";
}

def Moe_DispatchCtxType : Moe_Type<"DispatchCtx", "dispatch_ctx"> {
  let summary = "bookkeeping moe.dispatch hands to moe.combine";
  let description = [{
    What combine needs to send expert outputs back: the row mapping from
    expanded rows to (token, k) pairs, the routing weights and the per-rank
    receive counts. The parameter is the communication method both stages
    implement.

    ```mlir
    !moe.dispatch_ctx<alltoall>
    ```
  }];
  let parameters = (ins EnumParameter<Moe_CommMethod>:$method);
  let assemblyFormat = "`<` $method `>`";
}

#endif // MOE_TYPES_TD
