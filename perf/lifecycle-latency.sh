#!/usr/bin/env bash
# Produce latency (acks=all, 1 KiB, one in flight) while a background load of
# MBPS MB/s feeds a compacted topic and a size-retained topic, with the
# broker's cleaner and retention off, then on. Prints one line per run.
#   perf/lifecycle-latency.sh [RUNS] [MBPS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
mbps=${2:-10}
cargo build --release --bin fjord --bin fjord-lifecycle-bench >/dev/null 2>&1
bin=${CARGO_TARGET_DIR:-target}/release

run() { # $1 = label, rest = broker settings
  local label=$1; shift
  local dir; dir=$(mktemp -d)
  "$bin/fjord" serve --listen 127.0.0.1:0 --data-dir "$dir/data" "$@" >"$dir/out" 2>"$dir/log" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/out" && break; sleep 0.1; done
  local addr; addr=$(grep -o '[0-9.:]*$' "$dir/out")
  "$bin/fjord-lifecycle-bench" "$addr" churn 40 "$mbps" >"$dir/churn" &
  local churn=$!
  sleep 5
  printf '%-12s ' "$label"
  "$bin/fjord-lifecycle-bench" "$addr" latency 30
  wait $churn
  echo "             maintenance log lines: $(grep -c 'INFO.*\(compacted \|retention deleted\)' "$dir/log" || true)"
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
}

for i in $(seq "$runs"); do
  run "off #$i" --set log.cleaner.enable=false --set log.retention.check.interval.ms=86400000
  run "on #$i" --set log.cleaner.enable=true --set log.cleaner.backoff.ms=200 --set log.retention.check.interval.ms=200
done
