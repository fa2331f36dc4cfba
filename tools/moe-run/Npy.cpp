//===- Npy.cpp - NumPy .npy files for moe-run -----------------------------===//

#include "Npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

using moert::check;
using moert::DType;
using moert::Error;
using moert::Tensor;

namespace moerun {

namespace {
struct Descr {
  const char *text;
  DType dtype;
};
const Descr kDescrs[] = {{"<f4", DType::F32}, {"<f2", DType::F16},
                         {"|i1", DType::I8},  {"<i1", DType::I8},
                         {"<i4", DType::I32}, {"<i8", DType::I64},
                         {"|b1", DType::I1}};

/// The value of `key` in the header dict ("'descr': '<f4', ...").
std::string field(const std::string &header, const std::string &key,
                  const std::string &path) {
  size_t at = header.find("'" + key + "'");
  check(at != std::string::npos, path + ": npy header has no '" + key + "'");
  size_t colon = header.find(':', at);
  check(colon != std::string::npos, path + ": malformed npy header");
  size_t begin = header.find_first_not_of(" ", colon + 1);
  size_t end = header[begin] == '(' ? header.find(')', begin) + 1
                                    : header.find_first_of(",}", begin);
  check(begin != std::string::npos && end != std::string::npos && end > begin,
        path + ": malformed npy header");
  return header.substr(begin, end - begin);
}
} // namespace

Tensor readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), path + ": cannot open");
  char magic[8];
  in.read(magic, 8);
  check(in.good() && std::memcmp(magic, "\x93NUMPY", 6) == 0,
        path + ": not a .npy file");
  uint32_t headerLen = 0;
  if (magic[6] == 1) {
    uint8_t len[2];
    in.read(reinterpret_cast<char *>(len), 2);
    headerLen = len[0] | (len[1] << 8);
  } else {
    uint8_t len[4];
    in.read(reinterpret_cast<char *>(len), 4);
    headerLen = len[0] | (len[1] << 8) | (len[2] << 16) |
                (static_cast<uint32_t>(len[3]) << 24);
  }
  check(in.good() && headerLen < (1u << 20), path + ": malformed npy header");
  std::string header(headerLen, '\0');
  in.read(header.data(), headerLen);
  check(in.good(), path + ": truncated npy header");

  std::string descr = field(header, "descr", path);
  check(field(header, "fortran_order", path) == "False",
        path + ": Fortran-order arrays are not supported; save C order");
  DType dtype = DType::F32;
  bool known = false;
  for (const Descr &d : kDescrs)
    if (descr == std::string("'") + d.text + "'") {
      dtype = d.dtype;
      known = true;
    }
  check(known, path + ": unsupported dtype " + descr +
                   " (f32, f16, i8, i32, i64 or bool)");
  std::string shapeText = field(header, "shape", path);
  std::vector<int64_t> shape;
  std::stringstream ss(shapeText.substr(1, shapeText.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos)
      continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception &) {
      throw Error(path + ": malformed shape " + shapeText);
    }
    check(shape.back() >= 0, path + ": negative dimension in " + shapeText);
  }
  Tensor t = Tensor::empty(dtype, shape);
  in.read(reinterpret_cast<char *>(t.bytes()), t.nbytes());
  check(static_cast<size_t>(in.gcount()) == t.nbytes(),
        path + ": holds fewer bytes than its shape " + shapeText + " needs");
  return t;
}

void writeNpy(const std::string &path, const Tensor &value) {
  Tensor t = value;
  const char *descr = nullptr;
  switch (t.dtype) {
  case DType::BF16:
    t = moert::convertFloat(value, DType::F32);
    descr = "<f4";
    break;
  case DType::I4: {
    t = Tensor::empty(DType::I8, value.shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.data<int8_t>()[i] = moert::getI4(value.bytes(), i);
    descr = "|i1";
    break;
  }
  default:
    for (const Descr &d : kDescrs)
      if (d.dtype == t.dtype && !descr)
        descr = d.text;
  }
  std::string shape = "(";
  for (int64_t d : t.shape)
    shape += std::to_string(d) + ", ";
  if (t.shape.size() > 1)
    shape.resize(shape.size() - 2);
  else if (t.shape.size() == 1)
    shape.resize(shape.size() - 1); // "(n,)"
  shape += ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0)
    header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  check(out.good(), path + ": cannot write");
  uint16_t len = static_cast<uint16_t>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xFF));
  out.put(static_cast<char>(len >> 8));
  out.write(header.data(), header.size());
  out.write(reinterpret_cast<const char *>(t.bytes()), t.nbytes());
  check(out.good(), path + ": write failed");
}

Tensor convertInput(const Tensor &t, DType dtype) {
  if (t.dtype == dtype)
    return t;
  if (t.dtype == DType::F32 && (dtype == DType::BF16 || dtype == DType::F16))
    return moert::convertFloat(t, dtype);
  if (t.dtype == DType::I8 && dtype == DType::I4) {
    Tensor packed = Tensor::zeros(DType::I4, t.shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      int8_t v = t.data<int8_t>()[i];
      check(v >= -8 && v <= 7, "value " + std::to_string(v) +
                                   " at element " + std::to_string(i) +
                                   " does not fit in i4 [-8, 7]");
      moert::setI4(packed.bytes(), i, v);
    }
    return packed;
  }
  throw Error(std::string("holds ") + moert::dtypeName(t.dtype) + ", expected " +
              moert::dtypeName(dtype));
}

} // namespace moerun
