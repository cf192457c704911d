#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/error.h"

namespace rwd::store {

// A worker id in 0..1023 leased from the PostgreSQL database (table worker_leases) for as
// long as this object lives, on a connection of its own (never the store's writer): a thread
// renews the lease every ttl/3 and the destructor releases it.
//
// Two processes must never make snowflakes with the same worker id, so `on_lost` runs once
// (the program exits) when this process can no longer be sure it holds the id:
//  - a renewal finds the row gone or held by another process (this process stalled past the
//    ttl and another one took the id), or
//  - no renewal has succeeded for `ttl - margin` (margin: ttl/6) since the last one started,
//    because the database is unreachable or does not answer. After a failed renewal it tries
//    again every second, and a renewal that hangs is abandoned at that line: the lease still
//    holds in the database for `margin` more, so the id is never in two live hands.
class WorkerIdLease {
 public:
  static Result<std::unique_ptr<WorkerIdLease>> acquire(const std::string& url,
                                                        int64_t ttl_us = 60'000'000,
                                                        std::function<void()> on_lost = {});
  // Leases the given id (--worker-id); fails naming the id when a live process holds it.
  // An id whose lease expired (its holder died without releasing it) is taken over.
  static Result<std::unique_ptr<WorkerIdLease>> claim(const std::string& url, int worker_id,
                                                      int64_t ttl_us = 60'000'000,
                                                      std::function<void()> on_lost = {});
  ~WorkerIdLease();
  int worker_id() const { return worker_id_; }
  // The holder string written in worker_leases.holder (host:pid:random).
  const std::string& holder() const { return holder_; }

 private:
  WorkerIdLease(std::string url, int worker_id, std::string holder, int64_t ttl_us,
                std::function<void()> on_lost);
  void renew_loop();

  const std::string url_;
  const int worker_id_;
  const std::string holder_;
  const int64_t ttl_us_;
  const std::function<void()> on_lost_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread renewer_;
};

}  // namespace rwd::store
