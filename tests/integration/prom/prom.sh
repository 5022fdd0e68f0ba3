#!/bin/sh
# prom.sh PROGRAM [ARGS...] - runs PROGRAM against a private Prometheus.
#
# Starts Debian's prometheus as a plain foreground process on 127.0.0.1 at
# a free port in 15800-15849 (never the packaged server's 9090), scraping
# itself every second as job "self", with its own config and TSDB in one
# mktemp -d folder.  Polls (with a deadline) until this server - the one
# whose config carries our random token as an external label, not some
# other process on the port - has a sample of up{job="self"}, then runs
# PROGRAM with:
#   FERRY_TEST_PROM_URL        http://127.0.0.1:PORT
#   FERRY_TEST_PROM_DEAD_URL   http://127.0.0.1:DEADPORT, nobody listening
#                              (15850-15899)
# A trap stops prometheus and removes the folder on any exit.  Exits 77
# (meson: skipped) when prometheus is not installed.
set -eu

[ $# -ge 1 ] || { echo "usage: prom.sh PROGRAM [ARGS...]" >&2; exit 2; }
for tool in prometheus curl; do
	if ! command -v $tool >/dev/null 2>&1; then
		echo "prom.sh: $tool not installed (apt-get install prometheus curl)" >&2
		exit 77
	fi
done
. "$(dirname "$0")/../../lib.sh" # wait_for, stop_pid, start_on_free_port

dir=$(mktemp -d /tmp/ferry-prom.XXXXXX)
prom_pid=
cleanup() {
	[ -z "$prom_pid" ] || stop_pid "$prom_pid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

token=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Our server answers with our token in its config.
ours() {
	curl -sf --max-time 1 "http://127.0.0.1:$1/api/v1/status/config" | grep -q "$token"
}

# up{job="self"} has a sample: the first scrape is done.
scraped() {
	curl -sf --max-time 1 "http://127.0.0.1:$1/api/v1/query" \
		--data-urlencode 'query=up{job="self"}' | grep -q '"value":\['
}

alive() { kill -0 "$prom_pid" 2>/dev/null; }

start_prom() {
	port=$1
	cat >"$dir/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    ferry_test: "$token"
scrape_configs:
  - job_name: self
    static_configs:
      - targets: ["127.0.0.1:$port"]
EOF2
	rm -rf "$dir/data"
	prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
		--web.listen-address="127.0.0.1:$port" >>"$dir/prometheus.log" 2>&1 &
	prom_pid=$!
	# Poll until it answers as ours, or dies, or 20 s pass.
	end=$(($(date +%s) + 20))
	while [ "$(date +%s)" -lt $end ]; do
		alive || { prom_pid=; return 1; }
		ours "$port" && return 0
		sleep 0.05
	done
	stop_pid "$prom_pid"
	prom_pid=
	return 1
}

if start_on_free_port 15800 50 start_prom; then
	started=$free_port
else
	echo "prom.sh: could not start prometheus on a free port in 15800-15849; its log:" >&2
	tail -n 20 "$dir/prometheus.log" >&2 || true
	exit 1
fi
if ! wait_for 20 scraped "$started"; then
	echo "prom.sh: no sample of up{job=\"self\"} after 20 s; log:" >&2
	tail -n 20 "$dir/prometheus.log" >&2 || true
	exit 1
fi

no_server() { ! port_in_use "$1"; }
start_on_free_port 15850 50 no_server || { echo "prom.sh: no free port in 15850-15899" >&2; exit 1; }
dead=$free_port

export FERRY_TEST_PROM_URL="http://127.0.0.1:$started"
export FERRY_TEST_PROM_DEAD_URL="http://127.0.0.1:$dead"
set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "prom.sh: $1 failed ($rc); prometheus log:" >&2
	tail -n 20 "$dir/prometheus.log" >&2 || true
fi
exit $rc
