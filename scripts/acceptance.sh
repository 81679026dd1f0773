#!/usr/bin/env bash
# Walks through the core's acceptance checks by hand, as a new user would,
# on two consecutive real firmware images: publish, fetch through the plain
# protocol, update a plain device and an agent, break things on purpose,
# restart, and print the byte counts of one idle plain check-in.
#
# Usage: scripts/acceptance.sh OLD.bin NEW.bin
# For example, with the shared firmware corpus beside this repository:
#   scripts/acceptance.sh ../shared/corpus/sparkfun-openlog-artemis-v10/v1.04.bin \
#                         ../shared/corpus/sparkfun-openlog-artemis-v10/v1.05.bin
set -euo pipefail
old=${1:?usage: $0 OLD.bin NEW.bin}
new=${2:?usage: $0 OLD.bin NEW.bin}
cd "$(dirname "$0")/.."

go build -o bin/ferry ./cmd/ferry
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export FERRY_SERVER=http://127.0.0.1:$port
bin/ferry serve --addr 127.0.0.1:$port --data "$work/data" --max-image-size 1MiB 2>"$work/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "$FERRY_SERVER/healthz" >/dev/null; do sleep 0.1; done
export FERRY_TOKEN=$(cat "$work/data/operator.token")

step() { printf '\n== %s\n' "$*"; }
check() { if [[ "$2" == "$3" ]]; then echo "ok   $1"; else echo "FAIL $1: got '$2', want '$3'"; fail=1; fi; }
fail=0
fw=$FERRY_SERVER/fw/P

step "publish"
bin/ferry product create P --public
bin/ferry release push --product P --version 1.0.0 "$old"
bin/ferry release push --product P --version 1.1.0 "$new"

step "plain protocol"
check "version" "$(curl -s $fw/version)" "1.1.0"
curl -s $fw/bin -o "$work/bin"
check "bin is the new image" "$(cmp -s "$work/bin" "$new" && echo same)" "same"
check "bin has Content-Length, no chunking" \
  "$(curl -sD - -o /dev/null $fw/bin | tr -d '\r' | grep -ciE '^(content-length: '"$(stat -c %s "$new")"'|transfer-encoding)')" "1"
check "hash is the CRC32" "$(curl -s $fw/hash)" "$(python3 -c 'import sys,zlib;print("%08x"%zlib.crc32(open(sys.argv[1],"rb").read()))' "$new")"
check "md5" "$(curl -s $fw/md5)" "$(md5sum <"$new" | cut -d' ' -f1)"
check "sha256" "$(curl -s $fw/sha256)" "$(sha256sum <"$new" | cut -d' ' -f1)"
check "Range 100-611 status" "$(curl -s -o "$work/part" -w '%{http_code}' -H 'Range: bytes=100-611' $fw/bin)" "206"
check "Range 100-611 bytes" "$(cmp -s "$work/part" <(tail -c +101 "$new" | head -c 512) && echo same)" "same"
check "HEAD length" "$(curl -sI $fw/bin | tr -d '\r' | awk -F': ' 'tolower($1)=="content-length"{print $2}')" \
  "$(stat -c %s "$new")"

step "plain device d1 updates"
curl -s "$fw/version?device=d1&version=1.0.0"; echo
for s in downloading downloaded installing; do curl -s "$fw/status?device=d1&state=$s"; echo; done
curl -s "$fw/version?device=d1&version=1.1.0"; echo
bin/ferry device show d1

step "plain device d2 rolls back"
curl -s "$fw/version?device=d2&version=1.0.0" >/dev/null
curl -s "$fw/status?device=d2&state=installing" >/dev/null
curl -s "$fw/version?device=d2&version=1.0.0" >/dev/null
bin/ferry device show d2

step "agent"
bin/ferry agent --server $FERRY_SERVER --product P --device agent-1 --version 1.0.0 --state-dir "$work/agent" --once
bin/ferry device show agent-1

step "bad input: each a clear 4xx"
code() { curl -s -o "$work/body" -w '%{http_code}' "$@"; echo " $(head -c 100 "$work/body")"; }
echo "unknown product:     $(code $FERRY_SERVER/fw/nope/version)"
echo "malformed version:   $(code -X POST -H "Authorization: Bearer $FERRY_TOKEN" --data-binary @"$new" "$FERRY_SERVER/api/v1/products/P/releases?version=1..0")"
head -c 1100000 /dev/urandom >"$work/big.bin"
echo "over the limit:      $(code -X POST -H "Authorization: Bearer $FERRY_TOKEN" --data-binary @"$work/big.bin" "$FERRY_SERVER/api/v1/products/P/releases?version=9.0.0")"
echo "duplicate version:   $(code -X POST -H "Authorization: Bearer $FERRY_TOKEN" --data-binary @"$new" "$FERRY_SERVER/api/v1/products/P/releases?version=1.1.0")"
echo "range past the end:  $(code -H 'Range: bytes=99999999-' $fw/bin)"
echo "unknown state:       $(code "$fw/status?device=d1&state=exploded")"
echo "product ../../etc:   $(code --path-as-is "$FERRY_SERVER/fw/..%2F..%2Fetc/version")"
echo "missing token:       $(code $FERRY_SERVER/api/v1/products)"
echo "wrong token:         $(code -H 'Authorization: Bearer nope' $FERRY_SERVER/api/v1/products)"
bin/ferry release list --product P

step "restart keeps everything"
kill $pid; wait $pid || true
bin/ferry serve --addr 127.0.0.1:$port --data "$work/data" 2>>"$work/server.log" &
pid=$!
until curl -sf "$FERRY_SERVER/healthz" >/dev/null; do sleep 0.1; done
bin/ferry release list --product P
bin/ferry device list --product P

step "bytes of one idle plain check-in (d1 runs 1.1.0)"
req=$'GET /fw/P/version?device=d1&version=1.1.0 HTTP/1.1\r\nHost: ferry\r\nConnection: close\r\n\r\n'

printf '%s' "$req" >"$work/req"
exec 3<>/dev/tcp/127.0.0.1/$port; printf '%s' "$req" >&3; cat <&3 >"$work/resp"; exec 3>&-
echo "request:  $(stat -c %s "$work/req") bytes"
echo "response: $(stat -c %s "$work/resp") bytes"
sed 's/\r$//' "$work/resp"; echo
exit $fail
