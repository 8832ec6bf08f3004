#!/bin/sh
# England's 42 Integrated Care Boards of April 2023 (beside icb2026.sh: the
# mergers of April 2026).
set -eu
FP=${FOOTPRINT:-build/footprint} OUT=${OUT:-docs/img}
mkdir -p "$OUT"
"$FP" render --edition icb2023 --inset london --width 1000 --out "$OUT/icb2023.png"
