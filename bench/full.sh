#!/usr/bin/env bash
# The full benchmark runs behind BENCHMARKS.md (minutes, not a test): starts a fresh server
# with the documented benchmark flags and its mail going to a local SMTP sink, runs each
# scenario at a meaningful size, and appends every JSON line to OUT/results.jsonl.
#   bench/full.sh SERVER_BINARY BENCH_BINARY [OUT_DIR] [SCENARIO...]
# SCENARIO names one of the runs below (idle idle2 presence idletyping connect dm dm500 dm2k
# dmrate dmrate2 dmtyping history burst histdm fanout search login dmlogin); none means all.
# Use a Release or RelWithDebInfo server.
# REWIND_BENCH_PERF=SECONDS records a perf profile of the server into OUT/perf-NAME.data,
# starting REWIND_BENCH_PERF_DELAY seconds (default 20) after each run begins.
# REWIND_BENCH_SLOW_MS=N lists each message of the dmrate run slower than N ms, with its send
# time (rewind-bench dm --slow-ms), in OUT/report.txt.
# REWIND_BENCH_SERVER_WRAPPER runs the server under a command, e.g. "heaptrack -o FILE" for a
# heap profile (the /proc figures of such a run describe the wrapper, not the server).
# After each run the server's /metrics (its admin port) is saved as OUT/metrics-NAME.txt: the
# commit latency histogram (rewind_commit_seconds) and the batch sizes behind the figures.
# REWIND_BENCH_DATABASE_URL=postgresql://ROLE:PASSWORD@HOST:PORT/postgres runs each server on
# a fresh PostgreSQL database made on that server (the role must be allowed to create
# databases; tests/scripts/postgres-cluster makes such a server) instead of SQLite. The
# database is dropped when its server stops (left behind, every run's tables would add to the
# next runs' checkpoints and autovacuum); REWIND_BENCH_KEEP_DATABASE=1 keeps it for a look.
set -euo pipefail
server_bin=$(realpath "$1")
bench_bin=$(realpath "$2")
out=$(realpath -m "${3:-bench-results}")
shift $(($# < 3 ? $# : 3))
only=("$@")
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=/usr/bin/python3
mkdir -p "$out"
tmp=$(mktemp -d /tmp/rewind-bench-full.XXXXXX)
pids=()
bench_db=  # the running server's PostgreSQL database, if any
drop_bench_db() {
  [[ -n $bench_db && -z ${REWIND_BENCH_KEEP_DATABASE:-} ]] || return 0
  psql "$REWIND_BENCH_DATABASE_URL" -qAt -c "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)" \
    >/dev/null || echo "could not drop the database $bench_db" >&2
  bench_db=
}
cleanup() {
  local rc=$?
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  drop_bench_db
  exec 3>&- 2>/dev/null
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$tmp/sink.key" -out "$tmp/sink.pem" >/dev/null 2>&1
sink_port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkfifo "$tmp/sink.in"
$python "$root/tests/e2e/smtp_sink.py" --tls none --port "$sink_port" --dir "$tmp/mail" \
  --cert "$tmp/sink.pem" --key "$tmp/sink.key" <"$tmp/sink.in" >"$tmp/sink.out" 2>&1 &
pids+=($!)
exec 3>"$tmp/sink.in"
for _ in $(seq 100); do grep -q ready "$tmp/sink.out" 2>/dev/null && break; sleep 0.1; done

# The benchmark flags: low password-hash cost for set-up, per-address and per-user limits
# lifted for loopback, more sessions per user (idle holds 10 per account, a history burst
# opens 500 per account), mail to the sink.
bench_flags=(--rate-limit-exempt 127.0.0.0/8 --ws-rate-count 1000000 --chat-rate-count 10000000
  --friend-rate-count 1000000 --login-account-rate-count 1000000
  --max-connections-per-address 100000 --max-sessions-per-user 1000
  --smtp-tls none --smtp-host 127.0.0.1 --smtp-port "$sink_port" --mail-address bench@localhost)
server_pid= port= admin_port=
start_server() {  # start_server NAME [extra flags...]
  local name=$1
  shift
  ulimit -n 20000
  local store_flags=()
  if [[ -n ${REWIND_BENCH_DATABASE_URL:-} ]]; then
    local db="rewind_bench_${name}_$$"
    psql "$REWIND_BENCH_DATABASE_URL" -qAt -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db" \
      -c "CREATE DATABASE $db" >/dev/null
    bench_db=$db
    store_flags=(--database-url "${REWIND_BENCH_DATABASE_URL%/*}/$db")
  fi
  admin_port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  ${REWIND_BENCH_SERVER_WRAPPER:-} "$server_bin" --port 0 --admin-port "$admin_port" \
    --data-dir "$tmp/data-$name" \
    "${store_flags[@]}" "${bench_flags[@]}" "$@" \
    >"$out/server-$name.log" 2>&1 &
  server_pid=$!
  pids+=($server_pid)
  port=
  for _ in $(seq 200); do
    port=$(grep -oE 'listening on http://[^:]+:[0-9]+' "$out/server-$name.log" |
           head -1 | grep -oE '[0-9]+$' || true)
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || { echo "server $name did not start" >&2; exit 1; }
}
stop_server() {
  kill "$server_pid"
  wait "$server_pid" || true
  drop_bench_db
}

wanted() { ((${#only[@]} == 0)) || [[ " ${only[*]} " == *" $1 "* ]]; }
bench() {  # bench NAME ARGS...: one run, bounded, its report to the terminal and OUT
  local name=$1
  shift
  local cmd=("$bench_bin" "$@" --url "http://127.0.0.1:$port" --mail-dir "$tmp/mail"
             --cache "$tmp/cache.json" --server-pid "$server_pid")
  echo "=== $name: rewind-bench $*" | tee -a "$out/report.txt"
  if [[ -n ${REWIND_BENCH_PERF:-} ]]; then
    # A CPU profile of the server for the run (after its set-up): REWIND_BENCH_PERF=SECONDS.
    (sleep "${REWIND_BENCH_PERF_DELAY:-20}"
     perf record -F 999 -g -p "$server_pid" -o "$out/perf-$name.data" -- sleep "$REWIND_BENCH_PERF" \
       >/dev/null 2>&1) &
  fi
  timeout 600 "${cmd[@]}" 2>&1 | tee -a "$out/report.txt" | tee "$tmp/last-$name" | grep -v '^{' || true
  grep '^{' "$tmp/last-$name" >>"$out/results.jsonl" || echo "$name: no result" >&2
  curl -sf "http://127.0.0.1:$admin_port/metrics" >"$out/metrics-$name.txt" ||
    echo "$name: no metrics" >&2
}

start_server fast --password-hash-ops 1 --password-hash-mem-kib 1024
fast_port=$port
# A fresh server's memory before any load, for the idle figures.
sleep 1
echo "fresh server RSS: $(grep VmRSS /proc/$server_pid/status)" | tee -a "$out/report.txt"
wanted idle && bench idle idle --connections "${REWIND_BENCH_IDLE:-19000}" --hold 20
# A login storm of 19,000 v2 connections, one account each: without friends, then with each
# account a friend of one other (the same accounts), so that every one is told when its
# friend comes online (the presence figures).
wanted idle2 && bench idle2 idle --connections "${REWIND_BENCH_IDLE:-19000}" \
  --sessions-per-user 1 --ws-version 2 --hold 5
wanted presence && bench presence idle --connections "${REWIND_BENCH_IDLE:-19000}" \
  --sessions-per-user 1 --friend-pairs $(( ${REWIND_BENCH_IDLE:-19000} / 2 )) --ws-version 2 \
  --hold 5
# Then every one of them typing to its friend all along (a typing frame every 3 s).
wanted idletyping && bench idletyping idle --connections "${REWIND_BENCH_IDLE:-19000}" \
  --sessions-per-user 1 --friend-pairs $(( ${REWIND_BENCH_IDLE:-19000} / 2 )) --ws-version 2 \
  --typing-every 3 --hold 20
wanted connect && bench connect connect --concurrency 64 --duration 10
wanted dm && bench dm dm --pairs 100 --duration 10
wanted dm500 && bench dm500 dm --pairs 500 --duration 10
wanted dm2k && bench dm2k dm --pairs 100 --rate 2000 --duration 20
wanted dmrate && bench dmrate dm --pairs 100 --rate 5000 --duration 20 \
  ${REWIND_BENCH_SLOW_MS:+--slow-ms "$REWIND_BENCH_SLOW_MS"}
# The same rate on v2, without and with a typing frame before each send (the typing figures).
wanted dmrate2 && bench dmrate2 dm --pairs 100 --rate 5000 --duration 20 --ws-version 2
wanted dmtyping && bench dmtyping dm --pairs 100 --rate 5000 --duration 20 --ws-version 2 --typing
wanted history && bench history history --messages 1000000 --duration 10
wanted burst && bench burst history --messages 1000000 --burst --concurrency 1000
if wanted histdm; then
  # History loads with chat traffic running: a dm run at 5,000 messages/s beside them.
  "$bench_bin" history --messages 1000000 --duration 1 --warmup 0 --url "http://127.0.0.1:$port" \
    --mail-dir "$tmp/mail" --cache "$tmp/cache.json" >/dev/null 2>&1 ||
    echo "histdm: history set-up failed" >&2
  "$bench_bin" dm --pairs 100 --duration 1 --warmup 0 --url "http://127.0.0.1:$port" \
    --mail-dir "$tmp/mail" --cache "$tmp/cache.json" >/dev/null 2>&1 ||
    echo "histdm: dm set-up failed" >&2
  bench histdm-chat dm --pairs 100 --rate 5000 --warmup 2 --duration 14 &
  chat=$!
  sleep 3
  bench histdm-history history --messages 1000000 --warmup 1 --duration 10
  wait $chat
fi
wanted fanout && bench fanout fanout --members 1000 --duration 10
stop_server

if wanted search; then
  # Its own server: no other scenario's messages in the chats it searches.
  # REWIND_BENCH_SEARCH_MESSAGES sets the store's size (default 1,000,000).
  start_server search --password-hash-ops 1 --password-hash-mem-kib 1024
  bench search search --messages "${REWIND_BENCH_SEARCH_MESSAGES:-1000000}" --pairs 100 \
    --duration 10
  stop_server
fi

if wanted login || wanted dmlogin; then
  # Logins at the default password-hash cost (argon2id t=2, m=19 MiB).
  start_server defaultcost
  wanted login && bench login login --concurrency 8 --users 64 --duration 10
  if wanted dmlogin; then
    # Logins with chat traffic running: a dm run at 2,000 messages/s beside the login run.
    "$bench_bin" dm --pairs 100 --duration 1 --warmup 0 --url "http://127.0.0.1:$port" \
      --mail-dir "$tmp/mail" --cache "$tmp/cache.json" >/dev/null 2>&1 ||
      echo "dmlogin: dm set-up failed" >&2
    bench dmlogin-chat dm --pairs 100 --rate 2000 --warmup 2 --duration 14 &
    chat=$!
    sleep 3
    bench dmlogin-login login --concurrency 8 --users 64 --warmup 1 --duration 10
    wait $chat
  fi
  stop_server
fi
echo "results in $out/results.jsonl and $out/report.txt"
