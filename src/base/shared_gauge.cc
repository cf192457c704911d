#include "base/shared_gauge.h"

#include <algorithm>

namespace rwd {

void SharedGauge::add(const std::string& key) {
  std::lock_guard lock(mu_);
  changed_[key] = ++local_[key];
}

void SharedGauge::remove(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = local_.find(key);
  if (it == local_.end()) return;
  int now = --it->second;
  if (now <= 0) local_.erase(it);
  changed_[key] = now > 0 ? now : 0;
}

int SharedGauge::local(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = local_.find(key);
  return it == local_.end() ? 0 : it->second;
}

int SharedGauge::others(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = others_.find(key);
  return it == others_.end() ? 0 : it->second;
}

std::vector<std::pair<std::string, int>> SharedGauge::take_changed() {
  std::unordered_map<std::string, int> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(changed_);
  }
  return {std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end())};
}

std::vector<std::pair<std::string, int>> SharedGauge::snapshot() const {
  std::lock_guard lock(mu_);
  return {local_.begin(), local_.end()};
}

int SharedGauge::total_locked(const std::string& key) const {
  int n = 0;
  if (auto it = local_.find(key); it != local_.end()) n += it->second;
  if (auto it = others_.find(key); it != others_.end()) n += it->second;
  return n;
}

template <typename Change>
void SharedGauge::change_remote(const std::vector<std::string>& keys, Change change) {
  std::vector<std::pair<std::string, bool>> crossed;
  {
    std::lock_guard lock(mu_);
    std::vector<bool> before;
    if (crossed_zero_) {
      before.reserve(keys.size());
      for (const auto& key : keys) before.push_back(total_locked(key) > 0);
    }
    change();
    for (size_t i = 0; i < before.size(); ++i)
      if (bool now = total_locked(keys[i]) > 0; now != before[i])
        crossed.emplace_back(keys[i], now);
  }
  for (const auto& [key, now] : crossed) crossed_zero_(key, now);
}

void SharedGauge::set_remote(const std::string& node, const std::string& key, int count) {
  change_remote({key}, [&] { set_remote_locked(node, key, count); });
}

void SharedGauge::set_remote_locked(const std::string& node, const std::string& key, int count) {
  auto& counts = by_node_[node];
  int before = 0;
  if (auto it = counts.find(key); it != counts.end()) before = it->second;
  if (count > 0)
    counts[key] = count;
  else
    counts.erase(key);
  if (counts.empty()) by_node_.erase(node);
  int& sum = others_[key];
  sum += (count > 0 ? count : 0) - before;
  if (sum <= 0) others_.erase(key);
}

// The keys `node` has counts for now (and `more`): those whose total a report may change.
std::vector<std::string> SharedGauge::keys_of(
    const std::string& node, const std::vector<std::pair<std::string, int>>& more) {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    if (auto it = by_node_.find(node); it != by_node_.end())
      for (const auto& [key, count] : it->second) keys.push_back(key);
  }
  for (const auto& [key, count] : more) keys.push_back(key);
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

void SharedGauge::forget_node(const std::string& node) {
  change_remote(keys_of(node, {}), [&] { forget_node_locked(node); });
}

void SharedGauge::replace_node(const std::string& node,
                               const std::vector<std::pair<std::string, int>>& counts) {
  change_remote(keys_of(node, counts), [&] {
    forget_node_locked(node);
    for (const auto& [key, count] : counts) set_remote_locked(node, key, count);
  });
}

void SharedGauge::forget_node_locked(const std::string& node) {
  auto it = by_node_.find(node);
  if (it == by_node_.end()) return;
  for (const auto& [key, count] : it->second) {
    auto sum = others_.find(key);
    if (sum != others_.end() && (sum->second -= count) <= 0) others_.erase(sum);
  }
  by_node_.erase(it);
}

}  // namespace rwd
