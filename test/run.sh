#!/usr/bin/env bash
# Runs each test binary under both I/O backends (or those named in
# BACKENDS) and prints one closing line "N passed, N failed".  A binary exiting 77 is counted as skipped (the
# kernel lacks what it tests), as automake and liburing's tests do.
set -u
passed=0 failed=0 skipped=0 failures=()
logdir="${BUILD:-build}/test-logs"
mkdir -p "$logdir"
for bin in "$@"; do
  backends=${BACKENDS:-io_uring syscall}
  for backend in $backends; do
    name="$(basename "$bin") [$backend]"
    start=$(date +%s%N)
    LIBLOG_IO_BACKEND=$backend CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120} \
      "$bin" > "$logdir/$(basename "$bin").$backend.log" 2>&1
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    if [ $rc -eq 0 ]; then
      passed=$((passed+1)); echo "PASS $name (${ms} ms)"
    elif [ $rc -eq 77 ]; then
      skipped=$((skipped+1)); echo "SKIP $name"
    else
      failed=$((failed+1)); failures+=("$name"); echo "FAIL $name (exit $rc)"
      tail -n 40 "$logdir/$(basename "$bin").$backend.log"
    fi
  done
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ $failed -eq 0 ]
