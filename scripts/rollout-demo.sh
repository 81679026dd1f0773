#!/usr/bin/env bash
# Runs a staged rollout against a fleet of simulated devices with the real
# binary, as an operator would, and prints what the operator sees.
#
# Usage: scripts/rollout-demo.sh OLD.bin NEW.bin [DEVICES] [FAIL_SHARE]
# For example, with the shared firmware corpus beside this repository:
#   scripts/rollout-demo.sh ../shared/corpus/sparkfun-openlog-artemis-v10/v1.04.bin \
#                           ../shared/corpus/sparkfun-openlog-artemis-v10/v1.05.bin 2000 0.05
set -euo pipefail
old=${1:?usage: $0 OLD.bin NEW.bin [DEVICES] [FAIL_SHARE]}
new=${2:?usage: $0 OLD.bin NEW.bin [DEVICES] [FAIL_SHARE]}
devices=${3:-2000}
fail=${4:-0.05}
cd "$(dirname "$0")/.."

go build -o bin/ferry ./cmd/ferry
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export FERRY_SERVER=http://127.0.0.1:$port
# Short poll intervals so the demo takes a minute, not a day.
bin/ferry serve --addr 127.0.0.1:$port --data "$work/data" --poll-interval 10s --poll-active 2s \
  --log-level warn 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "$FERRY_SERVER/healthz" >/dev/null; do sleep 0.1; done
export FERRY_TOKEN=$(cat "$work/data/operator.token")

echo "== the fleet: $devices devices on 1.0.0"
bin/ferry product create demo --public
bin/ferry release push --product demo --version 1.0.0 "$old"
bin/ferry sim --product demo --devices "$devices" --version 1.0.0 --poll 2s --poll-max 2s --ramp 2s \
  --duration 6s >/dev/null

echo "== 1.1.0 published without moving stable, then rolled out in phases"
bin/ferry release push --product demo --version 1.1.0 --no-channel "$new"
bin/ferry rollout create --product demo --release 1.1.0 --channel stable --phases 1%,10%,50%,100% \
  --auto-advance --soak 5s --success-rate 0.8 --fail-percent 3 --fail-min-finished 20 \
  --max-concurrent 200 --offers-per-minute 2000

echo "== the fleet runs, $fail of it failing the install"
bin/ferry sim --product demo --devices "$devices" --version 1.0.0 --poll 2s --poll-max 2s --ramp 2s \
  --fail-install "$fail" --plain-share 0.1 --cut-share 0.1 --duration 60s --keep-going

echo "== what the operator sees"
bin/ferry rollout list --product demo
bin/ferry rollout status 1
bin/ferry audit --product demo --limit 5
