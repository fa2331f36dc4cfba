//===- ParserHazards.cpp - inputs MLIR 19's parser crashes on -------------===//

#include "moe/Support/ParserHazards.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringSet.h"

#include <cctype>
#include <vector>

using namespace mlir::moe;

namespace {
struct Use {
  size_t offset;
  std::string name;
  int depth;           // brace depth at the use
  size_t groupsOpened; // brace groups opened before the use
};

bool isNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         c == '.' || c == '-';
}
} // namespace

std::optional<ParserHazard>
mlir::moe::findForwardUseIntoRegion(llvm::StringRef text) {
  llvm::StringSet<> defined;
  // Uses of names not defined yet, by name (first use only).
  llvm::StringMap<Use> pending;
  // For each open brace group: its depth and its index among all groups.
  std::vector<size_t> openGroups;
  size_t groupsOpened = 0;
  int depth = 0;
  size_t i = 0, n = text.size();
  while (i < n) {
    char c = text[i];
    if (c == '/' && i + 1 < n && text[i + 1] == '/') { // comment
      // A split marker starts an unrelated module.
      if (text.substr(i).starts_with("// -----")) {
        defined.clear();
        pending.clear();
      }
      size_t eol = text.find('\n', i);
      i = eol == llvm::StringRef::npos ? n : eol + 1;
      continue;
    }
    if (c == '"') { // string literal
      for (++i; i < n && text[i] != '"'; ++i)
        if (text[i] == '\\')
          ++i;
      ++i;
      continue;
    }
    if (c == '{') {
      ++depth;
      openGroups.push_back(groupsOpened++);
      ++i;
      continue;
    }
    if (c == '}') {
      depth = depth > 0 ? depth - 1 : 0;
      if (!openGroups.empty())
        openGroups.pop_back();
      ++i;
      continue;
    }
    // Each function has its own names.
    if ((c == 'f' || c == 'l') && (text.substr(i).starts_with("func.func") ||
                                   text.substr(i).starts_with("llvm.func"))) {
      defined.clear();
      pending.clear();
      i += 9;
      continue;
    }
    if (c != '%') {
      ++i;
      continue;
    }
    size_t start = i++;
    while (i < n && isNameChar(text[i]))
      ++i;
    std::string name = text.substr(start, i - start).str();
    if (name.size() == 1)
      continue;
    // `%a =`, `%a, %b =`, `%a:2 =`, `%a#0`...: a definition when an `=`
    // follows the result list, or a `:` (block and function arguments).
    size_t j = i;
    while (j < n && (text[j] == ' ' || text[j] == '\t'))
      ++j;
    bool definition = false;
    if (j < n && (text[j] == '=' || text[j] == ':') &&
        !(j + 1 < n && text[j + 1] == '=')) {
      definition = true;
    } else if (j < n && text[j] == ',') {
      // A result list `%a, %b = ...`: look past further `%x` names.
      size_t k = j;
      while (k < n && (text[k] == ',' || text[k] == ' ' || text[k] == '%' ||
                       isNameChar(text[k])))
        ++k;
      definition = k < n && text[k] == '=' && !(k + 1 < n && text[k + 1] == '=');
    }
    if (definition) {
      auto it = pending.find(name);
      if (it != pending.end()) {
        // Defined inside a group opened after the use, still open.
        const Use &use = it->second;
        bool insideLaterGroup =
            depth > use.depth && !openGroups.empty() &&
            openGroups[static_cast<size_t>(use.depth)] >= use.groupsOpened;
        if (insideLaterGroup)
          return ParserHazard{
              use.offset, use.name,
              "'" + use.name +
                  "' is used before its definition inside a region of the "
                  "op that uses it; define it before the op (MLIR 19's "
                  "parser crashes on this input)"};
        pending.erase(it);
      }
      defined.insert(name);
      continue;
    }
    if (!defined.contains(name) && !pending.count(name))
      pending[name] = Use{start, name, depth, groupsOpened};
  }
  return std::nullopt;
}

mlir::LogicalResult mlir::moe::rejectParserHazards(const llvm::SourceMgr &sourceMgr,
                                                   MLIRContext *context) {
  unsigned id = sourceMgr.getMainFileID();
  const llvm::MemoryBuffer *buffer = sourceMgr.getMemoryBuffer(id);
  std::optional<ParserHazard> hazard =
      findForwardUseIntoRegion(buffer->getBuffer());
  if (!hazard)
    return success();
  auto [line, column] = sourceMgr.getLineAndColumn(
      llvm::SMLoc::getFromPointer(buffer->getBufferStart() + hazard->offset),
      id);
  emitError(FileLineColLoc::get(context, buffer->getBufferIdentifier(), line,
                                column))
      << hazard->message;
  return failure();
}
