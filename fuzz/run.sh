#!/bin/sh
# run.sh DIR SECONDS JOBS TARGET...: runs each libFuzzer target in DIR/bin
# for SECONDS from its seeds (DIR/seeds/TARGET) and its growing corpus
# (DIR/corpus/TARGET, kept between runs), JOBS targets at a time, then
# prints one summary line per target and the total.  Crashes, leaks and
# timeouts go to DIR/crashes/TARGET-*; any of them fails the run.  Every
# run's seconds are added to DIR/hours.tsv (the fuzzing time so far).
set -u
dir=$1 secs=$2 jobs=$3
shift 3
mkdir -p "$dir/logs" "$dir/crashes"
# Leaks inside GDAL, PROJ and the like (the geo targets link them) are
# theirs, as in tests/sanitizers.sh; footprint's own are never suppressed.
[ -f tests/lsan.supp ] &&
    export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
# Largest input per target: above the small seeds, far below the real
# files (which the replay runs whole).
max_len() {
    case $1 in
    fuzz_atlas) echo 65536 ;;
    fuzz_catalogue) echo 40960 ;;
    fuzz_pointcsv | fuzz_import) echo 16384 ;;
    *) echo 4096 ;;
    esac
}
run_one() {
    t=$1
    mkdir -p "$dir/corpus/$t"
    # The real files too big to fuzz, once each, whole.
    replay=$(ls "$dir/seeds/replay/$t" 2>/dev/null | sed "s|^|$dir/seeds/replay/$t/|")
    if [ -n "$replay" ] && ! "$dir/bin/$t" -artifact_prefix="$dir/crashes/$t-replay-" \
            $replay > "$dir/logs/$t.replay.log" 2>&1; then
        echo 1 > "$dir/logs/$t.rc"
        return
    fi
    # -timeout: one input taking this long is a hang (a finding);
    # -rss_limit_mb: so a runaway allocation is one too.
    "$dir/bin/$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=3072 \
        -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$dir/crashes/$t-" \
        "$dir/corpus/$t" "$dir/seeds/$t" > "$dir/logs/$t.log" 2>&1
    echo $? > "$dir/logs/$t.rc"
}
running=0
for t in "$@"; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
failed=0
printf '%-16s %8s %12s %8s %8s %s\n' target seconds execs corpus crashes status
for t in "$@"; do
    log=$dir/logs/$t.log
    rc=$(cat "$dir/logs/$t.rc" 2>/dev/null || echo 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    corpus=$(ls "$dir/corpus/$t" | wc -l | tr -d ' ')
    crashes=$(ls "$dir/crashes" | grep -c "^$t-" | tr -d ' ')
    status=ok
    if [ "$rc" != 0 ]; then
        status="FAILED (see $log)"
        failed=$((failed + 1))
    fi
    printf '%-16s %8s %12s %8s %8s %s\n' "$t" "${took:-?}" "${execs:-?}" "$corpus" "$crashes" "$status"
    printf '%s\t%s\t%s\n' "$t" "${took:-0}" "${execs:-0}" >> "$dir/hours.tsv"
done
awk -F'\t' '{ s[$1] += $2; e[$1] += $3 }
    END { for (t in s) printf "fuzzed so far: %-16s %7.2f h %14d execs\n", t, s[t] / 3600, e[t] }' \
    "$dir/hours.tsv" | sort
if [ "$failed" != 0 ]; then
    echo "fuzz: $failed target(s) found a crash, leak or hang: inputs in $dir/crashes" >&2
    exit 1
fi
