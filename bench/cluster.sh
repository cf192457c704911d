#!/usr/bin/env bash
# Several nodes under rewind-bench, for BENCHMARKS.md ("Several nodes"): starts N nodes on one
# PostgreSQL with Redis between them and haproxy in front (tests/scripts/cluster, with the
# benchmark flags of bench/full.sh), runs dm closed loop, dm at a fixed rate and a 1,000-member
# guild (fanout) through the front, and stops everything. The front sends consecutive connections to the nodes in turn,
# so with N >= 2 the two users of a pair are on two different nodes, and a guild's members are
# spread evenly over the nodes. After each run it prints
# the CPU seconds each part used during it (the nodes, PostgreSQL, Redis, haproxy), and saves
# each node's /metrics as OUT/metrics-NAME-node-I.txt.
#   bench/cluster.sh BUILD_DIR BENCH_BINARY OUT_DIR N [RATE]
# With REWIND_BENCH_DIRECT=1 the WebSocket connections go to the nodes' own ports in turn
# (rewind-bench --ws-ports), not through haproxy, which on this machine takes as much CPU as a
# node: the figures are then the nodes' own. HTTP set-up still goes through the front.
# BUILD_DIR holds rewind-server (a Release build); RATE is the fixed rate (2000 by default).
# REWIND_BENCH_SCENARIOS picks some of the runs ("dm dmrate fanout" by default).
set -euo pipefail
build=$(realpath "$1")
bench_bin=$(realpath "$2")
out=$(realpath -m "$3")
n=$4
rate=${5:-2000}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/rewind-bench-cluster.XXXXXX)
mkdir -p "$out"
cleanup() {
  local rc=$?
  REWIND_BUILD_DIR=$build "$root/tests/scripts/cluster" stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
  exit $rc
}
trap cleanup EXIT
ulimit -n 20000

flags=(--rate-limit-exempt 127.0.0.0/8 --ws-rate-count 1000000 --chat-rate-count 10000000
  --friend-rate-count 1000000 --login-account-rate-count 1000000
  --max-connections-per-address 100000 --max-sessions-per-user 1000
  --password-hash-ops 1 --password-hash-mem-kib 1024)
front=$(REWIND_BUILD_DIR=$build "$root/tests/scripts/cluster" start "$dir" "$n" "${flags[@]}")
direct=()
if [ "${REWIND_BENCH_DIRECT:-0}" = 1 ]; then
  ports=$(for i in $(seq "$n"); do sed 's/.*://' "$dir/node-$i-url"; done | paste -sd,)
  direct=(--ws-ports "$ports")
fi

# CPU seconds (user + system) of every process of a part, from /proc.
cpu_of() {  # cpu_of PID...
  local total=0 pid ticks
  for pid in "$@"; do
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + ticks))
  done
  echo "$total"
}
parts() {  # the CPU ticks of each part: nodes postgres redis haproxy
  local nodes=()
  for i in $(seq "$n"); do nodes+=("$(cat "$dir/node-$i.pid")"); done
  echo "$(cpu_of "${nodes[@]}") $(cpu_of $(pgrep -u postgres postgres)) \
$(cpu_of $(pgrep redis-server)) $(cpu_of $(cat "$dir/haproxy.pid"))"
}
run() {  # run NAME ARGS...
  local name=$1
  shift
  echo "=== $n node(s), $name: rewind-bench $* ${direct[*]}" | tee -a "$out/report.txt"
  read -r n0 p0 r0 h0 <<<"$(parts)"
  local t0=$SECONDS
  timeout 600 "$bench_bin" "$@" --url "$front" "${direct[@]}" --mail-dir "$dir/mail" \
    --cache "$dir/cache.json" 2>&1 | tee -a "$out/report.txt" | grep -v '^{' || true
  read -r n1 p1 r1 h1 <<<"$(parts)"
  local hz
  hz=$(getconf CLK_TCK)
  secs() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz }'; }
  echo "cpu seconds over $((SECONDS - t0)) s (set-up included): nodes $(secs $((n1 - n0)))," \
    "postgres $(secs $((p1 - p0))), redis $(secs $((r1 - r0))), haproxy $(secs $((h1 - h0)))" |
    tee -a "$out/report.txt"
  # Each node's /metrics after the run (commit latency, the sequencer's held events and fills).
  for i in $(seq "$n"); do
    curl -sf "$(cat "$dir/node-$i-admin-url")/metrics" >"$out/metrics-$name-node-$i.txt" ||
      echo "$name: no metrics from node $i" >&2
  done
}
# A first short run makes the accounts (cached), so the measured runs start at once.
"$bench_bin" dm --pairs 100 --duration 1 --warmup 0 --url "$front" "${direct[@]}" \
  --mail-dir "$dir/mail" --cache "$dir/cache.json" >/dev/null 2>&1 || echo "set-up run failed" >&2
for scenario in ${REWIND_BENCH_SCENARIOS:-dm dmrate fanout}; do
  case $scenario in
    dm) run dm dm --pairs 100 --duration 10 ;;
    dmrate) run dmrate dm --pairs 100 --rate "$rate" --duration 20 ;;
    fanout) run fanout fanout --members 1000 --duration 10 ;;
    *) echo "unknown scenario: $scenario" >&2 ;;
  esac
done
