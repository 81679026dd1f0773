#!/usr/bin/env bash
# Ferry's plain protocol beside the setup it replaces: nginx serving the
# classic `version`, `bin` and `hash` files. Measures, on loopback and side
# by side in one run: the bytes of one idle check-in on the wire, requests
# per second for the version check, download throughput of the image, and
# each server's peak memory. Prints ratios (Ferry / nginx).
#
# Needs nginx and wrk (Debian: apt-get install nginx-light wrk).
# Usage: bench/plain-vs-nginx.sh [IMAGE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
img=${1:-}
secs=${2:-5}
command -v nginx >/dev/null && command -v wrk >/dev/null || {
  echo "needs nginx and wrk: apt-get install nginx-light wrk" >&2; exit 2; }

work=$(mktemp -d)
# nginx's workers drop privileges: they must be able to read the files.
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [[ -z $img ]]; then
  img=$work/image.bin
  head -c 200000 /dev/urandom >"$img"
fi

go build -o "$work/ferry" ./cmd/ferry
fport=$((20000 + RANDOM % 10000))
nport=$((fport + 1))

# Ferry with one public product and the image as its stable release.
"$work/ferry" serve --addr 127.0.0.1:$fport --data "$work/data" --log-level error 2>"$work/ferry.log" &
pids+=($!); fpid=$!
until curl -sf http://127.0.0.1:$fport/healthz >/dev/null; do sleep 0.1; done
export FERRY_SERVER=http://127.0.0.1:$fport FERRY_TOKEN=$(cat "$work/data/operator.token")
"$work/ferry" product create p --public >/dev/null
"$work/ferry" release push --product p --version 1.0.0 "$img" >/dev/null

# nginx serving the same release as static files, the way makers host OTA.
mkdir -p "$work/www"
printf 1.0.0 >"$work/www/version"
cp "$img" "$work/www/bin"
chmod 644 "$work/www/bin"
curl -s http://127.0.0.1:$fport/fw/p/hash >"$work/www/hash"
cat >"$work/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp;
  sendfile on;
  server { listen 127.0.0.1:$nport; root $work/www; default_type application/octet-stream; }
}
CONF
mkdir -p "$work/tmp"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:$nport/version >/dev/null && break; sleep 0.1; done
curl -sf http://127.0.0.1:$nport/version >/dev/null || { echo "nginx did not come up" >&2; exit 1; }
npid=$(cat "$work/nginx.pid")

# One idle check-in, the way a sketch sends it, counted on the wire.
wire() { # port path -> "request response" byte counts
  local req=$'GET '"$2"$' HTTP/1.1\r\nHost: ota\r\nConnection: close\r\n\r\n'
  exec 3<>/dev/tcp/127.0.0.1/"$1"; printf '%s' "$req" >&3; local resp; resp=$(cat <&3 | wc -c); exec 3>&-
  echo "${#req} $resp"
}
curl -s "http://127.0.0.1:$fport/fw/p/version?device=d1&version=1.0.0" >/dev/null
read -r freq fresp < <(wire $fport "/fw/p/version?device=d1&version=1.0.0")
read -r areq aresp < <(wire $fport "/fw/p/version")
read -r nreq nresp < <(wire $nport "/version")

# Throughput with wrk: 2 threads, 32 connections.
rps() { wrk -t2 -c32 -d"${secs}s" ${3:+-s "$3"} "http://127.0.0.1:$1$2" | awk '/Requests\/sec/ {print $2}'; }
mbs() { wrk -t2 -c32 -d"${secs}s" "http://127.0.0.1:$1$2" | awk '/Transfer\/sec/ {v=$2; u=substr(v, length(v)-1); n=v+0;
  if (u=="GB") n*=1024; if (u=="KB") n/=1024; print n}'; }
cat >"$work/devices.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/fw/p/version?device=bench-" .. (n % 1000) .. "&version=1.0.0")
end
LUA
f_anon=$(rps $fport /fw/p/version)
n_anon=$(rps $nport /version)
f_dev=$(rps $fport /fw/p/version "$work/devices.lua")
f_bin=$(mbs $fport /fw/p/bin)
n_bin=$(mbs $nport /bin)
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
f_mem=$(hwm $fpid); n_mem=$(hwm $npid)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '\nimage %s bytes, %ss per wrk run, 2 threads, 32 connections, loopback\n\n' "$(stat -c %s "$img")" "$secs"
printf '%-44s %14s %14s %8s\n' "measure" "ferry" "nginx" "ratio"
printf '%-44s %14s %14s %8s\n' "idle check-in on the wire: request bytes" "$freq" "$nreq" "$(ratio "$freq" "$nreq")"
printf '%-44s %14s %14s %8s\n' "idle check-in on the wire: response bytes" "$fresp" "$nresp" "$(ratio "$fresp" "$nresp")"
printf '%-44s %14s %14s %8s\n' "anonymous version: response bytes" "$aresp" "$nresp" "$(ratio "$aresp" "$nresp")"
printf '%-44s %14s %14s %8s\n' "anonymous version: requests/s" "$f_anon" "$n_anon" "$(ratio "$f_anon" "$n_anon")"
printf '%-44s %14s %14s %8s\n' "device check-in (1000 devices): requests/s" "$f_dev" "-" "-"
printf '%-44s %14s %14s %8s\n' "image download: MB/s" "$f_bin" "$n_bin" "$(ratio "$f_bin" "$n_bin")"
printf '%-44s %14s %14s %8s\n' "peak memory: MiB" "$f_mem" "$n_mem" "$(ratio "$f_mem" "$n_mem")"
