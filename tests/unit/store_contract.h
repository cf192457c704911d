#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "store/store.h"

// The contract every Store implementation keeps (store/store.h), as one value-parameterized
// suite: an implementation runs it by instantiating StoreContract with a factory, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(sqlite_factory()),
//                            rwd::store::StoreFactoryName());
// The tests use only the Store interface.
namespace rwd::store {

struct StoreFactory {
  std::string name;  // the instantiation's name in test names
  // A fresh, empty store whose files (if any) live in scratch_dir, an empty directory the
  // fixture removes afterwards.
  std::function<std::unique_ptr<Store>(const std::string& scratch_dir)> make;
};

struct StoreFactoryName {
  std::string operator()(const ::testing::TestParamInfo<StoreFactory>& info) const {
    return info.param.name;
  }
};

class StoreContract : public ::testing::TestWithParam<StoreFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Submits a write and waits for its acknowledgement.
  template <typename T>
  Result<T> wait(const std::function<void(Callback<T>)>& call) {
    std::promise<Result<T>> p;
    call([&p](Result<T> r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }

  // A user created through registration and verification.
  int64_t make_user(const std::string& name, int64_t id);
  // a asks b, b accepts; returns their chat.
  int64_t befriend(int64_t a, int64_t b, int64_t new_chat_id);
  Result<GuildState> create_guild(int64_t guild_id, int64_t owner_id, int64_t created_us);
  Result<GuildState> add_member(int64_t guild_id, int64_t actor_id, int64_t user_id, int64_t now_us,
                                int64_t max_members = 100);

  std::filesystem::path dir_;
  std::unique_ptr<Store> store_;
};

}  // namespace rwd::store
