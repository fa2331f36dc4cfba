//===- KernelsRowsTest.cpp - row padding, slicing, splits, add, concat ----===//

#include "KernelTestUtil.h"

using namespace moert;
using namespace moert::test;

namespace {

TEST(Rows, PadAndSlice) {
  Tensor x = f32({2, 2}, {1, 2, 3, 4});
  Tensor p = padRows(x, 4);
  EXPECT_EQ(p.shape, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(values<float>(p), (std::vector<float>{1, 2, 3, 4, 0, 0, 0, 0}));
  EXPECT_EQ(padRows(x, 1).bytes(), x.bytes()); // unchanged
  EXPECT_EQ(values<float>(sliceRows(p, 1)), (std::vector<float>{1, 2}));
  EXPECT_EQ(sliceRows(x, 0).shape, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(padRows(Tensor::empty(DType::I8, {0, 3}), 2).numel(), 6);
  EXPECT_ERROR(sliceRows(x, 3),
               "npu.slice_rows: cannot keep 3 rows of tensor<2x2xf32>");
  EXPECT_ERROR(padRows(x, -1), "npu.pad_rows: negative row count -1");
}

TEST(Rows, TensorSplitLikeTorch) {
  // 5 rows in 3 parts: 2, 2, 1.
  Tensor x = i32({5}, {0, 1, 2, 3, 4});
  EXPECT_EQ(values<int32_t>(tensorSplit(x, 3, 0)), (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(values<int32_t>(tensorSplit(x, 3, 1)), (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(values<int32_t>(tensorSplit(x, 3, 2)), (std::vector<int32_t>{4}));
  // Fewer rows than parts: empty chunks at the end.
  EXPECT_EQ(tensorSplit(i32({1}, {7}), 2, 1).shape,
            (std::vector<int64_t>{0}));
  EXPECT_ERROR(tensorSplit(x, 3, 3), "npu.tensor_split: index 3 outside 3");
  EXPECT_ERROR(tensorSplit(x, 0, 0), "parts must be positive");
}

TEST(Rows, Mc2Mask) {
  EXPECT_EQ(values<uint8_t>(mc2Mask(2, 4)), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(mc2Mask(0, 0).numel(), 0);
  EXPECT_ERROR(mc2Mask(5, 4), "npu.mc2_mask: valid 5");
}

TEST(Rows, Add) {
  Tensor a = f32({2}, {1, 2}), b = f32({2}, {0.5f, -2});
  EXPECT_EQ(values<float>(add(a, b)), (std::vector<float>{1.5f, 0}));
  Tensor bf = add(convertFloat(a, DType::BF16), convertFloat(b, DType::BF16));
  EXPECT_EQ(bf.dtype, DType::BF16);
  EXPECT_EQ(floats(bf), (std::vector<float>{1.5f, 0}));
  EXPECT_EQ(values<int64_t>(add(i64({1}, {3}), i64({1}, {4}))),
            (std::vector<int64_t>{7}));
  EXPECT_EQ(add(Tensor::empty(DType::F32, {0, 3}),
                Tensor::empty(DType::F32, {0, 3}))
                .numel(),
            0);
  EXPECT_ERROR(add(a, f32({1}, {1})), "npu.add: operands differ");
  EXPECT_ERROR(add(i8({1}, {1}), i8({1}, {1})), "npu.add: cannot add i8");
}

TEST(Rows, SigmoidGate) {
  // logits: 1*1 + 2*0 + 3*(-1) = -2 and 0; sigmoid(-2) = 1 / (1 + e^2).
  Tensor x = f32({2, 3}, {1, 2, 3, 0, 0, 0});
  Tensor g = sigmoidGate(x, f32({3, 1}, {1, 0, -1}));
  EXPECT_EQ(g.dtype, DType::F32);
  EXPECT_EQ(g.shape, (std::vector<int64_t>{2, 1}));
  std::vector<float> got = values<float>(g);
  EXPECT_FLOAT_EQ(got[0], 0.11920292f);
  EXPECT_FLOAT_EQ(got[1], 0.5f);
  // bf16 operands are widened exactly; no tokens, no rows.
  EXPECT_EQ(values<float>(sigmoidGate(convertFloat(x, DType::BF16),
                                      convertFloat(f32({3, 1}, {1, 0, -1}),
                                                   DType::BF16))),
            got);
  EXPECT_EQ(sigmoidGate(Tensor::empty(DType::F32, {0, 3}), f32({3, 1}, {1, 1, 1}))
                .numel(),
            0);
  EXPECT_ERROR(sigmoidGate(x, f32({2, 1}, {1, 1})),
               "npu.sigmoid_gate: weight must be [3, 1]");
  EXPECT_ERROR(sigmoidGate(x, i32({3, 1}, {1, 1, 1})), "npu.sigmoid_gate");
  EXPECT_ERROR(sigmoidGate(i8({2, 1}, {1, 1}), f32({1, 1}, {1})),
               "npu.sigmoid_gate");
}

TEST(Rows, ScaleRows) {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(values<float>(scaleRows(x, f32({2, 1}, {0.5f, -2}))),
            (std::vector<float>{0.5f, 1, 1.5f, -8, -10, -12}));
  Tensor bf = scaleRows(convertFloat(x, DType::BF16), f32({2, 1}, {2, 0}));
  EXPECT_EQ(bf.dtype, DType::BF16);
  EXPECT_EQ(values<float>(convertFloat(bf, DType::F32)),
            (std::vector<float>{2, 4, 6, 0, 0, 0}));
  EXPECT_EQ(scaleRows(Tensor::empty(DType::F32, {0, 3}),
                      Tensor::empty(DType::F32, {0, 1}))
                .numel(),
            0);
  // Run-time shapes the verifier could not see (dynamic token counts).
  EXPECT_ERROR(scaleRows(x, f32({1, 1}, {1})),
               "npu.scale_rows: weights must be [2, 1]");
  EXPECT_ERROR(scaleRows(x, f32({2, 2}, {1, 1, 1, 1})),
               "npu.scale_rows: weights must be [2, 1]");
  EXPECT_ERROR(scaleRows(x, i32({2, 1}, {1, 1})), "npu.scale_rows");
  EXPECT_ERROR(scaleRows(i8({2, 1}, {1, 1}), f32({2, 1}, {1, 1})),
               "npu.scale_rows");
  EXPECT_ERROR(scaleRows(f32({2}, {1, 1}), f32({2, 1}, {1, 1})),
               "npu.scale_rows");
}

TEST(Rows, OnesLike) {
  Tensor ones = onesLike(f32({2, 1}, {0.25f, 7}));
  EXPECT_EQ(ones.shape, (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(values<float>(ones), (std::vector<float>{1, 1}));
  EXPECT_EQ(onesLike(Tensor::empty(DType::F32, {0, 1})).numel(), 0);
  EXPECT_ERROR(onesLike(i32({1, 1}, {1})), "npu.ones_like");
}

TEST(Rows, ConcatRows) {
  Tensor c = concatRows({f32({1, 2}, {1, 2}), Tensor::empty(DType::F32, {0, 2}),
                         f32({2, 2}, {3, 4, 5, 6})});
  EXPECT_EQ(c.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(values<float>(c), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_ERROR(concatRows({f32({1, 2}, {1, 2}), f32({1, 1}, {1})}),
               "npu.concat_rows: parts differ");
  EXPECT_ERROR(concatRows({}), "needs at least one part");
  // i4 rows of odd length cannot be concatenated bytewise.
  EXPECT_ERROR(concatRows({Tensor::zeros(DType::I4, {1, 3}),
                           Tensor::zeros(DType::I4, {1, 3})}),
               "does not start on a byte");
}

} // namespace
