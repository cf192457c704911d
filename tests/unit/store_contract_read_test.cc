// Read marks and chat summaries (store/store.h, mark_read and chat_summaries), for every
// implementation (see store_contract.h): a mark only moves forward in the chat's order, the
// count is of the others' live messages after it, bounded by the cap, and the newest live
// message is the chat's last.
#include <optional>
#include <vector>

#include "store_contract.h"

namespace rwd::store {
namespace {

TEST_P(StoreContract, AReadMarkMovesOnlyForwardAndCountsTheOthersLiveMessagesAfterIt) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  auto put = [&](int64_t id, int64_t author, int64_t created_us) {
    auto r = wait<StoredMessage>([&](Callback<StoredMessage> cb) {
      store_->put_message({id, chat, author, "m" + std::to_string(id), created_us, false, {}, 0},
                          cb);
    });
    ASSERT_TRUE(r.ok());
  };
  auto mark = [&](int64_t user, int64_t chat_id, int64_t message_id) {
    return wait<ReadMark>(
        [&](Callback<ReadMark> cb) { store_->mark_read(user, chat_id, message_id, cb); });
  };
  auto summary = [&](int64_t user, int cap = 100) {
    auto r = store_->chat_summaries(user, {chat}, cap);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->size(), 1u);
    return r->empty() ? ChatSummary{} : r->front();
  };

  // An empty chat: nothing read, nothing unread, no last message.
  ChatSummary empty = summary(a);
  EXPECT_EQ(empty.chat_id, chat);
  EXPECT_EQ(empty.last_read_id, 0);
  EXPECT_EQ(empty.unread, 0);
  EXPECT_FALSE(empty.last_message);

  put(1, b, 1000);
  put(2, a, 1100);  // mine: never unread to me
  put(3, b, 1200);
  put(4, b, 1300);
  ChatSummary before = summary(a);
  EXPECT_EQ(before.unread, 3);
  ASSERT_TRUE(before.last_message);
  EXPECT_EQ(before.last_message->id, 4);
  EXPECT_EQ(before.last_message->author_id, b);
  EXPECT_EQ(before.last_message->content, "m4");
  EXPECT_EQ(before.last_message->created_us, 1300);
  EXPECT_EQ(summary(b).unread, 1);  // bob has read nothing: alice's one message

  auto moved = mark(a, chat, 3);
  ASSERT_TRUE(moved.ok());
  EXPECT_TRUE(moved->moved);
  EXPECT_EQ(moved->message_id, 3);
  EXPECT_EQ(summary(a).last_read_id, 3);
  EXPECT_EQ(summary(a).unread, 1);

  // Back to an earlier message: the mark stays, and says where it is.
  auto back = mark(a, chat, 1);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->moved);
  EXPECT_EQ(back->message_id, 3);
  auto same = mark(a, chat, 3);
  ASSERT_TRUE(same.ok());
  EXPECT_FALSE(same->moved);
  EXPECT_EQ(summary(a).last_read_id, 3);

  // A deleted message is not counted, nor is it the last message; marking up to it works.
  ASSERT_TRUE((wait<MessageRecord>([&](Callback<MessageRecord> cb) {
                 store_->edit_message(chat, 4, b, "", 1400, cb);
               }).ok()));
  ChatSummary after_delete = summary(a);
  EXPECT_EQ(after_delete.unread, 0);
  ASSERT_TRUE(after_delete.last_message);
  EXPECT_EQ(after_delete.last_message->id, 3);
  auto to_deleted = mark(a, chat, 4);
  ASSERT_TRUE(to_deleted.ok());
  EXPECT_TRUE(to_deleted->moved);
  EXPECT_EQ(to_deleted->message_id, 4);

  // An edit keeps the message's place: it is unread again only if it was after the mark.
  put(5, b, 1500);
  ASSERT_TRUE((wait<MessageRecord>([&](Callback<MessageRecord> cb) {
                 store_->edit_message(chat, 3, b, "m3!", 1600, cb);
               }).ok()));
  ChatSummary after_edit = summary(a);
  EXPECT_EQ(after_edit.unread, 1);
  ASSERT_TRUE(after_edit.last_message);
  EXPECT_EQ(after_edit.last_message->id, 5);

  // The count stops at the cap.
  for (int64_t id = 6; id < 12; ++id) put(id, b, 1000 + id * 100);
  EXPECT_EQ(summary(a).unread, 7);
  EXPECT_EQ(summary(a, 5).unread, 5);

  // Marks are per user: bob's is his own.
  ASSERT_TRUE(mark(b, chat, 2).ok());
  EXPECT_EQ(summary(b).last_read_id, 2);
  EXPECT_EQ(summary(a).last_read_id, 4);
}

TEST_P(StoreContract, AReadMarkNeedsAMessageOfThatChat) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  int64_t chat = befriend(a, b, 500), other = befriend(a, c, 501);
  ASSERT_TRUE((wait<StoredMessage>([&](Callback<StoredMessage> cb) {
                 store_->put_message({1, other, c, "hi", 1000, false, {}, 0}, cb);
               }).ok()));
  auto mark = [&](int64_t chat_id, int64_t message_id) {
    return wait<ReadMark>(
        [&](Callback<ReadMark> cb) { store_->mark_read(a, chat_id, message_id, cb); });
  };
  auto elsewhere = mark(chat, 1);  // a message of another chat
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_EQ(elsewhere.error().code, Errc::kMessageNotFound);
  auto unknown = mark(chat, 99);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::kMessageNotFound);
  EXPECT_EQ(store_->chat_summaries(a, {chat}, 100)->front().last_read_id, 0);
}

TEST_P(StoreContract, ChatSummariesComeInTheOrderAskedAndLeaveOutChatsThatDoNotExist) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102), c = make_user("carol", 103);
  int64_t ab = befriend(a, b, 500), ac = befriend(a, c, 501);
  auto g = create_guild(900, a, 1000);
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE((wait<StoredMessage>([&](Callback<StoredMessage> cb) {
                 store_->put_message({1, 900, a, "in the guild", 1000, false, {}, 0}, cb);
               }).ok()));
  auto sums = store_->chat_summaries(a, {ac, 777, 900, ab}, 100);
  ASSERT_TRUE(sums.ok());
  ASSERT_EQ(sums->size(), 3u);
  EXPECT_EQ((*sums)[0].chat_id, ac);
  EXPECT_EQ((*sums)[1].chat_id, 900);
  EXPECT_EQ((*sums)[1].unread, 0);  // my own message
  ASSERT_TRUE((*sums)[1].last_message);
  EXPECT_EQ((*sums)[1].last_message->content, "in the guild");
  EXPECT_EQ((*sums)[2].chat_id, ab);
  EXPECT_TRUE(store_->chat_summaries(a, {}, 100)->empty());
}

// last_seq is the chat's position, as chat_positions reads it: every change counts (a deletion
// too, though the newest live message is then an older one).
TEST_P(StoreContract, ChatSummariesGiveTheChatsPosition) {
  int64_t a = make_user("alice", 101), b = make_user("bob", 102);
  int64_t chat = befriend(a, b, 500);
  EXPECT_EQ(store_->chat_summaries(a, {chat}, 100)->front().last_seq, 0);
  for (int64_t id : {1, 2})
    ASSERT_TRUE((
        wait<StoredMessage>([&](Callback<StoredMessage> cb) {
          store_->put_message({id, chat, b, "m" + std::to_string(id), 1000 + id, false, {}, 0}, cb);
        }).ok()));
  ASSERT_TRUE((wait<MessageRecord>([&](Callback<MessageRecord> cb) {
                 store_->edit_message(chat, 2, b, "", 2000, cb);
               }).ok()));
  auto sum = store_->chat_summaries(a, {chat}, 100);
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->front().last_seq, 3);
  ASSERT_TRUE(sum->front().last_message);
  EXPECT_EQ(sum->front().last_message->id, 1);
  EXPECT_EQ(store_->chat_positions({chat})->front().last_seq, 3);
}

}  // namespace
}  // namespace rwd::store
