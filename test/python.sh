#!/usr/bin/env bash
# Runs the ctypes binding's tests (examples/python/test_liblog.py) against
# $BUILD/liblog.so.1 and prints one closing line like test/run.sh.  Skips
# cleanly when python3 is missing.  A sanitizer build of the library is
# loaded with its runtime preloaded (python itself is not instrumented).
set -u
build=${BUILD:-build}
lib="$build/liblog.so.1"
if ! command -v python3 >/dev/null 2>&1; then
  echo "SKIP python binding (python3 not installed)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi
preload=""
if ldd "$lib" 2>/dev/null | grep -q libasan; then
  preload="$(${CC:-cc} -print-file-name=libasan.so)"
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}"
elif ldd "$lib" 2>/dev/null | grep -q libtsan; then
  echo "SKIP python binding (ThreadSanitizer build)"
  exit 0
fi
log="$build/test-logs/python.log"
mkdir -p "$build/test-logs"
for backend in io_uring syscall; do
  if LD_PRELOAD="$preload" LIBLOG_PATH="$lib" LIBLOG_IO_BACKEND=$backend \
       python3 -m unittest examples/python/test_liblog.py >"$log" 2>&1; then
    echo "PASS python binding [$backend] ($(tail -n 1 "$log"))"
  else
    echo "FAIL python binding [$backend]"
    tail -n 40 "$log"
    exit 1
  fi
done
echo "2 passed, 0 failed, 0 skipped"
