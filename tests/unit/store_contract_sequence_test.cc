// The chat sequence and the cache-miss reads of store/store.h, for every implementation (see
// store_contract.h): gapless seqs in commit order, the change log a process replays to fill a
// gap, chat positions, and the token and user look-ups a process makes for what another
// process created.
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store_contract.h"

namespace rwd::store {
namespace {

// What one acknowledged change reported: its chat, its seq, and which write it was.
struct Acked {
  int64_t chat_id = 0;
  int64_t seq = 0;
  int64_t message_id = 0;
  ChangeKind kind = ChangeKind::kSend;
};

class ChatLog {
 public:
  explicit ChatLog(Store& store) : store_(store) {}

  void send(int64_t chat, int64_t id, int64_t author, const std::string& text) {
    store_.put_message({id, chat, author, text, id * 10, false, std::nullopt, 0},
                       [this, chat, id](Result<StoredMessage> seq) {
                         std::lock_guard lock(mu_);
                         if (!seq.ok()) {
                           ++failures_;
                           return;
                         }
                         acked_.push_back({chat, seq->seq, id, ChangeKind::kSend});
                       });
  }
  void edit(int64_t chat, int64_t id, int64_t author, const std::string& text, int64_t now) {
    store_.edit_message(
        chat, id, author, text, now, [this, chat, id, text](Result<MessageRecord> r) {
          std::lock_guard lock(mu_);
          if (!r.ok()) {
            ++failures_;
            return;
          }
          acked_.push_back(
              {chat, r->seq, id, text.empty() ? ChangeKind::kDelete : ChangeKind::kEdit});
        });
  }
  // Every acknowledgement so far, in the order the callbacks ran (commit order).
  std::vector<Acked> acked() {
    store_.flush();
    std::lock_guard lock(mu_);
    return acked_;
  }
  int failures() {
    store_.flush();
    std::lock_guard lock(mu_);
    return failures_;
  }

 private:
  Store& store_;
  std::mutex mu_;
  std::vector<Acked> acked_;
  int failures_ = 0;
};

TEST_P(StoreContract, ChatChangesTakeGaplessSeqsInCommitOrder) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  int64_t ab = befriend(a, b, 500), ac = befriend(a, c, 501);
  ASSERT_TRUE(create_guild(700, a, 10).ok());
  ASSERT_TRUE(add_member(700, a, b, 20).ok());
  // Submitted without waiting, so that they share batches: sends, edits and deletions of
  // several chats interleaved, edits of messages sent earlier in the same batch.
  ChatLog log(*store_);
  for (int64_t round = 0; round < 40; ++round) {
    int64_t base = 1000 + round * 10;
    log.send(ab, base + 1, a, "ab " + std::to_string(round));
    log.send(700, base + 2, b, "guild " + std::to_string(round));
    log.edit(ab, base + 1, a, "ab edited", 5000 + round);
    log.send(ac, base + 3, c, "ac");
    log.send(700, base + 4, a, "guild again");
    log.edit(700, base + 2, b, "", 6000 + round);  // deleted
    if (round % 3 == 0) log.edit(ac, base + 3, c, "ac edited", 7000 + round);
  }
  std::vector<Acked> acked = log.acked();
  EXPECT_EQ(log.failures(), 0);
  std::map<int64_t, int64_t> last;  // chat -> last seq seen
  for (const Acked& x : acked) {
    EXPECT_EQ(x.seq, last[x.chat_id] + 1) << "chat " << x.chat_id << ", message " << x.message_id;
    last[x.chat_id] = x.seq;
  }
  EXPECT_EQ(last[ab], 80);
  EXPECT_EQ(last[700], 120);
  EXPECT_EQ(last[ac], 40 + 14);
  // The change log holds the same changes in the same order.
  for (int64_t chat : {ab, ac, int64_t{700}}) {
    auto changes = store_->load_chat_changes(chat, 0, 1000);
    ASSERT_TRUE(changes.ok());
    std::vector<Acked> expected;
    for (const Acked& x : acked)
      if (x.chat_id == chat) expected.push_back(x);
    ASSERT_EQ(changes->size(), expected.size()) << "chat " << chat;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ((*changes)[i].message.seq, expected[i].seq);
      EXPECT_EQ((*changes)[i].message.id, expected[i].message_id);
      EXPECT_EQ((*changes)[i].kind, expected[i].kind);
      EXPECT_EQ((*changes)[i].message.chat_id, chat);
    }
  }
  auto positions = store_->chat_positions({700, ab, ac});
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 3u);
  EXPECT_EQ((*positions)[0].chat_id, ab);
  EXPECT_EQ((*positions)[0].last_seq, 80);
  EXPECT_EQ((*positions)[1].chat_id, ac);
  EXPECT_EQ((*positions)[1].last_seq, 54);
  EXPECT_EQ((*positions)[2].chat_id, 700);
  EXPECT_EQ((*positions)[2].last_seq, 120);
}

TEST_P(StoreContract, AFailedChangeTakesNoSeq) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  auto first = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
    store_->put_message({1, chat, a, "one", 10, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->seq, 1);
  auto edit = [&](int64_t id, int64_t author, std::string text) {
    return wait<MessageRecord>(
        [&](Callback<MessageRecord> cb) { store_->edit_message(chat, id, author, text, 50, cb); });
  };
  EXPECT_EQ(edit(1, b, "not mine").error().code, Errc::kMessageNotFound);
  EXPECT_EQ(edit(2, a, "no such message").error().code, Errc::kMessageNotFound);
  // Another message under a taken id fails whole.
  auto taken = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
    store_->put_message({1, chat, a, "another", 11, false, std::nullopt, 0}, cb);
  });
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.error().code, Errc::kInternal);
  // The same message again is a no-op answering the seq it has.
  auto repeat = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
    store_->put_message({1, chat, a, "one", 10, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->seq, 1);
  auto next = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
    store_->put_message({2, chat, a, "two", 12, false, std::nullopt, 0}, cb);
  });
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq, 2);
  auto edited = edit(1, a, "uno");
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->seq, 3);
  // A deleted message cannot be edited or deleted again.
  ASSERT_TRUE(edit(2, a, "").ok());
  EXPECT_EQ(edit(2, a, "").error().code, Errc::kMessageNotFound);
  EXPECT_EQ(edit(2, a, "back").error().code, Errc::kMessageNotFound);
  auto positions = store_->chat_positions({chat});
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 1u);
  EXPECT_EQ(positions->front().last_seq, 4);
}

TEST_P(StoreContract, ChatChangesComeInOrderWithTheMessageAsOfEachChange) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  auto send = [&](int64_t id, int64_t author, const std::string& text) {
    return wait<StoredMessage>([&](Callback<StoredMessage> cb) {
      store_->put_message({id, chat, author, text, id * 10, false, std::nullopt, 0}, cb);
    });
  };
  auto edit = [&](int64_t id, int64_t author, const std::string& text, int64_t now) {
    return wait<MessageRecord>(
        [&](Callback<MessageRecord> cb) { store_->edit_message(chat, id, author, text, now, cb); });
  };
  ASSERT_EQ(send(1, a, "one")->seq, 1);
  ASSERT_EQ(edit(1, a, "uno", 100)->seq, 2);
  ASSERT_EQ(send(2, b, "two")->seq, 3);
  ASSERT_EQ(edit(1, a, "eins", 200)->seq, 4);
  ASSERT_EQ(send(3, b, "three")->seq, 5);
  ASSERT_EQ(edit(3, b, "drei", 300)->seq, 6);
  ASSERT_EQ(edit(3, b, "", 400)->seq, 7);  // deleted: every version of its text goes

  auto all = store_->load_chat_changes(chat, 0, 100);
  ASSERT_TRUE(all.ok());
  struct Expected {
    int64_t seq;
    ChangeKind kind;
    int64_t id;
    int64_t author;
    std::string content;
    std::optional<int64_t> edited_us;
  };
  const std::vector<Expected> expected = {
      {1, ChangeKind::kSend, 1, a, "one", std::nullopt}, {2, ChangeKind::kEdit, 1, a, "uno", 100},
      {3, ChangeKind::kSend, 2, b, "two", std::nullopt}, {4, ChangeKind::kEdit, 1, a, "eins", 200},
      {5, ChangeKind::kSend, 3, b, "", std::nullopt},    {6, ChangeKind::kEdit, 3, b, "", 300},
      {7, ChangeKind::kDelete, 3, b, "", 400},
  };
  ASSERT_EQ(all->size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    const ChatChange& got = (*all)[i];
    EXPECT_EQ(got.message.seq, expected[i].seq);
    EXPECT_EQ(got.kind, expected[i].kind) << "seq " << expected[i].seq;
    EXPECT_EQ(got.message.id, expected[i].id);
    EXPECT_EQ(got.message.author_id, expected[i].author);
    EXPECT_EQ(got.message.content, expected[i].content) << "seq " << expected[i].seq;
    EXPECT_EQ(got.message.created_us, expected[i].id * 10);
    EXPECT_EQ(got.message.edited_us, expected[i].edited_us) << "seq " << expected[i].seq;
    EXPECT_EQ(got.message.deleted, expected[i].kind == ChangeKind::kDelete);
  }
  // Pages: after a seq, at most `limit`, continuing where the last one ended.
  std::vector<int64_t> paged;
  int64_t after = 0;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = store_->load_chat_changes(chat, after, 3);
    ASSERT_TRUE(page.ok());
    EXPECT_LE(page->size(), 3u);
    if (page->empty()) break;
    for (const ChatChange& ch : *page) paged.push_back(ch.message.seq);
    after = page->back().message.seq;
  }
  EXPECT_EQ(paged, (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7}));
  auto tail = store_->load_chat_changes(chat, 5, 100);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ(tail->front().message.seq, 6);
  EXPECT_TRUE(store_->load_chat_changes(chat, 7, 100)->empty());
  EXPECT_TRUE(store_->load_chat_changes(999, 0, 100)->empty());
  // History carries each message's send seq.
  auto history = store_->load_messages(chat, 1'000'000, 10);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].seq, 1);
  EXPECT_EQ((*history)[1].seq, 3);
}

// Two nodes' clocks can give two messages of a chat the same microsecond, or a later message
// an earlier time. History pages strictly before the oldest time received, so each message
// is stored at its own time or 1 µs after the chat's latest (store.h, put_message), and a
// history read one message at a time finds every one.
TEST_P(StoreContract, AMessageTimeIsUniqueInItsChatSoHistoryPagesLoseNone) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  int64_t ab = befriend(a, b, 500), ac = befriend(a, c, 501);
  auto put = [&](int64_t id, int64_t chat, int64_t at) {
    return wait<StoredMessage>([&](Callback<StoredMessage> cb) {
      store_->put_message({id, chat, a, "m" + std::to_string(id), at, false, std::nullopt, 0}, cb);
    });
  };
  auto stored_at = [&](int64_t id, int64_t chat, int64_t at) -> int64_t {
    auto r = put(id, chat, at);
    EXPECT_TRUE(r.ok()) << "message " << id;
    return r.ok() ? r->created_us : 0;
  };
  EXPECT_EQ(stored_at(1, ab, 1000), 1000);
  EXPECT_EQ(stored_at(2, ab, 1000), 1001);  // the same microsecond
  EXPECT_EQ(stored_at(3, ab, 990), 1002);   // an earlier clock
  EXPECT_EQ(stored_at(4, ab, 2000), 2000);
  EXPECT_EQ(stored_at(5, ac, 1000), 1000);  // another chat's times are its own
  // A repeat answers what it has.
  auto repeat = put(2, ab, 1000);
  ASSERT_TRUE(repeat.ok());
  EXPECT_EQ(repeat->seq, 2);
  EXPECT_EQ(repeat->created_us, 1001);
  // Submitted together (one batch, when the store batches): the same rule, in order.
  const std::pair<int64_t, int64_t> batch[] = {{ab, 2000}, {ab, 2000}, {ac, 1000},
                                               {ab, 1500}, {ab, 2010}, {ac, 5000}};
  std::vector<std::promise<Result<StoredMessage>>> answers(std::size(batch));
  for (size_t i = 0; i < std::size(batch); ++i) {
    int64_t id = 10 + static_cast<int64_t>(i);
    store_->put_message(
        {id, batch[i].first, a, "m" + std::to_string(id), batch[i].second, false, std::nullopt, 0},
        [&answers, i](Result<StoredMessage> r) { answers[i].set_value(std::move(r)); });
  }
  const int64_t expected[] = {2001, 2002, 1001, 2003, 2010, 5000};
  for (size_t i = 0; i < std::size(batch); ++i) {
    auto r = answers[i].get_future().get();
    ASSERT_TRUE(r.ok()) << i << ": " << r.error().detail;
    EXPECT_EQ(r->created_us, expected[i]) << i;
  }
  // The times are stored as answered, and one-message pages from the newest find them all.
  auto page_by_page = [&](int64_t chat) {
    std::vector<int64_t> ids, times;
    int64_t before = 1'000'000;
    for (;;) {
      auto page = store_->load_messages(chat, before, 1);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->empty()) return std::make_pair(ids, times);
      ids.push_back(page->front().id);
      times.push_back(page->front().created_us);
      before = page->front().created_us;
    }
  };
  auto [ab_ids, ab_times] = page_by_page(ab);
  EXPECT_EQ(ab_ids, (std::vector<int64_t>{14, 13, 11, 10, 4, 3, 2, 1}));
  EXPECT_EQ(ab_times, (std::vector<int64_t>{2010, 2003, 2002, 2001, 2000, 1002, 1001, 1000}));
  auto [ac_ids, ac_times] = page_by_page(ac);
  EXPECT_EQ(ac_ids, (std::vector<int64_t>{15, 12, 5}));
  EXPECT_EQ(ac_times, (std::vector<int64_t>{5000, 1001, 1000}));
}

TEST_P(StoreContract, ChatPositionsLeaveOutUnknownChats) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  ASSERT_TRUE(create_guild(700, a, 10).ok());  // no change yet
  ASSERT_TRUE((wait<StoredMessage>([&](Callback<StoredMessage> cb) {
                 store_->put_message({1, chat, a, "hi", 10, false, std::nullopt, 0}, cb);
               }).ok()));
  auto positions = store_->chat_positions({999, 700, chat, 700});
  ASSERT_TRUE(positions.ok());
  ASSERT_EQ(positions->size(), 2u);
  EXPECT_EQ(positions->at(0).chat_id, chat);
  EXPECT_EQ(positions->at(0).last_seq, 1);
  EXPECT_EQ(positions->at(1).chat_id, 700);
  EXPECT_EQ(positions->at(1).last_seq, 0);
  EXPECT_TRUE(store_->chat_positions({})->empty());
}

TEST_P(StoreContract, FindTokenFindsOnlyLiveTokens) {
  int64_t a = make_user("alice", 101);
  for (const TokenRecord& t : {TokenRecord{"live", a, 10, 1000}, TokenRecord{"expired", a, 10, 500},
                               TokenRecord{"revoked", a, 10, 1000}})
    ASSERT_TRUE((wait<void>([&](Callback<void> cb) { store_->put_token(t, cb); }).ok()));
  ASSERT_TRUE((
      wait<int64_t>([&](Callback<int64_t> cb) { store_->revoke_token("revoked", 100, cb); }).ok()));
  auto live = store_->find_token("live", 500);
  ASSERT_TRUE(live.ok());
  ASSERT_TRUE(live->has_value());
  EXPECT_EQ((*live)->user_id, a);
  EXPECT_EQ((*live)->created_us, 10);
  EXPECT_EQ((*live)->expires_us, 1000);
  EXPECT_EQ((*live)->token_hash, "live");
  EXPECT_FALSE(store_->find_token("expired", 500)->has_value());  // expires_us <= now
  EXPECT_FALSE(store_->find_token("revoked", 500)->has_value());
  EXPECT_FALSE(store_->find_token("unknown", 500)->has_value());
  EXPECT_FALSE(store_->find_token("live", 1000)->has_value());
}

TEST_P(StoreContract, FindUserMatchesNamesAndEmailsAsTheDirectory) {
  int64_t a = make_user("alice", 101);
  // NFC "Zoë" (U+00EB).
  int64_t z = make_user("Zo\xc3\xab", 102);
  auto by_id = store_->find_user(a);
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->name, "alice");
  EXPECT_EQ((*by_id)->email, "alice@example.test");
  EXPECT_EQ((*by_id)->password_hash, "hash");
  EXPECT_EQ((*by_id)->created_us, 2000);
  EXPECT_FALSE((*by_id)->profile);
  EXPECT_FALSE(store_->find_user(999)->has_value());

  EXPECT_EQ(store_->find_user_by_name("ALICE").value()->id, a);
  EXPECT_EQ(store_->find_user_by_name("alice").value()->id, a);
  // Decomposed ("e" + U+0308) and upper case: the same name key.
  auto decomposed = store_->find_user_by_name("ZOE\xcc\x88");
  ASSERT_TRUE(decomposed.ok());
  ASSERT_TRUE(decomposed->has_value());
  EXPECT_EQ((*decomposed)->id, z);
  EXPECT_EQ((*decomposed)->name, "Zo\xc3\xab");
  EXPECT_FALSE(store_->find_user_by_name("zoe")->has_value());
  EXPECT_FALSE(store_->find_user_by_name("nobody")->has_value());

  EXPECT_EQ(store_->find_user_by_email("Alice@Example.TEST").value()->id, a);
  EXPECT_EQ(store_->find_user_by_email("alice@example.test").value()->id, a);
  EXPECT_FALSE(store_->find_user_by_email("alice@example.com")->has_value());
}

}  // namespace
}  // namespace rwd::store
