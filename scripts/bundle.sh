#!/bin/sh
# bundle.sh DIR: the catalogue bundle of DIR (editions.csv, members/*.csv,
# status.csv, parents.csv, ods.csv) on stdout: "@@file NAME LENGTH\n" + bytes + "\n"
# per file, the form fp_catalogue_parse reads and the atlas stores.
set -eu
cd "$1"
for f in editions.csv members/*.csv status.csv parents.csv ods.csv; do
    [ -f "$f" ] || continue
    printf '@@file %s %s\n' "$f" "$(wc -c < "$f" | tr -d ' ')"
    cat "$f"
    printf '\n'
done
