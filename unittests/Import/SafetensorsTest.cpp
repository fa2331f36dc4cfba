//===- SafetensorsTest.cpp - the safetensors reader -----------------------===//
//
// Well-formed files read back; every malformed header is an error naming
// the file and the tensor; truncated and randomly corrupted files never
// crash the reader (a deterministic fuzz loop).
//
//===----------------------------------------------------------------------===//

#include "SafetensorsWriter.h"

#include "moe/Import/Safetensors.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

using namespace mlir::moe;
using moetest::safetensorsBytes;
using moetest::safetensorsOf;

namespace {

llvm::Expected<std::unique_ptr<SafetensorsFile>> openBytes(const std::string &bytes) {
  return SafetensorsFile::open(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "mem"), "mem.safetensors");
}

/// The error of opening `bytes` ("" when it opened).
std::string errorOf(const std::string &bytes) {
  auto file = openBytes(bytes);
  if (file)
    return "";
  return llvm::toString(file.takeError());
}

std::string tensorEntry(const std::string &name, const std::string &body) {
  return "\"" + name + "\":{" + body + "}";
}

const std::vector<moetest::StTensor> kTensors = {
    {"a", "F32", {2, 3}, {1, 2, 3, 4, 5, 6}},
    {"b", "BF16", {3}, {0.5f, -2.0f, 1024.0f}},
    {"empty", "F32", {0, 4}, {}},
};

TEST(Safetensors, ReadsTensorsInPlace) {
  std::string bytes = safetensorsOf(kTensors);
  auto file = openBytes(bytes);
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ((*file)->names(), (std::vector<std::string>{"a", "b", "empty"}));
  const SafetensorsTensor *a = (*file)->find("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->dtype, SafetensorsDType::F32);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->shapeString(), "[2, 3]");
  float v;
  std::memcpy(&v, a->data.data() + 4 * 5, 4);
  EXPECT_EQ(v, 6.0f);
  const SafetensorsTensor *b = (*file)->find("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->data.size(), 6u);
  uint16_t half;
  std::memcpy(&half, b->data.data() + 4, 2);
  EXPECT_EQ(half, 0x4480); // 1024 in bf16
  EXPECT_EQ((*file)->find("empty")->numel(), 0);
  EXPECT_EQ((*file)->find("missing"), nullptr);
}

TEST(Safetensors, EveryMalformedHeaderIsAnError) {
  const std::string ok = "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]";
  const std::string data(8, '\0');
  struct Case {
    std::string bytes, message;
  } cases[] = {
      {"abc", "truncated: 3 bytes, shorter than the 8-byte header length"},
      {safetensorsBytes("{}", "").substr(0, 8) + "{", "header length 2 runs past the end of the file (9 bytes)"},
      {safetensorsBytes("{\"a\":", data), "header is not JSON"},
      {safetensorsBytes("[1]", data), "header is not a JSON object"},
      {safetensorsBytes("{\"__metadata__\":3}", data), "__metadata__ is not an object"},
      {safetensorsBytes("{\"__metadata__\":{\"k\":1}}", data), "__metadata__ value 'k' is not a string"},
      {safetensorsBytes("{\"t\":3}", data), "tensor 't': header entry is not an object"},
      {safetensorsBytes("{" + tensorEntry("t", "\"shape\":[2],\"data_offsets\":[0,8]") + "}", data), "tensor 't': missing string 'dtype'"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"C64\",\"shape\":[2],\"data_offsets\":[0,8]") + "}", data), "tensor 't': unknown dtype 'C64'"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"data_offsets\":[0,8]") + "}", data), "tensor 't': missing list 'shape'"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]") + "}", data), "tensor 't': shape holds something other than a non-negative integer"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"shape\":[1073741824,1073741824,4],\"data_offsets\":[0,8]") + "}", data), "tensor 't': shape holds more than 2^60 elements"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]") + "}", data), "tensor 't': 'data_offsets' is not [begin, end] with 0 <= begin <= end"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]") + "}", data), "'data_offsets' is not [begin, end]"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]") + "}", data), "tensor 't': data_offsets [4, 12] run past the 8 data bytes"},
      {safetensorsBytes("{" + tensorEntry("t", "\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]") + "}", data), "tensor 't': data_offsets [0, 8] hold 8 bytes but F32 [3] needs 12"},
      {safetensorsBytes("{" + tensorEntry("t", ok) + "," + tensorEntry("u", "\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]") + "}", data), "tensors 't' and 'u' overlap"},
  };
  for (const Case &c : cases) {
    std::string error = errorOf(c.bytes);
    EXPECT_NE(error.find("safetensors 'mem.safetensors': "), std::string::npos) << error;
    EXPECT_NE(error.find(c.message), std::string::npos)
        << "expected '" << c.message << "' in: " << error;
  }
  // The well-formed entry alone opens.
  EXPECT_EQ(errorOf(safetensorsBytes("{" + tensorEntry("t", ok) + "}", data)), "");
}

/// Every tensor of an opened file lies inside `bytes`' data.
void expectInside(const SafetensorsFile &file, const std::string &bytes,
                  const char *buffer) {
  for (const std::string &name : file.names()) {
    const SafetensorsTensor *t = file.find(name);
    ASSERT_TRUE(t);
    const char *begin = reinterpret_cast<const char *>(t->data.data());
    if (t->data.empty())
      continue;
    EXPECT_GE(begin, buffer);
    EXPECT_LE(begin + t->data.size(), buffer + bytes.size());
  }
}

TEST(Safetensors, TruncatedFilesAreErrors) {
  std::string bytes = safetensorsOf(kTensors);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_NE(errorOf(bytes.substr(0, n)), "") << "truncated to " << n;
}

TEST(Safetensors, CorruptedFilesNeverCrash) {
  std::string good = safetensorsOf(kTensors);
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const char interesting[] = {'\0', '{', '}', '[', ']', '"', ',', ':', '-',
                              '9', '0', 'e', '\xff', ' '};
  int opened = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string bytes = good;
    int edits = 1 + static_cast<int>(next() % 3);
    for (int k = 0; k < edits; ++k) {
      size_t at = next() % bytes.size();
      bytes[at] = (next() & 1) ? interesting[next() % sizeof(interesting)]
                               : static_cast<char>(next());
    }
    if (next() % 8 == 0)
      bytes.resize(next() % bytes.size());
    auto buffer = llvm::MemoryBuffer::getMemBufferCopy(bytes, "mem");
    const char *start = buffer->getBufferStart();
    auto file = SafetensorsFile::open(std::move(buffer), "fuzz");
    if (!file) {
      std::string error = llvm::toString(file.takeError());
      EXPECT_EQ(error.rfind("safetensors 'fuzz': ", 0), 0u) << error;
      continue;
    }
    ++opened;
    expectInside(**file, bytes, start);
  }
  // Edits of the data bytes leave a valid file.
  EXPECT_GT(opened, 0);
}

class CheckpointDir : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("moe-st", dir));
  }
  void TearDown() override { llvm::sys::fs::remove_directories(dir); }
  std::string path(const std::string &name) {
    llvm::SmallString<128> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  }
  std::string openError(llvm::StringRef p) {
    auto ckpt = Checkpoint::open(p);
    return ckpt ? "" : llvm::toString(ckpt.takeError());
  }
  llvm::SmallString<128> dir;
};

TEST_F(CheckpointDir, IndexDirectoryAndSingleFile) {
  moetest::writeFile(path("m-1.safetensors"), safetensorsOf({kTensors[0]}));
  moetest::writeFile(path("m-2.safetensors"), safetensorsOf({kTensors[1]}));
  // Every *.safetensors of the directory.
  auto all = Checkpoint::open(dir);
  ASSERT_TRUE(bool(all)) << llvm::toString(all.takeError());
  EXPECT_EQ((*all)->numTensors(), 2u);
  ASSERT_TRUE((*all)->find("b"));
  EXPECT_EQ((*all)->find("b")->file, path("m-2.safetensors"));
  auto missing = (*all)->get("c", "w13 of layer 1");
  ASSERT_FALSE(bool(missing));
  EXPECT_EQ(llvm::toString(missing.takeError()),
            "safetensors '" + std::string(dir) +
                "': no tensor 'c' (w13 of layer 1)");
  // One file.
  auto one = Checkpoint::open(path("m-1.safetensors"));
  ASSERT_TRUE(bool(one));
  EXPECT_EQ((*one)->numTensors(), 1u);
  // An index names the files: only those are opened.
  moetest::writeFile(path("stray.safetensors"), "garbage");
  moetest::writeFile(path("model.safetensors.index.json"),
                     R"({"metadata": {}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors"}})");
  auto indexed = Checkpoint::open(dir);
  ASSERT_TRUE(bool(indexed)) << llvm::toString(indexed.takeError());
  EXPECT_EQ((*indexed)->numTensors(), 2u);
}

TEST_F(CheckpointDir, Errors) {
  EXPECT_NE(openError(path("none")).find("no such file or directory"),
            std::string::npos);
  EXPECT_NE(openError(dir).find("the directory holds no *.safetensors file "
                                "and no model.safetensors.index.json"),
            std::string::npos);
  moetest::writeFile(path("m-1.safetensors"), safetensorsOf({kTensors[0]}));
  moetest::writeFile(path("m-2.safetensors"), safetensorsOf({kTensors[0]}));
  EXPECT_NE(openError(dir).find("m-2.safetensors': tensor 'a' is also in '"),
            std::string::npos) << openError(dir);
  std::string index = path("model.safetensors.index.json");
  moetest::writeFile(index, "{");
  EXPECT_NE(openError(dir).find("model.safetensors.index.json': is not JSON"),
            std::string::npos);
  moetest::writeFile(index, "{\"metadata\": {}}");
  EXPECT_NE(openError(dir).find("has no 'weight_map' object"),
            std::string::npos);
  moetest::writeFile(index, R"({"weight_map": {"a": "../m-1.safetensors"}})");
  EXPECT_NE(openError(dir).find("weight_map entry 'a' is not a file name in "
                                "the checkpoint's directory"),
            std::string::npos);
  moetest::writeFile(index, R"({"weight_map": {"b": "m-1.safetensors"}})");
  EXPECT_NE(openError(dir).find("weight_map puts tensor 'b' in "
                                "'m-1.safetensors', which does not hold it"),
            std::string::npos);
  moetest::writeFile(index, R"({"weight_map": {"a": "m-9.safetensors"}})");
  EXPECT_NE(openError(dir).find("m-9.safetensors': cannot open"),
            std::string::npos);
}

} // namespace
