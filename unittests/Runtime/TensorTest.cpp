//===- TensorTest.cpp - tensors, dtypes and float conversions -------------===//

#include "moe/Runtime/Tensor.h"

#include "../../lib/Runtime/TensorBlocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <vector>

using namespace moert;

TEST(Tensor, ShapesAndBytes) {
  Tensor t = Tensor::zeros(DType::F32, {3, 4});
  EXPECT_EQ(t.numel(), 12);
  EXPECT_EQ(t.rows(), 3);
  EXPECT_EQ(t.rowElems(), 4);
  EXPECT_EQ(t.nbytes(), 48u);
  EXPECT_EQ(t.str(), "tensor<3x4xf32>");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.bytes()) % 64, 0u);
  EXPECT_EQ(storageBytes(DType::I4, 5), 3u);
  EXPECT_EQ(storageBytes(DType::BF16, 5), 10u);
  Tensor empty = Tensor::empty(DType::I64, {0, 7});
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_NE(empty.bytes(), nullptr);
  EXPECT_THROW(Tensor::empty(DType::F32, {-1}), Error);
}

// Sizes computed from a shape never wrap (issue 14): a crafted .npy shape
// (2^62 + 2) x 2 of f32 made 2^63 + 4 elements, 16 bytes after wrapping.
TEST(Tensor, SizesThatOverflowAreErrors) {
  const int64_t big = 4611686018427387906; // 2^62 + 2
  EXPECT_THROW(Tensor::empty(DType::F32, {big, 2}), Error);
  // Fits in int64 as elements, not as bytes: (2^62 + 1) * 4 wraps to 4.
  EXPECT_THROW(Tensor::empty(DType::F32, {big - 1}), Error);
  EXPECT_THROW(Tensor::empty(DType::I64, {INT64_MAX / 4, 2}), Error);
  EXPECT_THROW(Tensor::zeros(DType::I8, {INT64_MAX, 2}), Error);
  // A shape set by hand (not through empty) is checked where it is used.
  Tensor t;
  t.shape = {big, 2};
  EXPECT_THROW(t.numel(), Error);
  EXPECT_THROW(t.nbytes(), Error);
  t.shape = {2, big, 2};
  EXPECT_THROW(t.rowElems(), Error);
  t.shape = {INT64_MAX / 2 + 1};
  EXPECT_THROW(t.nbytes(), Error); // elements fit, f32 bytes do not

  EXPECT_THROW(storageBytes(DType::F32, INT64_MAX), Error);
  EXPECT_THROW(storageBytes(DType::F32, -1), Error);
  EXPECT_EQ(checkedStorageBytes(DType::I64, INT64_MAX / 8),
            std::optional<size_t>(size_t(INT64_MAX / 8) * 8));
  EXPECT_EQ(checkedStorageBytes(DType::I64, INT64_MAX / 8 + 1), std::nullopt);
  EXPECT_EQ(checkedStorageBytes(DType::I4, INT64_MAX),
            std::optional<size_t>(size_t(INT64_MAX) / 2 + 1));
  EXPECT_EQ(checkedNumel({big, 2}), std::nullopt);
  EXPECT_EQ(checkedNumel({3, -1}), std::nullopt);
  EXPECT_EQ(checkedNumel({0, big, big}), std::optional<int64_t>(0));
  EXPECT_EQ(checkedNumel({}), std::optional<int64_t>(1));
}

TEST(Tensor, Int4Packing) {
  Tensor t = Tensor::zeros(DType::I4, {5});
  int8_t values[] = {-8, 7, -1, 0, 3};
  for (int i = 0; i < 5; ++i)
    setI4(t.bytes(), i, values[i]);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(getI4(t.bytes(), i), values[i]);
  // Element 0 in the low nibble, element 1 in the high one.
  EXPECT_EQ(t.bytes()[0], 0x78);
}

TEST(Tensor, Bf16RoundsToNearestEven) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16ToFloat(0x3F80), 1.0f);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even (1.0).
  EXPECT_EQ(floatToBf16(1.0f + 1.0f / 256), 0x3F80);
  // 1 + 3 * 2^-8 is halfway between 1.0078125 and 1.015625: ties to even.
  EXPECT_EQ(floatToBf16(1.0f + 3.0f / 256), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(std::nanf("")))));
}

TEST(Tensor, F16RoundTrips) {
  for (float v : {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f,
                  5.960464477539063e-08f}) {
    EXPECT_EQ(f16ToFloat(floatToF16(v)), v) << v;
  }
  EXPECT_EQ(floatToF16(1.0f), 0x3C00);
  EXPECT_TRUE(std::isinf(f16ToFloat(floatToF16(1e6f))));
  // Ties to even: 1 + 2^-11 rounds down to 1.0.
  EXPECT_EQ(floatToF16(1.0f + 1.0f / 2048), 0x3C00);
}

TEST(Tensor, ConvertFloat) {
  Tensor t = Tensor::empty(DType::F32, {2, 2});
  float v[] = {1.5f, -3.25f, 0.0f, 1024.0f};
  storeF32(t, 0, 4, v);
  Tensor b = convertFloat(t, DType::BF16);
  Tensor back = convertFloat(b, DType::F32);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(back.data<float>()[i], v[i]);
  EXPECT_EQ(convertFloat(t, DType::F32).bytes(), t.bytes()); // shared
  EXPECT_THROW(convertFloat(Tensor::zeros(DType::I8, {1}), DType::F32), Error);
}

TEST(TensorMemory, LargeBlocksAreReusedAndCounted) {
  // A freed large block (>= 4 MiB, whole 2 MiB pages) keeps its pages for
  // the next tensor that fits there, so a step's intermediates are not
  // faulted in again; the counters follow live storage and its peak.
  releaseKeptTensorMemory();
  TensorMemory before = tensorMemory();
  EXPECT_EQ(before.keptBytes, 0u);
  const uint8_t *first;
  {
    Tensor a = Tensor::empty(DType::F32, {1024, 1025}); // 4 MiB + 4 KiB
    first = a.bytes();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % (2 << 20), 0u);
    TensorMemory during = tensorMemory();
    EXPECT_EQ(during.liveBytes, before.liveBytes + (6u << 20));
    EXPECT_GE(during.peakLiveBytes, during.liveBytes);
  }
  TensorMemory after = tensorMemory();
  EXPECT_EQ(after.liveBytes, before.liveBytes);
  EXPECT_EQ(after.keptBytes, 6u << 20);
  // The free ranges are as before `a`: the same first fit, now backed.
  Tensor same = Tensor::empty(DType::I8, {5u << 20}); // rounds to 6 MiB too
  EXPECT_EQ(same.bytes(), first);
  EXPECT_EQ(tensorMemory().keptBytes, 0u);
  Tensor other = Tensor::empty(DType::I8, {8u << 20});
  EXPECT_NE(other.bytes(), first);
  resetTensorMemoryPeak();
  EXPECT_EQ(tensorMemory().peakLiveBytes, tensorMemory().liveBytes);
}

TEST(TensorMemory, AStepReusesThePagesOfTheStepBefore) {
  // The large tensors of a w4a8 step at T = 1024, in MiB, in the order the
  // layer takes (+) and frees (-) them: at most 82 MiB at once, 184 MiB
  // in all. First fit over merged free ranges touches 88 MiB, and the
  // next step takes every block from pages the first one touched.
  const std::vector<int> step = {+16, +48, +18, -18, -16, +24, -48, +6, -24,
                                 +64, +8,  -8,  -6,  +8,  -64, -8};
  constexpr size_t MiB = 1u << 20;
  blocks::FreeRanges ranges(1024 * MiB);
  size_t touched = 0;
  for (int round = 0; round < 3; ++round) {
    std::map<int, std::vector<size_t>> held; // size -> offsets
    for (int s : step) {
      size_t bytes = static_cast<size_t>(std::abs(s)) * MiB;
      if (s < 0) {
        ranges.insert(held[-s].back(), bytes, true);
        held[-s].pop_back();
        continue;
      }
      size_t offset = 0;
      long reused = ranges.carve(bytes, offset);
      ASSERT_GE(reused, 0);
      touched = std::max(touched, offset + bytes);
      if (round > 0) {
        EXPECT_EQ(static_cast<size_t>(reused), bytes) << "round " << round;
      }
      held[s].push_back(offset);
    }
    EXPECT_EQ(touched, 88 * MiB);
    EXPECT_EQ(ranges.size(), 2u); // [0, 88) backed, the rest never touched
  }
  std::vector<std::pair<size_t, size_t>> released;
  ranges.unback([&](size_t offset, size_t bytes) {
    released.emplace_back(offset, bytes);
  });
  ASSERT_EQ(released.size(), 1u);
  EXPECT_EQ(released[0], std::make_pair(size_t(0), 88 * MiB));
  EXPECT_EQ(ranges.size(), 1u);
  size_t offset = 1;
  EXPECT_EQ(ranges.carve(1024 * MiB, offset), 0); // all of it, none backed
  EXPECT_EQ(offset, 0u);
  EXPECT_EQ(ranges.carve(2 * MiB, offset), -1);
}

TEST(TensorMemory, AtMostOneGiBIsKept) {
  // 600 blocks of 4 MiB (never touched: no memory is committed) freed at
  // once: the pages of those freed beyond 1 GiB go back to the system.
  releaseKeptTensorMemory();
  {
    std::vector<Tensor> many;
    for (int i = 0; i < 600; ++i)
      many.push_back(Tensor::empty(DType::I8, {4 << 20}));
  }
  EXPECT_EQ(tensorMemory().keptBytes, size_t(1) << 30);
  releaseKeptTensorMemory();
  EXPECT_EQ(tensorMemory().keptBytes, 0u);
}
