#include "bench/accounts.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "bench/mail_reader.h"
#include "bench/net.h"

namespace rwd::bench {
namespace {

namespace fs = std::filesystem;
constexpr const char* kPassword = "bench-password-1";

void say(const std::string& s) { std::cerr << "setup: " << s << std::endl; }

rapidjson::Document read_cache(const std::string& path) {
  rapidjson::Document d;
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    d.Parse(text.c_str());
  }
  if (d.HasParseError() || !d.IsObject()) d.SetObject();
  if (!d.HasMember("servers") || !d["servers"].IsObject())
    d.AddMember("servers", rapidjson::Value(rapidjson::kObjectType), d.GetAllocator());
  return d;
}

Pool load_pool(const Options& o) {
  Pool p;
  rapidjson::Document d = read_cache(o.cache_path);
  auto it = d["servers"].FindMember(o.url.c_str());
  if (it == d["servers"].MemberEnd() || !it->value.IsObject()) return p;
  const auto& s = it->value;
  auto str = [](const rapidjson::Value& v, const char* k) {
    auto m = v.FindMember(k);
    return m != v.MemberEnd() && m->value.IsString() ? std::string(m->value.GetString()) : "";
  };
  if (s.HasMember("accounts") && s["accounts"].IsArray())
    for (const auto& a : s["accounts"].GetArray())
      p.accounts.push_back(
          {str(a, "name"), str(a, "email"), str(a, "password"), str(a, "token"), str(a, "id")});
  if (s.HasMember("friend_pairs") && s["friend_pairs"].IsArray()) {
    // Only the leading run of pairs (2k, 2k+1) counts: that is what set-up creates.
    for (const auto& fp : s["friend_pairs"].GetArray()) {
      if (!fp.IsArray() || fp.Size() != 2 || !fp[0].IsUint() || !fp[1].IsUint()) break;
      if (fp[0].GetUint() != 2 * p.friend_pairs || fp[1].GetUint() != 2 * p.friend_pairs + 1) break;
      p.friend_pairs++;
    }
  }
  if (s.HasMember("star_friends") && s["star_friends"].IsUint64())
    p.star_friends = s["star_friends"].GetUint64();
  if (s.HasMember("history_messages") && s["history_messages"].IsInt64())
    p.history_messages = s["history_messages"].GetInt64();
  if (s.HasMember("search_messages") && s["search_messages"].IsInt64())
    p.search_messages = s["search_messages"].GetInt64();
  if (s.HasMember("search_pairs") && s["search_pairs"].IsUint64())
    p.search_pairs = s["search_pairs"].GetUint64();
  p.friend_pairs = std::min(p.friend_pairs, p.accounts.size() / 2);
  p.star_friends = p.accounts.empty() ? 0 : std::min(p.star_friends, p.accounts.size() - 1);
  return p;
}

void save_pool(const Options& o, const Pool& p) {
  rapidjson::Document d = read_cache(o.cache_path);
  auto& al = d.GetAllocator();
  rapidjson::Value s(rapidjson::kObjectType);
  rapidjson::Value accounts(rapidjson::kArrayType);
  auto sv = [&](const std::string& x) { return rapidjson::Value(x.c_str(), al); };
  for (const auto& a : p.accounts) {
    rapidjson::Value v(rapidjson::kObjectType);
    v.AddMember("name", sv(a.name), al);
    v.AddMember("email", sv(a.email), al);
    v.AddMember("password", sv(a.password), al);
    v.AddMember("token", sv(a.token), al);
    v.AddMember("id", sv(a.id), al);
    accounts.PushBack(v, al);
  }
  rapidjson::Value pairs(rapidjson::kArrayType);
  for (size_t k = 0; k < p.friend_pairs; k++) {
    rapidjson::Value pr(rapidjson::kArrayType);
    pr.PushBack(uint64_t(2 * k), al).PushBack(uint64_t(2 * k + 1), al);
    pairs.PushBack(pr, al);
  }
  s.AddMember("accounts", accounts, al);
  s.AddMember("friend_pairs", pairs, al);
  s.AddMember("star_friends", uint64_t(p.star_friends), al);
  s.AddMember("history_messages", p.history_messages, al);
  s.AddMember("search_messages", p.search_messages, al);
  s.AddMember("search_pairs", uint64_t(p.search_pairs), al);
  auto& servers = d["servers"];
  servers.RemoveMember(o.url.c_str());
  servers.AddMember(sv(o.url), s, al);
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(buf);
  w.SetIndent(' ', 1);
  d.Accept(w);
  // Write-then-rename: an interrupted run never leaves a truncated cache.
  std::string tmp = o.cache_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << buf.GetString() << "\n";
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  fs::rename(tmp, o.cache_path);
}

std::string random_tag() {
  std::random_device rd;
  std::string t;
  for (int i = 0; i < 6; i++) t += "abcdefghijklmnopqrstuvwxyz0123456789"[rd() % 36];
  return t;
}

std::string json_message(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str());
  if (!d.HasParseError() && d.IsObject() && d.HasMember("payload") && d["payload"].IsObject()) {
    const auto& p = d["payload"];
    std::string out;
    if (p.HasMember("code") && p["code"].IsString()) out += std::string(p["code"].GetString());
    if (p.HasMember("message") && p["message"].IsString())
      out += std::string(": ") + p["message"].GetString();
    if (!out.empty()) return out;
  }
  return body.substr(0, 200);
}

// Repeats an HTTP call while the server answers 429 or 503 (limits and full queues are
// expected under set-up load; anything else is an error).
Task<HttpClient::Response> patient(std::function<Task<HttpClient::Response>()> call) {
  for (int tries = 0;; tries++) {
    HttpClient::Response r = co_await call();
    if ((r.status != 429 && r.status != 503) || tries > 600) co_return r;
    co_await sleep_for_s(r.status == 429 ? 1.0 : 0.05);
  }
}

Task<void> create_accounts(const Options& o, std::vector<Account>& fresh) {
  size_t n = fresh.size();
  say("registering " + std::to_string(n) + " accounts");
  co_await parallel_for(n, o.setup_concurrency, [&](size_t i) -> Task<void> {
    HttpClient c(o, i);
    const Account& a = fresh[i];
    auto r = co_await patient([&] {
      return c.post_form("/api/v1/auth/register", "name=" + form_escape(a.name) +
                                                      "&email=" + form_escape(a.email) +
                                                      "&password=" + form_escape(a.password));
    });
    if (r.status != 201)
      throw std::runtime_error("register " + a.name + ": HTTP " + std::to_string(r.status) + " " +
                               json_message(r.body));
  });

  say("waiting for " + std::to_string(n) + " verification mails in " + o.mail_dir);
  MailReader mail(o.mail_dir);
  size_t found = 0;
  int64_t last_progress = now_ns();
  for (;;) {
    mail.scan();
    size_t f = 0;
    for (const auto& a : fresh) f += mail.key(a.email) != nullptr;
    if (f == n) break;
    if (f > found) found = f, last_progress = now_ns();
    if (now_ns() - last_progress > int64_t(60e9))
      throw std::runtime_error("only " + std::to_string(f) + " of " + std::to_string(n) +
                               " verification mails arrived in " + o.mail_dir +
                               " (is the server's SMTP pointed at the sink?)");
    co_await sleep_for_s(0.1);
  }

  say("opening the links and logging in");
  co_await parallel_for(n, o.setup_concurrency, [&](size_t i) -> Task<void> {
    HttpClient c(o, i);
    Account& a = fresh[i];
    auto r =
        co_await patient([&] { return c.get("/api/v1/auth/email_verify/" + *mail.key(a.email)); });
    if (r.status != 200)
      throw std::runtime_error("verify " + a.email + ": HTTP " + std::to_string(r.status) + " " +
                               json_message(r.body));
    r = co_await patient([&] {
      return c.post_form("/api/v1/auth/login",
                         "email=" + form_escape(a.email) + "&password=" + form_escape(a.password));
    });
    if (r.status != 201)
      throw std::runtime_error("login " + a.email + ": HTTP " + std::to_string(r.status) + " " +
                               json_message(r.body));
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("payload") || !d["payload"].IsObject() ||
        !d["payload"].HasMember("token") || !d["payload"]["token"].IsString())
      throw std::runtime_error("login answer without a token: " + r.body);
    a.token = d["payload"]["token"].GetString();
    auto ws = co_await WsConn::open(o, i, "/ws");
    a.id = co_await ws->hello(a.token);
    ws->abort();
    if (a.id.empty()) throw std::runtime_error("fresh token refused for " + a.name);
  });
}

Task<void> befriend(const Options& o, const Account& a, const Account& b, uint64_t source) {
  auto wa = co_await WsConn::open(o, source, "/ws");
  auto wb = co_await WsConn::open(o, source + 1, "/ws");
  if ((co_await wa->hello(a.token)).empty() || (co_await wb->hello(b.token)).empty())
    throw std::runtime_error("token refused while making friends");
  wa->send(R"({"type":"mutual_users","payload":{"type":"request","name":")" + b.name + "\"}}");
  Frame f = co_await wa->read_until("ok");
  // 4012 already friends, 4013 already asked: a re-run after an interrupted set-up.
  std::string code = f.error_code();
  if (!code.empty() && code != "4012" && code != "4013")
    throw std::runtime_error("friend request " + a.name + " -> " + b.name + ": error " + code);
  if (code != "4012") {
    wb->send(R"({"type":"mutual_users","payload":{"type":"response","name":")" + a.name + "\"}}");
    f = co_await wb->read_until("ok");
    code = f.error_code();
    if (!code.empty() && code != "4012")
      throw std::runtime_error("friend response " + b.name + " -> " + a.name + ": error " + code);
  }
  wa->abort();
  wb->abort();
}

}  // namespace

std::string Pool::chat_id(size_t pair) const {
  return std::to_string(std::stoull(a(pair).id) ^ std::stoull(b(pair).id));
}

Pool prepare_pool(net::io_context& io, const Options& o, size_t accounts, size_t pairs) {
  accounts = std::max(accounts, 2 * pairs);
  Pool pool = load_pool(o);
  if (!pool.accounts.empty()) {
    // A cached pool is only good for the data directory it was made on.
    bool valid = true;
    run_sync(io, [&]() -> Task<void> {
      size_t check[2] = {0, pool.accounts.size() - 1};
      for (size_t i : check) {
        auto ws = co_await WsConn::open(o, i, "/ws");
        if ((co_await ws->hello(pool.accounts[i].token)) != pool.accounts[i].id) valid = false;
        ws->abort();
      }
    }());
    if (!valid) {
      say("cached accounts for " + o.url + " are not valid on this server: starting afresh");
      pool = Pool{};
    }
  }
  if (pool.accounts.size() < accounts) {
    if (o.mail_dir.empty())
      throw std::runtime_error("set-up needs --mail-dir (the SMTP sink's directory) to create " +
                               std::to_string(accounts - pool.accounts.size()) + " accounts");
    std::string tag = random_tag();
    std::vector<Account> fresh;
    for (size_t i = pool.accounts.size(); i < accounts; i++) {
      std::string name = "b" + tag + "_" + std::to_string(i);
      fresh.push_back({name, name + "@bench.test", kPassword, "", ""});
    }
    run_sync(io, create_accounts(o, fresh));
    pool.accounts.insert(pool.accounts.end(), fresh.begin(), fresh.end());
    save_pool(o, pool);
  }
  if (pool.friend_pairs < pairs) {
    say("making " + std::to_string(pairs - pool.friend_pairs) + " friend pairs");
    size_t first = pool.friend_pairs;
    run_sync(io, parallel_for(pairs - first, o.setup_concurrency, [&](size_t i) -> Task<void> {
               size_t k = first + i;
               co_await befriend(o, pool.a(k), pool.b(k), 2 * k);
             }));
    pool.friend_pairs = pairs;
    save_pool(o, pool);
  }
  return pool;
}

void prepare_star(net::io_context& io, const Options& o, Pool& pool, size_t members) {
  if (members < 2 || pool.star_friends + 1 >= members) return;
  if (pool.accounts.size() < members) throw std::runtime_error("prepare_star: too few accounts");
  size_t first = pool.star_friends + 1, n = members - first;
  const Account& hub = pool.accounts[0];
  say("befriending " + std::to_string(n) + " accounts with " + hub.name);
  // One connection of the hub sends every request, a window of them in flight (one
  // connection, so the per-user session limit is never in the way).
  run_sync(io, [&]() -> Task<void> {
    auto w = co_await WsConn::open(o, 0, "/ws");
    if ((co_await w->hello(hub.token)).empty())
      throw std::runtime_error("token refused while making friends");
    size_t sent = 0, answered = 0;
    while (answered < n) {
      while (sent < n && sent - answered < 64) {
        w->send(R"({"type":"mutual_users","payload":{"type":"request","name":")" +
                pool.accounts[first + sent].name + "\"}}");
        sent++;
      }
      Frame f = co_await w->read_until("ok");
      answered++;
      // 4012 already friends (account 1 is, through pair 0), 4013 already asked (a re-run
      // after an interrupted set-up).
      std::string code = f.error_code();
      if (!code.empty() && code != "4012" && code != "4013")
        throw std::runtime_error("friend request from " + hub.name + ": error " + code);
    }
    w->abort();
  }());
  run_sync(io, parallel_for(n, o.setup_concurrency, [&](size_t i) -> Task<void> {
             const Account& m = pool.accounts[first + i];
             auto w = co_await WsConn::open(o, first + i, "/ws");
             if ((co_await w->hello(m.token)).empty())
               throw std::runtime_error("token refused while making friends");
             w->send(R"({"type":"mutual_users","payload":{"type":"response","name":")" + hub.name +
                     "\"}}");
             Frame f = co_await w->read_until("ok");
             // Every request above was either made (ok, 4013) or not needed (4012: already
             // friends, which a response answers with 4012 or 4014).
             std::string code = f.error_code();
             if (!code.empty() && code != "4012" && code != "4014")
               throw std::runtime_error("friend response " + m.name + " -> " + hub.name +
                                        ": error " + code);
             w->abort();
           }));
  pool.star_friends = members - 1;
  save_pool(o, pool);
}

std::string make_guild(net::io_context& io, const Options& o, const Pool& pool, size_t members) {
  std::string id;
  say("creating a guild and adding " + std::to_string(members - 1) + " members");
  run_sync(io, [&]() -> Task<void> {
    auto w = co_await WsConn::open(o, 0, "/ws?v=2");
    if ((co_await w->hello(pool.accounts[0].token)).empty())
      throw std::runtime_error("token refused while making the guild");
    w->send(R"({"type":"guild","payload":{"type":"create","name":"bench fanout"}})");
    Frame f = co_await w->read_until("guild");
    if (f.type == "error") throw std::runtime_error("guild create: error " + f.error_code());
    auto g = f.payload->FindMember("guild");
    if (f.payload_str("type") != "created" || g == f.payload->MemberEnd() || !g->value.IsObject() ||
        !g->value.HasMember("id") || !g->value["id"].IsString())
      throw std::runtime_error("guild create: no created event with a guild id");
    id = g->value["id"].GetString();
    // Members are added before any of them connects: each `joined` event then goes to this
    // connection only. It is a few hundred bytes whatever the guild's size; a small window of
    // adds in flight still keeps this connection's queue short.
    size_t n = members - 1, sent = 0, joined = 0;
    while (joined < n) {
      while (sent < n && sent - joined < 4) {
        w->send(R"({"type":"guild","payload":{"type":"add","guild_id":")" + id + R"(","name":")" +
                pool.accounts[1 + sent].name + "\"}}");
        sent++;
      }
      Frame e = co_await w->read_until("guild");
      if (e.type == "error") throw std::runtime_error("guild add: error " + e.error_code());
      if (e.payload_str("type") == "joined") joined++;
    }
    w->abort();
  }());
  return id;
}

void delete_guild(net::io_context& io, const Options& o, const Pool& pool,
                  const std::string& guild) {
  run_sync(io, [&]() -> Task<void> {
    auto w = co_await WsConn::open(o, 0, "/ws?v=2");
    if ((co_await w->hello(pool.accounts[0].token)).empty()) co_return;
    w->send(R"({"type":"guild","payload":{"type":"delete","guild_id":")" + guild + "\"}}");
    co_await w->read_until("guild");
    w->abort();
  }());
}

void prefill_history(net::io_context& io, const Options& o, Pool& pool, int64_t messages) {
  if (pool.history_messages >= messages) return;
  int64_t need = messages - pool.history_messages;
  say("pre-filling the history chat with " + std::to_string(need) + " messages");
  std::string prefix = R"({"type":"chat","payload":{"type":"send","chat_id":")" + pool.chat_id(0) +
                       R"(","content":"history filler )";
  int64_t stored = 0, errors = 0;
  run_sync(io, [&]() -> Task<void> {
    auto ws = co_await WsConn::open(o, 0, "/ws");
    if ((co_await ws->hello(pool.a(0).token)).empty()) throw std::runtime_error("token refused");
    // A window of messages in flight: the server commits them in groups, so this fills the
    // chat far faster than one at a time.
    int64_t sent = 0, inflight = 0;
    auto top_up = [&] {
      while (inflight < 256 && stored + inflight < need) {
        ws->send(prefix + std::to_string(sent++) + "\"}}");
        inflight++;
      }
    };
    top_up();
    int64_t next_report = now_ns() + int64_t(5e9);
    // A slow store can take minutes: the connection must stay alive (the server drops one
    // after 45 s without a heartbeat), so a heartbeat goes out every 20 s between sends.
    int64_t next_heartbeat = now_ns() + int64_t(20e9), heartbeats = 0;
    while (stored < need) {
      if (now_ns() > next_heartbeat) {
        ws->send(R"({"type":"heartbeat","payload":{"count":)" + std::to_string(++heartbeats) +
                 "}}");
        next_heartbeat = now_ns() + int64_t(20e9);
      }
      Frame f = co_await ws->read_until("chat");
      inflight--;
      if (f.type == "error") {
        if (++errors > 1000) throw std::runtime_error("too many errors: " + f.error_code());
        if (f.error_code() == "4029") co_await sleep_for_s(0.5);
      } else {
        stored++;
      }
      top_up();
      if (now_ns() > next_report) {
        say(std::to_string(stored) + " of " + std::to_string(need));
        next_report = now_ns() + int64_t(5e9);
      }
    }
    ws->abort();
  }());
  pool.history_messages = messages;
  save_pool(o, pool);
}

void prefill_search(net::io_context& io, const Options& o, Pool& pool, int64_t messages,
                    size_t pairs, const std::function<std::string(int64_t)>& text) {
  if (pool.search_messages == messages && pool.search_pairs == pairs) return;
  if (pool.search_messages != 0)
    throw std::runtime_error("the chats hold another search corpus: use a fresh server");
  say("filling " + std::to_string(pairs) + " chats with " + std::to_string(messages) +
      " messages for search");
  int64_t stored = 0, errors = 0;
  run_sync(io, [&]() -> Task<void> {
    // One connection per chat, a window of messages in flight on each (group commit), chats
    // taken in turn so that every chat's messages spread over the whole run.
    std::vector<std::shared_ptr<WsConn>> conns(pairs);
    for (size_t p = 0; p < pairs; p++) {
      conns[p] = co_await WsConn::open(o, p, "/ws");
      if ((co_await conns[p]->hello(pool.a(p).token)).empty())
        throw std::runtime_error("token refused");
    }
    int64_t next_report = now_ns() + int64_t(5e9), next_heartbeat = now_ns() + int64_t(20e9);
    int64_t heartbeats = 0, next_text = 0;
    while (stored < messages) {
      int64_t round = std::min<int64_t>(messages - stored, int64_t(pairs) * 32);
      for (int64_t k = 0; k < round; k++) {
        size_t p = size_t(k) % pairs;
        rapidjson::StringBuffer buf;
        rapidjson::Writer<rapidjson::StringBuffer> w(buf);
        w.StartObject();
        w.Key("type");
        w.String("chat");
        w.Key("payload");
        w.StartObject();
        w.Key("type");
        w.String("send");
        w.Key("chat_id");
        w.String(pool.chat_id(p).c_str());
        w.Key("content");
        std::string t = text(next_text++);
        w.String(t.c_str(), rapidjson::SizeType(t.size()));
        w.EndObject();
        w.EndObject();
        conns[p]->send(buf.GetString());
      }
      for (int64_t k = 0; k < round; k++) {
        Frame f = co_await conns[size_t(k) % pairs]->read_until("chat");
        if (f.type == "error") {
          if (++errors > 1000) throw std::runtime_error("too many errors: " + f.error_code());
          if (f.error_code() == "4029") co_await sleep_for_s(0.5);
        } else {
          stored++;
        }
      }
      if (now_ns() > next_heartbeat) {
        for (auto& c : conns)
          c->send(R"({"type":"heartbeat","payload":{"count":)" + std::to_string(++heartbeats) +
                  "}}");
        next_heartbeat = now_ns() + int64_t(20e9);
      }
      if (now_ns() > next_report) {
        say(std::to_string(stored) + " of " + std::to_string(messages));
        next_report = now_ns() + int64_t(5e9);
      }
    }
    for (auto& c : conns) c->abort();
  }());
  pool.search_messages = messages;
  pool.search_pairs = pairs;
  save_pool(o, pool);
}

}  // namespace rwd::bench
