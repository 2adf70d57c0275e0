#!/usr/bin/env bash
# Regenerates the property table in man/man7/liblog-conf.7 and
# man/man3/lg_conf_set.3 from lib/conf.c (via gen-conf-table.c).  Each page
# holds the generated text between the lines
#   .\" BEGIN GENERATED <kind>       and       .\" END GENERATED <kind>
# where <kind> is SUMMARY (tbl table) or PROPERTIES (.TP list).
# Usage: man/tools/update-conf-pages.sh   (from the top of the tree)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cflags=$(pkg-config --cflags libxxhash 2>/dev/null || true)
${CC:-cc} -std=c11 -D_GNU_SOURCE -Iinclude -Ilib $cflags -o "$tmp/gen" \
  man/tools/gen-conf-table.c lib/conf.c lib/err.c lib/alloc.c -pthread
"$tmp/gen" summary > "$tmp/SUMMARY"
"$tmp/gen" > "$tmp/PROPERTIES"
for page in man/man7/liblog-conf.7 man/man3/lg_conf_set.3; do
  [ -f "$page" ] || continue
  awk -v dir="$tmp" '
    /^\.\\" BEGIN GENERATED / { print; kind = $4;
      while ((getline line < (dir "/" kind)) > 0) print line;
      close(dir "/" kind); skip = 1; next }
    /^\.\\" END GENERATED / { skip = 0 }
    !skip { print }' "$page" > "$tmp/page"
  cat "$tmp/page" > "$page"
done
