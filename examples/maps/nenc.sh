#!/bin/sh
# North East and North Cumbria with its four integrated care partnerships.
set -eu
FP=${FOOTPRINT:-build/footprint} OUT=${OUT:-docs/img}
mkdir -p "$OUT"
"$FP" render --focus E54000050 --width 1000 --out "$OUT/nenc.png"
