#!/usr/bin/env bash
# Installs into a scratch DESTDIR and builds examples/hello.c against the
# installed copy through pkg-config, dynamically and statically, then runs
# both: proves the header, libraries, SONAME links, liblog.pc and man pages
# are all where `make install` says.
set -euo pipefail
build=${BUILD:-build}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
prefix=/opt/liblog-test
make -s install BUILD="$build" PREFIX="$prefix" DESTDIR="$stage" >/dev/null
root="$stage$prefix"
for f in include/liblog.h lib/liblog.so.1 lib/liblog.so lib/liblog.a \
         lib/pkgconfig/liblog.pc share/man/man3/lg_append.3 \
         share/man/man7/liblog.7; do
  [ -e "$root/$f" ] || { echo "install: missing $f"; exit 1; }
done
# The .pc names the final prefix; point pkg-config at the staged tree.
export PKG_CONFIG_PATH="$root/lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$stage"
cc -std=c11 -o "$stage/hello" examples/hello.c $(pkg-config --cflags --libs liblog) \
   -Wl,-rpath,"$root/lib"
cc -std=c11 -o "$stage/hello-static" examples/hello.c \
   $(pkg-config --cflags liblog) "$root/lib/liblog.a" \
   $(pkg-config --static --libs-only-l liblog | sed 's/-llog//')
(cd "$stage" && ./hello >/dev/null && ./hello-static >/dev/null)
# (grep without -q: an early exit would SIGPIPE ldd and trip pipefail)
ldd "$stage/hello" | grep "$root/lib/liblog.so.1" >/dev/null ||
  { echo "install: hello does not load the installed liblog.so.1"; exit 1; }
echo "install: 1 passed, 0 failed"
