//===- Npy.cpp - NumPy .npy files for moe-run -----------------------------===//

#include "Npy.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>

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

/// The header of a .npy: a Python dict literal with exactly the keys
/// 'descr' (a string), 'fortran_order' (True or False) and 'shape' (a tuple
/// of non-negative integers), padded with spaces and ended by a newline.
/// NumPy reads it with ast.literal_eval and insists on these three keys;
/// this parser is stricter in one way: a key given twice is an error (NumPy
/// would keep the last value silently).
struct Header {
  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  std::string shapeText; // as written, for messages
};

class HeaderParser {
public:
  HeaderParser(const std::string &text, const std::string &path)
      : text(text), path(path) {}

  Header parse() {
    Header h;
    bool seenDescr = false, seenOrder = false, seenShape = false;
    expect('{');
    while (!eat('}')) {
      std::string key = quoted("a quoted key");
      expect(':');
      auto once = [&](bool &seen) {
        check(!seen, path + ": npy header gives '" + key + "' twice");
        seen = true;
      };
      if (key == "descr") {
        once(seenDescr);
        skipSpace();
        check(pos < text.size() && (text[pos] == '\'' || text[pos] == '"'),
              path + ": npy header's 'descr' is not a string (structured "
                     "dtypes are not supported)");
        h.descr = quoted("a quoted dtype");
      } else if (key == "fortran_order") {
        once(seenOrder);
        h.fortranOrder = boolean();
      } else if (key == "shape") {
        once(seenShape);
        shape(h);
      } else {
        throw Error(path + ": npy header has unknown key '" + key +
                    "' (expected descr, fortran_order and shape)");
      }
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    skipSpace();
    check(pos == text.size(), path + ": malformed npy header: text after "
                                     "the dict");
    check(seenDescr, path + ": npy header has no 'descr'");
    check(seenOrder, path + ": npy header has no 'fortran_order'");
    check(seenShape, path + ": npy header has no 'shape'");
    return h;
  }

private:
  [[noreturn]] void malformed(const std::string &expected) {
    throw Error(path + ": malformed npy header: expected " + expected +
                " at byte " + std::to_string(pos));
  }
  void skipSpace() {
    while (pos < text.size() && std::isspace(static_cast<unsigned char>(text[pos])))
      ++pos;
  }
  bool eat(char c) {
    skipSpace();
    if (pos < text.size() && text[pos] == c) {
      ++pos;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c))
      malformed(std::string("'") + c + "'");
  }
  std::string quoted(const std::string &what) {
    skipSpace();
    if (pos >= text.size() || (text[pos] != '\'' && text[pos] != '"'))
      malformed(what);
    char quote = text[pos];
    size_t end = text.find(quote, pos + 1);
    if (end == std::string::npos)
      malformed("a closing quote");
    std::string value = text.substr(pos + 1, end - pos - 1);
    check(value.find('\\') == std::string::npos,
          path + ": npy header: escapes in strings are not supported");
    pos = end + 1;
    return value;
  }
  bool boolean() {
    skipSpace();
    for (const char *word : {"True", "False"})
      if (text.compare(pos, std::strlen(word), word) == 0) {
        pos += std::strlen(word);
        return word[0] == 'T';
      }
    malformed("True or False");
  }
  /// "(2, 3)", "(5,)" or "()": decimal digits only, so "2.5", "-1", "0x10"
  /// or "2L" are errors rather than read as a prefix.
  void shape(Header &h) {
    skipSpace();
    size_t begin = pos;
    size_t close = text.find(')', pos);
    if (pos >= text.size() || text[pos] != '(' || close == std::string::npos)
      malformed("a shape tuple");
    h.shapeText = text.substr(begin, close + 1 - begin);
    ++pos;
    while (!eat(')')) {
      skipSpace();
      size_t digits = pos;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos])))
        ++pos;
      std::string item = text.substr(digits, pos - digits);
      if (item.empty() || (pos < text.size() && !std::isspace(static_cast<unsigned char>(text[pos])) &&
                           text[pos] != ',' && text[pos] != ')')) {
        size_t end = text.find_first_of(",)", digits);
        std::string bad = text.substr(digits, end - digits);
        throw Error(path + ": malformed shape " + h.shapeText + ": '" + bad +
                    "' is not a non-negative integer");
      }
      int64_t d = 0;
      for (char c : item)
        check(!__builtin_mul_overflow(d, 10, &d) &&
                  !__builtin_add_overflow(d, c - '0', &d),
              path + ": malformed shape " + h.shapeText + ": " + item +
                  " does not fit in 64 bits");
      h.shape.push_back(d);
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    // A 1-tuple needs its comma in Python: "(5)" is the integer 5.
    check(h.shape.size() != 1 || h.shapeText.find(',') != std::string::npos,
          path + ": malformed shape " + h.shapeText +
              ": a one-dimensional shape is written (n,)");
  }

  const std::string &text;
  const std::string &path;
  size_t pos = 0;
};
} // namespace

Tensor readNpy(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  check(in.good(), path + ": cannot open");
  char magic[8];
  in.read(magic, 8);
  check(in.good() && std::memcmp(magic, "\x93NUMPY", 6) == 0,
        path + ": not a .npy file");
  check(magic[6] >= 1 && magic[6] <= 3,
        path + ": unsupported .npy version " + std::to_string(magic[6]));
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
  std::string text(headerLen, '\0');
  in.read(text.data(), headerLen);
  check(in.good(), path + ": truncated npy header");

  Header header = HeaderParser(text, path).parse();
  check(!header.fortranOrder,
        path + ": Fortran-order arrays are not supported; save C order");
  DType dtype = DType::F32;
  bool known = false;
  for (const Descr &d : kDescrs)
    if (header.descr == d.text) {
      dtype = d.dtype;
      known = true;
    }
  // uint8: packed int4, two values per byte along the last dimension,
  // element 2i in the low nibble (docs/Quantization.md): the bytes are an
  // i4 tensor's storage as they are.
  if (header.descr == "|u1") {
    check(!header.shape.empty(),
          path + ": a uint8 .npy holds packed int4 (two per byte along the "
                 "last dimension) and needs at least one dimension");
    check(header.shape.back() <= INT64_MAX / 2,
          path + ": shape " + header.shapeText + " is too large");
    dtype = DType::I4;
    known = true;
    header.shape.back() *= 2;
  }
  check(known, path + ": unsupported dtype '" + header.descr +
                   "' (f32, f16, i8, i32, i64, bool, or uint8 for packed "
                   "int4)");
  // The size the shape claims, checked against the file before allocating:
  // a tiny file cannot make the reader allocate (or read) past its end.
  std::optional<int64_t> elements = moert::checkedNumel(header.shape);
  std::optional<size_t> bytes =
      elements ? moert::checkedStorageBytes(dtype, *elements) : std::nullopt;
  check(bytes.has_value(), path + ": shape " + header.shapeText +
                               " is too large: its size overflows 64 bits");
  std::string tooShort = path + ": holds fewer bytes than its shape " +
                         header.shapeText + " needs (" +
                         std::to_string(*bytes) + ")";
  // (A pipe cannot tell its size: then only the read below checks.)
  std::streampos dataStart = in.tellg();
  if (dataStart != std::streampos(-1)) {
    in.seekg(0, std::ios::end);
    std::streampos end = in.tellg();
    in.seekg(dataStart);
    check(in.good() && end != std::streampos(-1), path + ": cannot read");
    check(static_cast<uint64_t>(end - dataStart) >= *bytes, tooShort);
  }
  Tensor t = Tensor::empty(dtype, header.shape);
  in.read(reinterpret_cast<char *>(t.bytes()),
          static_cast<std::streamsize>(*bytes));
  check(static_cast<size_t>(in.gcount()) == *bytes, tooShort);
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
  // A uint8 .npy was read as packed int4; for an fp8 argument its bytes
  // are fp8 bit patterns, one per element (docs/Quantization.md).
  if (t.dtype == DType::I4 &&
      (dtype == DType::F8E4M3FN || dtype == DType::F8E5M2)) {
    std::vector<int64_t> shape = t.shape;
    shape.back() /= 2;
    Tensor bits = Tensor::empty(dtype, shape);
    std::copy(t.bytes(), t.bytes() + bits.nbytes(), bits.bytes());
    return bits;
  }
  // For an i8 argument a uint8 .npy holds raw bytes: packed fp4 (two
  // e2m1 per byte along K) or e8m0 scale codes (docs/Quantization.md,
  // "mxfp4 and nvfp4"); the shape check then compares the byte shape.
  if (t.dtype == DType::I4 && dtype == DType::I8) {
    std::vector<int64_t> shape = t.shape;
    shape.back() /= 2;
    Tensor bytes = Tensor::empty(DType::I8, shape);
    std::copy(t.bytes(), t.bytes() + bytes.nbytes(), bytes.bytes());
    return bytes;
  }
  if (t.dtype == DType::I4)
    throw Error(std::string("holds uint8 (packed int4 for an i4 argument, "
                            "bit patterns for an fp8 one, raw bytes for an "
                            "i8 one), expected ") +
                moert::dtypeName(dtype));
  std::string hint;
  if (dtype == DType::F8E4M3FN || dtype == DType::F8E5M2)
    hint = " (fp8 arguments take a uint8 .npy of bit patterns)";
  if (dtype == DType::I8)
    hint = " (i8 arguments take an int8 .npy of values, or a uint8 .npy of "
           "bytes: packed fp4 or e8m0 scales)";
  throw Error(std::string("holds ") + moert::dtypeName(t.dtype) + ", expected " +
              moert::dtypeName(dtype) + hint);
}

} // namespace moerun
