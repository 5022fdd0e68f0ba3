#!/bin/sh
# report_test.sh FERRY MKJOURNAL - `ferry report` end to end, read by a real
# browser.
#
# 1. exit codes: no PLAN or no -o is 2; a plan that never ran is 1 with a
#    message naming the journal's path and the hint "run 'ferry run PLAN'
#    first";
# 2. MKJOURNAL writes the journal of a whole migration (with a rollback and
#    21600-point lag series); `ferry report` writes the page, which must be
#    small (thinned), self-contained (no src=/href= to anything outside)
#    and script-free although an event message carries "<script>";
# 3. headless Chromium takes a 1280x2400 screenshot (a PNG of that width
#    and of non-trivial size) and dumps the DOM, which must hold every
#    section and the escaped text, with no console error.
# Set FERRY_REPORT_KEEP=DIR to keep the page, the screenshot and the logs.
# Exit 77 (skipped) when Chromium is not installed.
set -u
ferry=$1
mkjournal=$2

chrome=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$chrome" ]; then
	echo "SKIP: chromium is not installed (scripts/deps installs it)"
	exit 77
fi

tmp=$(mktemp -d /tmp/ferry-report-test.XXXXXX)
cleanup() {
	if [ -n "${FERRY_REPORT_KEEP:-}" ]; then
		mkdir -p "$FERRY_REPORT_KEEP"
		cp "$tmp"/*.html "$tmp"/*.png "$tmp"/*.log "$FERRY_REPORT_KEEP"/ 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
fail() {
	echo "FAIL: $*"
	exit 1
}

# 1. exit codes
"$ferry" report >/dev/null 2>&1
[ $? = 2 ] || fail "ferry report without PLAN: want exit 2"
"$ferry" report "$tmp/shop.yaml" >/dev/null 2>&1
[ $? = 2 ] || fail "ferry report without -o: want exit 2"
"$ferry" report "$tmp/never.yaml" -o "$tmp/x.html" 2>"$tmp/missing.log"
[ $? = 1 ] || fail "ferry report on a plan that never ran: want exit 1"
grep -q "$tmp/never.ferry.db" "$tmp/missing.log" || fail "the message names the journal: $(cat "$tmp/missing.log")"
grep -q "run 'ferry run PLAN' first" "$tmp/missing.log" || fail "the hint: $(cat "$tmp/missing.log")"
[ ! -e "$tmp/x.html" ] || fail "no page is written when the journal is missing"

# 2. the page
"$mkjournal" "$tmp/shop.ferry.db" || fail "mkjournal"
"$ferry" report "$tmp/shop.yaml" -o "$tmp/report.html" >"$tmp/ferry.log" 2>&1 || fail "ferry report: $(cat "$tmp/ferry.log")"
grep -q "wrote $tmp/report.html" "$tmp/ferry.log" || fail "ferry report says what it wrote: $(cat "$tmp/ferry.log")"
[ ! -e "$tmp/report.html.tmp" ] || fail "the temporary file is renamed"
size=$(wc -c <"$tmp/report.html")
echo "page: $size bytes"
[ "$size" -gt 20000 ] || fail "page too small ($size bytes)"
[ "$size" -lt 1500000 ] || fail "page too large ($size bytes): thinning does not work"
grep -qi '<script' "$tmp/report.html" && fail "the page has a <script>: journal text not escaped"
grep -q '&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; fix' "$tmp/report.html" || fail "the event text is escaped"
grep -Eqi '(src|href)="(https?:|//|file:)' "$tmp/report.html" && fail "the page refers to something outside itself"
"$ferry" report "$tmp/shop.yaml" -o - >"$tmp/stdout.html" 2>/dev/null || fail "ferry report -o -"
head -c 15 "$tmp/stdout.html" | grep -q '<!DOCTYPE html>' || fail "-o - writes the page to stdout"

# A migration in progress (stopped in the first soak), with --state.
"$mkjournal" "$tmp/partial.db" replicate || fail "mkjournal replicate"
"$ferry" report "$tmp/shop.yaml" --state "$tmp/partial.db" -o "$tmp/partial.html" >/dev/null 2>&1 || fail "ferry report --state"
for text in 'in progress &middot; replicate' 'no data &middot; no cutover yet' \
	'no data &middot; the traffic split starts in the validate phase'; do
	grep -qF "$text" "$tmp/partial.html" || fail "in progress: '$text' missing"
done
grep -q 'id="rollback"' "$tmp/partial.html" && fail "in progress: a rollback plan section without a plan"
# A file that is not a journal: exit 1, naming it.
echo "not a database" >"$tmp/junk.db"
"$ferry" report "$tmp/shop.yaml" --state "$tmp/junk.db" -o "$tmp/junk.html" 2>"$tmp/junk.log"
[ $? = 1 ] || fail "ferry report on a file that is not a journal: want exit 1"
grep -q "$tmp/junk.db" "$tmp/junk.log" || fail "the message names the file: $(cat "$tmp/junk.log")"

# 3. the browser
url="file://$tmp/report.html"
flags="--headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
--disable-background-networking --disable-component-update --disable-sync \
--enable-logging=stderr --v=0"
# shellcheck disable=SC2086
timeout -k 5 120 "$chrome" $flags --user-data-dir="$tmp/profile1" \
	--screenshot="$tmp/shot.png" --window-size=1280,2400 "$url" >"$tmp/chrome-shot.log" 2>&1
[ -s "$tmp/shot.png" ] || fail "no screenshot: $(tail -5 "$tmp/chrome-shot.log")"
# shellcheck disable=SC2086
timeout -k 5 120 "$chrome" $flags --user-data-dir="$tmp/profile2" \
	--dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/chrome-dom.log"
[ -s "$tmp/dom.html" ] || fail "no DOM: $(tail -5 "$tmp/chrome-dom.log")"
rm -rf "$tmp/profile1" "$tmp/profile2"

png=$(wc -c <"$tmp/shot.png")
echo "screenshot: $png bytes"
[ "$png" -gt 60000 ] || fail "screenshot is nearly blank ($png bytes)"
# PNG: signature, then the IHDR chunk with the width as 4 big-endian bytes.
sig=$(od -An -tx1 -N8 "$tmp/shot.png" | tr -d ' \n')
[ "$sig" = 89504e470d0a1a0a ] || fail "screenshot is not a PNG"
width=$(od -An -tu1 -j16 -N4 "$tmp/shot.png" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
[ "$width" = 1280 ] || fail "screenshot width $width, want 1280"

for id in timeline dns replication traffic health pause rollback gates steps events; do
	grep -q "id=\"$id\"" "$tmp/dom.html" || fail "section #$id missing from the DOM"
done
for text in 'shop' 'rolled back' 'www.shop.test' 'api.shop.test' 'database' 'main' \
	'rollback trigger 1 %' 'budget 5 s' 'ttl.cutover_served' 'reverse.drain' 'migration done'; do
	grep -qF "$text" "$tmp/dom.html" || fail "'$text' missing from the DOM"
done
grep -qF '&lt;script&gt;alert' "$tmp/dom.html" || fail "the escaped event text is not text in the DOM"
grep -qi '<script' "$tmp/dom.html" && fail "the DOM holds a script element"
svgs=$(grep -o '<svg' "$tmp/dom.html" | wc -l)
[ "$svgs" -ge 10 ] || fail "only $svgs charts in the DOM"
cat "$tmp/chrome-shot.log" "$tmp/chrome-dom.log" >"$tmp/chrome.log"
if grep -E 'Uncaught|ERROR:CONSOLE|CONSOLE\(' "$tmp/chrome.log"; then
	fail "console errors while rendering the page"
fi
echo "ok: page $size bytes, $svgs svg, screenshot ${width}px $png bytes"
