// Valid forward uses the hazard scan must not reject
// (test/Tools/moe-opt/parser-hazard.mlir).

// A use in a block before the (dominating) block that defines the value.
func.func @later_block() -> index {
  cf.br ^bb2
^bb1:
  return %v : index
^bb2:
  %v = arith.constant 1 : index
  cf.br ^bb1
}

// Names reused by another function, and defined in a region before use.
func.func @names_reused(%n: index) -> index {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    %v = arith.addi %i, %n : index
  }
  return %c4 : index
}
