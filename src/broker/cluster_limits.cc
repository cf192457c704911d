#include "broker/cluster_limits.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <random>

namespace rwd::broker {

using SteadyTime = std::chrono::steady_clock;

namespace {

// A batch is text: a first line "<kind> <node>" (kind d: changes, f: the full gauges, b:
// goodbye), then one line per count, "r <limiter> <count> <key>" (admitted since the last
// batch) or "g <gauge> <count> <key>" (open now). The key comes last and may hold spaces;
// '%', CR and LF in it are written %25, %0D and %0A.
std::string escape_key(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '%')
      out += "%25";
    else if (c == '\n')
      out += "%0A";
    else if (c == '\r')
      out += "%0D";
    else
      out += c;
  }
  return out;
}

std::string unescape_key(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '%' && i + 2 < key.size()) {
      std::string_view code = key.substr(i + 1, 2);
      if (code == "25" || code == "0A" || code == "0D") {
        out += code == "25" ? '%' : code == "0A" ? '\n' : '\r';
        i += 2;
        continue;
      }
    }
    out += key[i];
  }
  return out;
}

std::string random_node() {
  std::random_device device;
  uint64_t bits = (uint64_t{device()} << 32) ^ device();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (char& ch : id) {
    ch = kHex[bits & 15];
    bits >>= 4;
  }
  return id;
}

// Splits off the text before the first space.
std::string_view next_word(std::string_view& rest) {
  size_t space = rest.find(' ');
  std::string_view word = rest.substr(0, space);
  rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  return word;
}

}  // namespace

ClusterLimits::ClusterLimits(Broker& broker, ClusterLimitsOptions options)
    : broker_(broker), options_(options), node_(random_node()) {}

ClusterLimits::~ClusterLimits() { stop(); }

void ClusterLimits::add_rate(std::string name, RateLimiter& limiter) {
  limiter.share();
  rates_.emplace_back(std::move(name), &limiter);
}

void ClusterLimits::add_gauge(std::string name, SharedGauge& gauge) {
  gauges_.emplace_back(std::move(name), &gauge);
}

void ClusterLimits::start() {
  {
    std::lock_guard lock(mu_);
    if (started_ || stopping_) return;
    started_ = true;
  }
  broker_.on_messages_under(
      std::string(kChannel),
      [this](std::string_view, std::string_view payload) { on_message(payload); });
  broker_.subscribe(std::string(kChannel));
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "limits-sync");
    run();
  });
}

void ClusterLimits::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    if (!started_) return;
  }
  cv_.notify_all();
  thread_.join();
  if (broker_.up()) broker_.publish(std::string(kChannel), "b " + node_ + "\n");
}

ClusterLimits::Counters ClusterLimits::counters() const {
  Counters c;
  c.sent = sent_.load();
  c.received = received_.load();
  c.malformed = malformed_.load();
  c.syncs_skipped = syncs_skipped_.load();
  c.nodes_expired = nodes_expired_.load();
  c.peers = peers_.load();
  return c;
}

void ClusterLimits::run() {
  auto next_full = SteadyTime::now();
  bool was_up = false;
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, options_.sync_interval, [this] { return stopping_; })) return;
    lock.unlock();
    bool up = broker_.up();
    if (!up) {
      // Admissions and changes of this time are dropped: the others enforce alone too, and
      // the gauges are sent whole once the broker is back.
      for (auto& [name, limiter] : rates_) limiter->take_admitted();
      for (auto& [name, gauge] : gauges_) gauge->take_changed();
      syncs_skipped_.fetch_add(1, std::memory_order_relaxed);
    } else {
      auto now = SteadyTime::now();
      bool full = !was_up || now >= next_full;
      if (full) next_full = now + options_.full_report_interval;
      sync(full);
    }
    was_up = up;
    expire_silent_nodes();
    lock.lock();
  }
}

void ClusterLimits::sync(bool full) {
  std::string batch = std::string(full ? "f " : "d ") + node_ + "\n";
  const size_t header = batch.size();
  for (auto& [name, limiter] : rates_)
    for (auto& [key, count] : limiter->take_admitted())
      batch += "r " + name + " " + std::to_string(count) + " " + escape_key(key) + "\n";
  for (auto& [name, gauge] : gauges_) {
    auto changed = gauge->take_changed();
    for (auto& [key, count] : full ? gauge->snapshot() : changed)
      batch += "g " + name + " " + std::to_string(count) + " " + escape_key(key) + "\n";
  }
  if (!full && batch.size() == header) return;
  broker_.publish(std::string(kChannel), std::move(batch));
  sent_.fetch_add(1, std::memory_order_relaxed);
}

void ClusterLimits::expire_silent_nodes() {
  std::vector<std::string> gone;
  auto now = SteadyTime::now();
  {
    std::lock_guard lock(heard_mu_);
    for (auto it = last_heard_.begin(); it != last_heard_.end();) {
      if (now - it->second > options_.node_expiry) {
        gone.push_back(it->first);
        it = last_heard_.erase(it);
      } else {
        ++it;
      }
    }
    peers_.store(last_heard_.size(), std::memory_order_relaxed);
  }
  for (const std::string& node : gone) {
    for (auto& [name, gauge] : gauges_) gauge->forget_node(node);
    nodes_expired_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("limits: node {} silent for {} ms; its counts are forgotten", node,
                 options_.node_expiry.count());
  }
}

RateLimiter* ClusterLimits::rate_named(std::string_view name) const {
  for (auto& [n, limiter] : rates_)
    if (n == name) return limiter;
  return nullptr;
}

size_t ClusterLimits::gauge_index(std::string_view name) const {
  for (size_t g = 0; g < gauges_.size(); ++g)
    if (gauges_[g].first == name) return g;
  return gauges_.size();
}

// On the broker's thread: parses and applies at once (a few locks, no blocking).
void ClusterLimits::on_message(std::string_view payload) {
  size_t eol = payload.find('\n');
  std::string_view head = payload.substr(0, eol);
  std::string_view body =
      eol == std::string_view::npos ? std::string_view() : payload.substr(eol + 1);
  std::string_view kind = next_word(head);
  std::string node(head);
  if (node.empty() || (kind != "d" && kind != "f" && kind != "b")) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (node == node_) return;  // our own batch
  if (kind == "b") {
    {
      std::lock_guard lock(heard_mu_);
      last_heard_.erase(node);
      peers_.store(last_heard_.size(), std::memory_order_relaxed);
    }
    for (auto& [name, gauge] : gauges_) gauge->forget_node(node);
    return;
  }
  {
    std::lock_guard lock(heard_mu_);
    last_heard_[node] = SteadyTime::now();
    peers_.store(last_heard_.size(), std::memory_order_relaxed);
  }
  // A full report replaces what the node said before, gauge by gauge in one step each.
  std::vector<std::vector<std::pair<std::string, int>>> full(gauges_.size());
  while (!body.empty()) {
    size_t end = body.find('\n');
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (line.empty()) continue;
    std::string_view type = next_word(line);
    std::string_view name = next_word(line);
    std::string_view count_text = next_word(line);
    int count = 0;
    auto [ptr, ec] =
        std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
    if (ec != std::errc() || ptr != count_text.data() + count_text.size() || count < 0 ||
        line.empty()) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    std::string key = unescape_key(line);
    if (type == "r") {
      if (RateLimiter* limiter = rate_named(name)) limiter->charge(key, count);
    } else if (type == "g") {
      size_t g = gauge_index(name);
      if (g == gauges_.size()) continue;  // a gauge this node does not have
      if (kind == "f")
        full[g].emplace_back(std::move(key), count);
      else
        gauges_[g].second->set_remote(node, key, count);
    } else {
      malformed_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (kind == "f")
    for (size_t g = 0; g < gauges_.size(); ++g) gauges_[g].second->replace_node(node, full[g]);
  received_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace rwd::broker
