#!/bin/sh
# The manual page: built, current with the program's --help texts, one
# section per command, and readable by man(1) where it is installed.
set -u
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
page=$BUILD/footprint.1
if [ -s "$page" ]; then ok "footprint.1 built"; else no "footprint.1 built ($page)"; fi
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
sh scripts/man.sh "$FOOTPRINT" 0 > "$fresh"
# The version in the title line aside, the page is what the help says now.
if [ "$(sed 1d "$page")" = "$(sed 1d "$fresh")" ]; then
    ok "footprint.1 matches every --help text"
else
    no "footprint.1 matches every --help text (rebuild: it is stale)"
fi
missing=
for cmd in $("$FOOTPRINT" --help | awk '/^Commands:/ {on = 1; next} /^[^ ]/ {on = 0} on && /^  [a-z]/ {print $1}'); do
    [ "$cmd" = help ] && continue
    grep -q "^\.SS $cmd\$" "$page" || missing="$missing $cmd"
    # Every option a command documents is in its section.
    for opt in $("$FOOTPRINT" help "$cmd" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        sed -n "/^\.SS $cmd\$/,/^\.SS /p" "$page" | grep -qF -- "$opt" ||
            missing="$missing $cmd:$opt"
    done
done
if [ -z "$missing" ]; then ok "a section per command, every option in it"; else no "missing from footprint.1:$missing"; fi
if command -v man > /dev/null 2>&1; then
    out=$(MANWIDTH=80 man -l "$page" 2>&1 > /dev/null)
    if [ -z "$out" ]; then ok "man -l renders it without warnings"; else no "man -l: $out"; fi
else
    ok "man -l renders it # SKIP no man(1)"
fi
