#!/usr/bin/env bash
# Issue 5's four standard workloads against a fresh release build of fjord,
# one broker per workload: the broker pinned to CPU 0 (`--cores 1`: one shard), fjord-perf
# pinned to CPU 1. Prints one line per workload with the figures the targets
# name; full results go to $OUT (default perf/out/) as JSON and HTML.
#
#   perf/targets.sh                  # all four, default durations
#   perf/targets.sh 3 4              # only workloads 3 and 4
#   FJORD_SET="--set fjord.fetch.splice=false" perf/targets.sh 4
#   SECURITY=sasl_ssl perf/targets.sh 1 4  # clients over SASL_SSL, SCRAM-SHA-512
#
# Durations: workloads 1-3 warm up 10 s and measure 30 s (DURATION=...);
# workload 4 fills a 3 GB backlog (BACKLOG=...) and drains it.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-perf/out}
duration=${DURATION:-30}
backlog=${BACKLOG:-3000000000}
mkdir -p "$out"
cargo build --release -q --bin fjord --example fjord-perf
workloads=${*:-1 2 3 4}

# SECURITY=sasl_ssl: the broker takes clients on a SASL_SSL listener (a
# fresh CA and key pair, SCRAM-SHA-512 user "perf") and fjord-perf's
# clients use it.
security=() clients=()
if [ "${SECURITY:-}" = sasl_ssl ]; then
  pki=$(mktemp -d -p "${TMPDIR:-/tmp}")
  (cd "$pki" &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=perf-ca -keyout ca.key -out ca.pem &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout b.key -out b.csr &&
    echo "subjectAltName=IP:127.0.0.1" >b.ext &&
    openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile b.ext -out b.pem &&
    cat b.key b.pem ca.pem >keystore.pem) >/dev/null 2>&1
  security=(--set "listeners=SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0"
    --set sasl.enabled.mechanisms=SCRAM-SHA-512 --set ssl.keystore.type=PEM
    --set "ssl.keystore.location=$pki/keystore.pem"
    --add-scram "SCRAM-SHA-512=[name=perf,password=perf-secret]")
  clients=(--client-config security.protocol=SASL_SSL --client-config "ssl.ca.location=$pki/ca.pem"
    --client-config sasl.mechanism=SCRAM-SHA-512 --client-config sasl.username=perf
    --client-config sasl.password=perf-secret)
fi

run() { # N workload-file extra-args...
  local n=$1 file=$2; shift 2
  local dir pid addr
  dir=$(mktemp -d -p "${TMPDIR:-/tmp}")
  local listen=(--listen 127.0.0.1:0)
  [ ${#security[@]} = 0 ] || listen=("${security[@]}")
  # shellcheck disable=SC2086
  target/release/fjord serve "${listen[@]}" --data-dir "$dir/data" --cores 1 ${FJORD_SET:-} \
    >"$dir/out" 2>"$dir/err" &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$dir/out" && break; sleep 0.1; done
  addr=$(grep '^fjord listening on' "$dir/out" | awk '{print $NF}')
  taskset -c 1 target/release/examples/fjord-perf run --workload "$file" --bootstrap "$addr" \
    ${clients[@]+"${clients[@]}"} \
    --broker-pid "$pid" --out "$out/$n.json" --plot "$out/$n.html" "$@" >"$out/$n.log" 2>&1 || {
    tail -5 "$out/$n.log"; kill "$pid"; rm -rf "$dir"; return 1; }
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  python3 - "$out/$n.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
cpu, pub, e2e = d["broker_cpu"], d["publish_latency_ms"], d["end_to_end_latency_ms"]
per = lambda k: "-" if cpu[k] is None else f"{cpu[k]:.2f}"
print(f"{d['workload']}: produce {d['produce']['mb_per_sec']:.1f} MB/s, consume {d['consume']['mb_per_sec']:.1f} MB/s, "
      f"broker CPU-s/GB in {per('cpu_seconds_per_gb_in')} out {per('cpu_seconds_per_gb_out')}; "
      f"publish p50/p99/p99.9 {pub['p50']:.2f}/{pub['p99']:.2f}/{pub['p99_9']:.2f} ms; "
      f"e2e p50/p99/p99.9 {e2e['p50']:.2f}/{e2e['p99']:.2f}/{e2e['p99_9']:.2f} ms")
EOF
}

for w in $workloads; do
  case $w in
    1) run 1 perf/workloads/1-max-throughput.toml --warmup 10 --duration "$duration" ;;
    2) run 2 perf/workloads/2-latency.toml --warmup 10 --duration "$duration" ;;
    3) run 3 perf/workloads/3-ping.toml --warmup 10 --duration "$duration" ;;
    4) run 4 perf/workloads/4-cold-fanout.toml --backlog-bytes "$backlog" --duration 300 ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
  esac
done
