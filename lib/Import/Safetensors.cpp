//===- Safetensors.cpp - read safetensors checkpoints ---------------------===//
//
// The format (include/moe/Import/Safetensors.h): u64 header length, JSON
// header, raw data. Every check names the file and, where there is one, the
// tensor; nothing here trusts a length or an offset before checking it
// against the mapping.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/Safetensors.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"

#include <algorithm>

using namespace mlir::moe;
using llvm::json::Object;

namespace {

/// The largest header read (the reference implementation's limit).
constexpr uint64_t kMaxHeaderBytes = 100 * 1000 * 1000;

llvm::Error fileError(llvm::StringRef path, const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "safetensors '" + path + "': " + message);
}

} // namespace

std::optional<SafetensorsDType>
mlir::moe::parseSafetensorsDType(llvm::StringRef name) {
  using D = SafetensorsDType;
  return llvm::StringSwitch<std::optional<D>>(name)
      .Case("F64", D::F64)
      .Case("F32", D::F32)
      .Case("F16", D::F16)
      .Case("BF16", D::BF16)
      .Case("F8_E4M3", D::F8E4M3)
      .Case("F8_E5M2", D::F8E5M2)
      .Case("I64", D::I64)
      .Case("I32", D::I32)
      .Case("I16", D::I16)
      .Case("I8", D::I8)
      .Case("U8", D::U8)
      .Case("BOOL", D::Bool)
      .Default(std::nullopt);
}

llvm::StringRef mlir::moe::safetensorsDTypeName(SafetensorsDType dtype) {
  using D = SafetensorsDType;
  switch (dtype) {
  case D::F64: return "F64";
  case D::F32: return "F32";
  case D::F16: return "F16";
  case D::BF16: return "BF16";
  case D::F8E4M3: return "F8_E4M3";
  case D::F8E5M2: return "F8_E5M2";
  case D::I64: return "I64";
  case D::I32: return "I32";
  case D::I16: return "I16";
  case D::I8: return "I8";
  case D::U8: return "U8";
  case D::Bool: return "BOOL";
  }
  llvm_unreachable("dtype");
}

size_t mlir::moe::safetensorsElementBytes(SafetensorsDType dtype) {
  using D = SafetensorsDType;
  switch (dtype) {
  case D::F64: case D::I64: return 8;
  case D::F32: case D::I32: return 4;
  case D::F16: case D::BF16: case D::I16: return 2;
  case D::F8E4M3: case D::F8E5M2: case D::I8: case D::U8: case D::Bool:
    return 1;
  }
  llvm_unreachable("dtype");
}

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d; // checked when the header was read
  return n;
}

std::string SafetensorsTensor::shapeString() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

llvm::Expected<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::open(llvm::StringRef path) {
  // Mapped, not read: the data is used where it lies.
  llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> buffer =
      llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                  /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fileError(path, "cannot open: " + buffer.getError().message());
  return open(std::move(*buffer), path);
}

llvm::Expected<std::unique_ptr<SafetensorsFile>>
SafetensorsFile::open(std::unique_ptr<llvm::MemoryBuffer> buffer,
                      llvm::StringRef path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile);
  file->filePath = path.str();
  llvm::StringRef bytes = buffer->getBuffer();
  uint64_t size = bytes.size();
  if (size < 8)
    return fileError(path, "truncated: " + llvm::Twine(size) +
                               " bytes, shorter than the 8-byte header "
                               "length");
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = headerBytes << 8 | static_cast<uint8_t>(bytes[i]);
  if (headerBytes > size - 8)
    return fileError(path, "header length " + llvm::Twine(headerBytes) +
                               " runs past the end of the file (" +
                               llvm::Twine(size) + " bytes)");
  if (headerBytes > kMaxHeaderBytes)
    return fileError(path, "header length " + llvm::Twine(headerBytes) +
                               " exceeds the format's limit of " +
                               llvm::Twine(kMaxHeaderBytes) + " bytes");
  llvm::StringRef headerText = bytes.substr(8, headerBytes);
  llvm::Expected<llvm::json::Value> header = llvm::json::parse(headerText);
  if (!header)
    return fileError(path, "header is not JSON: " +
                               llvm::toString(header.takeError()));
  const Object *top = header->getAsObject();
  if (!top)
    return fileError(path, "header is not a JSON object");
  const uint8_t *data =
      reinterpret_cast<const uint8_t *>(bytes.data()) + 8 + headerBytes;
  uint64_t dataBytes = size - 8 - headerBytes;

  // Header order is not kept by llvm::json::Object: sort the names so the
  // messages (and names()) do not depend on a hash order.
  std::vector<std::string> keys;
  for (const auto &entry : *top)
    keys.push_back(entry.first.str());
  std::sort(keys.begin(), keys.end());
  for (const std::string &name : keys) {
    const llvm::json::Value &value = *top->get(name);
    if (name == "__metadata__") {
      const Object *meta = value.getAsObject();
      if (!meta)
        return fileError(path, "__metadata__ is not an object");
      for (const auto &[key, v] : *meta) {
        std::optional<llvm::StringRef> text = v.getAsString();
        if (!text)
          return fileError(path, "__metadata__ value '" + key.str() +
                                     "' is not a string");
        file->meta[key.str()] = text->str();
      }
      continue;
    }
    auto bad = [&](const llvm::Twine &why) {
      return fileError(path, "tensor '" + name + "': " + why);
    };
    const Object *entry = value.getAsObject();
    if (!entry)
      return bad("header entry is not an object");
    std::optional<llvm::StringRef> dtypeName = entry->getString("dtype");
    if (!dtypeName)
      return bad("missing string 'dtype'");
    std::optional<SafetensorsDType> dtype = parseSafetensorsDType(*dtypeName);
    if (!dtype)
      return bad("unknown dtype '" + *dtypeName +
                 "' (the loader reads F64, F32, F16, BF16, F8_E4M3, "
                 "F8_E5M2, I64, I32, I16, I8, U8, BOOL)");
    const llvm::json::Array *shape = entry->getArray("shape");
    if (!shape)
      return bad("missing list 'shape'");
    SafetensorsTensor t;
    t.name = name;
    t.dtype = *dtype;
    t.file = file->filePath;
    uint64_t numel = 1;
    for (const llvm::json::Value &d : *shape) {
      std::optional<int64_t> dim = d.getAsInteger();
      if (!dim || *dim < 0)
        return bad("shape holds something other than a non-negative "
                   "integer");
      // Keeps numel * element bytes within 64 bits; the offsets check
      // below compares it with the data.
      if (*dim && numel > (uint64_t(1) << 60) / uint64_t(*dim))
        return bad("shape holds more than 2^60 "
                   "elements");
      numel *= uint64_t(*dim);
      t.shape.push_back(*dim);
    }
    const llvm::json::Array *offsets = entry->getArray("data_offsets");
    std::optional<int64_t> begin, end;
    if (offsets && offsets->size() == 2) {
      begin = (*offsets)[0].getAsInteger();
      end = (*offsets)[1].getAsInteger();
    }
    if (!begin || !end || *begin < 0 || *end < *begin)
      return bad("'data_offsets' is not [begin, end] with 0 <= begin <= end");
    if (uint64_t(*end) > dataBytes)
      return bad("data_offsets [" + llvm::Twine(*begin) + ", " +
                 llvm::Twine(*end) + "] run past the " +
                 llvm::Twine(dataBytes) + " data bytes");
    uint64_t expected = numel * safetensorsElementBytes(*dtype);
    if (uint64_t(*end - *begin) != expected)
      return bad("data_offsets [" + llvm::Twine(*begin) + ", " +
                 llvm::Twine(*end) + "] hold " + llvm::Twine(*end - *begin) +
                 " bytes but " + *dtypeName + " " + t.shapeString() +
                 " needs " + llvm::Twine(expected));
    t.data = llvm::ArrayRef<uint8_t>(data + *begin, expected);
    file->order.push_back(name);
    file->tensors[name] = std::move(t);
  }

  // No two tensors may share bytes.
  std::vector<const SafetensorsTensor *> byOffset;
  for (const auto &entry : file->tensors)
    if (!entry.second.data.empty())
      byOffset.push_back(&entry.second);
  std::sort(byOffset.begin(), byOffset.end(),
            [](const SafetensorsTensor *a, const SafetensorsTensor *b) {
              return a->data.data() < b->data.data() ||
                     (a->data.data() == b->data.data() && a->name < b->name);
            });
  for (size_t i = 1; i < byOffset.size(); ++i)
    if (byOffset[i]->data.data() <
        byOffset[i - 1]->data.data() + byOffset[i - 1]->data.size())
      return fileError(path, "tensors '" + byOffset[i - 1]->name + "' and '" +
                                 byOffset[i]->name + "' overlap");
  file->buffer = std::move(buffer);
  return std::move(file);
}

const SafetensorsTensor *SafetensorsFile::find(llvm::StringRef name) const {
  auto it = tensors.find(name);
  return it == tensors.end() ? nullptr : &it->second;
}

llvm::Error Checkpoint::add(std::unique_ptr<SafetensorsFile> file) {
  for (const std::string &name : file->names()) {
    auto [it, inserted] = index.try_emplace(name, file->find(name));
    if (!inserted)
      return fileError(file->path(), "tensor '" + name + "' is also in '" +
                                         it->second->file + "'");
  }
  files.push_back(std::move(file));
  return llvm::Error::success();
}

llvm::Expected<std::unique_ptr<Checkpoint>>
Checkpoint::open(llvm::StringRef path) {
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint);
  ckpt->rootPath = path.str();
  if (!llvm::sys::fs::is_directory(path)) {
    if (!llvm::sys::fs::exists(path))
      return fileError(path, "no such file or directory");
    llvm::Expected<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::open(path);
    if (!file)
      return file.takeError();
    if (llvm::Error e = ckpt->add(std::move(*file)))
      return std::move(e);
    return std::move(ckpt);
  }

  llvm::SmallString<256> indexPath(path);
  llvm::sys::path::append(indexPath, "model.safetensors.index.json");
  if (llvm::sys::fs::exists(indexPath)) {
    llvm::ErrorOr<std::unique_ptr<llvm::MemoryBuffer>> text =
        llvm::MemoryBuffer::getFile(indexPath, /*IsText=*/true);
    if (!text)
      return fileError(indexPath, "cannot open: " + text.getError().message());
    llvm::Expected<llvm::json::Value> json =
        llvm::json::parse((*text)->getBuffer());
    if (!json)
      return fileError(indexPath,
                       "is not JSON: " + llvm::toString(json.takeError()));
    const Object *top = json->getAsObject();
    const Object *map = top ? top->getObject("weight_map") : nullptr;
    if (!map)
      return fileError(indexPath, "has no 'weight_map' object");
    std::map<std::string, std::vector<std::string>> byFile;
    for (const auto &[name, file] : *map) {
      std::optional<llvm::StringRef> f = file.getAsString();
      if (!f || f->empty() || f->contains('/') || *f == "..")
        return fileError(indexPath, "weight_map entry '" + name.str() +
                                        "' is not a file name in the "
                                        "checkpoint's directory");
      byFile[f->str()].push_back(name.str());
    }
    for (const auto &[name, tensors] : byFile) {
      llvm::SmallString<256> filePath(path);
      llvm::sys::path::append(filePath, name);
      llvm::Expected<std::unique_ptr<SafetensorsFile>> file =
          SafetensorsFile::open(filePath);
      if (!file)
        return file.takeError();
      for (const std::string &t : tensors)
        if (!(*file)->find(t))
          return fileError(indexPath, "weight_map puts tensor '" + t +
                                          "' in '" + name +
                                          "', which does not hold it");
      if (llvm::Error e = ckpt->add(std::move(*file)))
        return std::move(e);
    }
    return std::move(ckpt);
  }

  std::vector<std::string> paths;
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(path, ec), end; it != end && !ec;
       it.increment(ec))
    if (llvm::sys::path::extension(it->path()) == ".safetensors")
      paths.push_back(it->path());
  if (ec)
    return fileError(path, "cannot list the directory: " + ec.message());
  if (paths.empty())
    return fileError(path, "the directory holds no *.safetensors file and "
                           "no model.safetensors.index.json");
  std::sort(paths.begin(), paths.end());
  for (const std::string &p : paths) {
    llvm::Expected<std::unique_ptr<SafetensorsFile>> file =
        SafetensorsFile::open(p);
    if (!file)
      return file.takeError();
    if (llvm::Error e = ckpt->add(std::move(*file)))
      return std::move(e);
  }
  return std::move(ckpt);
}

const SafetensorsTensor *Checkpoint::find(llvm::StringRef name) const {
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

llvm::Expected<const SafetensorsTensor &>
Checkpoint::get(llvm::StringRef name, llvm::StringRef what) const {
  if (const SafetensorsTensor *t = find(name))
    return *t;
  return fileError(rootPath, "no tensor '" + name + "' (" + what + ")");
}
