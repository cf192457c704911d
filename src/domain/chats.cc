#include "domain/chats.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "base/text.h"
#include "base/unicode.h"
#include "domain/validation.h"
#include "metrics/counters.h"

namespace rwd::domain {

Chats::Chats(ChatSettings settings, store::Store& store, Directory& directory, EventBus& bus,
             ThreadPool& read_pool, SnowflakeGenerator& ids, const Clock& clock)
    : settings_(settings),
      store_(store),
      directory_(directory),
      bus_(bus),
      read_pool_(read_pool),
      ids_(ids),
      clock_(clock),
      send_limit_(settings.sends_per_window, settings.window_us) {}

Result<Chats::Resolved> Chats::resolve(const UserView& me, int64_t wire_chat_id) const {
  if (auto members = directory_.guild_members_if_member(wire_chat_id, me.id))
    return Resolved{0, wire_chat_id, true, std::move(*members)};
  int64_t other = wire_chat_id ^ me.id;
  if (wire_chat_id <= 0 || other <= 0 || other == me.id || !directory_.user(other))
    return directory_.is_guild(wire_chat_id) ? Errc::kGuildNotFound : Errc::kChatNotFound;
  return Resolved{other, directory_.dm_chat(me.id, other), false, {me.id, other}};
}

std::vector<int64_t> Chats::recipients_now(const UserView& me, const Resolved& chat,
                                           int64_t wire_chat_id) const {
  if (!chat.guild) return chat.recipients;
  auto g = directory_.guild(wire_chat_id);
  if (!g) return {me.id};
  std::vector<int64_t> out;
  out.reserve(g->members.size() + 1);
  for (const auto& m : g->members) out.push_back(m.user_id);
  if (!g->has_member(me.id)) out.push_back(me.id);
  return out;
}

Status Chats::check_rate(const UserView& me) {
  if (int64_t wait = send_limit_.acquire(std::to_string(me.id), clock_.now_us()); wait > 0) {
    metrics::count_rate_limited(metrics::RateScope::kUser);
    Error e{Errc::kRateLimited, "too many messages."};
    e.retry_after_ms = wait / 1000 + 1;
    return e;
  }
  return {};
}

Result<Chats::Resolved> Chats::writable(const UserView& me, int64_t wire_chat_id) const {
  auto chat = resolve(me, wire_chat_id);
  if (!chat.ok()) return chat.error();
  if (!chat->guild && (!directory_.are_friends(me.id, chat->other_id) || !chat->chat_id))
    return Errc::kNotFriends;
  return chat;
}

void Chats::send(const UserView& me, int64_t wire_chat_id, std::string content,
                 RequestOrigin origin, Sent done) {
  if (trim(content).empty()) return done(std::optional<ChatMessage>());
  auto chat = writable(me, wire_chat_id);
  if (!chat.ok()) return done(chat.error());
  if (Status s = validate_content(content, settings_.max_content_chars); !s.ok())
    return done(s.error());
  if (Status s = check_rate(me); !s.ok()) return done(s.error());
  store::MessageRecord rec;
  rec.chat_id = *chat->chat_id;
  rec.author_id = me.id;
  rec.content = std::move(content);
  std::lock_guard lock(send_mu_);
  rec.id = ids_.next();
  rec.created_us = clock_.now_us();
  ChatEvent event;
  event.action = ChatAction::kSend;
  event.message =
      ChatMessage{rec.id, wire_chat_id, me.id, rec.content, rec.created_us, std::nullopt, 0};
  event.chat_id = rec.chat_id;
  event.guild = chat->guild;
  std::string nonce = origin.nonce;
  event.origin = std::move(origin);
  // Committed: its event goes to every member's connections, which answers the send. With
  // the time it is stored with, which may be later than its own (store.h, put_message).
  auto publish = [this, me, resolved = std::move(chat.value()), wire_chat_id,
                  event = std::move(event), done](int64_t seq, int64_t created_us) mutable {
    metrics::add(metrics::counters().messages_committed);
    event.message.seq = seq;
    event.message.created_us = created_us;
    event.recipients = recipients_now(me, resolved, wire_chat_id);
    bus_.publish(event);
    done(std::optional<ChatMessage>());
  };
  if (nonce.empty()) {
    store_.put_message(std::move(rec), [publish = std::move(publish),
                                        done](Result<store::StoredMessage> r) mutable {
      if (!r.ok()) return done(r.error());
      publish(r->seq, r->created_us);
    });
    return;
  }
  const int64_t reuse_before_us = rec.created_us - kNonceWindowUs;
  store_.put_message_once(
      std::move(rec), std::move(nonce), reuse_before_us,
      [publish = std::move(publish), wire_chat_id, done](Result<store::SentMessage> r) mutable {
        if (!r.ok()) return done(r.error());
        if (!r->duplicate) return publish(r->message.seq, r->message.created_us);
        // A retry: its first send's event went out then; only the asker is answered.
        metrics::add(metrics::counters().sends_deduplicated);
        const store::MessageRecord& m = r->message;
        done(std::optional<ChatMessage>(ChatMessage{m.id, wire_chat_id, m.author_id, m.content,
                                                    m.created_us, m.edited_us, m.seq}));
      });
}

Status Chats::typing(const UserView& me, int64_t wire_chat_id) {
  auto chat = writable(me, wire_chat_id);
  if (!chat.ok()) return chat.error();
  if (typing_limit_.acquire(std::to_string(me.id) + ":" + std::to_string(wire_chat_id),
                            clock_.now_us()) > 0)
    return {};
  TypingEvent event;
  event.wire_chat_id = wire_chat_id;
  event.user_id = me.id;
  event.guild = chat->guild;
  event.recipients = recipients_now(me, *chat, wire_chat_id);
  std::erase(event.recipients, me.id);
  if (!event.recipients.empty()) bus_.publish(event);
  return {};
}

void Chats::edit(const UserView& me, int64_t wire_chat_id, int64_t message_id, std::string content,
                 RequestOrigin origin, Done done) {
  auto chat = resolve(me, wire_chat_id);
  if (!chat.ok()) return done(chat.error());
  if (!chat->chat_id) return done(Errc::kMessageNotFound);
  if (trim(content).empty()) content.clear();
  if (Status s = validate_content(content, settings_.max_content_chars); !s.ok()) return done(s);
  if (Status s = check_rate(me); !s.ok()) return done(s);
  int64_t chat_id = *chat->chat_id;
  store_.edit_message(chat_id, message_id, me.id, std::move(content), clock_.now_us(),
                      [this, me, resolved = std::move(chat.value()), wire_chat_id,
                       origin = std::move(origin), done](Result<store::MessageRecord> r) {
                        if (!r.ok()) return done(r.error());
                        ChatEvent event;
                        event.action = ChatAction::kEdit;
                        const store::MessageRecord& m = r.value();
                        event.message = {m.id,         wire_chat_id, me.id, m.content,
                                         m.created_us, m.edited_us,  m.seq};
                        event.chat_id = m.chat_id;
                        event.guild = resolved.guild;
                        event.origin = origin;
                        event.recipients = recipients_now(me, resolved, wire_chat_id);
                        bus_.publish(event);
                        done({});
                      });
}

void Chats::mark_read(const UserView& me, uint64_t connection, int64_t wire_chat_id,
                      int64_t message_id, MarkedRead done) {
  auto chat = resolve(me, wire_chat_id);
  if (!chat.ok()) return done(chat.error());
  // Not an error of the sender's: the message need not be mine.
  const Error no_message{Errc::kMessageNotFound, "no such message in this chat."};
  if (!chat->chat_id) return done(Errc::kChatNotFound);  // the pair never were friends
  store_.mark_read(me.id, *chat->chat_id, message_id,
                   [this, user = me.id, connection, wire_chat_id, no_message,
                    done = std::move(done)](Result<store::ReadMark> r) {
                     if (!r.ok() && r.error().code == Errc::kMessageNotFound)
                       return done(no_message);
                     if (!r.ok()) return done(r.error());
                     if (r->moved)
                       bus_.publish(ReadEvent{user, wire_chat_id, r->message_id, connection});
                     done(r->message_id);
                   });
}

void Chats::summaries(const UserView& me, Summarized done) {
  // Which chats are mine is the Directory's to say; what is in them is the store's.
  std::vector<int64_t> chat_ids, wire_ids;
  for (const UserView& f : directory_.friends(me.id)) {
    if (auto chat = directory_.dm_chat(me.id, f.id)) {
      chat_ids.push_back(*chat);
      wire_ids.push_back(me.id ^ f.id);
    }
  }
  for (const GuildSummary& g : directory_.guild_summaries_of(me.id)) {
    chat_ids.push_back(g.id);
    wire_ids.push_back(g.id);
  }
  bool submitted = read_pool_.try_submit(
      [this, user = me.id, chat_ids = std::move(chat_ids), wire_ids = std::move(wire_ids), done] {
        auto rows = store_.chat_summaries(user, chat_ids, kUnreadCap);
        if (!rows.ok()) return done(rows.error());
        std::vector<ChatSummary> out;
        out.reserve(rows->size());
        size_t next = 0;  // rows come in the order asked, without chats that do not exist
        for (auto& row : *rows) {
          while (next < chat_ids.size() && chat_ids[next] != row.chat_id) ++next;
          if (next == chat_ids.size()) break;
          ChatSummary s{wire_ids[next], row.last_read_id, row.unread, std::nullopt, row.last_seq};
          if (row.last_message) {
            store::MessageRecord& m = *row.last_message;
            s.last_message =
                ChatMessage{m.id,         wire_ids[next], m.author_id, std::move(m.content),
                            m.created_us, m.edited_us,    m.seq};
          }
          out.push_back(std::move(s));
        }
        std::stable_sort(out.begin(), out.end(), [](const ChatSummary& a, const ChatSummary& b) {
          int64_t x = a.last_message ? a.last_message->id : 0;
          int64_t y = b.last_message ? b.last_message->id : 0;
          return x > y;
        });
        done(std::move(out));
      });
  if (!submitted) done(Error{Errc::kOverloaded, "too many reads at once; try again."});
}

void Chats::search(const UserView& me, std::string query, std::optional<int64_t> wire_chat_id,
                   int offset, Searched done) {
  auto invalid = [](std::string why) { return Error{Errc::kInvalidPayload, std::move(why)}; };
  if (!is_valid_utf8(query)) return done(invalid("search 'query' is not valid UTF-8."));
  if (utf8_length(query) > kSearchMaxQueryChars)
    return done(invalid("search 'query' is longer than " + std::to_string(kSearchMaxQueryChars) +
                        " characters."));
  if (offset < 0 || offset > kSearchMaxOffset)
    return done(invalid("search 'offset' must be an integer from 0 to " +
                        std::to_string(kSearchMaxOffset) + "."));
  store::MessageSearch search;
  search.terms = unicode::search_words(unicode::nfc(query));
  if (search.terms.empty())
    return done(invalid("search 'query' needs a word (letters or digits) to look for."));
  if (search.terms.size() > kSearchMaxWords) search.terms.resize(kSearchMaxWords);
  // Which chats are mine is the Directory's to say (as for summaries); the store finds the
  // texts, and answers store chat ids, which go back to their wire ids here.
  std::unordered_map<int64_t, int64_t> wire_of;
  if (wire_chat_id) {
    auto chat = resolve(me, *wire_chat_id);
    if (!chat.ok()) return done(chat.error());
    if (!chat->chat_id) return done(Errc::kChatNotFound);  // the pair never were friends
    wire_of.emplace(*chat->chat_id, *wire_chat_id);
  } else {
    for (const auto& [other, chat] : directory_.dm_chats_of(me.id))
      wire_of.emplace(chat, me.id ^ other);
    for (const GuildSummary& g : directory_.guild_summaries_of(me.id)) wire_of.emplace(g.id, g.id);
  }
  if (wire_of.empty()) return done(SearchPage{});
  search.chat_ids.reserve(wire_of.size());
  for (const auto& entry : wire_of) search.chat_ids.push_back(entry.first);
  std::sort(search.chat_ids.begin(), search.chat_ids.end());
  search.offset = offset;
  search.limit = kSearchPageSize + 1;  // one past the page: whether more follow
  bool submitted = read_pool_.try_submit(
      [this, search = std::move(search), wire_of = std::move(wire_of), offset, done] {
        auto rows = store_.search_messages(search);
        if (!rows.ok()) return done(rows.error());
        SearchPage page;
        // No page starts past kSearchMaxOffset: the one that would is not offered.
        page.more = static_cast<int>(rows->size()) > kSearchPageSize &&
                    offset + kSearchPageSize <= kSearchMaxOffset;
        if (page.more) rows->resize(kSearchPageSize);
        page.results.reserve(rows->size());
        for (auto& m : *rows) {
          auto wire = wire_of.find(m.chat_id);
          if (wire == wire_of.end()) continue;  // never: the store looks in these chats only
          page.results.push_back({m.id, wire->second, m.author_id, std::move(m.content),
                                  m.created_us, m.edited_us, m.seq});
        }
        done(std::move(page));
      });
  if (!submitted) done(Error{Errc::kOverloaded, "too many reads at once; try again."});
}

void Chats::load(const UserView& me, int64_t wire_chat_id, int64_t before_us, int count,
                 Loaded done) {
  auto chat = resolve(me, wire_chat_id);
  if (!chat.ok()) return done(chat.error());
  if (count < 1) return done(Error{Errc::kInvalidPayload, "count must be at least 1."});
  count = std::min(count, settings_.history_max_count);
  if (!chat->chat_id) return done(Errc::kChatNotFound);  // the pair never were friends
  int64_t chat_id = *chat->chat_id;
  bool submitted = read_pool_.try_submit([this, chat_id, wire_chat_id, before_us, count, done] {
    auto rows = store_.load_messages(chat_id, before_us, count);
    if (!rows.ok()) return done(rows.error());
    std::vector<ChatMessage> out;
    out.reserve(rows->size());
    for (auto& m : *rows)
      out.push_back({m.id, wire_chat_id, m.author_id, std::move(m.content), m.created_us,
                     m.edited_us, m.seq});
    done(std::move(out));
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many history loads at once; try again."});
}

void Chats::catch_up(const UserView& me, const std::vector<ChatPosition>& since, size_t max_bytes,
                     CaughtUp done) {
  // Which chats are mine is the Directory's to say (as for history: a former friend's chat
  // too); what they missed is the store's.
  struct Wanted {
    int64_t wire_chat_id, chat_id, after;
  };
  std::vector<Wanted> wanted;
  std::unordered_set<int64_t> seen;
  for (const ChatPosition& p : since) {
    auto chat = resolve(me, p.wire_chat_id);
    if (!chat.ok() || !chat->chat_id || !seen.insert(p.wire_chat_id).second) continue;
    wanted.push_back({p.wire_chat_id, *chat->chat_id, p.seq});
  }
  if (wanted.empty()) return done(std::vector<ChatCatchUp>{});
  bool submitted = read_pool_.try_submit([this, wanted = std::move(wanted), max_bytes, done] {
    std::vector<int64_t> ids;
    ids.reserve(wanted.size());
    for (const Wanted& w : wanted) ids.push_back(w.chat_id);
    auto positions = store_.chat_positions(ids);
    if (!positions.ok()) return done(positions.error());
    std::unordered_map<int64_t, int64_t> last_seq;
    for (const store::ChatPosition& p : *positions) last_seq.emplace(p.chat_id, p.last_seq);
    std::vector<ChatCatchUp> out;
    out.reserve(wanted.size());
    size_t budget = max_bytes;
    for (const Wanted& w : wanted) {
      auto it = last_seq.find(w.chat_id);
      if (it == last_seq.end()) continue;  // a chat row not there: nothing was ever said
      ChatCatchUp chat{w.wire_chat_id, it->second, false, {}};
      // Seqs have no gaps, so the distance is the count of changes missed.
      if (w.after > it->second || it->second - w.after > kCatchUpMaxChanges ||
          budget < kCatchUpChangeOverhead) {
        chat.reload = true;
      } else if (w.after < it->second) {
        auto changes = store_.load_chat_changes(w.chat_id, w.after, kCatchUpMaxChanges);
        if (!changes.ok()) return done(changes.error());
        size_t bytes = 0;
        for (const store::ChatChange& c : *changes)
          bytes += c.message.content.size() + kCatchUpChangeOverhead;
        if (bytes > budget) {  // the chats after it may still fit
          chat.reload = true;
          out.push_back(std::move(chat));
          continue;
        }
        budget -= bytes;
        // A message deleted among these comes as its deletion alone: its earlier versions
        // are erased anyway, and a client would show an empty message until the deletion.
        std::unordered_set<int64_t> deleted;
        for (const store::ChatChange& c : *changes)
          if (c.kind == store::ChangeKind::kDelete) deleted.insert(c.message.id);
        for (store::ChatChange& c : *changes) {
          store::MessageRecord& m = c.message;
          chat.seq = std::max(chat.seq, m.seq);
          if (c.kind != store::ChangeKind::kDelete && deleted.contains(m.id)) continue;
          chat.changes.push_back(
              {c.kind == store::ChangeKind::kSend ? ChatAction::kSend : ChatAction::kEdit,
               ChatMessage{
                   m.id, w.wire_chat_id, m.author_id,
                   c.kind == store::ChangeKind::kDelete ? std::string() : std::move(m.content),
                   m.created_us, m.edited_us, m.seq}});
        }
      }
      out.push_back(std::move(chat));
    }
    done(std::move(out));
  });
  if (!submitted) done(Error{Errc::kOverloaded, "too many reads at once; try again."});
}

}  // namespace rwd::domain
