//===- NpyFuzzer.cpp - libFuzzer entry point of moe-run's .npy reader -----===//
//
// Feeds the bytes to moerun::readNpy (through an in-memory file) and, when
// it accepts them, checks what a kernel relies on: the shape's element
// count does not overflow, and the storage holds all of it (read in full,
// so AddressSanitizer sees a short buffer). Then converts the tensor for
// every argument dtype moe-run supports. Errors (moert::Error) are the
// expected answer to bad bytes; anything else is a bug.
//
//===----------------------------------------------------------------------===//

#include "Npy.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

namespace {
[[noreturn]] void bug(const char *what) {
  std::fprintf(stderr, "moe-fuzz-npy: %s\n", what);
  std::abort();
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = memfd_create("moe-fuzz.npy", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0 ||
      pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))
    bug("cannot write the in-memory file");
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  moert::Tensor t;
  try {
    t = moerun::readNpy(path);
  } catch (const moert::Error &) {
    return 0;
  }
  int64_t elements = 1;
  for (int64_t d : t.shape)
    if (d < 0 || __builtin_mul_overflow(elements, d, &elements))
      bug("accepted a shape whose element count is negative or overflows");
  if (elements != t.numel())
    bug("numel() disagrees with the shape");
  size_t bytes = moert::storageBytes(t.dtype, elements);
  volatile uint8_t sink = 0;
  for (size_t i = 0; i < bytes; ++i)
    sink = sink ^ t.bytes()[i];
  for (moert::DType d : {moert::DType::F32, moert::DType::BF16,
                         moert::DType::F16, moert::DType::I8, moert::DType::I4,
                         moert::DType::I32, moert::DType::I64,
                         moert::DType::I1, moert::DType::F8E4M3FN,
                         moert::DType::F8E5M2}) {
    try {
      (void)moerun::convertInput(t, d);
    } catch (const moert::Error &) {
    }
  }
  return 0;
}
