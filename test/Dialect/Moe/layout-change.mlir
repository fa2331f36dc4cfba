// RUN: moe-opt %s -split-input-file -test-moe-set-layout -verify-diagnostics
// Every case verifies before the change:
// RUN: moe-opt %s -split-input-file -o /dev/null

// Editing the deployment re-verifies the layers under it: the rules that
// relate a layer to its layout live in the verifier of the `moe.layout`
// attribute, not in the op verifiers, so changing the attribute (here with
// test-moe-set-layout, which moves `test.new_layout` into `moe.layout`) is
// checked like any other edit. Each case is valid before the change.

// Single device (no layout: mc2 moves nothing), then TP 2 x DP 2 without
// expert parallelism: mc2 cannot run.
// expected-note @+1 {{in the deployment #moe.layout<tp = 2, dp = 2> set here}}
module attributes {test.new_layout = #moe.layout<tp = 2, dp = 2>} {
  func.func @method(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op method mc2 sends tokens to the rank owning their expert and needs expert_parallel in the layout}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
    return
  }
}

// -----

// Two local experts of 8 on EP 4, then EP 8: one local expert each.
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 8, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>,
                   test.new_layout = #moe.layout<tp = 1, dp = 8, expert_parallel = true>} {
  func.func @local(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op counts has 2 local experts but 8 physical experts over 8 expert-parallel ranks give 1}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(8) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
}

// -----

// 6 physical experts on EP 2, then EP 4.
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
                   test.new_layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  func.func @split(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op 6 physical experts cannot be split evenly over 4 expert-parallel ranks}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(4 + 2) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<3xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
}

// -----

// A layout on a nested op governs the layers under it; changing the outer
// one leaves them alone, and the new outer layout must suit its own layers.
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>,
                   test.new_layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  func.func @inner(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>)
      attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
    %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
  func.func @outer(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op counts has 2 local experts but 4 physical experts over 4 expert-parallel ranks give 1}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
}
