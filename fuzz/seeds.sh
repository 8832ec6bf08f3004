#!/bin/sh
# seeds.sh SEEDS_TOOL SHARED_GEODATA OUT: the seed corpus of every fuzz
# target, made from the real files (the ONS mirror and the project's
# geodata/), into OUT/<target>/: small inputs (under each target's
# -max_len in run.sh: small inputs fuzz fast).  The real files too big to
# fuzz whole (full atlases, the whole catalogue bundle) go to
# OUT/replay/<target>/, which run.sh runs once per run.  Nothing here is
# committed: copies of shared data live only in the build directory.
set -eu
tool=$1 data=$2 out=$3
[ -d "$data/boundaries" ] || { echo "seeds: no ONS mirror at $data" >&2; exit 1; }
rm -rf "$out"
for t in fuzz_catalogue fuzz_atlas fuzz_postcode fuzz_pointcsv fuzz_import; do
    mkdir -p "$out/$t" "$out/replay/$t"
done
mkdir -p "$out/bin"

# Catalogue: editions.csv alone; bundles (as the CLI embeds and the atlas
# stores them) of editions.csv with the heads of its tables, all of them
# and one at a time; the whole bundle to replay; and the heads of the real
# lookups (the mapped-edition parser).
c=$out/fuzz_catalogue
cp geodata/editions.csv "$c/editions.csv"
sh scripts/bundle.sh geodata > "$out/replay/fuzz_catalogue/catalogue.bundle"
tables=$(cd geodata && ls members/*.csv status.csv parents.csv ods.csv 2>/dev/null)
mini() { # NAME TABLE: editions.csv, three lines of every table, 40 of TABLE
    rm -rf "$out/mini"
    mkdir -p "$out/mini/members"
    cp geodata/editions.csv "$out/mini/"
    for f in $tables; do
        if [ "$f" = "$2" ]; then k=40; else k=3; fi
        head -n "$k" "geodata/$f" > "$out/mini/$f"
    done
    sh scripts/bundle.sh "$out/mini" > "$c/$1.bundle"
}
mini all-heads none
for f in $tables; do mini "$(basename "$f" .csv)" "$f"; done
rm -rf "$out/mini"
for f in "$data"/lookups/*.csv; do
    head -n 30 "$f" > "$c/lookup-$(basename "$f")"
done

# Atlases and postcode indexes: built by the seeds tool from real data.
"$tool" geodata/editions.csv "$data" "$out/bin"
for f in "$out"/bin/atlas/*.atlas; do
    if [ "$(wc -c < "$f")" -le 65536 ]; then
        cp "$f" "$out/fuzz_atlas/"
    else
        cp "$f" "$out/replay/fuzz_atlas/"
    fi
done

# Postcodes: real indexes, and real postcodes in every accepted spelling,
# NUL-separated (the target splits on NUL).
p=$out/fuzz_postcode
cp "$out"/bin/postcode/*.idx "$p/"
src=$data/postcodes/postcodes_nspl_nov2021.csv
awk -F, 'NR > 1 && NR % 5000 == 2 { print $1 }' "$src" | head -n 400 > "$out/pc.txt"
tr '\n' '\0' < "$out/pc.txt" > "$p/normal.txt"
tr 'A-Z' 'a-z' < "$out/pc.txt" | tr -d ' ' | tr '\n' '\0' > "$p/lower-nospace.txt"
sed 's/ /   /; s/^/ \t/; s/$/\r/' "$out/pc.txt" | tr '\n' '\0' > "$p/spaces.txt"
printf 'GIR 0AA\0NPT 1AA\0 s1  2he \0\302\240W1A\302\2401AA\0AB10 1AA\0EC1A1BB\0' > "$p/special.txt"
rm -f "$out/pc.txt"

# Point CSVs: two control bytes (delimiter, piece and block sizes; see
# fuzz_pointcsv.c) and the head of a real file, plain and gzip.
q=$out/fuzz_pointcsv
n=0
for f in "$data/postcodes/postcodes_nspl_nov2021.csv" \
         "$data/lookups/lookup_lsoa11_sicbl22_icb22_lad22.csv" \
         "$data/lookups/icp_membership.csv" geodata/editions.csv; do
    n=$((n + 1))
    { printf '\000\020'; head -n 40 "$f"; } > "$q/plain$n.csv"
    { printf '\024\003'; head -n 40 "$f"; } > "$q/pieces$n.csv"
    { printf '\000\000'; head -n 20 "$f" | gzip -c; } > "$q/gzip$n.csv"
done
{ printf '\000\000'; zcat "$data/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz" | head -n 60; } > "$q/latlon.csv"
{ printf '\002\010'; head -n 30 "$data/postcodes/postcodes_nspl_nov2021.csv" | tr ',' '\t'; } > "$q/tabs.csv"
{ printf '\000\001\357\273\277'; printf 'id,"lat","lon"\r\n1,"53.381", -1.47 \r\n"two\nlines",5.3e1,-1.5E0\r\n'; } > "$q/quoted.csv"
# Postcode files to import: the heads of the real NSPL files (plain and
# gzip), their British National Grid columns alone, ONSPD's column names,
# and Code-Point Open's header-less layout made from the same rows.
m=$out/fuzz_import
src=$data/postcodes/postcodes_nspl_nov2021.csv
head -n 30 "$src" > "$m/nspl.csv"
head -n 15 "$src" | gzip -c > "$m/nspl.csv.gz"
zcat "$data/postcodes/postcodes_latlon_gb_nspl_may2025.csv.gz" | head -n 30 > "$m/latlon.csv"
head -n 20 "$src" | cut -d, -f1,4,5 > "$m/bng.csv"
head -n 20 "$src" | sed '1s/^pcds,lat,long/pcd,lat,long/' | cut -d, -f1-5 | sed 's/$/\r/' > "$m/onspd-crlf.csv"
sed -n '2,20p' "$src" | awk -F, '{ printf "\"%s\",10,%s,%s,\"E92000001\"\n", $1, $4, $5 }' > "$m/codepoint.csv"
printf 'pcds,lat,long\nGIR 0AA,51.47476,-0.110950\nS1 2HE,99.999999,0.000000\ns12he,53.381129,-1.470085\n' > "$m/special.csv"

rm -rf "$out/bin"
for t in fuzz_catalogue fuzz_atlas fuzz_postcode fuzz_pointcsv fuzz_import; do
    printf '%s: %s seeds\n' "$t" "$(ls "$out/$t" | wc -l | tr -d ' ')"
done
