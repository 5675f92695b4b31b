#!/usr/bin/env bash
# librdkafka's own test suite against a real fjord broker. Builds the suite
# from the librdkafka sources bundled in the rdkafka-sys crate (a
# dev-dependency, so `cargo test` has put it in cargo's registry), caches the
# build in target/librdkafka-tests, and runs the tests named below.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
fjord="${FJORD_BIN:-$root/target/debug/fjord}"
build="${CARGO_TARGET_DIR:-$root/target}/librdkafka-tests"

# The field-notes list (what Apache Kafka 4.0 passes) except 0052, which
# needs a local Kafka install, plus 0129 (read_committed fetches over
# aborted transactions). 0081 (the admin API, about 100 s) is the slowest.
# LIBRDKAFKA_TESTS overrides.
TESTS="${LIBRDKAFKA_TESTS:-
0001 0002 0003 0005 0007 0008 0011 0012 0013 0014 0015 0017 0018 0019 0021 0022
0026 0029 0030 0031 0033 0034 0035 0036 0040 0041 0042 0044 0045 0050 0051 0054
0056 0061 0063 0067 0070 0073 0081 0090 0099 0113 0129
}"

if [ ! -x "$build/tests/test-runner" ]; then
  src=$(ls -d ~/.cargo/registry/src/*/rdkafka-sys-*/librdkafka | head -1)
  [ -d "$src" ] || { echo "rdkafka-sys sources not found; run cargo test first" >&2; exit 1; }
  rm -rf "$build" && cp -r "$src" "$build"
  (cd "$build" && ./configure --disable-curl --disable-sasl >/dev/null &&
    make -j2 libs >/dev/null 2>&1 && make -j2 -C tests build >/dev/null 2>&1)
fi

work=$(mktemp -d)
pids=""
# Stops the brokers and waits (30 s at most, then kill -9) for them to exit
# before removing their data: one still shutting down may be writing to it.
stop_brokers() {
  kill $pids 2>/dev/null || true
  for _ in $(seq 300); do
    local alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  kill -9 $pids 2>/dev/null || true
  sleep 0.2
  rm -rf "$work"
}
trap stop_brokers EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# FJORD_NODES=3 runs the suite against a three-node cluster (each node a
# broker and a controller, one core each); the default is one node.
nodes="${FJORD_NODES:-1}"
voters=""
declare -a cports
for i in $(seq "$nodes"); do cports[$i]=$(free_port); voters="$voters${voters:+,}$i@127.0.0.1:${cports[$i]}"; done
bootstrap=""
# FJORD_SECURITY=sasl_ssl runs every test over SASL_SSL with SCRAM-SHA-512
# as user "test", with the authorizer on, set up as librdkafka's own test
# clusters are: "test" is no super user, allow.everyone.if.no.acl.found=true,
# and the suite's ACL tests create and delete the ACLs they check (0081
# asserts the test principal's authorized operations after adding one).
# Followers fetch over a PLAINTEXT listener as User:ANONYMOUS, a super user.
security=()
if [ "${FJORD_SECURITY:-}" = sasl_ssl ]; then
  (cd "$work" &&
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=fjord-test-ca -keyout ca.key -out ca.pem &&
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout broker.key -out broker.csr &&
    echo "subjectAltName=IP:127.0.0.1,DNS:localhost" >broker.ext &&
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile broker.ext \
      -out broker.pem && cat broker.key broker.pem ca.pem >keystore.pem) >/dev/null 2>&1
  security=(--set "listeners=SASL_SSL://127.0.0.1:0,PLAINTEXT://127.0.0.1:0"
    --set inter.broker.listener.name=PLAINTEXT --set sasl.enabled.mechanisms=SCRAM-SHA-512
    --set ssl.keystore.type=PEM --set "ssl.keystore.location=$work/keystore.pem"
    --set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
    --set super.users=User:ANONYMOUS --set allow.everyone.if.no.acl.found=true
    --add-scram "SCRAM-SHA-512=[name=test,password=test-secret]")
fi
for i in $(seq "$nodes"); do
  cluster=()
  [ "$nodes" = 1 ] || cluster=(--cores 1 --controller-listen "127.0.0.1:${cports[$i]}" --set "node.id=$i"
    --set "controller.quorum.voters=$voters")
  # No initial rebalance delay: the suite's group tests form many
  # short-lived groups, and test clusters for it are configured this way.
  listen=(--listen 127.0.0.1:0)
  [ ${#security[@]} = 0 ] || listen=()
  "$fjord" serve ${listen[@]+"${listen[@]}"} --data-dir "$work/data$i" --set num.partitions=4 \
    --set group.initial.rebalance.delay.ms=0 "${cluster[@]}" ${security[@]+"${security[@]}"} \
    >"$work/out$i" 2>"$work/broker$i.log" &
  pids="$pids $!"
done
for i in $(seq "$nodes"); do
  for _ in $(seq 150); do grep -q '^fjord listening' "$work/out$i" && break; sleep 0.1; done
  port=$(grep '^fjord listening' "$work/out$i" | grep -o '[0-9]*$')
  bootstrap="$bootstrap${bootstrap:+,}127.0.0.1:$port"
done
echo "bootstrap.servers=$bootstrap" >"$work/test.conf"
if [ "${FJORD_SECURITY:-}" = sasl_ssl ]; then
  cat >>"$work/test.conf" <<CONF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.username=test
sasl.password=test-secret
ssl.ca.location=$work/ca.pem
CONF
fi

# Quick mode (-Q) skips a test's slower sub-tests; LIBRDKAFKA_FULL=1 runs them.
quick=-Q
[ -z "${LIBRDKAFKA_FULL:-}" ] || quick=
failed=""
for t in $TESTS; do
  if (cd "$build/tests" && LD_LIBRARY_PATH=../src:../src-cpp TESTS=$t RDKAFKA_TEST_CONF="$work/test.conf" \
      TEST_KAFKA_VERSION=4.0.0 timeout 300 ./test-runner -p1 $quick -E -L >"$work/$t.log" 2>&1); then
    echo "librdkafka $t (nodes: $nodes${FJORD_SECURITY:+, $FJORD_SECURITY}): PASS"
  else
    echo "librdkafka $t (nodes: $nodes${FJORD_SECURITY:+, $FJORD_SECURITY}): FAIL"; tail -20 "$work/$t.log"; failed="$failed $t"
    [ -z "${KEEP_LOGS:-}" ] || cp -r "$work" "$KEEP_LOGS"
  fi
done
[ -z "$failed" ] || { echo "failed:$failed"; exit 1; }
