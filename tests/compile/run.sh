#!/usr/bin/env bash
# Compile matrix: warnings are errors with gcc and clang, the header compiles as C++, every
# configuration switch builds and runs, tcc builds it, and it builds for a Cortex-M4F.
# Prints "PASS name" / "FAIL name" / "SKIP name: why" lines (tests/summary.sh counts them).
cd "$(dirname "$0")/../.." || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
W="-std=c99 -Wall -Wextra -Wpedantic -Werror"
run() { # name, command...
  local name=$1; shift
  if log=$("$@" 2>&1); then echo "PASS $name"; else echo "FAIL $name"; echo "$log" | head -20; fi
}
has() { command -v "$1" >/dev/null 2>&1; }
for cc in gcc clang; do
  if ! has $cc; then echo "SKIP compile_$cc: $cc not installed"; continue; fi
  run "compile_${cc}_c99" sh -c "$cc $W -O2 -o $out/a tests/compile/impl.c -lm -lpthread && $out/a"
  run "compile_${cc}_c99_shadow_prototypes" $cc $W -Wshadow -Wstrict-prototypes -Wmissing-prototypes -O2 -fsyntax-only tests/compile/impl.c
  for sw in TT_STATIC TT_NO_STDIO TT_NO_SIMD TT_NO_THREADS CUSTOM_ALLOC; do
    run "compile_${cc}_$sw" sh -c "$cc $W -O1 -D$sw -o $out/a tests/compile/impl.c -lm -lpthread && $out/a"
  done
  run "compile_${cc}_two_units" sh -c "$cc $W -O1 -o $out/a tests/compile/user.c tests/compile/impl_lib.c -lm -lpthread && $out/a"
done
if has g++; then
  run compile_gxx_cpp11 sh -c "g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -O1 -o $out/a tests/compile/impl.cc -lpthread && $out/a"
  run compile_gxx_cpp17_no_simd sh -c "g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -O1 -DTT_NO_SIMD -o $out/a tests/compile/impl.cc -lpthread && $out/a"
else echo "SKIP compile_gxx: g++ not installed"; fi
if has clang++; then
  run compile_clangxx_cpp11 sh -c "clang++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -O1 -o $out/a tests/compile/impl.cc -lpthread && $out/a"
fi
if has tcc; then
  run compile_tcc sh -c "tcc -Wall -Werror -o $out/a tests/compile/impl.c -lm -lpthread && $out/a"
else echo "SKIP compile_tcc: tcc not installed"; fi
if has arm-none-eabi-gcc; then
  run compile_cortex_m4 sh -c "arm-none-eabi-gcc $W -Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs -o $out/m4.elf tests/compile/cortex_m.c -lm"
else echo "SKIP compile_cortex_m4: arm-none-eabi-gcc not installed"; fi
# the same program, built for the host, really fits its 96 KiB buffer and runs a step
run cortex_m_program_on_host sh -c "cc $W -O1 -o $out/cm tests/compile/cortex_m.c -lm && $out/cm"
# no private macro (TT__*) leaks out of the implementation
printf '#define TINYTRAIN_IMPLEMENTATION\n#include "tinytrain.h"\n' > "$out/m.c"
run no_private_macros_leak sh -c "! gcc -dM -E -I. $out/m.c | grep '#define TT__'"
