#!/bin/sh
# run.sh TEST_BINARY - the Redis engine's integration test (test_redis.c)
# against real servers on 127.0.0.1, ports 16101-16107, in a temporary
# folder removed afterwards:
#   old     16101  plain TCP; requirepass and an ACL user "ferry"; the test
#                  certificates for its way back over TLS (tls-replication)
#   new     16102  TLS only (tls-port, client certificates), requirepass
#   spare   16103  plain TCP, requirepass: a second target for refusals
#   cluster 16104  cluster-enabled yes
#   renamed 16105  CONFIG renamed (rename-command)
#   lim     16106  plain TCP; ACL user "ferry" without PSYNC or CONFIG SET
#   loopold 16107  plain TCP, requirepass: a full sync that restarts in a
#   loopnew 16108  loop (a replica output buffer limit of 64 kB)
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/servers.sh"
redis_require
dir=$(mktemp -d /tmp/ferry-redis.XXXXXX)
trap 'redis_stop_all "$dir"; rm -rf "$dir"' EXIT INT TERM
pw=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$pw" >"$dir/ferry.pw"
redis_ca "$dir" || { echo "cannot make the test CA"; exit 1; }
tls=$(redis_tls_args "$dir")
# shellcheck disable=SC2086
redis_start "$dir" old 16101 --requirepass "$pw" --user ferry on ">$pw" '~*' '&*' '+@all' \
	$tls --tls-replication yes &&
redis_start "$dir" new 0 --tls-port 16102 $tls --requirepass "$pw" &&
redis_start "$dir" spare 16103 --requirepass "$pw" &&
redis_start "$dir" cluster 16104 --cluster-enabled yes --cluster-config-file "$dir/cluster/nodes.conf" &&
redis_start "$dir" renamed 16105 --rename-command CONFIG "" &&
redis_start "$dir" lim 16106 --requirepass "$pw" --user ferry on ">$pw" '~*' '&*' '+@all' -psync -sync '-config|set' &&
redis_start "$dir" loopold 16107 --requirepass "$pw" --client-output-buffer-limit 'replica 65536 0 0' &&
redis_start "$dir" loopnew 16108 --requirepass "$pw" ||
	exit 1
FERRY_REDIS_DIR="$dir" "$1"
