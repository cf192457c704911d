#include "cluster/chat_sequencer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace rwd::cluster {

namespace {

constexpr auto kFillLogInterval = std::chrono::seconds(10);
// Pages of load_chat_changes one fill reads before it lets other streams have the pool.
constexpr int kMaxPagesPerFill = 20;
// Chats per chat_positions call.
constexpr size_t kPositionsChunk = 500;

int64_t wall_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// When the change an event carries was made (the time its node took for it, before the
// commit): a send's creation, an edit's or a deletion's time.
int64_t change_time_us(const domain::ChatEvent& e) {
  if (e.action == domain::ChatAction::kSend) return e.message.created_us;
  return e.message.edited_us.value_or(e.message.created_us);
}

}  // namespace

ChatSequencer::ChatSequencer(SequencerSettings settings, store::Store& store, ThreadPool& pool,
                             Deliver deliver)
    : settings_(settings), store_(store), pool_(pool), deliver_(std::move(deliver)) {
  next_sweep_ = SteadyTime::now() + settings_.sweep_interval;
}

ChatSequencer::~ChatSequencer() { stop(); }

void ChatSequencer::start() {
  timer_ = std::thread([this] { timer_loop(); });
}

void ChatSequencer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    stopped_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

domain::ChatEvent ChatSequencer::event_of(const store::ChatChange& change, const StreamKey& key,
                                          const ChatInfo& info) {
  const store::MessageRecord& m = change.message;
  domain::ChatEvent e;
  // The live path sends a deletion as an edit to empty content (Chats::edit).
  e.action = change.kind == store::ChangeKind::kSend ? domain::ChatAction::kSend
                                                     : domain::ChatAction::kEdit;
  std::optional<int64_t> edited;
  if (change.kind != store::ChangeKind::kSend) edited = m.edited_us;
  e.message = {m.id,         info.wire_chat_id,
               m.author_id,  change.kind == store::ChangeKind::kDelete ? std::string() : m.content,
               m.created_us, edited,
               m.seq};
  e.chat_id = m.chat_id;
  e.guild = info.guild;
  if (key.user_id != 0) e.recipients = {key.user_id};
  return e;
}

ChatSequencer::Counters ChatSequencer::counters() const {
  Counters c;
  c.delivered = delivered_.load();
  c.duplicates = duplicates_.load();
  c.held = held_.load();
  c.held_dropped = held_dropped_.load();
  c.unsequenced = unsequenced_.load();
  c.fills = fills_.load();
  c.filled = filled_.load();
  c.sweeps = sweeps_.load();
  c.read_failures = read_failures_.load();
  c.early = early_.load();
  std::lock_guard lock(mu_);
  c.streams = streams_.size();
  return c;
}

std::optional<int64_t> ChatSequencer::watermark(const StreamKey& key) const {
  std::lock_guard lock(mu_);
  auto it = streams_.find(key);
  if (it == streams_.end() || !it->second.started) return std::nullopt;
  return it->second.watermark;
}

bool ChatSequencer::filling(const StreamKey& key) const {
  std::lock_guard lock(mu_);
  auto it = streams_.find(key);
  return it != streams_.end() && it->second.filling;
}

// ---- following ----

void ChatSequencer::follow_locked(const StreamKey& key, ChatInfo info) {
  if (streams_.count(key) || streams_.size() >= settings_.max_streams) return;
  Stream& s = streams_[key];
  s.info = info;
  s.followed_us = wall_now_us();
  chat_users_[key.chat_id].insert(key.user_id);
  if (key.user_id != 0) user_chats_[key.user_id].insert(key.chat_id);
  to_start_.push_back(key);
  cv_.notify_one();
}

void ChatSequencer::follow(const StreamKey& key, ChatInfo info) {
  std::lock_guard lock(mu_);
  follow_locked(key, info);
}

void ChatSequencer::unfollow(const StreamKey& key) {
  std::lock_guard lock(mu_);
  if (streams_.erase(key) == 0) return;
  gapped_.erase(key);
  if (auto it = chat_users_.find(key.chat_id); it != chat_users_.end()) {
    it->second.erase(key.user_id);
    if (it->second.empty()) chat_users_.erase(it);
  }
  if (auto it = user_chats_.find(key.user_id); it != user_chats_.end()) {
    it->second.erase(key.chat_id);
    if (it->second.empty()) user_chats_.erase(it);
  }
}

void ChatSequencer::unfollow_user(int64_t user_id) {
  if (user_id == 0) return;
  std::vector<int64_t> chats;
  {
    std::lock_guard lock(mu_);
    auto it = user_chats_.find(user_id);
    if (it == user_chats_.end()) return;
    chats.assign(it->second.begin(), it->second.end());
  }
  for (int64_t chat : chats) unfollow({chat, user_id});
}

bool ChatSequencer::following(const StreamKey& key) const {
  std::lock_guard lock(mu_);
  return streams_.count(key) > 0;
}

// ---- ordering ----

void ChatSequencer::hold_locked(const StreamKey& key, Stream& s, domain::ChatEvent event) {
  int64_t seq = event.message.seq;
  if (s.held.count(seq)) {
    ++duplicates_;
    return;
  }
  if (s.held.size() >= settings_.max_held_per_stream) {
    // The fill reads it back from the store.
    ++held_dropped_;
    s.lost = true;
  } else {
    s.held.emplace(seq, std::move(event));
    ++held_;
  }
  if (s.started && !s.gap_since) {
    s.gap_since = SteadyTime::now();
    gapped_.insert(key);
    cv_.notify_one();
  }
}

void ChatSequencer::drain_locked(const StreamKey& key, Stream& s, Batch& out) {
  while (!s.held.empty()) {
    auto first = s.held.begin();
    if (first->first <= s.watermark) {
      ++duplicates_;
      s.held.erase(first);
    } else if (first->first == s.watermark + 1) {
      s.watermark = first->first;
      out.emplace_back(key, std::move(first->second));
      s.held.erase(first);
    } else {
      break;
    }
  }
  if (s.held.empty() && !s.lost) {
    s.gap_since.reset();
    gapped_.erase(key);
  } else if (!s.gap_since) {
    s.gap_since = SteadyTime::now();
    gapped_.insert(key);
    cv_.notify_one();
  }
}

void ChatSequencer::deliver_batch(const Batch& out) {
  for (const auto& [key, event] : out) {
    ++delivered_;
    deliver_(key, event);
  }
}

void ChatSequencer::offer(const StreamKey& key, domain::ChatEvent event, bool follow_if_new) {
  Batch out;
  std::lock_guard order(deliver_mu_);
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(key);
    if (it == streams_.end() && follow_if_new && !stopping_ && event.message.seq > 0) {
      follow_locked(key, ChatInfo{event.message.wire_chat_id, event.guild});
      it = streams_.find(key);
    }
    if (it == streams_.end() || stopping_ || event.message.seq <= 0) {
      ++unsequenced_;
      out.emplace_back(key, std::move(event));
    } else {
      Stream& s = it->second;
      int64_t seq = event.message.seq;
      if (!s.started || seq > s.watermark + 1) {
        hold_locked(key, s, std::move(event));
      } else if (seq <= s.watermark) {
        if (early_locked(s, event)) {
          ++early_;
          out.emplace_back(key, std::move(event));
        } else {
          ++duplicates_;
        }
      } else {
        s.watermark = seq;
        out.emplace_back(key, std::move(event));
        drain_locked(key, s, out);
        // The change waited for came: what is still held waits for a later one, whose bound
        // starts now, not when the first of the held events came (under steady crossing the
        // held set may never empty, and every new gap would go to the store at once). A
        // stream known to have lost changes, or waiting to retry a read, keeps its due time.
        auto now = SteadyTime::now();
        if (s.gap_since && !s.lost && !s.held.empty() && *s.gap_since < now) s.gap_since = now;
      }
    }
  }
  deliver_batch(out);
}

bool ChatSequencer::early_locked(Stream& s, const domain::ChatEvent& event) {
  if (!s.settle_until) return false;
  if (SteadyTime::now() >= *s.settle_until) {
    s.settle_until.reset();
    s.early.clear();
    return false;
  }
  int64_t seq = event.message.seq;
  if (seq > s.start_seq || change_time_us(event) < s.followed_us) return false;
  if (s.early.size() >= settings_.max_held_per_stream) return false;
  return s.early.insert(seq).second;
}

// ---- the store ----

bool ChatSequencer::submit(std::function<void()> task) {
  if (pool_.try_submit(std::move(task))) return true;
  ++read_failures_;
  spdlog::error("cluster: a chat gap fill could not be queued; retrying");
  return false;
}

void ChatSequencer::run_starts() {
  std::vector<StreamKey> keys;
  {
    std::lock_guard lock(mu_);
    keys = std::move(to_start_);
    to_start_.clear();
  }
  std::vector<int64_t> chats;
  for (const auto& k : keys) chats.push_back(k.chat_id);
  std::sort(chats.begin(), chats.end());
  chats.erase(std::unique(chats.begin(), chats.end()), chats.end());
  std::unordered_map<int64_t, int64_t> positions;
  bool ok = true;
  for (size_t i = 0; i < chats.size() && ok && !stopped_; i += kPositionsChunk) {
    std::vector<int64_t> chunk(chats.begin() + i,
                               chats.begin() + std::min(chats.size(), i + kPositionsChunk));
    auto r = store_.chat_positions(chunk);
    if (!r.ok()) {
      ++read_failures_;
      spdlog::error("cluster: reading chat positions failed ({}); retrying", r.error().detail);
      ok = false;
      break;
    }
    for (const auto& p : r.value()) positions[p.chat_id] = p.last_seq;
  }
  Batch out;
  // Held until the batch is delivered: a later batch of the same stream (a fill that runs as
  // soon as this one releases mu_) must not overtake it.
  std::lock_guard order(deliver_mu_);
  {
    std::lock_guard lock(mu_);
    starting_ = false;
    if (!ok || stopped_) {
      to_start_.insert(to_start_.end(), keys.begin(), keys.end());
      start_retry_at_ = SteadyTime::now() + settings_.retry;
      cv_.notify_one();
      return;
    }
    for (const auto& key : keys) {
      auto it = streams_.find(key);
      if (it == streams_.end() || it->second.started) continue;
      Stream& s = it->second;
      int64_t start = positions.count(key.chat_id) ? positions[key.chat_id] : 0;
      s.started = true;
      s.watermark = start;
      s.start_seq = start;
      s.settle_until = SteadyTime::now() + settings_.settle_check;
      // Held before the start: committed before the position was read, yet news here.
      while (!s.held.empty() && s.held.begin()->first <= start) {
        if (s.early.size() < settings_.max_held_per_stream) s.early.insert(s.held.begin()->first);
        out.emplace_back(key, std::move(s.held.begin()->second));
        s.held.erase(s.held.begin());
      }
      drain_locked(key, s, out);
      settle_chats_.push_back(key.chat_id);
    }
    if (!settle_chats_.empty() && !settle_at_)
      settle_at_ = SteadyTime::now() + settings_.settle_check;
    cv_.notify_one();
  }
  deliver_batch(out);
}

void ChatSequencer::run_fill(const StreamKey& key) {
  int64_t after = 0;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(key);
    if (it == streams_.end()) return;
    if (stopping_) {
      it->second.filling = false;
      return;
    }
    after = it->second.watermark;
  }
  std::vector<store::ChatChange> changes;
  bool ok = true, complete = false;
  for (int page = 0; page < kMaxPagesPerFill && !stopped_; ++page) {
    auto r = store_.load_chat_changes(key.chat_id, after, settings_.fill_page);
    if (!r.ok()) {
      ++read_failures_;
      spdlog::error("cluster: reading the changes of chat {} after {} failed ({}); retrying",
                    key.chat_id, after, r.error().detail);
      ok = false;
      break;
    }
    size_t n = r.value().size();
    for (auto& c : r.value()) changes.push_back(std::move(c));
    if (n > 0) after = changes.back().message.seq;
    if (n < static_cast<size_t>(settings_.fill_page)) {
      complete = true;
      break;
    }
  }
  Batch out;
  size_t filled = 0;
  std::unique_lock order(deliver_mu_);  // until delivered, as in run_starts
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(key);
    if (it == streams_.end()) return;
    Stream& s = it->second;
    s.filling = false;
    for (const auto& c : changes) {
      if (c.message.seq <= s.watermark) continue;  // delivered live meanwhile
      if (c.message.seq != s.watermark + 1) break;
      s.watermark = c.message.seq;
      // A held event is the live one, with its request's origin: it goes rather than the
      // store's copy.
      if (auto held = s.held.find(c.message.seq); held != s.held.end()) {
        out.emplace_back(key, std::move(held->second));
        s.held.erase(held);
        continue;
      }
      out.emplace_back(key, event_of(c, key, s.info));
      ++filled;
    }
    // Stopped at the page bound: more is known to be missing although nothing may be held
    // (a sweep's fill). The stream stays gapped, so its next turn is due at once, queued on
    // the pool behind the other streams' work rather than waiting for the next sweep.
    if (complete)
      s.lost = false;
    else if (ok)
      s.lost = true;
    drain_locked(key, s, out);
    if (!ok && s.gap_since) {
      // Due again `retry` from now.
      s.gap_since = SteadyTime::now() + settings_.retry - settings_.hold_bound;
    } else if (s.gap_since) {
      s.gap_since = SteadyTime::now() - settings_.hold_bound;  // more to read: at once
    }
    // The timer skipped this stream while it filled: it learns of the gap's new due time
    // here, not on a next gap (which may never come).
    if (s.gap_since) cv_.notify_one();
  }
  deliver_batch(out);
  order.unlock();
  filled_ += filled;
  if (filled > 0) note_fill(key, filled);
}

void ChatSequencer::note_fill(const StreamKey& key, size_t events) {
  ++fills_;
  uint64_t fills = 0, more = 0;
  {
    std::lock_guard lock(mu_);
    auto now = SteadyTime::now();
    if (fill_logged_at_ && now - *fill_logged_at_ < kFillLogInterval) {
      ++fills_unlogged_;
      events_unlogged_ += events;
      return;
    }
    fill_logged_at_ = now;
    fills = std::exchange(fills_unlogged_, 0);
    more = std::exchange(events_unlogged_, 0);
  }
  spdlog::info(
      "cluster: filled {} missed change(s) of chat {} from the store; {} more fill(s) of {} "
      "change(s) since the last report",
      events, key.chat_id, fills, more);
}

bool ChatSequencer::run_sweep(std::vector<int64_t> chats) {
  std::sort(chats.begin(), chats.end());
  chats.erase(std::unique(chats.begin(), chats.end()), chats.end());
  std::vector<StreamKey> behind;
  for (size_t i = 0; i < chats.size() && !stopped_; i += kPositionsChunk) {
    std::vector<int64_t> chunk(chats.begin() + i,
                               chats.begin() + std::min(chats.size(), i + kPositionsChunk));
    auto r = store_.chat_positions(chunk);
    if (!r.ok()) {
      ++read_failures_;
      spdlog::error("cluster: reading chat positions for a sweep failed ({})", r.error().detail);
      return false;
    }
    std::lock_guard lock(mu_);
    for (const auto& p : r.value()) {
      auto users = chat_users_.find(p.chat_id);
      if (users == chat_users_.end()) continue;
      for (int64_t user : users->second) {
        StreamKey key{p.chat_id, user};
        auto it = streams_.find(key);
        if (it == streams_.end() || !it->second.started || it->second.filling) continue;
        if (p.last_seq <= it->second.watermark) continue;
        it->second.filling = true;
        behind.push_back(key);
      }
    }
  }
  ++sweeps_;
  for (const auto& key : behind) run_fill(key);
  return true;
}

bool ChatSequencer::sweep_all() {
  std::vector<int64_t> chats;
  {
    std::lock_guard lock(mu_);
    chats.reserve(chat_users_.size());
    for (const auto& [chat, users] : chat_users_) chats.push_back(chat);
  }
  return run_sweep(std::move(chats));
}

// ---- the timer ----

void ChatSequencer::timer_loop() {
  // A task for the pool, with what it owns: when the pool refuses it, only that is handed
  // back (a start re-queued, its stream's fill due again, its chats swept later). Fills the
  // pool accepted, in this turn or before, still own their streams.
  struct Task {
    enum Kind { kStart, kFill, kSettle, kSweep } kind;
    StreamKey key{};               // kFill
    std::vector<int64_t> chats{};  // kSettle
  };
  std::unique_lock lock(mu_);
  while (!stopping_) {
    auto now = SteadyTime::now();
    std::vector<Task> tasks;
    std::optional<SteadyTime::time_point> next;
    auto sooner = [&](SteadyTime::time_point t) {
      if (!next || t < *next) next = t;
    };
    if (!to_start_.empty() && !starting_) {
      if (!start_retry_at_ || *start_retry_at_ <= now) {
        starting_ = true;
        start_retry_at_.reset();
        tasks.push_back({Task::kStart});
      } else {
        sooner(*start_retry_at_);
      }
    }
    for (const auto& key : gapped_) {
      auto it = streams_.find(key);
      if (it == streams_.end() || it->second.filling || !it->second.gap_since) continue;
      auto due = *it->second.gap_since + settings_.hold_bound;
      if (due > now) {
        sooner(due);
        continue;
      }
      it->second.filling = true;
      tasks.push_back({Task::kFill, key});
    }
    if (settle_at_) {
      if (*settle_at_ <= now) {
        settle_at_.reset();
        tasks.push_back({Task::kSettle, {}, std::exchange(settle_chats_, {})});
      } else {
        sooner(*settle_at_);
      }
    }
    if (settings_.sweep_interval.count() > 0) {
      if (next_sweep_ <= now) {
        next_sweep_ = now + settings_.sweep_interval;
        tasks.push_back({Task::kSweep});
      }
      sooner(next_sweep_);
    }
    if (!tasks.empty()) {
      lock.unlock();
      std::vector<Task> refused;
      for (auto& task : tasks) {
        std::function<void()> run;
        switch (task.kind) {
          case Task::kStart:
            run = [this] { run_starts(); };
            break;
          case Task::kFill:
            run = [this, key = task.key] { run_fill(key); };
            break;
          case Task::kSettle:
            run = [this, chats = task.chats]() mutable { run_sweep(std::move(chats)); };
            break;
          case Task::kSweep:
            run = [this] { sweep_all(); };
            break;
        }
        if (!submit(std::move(run))) refused.push_back(std::move(task));
      }
      lock.lock();
      auto retry_at = SteadyTime::now() + settings_.retry;
      for (auto& task : refused) {
        switch (task.kind) {
          case Task::kStart:
            starting_ = false;
            start_retry_at_ = retry_at;
            break;
          case Task::kFill:
            if (auto it = streams_.find(task.key); it != streams_.end()) {
              it->second.filling = false;
              // The gap stays open, due again `retry` from now.
              if (it->second.gap_since) it->second.gap_since = retry_at - settings_.hold_bound;
            }
            break;
          case Task::kSettle:
            settle_chats_.insert(settle_chats_.end(), task.chats.begin(), task.chats.end());
            if (!settle_at_ || *settle_at_ > retry_at) settle_at_ = retry_at;
            break;
          case Task::kSweep:
            next_sweep_ = std::min(next_sweep_, retry_at);
            break;
        }
      }
      continue;
    }
    if (next)
      cv_.wait_until(lock, *next);
    else
      cv_.wait(lock);
  }
}

}  // namespace rwd::cluster
