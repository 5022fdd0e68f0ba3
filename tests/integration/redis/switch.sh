#!/bin/sh
# switch.sh TEST_BINARY - the servers of the Redis switch's fault matrix
# (test_redis_switch.c), on 127.0.0.1 in a temporary folder removed
# afterwards:
#   old      16120  redis-server over TLS only (a test CA; client
#                   certificates; tls-replication), requirepass and an ACL
#                   user "ferry"
#   new      16121  the same
#   hap_old  16122  HAProxy TCP frontend "cache" (the old host's), runtime
#            16123  API on 16123; backend cache, server db -> old
#   hap_new  16124  the new host's, API on 16125; -> old as well
# The applications (the test's writers) reach Redis only through the two
# frontends (TLS end to end: HAProxy passes TCP through).  Runs the test program, stops everything, returns its status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/servers.sh"
redis_require
require_tools switch.sh haproxy
dir=$(mktemp -d /tmp/ferry-redisswitch.XXXXXX)
trap 'hap_stop "$dir" hap_old hap_new; redis_stop_all "$dir"; rm -rf "$dir"' EXIT INT TERM
pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pw" >"$dir/ferry.pw"
redis_ca "$dir" || { echo "cannot make the test CA"; exit 1; }
tls=$(redis_tls_args "$dir")
for s in old:16120 new:16121; do
	# shellcheck disable=SC2086
	redis_start "$dir" "${s%%:*}" 0 --tls-port "${s#*:}" $tls --tls-replication yes \
		--requirepass "$pw" --user ferry on ">$pw" '~*' '&*' '+@all' || exit 1
done
# what the test runs to bring new back after it killed it (empty: no
# persistence), as an operator would restart it
cat >"$dir/restart-new.sh" <<EOS
. "$here/../../lib.sh"
. "$here/servers.sh"
rm -f "$dir/new/log"
redis_start "$dir" new 0 --tls-port 16121 $tls --tls-replication yes \\
	--requirepass "\$(cat "$dir/ferry.pw")" --user ferry on ">\$(cat "$dir/ferry.pw")" '~*' '&*' '+@all'
EOS
hap_tcp_start "$dir" hap_old 16122 16123 cache 16120 || { echo "cannot start haproxy"; exit 1; }
hap_tcp_start "$dir" hap_new 16124 16125 cache 16120 || { echo "cannot start haproxy"; exit 1; }
FERRY_REDIS_DIR="$dir" "$1"
