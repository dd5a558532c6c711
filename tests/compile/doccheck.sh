#!/usr/bin/env bash
# Documentation checks. Prints PASS / FAIL / SKIP lines.
#
# 1. Every fenced ```c block of README.md and docs/*.md compiles (gcc -std=c99 -Wall -Wextra
#    -Wpedantic -Werror), so the documentation cannot drift from the header. A block is one of:
#    - a translation unit: it has a #include line. Compiled as it is (gcc -c); functions, but no
#      main, are fine. With TINYTRAIN_IMPLEMENTATION it compiles the implementation too.
#    - a fragment: anything else. It is compiled as the body of a function, after
#        #include "tinytrain.h" and <stdio.h> <stdlib.h> <string.h> <math.h>
#        tt_ctx ctx; tt_optim opt; tt_sched sched;
#        tt_tensor *x, *y, *w, *b, *h, *loss, *logits;    (all zeroed / NULL)
#      in an inner block, so it may declare those names again with other types.
#    An HTML comment on the line just before the fence (invisible on the rendered page) adds to that:
#      <!-- doccheck: DECLARATIONS -->   C declarations put in front of the fragment, e.g.
#                                        <!-- doccheck: tt_ctx *c; int labels[4]; -->
#      <!-- doccheck: run -->            the block is a whole program: it is also compiled as
#                                        C++ (g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror),
#                                        both builds are run and must exit 0; with
#                                        "run loss-falls" the last "loss <number>" it prints must
#                                        be below the first
#      <!-- doccheck: skip REASON -->     not compiled; printed as SKIP with the reason
#    Errors point at the markdown file and line (#line directives).
# 2. Every public function declared in tinytrain.h carries documentation: a comment on its own
#    line or directly above it (a group of declarations may share the comment above the group).
# 3. Every configuration macro the README lists is mentioned in the header's manual (its first comment).
cd "$(dirname "$0")/../.." || exit 1
CC=${CC:-gcc}
CXX=${CXX:-g++}
W="-std=c99 -Wall -Wextra -Wpedantic -Werror"
WXX="-std=c++11 -Wall -Wextra -Wpedantic -Werror"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# ---- 1. code blocks ----
# blocks/N.c holds the body, blocks/N.meta: file, first body line, annotation, its line (separated by \037)
mkdir -p "$out/blocks"
awk -v dir="$out/blocks" '
  FNR == 1 { prev = ""; inblk = 0 }
  inblk && /^```/ { inblk = 0; close(body); prev = ""; next }
  inblk { print > body; next }
  /^```c[ \t]*$/ {
    n++; body = dir "/" n ".c"; inblk = 1; ann = ""
    if (prev ~ /^<!-- *doccheck:.*-->[ \t]*$/) {
      ann = prev; sub(/^<!-- *doccheck: */, "", ann); sub(/ *-->[ \t]*$/, "", ann)
    }
    printf "" > body
    printf "%s\037%d\037%s\037%d\n", FILENAME, FNR + 1, ann, prevline > (dir "/" n ".meta")
    close(dir "/" n ".meta"); next
  }
  /[^ \t]/ { prev = $0; prevline = FNR }
' README.md docs/*.md

compile_block() { # n: prints one PASS/FAIL/SKIP line
  local n=$1 file line ann annline src body=$out/blocks/$1.c name log
  IFS=$'\037' read -r file line ann annline < "$out/blocks/$n.meta"
  name="doc_snippet ${file}:$((line - 1))"
  case "$ann" in
    skip*) echo "SKIP $name: ${ann#skip}"; return ;;
  esac
  log=$out/$n.log
  if grep -q '^[[:space:]]*#[[:space:]]*include' "$body"; then
    src=$out/$n.unit.c
    { printf '#line %d "%s"\n' "$line" "$file"; cat "$body"; } > "$src"
    if [ "${ann%% *}" = run ]; then
      cp "$src" "$out/$n.unit.cc"
      if ! $CC $W -O2 -I. -o "$out/$n.c.bin" "$src" -lm -lpthread > "$log" 2>&1; then
        echo "FAIL $name: does not compile as C"; sed 's/^/  /' "$log" | head -20; return; fi
      if ! $CXX $WXX -O2 -I. -o "$out/$n.cc.bin" "$out/$n.unit.cc" -lpthread > "$log" 2>&1; then
        echo "FAIL $name: does not compile as C++"; sed 's/^/  /' "$log" | head -20; return; fi
      local lang
      for lang in c cc; do
        if ! "$out/$n.$lang.bin" > "$out/$n.$lang.out" 2>&1; then
          echo "FAIL $name: the $lang build exits with status $?"; head -5 "$out/$n.$lang.out" | sed 's/^/  /'; return; fi
        if [ "$ann" = "run loss-falls" ] && ! awk '
             { for (i = 1; i < NF; i++) if ($i == "loss" && $(i+1) ~ /^[0-9.eE+-]+$/) { if (!k++) first = $(i+1); last = $(i+1) } }
             END { exit !(k >= 2 && last + 0 < first + 0) }' "$out/$n.$lang.out"; then
          echo "FAIL $name: the $lang build does not print a falling loss"; head -5 "$out/$n.$lang.out" | sed 's/^/  /'; return; fi
      done
      echo "PASS $name: compiles as C and C++ without warnings, runs ($(grep -c . "$out/$n.c.out") lines: $(head -1 "$out/$n.c.out") ... $(tail -1 "$out/$n.c.out"))"
      return
    fi
    if $CC $W -I. -c -o "$out/$n.o" "$src" > "$log" 2>&1; then echo "PASS $name"
    else echo "FAIL $name: does not compile"; sed 's/^/  /' "$log" | head -20; fi
    return
  fi
  src=$out/$n.frag.c
  {
    printf '#include "tinytrain.h"\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n'
    printf 'void doc_snippet(void);\nvoid doc_snippet(void) {\n'
    printf '    tt_ctx ctx; tt_optim opt; tt_sched sched;\n'
    printf '    tt_tensor *x = NULL, *y = NULL, *w = NULL, *b = NULL, *h = NULL, *loss = NULL, *logits = NULL;\n'
    printf '    memset(&ctx, 0, sizeof ctx); memset(&opt, 0, sizeof opt); memset(&sched, 0, sizeof sched);\n'
    printf '    {\n'
    if [ -n "$ann" ]; then printf '#line %d "%s"\n%s\n' "$annline" "$file" "$ann"; fi
    printf '#line %d "%s"\n' "$line" "$file"
    cat "$body"
    printf '\n    }\n}\n'
  } > "$src"
  if $CC $W -Wno-unused-variable -Wno-unused-but-set-variable -I. -fsyntax-only "$src" > "$log" 2>&1; then
    echo "PASS $name"
  else echo "FAIL $name: does not compile"; sed 's/^/  /' "$log" | head -20; fi
}
n=1
while [ -e "$out/blocks/$n.meta" ]; do compile_block "$n"; n=$((n + 1)); done

# ---- 2. every public function documented ----
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

# ---- 3. configuration macros of the README in the header's manual ----
missing=""
for m in $(awk '/^## Configuration switches/{f=1;next} /^## /{f=0} f' README.md | grep -o '^| `TT_[A-Z_]*' | sed 's/^| `//'); do
  awk '{print} /\*\//{exit}' tinytrain.h | grep -q "$m" || missing="$missing $m"
done
if [ -n "$missing" ]; then echo "FAIL doc_config_macros_in_header_manual: missing$missing"
else echo "PASS doc_config_macros_in_header_manual"; fi
