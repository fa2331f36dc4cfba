//===- MpiWorldCheck.cpp - the MPI world against the thread world ---------===//
//
//   mpirun -n N moe-mpi-world-check [--timeout S]
//
// Every process runs the same collectives twice: as its rank of the MPI
// world, and as every rank of a thread world of the same layout (threads of
// this process). Its MPI results and error messages must equal its rank's
// thread-world ones byte for byte: every collective on every group of
// every layout of N ranks, reductions whose value depends on the order of
// addition, validation errors, and two streams communicating concurrently.
// Prints "rank <r>: <k> checks (<e> with errors), all identical" and exits
// 0, or names every difference and exits 1 (every process exits 1 if one
// differs).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Comm.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace moert;

namespace {

/// What one rank saw: a result (serialized) or an error message.
struct Outcome {
  std::string error;
  std::vector<uint8_t> bytes;
  bool operator==(const Outcome &o) const {
    return error == o.error && bytes == o.bytes;
  }
};

void put(Outcome &o, const Tensor &t) {
  std::string head = std::string(dtypeName(t.dtype)) + t.str() + ";";
  o.bytes.insert(o.bytes.end(), head.begin(), head.end());
  if (t.nbytes())
    o.bytes.insert(o.bytes.end(), t.bytes(), t.bytes() + t.nbytes());
}

void put(Outcome &o, int64_t v) {
  const auto *p = reinterpret_cast<const uint8_t *>(&v);
  o.bytes.insert(o.bytes.end(), p, p + sizeof(v));
}

/// A scenario: what `rank` does on `world` (collectives on any channels).
using Scenario = std::function<void(World &, int rank, Outcome &)>;

Outcome runOne(const Scenario &s, World &world, int rank) {
  Outcome o;
  try {
    s(world, rank, o);
  } catch (const std::exception &e) {
    o.error = e.what();
  }
  return o;
}

/// Values whose sum depends on the order of addition.
Tensor wide(DType dtype, std::vector<int64_t> shape, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> mant(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exp(-20, 20);
  Tensor f = Tensor::empty(DType::F32, shape);
  for (int64_t i = 0; i < f.numel(); ++i)
    f.data<float>()[i] = std::ldexp(mant(rng), exp(rng));
  return isFloat(dtype) && dtype != DType::F32 ? convertFloat(f, dtype) : f;
}

template <typename T>
Tensor ints(DType dtype, std::vector<int64_t> shape, unsigned seed) {
  std::mt19937_64 rng(seed);
  Tensor t = Tensor::empty(dtype, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data<T>()[i] = static_cast<T>(rng());
  return t;
}

std::vector<Scenario> scenarios() {
  std::vector<Scenario> out;
  const Group groups[] = {Group::World, Group::TP, Group::DP, Group::EP};
  for (Group g : groups) {
    // Row movement: uneven (and empty) rows, bf16 and int4.
    out.push_back([g](World &w, int r, Outcome &o) {
      Comm &c = w.comm(r, g, 0);
      put(o, c.allGather(wide(DType::BF16, {r % 3, 2, 3}, 1 + r)));
      Tensor q = Tensor::empty(DType::I4, {r + 1, 4});
      std::memset(q.bytes(), 0x5a + r, q.nbytes());
      put(o, c.allGather(q));
      put(o, c.allGather(Tensor::empty(DType::F32, {0, 5})));
    });
    // Reductions in rank order (f32, bf16, f16; i32 wraps; max with NaN).
    out.push_back([g](World &w, int r, Outcome &o) {
      Comm &c = w.comm(r, g, 0);
      const int64_t n = c.size();
      put(o, c.reduceScatter(wide(DType::F32, {2 * n, 33}, 10 + r)));
      put(o, c.reduceScatter(wide(DType::BF16, {n, 7}, 20 + r)));
      put(o, c.allReduce(wide(DType::F16, {3, 5}, 30 + r), ReduceKind::Sum));
      put(o, c.allReduce(wide(DType::F32, {4099}, 40 + r), ReduceKind::Sum));
      Tensor m = wide(DType::F32, {6}, 50 + r);
      if (r == 1)
        m.data<float>()[2] = std::numeric_limits<float>::quiet_NaN();
      put(o, c.allReduce(m, ReduceKind::Max));
      put(o,
          c.allReduce(ints<int32_t>(DType::I32, {9}, 60 + r), ReduceKind::Sum));
      put(o,
          c.allReduce(ints<int64_t>(DType::I64, {9}, 70 + r), ReduceKind::Max));
      put(o, c.allReduce(Tensor::empty(DType::F32, {0, 4}), ReduceKind::Sum));
      put(o, c.allReduceScalar(int64_t(1) << (60 + r % 3), ReduceKind::Sum));
      put(o, c.allReduceScalar(-r, ReduceKind::Max));
    });
    // All-to-all-v with uneven splits, and exchange of blobs.
    out.push_back([g](World &w, int r, Outcome &o) {
      Comm &c = w.comm(r, g, 0);
      const int n = c.size(), me = c.rank();
      auto split = [](int from, int to) { return (from * 7 + to * 3) % 4; };
      std::vector<int64_t> send, recv;
      int64_t rows = 0;
      for (int p = 0; p < n; ++p) {
        send.push_back(split(me, p));
        recv.push_back(split(p, me));
        rows += send.back();
      }
      put(o, c.allToAllV(wide(DType::F32, {rows, 3}, 80 + r), send, recv));
      std::vector<std::vector<uint8_t>> blobs(static_cast<size_t>(n));
      for (int p = 0; p < n; ++p)
        blobs[static_cast<size_t>(p)].assign(static_cast<size_t>(p * me),
                                             static_cast<uint8_t>(r + p));
      for (const std::vector<uint8_t> &b : c.exchange(blobs)) {
        put(o, static_cast<int64_t>(b.size()));
        o.bytes.insert(o.bytes.end(), b.begin(), b.end());
      }
    });
    // Validation errors: every member gets the same message, the
    // communicator stays usable.
    out.push_back([g](World &w, int r, Outcome &o) {
      Comm &c = w.comm(r, g, 0);
      const int n = c.size();
      auto attempt = [&](const std::function<void()> &f) {
        try {
          f();
        } catch (const Error &e) {
          o.error += std::string(e.what()) + "\n";
        }
      };
      attempt([&] {
        c.allReduce(Tensor::zeros(DType::F32, {c.rank() + 1, 2}),
                    ReduceKind::Sum);
      });
      attempt([&] {
        std::vector<int64_t> send(static_cast<size_t>(n), 1), recv = send;
        recv[0] = 2;
        c.allToAllV(Tensor::zeros(DType::F32, {n, 2}), send, recv);
      });
      attempt([&] {
        if (c.rank() == 0)
          c.allGather(Tensor::zeros(DType::F32, {1, 2}));
        else
          c.allReduceScalar(1, ReduceKind::Sum);
      });
      attempt([&] { c.reduceScatter(Tensor::zeros(DType::F32, {n + 1})); });
      attempt([&] {
        c.exchange(std::vector<std::vector<uint8_t>>(
            static_cast<size_t>(c.rank() == n - 1 ? n + 1 : n)));
      });
      attempt([&] {
        c.allGather(Tensor::zeros(c.rank() ? DType::F16 : DType::F32, {1, 2}));
      });
      put(o, c.allReduceScalar(r, ReduceKind::Sum));
    });
  }
  // Two streams at once: channels 1 and 2 run on two threads of the rank,
  // on different groups, in a different order per rank; then the host
  // channel.
  out.push_back([](World &w, int r, Outcome &o) {
    Outcome side[2];
    auto stream = [&](int channel) {
      try {
        for (int i = 0; i < 12; ++i) {
          Group g = (i + channel) % 2 ? Group::TP : Group::World;
          Comm &c = w.comm(r, g, channel);
          put(side[channel - 1],
              c.allReduce(wide(DType::BF16, {64}, 100 * channel + 7 * i + r),
                          ReduceKind::Sum));
          put(side[channel - 1],
              c.allGather(wide(DType::F32, {(r + i) % 3, 2}, 300 + i)));
        }
      } catch (const std::exception &e) {
        side[channel - 1].error = e.what();
      }
    };
    std::thread second(stream, r % 2 ? 1 : 2);
    stream(r % 2 ? 2 : 1);
    second.join();
    for (Outcome &s : side) {
      o.error += s.error;
      o.bytes.insert(o.bytes.end(), s.bytes.begin(), s.bytes.end());
    }
    put(o, w.comm(r, Group::DP, 1 << 20).allReduceScalar(r, ReduceKind::Max));
  });
  return out;
}

} // namespace

int main(int argc, char **argv) {
  double timeout = 60;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--timeout")
      timeout = std::atof(argv[i + 1]);
  MpiProcessInfo info;
  try {
    info = mpiInit(&argc, &argv);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "moe-mpi-world-check: %s\n", e.what());
    return 1;
  }
  const int me = info.rank, n = info.size;
  int checks = 0, errors = 0, differences = 0;
  std::string firstDifference;
  try {
    std::vector<Scenario> all = scenarios();
    for (int tp = 1; tp <= n; ++tp) {
      if (n % tp)
        continue;
      for (bool ep : {false, true}) {
        Layout l;
        l.tp = tp;
        l.dp = n / tp;
        l.expertParallel = ep;
        std::unique_ptr<World> threads = createThreadWorld(l, timeout);
        std::unique_ptr<World> mpi = createMpiWorld(l, timeout);
        for (size_t s = 0; s < all.size(); ++s) {
          std::vector<Outcome> expected(static_cast<size_t>(n));
          std::vector<std::thread> ranks;
          for (int r = 0; r < n; ++r)
            ranks.emplace_back([&, r] {
              expected[static_cast<size_t>(r)] = runOne(all[s], *threads, r);
            });
          for (std::thread &t : ranks)
            t.join();
          Outcome got = runOne(all[s], *mpi, me);
          ++checks;
          errors += !got.error.empty();
          if (got == expected[static_cast<size_t>(me)])
            continue;
          ++differences;
          std::string what =
              "tp " + std::to_string(l.tp) + " dp " + std::to_string(l.dp) +
              (ep ? " ep" : "") + " scenario " + std::to_string(s) +
              ": threads said '" + expected[static_cast<size_t>(me)].error +
              "', MPI said '" + got.error + "'" +
              (got.bytes == expected[static_cast<size_t>(me)].bytes
                   ? ""
                   : " and the results differ");
          std::fprintf(stderr, "rank %d: DIFFERENT %s\n", me, what.c_str());
          if (firstDifference.empty())
            firstDifference = what;
        }
      }
    }
  } catch (const std::exception &e) {
    ++differences;
    firstDifference = e.what();
    std::fprintf(stderr, "rank %d: error: %s\n", me, e.what());
  }
  if (!differences)
    std::printf("rank %d: %d checks (%d with errors), all identical\n", me,
                checks, errors);
  std::fflush(stdout);
  MpiOutcome end = mpiFinish(differences == 0, firstDifference, timeout);
  if (!end.missing.empty())
    mpiAbortJob(1);
  return differences || !end.failed.empty() ? 1 : 0;
}
