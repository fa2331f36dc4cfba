//===- ConfigOverrides.cpp - `key=value` settings on a config.json --------===//
//
// moe-import --set and moe_mlir.import_config(overrides=...) (docs/Import.md,
// "Overrides"): replace keys of the config before it is read, e.g. to run a
// DeepSeek-V3 layer scaled down. Only keys the config has can be set, each
// to a value of its kind; the reader then checks the value as it checks
// the published ones.
//
//===----------------------------------------------------------------------===//

#include "moe/Import/HfConfig.h"

using namespace mlir::moe;
using llvm::json::Object;
using JsonValue = llvm::json::Value;

static llvm::Error overrideError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 "config override " + message);
}

static const char *kindName(JsonValue::Kind kind) {
  switch (kind) {
  case JsonValue::Null:
    return "null";
  case JsonValue::Boolean:
    return "a boolean";
  case JsonValue::Number:
    return "a number";
  case JsonValue::String:
    return "a string";
  case JsonValue::Array:
    return "a list";
  case JsonValue::Object:
    return "an object";
  }
  return "a value";
}

/// `text` as a value of `old`'s kind; an error naming `key` otherwise.
static llvm::Expected<JsonValue> typedValue(llvm::StringRef key,
                                        const JsonValue &old,
                                        llvm::StringRef text) {
  auto mismatch = [&](llvm::StringRef want) {
    return overrideError("'" + key + "=" + text + "': '" + key + "' is " +
                         want + " in config.json");
  };
  switch (old.kind()) {
  case JsonValue::String:
    return JsonValue(text.str());
  case JsonValue::Boolean:
    if (text == "true" || text == "false")
      return JsonValue(text == "true");
    return mismatch("a boolean (true or false)");
  case JsonValue::Number: {
    int64_t i;
    if (!text.getAsInteger(10, i))
      return JsonValue(i);
    double d;
    if (!text.getAsDouble(d))
      return JsonValue(d);
    return mismatch("a number");
  }
  case JsonValue::Null:
  case JsonValue::Array:
  case JsonValue::Object: {
    // Written as JSON: a list of layers, or any scalar for a null key.
    llvm::Expected<JsonValue> parsed = llvm::json::parse(text);
    if (!parsed) {
      llvm::consumeError(parsed.takeError());
      return mismatch(std::string(kindName(old.kind())) + ", not JSON text");
    }
    bool scalar = parsed->kind() != JsonValue::Array &&
                  parsed->kind() != JsonValue::Object;
    if (old.kind() == JsonValue::Null ? !scalar : parsed->kind() != old.kind())
      return mismatch(kindName(old.kind()));
    return std::move(*parsed);
  }
  }
  return mismatch("a value");
}

llvm::Error mlir::moe::applyConfigOverrides(
    JsonValue &config, llvm::ArrayRef<std::string> settings) {
  Object *top = config.getAsObject();
  if (!top) // parseHfConfig reports it
    return llvm::Error::success();
  // Multimodal wrappers (Llama-4): the reader reads text_config's keys.
  Object *text = top->getObject("text_config");
  for (const std::string &setting : settings) {
    auto [key, value] = llvm::StringRef(setting).split('=');
    if (key.empty() || !llvm::StringRef(setting).contains('='))
      return overrideError("'" + setting + "': expected key=value");
    Object *holder = text && text->get(key) ? text : top;
    JsonValue *old = holder->get(key);
    if (!old)
      return overrideError("'" + setting + "': unknown key '" + key +
                           "' (config.json has no such key)");
    llvm::Expected<JsonValue> typed = typedValue(key, *old, value);
    if (!typed)
      return typed.takeError();
    *old = std::move(*typed);
  }
  return llvm::Error::success();
}
