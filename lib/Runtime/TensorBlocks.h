//===- TensorBlocks.h - the storage of large tensors ------------*- C++ -*-===//
//
// Large tensors (4 MiB and more: weights, expanded rows, matmul results)
// take 2 MiB-aligned blocks from reserved address ranges, first fit in
// address order; a freed block's pages stay in the process for the next
// step's tensors (docs/Runtime.md, "Tensor memory"). Private to the
// runtime: Tensor::empty is the only caller.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_LIB_RUNTIME_TENSORBLOCKS_H
#define MOE_LIB_RUNTIME_TENSORBLOCKS_H

#include <cstddef>
#include <map>

namespace moert::blocks {

/// The blocks' size unit and alignment: a transparent huge page.
constexpr size_t kUnit = size_t(2) << 20;

/// A block of `bytes` (a multiple of kUnit), or null when the system has
/// no memory for it. Its contents are undefined.
void *take(size_t bytes);
/// Returns a block of take(bytes); its pages are kept for reuse.
void give(void *block, size_t bytes);
/// The bytes of freed blocks whose pages are kept.
size_t keptBytes();
/// Returns the kept pages to the system (the address ranges stay).
void releaseKept();

/// The free ranges of one reserved region, by offset. A range is "backed"
/// when its pages may still be in memory (handed out since the last
/// release); adjacent free ranges of the same backing are merged, and a
/// block may span adjacent ranges of either.
class FreeRanges {
public:
  explicit FreeRanges(size_t bytes) { free.emplace(0, Range{bytes, false}); }

  /// Frees [offset, offset + bytes).
  void insert(size_t offset, size_t bytes, bool backed);
  /// Takes `bytes` from the lowest run of adjacent free ranges that holds
  /// them: its offset in `offset` and the backed bytes it reused, or -1
  /// when no run does.
  long carve(size_t bytes, size_t &offset);
  /// Marks every range unbacked; calls release(offset, bytes) on the
  /// backed ones first.
  template <typename Fn> void unback(Fn release) {
    std::map<size_t, Range> old;
    old.swap(free);
    for (auto &[offset, range] : old) {
      if (range.backed)
        release(offset, range.bytes);
      insert(offset, range.bytes, false);
    }
  }
  /// The number of ranges (merged ranges count once).
  size_t size() const { return free.size(); }

private:
  struct Range {
    size_t bytes;
    bool backed;
  };
  std::map<size_t, Range> free;
};

} // namespace moert::blocks

#endif // MOE_LIB_RUNTIME_TENSORBLOCKS_H
