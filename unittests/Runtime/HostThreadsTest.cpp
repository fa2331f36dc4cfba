//===- HostThreadsTest.cpp - reused host and stream threads ---------------===//

#include "moe/Runtime/HostThreads.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

using namespace moert;

TEST(HostThreads, RunsOnAnotherThreadAndJoinWaits) {
  std::atomic<bool> finished{false};
  std::thread::id ran;
  HostThread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ran = std::this_thread::get_id();
    finished = true;
  });
  t.join();
  EXPECT_TRUE(finished);
  EXPECT_NE(ran, std::this_thread::get_id());
  t.join(); // a second join is a no-op
}

TEST(HostThreads, ParkedThreadsAreReused) {
  // One at a time: every use after the first finds a parked thread, so a
  // few distinct threads serve 50 uses (other tests' threads may be
  // parked too).
  std::set<std::thread::id> ids;
  for (int i = 0; i < 50; ++i) {
    std::thread::id id;
    HostThread t([&] { id = std::this_thread::get_id(); });
    t.join();
    ids.insert(id);
  }
  EXPECT_LE(ids.size(), 4u);
  // Several at once run concurrently, on distinct threads: each waits for
  // all to have started.
  std::atomic<int> started{0};
  std::vector<HostThread> group;
  for (int i = 0; i < 4; ++i)
    group.emplace_back([&] {
      ++started;
      while (started < 4)
        std::this_thread::yield();
    });
  for (HostThread &t : group)
    t.join();
  EXPECT_EQ(started, 4);
}

TEST(HostThreads, RolesKeepTheirThreads) {
  // A thread parked by role 5 serves role 5 again, never role 6.
  auto idOf = [](int role) {
    std::thread::id id;
    HostThread t([&] { id = std::this_thread::get_id(); }, role);
    t.join();
    return id;
  };
  std::thread::id five = idOf(5);
  EXPECT_NE(idOf(6), five);
  EXPECT_EQ(idOf(5), five);
}

TEST(HostThreads, DestructorJoinsAndMovesTransferTheThread) {
  std::atomic<int> runs{0};
  {
    HostThread a([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      ++runs;
    });
    HostThread b(std::move(a));
    a.join(); // moved from: nothing to wait for
  } // b joins here
  EXPECT_EQ(runs, 1);
}
