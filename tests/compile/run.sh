#!/usr/bin/env bash
# Compile matrix: warnings are errors with gcc and clang, the header compiles as C++, every
# configuration switch and feature cut builds and runs, tcc builds it, and it builds for a
# Cortex-M4F with section GC, with no allocator linked and double arithmetic only where explained,
# every example compiles, examples/embedded.c builds for it (its sizes are printed) and runs on
# the host, and examples/charlm.c resumes from its checkpoint bit for bit.
# Prints "PASS name" / "FAIL name" / "SKIP name: why" lines (tests/summary.sh counts them).
cd "$(dirname "$0")/../.." || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
W="-std=c99 -Wall -Wextra -Wpedantic -Werror"
# run NAME COMMAND...: runs in the background, TT_JOBS (default: the number of CPUs) at a time;
# @O@ in the command is a directory of its own; the result lines are printed when it finishes.
jobs_max=${TT_JOBS:-$(nproc 2>/dev/null || echo 2)}
n_run=0
run() {
  local name=$1 dir; shift
  n_run=$((n_run + 1)); dir=$out/run$n_run; mkdir -p "$dir"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
  (
    if log=$("${@//@O@/$dir}" 2>&1); then res="PASS $name"; else res=$(printf 'FAIL %s\n%s' "$name" "$(echo "$log" | head -20)"); fi
    if command -v flock >/dev/null 2>&1; then flock "$out/lock" printf '%s\n' "$res"; else printf '%s\n' "$res"; fi
  ) &
}
has() { command -v "$1" >/dev/null 2>&1; }
for cc in gcc clang; do
  if ! has $cc; then echo "SKIP compile_$cc: $cc not installed"; continue; fi
  run "compile_${cc}_c99" sh -c "$cc $W -O2 -o @O@/a tests/compile/impl.c -lm -lpthread && @O@/a"
  run "compile_${cc}_c99_shadow_prototypes" $cc $W -Wshadow -Wstrict-prototypes -Wmissing-prototypes -O2 -fsyntax-only tests/compile/impl.c
  for sw in TT_STATIC TT_NO_STDIO TT_NO_SIMD TT_NO_THREADS CUSTOM_ALLOC TT_NO_CONV TT_NO_RNN TT_NO_LBFGS TT_NO_CTC; do
    run "compile_${cc}_$sw" sh -c "$cc $W -O1 -D$sw -o @O@/a tests/compile/impl.c -lm -lpthread && @O@/a"
  done
  run "compile_${cc}_all_cuts" sh -c "$cc $W -O1 -DTT_NO_CONV -DTT_NO_RNN -DTT_NO_LBFGS -DTT_NO_CTC -o @O@/a tests/compile/impl.c -lm -lpthread && @O@/a"
  # TT_NO_MALLOC: no allocator symbol referenced; a desc without memory is refused by name
  run "compile_${cc}_TT_NO_MALLOC" sh -c "$cc $W -O1 -c -o @O@/nm.o tests/compile/no_malloc.c && ! nm -u @O@/nm.o | grep -wE 'malloc|free|calloc|realloc' && $cc -o @O@/nm @O@/nm.o -lm && @O@/nm"
  run "compile_${cc}_two_units" sh -c "$cc $W -O1 -o @O@/a tests/compile/user.c tests/compile/impl_lib.c -lm -lpthread && @O@/a"
done
if has g++; then
  run compile_gxx_cpp11 sh -c "g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -O1 -o @O@/a tests/compile/impl.cc -lpthread && @O@/a"
  run compile_gxx_cpp11_all_cuts g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -O1 -c -DTT_NO_CONV -DTT_NO_RNN -DTT_NO_LBFGS -DTT_NO_CTC -o @O@/a.o tests/compile/impl.cc
  run compile_gxx_cpp17_no_simd sh -c "g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -O1 -DTT_NO_SIMD -o @O@/a tests/compile/impl.cc -lpthread && @O@/a"
else echo "SKIP compile_gxx: g++ not installed"; fi
if has clang++; then
  run compile_clangxx_cpp11 sh -c "clang++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -O1 -o @O@/a tests/compile/impl.cc -lpthread && @O@/a"
fi
if has tcc; then
  run compile_tcc sh -c "tcc -Wall -Werror -o @O@/a tests/compile/impl.c -lm -lpthread && @O@/a"
else echo "SKIP compile_tcc: tcc not installed"; fi
# TT_NO_STDIO really keeps <stdio.h> out
run no_stdio_include sh -c "! gcc -M -DTT_NO_STDIO -DTT_NO_THREADS tests/compile/impl.c | grep -q 'stdio\.h'"
if has arm-none-eabi-gcc; then
  M4="-Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs"
  GC="-ffunction-sections -fdata-sections -Wl,--gc-sections"
  run compile_cortex_m4 arm-none-eabi-gcc $W $M4 -o @O@/m4.elf tests/compile/cortex_m.c -lm
  run compile_cortex_m4_gc arm-none-eabi-gcc $W $M4 $GC -o $out/m4gc.elf tests/compile/cortex_m.c -lm
  # examples/embedded.c (static buffer, no malloc, no stdio, checkpoint to a byte buffer)
  run compile_cortex_m4_embedded_example arm-none-eabi-gcc $W $M4 $GC -I. -o $out/embedded.elf examples/embedded.c -lm
  for cut in TT_NO_CONV TT_NO_RNN TT_NO_LBFGS TT_NO_CTC; do
    run "compile_cortex_m4_$cut" arm-none-eabi-gcc $W $M4 -D$cut -o @O@/m4cut.elf tests/compile/cortex_m.c -lm
  done
  wait # the checks below read m4gc.elf and embedded.elf
  if [ -f $out/embedded.elf ]; then
    echo "examples/embedded.c for Cortex-M4F (-Os, section GC), arm-none-eabi-size:"
    arm-none-eabi-size $out/embedded.elf | sed "s|$out/||; s/^/  /"
  fi
  if [ -f $out/m4gc.elf ]; then
    # the program passes its own buffer (TT_NO_MALLOC): no allocator is linked
    run cortex_m4_no_allocator sh -c "! arm-none-eabi-nm $out/m4gc.elf | grep -wE 'malloc|free|_malloc_r|_free_r|calloc|realloc'"
    # software double arithmetic only where README "Small devices" explains it: the message
    # formatter (%g of a float argument), and tt_sum's double accumulator; a float passed to a
    # message is promoted to double by C's varargs rules (__aeabi_f2d) anywhere
    dbl=$(arm-none-eabi-objdump -d $out/m4gc.elf | awk '
      /^[0-9a-f]+ <[^>]*>:$/ { fn = $2 }
      /\tbl?\t.*<__aeabi_(d[a-z0-9]+|[iu]2d|u?l2d|f2d)>/ && fn !~ /^<__aeabi_/ {
        i = index($0, "<__aeabi_"); h = substr($0, i); if (h != "<__aeabi_f2d>") print fn, h }' |
      sort -u | grep -vE '^<(tt__vformat[.a-z0-9]*|tt__putg[.a-z0-9]*|tt_sum|floor)>:' || true)
    if [ -z "$dbl" ]; then echo "PASS cortex_m4_double_only_where_explained"
    else echo "FAIL cortex_m4_double_only_where_explained: unexplained software double arithmetic in"; echo "$dbl" | sed 's/^/  /'; fi
  fi
else echo "SKIP compile_cortex_m4: arm-none-eabi-gcc not installed"; fi
# the same program, built for the host, really fits its 96 KiB buffer and runs a step
run cortex_m_program_on_host sh -c "cc $W -O1 -o @O@/cm tests/compile/cortex_m.c -lm && @O@/cm"
# every example compiles without a warning (make test builds only the tests; the demo is an example)
run examples_compile sh -c "for f in examples/*.c; do gcc $W -fsyntax-only -I. \$f || exit 1; done"
# examples/embedded.c on the host: trains, saves to its byte buffer, restores (exit status 0)
run embedded_example_on_host sh -c "cc $W -O1 -I. -o @O@/e examples/embedded.c -lm && @O@/e"
# examples/charlm.c: stopped after 4 of 8 steps and resumed with --resume, it ends with the same
# checkpoint file, byte for byte, as a run that was never stopped (a few seconds)
if [ -r /usr/share/dict/words ]; then
  run charlm_resume sh -c "cc $W -O1 -I. -o @O@/charlm examples/charlm.c -lm -lpthread && cd @O@ &&
    ./charlm --steps 8 --stop-at 4 --ckpt a.ckpt 2>/dev/null | grep -q 'stopped at step 4' &&
    ./charlm --steps 8 --resume --ckpt a.ckpt 2>/dev/null | grep -q 'resumed from a.ckpt at step 4' &&
    ./charlm --steps 8 --ckpt b.ckpt >/dev/null 2>&1 && cmp a.ckpt b.ckpt"
else echo "SKIP charlm_resume: no word list /usr/share/dict/words (apt-get install wamerican)"; fi
# no private macro (TT__*) leaks out of the implementation
printf '#define TINYTRAIN_IMPLEMENTATION\n#include "tinytrain.h"\n' > "$out/m.c"
run no_private_macros_leak sh -c "! gcc -dM -E -I. $out/m.c | grep '#define TT__'"
wait
