// RUN: moe-opt %s -split-input-file -verify-diagnostics

// One case per diagnostic a moe op verifier can emit (attribute and type
// diagnostics are in invalid-attrs.mlir). Rules that relate an op to its
// deployment or to the op that made its context are checked by the
// verifier of the `moe.layout` attribute (verifyDeployment): their cases
// are under a module carrying one, which the note names.

func.func @prepare_tokens(%x: tensor<4x8xf32>, %l: tensor<5x4xf32>) {
  // expected-error @+1 {{'moe.prepare' op hidden states have 4 tokens but the router logits have 5}}
  %h, %lg, %c = moe.prepare %x, %l : tensor<4x8xf32>, tensor<5x4xf32> -> !moe.prepare_ctx<unset>
  return
}

// -----

func.func @prepare_bound(%x: tensor<9x8xf32>, %l: tensor<9x4xf32>) {
  // expected-error @+1 {{'moe.prepare' op has 9 tokens, more than its max_tokens bound 8}}
  %h, %lg, %c = moe.prepare %x, %l max_tokens(8) : tensor<9x8xf32>, tensor<9x4xf32> -> !moe.prepare_ctx<unset>
  return
}

// -----

func.func @prepare_bound_positive(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.prepare' op attribute 'max_tokens' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %h, %lg, %c = moe.prepare %x, %l max_tokens(0) : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
  return
}

// -----

func.func @prepare_hidden_type(%x: tensor<?x?xf32>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{custom op 'moe.prepare' 'hidden' must be 2-D tensor of f32, bf16 or f16 values with a static second dimension, but got 'tensor<?x?xf32>'}}
  %h, %lg, %c = moe.prepare %x, %l : tensor<?x?xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
  return
}

// -----

func.func @prepare_int(%x: tensor<?x8xi8>, %l: tensor<?x4xf32>) {
  // expected-error @+1 {{custom op 'moe.prepare' 'hidden' must be 2-D tensor of f32, bf16 or f16 values with a static second dimension, but got 'tensor<?x8xi8>'}}
  %h, %lg, %c = moe.prepare %x, %l : tensor<?x8xi8>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
  return
}

// -----

func.func @prepare_result_type(%x: tensor<4x8xf32>, %l: tensor<4x4xf32>) {
  // expected-error @+1 {{'moe.prepare' op failed to verify that prepared_hidden has the type of hidden with a dynamic token dimension}}
  %h:3 = "moe.prepare"(%x, %l) : (tensor<4x8xf32>, tensor<4x4xf32>) -> (tensor<4x8xf32>, tensor<?x4xf32>, !moe.prepare_ctx<unset>)
  return
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 1> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 1>} {
  func.func @finalize_mismatch(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>, %y: tensor<?x16xf32>) {
    %h, %lg, %c = moe.prepare %x, %l : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
    // expected-error @+1 {{'moe.finalize' op finalizes 'tensor<?x16xf32>' but its prepare produced 'tensor<?x8xf32>'}}
    %r = moe.finalize %y, %c : tensor<?x16xf32>, !moe.prepare_ctx<unset>
    return
  }
}

// -----

// The experts' rows are in dispatch order, one per token and expert: not
// the layer's tokens (issue 14: this verified and gave a wrong shape).
func.func @finalize_uncombined(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>, %w13: tensor<4x8x8xf32>, %w2: tensor<4x4x8xf32>) {
  %h, %lg, %pc = moe.prepare %x, %l : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
  %w, %i = moe.gate %lg top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %r, %c, %dc = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<4x8x8xf32>, tensor<4x4x8xf32>) : tensor<?x8xf32>, tensor<4xi64>
  // expected-error @+1 {{'moe.finalize' op finalizes the dispatched rows of 'moe.experts'; combine them with moe.combine first}}
  %o = moe.finalize %y, %pc : tensor<?x8xf32>, !moe.prepare_ctx<unset>
  return
}

// -----

func.func @finalize_dispatched(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>) {
  %h, %lg, %pc = moe.prepare %x, %l : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
  %w, %i = moe.gate %lg top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %r, %c, %dc = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  // expected-error @+1 {{'moe.finalize' op finalizes the dispatched rows of 'moe.dispatch'; combine them with moe.combine first}}
  %o = moe.finalize %r, %pc : tensor<?x8xf32>, !moe.prepare_ctx<unset>
  return
}

// -----

func.func @finalize_shared(%y: tensor<?x8xf32>, %c: !moe.prepare_ctx<unset>, %s: tensor<?x8xbf16>) {
  // expected-error @+1 {{'moe.finalize' op shared experts output 'tensor<?x8xbf16>' does not match the routed output 'tensor<?x8xf32>'}}
  %r = moe.finalize %y, %c shared(%s : tensor<?x8xbf16>) : tensor<?x8xf32>, !moe.prepare_ctx<unset>
  return
}

// -----

// Seed 000: with reduce_results=False the model adds the shared output and
// reduces once; finalize must not add it to a partial sum.
func.func @finalize_shared_unreduced(%y: tensor<?x8xf32>, %c: !moe.prepare_ctx<allgather>, %s: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.finalize' op adds the shared experts' output but does not reduce its result (reduce_results(false)); add the shared output to the partial result before the one reduction instead}}
  %r = moe.finalize %y, %c shared(%s : tensor<?x8xf32>) reduce_results(false) : tensor<?x8xf32>, !moe.prepare_ctx<allgather>
  return
}

// -----

// allgather + enable_shared_expert_dp over DP 2: finalize keeps the DP
// group's gathered rows, which are not the rank's tokens.
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 2, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @finalize_shared_expert_dp(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>, %y: tensor<?x8xf32>) {
    %h, %lg, %c = moe.prepare %x, %l enable_shared_expert_dp : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<allgather>
    // expected-error @+1 {{'moe.finalize' op adds the shared experts' output of the rank's tokens, but with allgather and enable_shared_expert_dp the result keeps the rows gathered over the DP group (no reduce-scatter)}}
    %r = moe.finalize %y, %c shared(%x : tensor<?x8xf32>) : tensor<?x8xf32>, !moe.prepare_ctx<allgather>
    return
  }
}

// -----

// enable_shared_expert_dp over DP 2 with the method left open: what
// finalize returns would depend on the method chosen.
// expected-note @+1 {{in the deployment #moe.layout<tp = 2, dp = 2, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2, expert_parallel = true>} {
  func.func @shared_expert_dp_unset(%x: tensor<?x8xf32>, %l: tensor<?x4xf32>, %y: tensor<?x8xf32>) {
    %h, %lg, %c = moe.prepare %x, %l enable_shared_expert_dp : tensor<?x8xf32>, tensor<?x4xf32> -> !moe.prepare_ctx<unset>
    // expected-error @+1 {{'moe.finalize' op finalizes a layer with enable_shared_expert_dp over a DP group and no method: allgather would return the DP group's gathered rows, the other methods the rank's tokens; state the method in the context type}}
    %r = moe.finalize %y, %c : tensor<?x8xf32>, !moe.prepare_ctx<unset>
    return
  }
}

// -----

func.func @gate_topk(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.gate' op top_k 5 exceeds the 4 experts}}
  %w, %i = moe.gate %l top_k(5) softmax : tensor<?x4xf32> -> tensor<?x5xf32>, tensor<?x5xi32>
  return
}

// -----

func.func @gate_topk_positive(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.gate' op attribute 'top_k' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %w, %i = moe.gate %l top_k(0) softmax : tensor<?x4xf32> -> tensor<?x0xf32>, tensor<?x0xi32>
  return
}

// -----

func.func @gate_result(%l: tensor<?x4xf32>) {
  // expected-error @+1 {{'moe.gate' op result 'tensor<?x3xi32>' must be [?, 2] (tokens x top_k)}}
  %w, %i = moe.gate %l top_k(2) softmax : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @gate_bias(%l: tensor<?x4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'moe.gate' op correction bias must be tensor<4xf32>, got 'tensor<8xf32>'}}
  %w, %i = moe.gate %l bias(%b : tensor<8xf32>) top_k(2) sigmoid : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @gate_groups_pair(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op num_expert_group and topk_group go together}}
  %w, %i = "moe.gate"(%l) <{top_k = 2 : i64, scoring = 0 : i32, num_expert_group = 2 : i64}> : (tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>)
  return
}

// -----

func.func @gate_groups_divide(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op 3 expert groups do not divide the 8 experts}}
  %w, %i = moe.gate %l top_k(2) softmax groups(3, 1) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @gate_keep(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op keeps 5 of only 4 expert groups}}
  %w, %i = moe.gate %l top_k(2) softmax groups(4, 5) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @gate_kept_experts(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op top_k 3 exceeds the 2 experts of the 1 kept groups}}
  %w, %i = moe.gate %l top_k(3) softmax groups(4, 1) : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return
}

// -----

func.func @gate_bias_groups(%l: tensor<?x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'moe.gate' op with a correction bias groups are scored by their two best experts, so each group needs at least 2 experts}}
  %w, %i = moe.gate %l bias(%b : tensor<8xf32>) top_k(2) sigmoid groups(8, 4) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// Group-balanced routing (moe.gate ... balanced, the routing moge relies on).
func.func @gate_balanced_no_groups(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op balanced routing takes top_k / G experts from each of G expert groups and needs groups(G, G)}}
  %w, %i = moe.gate %l top_k(2) softmax balanced : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @gate_balanced_keeps_some(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op balanced routing keeps every group: topk_group must equal the 4 groups, got 2}}
  %w, %i = moe.gate %l top_k(4) softmax groups(4, 2) balanced : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return
}

// -----

func.func @gate_balanced_uneven(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op balanced routing takes top_k / G experts from each group: 4 groups do not divide top_k 6}}
  %w, %i = moe.gate %l top_k(6) softmax groups(4, 4) balanced : tensor<?x8xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  return
}

// -----

func.func @gate_scale(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op attribute 'routed_scaling_factor' failed to satisfy constraint: 32-bit float attribute whose value is finite and positive}}
  %w, %i = moe.gate %l top_k(2) softmax scale(0.0) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// An infinite scale made every weight infinite (issue 14).
func.func @gate_scale_inf(%l: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.gate' op attribute 'routed_scaling_factor' failed to satisfy constraint: 32-bit float attribute whose value is finite and positive}}
  %w, %i = moe.gate %l top_k(2) softmax scale(0x7F800000) : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

func.func @dispatch_shapes(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x3xi32>) {
  // expected-error @+1 {{'moe.dispatch' op weights 'tensor<?x2xf32>' and ids 'tensor<?x3xi32>' must both be [?, K] for hidden states 'tensor<?x8xf32>'}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x3xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

// The gate scores 6 experts, the dispatch has 4: caught at run time before
// (issue 14).
func.func @dispatch_logits_width(%h: tensor<?x8xf32>, %l: tensor<?x6xf32>) {
  %w, %i = moe.gate %l top_k(2) softmax : tensor<?x6xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  // expected-error @+1 {{'moe.dispatch' op dispatches to 4 experts but its gate scores 6 (router logits 'tensor<?x6xf32>')}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

func.func @dispatch_k(%h: tensor<?x8xf32>, %w: tensor<?x5xf32>, %i: tensor<?x5xi32>) {
  // expected-error @+1 {{'moe.dispatch' op routes each token to 5 experts but there are only 4}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x5xf32>, tensor<?x5xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 2, dp = 2> set here}}
module attributes {moe.layout = #moe.layout<tp = 2, dp = 2>} {
  func.func @dispatch_needs_ep(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op method mc2 sends tokens to the rank owning their expert and needs expert_parallel in the layout}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
    return
  }
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  func.func @dispatch_split(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op 6 physical experts cannot be split evenly over 4 expert-parallel ranks}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(6) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<1xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  func.func @dispatch_local(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op counts has 4 local experts but 12 physical experts over 4 expert-parallel ranks give 3}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(8 + 4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
}

// -----

func.func @dispatch_log2phy(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %m: tensor<6xi32>) {
  // expected-error @+1 {{'moe.dispatch' op log2phy must map the 4 logical experts, got 'tensor<6xi32>'}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4 + 2) log2phy(%m : tensor<6xi32>) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<6xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

func.func @dispatch_map(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %m: tensor<4xi32>) {
  // expected-error @+1 {{'moe.dispatch' op expert_map must cover the 6 physical experts, got 'tensor<4xi32>'}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4 + 2) expert_map(%m : tensor<4xi32>) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<6xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

func.func @dispatch_map_type(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %m: tensor<?xi32>) {
  // expected-error @+1 {{'moe.dispatch' op operand #3 must be statically shaped 1-D tensor of i32, but got 'tensor<?xi32>'}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4) expert_map(%m : tensor<?xi32>) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 1> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 1>} {
  func.func @combine_mismatch(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>, %y: tensor<?x8xbf16>) {
    %r, %c, %d = moe.dispatch %h, %w, %i experts(4) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
    // expected-error @+1 {{'moe.combine' op combines 'tensor<?x8xbf16>' but its dispatch sent 'tensor<?x8xf32>'}}
    %o = moe.combine %y, %d : tensor<?x8xbf16>, !moe.dispatch_ctx<unset>
    return
  }
}

// -----

func.func @experts_w13_rank(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<8x8xf32>, %w2: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 must be [L, H, 2I], got 'tensor<8x8xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<8x8xf32>, tensor<2x4x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w2_rank(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf32>, %w2: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w2 must be [L, I, H], got 'tensor<4x8xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<4x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_count(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<3x8x8xf32>, %w2: tensor<3x4x8xf32>) {
  // expected-error @+1 {{'moe.experts' op weights hold 3 and 3 experts but counts has 2}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<3x8x8xf32>, tensor<3x4x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_hidden(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x16x8xf32>, %w2: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 reduces over 16 but the hidden size is 8}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x16x8xf32>, tensor<2x4x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_odd(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x7xf32>, %w2: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 output size 7 must be even (gate and up halves)}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x7xf32>, tensor<2x4x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_inter(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf32>, %w2: tensor<2x8x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w2 reduces over 8 but the intermediate size is 4}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x8x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_out(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf32>, %w2: tensor<2x4x6xf32>) {
  // expected-error @+1 {{'moe.experts' op w2 produces 6 values but the hidden size is 8}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x4x6xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_elem(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf32>, %w2: tensor<2x4x8xbf16>) {
  // expected-error @+1 {{'moe.experts' op w13 and w2 element types differ: 'f32' vs 'bf16'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x4x8xbf16>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_missing_quant(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>) {
  // expected-error @+1 {{'moe.experts' op unquantized weights must be floating point, got 'i8' (missing quant?)}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_none_scales(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf32>, %w2: tensor<2x4x8xf32>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op unquantized experts take no scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x4x8xf32>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w8a8_elem(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w8a8_dynamic needs i8 weights, got 'i4'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w8a8_dynamic> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w8a8_scales(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>) {
  // expected-error @+1 {{'moe.experts' op w8a8_dynamic needs per-channel scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) quant <w8a8_dynamic> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w8a8_scale_shape(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>, %s13: tensor<2x4xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 scale must be 'tensor<2x8xf32>', got 'tensor<2x4xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) scales(%s13, %s2 : tensor<2x4xf32>, tensor<2x8xf32>) quant <w8a8_dynamic> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w8a8_group(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w8a8_dynamic takes no group scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) group_scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w8a8_dynamic> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w4a8_hidden(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op group size 16 does not divide the hidden size 8}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w4a8_dynamic, group_size = 16> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w4a8_inter(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op group size 8 does not divide the intermediate size 4}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w4a8_dynamic, group_size = 8> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w4a8_needs_groups(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w4a8_dynamic needs group scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w4a8_dynamic, group_size = 4> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w4a8_group_shape(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>, %g13: tensor<2x2x8xf32>, %g2: tensor<2x2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w2 group scale must be 'tensor<2x1x8xf32>', got 'tensor<2x2x8xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) group_scales(%g13, %g2 : tensor<2x2x8xf32>, tensor<2x2x8xf32>) quant <w4a8_dynamic, group_size = 4> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_custom_elem(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>) {
  // expected-error @+1 {{'moe.experts' op weights quantized as fp8_e4m3 must have element type 'f8E4M3FN', got 'i8'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) quant <w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_custom_float(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>) {
  // expected-error @+1 {{'moe.experts' op weights without a w1 descriptor must be floating point, got 'i8'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) quant <a1 = #moe.qdesc<bf16>, a2 = #moe.qdesc<bf16>> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_block_cols(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf8E4M3FN>, %w2: tensor<2x4x8xf8E4M3FN>) {
  // expected-error @+1 {{'moe.experts' op a1 block of 16 columns does not divide the reduced dimension 8}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf8E4M3FN>, tensor<2x4x8xf8E4M3FN>) quant <a1 = #moe.qdesc<fp8_e4m3, block [1, 16]>, a2 = #moe.qdesc<fp8_e4m3, block [1, 16]>, w1 = #moe.qdesc<fp8_e4m3, block [4, 16]>, w2 = #moe.qdesc<fp8_e4m3, block [4, 16]>> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_block_rows(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf8E4M3FN>, %w2: tensor<2x4x8xf8E4M3FN>) {
  // expected-error @+1 {{'moe.experts' op w1 block of 3 rows does not divide the output dimension 8}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf8E4M3FN>, tensor<2x4x8xf8E4M3FN>) quant <w1 = #moe.qdesc<fp8_e4m3, block [3, 4]>, w2 = #moe.qdesc<fp8_e4m3, block [3, 4]>> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_scale_pair(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>, %s13: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 and w2 scales go together}}
  %y = "moe.experts"(%r, %c, %w13, %w2, %s13) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0, 0, 0>, quant = #moe.quant<w8a8_dynamic>}> : (tensor<?x8xf32>, tensor<2xi64>, tensor<2x8x8xi8>, tensor<2x4x8xi8>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @experts_group_pair(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 and w2 group scales go together}}
  %y = "moe.experts"(%r, %c, %w13, %w2, %s13, %s2, %s13) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 0, 0, 0>, quant = #moe.quant<w8a8_dynamic>}> : (tensor<?x8xf32>, tensor<2xi64>, tensor<2x8x8xi8>, tensor<2x4x8xi8>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @experts_weights_static(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<?x8x8xf32>, %w2: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'moe.experts' op operand #2 must be statically shaped tensor, but got 'tensor<?x8x8xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<?x8x8xf32>, tensor<2x4x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @shared_rank(%x: tensor<?x8xf32>, %w13: tensor<1x8x8xf32>, %w2: tensor<4x8xf32>) {
  // expected-error @+1 {{'moe.shared_experts' op w13 must be [H, 2I], got 'tensor<1x8x8xf32>'}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<1x8x8xf32>, tensor<4x8xf32>) : tensor<?x8xf32>
  return
}

// -----

func.func @shared_scale(%x: tensor<?x8xf32>, %w13: tensor<8x8xi8>, %w2: tensor<4x8xi8>, %s13: tensor<8xf32>, %s2: tensor<4xf32>) {
  // expected-error @+1 {{'moe.shared_experts' op w2 scale must be 'tensor<8xf32>', got 'tensor<4xf32>'}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<8x8xi8>, tensor<4x8xi8>) scales(%s13, %s2 : tensor<8xf32>, tensor<4xf32>) quant <w8a8_dynamic> : tensor<?x8xf32>
  return
}

// -----

// w4a8 shared experts are weight-only (seed 001's linear method): no
// per-channel scales.
func.func @shared_w4a8_scales(%x: tensor<?x16xf32>, %w13: tensor<16x8xi4>, %w2: tensor<4x16xi4>,
                              %s13: tensor<8xf32>, %s2: tensor<16xf32>, %g13: tensor<2x8xf32>, %g2: tensor<1x16xf32>) {
  // expected-error @+1 {{'moe.shared_experts' op w4a8_dynamic shared experts are weight-only: they take the processed per-group antiquant scales as group_scales and no per-channel scales}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<16x8xi4>, tensor<4x16xi4>) scales(%s13, %s2 : tensor<8xf32>, tensor<16xf32>)
      group_scales(%g13, %g2 : tensor<2x8xf32>, tensor<1x16xf32>) quant <w4a8_dynamic, group_size = 4> : tensor<?x16xf32>
  return
}

// -----

// ... and they need the antiquant scales.
func.func @shared_w4a8_no_group_scales(%x: tensor<?x16xf32>, %w13: tensor<16x8xi4>, %w2: tensor<4x16xi4>) {
  // expected-error @+1 {{'moe.shared_experts' op w4a8_dynamic needs group scales}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<16x8xi4>, tensor<4x16xi4>) quant <w4a8_dynamic, group_size = 4> : tensor<?x16xf32>
  return
}

// -----

func.func @choose_negative(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.choose_method' op thresholds must be non-negative, got -1}}
  %i = moe.choose_method %x thresholds [-1] methods [mc2, alltoall] : tensor<?x8xf32>
  return
}

// -----

func.func @choose_increasing(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.choose_method' op thresholds must increase strictly, got 8 then 8}}
  %i = moe.choose_method %x thresholds [8, 8] methods [mc2, alltoall, allgather] : tensor<?x8xf32>
  return
}

// -----

func.func @choose_count(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.choose_method' op 2 methods for 2 thresholds; expected one more method than thresholds}}
  %i = moe.choose_method %x thresholds [8, 16] methods [mc2, alltoall] : tensor<?x8xf32>
  return
}

// -----

func.func @choose_unset(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'moe.choose_method' op cannot choose the unset method}}
  %i = moe.choose_method %x thresholds [8] methods [mc2, unset] : tensor<?x8xf32>
  return
}

// -----

func.func @choose_unknown(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{unknown communication method 'deepep'; expected allgather, alltoall, mc2 or fused_mc2}}
  %i = moe.choose_method %x thresholds [8] methods [mc2, deepep] : tensor<?x8xf32>
  return
}

// -----

// Biases are the w4a8 kernel form's (moe.prepare_weights).
func.func @experts_w8a8_bias(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w8a8_dynamic takes no biases}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) biases(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w8a8_dynamic> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_none_bias(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf32>, %w2: tensor<2x4x8xf32>, %b13: tensor<2x8xf32>, %b2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op unquantized experts take no scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf32>, tensor<2x4x8xf32>) biases(%b13, %b2 : tensor<2x8xf32>, tensor<2x8xf32>) : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

// The kernel form's group scales are the merged scales: no per-channel ones.
func.func @experts_w4a8_bias_scales(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>, %g13: tensor<2x2x8xf32>, %g2: tensor<2x1x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w4a8_dynamic with biases takes merged group scales and no per-channel scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) group_scales(%g13, %g2 : tensor<2x2x8xf32>, tensor<2x1x8xf32>) biases(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w4a8_dynamic, group_size = 4> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w4a8_bias_shape(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %b13: tensor<2x8xf32>, %b2: tensor<2x4xf32>, %g13: tensor<2x2x8xf32>, %g2: tensor<2x1x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w2 bias must be 'tensor<2x8xf32>', got 'tensor<2x4xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) group_scales(%g13, %g2 : tensor<2x2x8xf32>, tensor<2x1x8xf32>) biases(%b13, %b2 : tensor<2x8xf32>, tensor<2x4xf32>) quant <w4a8_dynamic, group_size = 4> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_w4a8_bias_groups(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %b13: tensor<2x8xf32>, %b2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w4a8_dynamic needs group scales}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi4>, tensor<2x4x8xi4>) biases(%b13, %b2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <w4a8_dynamic, group_size = 4> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

func.func @experts_bias_pair(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi4>, %w2: tensor<2x4x8xi4>, %b13: tensor<2x8xf32>, %g13: tensor<2x2x8xf32>, %g2: tensor<2x1x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 and w2 biases go together}}
  %y = "moe.experts"(%r, %c, %w13, %w2, %g13, %g2, %b13) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 1, 1, 0>, quant = #moe.quant<w4a8_dynamic, group_size = 4>}> : (tensor<?x8xf32>, tensor<2xi64>, tensor<2x8x8xi4>, tensor<2x4x8xi4>, tensor<2x2x8xf32>, tensor<2x1x8xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// moe.prepare_weights prepares w4a8 checkpoints only.
func.func @prepare_scheme(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op prepares w4a8_dynamic weights only, got #moe.quant<w8a8_dynamic>}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w8a8_dynamic> : tensor<2x8x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_weight_type(%w: tensor<2x8x16xi4>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op weight must be [L, N, K] i8 (int4 values as the checkpoint stores them), got 'tensor<2x8x16xi4>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi4>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_scale_type(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xi8>, %ss: tensor<2x8x2xi8>) {
  // expected-error @+1 {{'moe.prepare_weights' op scales must be f32, bf16 or f16, got 'tensor<2x8x1xi8>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8x1xi8>, tensor<2x8x2xi8> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_scale_pair(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xbf16>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op scale and scale_second must have one element type, got 'bf16' and 'f32'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8x1xbf16>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_group(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op group size 32 does not divide the reduced dimension 16}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 32> : tensor<2x8x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_odd(%w: tensor<2x7x16xi8>, %s: tensor<2x7x1xf32>, %ss: tensor<2x7x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op the i4 weight packs rows of N = 7 output channels two per byte: N must be even}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x7x16xi8>, tensor<2x7x1xf32>, tensor<2x7x2xf32> -> tensor<2x16x7xi4>, tensor<2x2x7xf32>, tensor<2x7xf32>
  return
}

// -----

func.func @prepare_scale_shape(%w: tensor<2x8x16xi8>, %s: tensor<2x8xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op scale must be 'tensor<2x8x1xf32>', got 'tensor<2x8xf32>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_second_shape(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x4xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op scale_second must be 'tensor<2x8x2xf32>', got 'tensor<2x8x4xf32>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8x1xf32>, tensor<2x8x4xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_weight_result(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op processed_weight must be 'tensor<2x16x8xi4>', got 'tensor<2x16x8xi8>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi8>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_scale_result(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op merged_scale must be 'tensor<2x2x8xf32>', got 'tensor<2x2x8xbf16>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xbf16>, tensor<2x8xf32>
  return
}

// -----

func.func @prepare_bias_result(%w: tensor<2x8x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op bias must be 'tensor<2x8xf32>', got 'tensor<2x16xf32>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss quant <w4a8_dynamic, group_size = 8> : tensor<2x8x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x16xf32>
  return
}

// -----

// A quant version 1.0.0 checkpoint: scale_bias per (unpacked) channel.
func.func @prepare_scale_bias(%w: tensor<2x4x16xi8>, %s: tensor<2x8x1xf32>, %ss: tensor<2x8x2xf32>, %sb: tensor<2x4x1xf32>) {
  // expected-error @+1 {{'moe.prepare_weights' op scale_bias must be [2x8xP] f32 (P >= 1 partial sums per channel of the packed weight), got 'tensor<2x4x1xf32>'}}
  %a, %b, %c = moe.prepare_weights %w, %s, %ss scale_bias(%sb : tensor<2x4x1xf32>) quant <w4a8_dynamic, group_size = 8> : tensor<2x4x16xi8>, tensor<2x8x1xf32>, tensor<2x8x2xf32> -> tensor<2x16x8xi4>, tensor<2x2x8xf32>, tensor<2x8xf32>
  return
}

// -----

// apply_router_weight_on_input is top-1 only (seed 002 asserts topk == 1).
func.func @router_weight_on_input_top2(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
  // expected-error @+1 {{'moe.dispatch' op router_weight_on_input needs top-1 routing (seed 002 asserts topk == 1), got top-2}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4) router_weight_on_input : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<unset>
  return
}

// -----

// Only the allgather dispatcher applies it.
func.func @router_weight_on_input_alltoall(%h: tensor<?x8xf32>, %w: tensor<?x1xf32>, %i: tensor<?x1xi32>) {
  // expected-error @+1 {{'moe.dispatch' op router_weight_on_input runs with allgather only (seed 002: the other dispatchers ignore it), not alltoall}}
  %r, %c, %d = moe.dispatch %h, %w, %i experts(4) router_weight_on_input : tensor<?x8xf32>, tensor<?x1xf32>, tensor<?x1xi32> -> tensor<4xi64>, !moe.dispatch_ctx<alltoall>
  return
}

// -----

// moge relies on group-balanced routing with whole groups on every EP rank
// (CommLegality.h mogeRoutingObstacle).
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 2, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @moge_unbalanced(%h: tensor<?x8xf32>, %l: tensor<?x8xf32>) {
    %w, %i = moe.gate %l top_k(2) softmax : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    // expected-error @+1 {{'moe.dispatch' op moge needs group-balanced routing (moe.gate ... groups(G, G) balanced) so that each of the 2 expert-parallel ranks receives top_k / 2 of every token's 2 experts}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(8) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<moge>
    return
  }
}

// -----

func.func @experts_fp8_group_scales(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf8E4M3FN>, %w2: tensor<2x4x8xf8E4M3FN>, %g13: tensor<2x1x8xf32>, %g2: tensor<2x1x8xf32>) {
  // expected-error @+1 {{'moe.experts' op weights quantized as fp8_e4m3 take one scale per block in scales(...), no group scales or biases}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf8E4M3FN>, tensor<2x4x8xf8E4M3FN>) group_scales(%g13, %g2 : tensor<2x1x8xf32>, tensor<2x1x8xf32>) quant <a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true>} {
  func.func @moge_split_groups(%h: tensor<?x8xf32>, %l: tensor<?x8xf32>) {
    %w, %i = moe.gate %l top_k(4) softmax groups(2, 2) balanced : tensor<?x8xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
    // expected-error @+1 {{'moe.dispatch' op moge needs whole expert groups on every rank: the 2 balanced groups do not split over 4 expert-parallel ranks}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(8) : tensor<?x8xf32>, tensor<?x4xf32>, tensor<?x4xi32> -> tensor<2xi64>, !moe.dispatch_ctx<moge>
    return
  }
}

// -----

func.func @experts_fp8_scale_shape(%r: tensor<?x8xf32>, %c: tensor<2xi64>, %w13: tensor<2x8x8xf8E4M3FN>, %w2: tensor<2x4x8xf8E4M3FN>, %s13: tensor<2x8xf32>, %s2: tensor<2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w13 scale must be 'tensor<2x1x8xf32>', got 'tensor<2x8xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xf8E4M3FN>, tensor<2x4x8xf8E4M3FN>) scales(%s13, %s2 : tensor<2x8xf32>, tensor<2x8xf32>) quant <a1 = #moe.qdesc<fp8_e4m3, per_token>, a2 = #moe.qdesc<fp8_e4m3, per_token>, w1 = #moe.qdesc<fp8_e4m3, per_token>, w2 = #moe.qdesc<fp8_e4m3, per_token>> : tensor<?x8xf32>, tensor<2xi64>
  return
}

// -----

// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 2, expert_parallel = true> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 2, expert_parallel = true>} {
  func.func @moge_redundant(%h: tensor<?x8xf32>, %l: tensor<?x8xf32>) {
    %w, %i = moe.gate %l top_k(2) softmax groups(2, 2) balanced : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
    // expected-error @+1 {{'moe.dispatch' op moge keeps every expert group on its rank: no redundant experts, log2phy or expert_map (EPLB)}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(8 + 2) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<5xi64>, !moe.dispatch_ctx<moge>
    return
  }
}

// -----

func.func @experts_int8_group_scale_shape(%r: tensor<?x8xbf16>, %c: tensor<2xi64>, %w13: tensor<2x8x8xi8>, %w2: tensor<2x4x8xi8>, %s13: tensor<2x2x8xf32>, %s2: tensor<2x2x8xf32>) {
  // expected-error @+1 {{'moe.experts' op w2 scale must be 'tensor<2x1x8xf32>', got 'tensor<2x2x8xf32>'}}
  %y = moe.experts %r, %c weights(%w13, %w2 : tensor<2x8x8xi8>, tensor<2x4x8xi8>) scales(%s13, %s2 : tensor<2x2x8xf32>, tensor<2x2x8xf32>) quant <w1 = #moe.qdesc<int8, block [1, 4]>, w2 = #moe.qdesc<int8, block [1, 4]>> : tensor<?x8xbf16>, tensor<2xi64>
  return
}

// -----

func.func @shared_gate_not_hidden_by_one(%x: tensor<?x8xf32>, %w13: tensor<8x8xf32>, %w2: tensor<4x8xf32>, %g: tensor<8x2xf32>) {
  // expected-error @+1 {{'moe.shared_experts' op gate must be a [8, 1] f32, bf16 or f16 tensor (the hidden size by one), got 'tensor<8x2xf32>'}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<8x8xf32>, tensor<4x8xf32>) gate(%g : tensor<8x2xf32>) : tensor<?x8xf32>
  return
}

// -----

func.func @shared_gate_wrong_hidden(%x: tensor<?x8xf32>, %w13: tensor<8x8xf32>, %w2: tensor<4x8xf32>, %g: tensor<16x1xf32>) {
  // expected-error @+1 {{'moe.shared_experts' op gate must be a [8, 1] f32, bf16 or f16 tensor (the hidden size by one), got 'tensor<16x1xf32>'}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<8x8xf32>, tensor<4x8xf32>) gate(%g : tensor<16x1xf32>) : tensor<?x8xf32>
  return
}

// -----

func.func @shared_gate_int(%x: tensor<?x8xf32>, %w13: tensor<8x8xf32>, %w2: tensor<4x8xf32>, %g: tensor<8x1xi8>) {
  // expected-error @+1 {{'moe.shared_experts' op gate must be a [8, 1] f32, bf16 or f16 tensor (the hidden size by one), got 'tensor<8x1xi8>'}}
  %s = moe.shared_experts %x weights(%w13, %w2 : tensor<8x8xf32>, tensor<4x8xf32>) gate(%g : tensor<8x1xi8>) : tensor<?x8xf32>
  return
}

// -----

// With shared-expert ranks the routed experts live on the other ranks.
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 2>} {
  func.func @dispatch_routed_ranks(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op counts has 4 local experts but 16 physical experts over 2 routed-expert ranks give 8}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(16) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<4xi64>, !moe.dispatch_ctx<mc2>
    return
  }
}

// -----

// Only mc2's dispatch serves shared-expert ranks.
// expected-note @+1 {{in the deployment #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 1> set here}}
module attributes {moe.layout = #moe.layout<tp = 1, dp = 4, expert_parallel = true, shared_expert_ranks = 1>} {
  func.func @shared_ranks_alltoall(%h: tensor<?x8xf32>, %w: tensor<?x2xf32>, %i: tensor<?x2xi32>) {
    // expected-error @+1 {{'moe.dispatch' op shared_expert_ranks = 1 reserves ranks for the shared experts, which only mc2's dispatch (shared_expert_rank_num) serves, not alltoall}}
    %r, %c, %d = moe.dispatch %h, %w, %i experts(6) : tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32> -> tensor<2xi64>, !moe.dispatch_ctx<alltoall>
    return
  }
}
