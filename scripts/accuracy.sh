#!/bin/sh
# accuracy.sh FOOTPRINT DATA_DIR NSPL_CSV: `footprint locate` over the NSPL
# sample, each level's answer against the code ONS assigned, as a Markdown
# table (stdout).  The LSOA editions answer as ONS assigns (through LSOAs);
# the generalised boundary files are shown beside them.
set -eu
fp=$1 data=$2 nspl=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$fp" --data "$data" locate "$nspl" --nearest 5000 --fields code,match \
    --edition stp2021lsoa --edition ccg2021lsoa --edition icb2022lsoa \
    --edition sicbl2022lsoa --edition stp2021 --edition ccg2021 \
    --edition icb2022 --edition sicbl2022 > "$out"
python3 - "$out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="", encoding="utf-8")))
levels = [  # (NSPL column, what it is, edition, path)
    ("stp", "STP 2021", "stp2021lsoa", "LSOA 2011 (20 m) + ONS lookup"),
    ("ccg", "CCG 2021", "ccg2021lsoa", "LSOA 2011 (20 m) + ONS lookup"),
    ("icb22_via_lsoa11", "ICB 2022", "icb2022lsoa", "LSOA 2011 (20 m) + ONS lookup"),
    ("sicbl22_via_lsoa11", "SICBL 2022", "sicbl2022lsoa", "LSOA 2011 (20 m) + ONS lookup"),
    ("stp", "STP 2021", "stp2021", "STP boundaries (BUC, 500 m)"),
    ("ccg", "CCG 2021", "ccg2021", "CCG boundaries (BUC, 500 m)"),
    ("icb22_via_lsoa11", "ICB 2022", "icb2022", "ICB boundaries (BUC, 500 m)"),
    ("sicbl22_via_lsoa11", "SICBL 2022", "sicbl2022", "SICBL boundaries (BUC, 500 m)"),
]
eng = [r for r in rows if r["ctry"] == "E92000001"]
other = [r for r in rows if r["ctry"] != "E92000001"]
print("Agreement with the codes ONS assigned to the %d English postcodes of %s "
      "(`footprint locate --nearest 5000`; %d Scottish and Welsh rows checked for "
      "false answers):\n" % (len(eng), "postcodes_nspl_nov2021.csv", len(other)))
print("| level (NSPL column) | edition | path | agree | % | other footprint | "
      "outside (nearest wrong) | unanswered | by nearest | non-English inside |")
print("|---|---|---|---|---|---|---|---|---|---|")
worst = 100.0
unanswered_total = 0
for col, what, ed, path in levels:
    agree = wrong = outside = none = near = 0
    for r in eng:
        code, match = r[ed + "_code"], r[ed + "_match"]
        if match == "none" or not code:
            none += 1
        elif code == r[col]:
            agree += 1
            near += match == "nearest"
        elif match == "nearest":
            outside += 1
        else:
            wrong += 1
    foreign = sum(1 for r in other if r[ed + "_match"] == "contained")
    pct = 100.0 * agree / len(eng)
    if ed.endswith("lsoa"):
        worst = min(worst, pct)
        unanswered_total += none
    print("| %s (`%s`) | `%s` | %s | %d | %.3f %% | %d | %d | %d | %d | %d |" %
          (what, col, ed, path, agree, pct, wrong, outside, none, near, foreign))
print("\nLSOA path: lowest agreement %.3f %% (target 99.95 %%), %d English "
      "postcodes unanswered (target 0)." % (worst, unanswered_total))
sys.exit(0 if worst >= 99.95 and unanswered_total == 0 else 1)
PY
