#!/usr/bin/env bash
# Start-to-serving time, idle memory and binary size of the release build.
# Usage: cargo build --release && scripts/footprint.sh [runs]
# Starts `muster serve` on SQLite (a fresh file, then the same file again,
# when the migrations are already applied), polls /healthz until it answers
# 200, reads the resident memory after two idle seconds, and stops it.
set -euo pipefail
bin=${MUSTER_BIN:-target/release/muster}
runs=${1:-5}
[ -x "$bin" ] || { echo "no $bin: cargo build --release first" >&2; exit 1; }
echo "binary: $(stat -c %s "$bin") bytes ($bin)"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$((20000 + RANDOM % 20000))
for start in fresh again; do
  for i in $(seq "$runs"); do
    db="$dir/run$i.db"
    [ "$start" = fresh ] && rm -f "$db"*
    t0=$(date +%s%N)
    MUSTER_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --database "sqlite://$db" \
      --admin-token mst_footprint >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 2000); do
      if curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; then break; fi
      sleep 0.001
    done
    t1=$(date +%s%N)
    sleep 2
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true
    echo "$start run $i: serving after $(( (t1 - t0) / 1000000 )) ms, idle RSS $((rss / 1024)) MiB ($rss KiB)"
  done
done
