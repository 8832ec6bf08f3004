#!/bin/sh
# The point-in-footprint core must not reach GDAL, PROJ or cairo: a query
# process can then start without loading them (see README, Architecture).
set -u
n=0
for o in ctx predicate layer index locate csv catalogue atlas chain mapped batch postcode pointcsv; do
    n=$((n + 1))
    f="$BUILD/obj/$o.o"
    bad=$(nm -u "$f" 2>/dev/null | awk '{print $NF}' | grep -E '^(GDAL|OGR|OSR|OCT|CPL|VSI|proj_|cairo_)' | head -3 | tr '\n' ' ')
    if [ ! -f "$f" ]; then
        echo "not ok $n - $o.o exists"
    elif [ -n "$bad" ]; then
        echo "not ok $n - lib/src/$o.c is core but calls: $bad"
    else
        echo "ok $n - lib/src/$o.c uses no GDAL, PROJ or cairo"
    fi
done
