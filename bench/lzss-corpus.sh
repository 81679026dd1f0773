#!/usr/bin/env bash
# Ferry's LZSS encoder (the stream Arduino's SSU and SNU loaders decode)
# beside gzip -9 on the firmware corpus: size as a share of the raw images
# and encode speed, per corpus folder and in total, in one run.
#
# The reference a maker would otherwise use is Arduino's own lzss.py /
# lzss.c (ArduinoIoTCloud extras/tools), which no package registry ships,
# so gzip -9 (Debian's gzip) stands in as the everyday baseline. gzip's
# output is not something the loaders can read; it only shows what a
# general-purpose compressor gets from the same bytes.
#
# Usage: bench/lzss-corpus.sh [CORPUS_DIR]   (default: ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$(cd "${1:-../shared/corpus}" && pwd)
command -v gzip >/dev/null || { echo "needs gzip (Debian: apt-get install gzip)" >&2; exit 2; }

# Ferry's figures come from the corpus test, which also checks that every
# stream decodes back byte-exact: its table rows are
# folder, files, raw bytes, lzss bytes, lzss/raw, encode MB/s.
rows=$(FERRY_CORPUS=$corpus go test -count=1 -v -run '^TestCorpus$' ./internal/arduino |
  awk 'NF == 6 && $2 ~ /^[0-9]+$/')
[[ -n $rows ]] || { echo "the corpus test printed no table: is $corpus a corpus?" >&2; exit 1; }

printf '%-30s %5s %10s %9s %9s %10s %10s\n' folder files raw lzss gzip-9 "lzss MB/s" "gzip MB/s"
tot_gz=0 tot_ns=0
while read -r folder files raw lzss _ mbps; do
  if [[ $folder == total ]]; then
    gz=$tot_gz gzns=$tot_ns
  else
    gz=0
    start=$(date +%s%N)
    for f in "$corpus/$folder"/*; do
      gz=$((gz + $(gzip -9 -c "$f" | wc -c)))
    done
    gzns=$(($(date +%s%N) - start))
    tot_gz=$((tot_gz + gz)) tot_ns=$((tot_ns + gzns))
  fi
  awk -v f="$folder" -v n="$files" -v r="$raw" -v l="$lzss" -v g="$gz" -v m="$mbps" -v gn="$gzns" 'BEGIN {
    printf "%-30s %5d %10d %8.1f%% %8.1f%% %10.1f %10.1f\n", f, n, r, 100*l/r, 100*g/r, m, r/1e6/(gn/1e9)
  }'
done <<<"$rows"
echo "gzip MB/s includes starting one gzip process per file."
