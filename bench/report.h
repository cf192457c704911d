// A scenario's figures, printed as a human table and as one JSON line.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "bench/common.h"
#include "bench/proc.h"

namespace rwd::bench {

struct Report {
  std::string scenario, mode;
  std::vector<std::pair<std::string, std::string>> params;  // key, JSON value
  struct Row {
    std::string key, json, human;
  };
  std::vector<Row> results;
  std::vector<std::pair<std::string, Histogram>> latencies;  // name, nanoseconds
  std::vector<std::string> notes;

  // Server and client CPU, filled by the scenario runner.
  ProcStats server_before, server_after;
  double server_cpu_s = 0, measured_s = 0;  // server CPU during the measured window
  double client_cpu_s = 0, client_run_cpu_s = 0, client_busiest_worker = 0;
  int workers = 0;

  void param(const std::string& k, double v);
  void param(const std::string& k, const std::string& v);
  void result(const std::string& k, double v, const std::string& human);
  void latency(const std::string& name, const Histogram& h) { latencies.emplace_back(name, h); }

  void print(const Options& o, pid_t server_pid) const;
};

std::string fmt_num(double v, int decimals = 0);  // 12,345.6
std::string fmt_ms(int64_t ns);

}  // namespace rwd::bench
