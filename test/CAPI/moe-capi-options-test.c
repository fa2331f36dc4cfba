//===- moe-capi-options-test.c - every moe-compile option from C ----------===//
//
// Enumerates the options of moe-compile through the C API (the table
// generated from the passes' TableGen) and, for each, sets a valid
// non-default value and checks that it reaches its pass in the printed pass
// pipeline (or, for the pipeline's own switches, changes the pipeline),
// then sets an invalid value and prints the parser's message.
//
//   moe-capi-options-test names       every option name, one a line
//   moe-capi-options-test check       the checks above; a summary at the end
//   moe-capi-options-test rejections  "name<TAB>bad value<TAB>message" lines,
//                                     compared with moe-opt's messages by
//                                     Inputs/compare_option_errors.py
//
//===----------------------------------------------------------------------===//

// RUN: moe-capi-options-test names | sort > %t.api
// RUN: moe-opt --help | awk '/^      --moe-compile /{on=1; next} /^      --/{on=0} on' \
// RUN:   | sed -n 's/^ *--\([a-z0-9-]*\).*/\1/p' | sort > %t.help
// RUN: test -s %t.api
// RUN: diff %t.api %t.help
// RUN: moe-capi-options-test check | FileCheck %s
// RUN: %sys_python %S/Inputs/compare_option_errors.py %S/Inputs/two_ranks.mlir \
// RUN:   | FileCheck %s --check-prefix=SAME

// CHECK-NOT: FAIL
// CHECK: fuse-quant=false reaches the pipeline
// CHECK: policy=bogus rejected: for the --policy option: Cannot find option named 'bogus'!
// CHECK: policy=cost-model reaches moe-select-comm-method
// CHECK: method=allgather reaches moe-select-comm-method
// CHECK: max-num-reqs=abc rejected: for the --max-num-reqs option: 'abc' value invalid for {{.*}} argument!
// CHECK: lora=true reaches moe-select-comm-method
// CHECK: max-tokens=1 reaches moe-select-comm-method
// CHECK: check-mc2-capacity=false reaches convert-moe-to-npu
// CHECK: no-such-option=1 rejected: <Pass-Options-Parser>: no such option no-such-option
// CHECK: [[N:[0-9]+]] options, [[N]] reach their pass, [[N]] reject a bad value, 0 failures

// SAME-NOT: DIFFERENT
// SAME: same message as moe-opt: policy=bogus
// SAME: same message as moe-opt: warn-redundant-waits=maybe
// SAME: {{[0-9]+}} options compared, 0 different

#include "moe-c/Runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Text {
  char data[8192];
  size_t length;
} Text;

static void append(MlirStringRef s, void *userData) {
  Text *text = (Text *)userData;
  size_t n = s.length;
  if (text->length + n >= sizeof(text->data))
    n = sizeof(text->data) - 1 - text->length;
  memcpy(text->data + text->length, s.data, n);
  text->length += n;
  text->data[text->length] = 0;
}

/// The pass pipeline after setting `name` to `value` (NULL name: defaults).
static int printPipeline(const char *name, const char *value, Text *out) {
  MoeCompileOptions *options = NULL;
  out->length = 0;
  out->data[0] = 0;
  int ok = moeCompileOptionsCreate(&options) == MOE_STATUS_OK &&
           (!name || moeCompileOptionsSet(options, name, value) ==
                         MOE_STATUS_OK) &&
           moeCompileOptionsPrintPassPipeline(options, append, out) ==
               MOE_STATUS_OK;
  if (!ok)
    printf("FAIL %s=%s: %s\n", name ? name : "(defaults)", value ? value : "",
           moeGetLastError());
  moeCompileOptionsDestroy(options);
  return ok;
}

/// A valid value other than the default.
static void otherValue(const MoeCompileOptionInfo *info, char *out,
                       size_t size) {
  for (int64_t i = 0; i < info->numAllowed; ++i)
    if (strcmp(info->allowed[i], info->defaultValue) != 0 &&
        strcmp(info->allowed[i], "unset") != 0) {
      snprintf(out, size, "%s", info->allowed[i]);
      return;
    }
  if (strcmp(info->type, "bool") == 0)
    snprintf(out, size, "%s",
             strcmp(info->defaultValue, "true") == 0 ? "false" : "true");
  else
    snprintf(out, size, "%lld", atoll(info->defaultValue) + 1);
}

/// A value the option's parser rejects.
static const char *badValue(const MoeCompileOptionInfo *info) {
  if (info->numAllowed > 0)
    return "bogus";
  if (strcmp(info->type, "bool") == 0)
    return "maybe";
  return "abc";
}

/// Whether the options of `pass` in `pipeline` contain `name=value`.
static int passHas(const char *pipeline, const char *pass, const char *name,
                   const char *value) {
  char head[256], setting[256];
  snprintf(head, sizeof(head), "%s{", pass);
  snprintf(setting, sizeof(setting), "%s=%s", name, value);
  const char *at = strstr(pipeline, head);
  if (!at)
    return 0;
  const char *begin = at + strlen(head), *end = strchr(begin, '}');
  size_t n = strlen(setting);
  for (const char *p = begin; p && p + n <= end; p = strchr(p, ' ')) {
    p += *p == ' ';
    if (strncmp(p, setting, n) == 0 && (p[n] == ' ' || p[n] == '}'))
      return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "check";
  int64_t count = moeGetNumCompileOptions();
  Text defaults, changed;
  if (!printPipeline(NULL, NULL, &defaults))
    return 1;
  int reached = 0, rejected = 0, failures = 0;
  for (int64_t i = 0; i < count; ++i) {
    MoeCompileOptionInfo info;
    if (moeGetCompileOption(i, &info) != MOE_STATUS_OK)
      return 1;
    if (strcmp(mode, "names") == 0) {
      printf("%s\n", info.name);
      continue;
    }
    const char *bad = badValue(&info);
    MoeCompileOptions *options = NULL;
    moeCompileOptionsCreate(&options);
    MoeStatus status = moeCompileOptionsSet(options, info.name, bad);
    moeCompileOptionsDestroy(options);
    if (strcmp(mode, "rejections") == 0) {
      printf("%s\t%s\t%s\n", info.name, bad, moeGetLastError());
      continue;
    }
    if (status == MOE_STATUS_INVALID_ARGUMENT && *moeGetLastError()) {
      ++rejected;
      printf("%s=%s rejected: %s\n", info.name, bad, moeGetLastError());
    } else {
      ++failures;
      printf("FAIL %s=%s: status %d\n", info.name, bad, status);
    }
    char value[64];
    otherValue(&info, value, sizeof(value));
    if (!printPipeline(info.name, value, &changed)) {
      ++failures;
      continue;
    }
    int ok = *info.pass ? passHas(changed.data, info.pass, info.name, value)
                        : strcmp(changed.data, defaults.data) != 0;
    if (ok) {
      ++reached;
      printf("%s=%s reaches %s\n", info.name, value,
             *info.pass ? info.pass : "the pipeline");
    } else {
      ++failures;
      printf("FAIL %s=%s does not reach %s: %s\n", info.name, value,
             *info.pass ? info.pass : "the pipeline", changed.data);
    }
  }
  if (strcmp(mode, "check") == 0) {
    MoeCompileOptions *options = NULL;
    moeCompileOptionsCreate(&options);
    if (moeCompileOptionsSet(options, "no-such-option", "1") ==
        MOE_STATUS_INVALID_ARGUMENT)
      printf("no-such-option=1 rejected: %s\n", moeGetLastError());
    moeCompileOptionsDestroy(options);
    printf("%lld options, %d reach their pass, %d reject a bad value, %d "
           "failures\n",
           (long long)count, reached, rejected, failures);
  }
  return 0;
}
