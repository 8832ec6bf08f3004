#!/bin/sh
# browser.sh — the web map in a real browser.  Headless Chromium (Debian's
# chromium, which 'scripts/deps test' installs) opens a 'footprint leaflet'
# folder from disk (file://), a click lands on Sheffield (the page's test
# hook #click=LAT,LON dispatches a real DOM click at that point of the
# screen), and the popup must say South Yorkshire; a footprint named
# <img src=x onerror=alert(1)> must show as text.  Screenshots are saved
# in $BUILD (leaflet-sheffield.png, leaflet-escaped.png).  Prints TAP.
#
#   FOOTPRINT=build/footprint BUILD=build FOOTPRINT_TEST_DATA=../shared/geodata \
#       sh tests/browser.sh
#
# Without chromium (or the ONS mirror) the checks are skipped, except
# under CI=true, where they fail.
set -u

FP=${FOOTPRINT:-${BUILD:-build}/footprint}
BUILD=${BUILD:-build}
DATA=${FOOTPRINT_TEST_DATA:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/tap.shlib"
tap_tmp fp-browser   # $HOME left as it is: Chromium runs with it
tap_style=inline
missing() { # name reason: skip, or under CI fail
    n=$((n + 1))
    if [ "${CI:-}" = true ]; then echo "not ok $n - $1: $2"; else echo "ok $n - $1 # SKIP $2"; fi
}

chrome=
for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null 2>&1; then chrome=$(command -v "$c"); break; fi
done
checks="Sheffield popup says South Yorkshire; STP 2017 chain; hostile name shown as text"
if [ -z "$chrome" ]; then
    missing "$checks" "chromium is not installed (sh scripts/deps test installs it)"
    echo "1..$n"
    exit 0
fi
if [ -z "$DATA" ] || [ ! -d "$DATA/boundaries" ]; then
    missing "$checks" "no ONS mirror at '$DATA'"
    echo "1..$n"
    exit 0
fi

# browse URL DOM [SCREENSHOT]: the page's DOM once loaded (and run), and
# a screenshot of it.  Virtual time lets the page finish its scripts.
browse() {
    set -- "$1" "$2" "${3:-}"
    timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --hide-scrollbars --no-first-run --user-data-dir="$tmp/profile" \
        --window-size=1280,900 --virtual-time-budget=20000 --dump-dom "$1" \
        > "$2" 2>> "$tmp/chrome.log"
    st=$?
    if [ -n "$3" ]; then
        timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
            --hide-scrollbars --no-first-run --user-data-dir="$tmp/profile" \
            --window-size=1280,900 --virtual-time-budget=20000 --screenshot="$3" "$1" \
            >> "$tmp/chrome.log" 2>&1
    fi
    return $st
}

# The popup's text (tags stripped), from a dumped DOM.
popup() {
    tr '\n' ' ' < "$1" | grep -o '<div class="leaflet-popup-content"[^>]*>.*</table>' |
        sed 's/<[^>]*>/ /g; s/  */ /g'
}

png_ok() { # file: a PNG of some substance
    [ -s "$1" ] && [ "$(head -c 4 "$1" | od -An -c | tr -d ' ')" = '211PNG' ] &&
        [ "$(wc -c < "$1")" -gt 20000 ]
}

map=$BUILD/leaflet-map
rm -f "$BUILD/leaflet-sheffield.png" "$BUILD/leaflet-escaped.png"

why=
if ! "$FP" --data "$DATA" leaflet --view icb2023 --view stp2017 --date 2026-11-24 \
        --out "$map" 2> "$tmp/err"; then
    fail "footprint leaflet: $(cat "$tmp/err")"
fi
done_ "footprint leaflet --view icb2023 --view stp2017 --out $map"

# 1. Sheffield on the ICB 2023 view: the whole chain, South Yorkshire.
why=
url="file://$(cd "$map" && pwd)/index.html#view=icb2023&click=53.381,-1.470"
browse "$url" "$tmp/dom1.html" "$BUILD/leaflet-sheffield.png" || fail "chromium failed: $(tail -3 "$tmp/chrome.log")"
text=$(popup "$tmp/dom1.html")
case $text in
*"NHS South Yorkshire Integrated Care Board"*"E54000061"*) ;;
*) fail "popup does not say South Yorkshire: '$(printf '%s' "$text" | head -c 400)'" ;;
esac
case $text in *"North East and Yorkshire"*) ;; *) fail "no region in the popup" ;; esac
case $text in *"NHS South Yorkshire ICB - 03N"*) ;; *) fail "no sub-ICB location in the popup" ;; esac
case $text in *"Local authority Sheffield"*) ;; *) fail "no local authority in the popup" ;; esac
png_ok "$BUILD/leaflet-sheffield.png" || fail "no screenshot at $BUILD/leaflet-sheffield.png"
ready=$(grep -o 'data-ready-ms="[0-9]*"' "$tmp/dom1.html" | grep -o '[0-9]*')
chain=$(grep -o 'data-chain-ms="[0-9]*"' "$tmp/dom1.html" | grep -o '[0-9]*')
[ -n "$ready" ] || fail "the page never finished drawing"
done_ "Chromium clicks Sheffield (ICB 2023): the popup says NHS South Yorkshire ICB, its region, sub-ICB location and local authority"
echo "# page drawn ${ready:-?} ms after navigation, chain layers loaded at ${chain:-?} ms (load $(cut -d' ' -f1 /proc/loadavg 2>/dev/null))"

# 2. The same point in 2017's STPs: the system and the place then.
why=
browse "file://$(cd "$map" && pwd)/index.html#view=stp2017&click=53.381,-1.470" "$tmp/dom2.html" ||
    fail "chromium failed"
text=$(popup "$tmp/dom2.html")
case $text in
*"South Yorkshire and Bassetlaw"*"Place (ICP) Sheffield"*) ;;
*) fail "popup: '$(printf '%s' "$text" | head -c 400)'" ;;
esac
case $text in *"2021-03-31"*) ;; *) fail "not on the view's day" ;; esac
done_ "Chromium clicks Sheffield (STP 2017): South Yorkshire and Bassetlaw, place Sheffield, on 2021-03-31"

# 3. The check can fail: a click in the North Sea finds nothing.
why=
browse "file://$(cd "$map" && pwd)/index.html#view=icb2023&click=54.5,1.5" "$tmp/dom3.html" ||
    fail "chromium failed"
grep -q 'No footprint covers this point' "$tmp/dom3.html" || fail "no 'no footprint' answer"
text=$(popup "$tmp/dom3.html")
case $text in *"South Yorkshire"*) fail "South Yorkshire in the sea" ;; esac
done_ "Chromium clicks the North Sea: no footprint, no South Yorkshire"

# 4. A hostile name is text in the popup, the legend and the hover box.
why=
mkdir -p "$tmp/data/boundaries"
cat > "$tmp/editions.csv" <<'EOF'
id,level,name,valid_from,valid_to,path,layer,code_field,name_field,vintage,attribution
evil2023,icb,Boards <b>bold</b>,2023-04-01,,boundaries/evil.geojson,,CD,NM,2023,Source: Office for National Statistics licensed under the Open Government Licence v.3.0 <i>x</i>
EOF
cat > "$tmp/data/boundaries/evil.geojson" <<'EOF'
{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"CD": "E99000001", "NM": "<img src=x onerror=alert(1)>"},
 "geometry": {"type": "Polygon", "coordinates": [[[-1.6, 53.3], [-1.4, 53.3], [-1.4, 53.5], [-1.6, 53.5], [-1.6, 53.3]]]}},
{"type": "Feature", "properties": {"CD": "E99000002", "NM": "Tom & Jerry's \"place\" </script>"},
 "geometry": {"type": "Polygon", "coordinates": [[[-1.4, 53.3], [-1.2, 53.3], [-1.2, 53.5], [-1.4, 53.5], [-1.4, 53.3]]]}}
]}
EOF
if ! "$FP" --data "$tmp/data" leaflet --catalogue "$tmp/editions.csv" --out "$tmp/evil" \
        2> "$tmp/err"; then
    fail "footprint leaflet: $(cat "$tmp/err")"
fi
browse "file://$tmp/evil/index.html#click=53.4,-1.5" "$tmp/dom4.html" "$BUILD/leaflet-escaped.png" ||
    fail "chromium failed"
text=$(popup "$tmp/dom4.html")
case $text in
*"&lt;img src=x onerror=alert(1)&gt;"*) ;;
*) fail "popup does not show the name as text: '$(printf '%s' "$text" | head -c 300)'" ;;
esac
esc=$(grep -o '&lt;img src=x onerror=alert(1)&gt;' "$tmp/dom4.html" | wc -l)
[ "$esc" -ge 2 ] || fail "the name shows as text $esc times (popup and legend expected)"
grep -q 'Tom &amp; Jerry' "$tmp/dom4.html" || fail "no 'Tom & Jerry' as text"
grep -qi '<img' "$tmp/dom4.html" && fail "an <img> element made it into the page"
grep -qi '<b>bold</b>\|<i>x</i>' "$tmp/dom4.html" && fail "markup from the catalogue rendered"
grep -q '&lt;b&gt;bold&lt;/b&gt;' "$tmp/dom4.html" || fail "edition name not shown as text"
png_ok "$BUILD/leaflet-escaped.png" || fail "no screenshot"
done_ "a footprint named <img src=x onerror=alert(1)> shows as text in popup and legend; no element made"

echo "1..$n"
