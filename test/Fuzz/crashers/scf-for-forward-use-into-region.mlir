
// Loops would need a fixed point.
func.func @device_ops_in_loop(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %r = scf.for %iv = %c0 to %c4 step %c1 iter_args(%acc = %x) -> tensor<?x8xf32> {
  // expected-error @below {{cannot order streams inside 'scf.for': device ops, records and waits are only analysed in scf.index_switch and scf.if regions}}
  %c4 = arith.constant 4 : index
    %b = npu.add %acc, %acc stream(1) : tensor<?x8xf32>
    scf.yield %b : tensor<?x8xf32>
  }
  return %r : tensor<?x8xf32>
}
