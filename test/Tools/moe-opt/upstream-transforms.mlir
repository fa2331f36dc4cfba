// moe-opt registers upstream's general transforms like mlir-opt does, so
// users can compose them with the project's passes.
// RUN: moe-opt --help | FileCheck %s --check-prefix=HELP
// HELP-DAG: --canonicalize
// HELP-DAG: --control-flow-sink
// HELP-DAG: --cse
// HELP-DAG: --inline
// HELP-DAG: --loop-invariant-code-motion
// HELP-DAG: --sccp
// HELP-DAG: --symbol-dce
// HELP-DAG: --symbol-privatize
// HELP-DAG: --topological-sort

// They run in one pipeline with ours:
// RUN: moe-opt %s -inline -sccp -cse -loop-invariant-code-motion \
// RUN:   -control-flow-sink -canonicalize -symbol-dce | FileCheck %s

func.func private @twice(%x: index) -> index {
  %c2 = arith.constant 2 : index
  %y = arith.muli %x, %c2 : index
  return %y : index
}

// CHECK-NOT:   @twice
// CHECK-LABEL: func.func @inlined_and_folded
// CHECK-NEXT:    %[[C6:.*]] = arith.constant 6 : index
// CHECK-NEXT:    return %[[C6]]
func.func @inlined_and_folded() -> index {
  %c3 = arith.constant 3 : index
  %r = func.call @twice(%c3) : (index) -> index
  return %r : index
}
