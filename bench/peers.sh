#!/usr/bin/env bash
# peers.sh -- liblog side by side with what users would pick instead.
#
# Runs the same workloads (bench/peers/peer.h: append 1M x 100 B in batches
# of 1000 and 10k x 16 KiB in batches of 16, then read everything back; once
# without fsync and once with an fsync per batch) against liblog, SQLite
# (WAL, one transaction per batch), RocksDB (one WriteBatch per batch), LMDB
# (one write transaction per batch), Redis Streams (XADD pipelined per batch;
# AOF with appendfsync everysec, or always for the fsync runs) and the raw
# sequential-write bound (write + fdatasync of the bare bytes), prints a
# table with every figure and liblog's ratio to each peer, and writes it into
# README.md between the "peers:begin" / "peers:end" markers with the date and
# machine.
#
# Peers are Debian packages installed here (apt-get; sudo when not root),
# never vendored.  redis-server is started on 127.0.0.1 at a random port with
# its files in a scratch directory and always stopped (trap), bounded by
# timeouts.  Environment: BUILD (where liblog.a is, default build-bench),
# BENCH_DIR (scratch space, default ./bench-data), BENCH_SCALE (multiplies
# record counts, default 1), PEERS (subset, default all), README (file to
# update, default README.md; empty to skip).
set -euo pipefail
build=${BUILD:-build-bench}
bench_dir=${BENCH_DIR:-./bench-data}/peers
scale=${BENCH_SCALE:-1}
peers=${PEERS:-"liblog raw sqlite rocksdb lmdb redis"}
readme=${README-README.md}
cc=${CC:-cc}

# ---------------------------------------------------------------- packages
missing=""
for p in libsqlite3-dev librocksdb-dev liblmdb-dev libhiredis-dev redis-server; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "peers: installing$missing"
  if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

# ---------------------------------------------------------------- build
out="$build/peers"
mkdir -p "$out"
flags="-std=c11 -D_GNU_SOURCE -O2 -g -march=native -Wall -Wextra -Ibench/peers -Iinclude"
[ -f "$build/liblog.a" ] || { echo "peers: $build/liblog.a missing (make bench builds it)"; exit 1; }
$cc $flags -o "$out/liblog_peer" bench/peers/liblog_peer.c "$build/liblog.a" \
  $(pkg-config --libs liburing libxxhash libzstd) -pthread
$cc $flags -o "$out/raw_peer" bench/peers/raw_peer.c
$cc $flags -o "$out/sqlite_peer" bench/peers/sqlite_peer.c -lsqlite3
$cc $flags -o "$out/rocksdb_peer" bench/peers/rocksdb_peer.c -lrocksdb
$cc $flags -o "$out/lmdb_peer" bench/peers/lmdb_peer.c -llmdb
$cc $flags -o "$out/redis_peer" bench/peers/redis_peer.c -lhiredis

# ---------------------------------------------------------------- redis
redis_dir=$(mktemp -d)
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
  fi
  rm -rf "$redis_dir"
}
trap cleanup EXIT
start_redis() {
  export REDIS_PORT=$(( 20000 + RANDOM % 30000 ))
  timeout 900 redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$redis_dir" --appendonly yes --appendfsync everysec --save "" \
    --protected-mode yes --daemonize no --loglevel warning \
    >"$redis_dir/server.log" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.1
  done
  echo "peers: redis-server did not start:"; cat "$redis_dir/server.log"
  return 1
}

# ---------------------------------------------------------------- run
results=$(mktemp)
for peer in $peers; do
  rm -rf "$bench_dir"; mkdir -p "$bench_dir"
  if [ "$peer" = redis ]; then start_redis; fi
  echo "== $peer"
  timeout 600 "$out/${peer}_peer" "$bench_dir" "$scale" both | tee -a "$results"
  if [ "$peer" = redis ]; then
    kill "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
  fi
done
rm -rf "$bench_dir"

# ---------------------------------------------------------------- table
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
fs=$(df -T "${BENCH_DIR:-./bench-data}" 2>/dev/null | awk 'NR==2 {print $2}' || true)
[ -n "$fs" ] || fs=$(df -T . | awk 'NR==2 {print $2}')
header="Measured $(date -u +%Y-%m-%d) on $(nproc) CPUs ($cpu), $fs, Linux $(uname -r), scale $scale."
table=$(awk -v peers="$peers" '
  $1 == "RESULT" {
    key = $3 " " $4
    if (!(key in seen)) { seen[key] = 1; keys[++nkeys] = key }
    w[$2, key] = $5; wm[$2, key] = $6; r[$2, key] = $7; rm[$2, key] = $8
  }
  function fmt(x) {
    if (x >= 1e6) return sprintf("%.2fM", x / 1e6)
    if (x >= 1e3) return sprintf("%.1fk", x / 1e3)
    return sprintf("%.0f", x)
  }
  function cell(v, mine, p) {
    if (v == "") return "n/a"
    if (p == "liblog") return fmt(v) "/s"
    return fmt(v) "/s (" sprintf("%.2f", mine / v) "x)"
  }
  END {
    n = split(peers, list, " ")
    line = "| workload | durability | phase |"
    sep = "|---|---|---|"
    for (i = 1; i <= n; i++) { line = line " " list[i] " |"; sep = sep "---|" }
    print line; print sep
    for (k = 1; k <= nkeys; k++) {
      split(keys[k], part, " ")
      for (phase = 0; phase < 2; phase++) {
        line = "| " part[1] " | " (part[2] == "fsync" ? "fsync per batch" : "no fsync") " | " (phase ? "read" : "append") " |"
        mine = phase ? r["liblog", keys[k]] : w["liblog", keys[k]]
        for (i = 1; i <= n; i++) {
          v = phase ? r[list[i], keys[k]] : w[list[i], keys[k]]
          line = line " " cell(v, mine, list[i]) " |"
        }
        print line
      }
    }
  }' "$results")
rm -f "$results"
echo
echo "$header"
echo "Records per second; in parentheses liblog's ratio to that peer (>1: liblog faster)."
echo "$table"

if [ -n "$readme" ] && [ -f "$readme" ] && grep -q '<!-- peers:begin -->' "$readme"; then
  block=$(mktemp)
  {
    echo '<!-- peers:begin -->'
    echo "$header"
    echo "Records per second; in parentheses liblog's ratio to that peer (>1: liblog faster)."
    echo
    echo "$table"
    echo '<!-- peers:end -->'
  } > "$block"
  awk -v block="$block" '
    /<!-- peers:begin -->/ { while ((getline line < block) > 0) print line; skip = 1; next }
    /<!-- peers:end -->/ { skip = 0; next }
    !skip { print }' "$readme" > "$readme.tmp" && mv "$readme.tmp" "$readme"
  rm -f "$block"
  echo "peers: table written into $readme"
fi
