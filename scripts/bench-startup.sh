#!/usr/bin/env bash
# Start-to-healthy time and idle memory of the release binary on the embedded database.
# Usage: scripts/bench-startup.sh [runs]   (builds the release binary first)
# Prints, per scenario, the median over the runs: milliseconds from exec to the first 200 from
# /healthz, and resident memory (RSS, MiB) after 3 s idle following a few page requests and six
# concurrent sign-in attempts.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/consilium-target}"
cargo build --release -q -p consilium
bin="$CARGO_TARGET_DIR/release/consilium"
port=18089

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

measure() { # $1 = data dir; echoes "ms rss_mib"
  local start end pid rss
  start=$(date +%s%N)
  CONSILIUM_DATA_DIR="$1" CONSILIUM_BIND="127.0.0.1:$port" CONSILIUM_LOG=warn "$bin" >/dev/null 2>&1 &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.005; done
  end=$(date +%s%N)
  for p in /login /healthz /readyz /api/openapi.json; do curl -fs "http://127.0.0.1:$port$p" >/dev/null || true; done
  for i in 1 2 3 4 5 6; do  # six sign-in attempts (argon2 verifications)
    curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/auth/token" -H 'content-type: application/json' \
      -d "{\"email\":\"nobody$i@example.org\",\"password\":\"not a real password\"}" &
  done
  wait_curls=$(jobs -p | grep -v "^$pid$" || true); for j in $wait_curls; do wait "$j" || true; done
  sleep 3
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(( (end - start) / 1000000 )) $(awk "BEGIN {printf \"%.1f\", $rss/1024}")"
}

for scenario in first-start restart; do
  : > /tmp/consilium-bench-$scenario
done
for _ in $(seq "$runs"); do
  dir=$(mktemp -d)
  measure "$dir" >> /tmp/consilium-bench-first-start   # empty database: migrate + seed demo
  measure "$dir" >> /tmp/consilium-bench-restart       # existing database
  rm -rf "$dir"
done
printf '%-12s %18s %18s\n' scenario "start->healthy ms" "idle RSS MiB"
for scenario in first-start restart; do
  ms=$(cut -d' ' -f1 /tmp/consilium-bench-$scenario | median)
  mib=$(cut -d' ' -f2 /tmp/consilium-bench-$scenario | median)
  printf '%-12s %18s %18s\n' "$scenario" "$ms" "$mib"
done
echo "(median of $runs runs; targets: start->healthy <= 1000 ms, idle RSS <= 60 MiB)"
