#!/bin/sh
# The 44 STP footprints of February 2017 (beside icb2023.sh: Bassetlaw moves
# from South Yorkshire and Bassetlaw to Nottingham and Nottinghamshire).
set -eu
FP=${FOOTPRINT:-build/footprint} OUT=${OUT:-docs/img}
mkdir -p "$OUT"
"$FP" render --edition stp2017 --inset london --width 1000 --out "$OUT/stp2017.png"
