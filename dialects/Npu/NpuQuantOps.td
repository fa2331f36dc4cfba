//===- NpuQuantOps.td - quantized formats of the npu dialect -*- tablegen -*-===//
//
// The device ops that read and write the fp8 and int8 formats of the
// `#moe.quant` descriptor schemes beyond w8a8 / w4a8 (seed 003):
// activation quantize-dequantize and weight dequantization.
// docs/Quantization.md, "fp8 and int8 weight-only schemes". Included from
// NpuOps.td.
//
//===----------------------------------------------------------------------===//

#ifndef NPU_QUANT_OPS_TD
#define NPU_QUANT_OPS_TD

def Npu_QuantizedWeight : RankedTensorOf<[I8, F8E4M3FN, F8E5M2]>;
def Npu_NonNegativeI64 : ConfinedAttr<I64Attr, [IntNonNegative]>;

def Npu_QuantDequantOp : Npu_DeviceOp<"quant_dequant", [Npu_MayFailAtRunTime]> {
  let summary = "dynamic quantization of activations, dequantized to f32";
  let description = [{
    The dynamic activation quantization of seed 003's fp8 schemes
    (`per_token` and per-token-group `block [1, G]`), emulated bit for bit:
    each group of `group_size` consecutive columns of a row of `x [M, K]`
    (`group_size(0)`: the whole row) gets

    ```
    scale = max |x[m, group]| / max(format)       (f32; 448, 57344 or 127)
    q     = round(x / scale)                      (f32 division, then RNE
                                                   to the format, saturating)
    out   = value(q) * scale                      (f32)
    ```

    An all-zero group stays zero; a group holding a NaN becomes NaN.

    The fp4 formats quantize their micro-blocks instead (`group_size` must
    be the format's block, 32 for `mxfp4`, 16 for `nvfp4`):

    ```
    mxfp4: X   = 2^(floor(log2 max|x[m, block]|) - 2)   (E8M0, OCP MX v1.0)
           out = e2m1(x / X) * X
    nvfp4: g   = max |x[m, :]| / (6 * 448)              (the row's global)
           sf  = e4m3((max |x[m, block]| / 6) / g)
           out = (e2m1(x / (sf * g)) * sf) * g
    ```

    with e2m1 / e4m3 rounding to nearest even and saturating (f32
    arithmetic; docs/Quantization.md, "mxfp4 and nvfp4"). The
    result is what an fp8 GEMM's per-row / per-group epilogue multiplies
    out, so a float matmul of it with dequantized weights equals the
    quantized matmul up to float reassociation. Per row, so it gives each
    token the same values whichever rank the token is on.

    ```mlir
    %a = npu.quant_dequant %x fp8_e4m3 group_size(128)
        : tensor<?x7168xbf16> -> tensor<?x7168xf32>
    ```
  }];
  let arguments = (ins Npu_FloatMatrix:$x, Npu_QuantFormat:$format,
                       Npu_NonNegativeI64:$group_size, Npu_StreamAttr:$stream);
  let results = (outs Npu_F32Matrix:$result);
  let assemblyFormat = "$x $format `group_size` `(` $group_size `)` "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($x) `->` type($result)";
  let hasVerifier = 1;
}

def Npu_DequantizeWeightsOp : Npu_DeviceOp<"dequantize_weights", [Npu_MayFailAtRunTime]> {
  let summary = "fp8 / int8 expert weights to float, per block of scales";
  let description = [{
    Weights `[L, K, N]` of `format` (`int8`: i8; `fp8_e4m3`: f8E4M3FN;
    `fp8_e5m2`: f8E5M2, the checkpoint's bytes) with one f32 scale per
    `block_k x block_n` block, `scale [L, K / block_k, N / block_n]`:

    ```
    out[l, k, n] = round_out(value(w[l, k, n]) * scale[l, k / block_k, n / block_n])
    ```

    in f32, rounded to the result's float type (nearest even). The block
    sizes express every weight group shape of the descriptor: per tensor
    (`block_k = K, block_n = N`), per output channel (`K, 1`), per group
    along K (`G, 1`) and 128 x 128 blocks. The expansion runs it in the
    layer function, i.e. on every step (docs/Quantization.md).

    ```mlir
    %w = npu.dequantize_weights %w13 scale(%s13 : tensor<4x56x32xf32>)
        fp8_e4m3 block(128, 128)
        : tensor<4x7168x4096xf8E4M3FN> -> tensor<4x7168x4096xf32>
    ```
  }];
  let arguments = (ins Npu_QuantizedWeight:$weight, Npu_F32Tensor:$scale,
                       Npu_QuantFormat:$format, Npu_PositiveI64:$block_k,
                       Npu_PositiveI64:$block_n, Npu_StreamAttr:$stream);
  let results = (outs RankedTensorOf<[F32, BF16, F16]>:$result);
  let assemblyFormat = "$weight `scale` `(` $scale `:` type($scale) `)` $format "
      "`block` `(` $block_k `,` $block_n `)` (`stream` `(` $stream^ `)`)? "
      "attr-dict `:` type($weight) `->` type($result)";
  let hasVerifier = 1;
  let passResultDTypes = 1;
}

def Npu_DequantizeFp4WeightsOp : Npu_DeviceOp<"dequantize_fp4_weights",
    [Npu_MayFailAtRunTime]> {
  let summary = "packed mxfp4 / nvfp4 expert weights to float";
  let description = [{
    Weights `[L, K, N]` stored the way fp4 checkpoints ship them: two FP4
    E2M1 elements per byte along `K`, `weight [L, K / 2, N]` (i8 bytes;
    row `2j` in the low nibble of byte `j`, row `2j + 1` in the high
    nibble), with one scale per block of consecutive rows along `K`:

    - `mxfp4` (OCP MX v1.0): `scale [L, K / 32, N]` E8M0 codes as i8
      bytes, `out = e2m1 * 2^(code - 127)` (code 0xFF: NaN); no
      `global_scale`.
    - `nvfp4`: `scale [L, K / 16, N]` f8E4M3FN, `global_scale [L]` f32 (one
      per expert), `out = (e2m1 * e4m3) * global`.

    Computed in f32 and rounded to the result's float type (nearest even).
    The expansion runs it in the layer function, like
    `npu.dequantize_weights` (docs/Quantization.md, "mxfp4 and nvfp4").

    ```mlir
    %w = npu.dequantize_fp4_weights %w13 scale(%s13 : tensor<4x8x64xf8E4M3FN>)
        global(%g13 : tensor<4xf32>) nvfp4
        : tensor<4x64x64xi8> -> tensor<4x128x64xf32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[I8]>:$weight,
                       RankedTensorOf<[I8, F8E4M3FN]>:$scale,
                       Optional<Npu_F32Tensor>:$global_scale,
                       Npu_QuantFormat:$format, Npu_StreamAttr:$stream);
  let results = (outs RankedTensorOf<[F32, BF16, F16]>:$result);
  let assemblyFormat = "$weight `scale` `(` $scale `:` type($scale) `)` "
      "(`global` `(` $global_scale^ `:` type($global_scale) `)`)? $format "
      "(`stream` `(` $stream^ `)`)? attr-dict `:` type($weight) `->` "
      "type($result)";
  let hasVerifier = 1;
  let passResultDTypes = 1;
}

#endif // NPU_QUANT_OPS_TD
