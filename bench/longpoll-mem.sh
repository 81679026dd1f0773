#!/usr/bin/env bash
# What a device waiting in a long-poll costs Ferry, beside what an idle MQTT
# client costs mosquitto, the broker a user would otherwise pick for held
# device connections. For each N it starts a fresh `ferry serve` on
# loopback, creates a product and N devices, holds N idle long-polls
# (GET /device/v1/p/wait?device=dI&timeout=600) from loopback source
# addresses 127.0.0.2, 127.0.0.3, … (10 000 each, so tens of thousands fit
# the ephemeral port range), and reads the server's resident memory
# (VmRSS) and Go heap (from GODEBUG=gctrace) before and while holding.
# Then it does the same with mosquitto and N minimal MQTT CONNECTs with a
# long keepalive, and prints bytes per held connection and the ratio.
#
# Needs mosquitto (Debian: apt-get install mosquitto). Traffic stays on
# loopback; everything it starts is stopped and its files removed at exit.
# Each held connection takes a file descriptor in the server: N is capped
# below the hard RLIMIT_NOFILE (the script raises the soft limit to it).
#
# Usage: bench/longpoll-mem.sh [N...]     (default: 10000 20000 50000)
set -euo pipefail
cd "$(dirname "$0")/.."
counts=("$@")
[[ ${#counts[@]} -gt 0 ]] || counts=(10000 20000 50000)
command -v mosquitto >/dev/null || { echo "needs mosquitto: apt-get install mosquitto" >&2; exit 2; }

ulimit -n "$(ulimit -Hn)"
fdmax=$(ulimit -n)
per_source=10000

work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

go build -o "$work/ferry" ./cmd/ferry
go build -o "$work/holdconns" ./bench/holdconns

rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }
# The live heap after the last GC the server logged, in bytes.
heap() { grep -o '[0-9]*->[0-9]*->[0-9]* MB' "$1" | tail -1 | awk -F'->' '{print $3 * 1048576}'; }
# The goroutine stacks the last GC logged, in bytes.
stacks() { grep -o '[0-9]* MB stacks' "$1" | tail -1 | awk '{print $1 * 1048576}'; }
settle() { sleep 3; }

# hold MODE ADDR N PATH: starts holders of N connections, 10 000 per source
# address and process, waits until each says how many it holds, and sets
# HELD to their sum. (Not run in a subshell: pids must keep the holders.)
hold() {
  local mode=$1 addr=$2 n=$3 path=${4:-} k=0 held=0 out
  while (( k * per_source < n )); do
    local m=$(( n - k * per_source < per_source ? n - k * per_source : per_source ))
    out=$work/hold-$mode-$k
    "$work/holdconns" -mode "$mode" -addr "$addr" -n "$m" -first $(( k * per_source )) \
      -source "127.0.0.$(( 2 + k ))" -per-source "$per_source" ${path:+-path "$path"} \
      -hold 10m -dial-timeout 3m >"$out" 2>"$out.err" &
    pids+=($!)
    k=$(( k + 1 ))
  done
  for (( i = 0; i < k; i++ )); do
    out=$work/hold-$mode-$i
    for _ in $(seq 2400); do [[ -s $out ]] && break; sleep 0.1; done
    [[ -s $out ]] || { echo "holder $i of $mode did not report:" >&2; cat "$out.err" >&2; exit 1; }
    held=$(( held + $(awk '{print $2}' "$out") ))
    if [[ -s $out.err ]]; then sed 's/^/  /' "$out.err" >&2; fi
  done
  HELD=$held
}

printf '%-7s %-6s %22s %20s %20s %9s %6s %20s %8s %6s\n' N held ferry_rss_B ferry_heap_B ferry_stacks_B \
  ferry_B/c mqtt mosq_rss_B mosq_B/c ratio
for want in "${counts[@]}"; do
  n=$want
  # The server needs one descriptor per connection and a few dozen of its
  # own; the holders open at most per_source each.
  if (( n > fdmax - 100 )); then
    n=$(( fdmax - 100 ))
    echo "N=$want: capped at $n: the hard limit on open files here is $fdmax, and each held" \
      "connection is one in the server" >&2
  fi
  port=$(( 20000 + RANDOM % 10000 ))

  # Ferry: a product with a release, N devices that checked in once.
  rm -rf "$work/data"
  GODEBUG=gctrace=1 "$work/ferry" serve --addr 127.0.0.1:$port --data "$work/data" --log-level error \
    --rate-per-address 0 --rate-per-device 0 2>"$work/ferry.log" &
  fpid=$!; pids+=($fpid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  export FERRY_SERVER=http://127.0.0.1:$port FERRY_TOKEN=$(cat "$work/data/operator.token")
  "$work/ferry" product create p --public >/dev/null
  head -c 4096 /dev/urandom >"$work/fw.bin"
  "$work/ferry" release push --product p --version 1.0.0 "$work/fw.bin" >/dev/null
  "$work/holdconns" -register -addr 127.0.0.1:$port -n "$n" -path '/fw/p/version?device=d%d&version=1.0.0'
  settle
  f0=$(rss $fpid); h0=$(heap "$work/ferry.log"); s0=$(stacks "$work/ferry.log")
  hold http 127.0.0.1:$port "$n" '/device/v1/p/wait?id=d%d&version=1.0.0&timeout=600'
  fheld=$HELD
  settle
  f1=$(rss $fpid); h1=$(heap "$work/ferry.log"); s1=$(stacks "$work/ferry.log")
  stop_all

  # mosquitto: the same number of idle clients.
  mport=$(( port + 1 ))
  printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_connections -1\n' \
    "$mport" >"$work/mosquitto.conf"
  mosquitto -c "$work/mosquitto.conf" 2>"$work/mosquitto.log" &
  mpid=$!; pids+=($mpid)
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$mport) 2>/dev/null && break; sleep 0.1; done
  settle
  m0=$(rss $mpid)
  hold mqtt 127.0.0.1:$mport "$n"
  mheld=$HELD
  settle
  m1=$(rss $mpid)
  stop_all

  fpc=$(( (f1 - f0) / (fheld > 0 ? fheld : 1) ))
  mpc=$(( (m1 - m0) / (mheld > 0 ? mheld : 1) ))
  ratio=$(awk -v f=$fpc -v m=$mpc 'BEGIN { if (m > 0) printf "%.1f", f / m; else print "-" }')
  printf '%-7s %-6s %22s %20s %20s %9s %6s %20s %8s %6s\n' "$want" "$fheld" "$f0->$f1" \
    "${h0:-?}->${h1:-?}" "${s0:-?}->${s1:-?}" "$fpc" "$mheld" "$m0->$m1" "$mpc" "$ratio"
done
