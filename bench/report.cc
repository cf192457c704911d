#include "bench/report.h"

#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

namespace rwd::bench {
namespace {

std::string jnum(double v) {
  char buf[64];
  if (v == static_cast<double>(static_cast<int64_t>(v)) && std::abs(v) < 1e15)
    snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  else
    snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string jms(int64_t ns) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.4f", ns / 1e6);
  return buf;
}

}  // namespace

std::string fmt_num(double v, int decimals) {
  char buf[64];
  snprintf(buf, sizeof buf, "%.*f", decimals, std::abs(v));
  std::string_view text(buf);
  size_t dot = std::min(text.find('.'), text.size());
  std::string out = v < 0 ? "-" : "";
  for (size_t i = 0; i < dot; i++) {
    if (i > 0 && (dot - i) % 3 == 0) out += ',';
    out += text[i];
  }
  out += text.substr(dot);
  return out;
}

std::string fmt_ms(int64_t ns) {
  char buf[32];
  snprintf(buf, sizeof buf, ns < 10000000 ? "%.3f" : "%.1f", ns / 1e6);
  return buf;
}

void Report::param(const std::string& k, double v) { params.emplace_back(k, jnum(v)); }
void Report::param(const std::string& k, const std::string& v) {
  params.emplace_back(k, json_quote(v));
}
void Report::result(const std::string& k, double v, const std::string& human) {
  results.push_back({k, jnum(v), human});
}

void Report::print(const Options& o, pid_t server_pid) const {
  Machine m = read_machine();
  bool dirty = false;
  std::string commit = git_commit(dirty);

  // The human table.
  auto row = [](const std::string& k, const std::string& v) {
    printf("  %-26s %s\n", k.c_str(), v.c_str());
  };
  printf("\nrewind-bench %s%s against %s\n", scenario.c_str(),
         mode.empty() ? "" : (" (" + mode + ")").c_str(), o.url.c_str());
  if (!o.ws_ports.empty()) {
    std::string ports;
    for (uint16_t p : o.ws_ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
    row("ws_ports", ports + " (WebSocket connections in turn)");
  }
  for (const auto& [k, v] : params) row(k, v);
  printf("  %s\n", std::string(60, '-').c_str());
  for (const auto& r : results) row(r.key, r.human);
  for (const auto& [name, h] : latencies) {
    if (!h.count()) {
      row(name, "no samples");
      continue;
    }
    row(name + " (ms)", "p50 " + fmt_ms(h.percentile(50)) + "  p90 " + fmt_ms(h.percentile(90)) +
                            "  p99 " + fmt_ms(h.percentile(99)) + "  p99.9 " +
                            fmt_ms(h.percentile(99.9)) + "  max " + fmt_ms(h.max()) + "  (n " +
                            fmt_num(double(h.count())) + ")");
  }
  if (server_after.ok) {
    row("server CPU", fmt_num(server_cpu_s, 2) + " s in " + fmt_num(measured_s, 1) + " s (" +
                          fmt_num(100 * server_cpu_s / std::max(measured_s, 1e-9), 0) +
                          "% of a core)");
    row("server RSS", fmt_num(server_after.rss_kib / 1024.0, 1) + " MiB now, peak " +
                          fmt_num(server_after.peak_rss_kib / 1024.0, 1) + " MiB, before run " +
                          fmt_num(server_before.rss_kib / 1024.0, 1) + " MiB; " +
                          std::to_string(server_after.threads) + " threads");
  } else {
    row("server", "not measured (pass --server-pid)");
  }
  row("client CPU", fmt_num(client_run_cpu_s, 2) + " s during the run, " +
                        fmt_num(client_cpu_s, 2) + " s in all; " + std::to_string(workers) +
                        " worker(s), busiest at " + fmt_num(100 * client_busiest_worker, 0) +
                        "% of a core" +
                        (client_busiest_worker > 0.9 ? "  <- the client may be the limit" : ""));
  row("machine", std::to_string(m.cores) + " cores, " + fmt_num(m.mem_kib / 1048576.0, 1) +
                     " GiB, " + m.kernel);
  row("commit", commit.empty() ? "unknown" : commit + (dirty ? " (with local changes)" : ""));
  for (const auto& n : notes) printf("  note: %s\n", n.c_str());
  printf("\n");

  // The JSON line.
  std::ostringstream j;
  j << "{\"scenario\":" << json_quote(scenario) << ",\"mode\":" << json_quote(mode)
    << ",\"url\":" << json_quote(o.url);
  if (!o.ws_ports.empty()) {
    j << ",\"ws_ports\":[";
    for (size_t i = 0; i < o.ws_ports.size(); i++) j << (i ? "," : "") << o.ws_ports[i];
    j << "]";
  }
  j << ",\"time\":" << time(nullptr) << ",\"params\":{";
  for (size_t i = 0; i < params.size(); i++)
    j << (i ? "," : "") << json_quote(params[i].first) << ":" << params[i].second;
  j << "},\"results\":{";
  for (size_t i = 0; i < results.size(); i++)
    j << (i ? "," : "") << json_quote(results[i].key) << ":" << results[i].json;
  j << "},\"latency_ms\":{";
  for (size_t i = 0; i < latencies.size(); i++) {
    const auto& [name, h] = latencies[i];
    j << (i ? "," : "") << json_quote(name) << ":{\"n\":" << h.count()
      << ",\"p50\":" << jms(h.percentile(50)) << ",\"p90\":" << jms(h.percentile(90))
      << ",\"p99\":" << jms(h.percentile(99)) << ",\"p99.9\":" << jms(h.percentile(99.9))
      << ",\"max\":" << jms(h.max()) << ",\"mean\":" << jms(static_cast<int64_t>(h.mean())) << "}";
  }
  j << "},\"server\":{\"pid\":" << server_pid;
  if (server_after.ok)
    j << ",\"cpu_s\":" << jnum(server_cpu_s) << ",\"measured_s\":" << jnum(measured_s)
      << ",\"cpu_total_s\":" << jnum(server_after.cpu_s)
      << ",\"rss_before_kib\":" << server_before.rss_kib << ",\"rss_kib\":" << server_after.rss_kib
      << ",\"peak_rss_kib\":" << server_after.peak_rss_kib
      << ",\"threads\":" << server_after.threads;
  j << "},\"client\":{\"workers\":" << workers << ",\"cpu_s\":" << jnum(client_cpu_s)
    << ",\"run_cpu_s\":" << jnum(client_run_cpu_s)
    << ",\"busiest_worker_core_share\":" << jnum(client_busiest_worker) << "}"
    << ",\"machine\":{\"cores\":" << m.cores << ",\"mem_kib\":" << m.mem_kib
    << ",\"kernel\":" << json_quote(m.kernel) << ",\"cpu\":" << json_quote(m.cpu_model) << "}"
    << ",\"commit\":" << json_quote(commit) << ",\"dirty\":" << (dirty ? "true" : "false") << "}";
  printf("%s\n", j.str().c_str());
  fflush(stdout);
}

}  // namespace rwd::bench
