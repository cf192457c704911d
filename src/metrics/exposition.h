#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "metrics/counters.h"

// The Prometheus text format of the process's counters (counters.h) and of the values other
// parts already keep (the store's failures, the broker's), built with prometheus-cpp's
// registry types and TextSerializer at scrape time. prometheus-cpp stays inside
// exposition.cc.
namespace rwd::metrics {

// The names of the closed label sets that belong to modules above this one.
struct LabelNames {
  std::vector<std::string> request_types;  // by request_types() row; at most kRequestTypeSlots-1
  std::vector<std::string> error_codes;    // by Errc value
};

class Exposition {
 public:
  Exposition(const Counters& counters, LabelNames names, std::string version);
  ~Exposition();
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;

  // A value another part keeps (an atomic it already has), read at each scrape. Unlabelled:
  // `name` without the rewind_ prefix. Before the first scrape.
  void add_counter(std::string name, std::string help, std::function<double()> read);
  void add_gauge(std::string name, std::string help, std::function<double()> read);

  // The whole exposition, text format 0.0.4. Any thread; takes no lock the counting points
  // take.
  std::string scrape() const;

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rwd::metrics
