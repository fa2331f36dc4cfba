// Level-2 IR without any moe op or attribute (test/Tools/moe-run/run.test,
// world-size.test): the result is x + x.
func.func @twice(%x: tensor<?x2xf32>) -> tensor<?x2xf32> {
  %y = npu.add %x, %x : tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
