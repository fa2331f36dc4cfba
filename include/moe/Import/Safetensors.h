//===- Safetensors.h - read safetensors checkpoints -------------*- C++ -*-===//
//
// A safetensors file (https://huggingface.co/docs/safetensors) is an 8-byte
// little-endian header length N, N bytes of JSON mapping every tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data
// that follows the header) plus an optional "__metadata__" object of
// strings, then the raw little-endian tensor data.
//
// `SafetensorsFile` maps one file (no copy of the data) and checks every
// entry of its header; `Checkpoint` is a single file, a directory with a
// `model.safetensors.index.json` (`weight_map`: tensor name -> file), or a
// directory of *.safetensors files. Every malformed input is an llvm::Error
// naming the file (and the tensor); docs/Import.md, "Checkpoint weights".
//
//===----------------------------------------------------------------------===//

#ifndef MOE_IMPORT_SAFETENSORS_H
#define MOE_IMPORT_SAFETENSORS_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlir::moe {

/// The element types of the format that the loader reads (the format's
/// other ones, e.g. F8_E8M0 or complex types, are reported as unknown).
enum class SafetensorsDType { F64, F32, F16, BF16, F8E4M3, F8E5M2, I64, I32,
                              I16, I8, U8, Bool };

/// The dtype named `name` in a header ("BF16", "F8_E4M3", ...).
std::optional<SafetensorsDType> parseSafetensorsDType(llvm::StringRef name);
llvm::StringRef safetensorsDTypeName(SafetensorsDType dtype);
size_t safetensorsElementBytes(SafetensorsDType dtype);

/// One tensor of a mapped file: its bytes are a view of the mapping.
struct SafetensorsTensor {
  std::string name;
  SafetensorsDType dtype;
  std::vector<int64_t> shape;
  llvm::ArrayRef<uint8_t> data; ///< numel * element bytes, little-endian
  std::string file;             ///< the file it is in, for messages

  int64_t numel() const;
  /// "[a, b]" for messages.
  std::string shapeString() const;
};

class SafetensorsFile {
public:
  /// Maps `path` and checks its header: the length lies inside the file,
  /// the header is a JSON object, every entry has a known dtype, a shape of
  /// non-negative sizes and data offsets inside the data whose length is
  /// the shape's bytes, and no two tensors overlap.
  static llvm::Expected<std::unique_ptr<SafetensorsFile>>
  open(llvm::StringRef path);
  /// The same checks on bytes in memory (`path` names them in messages).
  static llvm::Expected<std::unique_ptr<SafetensorsFile>>
  open(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef path);

  const std::string &path() const { return filePath; }
  /// nullptr when the file has no tensor `name`.
  const SafetensorsTensor *find(llvm::StringRef name) const;
  /// Tensor names in header order.
  const std::vector<std::string> &names() const { return order; }
  const std::map<std::string, std::string> &metadata() const { return meta; }

private:
  SafetensorsFile() = default;
  std::unique_ptr<llvm::MemoryBuffer> buffer;
  std::string filePath;
  llvm::StringMap<SafetensorsTensor> tensors;
  std::vector<std::string> order;
  std::map<std::string, std::string> meta;
};

/// A checkpoint of one or more safetensors files.
class Checkpoint {
public:
  /// `path` is a .safetensors file, or a directory holding
  /// model.safetensors.index.json (the files its weight_map names are
  /// opened) or else *.safetensors files (a tensor name in two of them is
  /// an error).
  static llvm::Expected<std::unique_ptr<Checkpoint>> open(llvm::StringRef path);

  const std::string &path() const { return rootPath; }
  /// nullptr when no file holds `name`.
  const SafetensorsTensor *find(llvm::StringRef name) const;
  /// The tensor `name`; a missing one is an error naming the checkpoint
  /// and the tensor, with `what` saying what it was needed for.
  llvm::Expected<const SafetensorsTensor &> get(llvm::StringRef name,
                                                llvm::StringRef what) const;
  size_t numTensors() const { return index.size(); }

private:
  Checkpoint() = default;
  llvm::Error add(std::unique_ptr<SafetensorsFile> file);
  std::string rootPath;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  llvm::StringMap<const SafetensorsTensor *> index;
};

} // namespace mlir::moe

#endif // MOE_IMPORT_SAFETENSORS_H
