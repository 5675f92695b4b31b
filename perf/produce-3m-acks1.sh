#!/usr/bin/env bash
# Issue 2's benchmark: librdkafka's rdkafka_performance produces 3 M x 1 KiB
# records, acks=1, linger 1 ms, batch 128 KiB, to an auto-created topic of 8
# partitions on a release build of fjord (default fsync-before-ack). Prints
# the client's MB/s and the broker's CPU-seconds per GB (utime+stime from
# /proc/PID/stat, 100 ticks/s). Run from the repo root; builds what it needs.
# FJORD_SET="--set name=value ..." passes broker settings.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
tools=target/librdkafka-perf
if [ ! -x "$tools/examples/rdkafka_performance" ]; then
  cargo build -q --tests  # fetches rdkafka-sys (a dev-dependency) into cargo's registry
  src=$(ls -d ~/.cargo/registry/src/*/rdkafka-sys-*/librdkafka | head -1)
  rm -rf "$tools" && cp -r "$src" "$tools"
  (cd "$tools" && ./configure --disable-curl --disable-sasl >/dev/null && make -j2 libs >/dev/null &&
    make -C examples rdkafka_performance >/dev/null)
fi
dir=$(mktemp -d)
target/release/fjord serve --listen 127.0.0.1:0 --data-dir "$dir/data" --set num.partitions=8 ${FJORD_SET:-} >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do grep -q listening "$dir/out" && break; sleep 0.1; done
port=$(grep -o '[0-9]*$' "$dir/out")
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
"$tools/examples/rdkafka_performance" -P -t perf -b "127.0.0.1:$port" -s 1024 -c 3000000 -a 1 \
  -X linger.ms=1 -X batch.size=131072 -X queue.buffering.max.kbytes=1048576 2>&1 | grep "messages produced" | tail -1
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
python3 -c "t=($u1+$s1-$u0-$s0)/100; gb=3e6*1024/1e9; print(f'broker CPU {t:.2f} s for {gb:.2f} GB: {t/gb:.2f} CPU-s/GB')"
