#include "base/shared_gauge.h"

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

void SharedGauge::set_remote(const std::string& node, const std::string& key, int count) {
  std::lock_guard lock(mu_);
  set_remote_locked(node, key, count);
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

void SharedGauge::forget_node(const std::string& node) {
  std::lock_guard lock(mu_);
  forget_node_locked(node);
}

void SharedGauge::replace_node(const std::string& node,
                               const std::vector<std::pair<std::string, int>>& counts) {
  std::lock_guard lock(mu_);
  forget_node_locked(node);
  for (const auto& [key, count] : counts) set_remote_locked(node, key, count);
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
