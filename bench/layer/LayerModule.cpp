//===- LayerModule.cpp - the MoE layer moe-layer-bench times --------------===//
//
// Routed experts f32, w8a8 (i8 weights, per-channel scales) or w4a8 (the
// w4a8_dynamic form of test/Dialect/Moe/ops.mlir @w4a8: i4 weights,
// per-channel scales and per-group scales); the optional shared experts in
// the same scheme (w4a8: weight-only, i4 weights with antiquant group
// scales, docs/Quantization.md), read the layer's input `x` like
// examples/deepseek_v3.mlir and join the routed output in moe.finalize.
//
//===----------------------------------------------------------------------===//

#include "LayerModule.h"

#include <cmath>

using moert::DType;
using moert::Tensor;

namespace {

std::string num(int64_t v) { return std::to_string(v); }

/// "tensor<4x8xf32>"; a negative dimension prints as "?".
std::string ty(std::vector<int64_t> shape, const std::string &element) {
  std::string s = "tensor<";
  for (int64_t d : shape)
    s += (d < 0 ? std::string("?") : num(d)) + "x";
  return s + element + ">";
}

/// Every tensor argument after x and logits: name and type, in order.
struct Arg {
  std::string name;
  std::vector<int64_t> shape;
  DType dtype;
  float scale; // fillRandom's range (floats), or the value of a scale
  bool constant; // scales: every element `scale`
};

std::vector<Arg> weightArgs(const LayerConfig &c) {
  int64_t l = c.experts / c.world, h = c.hidden, i = c.inter;
  int64_t s = c.sharedInter, g = c.groupSize;
  bool q8 = c.quant == "w8a8", q4 = c.quant == "w4a8";
  DType wt = q8 ? DType::I8 : q4 ? DType::I4 : DType::F32;
  // Scales that keep the activations near 1 (checkFinite stays quiet).
  float s8 = 1e-3f, s4 = 1e-2f;
  std::vector<Arg> a = {
      {"w13", {l, h, 2 * i}, wt, 1.0f / std::sqrt(float(h)), false},
      {"w2", {l, i, h}, wt, 1.0f / std::sqrt(float(i)), false}};
  if (q8 || q4) {
    a.push_back({"s13", {l, 2 * i}, DType::F32, q8 ? s8 : s4, true});
    a.push_back({"s2", {l, h}, DType::F32, q8 ? s8 : s4, true});
  }
  if (q4) {
    a.push_back({"g13", {l, h / g, 2 * i}, DType::F32, 1.0f, true});
    a.push_back({"g2", {l, i / g, h}, DType::F32, 1.0f, true});
  }
  if (s == 0)
    return a;
  a.push_back({"sw13", {h, 2 * s}, wt, 1.0f / std::sqrt(float(h)), false});
  a.push_back({"sw2", {s, h}, wt, 1.0f / std::sqrt(float(s)), false});
  if (q8) {
    a.push_back({"ss13", {2 * s}, DType::F32, s8, true});
    a.push_back({"ss2", {h}, DType::F32, s8, true});
  }
  if (q4) { // weight-only: y = x (W * antiquant), x in [-1, 1]
    a.push_back({"sg13", {h / g, 2 * s}, DType::F32, s4, true});
    a.push_back({"sg2", {s / g, h}, DType::F32, s4, true});
  }
  return a;
}

const char *elementName(DType t) {
  return t == DType::I8 ? "i8" : t == DType::I4 ? "i4" : "f32";
}

/// "%a, %b : type_a, type_b" of the named arguments.
std::string operands(const std::vector<Arg> &args,
                     std::initializer_list<const char *> names) {
  std::string vals, types;
  for (const char *n : names)
    for (const Arg &a : args)
      if (a.name == n) {
        vals += (vals.empty() ? "%" : ", %") + a.name;
        types += (types.empty() ? "" : ", ") + ty(a.shape, elementName(a.dtype));
      }
  return vals + " : " + types;
}

} // namespace

std::string checkLayerConfig(const LayerConfig &c) {
  if (c.quant != "none" && c.quant != "w8a8" && c.quant != "w4a8")
    return "--quant must be none, w8a8 or w4a8, not '" + c.quant + "'";
  if (c.hidden < 1 || c.experts < 1 || c.topK < 1 || c.inter < 1 ||
      c.tokens < 0 || c.world < 1 || c.sharedInter < 0)
    return "--hidden, --experts, --top-k, --inter and --world must be "
           "positive, --tokens and --shared-inter not negative";
  if (c.topK > c.experts)
    return "--top-k " + num(c.topK) + " exceeds --experts " + num(c.experts);
  if (c.experts % c.world)
    return "--world " + num(c.world) + " does not divide --experts " +
           num(c.experts);
  if (c.quant != "w4a8")
    return "";
  if (c.groupSize < 1)
    return "--group-size must be positive";
  for (auto [name, k] : {std::pair<const char *, int64_t>{"--hidden", c.hidden},
                         {"--inter", c.inter},
                         {"--shared-inter", c.sharedInter}})
    if (k % c.groupSize)
      return "w4a8: --group-size " + num(c.groupSize) + " does not divide " +
             name + " " + num(k);
  if (c.hidden % 2)
    return "w4a8: --hidden must be even (i4 rows are whole bytes)";
  return "";
}

std::string layerText(const LayerConfig &c) {
  bool q8 = c.quant == "w8a8", q4 = c.quant == "w4a8";
  std::vector<Arg> args = weightArgs(c);
  int64_t l = c.experts / c.world;
  std::string h = num(c.hidden), m = c.method, k = num(c.topK);
  std::string act = ty({-1, c.hidden}, "f32"), lg = ty({-1, c.experts}, "f32");
  std::string kw = ty({-1, c.topK}, "f32"), ki = ty({-1, c.topK}, "i32");
  std::string counts = ty({l}, "i64");
  std::string quantAttr =
      q8 ? " quant <w8a8_dynamic>"
         : q4 ? " quant <w4a8_dynamic, group_size = " + num(c.groupSize) + ">"
              : "";
  std::string s = "module attributes {moe.chip = #moe.chip<A3>, moe.layout = "
                  "#moe.layout<tp = 1, dp = " +
                  num(c.world) + ", expert_parallel = true>} {\n";
  s += "func.func @layer(%x: " + act + ", %logits: " + lg;
  for (const Arg &a : args)
    s += ", %" + a.name + ": " + ty(a.shape, elementName(a.dtype));
  s += ") -> " + act + " {\n";
  s += "  %h, %lg, %p = moe.prepare %x, %logits : " + act + ", " + lg +
       " -> !moe.prepare_ctx<" + m + ">\n";
  s += "  %w, %ids = moe.gate %lg top_k(" + k + ") softmax renormalize : " +
       lg + " -> " + kw + ", " + ki + "\n";
  s += "  %rows, %counts, %d = moe.dispatch %h, %w, %ids experts(" +
       num(c.experts) + ") : " + act + ", " + kw + ", " + ki + " -> " +
       counts + ", !moe.dispatch_ctx<" + m + ">\n";
  s += "  %y = moe.experts %rows, %counts weights(" +
       operands(args, {"w13", "w2"}) + ")";
  if (q8 || q4)
    s += " scales(" + operands(args, {"s13", "s2"}) + ")";
  if (q4)
    s += " group_scales(" + operands(args, {"g13", "g2"}) + ")";
  s += quantAttr + " : " + act + ", " + counts + "\n";
  s += "  %o = moe.combine %y, %d : " + act + ", !moe.dispatch_ctx<" + m +
       ">\n";
  std::string shared;
  if (c.sharedInter > 0) {
    s += "  %s = moe.shared_experts %x weights(" +
         operands(args, {"sw13", "sw2"}) + ")";
    if (q8)
      s += " scales(" + operands(args, {"ss13", "ss2"}) + ")";
    if (q4)
      s += " group_scales(" + operands(args, {"sg13", "sg2"}) + ")";
    s += quantAttr + " : " + act + "\n";
    shared = " shared(%s : " + act + ")";
  }
  s += "  %r = moe.finalize %o, %p" + shared + " : " + act +
       ", !moe.prepare_ctx<" + m + ">\n";
  s += "  return %r : " + act + "\n}\n}\n";
  return s;
}

void fillRandom(Tensor &t, float scale, uint64_t seed) {
  // splitmix64: the weights are gigabytes, std::mt19937 takes seconds.
  uint64_t state = seed;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  // (The counts once: a store through int8_t* may alias the tensor's
  // shape, so a count in the loop condition was recomputed per element.)
  const int64_t n = t.numel();
  if (t.dtype == DType::F32) {
    float *p = t.data<float>();
    for (int64_t i = 0; i < n; ++i) // 24 random bits -> [-1, 1)
      p[i] = scale * (static_cast<float>(next() >> 40) * 0x1p-23f - 1.0f);
  } else if (t.dtype == DType::I8) {
    int8_t *p = t.data<int8_t>();
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<int8_t>(static_cast<int>(next() % 255) - 127);
  } else { // I4: every nibble of every byte uniform in [-8, 7]
    uint8_t *p = t.bytes();
    const size_t bytes = t.nbytes();
    for (size_t i = 0; i < bytes; ++i)
      p[i] = static_cast<uint8_t>(next() >> 56);
  }
}

std::vector<Tensor> layerInputs(const LayerConfig &c, int rank) {
  Tensor x = Tensor::empty(DType::F32, {c.tokens, c.hidden});
  fillRandom(x, 1.0f, 1 + rank);
  Tensor logits = Tensor::empty(DType::F32, {c.tokens, c.experts});
  fillRandom(logits, 4.0f, 300 + rank);
  std::vector<Tensor> in = {x, logits};
  uint64_t seed = 100 * (rank + 1);
  for (const Arg &a : weightArgs(c)) {
    Tensor t = Tensor::empty(a.dtype, a.shape);
    if (a.constant)
      for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = a.scale;
    else
      fillRandom(t, a.scale, ++seed);
    in.push_back(t);
  }
  return in;
}
