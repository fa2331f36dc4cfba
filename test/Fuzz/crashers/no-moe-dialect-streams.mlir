
// Recorded, never waited for.
func.func @record_without_wait(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // expected-note @below {{produced here}}
  %a = npu.add %x, %x stream(1) : tensor<?x8xf32>
  %e = npu.record stream(4294967296)
  // expected-error @below {{value produced on stream 1 is used on stream 0 without an event ordering them}}
  %b = npu.add %a, %x : tensor<?x8xf32>
  return %b : tensor<?x8xf32>
}
