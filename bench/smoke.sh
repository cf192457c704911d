#!/usr/bin/env bash
# Smoke test of rewind-bench: starts a fresh server (port 0, temporary data directory, low
# password-hash cost, raised limits) with its mail going to a local SMTP sink, runs every
# scenario at tiny sizes, and checks that each exits 0 and prints its JSON line.
#   bench/smoke.sh SERVER_BINARY BENCH_BINARY
set -euo pipefail
server_bin=$(realpath "$1")
bench_bin=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
python=/usr/bin/python3  # Debian's, which has aiosmtpd

tmp=$(mktemp -d /tmp/rewind-bench-smoke.XXXXXX)
server_pid= sink_pid=
cleanup() {
  local rc=$?
  set +e  # the exit status is the script's, not that of the processes stopped here
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  exec 3>&- 2>/dev/null  # EOF on the sink's stdin stops it
  [[ -n $sink_pid ]] && { sleep 0.2; kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; }
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT

fail() {
  echo "bench smoke: $*" >&2
  for f in "$tmp"/server.log "$tmp"/sink.err; do
    [[ -f $f ]] && { echo "--- $f (tail)"; tail -20 "$f"; } >&2
  done
  exit 1
}

# The sink needs a certificate even in plain mode: a throwaway self-signed one.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$tmp/sink.key" -out "$tmp/sink.pem" >/dev/null 2>&1 || fail "openssl failed"
sink_port=$($python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkfifo "$tmp/sink.in"
$python "$root/tests/e2e/smtp_sink.py" --tls none --port "$sink_port" --dir "$tmp/mail" \
  --cert "$tmp/sink.pem" --key "$tmp/sink.key" <"$tmp/sink.in" >"$tmp/sink.out" 2>"$tmp/sink.err" &
sink_pid=$!
exec 3>"$tmp/sink.in"
for _ in $(seq 100); do grep -q ready "$tmp/sink.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$tmp/sink.out" || fail "the SMTP sink did not start"

"$server_bin" --port 0 --data-dir "$tmp/data" --log-level info \
  --password-hash-ops 1 --password-hash-mem-kib 1024 \
  --rate-limit-exempt 127.0.0.0/8 --ws-rate-count 1000000 --chat-rate-count 1000000 \
  --friend-rate-count 1000000 --login-account-rate-count 1000000 \
  --max-connections-per-address 100000 \
  --smtp-tls none --smtp-host 127.0.0.1 --smtp-port "$sink_port" --mail-address bench@localhost \
  >"$tmp/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 200); do
  port=$(grep -oE 'listening on http://[^:]+:[0-9]+' "$tmp/server.log" 2>/dev/null |
         head -1 | grep -oE '[0-9]+$' || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited"
  sleep 0.05
done
[[ -n $port ]] || fail "the server did not say where it listens"

common=(--url "http://127.0.0.1:$port" --mail-dir "$tmp/mail" --cache "$tmp/cache.json"
        --server-pid "$server_pid" --warmup 0.3 --duration 1)
run() {  # run SCENARIO ARGS...
  local name=$1
  echo "=== rewind-bench $*"
  local out
  if ! out=$(timeout 120 "$bench_bin" "$@" "${common[@]}" 2>"$tmp/bench.err"); then
    echo "$out"
    cat "$tmp/bench.err" >&2
    fail "rewind-bench $* failed"
  fi
  echo "$out"
  grep -q "^{\"scenario\":\"$name\"" <<<"$out" || fail "rewind-bench $* printed no JSON line"
}

run dm --pairs 2
run dm --pairs 2 --rate 200
run dm --pairs 2 --rate 200 --ws-version 2 --typing
run idle --connections 20 --hold 1
run connect --concurrency 4
run history --messages 200
run history --messages 200 --burst --concurrency 4
run login --concurrency 2 --users 4
run idle --connections 20 --hold 0.5 --workers 2
run idle --connections 20 --sessions-per-user 1 --friend-pairs 10 --ws-version 2 --hold 0.5 \
  --typing-every 0.2
run fanout --members 5
run fanout --members 5 --rate 50
echo "=== bench smoke: every scenario ran"
