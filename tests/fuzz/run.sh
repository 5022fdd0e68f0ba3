#!/bin/sh
# run.sh HARNESS CORPUS SEEDS... - one libFuzzer run of HARNESS for
# FUZZ_SECONDS (default 5), under the sanitizers it was built with.
#
# CORPUS (in the build tree) keeps what the runs found, so that longer
# runs (make fuzz) build on shorter ones; SEEDS are the folders checked in
# (read only).  A crash, a leak, a timeout (10 s) or an input that takes
# more than 2 GiB fails the test: its input is copied to
# CORPUS/../crashes/ and named in the output; add it to
# tests/fuzz/corpus/NAME with its fix.  Prints one line:
#   fuzz NAME: N executions in S s, 0 crashes
set -u
exe=$1
corpus=$2
shift 2
secs=${FUZZ_SECONDS:-5}
name=$(basename "$exe")
crashes=$(dirname "$corpus")/crashes
mkdir -p "$corpus" "$crashes"
log=$(mktemp "/tmp/ferry-$name.XXXXXX")
trap 'rm -f "$log"' EXIT
# leaks are findings too; one worker, so that a 2-core machine shared
# with others is not flooded
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
	"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	-print_final_stats=1 -artifact_prefix="$crashes/$name-" "$corpus" "$@" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
found=$(grep -Eo "Test unit written to [^ ]+" "$log" | sed 's/Test unit written to //')
if [ $rc != 0 ] || [ -n "$found" ]; then
	tail -n 60 "$log"
	echo "fuzz ${name#fuzz_}: FAILED after ${execs:-?} executions; input: ${found:-none saved}"
	exit 1
fi
[ -n "$execs" ] && [ "$execs" -gt 0 ] || { tail -n 20 "$log"; echo "fuzz ${name#fuzz_}: no execution"; exit 1; }
echo "fuzz ${name#fuzz_}: $execs executions in $secs s, 0 crashes"
