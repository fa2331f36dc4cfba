//===- Passes.td - passes of the named pipelines -*- tablegen -*-===//
//
// Passes the named pipelines (moe-compile, moe-lower-to-llvm) add to check
// their input. docs/PipelinePasses.md is generated from this file.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_PIPELINES_PASSES_TD
#define MOE_PIPELINES_PASSES_TD

include "mlir/Pass/PassBase.td"

def RejectNestedModules : Pass<"moe-reject-nested-modules", "::mlir::ModuleOp"> {
  let summary = "Report every module nested in the compiled one as an error";
  let description = [{
    `moe-compile` and `moe-lower-to-llvm` run their function passes on the
    functions of the module they are given, the lowering declares the
    runtime's entry points in that module, and drivers look up the function
    to run there. A `builtin.module` inside it would be skipped silently: its
    layers left unexpanded, its streams unverified, its calls unresolved.
    Both pipelines therefore start with this pass, which reports each nested
    module (an error at the module, naming the pipeline's rule) and fails;
    compile every module on its own instead.

    Example:

    ```mlir
    module {
      // error: nested 'builtin.module' ...
      module { func.func @layer(...) { ... } }
    }
    ```
  }];
}

#endif // MOE_PIPELINES_PASSES_TD
