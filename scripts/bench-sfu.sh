#!/usr/bin/env bash
# SFU load against a plain UDP relay, in one run. Builds the release server, then starts it as
# a child of the load tool. Usage: scripts/bench-sfu.sh [sizes, e.g. 2,4,8,12] [seconds per size]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/consilium-target}"
cargo build --release -q -p consilium
cargo bench -q --profile release -p consilium-tests --bench sfu -- --sizes "${1:-2,4,6,8,10,12}" --seconds "${2:-8}"
