#!/usr/bin/env bash
# The test command (README, CI): installs what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n=== %s ===\n' "$*"; }

section "prerequisites"
# kcat; openssl makes the tests' certificates; libssl-dev gives the
# librdkafka suite TLS (its SASL_SSL run).
if ! command -v kcat >/dev/null || ! command -v openssl >/dev/null || ! [ -e /usr/include/openssl/ssl.h ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat openssl libssl-dev >/dev/null
fi
# kafka-python 3 carries Kafka's message schemas, which the transaction
# version 2 tests encode with (txn_v2_client.py).
python3 -c 'import confluent_kafka, kafka, pytest, sys; sys.exit(int(kafka.__version__.split(".")[0]) < 3)' 2>/dev/null ||
  python3 -m pip install -q --root-user-action=ignore confluent-kafka 'kafka-python>=3' pytest
rustup component add clippy rustfmt >/dev/null 2>&1 || true

section "format and lints"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

section "cargo test (unit, storage, decoder fuzz)"
cargo build
cargo test

section "python clients and kcat against the real binary"
FJORD_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/fjord" python3 -m pytest -q -p no:warnings tests/python

section "librdkafka test suite"
FJORD_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/fjord" tests/librdkafka/run.sh

section "librdkafka test suite against a three-node cluster"
FJORD_NODES=3 FJORD_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/fjord" tests/librdkafka/run.sh

# The suite's transactional tests that need a real broker, with all their
# sub-tests (not quick mode): 0103-transactions creates topics with
# replication factor 3; 0137's control-message sub-test reads across
# transaction markers. (0098 needs a Java helper; 0105 and 0144 are
# mock-broker tests.)
section "librdkafka transactional tests (0103, 0129, 0137; full) against a three-node cluster"
FJORD_NODES=3 LIBRDKAFKA_FULL=1 LIBRDKAFKA_TESTS="0103 0129 0137" FJORD_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/fjord" tests/librdkafka/run.sh

section "librdkafka test suite over SASL_SSL (SCRAM-SHA-512, ACLs enforced)"
FJORD_SECURITY=sasl_ssl FJORD_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/fjord" tests/librdkafka/run.sh

section "all tests passed"
