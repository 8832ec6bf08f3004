#!/bin/sh
# England's 36 Integrated Care Boards of April 2026, London inset.
set -eu
FP=${FOOTPRINT:-build/footprint} OUT=${OUT:-docs/img}
mkdir -p "$OUT"
"$FP" render --edition icb2026 --inset london --width 1000 --out "$OUT/icb2026.png"
