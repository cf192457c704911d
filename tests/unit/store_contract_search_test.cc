// Message search (store/store.h, search_messages), for every implementation (see
// store_contract.h): every term is the start of a word of the text, case aside; only the
// chats asked are searched; deleted texts are gone and edited ones are found by their new
// words; the best match comes first, and pages follow one another.
#include <algorithm>
#include <future>
#include <string>
#include <vector>

#include "store_contract.h"

namespace rwd::store {
namespace {

// Writes and searches of one chat store, each waited for.
struct Texts {
  Store& store;
  template <typename T>
  static Result<T> wait(const std::function<void(Callback<T>)>& call) {
    std::promise<Result<T>> p;
    call([&p](Result<T> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  void put(int64_t id, int64_t chat, int64_t author, const std::string& text) {
    auto r = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
      store.put_message({id, chat, author, text, 1000 + id, false, {}, 0}, cb);
    });
    ASSERT_TRUE(r.ok());
  }
  void edit(int64_t chat, int64_t id, int64_t author, const std::string& text) {
    auto r = wait<MessageRecord>([&](Callback<MessageRecord> cb) {
      store.edit_message(chat, id, author, text, 5000 + id, cb);
    });
    ASSERT_TRUE(r.ok());
  }
  std::vector<int64_t> ids(std::vector<std::string> terms, std::vector<int64_t> chats,
                           int offset = 0, int limit = 20) {
    auto r = store.search_messages({std::move(terms), std::move(chats), offset, limit});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().detail);
    std::vector<int64_t> out;
    if (r.ok())
      for (const auto& m : *r) out.push_back(m.id);
    return out;
  }
};

using V = std::vector<int64_t>;

TEST_P(StoreContract, SearchEveryTermMatchesTheStartOfAWordCaseAside) {
  Texts t{*store_};
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  t.put(1, chat, a, "Dinner at Marco's tonight?");
  t.put(2, chat, b, "dinner is fine, tomorrow better");
  t.put(3, chat, a, "the dinosaur museum");
  t.put(4, chat, b, "오늘 저녁 먹을까요");
  EXPECT_EQ(t.ids({"dinner"}, {chat}), (V{2, 1}));  // equal rank: newest first
  EXPECT_EQ(t.ids({"DIN"}, {chat}).size(), 3u);
  EXPECT_EQ(t.ids({"dinner", "tonight"}, {chat}), (V{1}));
  EXPECT_EQ(t.ids({"tom", "din"}, {chat}), (V{2}));
  EXPECT_TRUE(t.ids({"inner"}, {chat}).empty());  // the start of a word, not its inside
  EXPECT_EQ(t.ids({"저녁"}, {chat}), (V{4}));
  EXPECT_EQ(t.ids({"오"}, {chat}), (V{4}));
  EXPECT_TRUE(t.ids({"dinner", "museum"}, {chat}).empty());

  // The result is the message as stored.
  auto r = store_->search_messages({{"marco"}, {chat}, 0, 20});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  const MessageRecord& m = r->front();
  EXPECT_EQ(m.id, 1);
  EXPECT_EQ(m.chat_id, chat);
  EXPECT_EQ(m.author_id, a);
  EXPECT_EQ(m.content, "Dinner at Marco's tonight?");
  EXPECT_EQ(m.created_us, 1001);
  EXPECT_FALSE(m.edited_us);
  EXPECT_EQ(m.seq, 1);
}

TEST_P(StoreContract, SearchOnlyTheChatsAskedAreSearched) {
  Texts t{*store_};
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  int64_t ab = befriend(a, b, 500), bc = befriend(b, c, 501);
  ASSERT_TRUE(create_guild(900, b, 1000).ok());
  t.put(1, ab, a, "secret plan");
  t.put(2, bc, c, "secret plan too");
  t.put(3, 900, b, "secret guild plan");
  EXPECT_EQ(t.ids({"secret"}, {ab}), (V{1}));
  auto sorted = [](V v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  EXPECT_EQ(sorted(t.ids({"secret"}, {ab, 900})), (V{1, 3}));
  EXPECT_EQ(sorted(t.ids({"secret"}, {bc, 900, ab})), (V{1, 2, 3}));
  EXPECT_TRUE(t.ids({"secret"}, {777}).empty());  // a chat that does not exist
  EXPECT_TRUE(t.ids({"secret"}, {}).empty());
  // A chat id is never found as a word of the text.
  t.put(4, ab, a, "chat 501 and 900");
  EXPECT_EQ(t.ids({"501"}, {ab}), (V{4}));
  EXPECT_TRUE(t.ids({"500"}, {ab}).empty());
}

TEST_P(StoreContract, SearchEditsAndDeletionsChangeWhatIsFound) {
  Texts t{*store_};
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  t.put(1, chat, a, "meet at the station");
  t.put(2, chat, a, "bring the umbrella");
  // 1 and 2 are found (so indexed, wherever a store indexes) before they change; 3 and 4
  // change right after they are stored, before any search.
  EXPECT_EQ(t.ids({"meet"}, {chat}), (V{1}));
  t.put(3, chat, a, "the station clock");
  t.put(4, chat, a, "an umbrella stand");
  t.edit(chat, 3, a, "the harbour clock");
  t.edit(chat, 4, a, "");
  t.edit(chat, 1, a, "meet at the harbour");
  EXPECT_TRUE(t.ids({"station"}, {chat}).empty());
  auto r = store_->search_messages({{"harbour", "meet"}, {chat}, 0, 20});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(r->front().content, "meet at the harbour");
  EXPECT_EQ(r->front().edited_us, 5001);
  t.edit(chat, 2, a, "");  // a deletion
  EXPECT_TRUE(t.ids({"umbrella"}, {chat}).empty());
  EXPECT_EQ(t.ids({"meet"}, {chat}), (V{1}));
  EXPECT_EQ(t.ids({"clock"}, {chat}), (V{3}));
  EXPECT_EQ(t.ids({"harbour", "clock"}, {chat}), (V{3}));
}

TEST_P(StoreContract, SearchTheBestMatchComesFirstAndPagesFollowOneAnother) {
  Texts t{*store_};
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  t.put(1, chat, a, "pizza pizza pizza pizza");
  for (int64_t id = 2; id <= 30; ++id)
    t.put(id, chat, b, "a long message about many things and also pizza, id " + std::to_string(id));
  std::vector<int64_t> first = t.ids({"pizza"}, {chat}, 0, 10);
  ASSERT_EQ(first.size(), 10u);
  EXPECT_EQ(first.front(), 1);  // the word four times in a short text
  EXPECT_EQ(first[1], 30);      // then equal ranks, newest first
  std::vector<int64_t> all = first;
  for (int offset = 10; offset < 40; offset += 10) {
    auto page = t.ids({"pizza"}, {chat}, offset, 10);
    all.insert(all.end(), page.begin(), page.end());
  }
  ASSERT_EQ(all.size(), 30u);
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());  // no message twice
  EXPECT_TRUE(t.ids({"pizza"}, {chat}, 30, 10).empty());
}

}  // namespace
}  // namespace rwd::store
