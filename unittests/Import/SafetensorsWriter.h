//===- SafetensorsWriter.h - safetensors files for the unit tests -*- C++ -*-===//
//
// A test-only writer (the lit tests use scripts/reference/hf_checkpoint.py):
// tensors of F32 values stored as F32 or BF16 (truncated; tests use values
// bf16 holds exactly), and raw headers for the malformed cases.
//
//===----------------------------------------------------------------------===//

#ifndef MOE_UNITTESTS_SAFETENSORSWRITER_H
#define MOE_UNITTESTS_SAFETENSORSWRITER_H

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace moetest {

struct StTensor {
  std::string name;
  std::string dtype; // "F32" or "BF16"
  std::vector<int64_t> shape;
  std::vector<float> values;
};

/// The bytes of a file: u64 length, `header`, `data`.
inline std::string safetensorsBytes(const std::string &header,
                                    const std::string &data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>(n >> (8 * i));
  return out + header + data;
}

/// A well-formed file holding `tensors` in order.
inline std::string safetensorsOf(const std::vector<StTensor> &tensors) {
  std::string header = "{\"__metadata__\":{\"format\":\"pt\"}", data;
  for (const StTensor &t : tensors) {
    size_t begin = data.size();
    for (float v : t.values) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      if (t.dtype == "BF16") {
        uint16_t half = static_cast<uint16_t>(bits >> 16);
        data.append(reinterpret_cast<const char *>(&half), 2);
      } else {
        data.append(reinterpret_cast<const char *>(&bits), 4);
      }
    }
    std::string shape;
    for (int64_t d : t.shape)
      shape += (shape.empty() ? "" : ",") + std::to_string(d);
    header += ",\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[" +
              shape + "],\"data_offsets\":[" + std::to_string(begin) + "," +
              std::to_string(data.size()) + "]}";
  }
  return safetensorsBytes(header + "}", data);
}

inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

/// Mixtral's routed experts of decoder layer `layer` under their Hugging
/// Face names (`block_sparse_moe.experts.E.{w1,w3,w2}.weight`: gate and up
/// [I, H], down [H, I]) for `experts` experts, element (r, c) of tensor
/// `which` (0 gate, 1 up, 2 down) of expert e holding value(e, which, r, c).
template <typename Value>
std::vector<StTensor> mixtralExperts(int layer, int experts, int h, int i,
                                     Value value) {
  std::vector<StTensor> tensors;
  const char *names[3] = {"w1", "w3", "w2"};
  for (int e = 0; e < experts; ++e)
    for (int which = 0; which < 3; ++which) {
      int rows = which < 2 ? i : h, cols = which < 2 ? h : i;
      std::vector<float> v;
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
          v.push_back(value(e, which, r, c));
      tensors.push_back({"model.layers." + std::to_string(layer) +
                             ".block_sparse_moe.experts." + std::to_string(e) +
                             "." + names[which] + ".weight",
                         "F32", {rows, cols}, v});
    }
  return tensors;
}

} // namespace moetest

#endif // MOE_UNITTESTS_SAFETENSORSWRITER_H
