//===- HostThreads.cpp - reused threads for hosts and stream workers ------===//

#include "moe/Runtime/HostThreads.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace moert {

/// One thread of the set: runs the functions handed to it, one at a time.
struct HostThread::Slot {
  std::mutex mutex;
  std::condition_variable changed;
  std::function<void()> fn; // the function to run, empty when parked
  bool done = true;         // fn has returned

  void loop() {
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      changed.wait(lock, [&] { return static_cast<bool>(fn); });
      std::function<void()> run = std::move(fn);
      fn = nullptr;
      lock.unlock();
      run();
      run = nullptr; // its captures die before the joiner resumes
      lock.lock();
      done = true;
      changed.notify_all();
    }
  }
};

namespace {
/// The parked slots. Never destroyed: parked threads wait on their slots
/// until the process exits.
struct Parked {
  std::mutex mutex;
  std::map<int, std::vector<HostThread::Slot *>> slots; // per role
};
Parked &parked() {
  static Parked *p = new Parked;
  return *p;
}
} // namespace

HostThread::HostThread(std::function<void()> fn, int role)
    : slot(nullptr), role(role) {
  Parked &p = parked();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    std::vector<Slot *> &mine = p.slots[role];
    if (!mine.empty()) {
      slot = mine.back();
      mine.pop_back();
    }
  }
  if (!slot) {
    auto fresh = std::make_unique<Slot>();
    std::thread([s = fresh.get()] { s->loop(); }).detach(); // may throw
    slot = fresh.release();
  }
  {
    std::lock_guard<std::mutex> lock(slot->mutex);
    slot->done = false;
    slot->fn = std::move(fn);
  }
  slot->changed.notify_all();
}

void HostThread::join() {
  if (!slot)
    return;
  {
    std::unique_lock<std::mutex> lock(slot->mutex);
    slot->changed.wait(lock, [&] { return slot->done; });
  }
  Parked &p = parked();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.slots[role].push_back(slot);
  slot = nullptr;
}

HostThread::~HostThread() { join(); }

HostThread::HostThread(HostThread &&other) noexcept
    : slot(other.slot), role(other.role) {
  other.slot = nullptr;
}

} // namespace moert
