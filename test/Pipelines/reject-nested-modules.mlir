// moe-reject-nested-modules, and both pipelines starting with it. A module
// nested in the compiled one used to be skipped silently (issue 14): a
// stream race inside it passed -moe-compile with status 0, and
// -moe-lower-to-llvm then failed on an unresolved symbol.
// RUN: moe-opt %s -split-input-file -moe-reject-nested-modules -verify-diagnostics
// RUN: moe-opt %s -split-input-file -moe-compile -verify-diagnostics
// RUN: moe-opt %s -split-input-file -moe-lower-to-llvm -verify-diagnostics
// RUN: not moe-opt %s -split-input-file -moe-compile -mlir-disable-threading 2>&1 | FileCheck %s
// CHECK-COUNT-3: error: nested 'builtin.module' is not supported: moe-compile and moe-lower-to-llvm compile the functions of the top-level module only; compile each module on its own

// A race on two streams, inside a nested module.
module {
  // expected-error @+1 {{nested 'builtin.module' is not supported}}
  module {
    func.func @race(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
      %y = npu.add %x, %x stream(1) : tensor<?x8xf32>
      %z = npu.add %y, %y : tensor<?x8xf32>
      return %z : tensor<?x8xf32>
    }
  }
}

// -----

// A level-1 layer two modules deep: one error, at the outer nested module.
module {
  func.func @top(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    return %x : tensor<4x8xf32>
  }
  // expected-error @+1 {{nested 'builtin.module' is not supported}}
  module {
    module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
      func.func @empty() {
        return
      }
    }
  }
}

// -----

// An empty nested module, too: the rule is about structure.
module {
  // expected-error @+1 {{nested 'builtin.module' is not supported}}
  module {
  }
}

// -----

// Without nesting nothing is reported.
module {
  func.func @top(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
    return %x : tensor<4x8xf32>
  }
}
