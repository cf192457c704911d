#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rwd {

// A fixed set of threads draining a bounded FIFO of tasks. Used for the work that must stay
// off the network threads: password hashing and blocking database reads. try_submit refuses
// work beyond max_queued so a burst turns into "overloaded" answers instead of unbounded
// memory and latency.
class ThreadPool {
 public:
  // nice > 0 lowers the threads' scheduling priority (CPU-heavy work that must not slow the
  // network threads down).
  ThreadPool(std::string name, int threads, size_t max_queued, int nice = 0);
  ~ThreadPool();  // finishes queued tasks, then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // False when the queue is full or the pool is stopping; the task is then not run.
  [[nodiscard]] bool try_submit(std::function<void()> task);
  void stop();

 private:
  void run();

  const std::string name_;
  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace rwd
