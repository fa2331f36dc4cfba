// RUN: moe-opt %s --moe-verify-streams --verify-diagnostics | FileCheck %s
// RUN: moe-opt %s --moe-verify-streams=warn-redundant-waits=false 2>&1 | FileCheck %s --check-prefix=QUIET

// Cross-stream uses ordered by event chains verify; waits that order nothing
// are warnings (none with warn-redundant-waits=false). The IR is unchanged.

// QUIET-NOT: warning
// QUIET-NOT: error
// QUIET:     func.func @ordered_both_ways

// CHECK-LABEL: func.func @ordered_both_ways(
// CHECK-NEXT:  %[[A:.+]] = npu.add %{{.+}}, %{{.+}} : tensor<?x8xf32>
// CHECK-NEXT:  %[[E:.+]] = npu.record stream(0)
// CHECK-NEXT:  npu.wait %[[E]] stream(1)
// CHECK-NEXT:  %[[B:.+]] = npu.add %[[A]], %[[A]] stream(1) : tensor<?x8xf32>
// CHECK-NEXT:  %[[E1:.+]] = npu.record stream(1)
// CHECK-NEXT:  npu.wait %[[E1]] stream(0)
// CHECK-NEXT:  npu.add %[[A]], %[[B]] : tensor<?x8xf32>
func.func @ordered_both_ways(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e = npu.record stream(0)
  npu.wait %e stream(1)
  %b = npu.add %a, %a stream(1) : tensor<?x8xf32>
  %e1 = npu.record stream(1)
  npu.wait %e1 stream(0)
  %c = npu.add %a, %b : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// A -> B -> C: stream 2 learns of stream 0's work through stream 1's event.
// CHECK-LABEL: func.func @transitive
func.func @transitive(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e0 = npu.record stream(0)
  npu.wait %e0 stream(1)
  %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e1 = npu.record stream(1)
  npu.wait %e1 stream(2)
  %c = npu.add %a, %b stream(2) : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// An event carries what its stream had waited for, even with no op of its own.
// CHECK-LABEL: func.func @relay_without_ops
func.func @relay_without_ops(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e0 = npu.record stream(0)
  npu.wait %e0 stream(1)
  %e1 = npu.record stream(1)
  npu.wait %e1 stream(2)
  %c = npu.add %a, %a stream(2) : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// Same stream: program order. Function arguments: available everywhere.
// CHECK-LABEL: func.func @same_stream_and_arguments
func.func @same_stream_and_arguments(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %b = npu.add %a, %x stream(1) : tensor<?x8xf32>
  %c = npu.add %x, %x stream(2) : tensor<?x8xf32>
  %e1 = npu.record stream(1)
  npu.wait %e1 stream(0)
  %e2 = npu.record stream(2)
  npu.wait %e2 stream(0)
  %d = npu.add %b, %c : tensor<?x8xf32>
  return %d : tensor<?x8xf32>
}

// Host uses of device values are synchronized by the runtime: tensor.dim,
// scf.yield, func.return; the index tensor.dim returns is available on every
// stream.
// CHECK-LABEL: func.func @host_uses
func.func @host_uses(%x: tensor<?x8xf32>, %i: index) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  %c0 = arith.constant 0 : index
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %n = tensor.dim %a, %c0 : tensor<?x8xf32>
  %p = npu.pad_rows %x to %n : tensor<?x8xf32> -> tensor<?x8xf32>
  %r = scf.index_switch %i -> tensor<?x8xf32>
  case 0 {
    scf.yield %a : tensor<?x8xf32>
  }
  default {
    scf.yield %p : tensor<?x8xf32>
  }
  return %a, %r : tensor<?x8xf32>, tensor<?x8xf32>
}

// Cases issue different numbers of ops to stream 1, and each waits for all of
// them: the result is ordered on every path.
// CHECK-LABEL: func.func @switch_join
// CHECK:       scf.index_switch
func.func @switch_join(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %r = scf.index_switch %i -> tensor<?x8xf32>
  case 0 {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    %e = npu.record stream(1)
    npu.wait %e stream(0)
    scf.yield %b : tensor<?x8xf32>
  }
  case 1 {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    %b2 = npu.add %b, %b stream(1) : tensor<?x8xf32>
    %b3 = npu.add %b2, %b stream(1) : tensor<?x8xf32>
    %e = npu.record stream(1)
    npu.wait %e stream(0)
    scf.yield %b3 : tensor<?x8xf32>
  }
  default {
    scf.yield %x : tensor<?x8xf32>
  }
  %c = npu.add %r, %r : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// Values produced inside a case are available after the switch to the
// streams that waited for them on every path; stamps continue after the
// switch.
// CHECK-LABEL: func.func @switch_then_more_work
func.func @switch_then_more_work(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %r = scf.index_switch %i -> tensor<?x8xf32>
  case 0 {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    %b2 = npu.add %b, %b stream(1) : tensor<?x8xf32>
    scf.yield %b2 : tensor<?x8xf32>
  }
  default {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    scf.yield %b : tensor<?x8xf32>
  }
  %d = npu.add %r, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  npu.wait %e stream(0)
  %c = npu.add %r, %d : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// An event yielded by every case orders what each case recorded.
// CHECK-LABEL: func.func @switch_event
func.func @switch_event(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %r, %ev = scf.index_switch %i -> tensor<?x8xf32>, !npu.event
  case 0 {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    %e = npu.record stream(1)
    scf.yield %b, %e : tensor<?x8xf32>, !npu.event
  }
  default {
    %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
    %b2 = npu.add %b, %b stream(1) : tensor<?x8xf32>
    %e = npu.record stream(1)
    scf.yield %b2, %e : tensor<?x8xf32>, !npu.event
  }
  npu.wait %ev stream(0)
  %c = npu.add %r, %r : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// scf.if: both branches wait.
// CHECK-LABEL: func.func @if_else
func.func @if_else(%x: tensor<?x8xf32>, %cond: i1) -> tensor<?x8xf32> {
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  scf.if %cond {
    npu.wait %e stream(0)
  } else {
    npu.wait %e stream(0)
  }
  %c = npu.add %a, %a : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// An event of unknown origin orders nothing known, so it is not redundant.
// CHECK-LABEL: func.func @event_argument
func.func @event_argument(%e: !npu.event) {
  npu.wait %e stream(1)
  return
}

// -----------------------------------------------------------------------------
// Redundant waits
// -----------------------------------------------------------------------------

// CHECK-LABEL: func.func @wait_twice
func.func @wait_twice(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e = npu.record stream(0)
  npu.wait %e stream(1)
  // expected-warning @below {{redundant wait: stream 1 already waited for this event}}
  npu.wait %e stream(1)
  %b = npu.add %a, %a stream(1) : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @wait_own_stream
func.func @wait_own_stream(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %e = npu.record stream(0)
  // expected-warning @below {{redundant wait: stream 0 already waited for this event}}
  npu.wait %e stream(0)
  return %a : tensor<?x8xf32>
}

// Nothing was issued to stream 0 before the record.
// CHECK-LABEL: func.func @wait_for_nothing
func.func @wait_for_nothing(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %e = npu.record stream(0)
  // expected-warning @below {{redundant wait: stream 1 already waited for this event}}
  npu.wait %e stream(1)
  %b = npu.add %x, %x stream(1) : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// Waiting for a later event covers an earlier one of the same stream, also
// when it came through another stream.
// CHECK-LABEL: func.func @covered_by_later_event
func.func @covered_by_later_event(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %a = npu.add %x, %x : tensor<?x8xf32>
  %early = npu.record stream(0)
  %a2 = npu.add %a, %a : tensor<?x8xf32>
  %late = npu.record stream(0)
  npu.wait %late stream(1)
  %e1 = npu.record stream(1)
  npu.wait %e1 stream(2)
  // expected-warning @below {{redundant wait: stream 2 already waited for this event}}
  npu.wait %early stream(2)
  // expected-warning @below {{redundant wait: stream 1 already waited for this event}}
  npu.wait %early stream(1)
  %b = npu.add %a2, %a2 stream(2) : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}

// Inside a case, and after a switch whose every case waited.
// CHECK-LABEL: func.func @redundant_around_switch
func.func @redundant_around_switch(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  scf.index_switch %i
  case 0 {
    npu.wait %e stream(0)
    // expected-warning @below {{redundant wait: stream 0 already waited for this event}}
    npu.wait %e stream(0)
    scf.yield
  }
  default {
    npu.wait %e stream(0)
    scf.yield
  }
  // expected-warning @below {{redundant wait: stream 0 already waited for this event}}
  npu.wait %e stream(0)
  %c = npu.add %a, %a : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}

// A wait on one path only is not redundant after the switch.
// CHECK-LABEL: func.func @needed_after_partial_wait
func.func @needed_after_partial_wait(%x: tensor<?x8xf32>, %i: index) -> tensor<?x8xf32> {
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(1)
  scf.index_switch %i
  case 0 {
    npu.wait %e stream(0)
    scf.yield
  }
  default {
    scf.yield
  }
  npu.wait %e stream(0)
  %c = npu.add %a, %a : tensor<?x8xf32>
  return %c : tensor<?x8xf32>
}
