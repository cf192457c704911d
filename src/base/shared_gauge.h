#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rwd {

// A count per key that is "how many are open now" (a user's sessions, an address's
// connections) on this node, plus what the other nodes last said of theirs, so a cap can be
// checked against the whole cluster: local(key) + others(key). Thread-safe.
//
// The local side is kept here by the owner (add/remove); broker/cluster_limits.h tells the
// other nodes the keys that changed (take_changed) and feeds their counts back (set_remote,
// forget_node). With no other node (one process, or the broker down) others() is 0 for every
// key the remote side never heard of, and the cap is the local one.
class SharedGauge {
 public:
  void add(const std::string& key);
  void remove(const std::string& key);
  int local(const std::string& key) const;
  // The sum of the counts the other nodes last reported for key.
  int others(const std::string& key) const;

  // Keys whose local count changed since the last call, with their count now (0: gone).
  std::vector<std::pair<std::string, int>> take_changed();
  // Every key with a local count above 0 (a periodic full report).
  std::vector<std::pair<std::string, int>> snapshot() const;
  // `node` says it has `count` for key now (0 forgets it).
  void set_remote(const std::string& node, const std::string& key, int count);
  // Drops everything `node` said (it stopped, or fell silent past its expiry).
  void forget_node(const std::string& node);
  // What `node` says it has now, all of it (a full report): replaces what it said before in
  // one step, so others() never reads a half-applied report.
  void replace_node(const std::string& node,
                    const std::vector<std::pair<std::string, int>>& counts);

  // Told, after set_remote, forget_node or replace_node (outside the lock, on their thread),
  // of each key whose whole count (local + others) went from 0 to more or back to 0 by what
  // the other nodes said: a user who came online, or left, elsewhere. The local side's own
  // changes (add, remove) are its caller's to notice. Set before the first report.
  using CrossedZero = std::function<void(const std::string& key, bool now_above)>;
  void on_crossed_zero(CrossedZero listener) { crossed_zero_ = std::move(listener); }

 private:
  // Runs `change` under the lock and tells the listener of the `keys` that crossed zero.
  template <typename Change>
  void change_remote(const std::vector<std::string>& keys, Change change);
  int total_locked(const std::string& key) const;
  std::vector<std::string> keys_of(const std::string& node,
                                   const std::vector<std::pair<std::string, int>>& more);
  void forget_node_locked(const std::string& node);
  void set_remote_locked(const std::string& node, const std::string& key, int count);
  mutable std::mutex mu_;
  std::unordered_map<std::string, int> local_;    // guarded by mu_
  std::unordered_map<std::string, int> changed_;  // guarded by mu_
  std::unordered_map<std::string, int> others_;   // guarded by mu_; sum over nodes
  std::unordered_map<std::string, std::unordered_map<std::string, int>> by_node_;  // mu_
  CrossedZero crossed_zero_;  // set before the first report
};

}  // namespace rwd
