// rewind-bench: a load generator for REWIND servers. It speaks only the public protocol (the
// HTTP API and the /ws gateway), so it measures any implementation of it. See BENCHMARKS.md.
#include <signal.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <regex>

#include "bench/common.h"
#include "bench/scenarios.h"

namespace rwd::bench {
namespace {

void raise_file_limit() {
  rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

int main_impl(int argc, char** argv) {
  Options o;
  CLI::App app{
      "rewind-bench: load generator for REWIND (HTTP API + /ws).\n"
      "Set-up (accounts, friends, history) goes through the protocol and is cached in --cache."};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--url", o.url, "Server base URL (http://IPv4:port)")->capture_default_str();
  app.add_option("--ws-ports", o.ws_ports,
                 "WebSocket connections to these ports of --url's host in turn (nodes without "
                 "a proxy); HTTP stays on --url")
      ->delimiter(',');
  app.add_option("--mail-dir", o.mail_dir,
                 "Directory where the SMTP sink stores mail (.eml), to read verification links");
  app.add_option("--cache", o.cache_path, "Prepared-accounts cache (JSON, keyed by server URL)")
      ->capture_default_str();
  app.add_option("--server-pid", o.server_pid,
                 "Server process to read CPU and memory from (default: the port's listener)");
  app.add_option("--workers", o.workers, "Worker processes (0: per scenario; idle: 1 per 15,000)")
      ->capture_default_str();
  app.add_option("--source-addrs", o.source_addrs,
                 "Spread connections over 127.0.0.1..127.0.0.N (0: no bind)")
      ->capture_default_str();
  app.add_option("--warmup", o.warmup_s, "Seconds before measuring")->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds measured")->capture_default_str();
  app.add_option("--setup-concurrency", o.setup_concurrency, "Parallel requests during set-up")
      ->capture_default_str();
  app.add_option("--ws-version", o.ws_version, "Gateway version: 1 (/ws) or 2 (/ws?v=2)")
      ->check(CLI::IsMember({1, 2}))
      ->capture_default_str();
  app.add_option("--ramp", o.ramp, "Connections being opened at once, per worker")
      ->capture_default_str();

  auto* idle = app.add_subcommand("idle", "N authenticated connections sending heartbeats");
  idle->add_option("-n,--connections", o.connections, "Connections")->capture_default_str();
  idle->add_option("--sessions-per-user", o.sessions_per_user,
                   "Connections per account (the server allows 10 by default)")
      ->capture_default_str();
  idle->add_option("--friend-pairs", o.friend_pairs,
                   "Make accounts 2k and 2k+1 friends for k below this (with --ws-version 2, "
                   "each is told when the other comes online)")
      ->capture_default_str();
  idle->add_option("--typing-every", o.typing_every_s,
                   "With --friend-pairs and --ws-version 2: each of those accounts sends a "
                   "typing frame to its friend every this many seconds (0: never)")
      ->capture_default_str();
  idle->add_option("--hold", o.hold_s, "Seconds to hold them once open")->capture_default_str();
  idle->add_option("--heartbeat", o.heartbeat_s, "Seconds between heartbeats")
      ->capture_default_str();

  auto* connect = app.add_subcommand("connect", "handshake + heartbeat + auth per second");
  connect->add_option("-c,--concurrency", o.concurrency, "Connections opened at once (64)");
  connect->add_option("--users", o.users, "Accounts to use (default max(concurrency, 16))");

  auto* dm = app.add_subcommand("dm", "friend pairs exchanging direct messages");
  dm->add_option("-p,--pairs", o.pairs, "Friend pairs, each user on one connection")
      ->capture_default_str();
  dm->add_option("--rate", o.rate, "Messages per second offered in all (0: closed loop)")
      ->capture_default_str();
  dm->add_option("--window", o.window, "Closed loop: messages in flight per user")
      ->capture_default_str();
  dm->add_option("--slow-ms", o.slow_ms,
                 "Print each message slower than this (ms; 0: none) to stderr: \"slow AT_S "
                 "LATENCY_MS\", AT_S its send time after the warm-up")
      ->capture_default_str();

  dm->add_flag("--typing", o.typing,
               "Precede each send with a typing frame in its chat (needs --ws-version 2)");

  auto* history = app.add_subcommand("history", "load the newest messages of a full chat");
  history->add_option("--messages", o.messages, "Messages the chat must hold (pre-filled once)")
      ->capture_default_str();
  history->add_option("--count", o.count, "Messages per load")->capture_default_str();
  history->add_option("-c,--concurrency", o.concurrency, "Connections loading in parallel (1)");
  history->add_flag("--burst", o.burst,
                    "Each connection sends one load, all at the same moment (no warm-up)");

  auto* search = app.add_subcommand(
      "search", "search my messages in a store of many chats (user a of pair 0 searches)");
  search
      ->add_option("--messages", o.messages,
                   "Messages the chats of --pairs pairs hold in all (filled once, Zipf words)")
      ->capture_default_str();
  search->add_option("--pairs", o.pairs, "Chats the messages are spread over")
      ->capture_default_str();
  search->add_option("-c,--concurrency", o.concurrency, "Connections searching in parallel (1)");

  auto* login = app.add_subcommand("login", "HTTP logins per second");
  login->add_option("-c,--concurrency", o.concurrency, "Parallel keep-alive clients (8)");
  login->add_option("--users", o.users, "Accounts to log in, round robin (64)");

  auto* fanout =
      app.add_subcommand("fanout", "one member sending to a guild whose members are all on v2");
  fanout
      ->add_option("-m,--members", o.members,
                   "Guild members, the sender included, each on one connection")
      ->capture_default_str();
  fanout
      ->add_option("--rate", o.rate,
                   "Messages per second offered (0: closed loop, the next "
                   "message when every member got the previous one)")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  o.scenario = app.get_subcommands().front()->get_name();

  std::smatch m;
  static const std::regex url_re(R"(http://([0-9.]+):([0-9]+)/?)");
  if (!std::regex_match(o.url, m, url_re)) {
    std::cerr << "--url must look like http://127.0.0.1:8080 (an IPv4 address and a port)\n";
    return 2;
  }
  o.host = m[1];
  o.port = static_cast<uint16_t>(std::stoi(m[2]));
  o.url = "http://" + o.host + ":" + std::to_string(o.port);
  raise_file_limit();
  // A write to a connection the server already closed must be an error, not a signal.
  signal(SIGPIPE, SIG_IGN);
  return run_scenario(o);
}

}  // namespace
}  // namespace rwd::bench

int main(int argc, char** argv) {
  try {
    return rwd::bench::main_impl(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "rewind-bench: " << e.what() << std::endl;
    return 1;
  }
}
