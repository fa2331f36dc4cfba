//===- StreamsTest.cpp - a stream's worker and drain ----------------------===//
//
// Stream (lib/Runtime/Streams/Streams.cpp): tasks run in issue order on the
// stream's worker, drain() returns once every issued task has run, and a
// thread in drain() sleeps until then instead of being woken after every
// task (each wake-up let the host thread preempt the worker between tasks
// on a loaded machine: moe-layer-bench --overlap measured 6-20 ms per step
// of 4 ranks on 2 cores with no stream busy, 1.3 ms after the fix).
//
//===----------------------------------------------------------------------===//

#include "moe/Runtime/Streams.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using namespace moert;

namespace {

/// Busy for `us` microseconds (a task that computes, not one that sleeps).
void spin(int us) {
  auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < end) {
  }
}

/// Times the calling thread blocked (voluntary context switches).
long voluntarySwitches() {
  struct rusage u;
  EXPECT_EQ(getrusage(RUSAGE_THREAD, &u), 0);
  return u.ru_nvcsw;
}

} // namespace

TEST(Streams, DrainReturnsAfterEveryTaskInIssueOrder) {
  auto world = createThreadWorld(Layout{}, 30);
  RankRuntime rank(*world, 0, 1);
  Stream &s = rank.stream(0);
  std::mutex mutex;
  std::vector<int> ran;
  for (int i = 0; i < 50; ++i) {
    Task t;
    t.op = "test.task";
    t.run = [&, i](Stream &) {
      spin(i % 7 == 0 ? 300 : 20);
      std::lock_guard<std::mutex> lock(mutex);
      ran.push_back(i);
    };
    s.enqueue(std::move(t));
  }
  s.drain();
  std::vector<int> expected;
  for (int i = 0; i < 50; ++i)
    expected.push_back(i);
  std::lock_guard<std::mutex> lock(mutex);
  EXPECT_EQ(ran, expected);
  EXPECT_EQ(s.nextSeq(), 51u);
}

TEST(Streams, DrainOfAnEmptyOrDrainedStreamReturns) {
  auto world = createThreadWorld(Layout{}, 30);
  RankRuntime rank(*world, 0, 1);
  Stream &s = rank.stream(3);
  s.drain(); // nothing issued
  bool ran = false;
  Task t;
  t.op = "test.task";
  t.run = [&](Stream &) { ran = true; };
  s.enqueue(std::move(t));
  s.drain();
  EXPECT_TRUE(ran);
  s.drain(); // drained already
}

TEST(Streams, DrainSleepsUntilTheStreamIsDrained) {
  // 200 tasks of 150 us: a thread in drain() used to wake (and block again)
  // after nearly every one of them.
  auto world = createThreadWorld(Layout{}, 30);
  RankRuntime rank(*world, 0, 1);
  Stream &s = rank.stream(0);
  const int tasks = 200;
  int ran = 0; // only the worker writes it; drain() orders the read
  for (int i = 0; i < tasks; ++i) {
    Task t;
    t.op = "test.task";
    t.run = [&](Stream &) {
      spin(150);
      ++ran;
    };
    s.enqueue(std::move(t));
  }
  long before = voluntarySwitches();
  s.drain();
  long blocked = voluntarySwitches() - before;
  EXPECT_EQ(ran, tasks);
  // Once to sleep; a few spurious wake-ups at most.
  EXPECT_LE(blocked, 5) << "drain() blocked " << blocked << " times for "
                        << tasks << " tasks";
}

// A stream is parked when its RankRuntime ends and taken by the next one
// (the same stream and worker thread, its positions counting on); its tasks
// report to that runtime (a failure of the previous run does not carry
// over), and they run on that runtime's kernel thread count.
TEST(Streams, AStreamOutlivesItsRuntime) {
  auto world = createThreadWorld(Layout{}, 30);
  std::thread::id firstWorker, secondWorker;
  Stream *first = nullptr;
  {
    RankRuntime rank(*world, 0, 3);
    Stream &s = rank.stream(1);
    first = &s;
    Task t;
    t.op = "test.task";
    t.run = [&](Stream &st) {
      firstWorker = std::this_thread::get_id();
      EXPECT_EQ(kernelThreads(), 3);
      st.clock()[0] = 1000; // as if an event had ordered stream 0 first
      throw Error("the first run fails");
    };
    s.enqueue(std::move(t));
    rank.synchronize();
    EXPECT_TRUE(rank.failed());
  }
  RankRuntime rank(*world, 0, 2);
  Stream &s = rank.stream(1);
  EXPECT_EQ(&s, first);
  bool ran = false;
  Task t;
  t.op = "test.task";
  t.run = [&](Stream &st) {
    secondWorker = std::this_thread::get_id();
    EXPECT_EQ(kernelThreads(), 2);
    // The previous run's knowledge of other streams is gone (it could be
    // of another rank's streams, whose positions count differently).
    EXPECT_EQ(st.clock().count(0), 0u);
    EXPECT_EQ(st.clock().count(1), 1u);
    ran = true;
  };
  s.enqueue(std::move(t));
  rank.synchronize();
  EXPECT_TRUE(ran); // not skipped as a task of a failed rank
  EXPECT_FALSE(rank.failed());
  EXPECT_EQ(firstWorker, secondWorker);
  EXPECT_EQ(s.nextSeq(), 3u); // positions go on counting
}

// Stream::bind refuses a stream that still has tasks: they would report to
// the wrong runtime.
TEST(Streams, BindRefusesAStreamWithTasks) {
  auto world = createThreadWorld(Layout{}, 30);
  RankRuntime rank(*world, 0, 1);
  Stream &s = rank.stream(2);
  std::mutex mutex;
  std::unique_lock<std::mutex> hold(mutex); // the task waits for this
  Task t;
  t.op = "test.task";
  t.run = [&](Stream &) { std::lock_guard<std::mutex> wait(mutex); };
  s.enqueue(std::move(t));
  try {
    s.bind(&rank, 1);
    ADD_FAILURE() << "bind accepted a stream with a task";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(), "a stream is bound while it still has tasks");
  }
  hold.unlock();
  s.drain();
  s.bind(&rank, 1); // drained: accepted
}

// RankRuntime::runTasksOnIssuingThread: every task runs on the thread that
// issues it, before enqueue returns, in issue order, with the stream's
// clock, kernel threads, failure and profile as on a worker (and the
// issuing thread's own kernel thread count back afterwards); a stream of
// the next run without it hands its tasks to the worker again.
TEST(Streams, TasksOnTheIssuingThread) {
  auto world = createThreadWorld(Layout{}, 30);
  std::thread::id here = std::this_thread::get_id();
  int own = kernelThreads();
  {
    RankRuntime rank(*world, 0, 3);
    rank.runTasksOnIssuingThread();
    rank.enableProfiling();
    Stream &s = rank.stream(4);
    uint64_t first = s.nextSeq(); // positions go on across runs
    std::vector<int> order;
    for (int i = 0; i < 3; ++i) {
      Task t;
      t.op = "test.step";
      t.run = [&, i](Stream &st) {
        EXPECT_EQ(std::this_thread::get_id(), here);
        EXPECT_EQ(kernelThreads(), 3);
        EXPECT_EQ(st.clock().at(4), first + static_cast<uint64_t>(i));
        order.push_back(i);
      };
      s.enqueue(std::move(t));
      EXPECT_EQ(order.size(), static_cast<size_t>(i + 1)); // already ran
      EXPECT_EQ(kernelThreads(), own); // the issuing thread's, restored
    }
    // A throwing task fails the rank; the next one is skipped.
    Task bad;
    bad.op = "test.bad";
    bad.run = [](Stream &) { throw Error("no such thing"); };
    s.enqueue(std::move(bad));
    EXPECT_TRUE(rank.failed());
    EXPECT_EQ(rank.error(), "rank 0: no such thing (test.bad)");
    Task skipped;
    skipped.op = "test.step";
    skipped.run = [&](Stream &) { order.push_back(99); };
    s.enqueue(std::move(skipped));
    rank.synchronize();
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    EXPECT_EQ(rank.profile()["test.step"].calls, 3);
    EXPECT_EQ(s.nextSeq(), first + 5);
  }
  RankRuntime next(*world, 0, 1);
  Stream &s = next.stream(4); // the parked stream, bound without the mode
  std::thread::id ranOn;
  Task t;
  t.op = "test.step";
  t.run = [&](Stream &) { ranOn = std::this_thread::get_id(); };
  s.enqueue(std::move(t));
  next.synchronize();
  EXPECT_NE(ranOn, here);
  EXPECT_NE(ranOn, std::thread::id());
}
