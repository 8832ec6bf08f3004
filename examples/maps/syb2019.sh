#!/bin/sh
# South Yorkshire and Bassetlaw on 1 June 2019, with its five places.
set -eu
FP=${FOOTPRINT:-build/footprint} OUT=${OUT:-docs/img}
mkdir -p "$OUT"
"$FP" render --focus E54000009 --date 2019-06-01 --width 1000 --out "$OUT/syb2019.png"
