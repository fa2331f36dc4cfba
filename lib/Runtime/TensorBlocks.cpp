//===- TensorBlocks.cpp - the storage of large tensors --------------------===//
//
// A step allocates and frees the same large tensors as the step before,
// of several sizes (at T = 1024: 16, 48, 18, 24, 6, 64 and 8 MiB, at most
// 82 MiB at once). A fresh block costs its page faults and the kernel's
// zeroing on first touch (about 10 ms per step of a 1024-token layer), so
// freed blocks keep their pages. Blocks are carved first fit, in address
// order, from large reserved ranges ("regions") and freed ranges merge
// with their neighbours: the pages a step touches stay close to the most
// bytes it holds at once (88 MiB for the step above, where keeping each
// freed block for a request of its exact size held all 184 MiB).
//
// A free range is "backed" when its pages may still be in memory (it was
// handed out since the last release). At most kMaxKept bytes stay backed:
// a block freed beyond that returns its pages (MADV_DONTNEED) at once.
// Regions are reserved with MAP_NORESERVE (address space, no memory) and
// advised to use transparent huge pages (Debian's default THP mode is
// madvise, so ask). Where the system refuses a reservation, a block comes
// from aligned_alloc and goes back to free().
//
//===----------------------------------------------------------------------===//

#include "TensorBlocks.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <vector>
#include <sys/mman.h>

namespace moert::blocks {
namespace {

constexpr size_t kRegionBytes = size_t(16) << 30;
constexpr size_t kMaxKept = size_t(1) << 30;

struct Region {
  uint8_t *base;
  size_t bytes;
  FreeRanges free;

  bool contains(const void *p) const {
    auto *q = static_cast<const uint8_t *>(p);
    return q >= base && q < base + bytes;
  }
};

class Blocks {
public:
  static Blocks &get() {
    // Never destroyed: tensors may outlive static destruction.
    static Blocks *blocks = new Blocks();
    return *blocks;
  }

  void *take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    for (Region &region : regions)
      if (void *p = carveFrom(region, bytes))
        return p;
    if (Region *region = reserve(bytes))
      return carveFrom(*region, bytes);
    void *p = std::aligned_alloc(kUnit, bytes);
    if (p)
      (void)madvise(p, bytes, MADV_HUGEPAGE); // advice only: failure is fine
    return p;
  }

  void give(void *p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    for (Region &region : regions) {
      if (!region.contains(p))
        continue;
      bool keep = kept + bytes <= kMaxKept;
      if (keep)
        kept += bytes;
      else
        (void)madvise(p, bytes, MADV_DONTNEED);
      region.free.insert(static_cast<uint8_t *>(p) - region.base, bytes, keep);
      return;
    }
    std::free(p);
  }

  size_t keptBytes() {
    std::lock_guard<std::mutex> lock(mutex);
    return kept;
  }

  void releaseKept() {
    std::lock_guard<std::mutex> lock(mutex);
    for (Region &region : regions)
      region.free.unback([&](size_t offset, size_t bytes) {
        (void)madvise(region.base + offset, bytes, MADV_DONTNEED);
      });
    kept = 0;
  }

private:
  void *carveFrom(Region &region, size_t bytes) {
    size_t offset = 0;
    long backed = region.free.carve(bytes, offset);
    if (backed < 0)
      return nullptr;
    kept -= static_cast<size_t>(backed);
    return region.base + offset;
  }

  /// A new region of at least `bytes`, or null if the system refuses it.
  Region *reserve(size_t bytes) {
    for (size_t size : {std::max(bytes, kRegionBytes), bytes}) {
      void *p = mmap(nullptr, size + kUnit, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED)
        continue;
      auto addr = reinterpret_cast<uintptr_t>(p);
      auto *base = reinterpret_cast<uint8_t *>((addr + kUnit - 1) / kUnit * kUnit);
      (void)madvise(base, size, MADV_HUGEPAGE);
      regions.push_back(Region{base, size, FreeRanges(size)});
      return &regions.back();
    }
    return nullptr;
  }

  std::mutex mutex;
  std::vector<Region> regions; // never unmapped
  size_t kept = 0;             // backed free bytes
};

} // namespace

void FreeRanges::insert(size_t offset, size_t bytes, bool backed) {
  auto next = free.lower_bound(offset);
  if (next != free.end() && next->first == offset + bytes &&
      next->second.backed == backed) {
    bytes += next->second.bytes;
    next = free.erase(next);
  }
  if (next != free.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.bytes == offset &&
        prev->second.backed == backed) {
      prev->second.bytes += bytes;
      return;
    }
  }
  free.emplace(offset, Range{bytes, backed});
}

long FreeRanges::carve(size_t bytes, size_t &offset) {
  auto runBegin = free.begin();
  size_t runBytes = 0;
  for (auto it = free.begin(); it != free.end(); ++it) {
    if (runBytes == 0 || runBegin->first + runBytes != it->first) {
      runBegin = it;
      runBytes = 0;
    }
    runBytes += it->second.bytes;
    if (runBytes < bytes)
      continue;
    offset = runBegin->first;
    size_t end = offset + bytes, backed = 0;
    size_t lastBegin = it->first;
    Range last = it->second;
    for (auto r = runBegin; r != std::next(it); ++r)
      if (r->second.backed)
        backed += std::min(r->first + r->second.bytes, end) - r->first;
    free.erase(runBegin, std::next(it));
    if (lastBegin + last.bytes > end)
      free.emplace(end, Range{lastBegin + last.bytes - end, last.backed});
    return static_cast<long>(backed);
  }
  return -1;
}

void *take(size_t bytes) { return Blocks::get().take(bytes); }
void give(void *block, size_t bytes) { Blocks::get().give(block, bytes); }
size_t keptBytes() { return Blocks::get().keptBytes(); }
void releaseKept() { Blocks::get().releaseKept(); }

} // namespace moert::blocks
