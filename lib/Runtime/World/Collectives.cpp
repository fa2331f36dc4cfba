//===- Collectives.cpp - checks and reductions every World shares ---------===//

#include "Collectives.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <type_traits>

namespace moert {
namespace coll {

//===----------------------------------------------------------------------===//
// Descriptions
//===----------------------------------------------------------------------===//

const char *collectiveName(Collective op) {
  switch (op) {
  case Collective::AllGather:
    return "npu.all_gather";
  case Collective::ReduceScatter:
    return "npu.reduce_scatter";
  case Collective::AllReduce:
    return "npu.all_reduce";
  case Collective::AllToAllV:
    return "npu.all_to_all_v";
  case Collective::AllReduceScalar:
    return "npu.all_reduce_scalar";
  case Collective::Exchange:
    return "exchange";
  }
  return "unknown collective";
}

// Words: op, kind, scalar, dtype (-1: no tensor), rank, shape..., send
// count (-1: none), send..., recv count, recv..., blob count (-1: none),
// blob sizes...
std::vector<int64_t> Description::encode(const Contribution &c) {
  std::vector<int64_t> w;
  w.push_back(static_cast<int64_t>(c.op));
  w.push_back(static_cast<int64_t>(c.kind));
  w.push_back(c.scalar);
  w.push_back(c.tensor ? static_cast<int64_t>(c.tensor->dtype) : -1);
  if (c.tensor) {
    w.push_back(c.tensor->rank());
    w.insert(w.end(), c.tensor->shape.begin(), c.tensor->shape.end());
  }
  for (const std::vector<int64_t> *v : {c.send, c.recv}) {
    w.push_back(v ? static_cast<int64_t>(v->size()) : -1);
    if (v)
      w.insert(w.end(), v->begin(), v->end());
  }
  w.push_back(c.blobs ? static_cast<int64_t>(c.blobs->size()) : -1);
  if (c.blobs)
    for (const std::vector<uint8_t> &b : *c.blobs)
      w.push_back(static_cast<int64_t>(b.size()));
  return w;
}

void Description::decode(const std::vector<int64_t> &w,
                         const std::string &from) {
  const std::string bad = "malformed collective description from " + from;
  size_t at = 0;
  auto next = [&]() {
    MOE_CHECK(at < w.size(), bad);
    return w[at++];
  };
  auto list = [&](int64_t n, std::vector<int64_t> &out) {
    MOE_CHECK(n >= 0 && static_cast<uint64_t>(n) <= w.size() - at, bad);
    out.assign(w.begin() + static_cast<ptrdiff_t>(at),
               w.begin() + static_cast<ptrdiff_t>(at + n));
    at += static_cast<size_t>(n);
  };
  int64_t index = next();
  MOE_CHECK(index >= 0 && index < kNumCollectives, bad);
  c.op = static_cast<Collective>(index);
  c.kind = static_cast<ReduceKind>(next());
  c.scalar = next();
  if (int64_t dtype = next(); dtype >= 0) {
    MOE_CHECK(dtype <= static_cast<int64_t>(DType::F8E5M2), bad);
    tensor.dtype = static_cast<DType>(dtype);
    list(next(), tensor.shape);
    c.tensor = &tensor;
  }
  if (int64_t n = next(); n >= 0) {
    list(n, send);
    c.send = &send;
  }
  if (int64_t n = next(); n >= 0) {
    list(n, recv);
    c.recv = &recv;
  }
  if (int64_t n = next(); n >= 0) {
    list(n, blobSizes);
    blobs.resize(blobSizes.size());
    c.blobs = &blobs;
  }
}

std::string GroupView::where() const {
  std::ostringstream os;
  os << "the " << groupName(group) << " group [";
  for (size_t i = 0; i < members.size(); ++i)
    os << (i ? ", " : "") << members[i];
  os << "] on channel " << channel;
  return os.str();
}

std::string GroupView::rankOf(size_t member) const {
  return "rank " + std::to_string(members[member]);
}

namespace {

const char *kindName(ReduceKind kind) {
  return kind == ReduceKind::Max ? "max" : "sum";
}

std::vector<int64_t> trailing(const Tensor &t) {
  return std::vector<int64_t>(t.shape.begin() + (t.shape.empty() ? 0 : 1),
                              t.shape.end());
}

inline float maxF(float a, float b) { return (b > a || std::isnan(b)) ? b : a; }

template <typename T> T reduceInt(T a, T b, ReduceKind kind) {
  using U = typename std::make_unsigned<T>::type; // wrap, never UB
  if (kind == ReduceKind::Max)
    return std::max(a, b);
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}

void checkKind(ReduceKind kind, const std::string &op) {
  MOE_CHECK(kind == ReduceKind::Sum || kind == ReduceKind::Max,
            op + ": unknown reduce kind " +
                std::to_string(static_cast<int32_t>(kind)));
}

/// Every member passes rows of one type and trailing shape.
void checkRows(const Inputs &in, const GroupView &g, const std::string &op,
               size_t p) {
  const Tensor &first = *in[0]->tensor;
  const Tensor &t = *in[p]->tensor;
  MOE_CHECK(t.rank() >= 1, op + ": " + g.rankOf(p) + " passes " + t.str() +
                               ", which has no rows (" + g.where() + ")");
  MOE_CHECK(t.dtype == first.dtype && trailing(t) == trailing(first),
            op + ": " + g.rankOf(0) + " passes " + first.str() + ", " +
                g.rankOf(p) + " passes " + t.str() +
                "; the type and all but the first dimension must agree (" +
                g.where() + ")");
}

/// The checks shared by reductions: equal shapes and types, a supported
/// type, one reduce kind.
void checkReduction(const Inputs &in, const std::string &op, const GroupView &g,
                    bool intsToo) {
  const Tensor &first = *in[0]->tensor;
  for (size_t p = 0; p < in.size(); ++p) {
    const Tensor &t = *in[p]->tensor;
    MOE_CHECK(t.dtype == first.dtype && t.shape == first.shape,
              op + ": " + g.rankOf(0) + " passes " + first.str() + ", " +
                  g.rankOf(p) + " passes " + t.str() +
                  "; shapes and types must agree (" + g.where() + ")");
    MOE_CHECK(in[p]->kind == in[0]->kind,
              op + ": " + g.rankOf(0) + " asks for " + kindName(in[0]->kind) +
                  ", " + g.rankOf(p) + " for " + kindName(in[p]->kind) + " (" +
                  g.where() + ")");
  }
  bool ok =
      isFloat(first.dtype) ||
      (intsToo && (first.dtype == DType::I32 || first.dtype == DType::I64));
  MOE_CHECK(ok,
            op + ": cannot reduce " + first.str() + " (" +
                (intsToo ? "f32, bf16, f16, i32 or i64" : "f32, bf16 or f16") +
                ")");
}

} // namespace

size_t rowBytes(const Tensor &t, const std::string &op) {
  int64_t elems = t.rowElems();
  MOE_CHECK(t.dtype != DType::I4 || elems % 2 == 0,
            op + ": rows of " + t.str() + " do not fill whole bytes");
  return storageBytes(t.dtype, elems);
}

void checkSameOp(const Inputs &in, const GroupView &g, uint64_t seq,
                 const std::string &op) {
  for (size_t p = 0; p < in.size(); ++p)
    if (in[p]->op != in[0]->op)
      throw Error(op + ": collectives do not match on " + g.where() +
                  " (call #" + std::to_string(seq) + "): " + g.rankOf(0) +
                  " calls " + collectiveName(in[0]->op) + ", " + g.rankOf(p) +
                  " calls " + collectiveName(in[p]->op));
}

RowPlan checkAllGather(const Inputs &in, const GroupView &g) {
  const std::string op = "npu.all_gather";
  int64_t rows = 0;
  for (size_t p = 0; p < in.size(); ++p) {
    checkRows(in, g, op, p);
    rows += in[p]->tensor->rows();
  }
  const Tensor &first = *in[0]->tensor;
  RowPlan plan;
  plan.shape = first.shape;
  plan.shape[0] = rows;
  plan.rowBytes = rowBytes(first, op);
  return plan;
}

std::vector<int64_t> checkReduceScatter(const Inputs &in, const GroupView &g) {
  const std::string op = "npu.reduce_scatter";
  checkReduction(in, op, g, /*intsToo=*/false);
  const Tensor &first = *in[0]->tensor;
  const int64_t n = static_cast<int64_t>(in.size());
  MOE_CHECK(first.rank() >= 1 && first.rows() % n == 0,
            op + ": " + first.str() + " has no rows divisible by the " +
                std::to_string(n) + " ranks of " + g.where());
  std::vector<int64_t> shape = first.shape;
  shape[0] /= n;
  return shape;
}

void checkAllReduce(const Inputs &in, const GroupView &g, ReduceKind kind) {
  const std::string op = "npu.all_reduce";
  checkKind(kind, op);
  checkReduction(in, op, g, /*intsToo=*/true);
}

RowPlan checkAllToAllV(const Inputs &in, const GroupView &g) {
  const std::string op = "npu.all_to_all_v";
  const size_t n = in.size();
  for (size_t p = 0; p < n; ++p) {
    const Contribution &c = *in[p];
    checkRows(in, g, op, p);
    MOE_CHECK(c.send->size() == n && c.recv->size() == n,
              op + ": " + g.rankOf(p) + " passes " +
                  std::to_string(c.send->size()) + " send and " +
                  std::to_string(c.recv->size()) +
                  " receive splits; the group has " + std::to_string(n) +
                  " ranks (" + g.where() + ")");
    int64_t sum = 0;
    for (size_t q = 0; q < n; ++q) {
      MOE_CHECK((*c.send)[q] >= 0 && (*c.recv)[q] >= 0,
                op + ": " + g.rankOf(p) + " passes a negative split for " +
                    g.rankOf(q) + " (" + g.where() + ")");
      sum += (*c.send)[q];
    }
    MOE_CHECK(sum == c.tensor->rows(),
              op + ": " + g.rankOf(p) + " sends " + std::to_string(sum) +
                  " rows of " + c.tensor->str() + " (" + g.where() + ")");
  }
  for (size_t p = 0; p < n; ++p)
    for (size_t q = 0; q < n; ++q)
      MOE_CHECK((*in[p]->recv)[q] == (*in[q]->send)[p],
                op + ": " + g.rankOf(p) + " expects " +
                    std::to_string((*in[p]->recv)[q]) + " rows from " +
                    g.rankOf(q) + ", which sends it " +
                    std::to_string((*in[q]->send)[p]) + " (" + g.where() + ")");
  const Tensor &first = *in[0]->tensor;
  int64_t rows = 0;
  for (int64_t r : *in[static_cast<size_t>(g.rank)]->recv)
    rows += r;
  RowPlan plan;
  plan.shape = first.shape;
  plan.shape[0] = rows;
  plan.rowBytes = rowBytes(first, op);
  return plan;
}

void checkAllReduceScalar(const Inputs &in, const GroupView &g,
                          ReduceKind kind) {
  const std::string op = "npu.all_reduce_scalar";
  checkKind(kind, op);
  for (size_t p = 0; p < in.size(); ++p)
    MOE_CHECK(in[p]->kind == kind,
              op + ": " + g.rankOf(0) + " asks for " + kindName(in[0]->kind) +
                  ", " + g.rankOf(p) + " for " + kindName(in[p]->kind) + " (" +
                  g.where() + ")");
}

void checkExchange(const Inputs &in, const GroupView &g) {
  for (size_t p = 0; p < in.size(); ++p)
    MOE_CHECK(in[p]->blobs->size() == in.size(),
              "exchange: " + g.rankOf(p) + " passes " +
                  std::to_string(in[p]->blobs->size()) +
                  " blobs; the group has " + std::to_string(in.size()) +
                  " ranks (" + g.where() + ")");
}

void reduceElements(const std::vector<const Tensor *> &in, int64_t begin,
                    int64_t n, ReduceKind kind, const Tensor &out) {
  const DType dtype = in[0]->dtype;
  const int64_t chunk = 2048;
  if (isFloat(dtype)) {
    std::vector<float> acc(chunk), next(chunk);
    for (int64_t i = 0; i < n; i += chunk) {
      const int64_t c = std::min(chunk, n - i);
      loadF32(*in[0], begin + i, c, acc.data());
      for (size_t m = 1; m < in.size(); ++m) {
        loadF32(*in[m], begin + i, c, next.data());
        if (kind == ReduceKind::Sum)
          for (int64_t j = 0; j < c; ++j)
            acc[j] += next[j];
        else
          for (int64_t j = 0; j < c; ++j)
            acc[j] = maxF(acc[j], next[j]);
      }
      storeF32(out, i, c, acc.data());
    }
    return;
  }
  auto ints = [&](auto *tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T *o = out.data<T>();
    const T *first = in[0]->data<T>() + begin;
    std::copy(first, first + n, o);
    for (size_t m = 1; m < in.size(); ++m) {
      const T *src = in[m]->data<T>() + begin;
      for (int64_t j = 0; j < n; ++j)
        o[j] = reduceInt(o[j], src[j], kind);
    }
  };
  if (dtype == DType::I32)
    ints(static_cast<int32_t *>(nullptr));
  else if (dtype == DType::I64)
    ints(static_cast<int64_t *>(nullptr));
  else
    throw Error(std::string("reduction of ") + dtypeName(dtype));
}

int64_t reduceScalars(const Inputs &in, ReduceKind kind) {
  int64_t out = in[0]->scalar;
  for (size_t p = 1; p < in.size(); ++p)
    out = reduceInt(out, in[p]->scalar, kind);
  return out;
}

std::string seconds(double s) {
  std::ostringstream os;
  os << s;
  return os.str();
}

std::string timeoutReason(double seconds, const std::string &op,
                          const GroupView &g, uint64_t seq,
                          const std::vector<int> &missing) {
  std::ostringstream why;
  why << "timed out after " << seconds << " s in " << op << " on " << g.where()
      << " (call #" << seq << ") waiting for rank"
      << (missing.size() > 1 ? "s " : " ");
  for (size_t i = 0; i < missing.size(); ++i)
    why << (i ? ", " : "") << missing[i];
  return why.str();
}

} // namespace coll
} // namespace moert
