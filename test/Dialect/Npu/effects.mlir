// RUN: moe-opt %s -split-input-file -cse -loop-invariant-code-motion \
// RUN:   -control-flow-sink -canonicalize | FileCheck %s

// The memory effects of npu ops (docs/Streams.md, "Effects"): device ops read
// the streams' resource; record, wait, collectives and host-side rendezvous
// write it. Upstream passes run after scheduling must not merge device ops
// across a wait, hoist them out of loops or sink them into branches.

// CSE merges identical device ops with no synchronization between them, but
// not across an npu.wait (here: the second swiglu must run after stream 1's
// work) nor identical collectives (each is a rendezvous of every rank).
// CHECK-LABEL: func.func @cse
// CHECK:         %[[A:.*]] = npu.swiglu %{{.*}} stream(1)
// CHECK-NOT:     npu.swiglu
// CHECK:         %[[E:.*]] = npu.record stream(1)
// CHECK-NEXT:    npu.wait %[[E]] stream(0)
// CHECK-NEXT:    %[[B:.*]] = npu.swiglu %{{.*}} :
// CHECK-NEXT:    %[[G1:.*]] = npu.all_gather %[[B]] dp
// CHECK-NEXT:    %[[G2:.*]] = npu.all_gather %[[B]] dp
// CHECK-NEXT:    return %[[A]], %[[A]], %[[B]], %[[G1]], %[[G2]]
func.func @cse(%h: tensor<?x64xf32>)
    -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %a = npu.swiglu %h stream(1) : tensor<?x64xf32> -> tensor<?x32xf32>
  %a2 = npu.swiglu %h stream(1) : tensor<?x64xf32> -> tensor<?x32xf32>
  %e = npu.record stream(1)
  npu.wait %e stream(0)
  %b = npu.swiglu %h : tensor<?x64xf32> -> tensor<?x32xf32>
  %g1 = npu.all_gather %b dp : tensor<?x32xf32> -> tensor<?x32xf32>
  %g2 = npu.all_gather %b dp : tensor<?x32xf32> -> tensor<?x32xf32>
  return %a, %a2, %b, %g1, %g2
      : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}

// -----

// Two identical device ops on either side of a wait are not merged even when
// the wait names another stream: one resource fences every stream.
// CHECK-LABEL: func.func @cse_across_wait
// CHECK:         npu.slice_rows
// CHECK:         npu.wait
// CHECK:         npu.slice_rows
func.func @cse_across_wait(%x: tensor<?x64xf32>, %n: index) -> (tensor<?x64xf32>, tensor<?x64xf32>) {
  %a = npu.slice_rows %x to %n : tensor<?x64xf32> -> tensor<?x64xf32>
  %e = npu.record stream(0)
  npu.wait %e stream(2)
  %b = npu.slice_rows %x to %n : tensor<?x64xf32> -> tensor<?x64xf32>
  return %a, %b : tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// LICM hoists the loop-invariant host arithmetic but not the device op, which
// stays in its stream's program order after the wait in the loop body.
// CHECK-LABEL: func.func @licm
// CHECK:         arith.muli
// CHECK:         scf.for
// CHECK-NOT:       arith.muli
// CHECK:           npu.wait
// CHECK-NEXT:      npu.slice_rows
// CHECK:           npu.release
func.func @licm(%x: tensor<?x64xf32>, %n: index, %k: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %k step %c1 {
    %m = arith.muli %n, %n : index
    %e = npu.record stream(1)
    npu.wait %e stream(0)
    %s = npu.slice_rows %x to %m : tensor<?x64xf32> -> tensor<?x64xf32>
    npu.release %s : tensor<?x64xf32>
  }
  return
}

// -----

// control-flow-sink moves the host arithmetic used in one branch into it, but
// not the device op: it may not move past the record and wait of the branch.
// CHECK-LABEL: func.func @sink
// CHECK:         %[[S:.*]] = npu.slice_rows
// CHECK-NEXT:    scf.if
// CHECK-NEXT:      arith.addi
// CHECK:           npu.record stream(0)
// CHECK:           npu.wait
// CHECK:           npu.add %[[S]], %[[S]] stream(1)
func.func @sink(%x: tensor<?x64xf32>, %n: index, %c: i1) -> index {
  %s = npu.slice_rows %x to %n : tensor<?x64xf32> -> tensor<?x64xf32>
  %m = arith.addi %n, %n : index
  %r = scf.if %c -> index {
    %e = npu.record stream(0)
    npu.wait %e stream(1)
    %y = npu.add %s, %s stream(1) : tensor<?x64xf32>
    npu.release %y : tensor<?x64xf32>
    scf.yield %m : index
  } else {
    scf.yield %n : index
  }
  return %r : index
}

// -----

// canonicalize still erases unused device ops (a read is unobservable), which
// the pipeline relies on after expansion; an unused collective stays.
// CHECK-LABEL: func.func @dead
// CHECK-NOT:     npu.swiglu
// CHECK:         npu.all_gather
// CHECK-NEXT:    return
func.func @dead(%h: tensor<?x64xf32>) {
  %a = npu.swiglu %h : tensor<?x64xf32> -> tensor<?x32xf32>
  %g = npu.all_gather %h dp : tensor<?x64xf32> -> tensor<?x64xf32>
  return
}
