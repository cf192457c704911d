#!/usr/bin/env bash
# The README's two commands, in the README's order, on a clean copy of this source tree:
#   1. ./scripts/run starts a server that answers (then it is stopped);
#   2. ./scripts/test --unit, after it, builds and runs the unit tests (they once went
#      missing because the test command reused the run command's configuration);
#   3. ./scripts/run, after the test command, still starts a server that answers.
# ccache (shared with the main build) keeps the copy's builds cheap.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/rewind-readme.XXXXXX)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill -- -"$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "readme commands: FAILED: $*"; exit 1; }

# The commands, as the README gives them.
commands=$(sed -n '/^## The two commands/,/^## /p' "$root/README.md" | grep -oE '^\./scripts/[a-z]+')
[[ $commands == $'./scripts/run\n./scripts/test' ]] ||
  fail "the README's two commands are no longer ./scripts/run then ./scripts/test: $commands"

# What a fresh clone holds: the tracked files, as they are in the work tree, and new ones.
copy=$work/rewind
mkdir -p "$copy"
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
   tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$copy"
[[ -x $copy/scripts/run ]] || fail "the copy has no scripts/run"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts ./scripts/run with a free port and waits for /healthz; stops it. $1 names the step.
run_until_it_answers() {
  local step=$1 port log
  port=$(free_port)
  log=$work/run-$step.log
  (cd "$copy" && exec setsid ./scripts/run --port "$port" >"$log" 2>&1) &
  server_pid=$!
  local deadline=$((SECONDS + 900))
  until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    kill -0 "$server_pid" 2>/dev/null || { tail -20 "$log"; fail "$step: ./scripts/run exited"; }
    ((SECONDS < deadline)) || { tail -20 "$log"; fail "$step: no answer on port $port"; }
    sleep 0.5
  done
  kill -- -"$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  echo "readme commands: $step: ./scripts/run served on port $port"
}

run_until_it_answers "first run"

log=$work/test-unit.log
if ! (cd "$copy" && ./scripts/test --unit) >"$log" 2>&1; then
  tail -30 "$log"
  fail "./scripts/test --unit failed after ./scripts/run"
fi
ran=$(sed -nE 's/.*tests passed, 0 tests failed out of ([0-9]+).*/\1/p' "$log" | tail -1)
[[ ${ran:-0} -gt 0 ]] || { tail -30 "$log"; fail "./scripts/test ran no unit test after ./scripts/run"; }
echo "readme commands: ./scripts/test after ./scripts/run ran $ran unit tests"

run_until_it_answers "run after test"
echo "readme commands: passed"
