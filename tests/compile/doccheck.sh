#!/usr/bin/env bash
# Every public function declared in tinytrain.h carries documentation: a comment on its own line
# or directly above it (a group of declarations may share the comment above the group).
# Also: every configuration macro the README lists is mentioned in the header's manual.
cd "$(dirname "$0")/../.." || exit 1
undoc=$(awk '
  /^TT_API/ {
    if ($0 ~ /\/\*/ || documented) { last_api = 1; next }
    print FILENAME ":" NR ": " $0; last_api = 1; next
  }
  /^[ \t]+[^ \t].*[;,)]/ && last_api { next }            # continuation of a declaration
  { last_api = 0 }
  /\*\/[ \t]*$/ { documented = 1; next }
  /^[ \t]*$/ { documented = 0; next }
  { documented = 0 }
' tinytrain.h)
if [ -n "$undoc" ]; then echo "FAIL doc_every_public_function"; echo "$undoc" | head -20
else echo "PASS doc_every_public_function"; fi
missing=""
for m in $(awk '/^## Configuration switches/{f=1;next} /^## /{f=0} f' README.md | grep -o '^| `TT_[A-Z_]*' | sed 's/^| `//'); do
  head -80 tinytrain.h | grep -q "$m" || missing="$missing $m"
done
if [ -n "$missing" ]; then echo "FAIL doc_config_macros_in_header_manual: missing$missing"
else echo "PASS doc_config_macros_in_header_manual"; fi
