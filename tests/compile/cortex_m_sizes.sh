#!/usr/bin/env bash
# Sizes of the Cortex-M4F program (tests/compile/cortex_m.c: TT_NO_STDIO, TT_NO_MALLOC,
# TT_NO_THREADS, a 96 KiB static arena, one training step) as text/data/bss bytes from
# arm-none-eabi-size, built -Os for cortex-m4 with the single-precision FPU, without and with
# section GC, and with each feature cut. Prints the README's table (markdown).
cd "$(dirname "$0")/../.." || exit 1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
W="-std=c99 -Wall -Wextra -Wpedantic -Werror"
M4="-Os -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 --specs=nosys.specs"
GC="-ffunction-sections -fdata-sections -Wl,--gc-sections"
size() { # flags... -> "text | data | bss"
  arm-none-eabi-gcc $W $M4 "$@" -o "$out/m.elf" tests/compile/cortex_m.c -lm || { echo "build failed"; return; }
  arm-none-eabi-size "$out/m.elf" | awk 'NR == 2 { printf "%d | %d | %d", $1, $2, $3 }'
}
echo "$(arm-none-eabi-gcc --version | head -1), $(arm-none-eabi-ld --version | head -1)"
echo
echo "| build | text, no section GC | data | bss | text, section GC | data | bss |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for cut in "" TT_NO_CONV TT_NO_RNN TT_NO_LBFGS TT_NO_CTC all; do
  case $cut in
    "") d=""; name="all features" ;;
    all) d="-DTT_NO_CONV -DTT_NO_RNN -DTT_NO_LBFGS -DTT_NO_CTC"; name="all four cuts" ;;
    *) d="-D$cut"; name="\`$cut\`" ;;
  esac
  echo "| $name | $(size $d) | $(size $d $GC) |"
done
