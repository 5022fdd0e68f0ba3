#!/bin/sh
# route53.sh PROGRAM [ARGS...] - runs PROGRAM against route53_fake.py, a
# fake of Route 53's API that checks every request's SigV4 signature with
# Debian's python3-botocore (Route 53 itself cannot run here).
#
# The fake listens on 127.0.0.1 at a free port in 16240-16258 (the dns
# helper's range), for hosted zone ZFERRYTEST of shop.test, with a fresh
# access key and secret (and, with ROUTE53_TOKEN=1, a session token).  Its
# state folder lives in one mktemp -d folder; a trap stops the fake and
# removes it on any exit.  PROGRAM gets:
#   FERRY_TEST_R53_API            http://127.0.0.1:PORT
#   FERRY_TEST_R53_ZONE_ID        ZFERRYTEST
#   FERRY_TEST_R53_KEY_ID         the access key ID
#   FERRY_TEST_R53_SECRET_FILE    the secret access key (mode 0600)
#   FERRY_TEST_R53_TOKEN_FILE     the session token (only with ROUTE53_TOKEN=1)
#   FERRY_TEST_R53_DIR            the fake's folder: records.json (the zone),
#                                 requests.log, and the race.json / deny hooks
# With CI set, a missing python3-botocore fails instead of skipping.
set -eu
[ $# -ge 1 ] || { echo "usage: route53.sh PROGRAM [ARGS...]" >&2; exit 2; }
if ! /usr/bin/python3 -c 'import botocore.auth' 2>/dev/null; then
	echo "route53.sh: python3-botocore not installed (apt-get install python3-botocore)" >&2
	[ -n "${CI:-}" ] && exit 1
	exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh" # stop_pid, wait_for, port_in_use, random_port

dir=$(mktemp -d /tmp/ferry-r53.XXXXXX)
fake_pid=
cleanup() {
	[ -z "$fake_pid" ] || stop_pid "$fake_pid"
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

key_id=AKIA$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
head -c 30 /dev/urandom | base64 >"$dir/secret"
chmod 600 "$dir/secret"
token_arg=
if [ "${ROUTE53_TOKEN:-}" = 1 ]; then
	head -c 60 /dev/urandom | base64 | tr -d '\n' >"$dir/token"
	echo >>"$dir/token"
	chmod 600 "$dir/token"
	token_arg="--token-file $dir/token"
	export FERRY_TEST_R53_TOKEN_FILE="$dir/token"
fi
cat >"$dir/initial.json" <<'EOF2'
[
 {"name": "www.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2"]},
 {"name": "api.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2"]},
 {"name": "ttl.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2"]},
 {"name": "cas.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2"]},
 {"name": "race.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2"]},
 {"name": "multi.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2", "10.77.0.4"]},
 {"name": "multi.shop.test.", "type": "AAAA", "ttl": 3600, "values": ["2001:db8::2"]},
 {"name": "cn.shop.test.", "type": "CNAME", "ttl": 3600, "values": ["lb-old.example.net."]},
 {"name": "weight.shop.test.", "type": "A", "ttl": 60, "values": ["10.77.0.2"]},
 {"name": "zzz.shop.test.", "type": "A", "ttl": 3600, "values": ["10.77.0.2"]}
]
EOF2

started=
for try in 1 2 3 4 5 6 7 8; do
	p=$(random_port 16240 19) # 16259 stays free: the unreachable case
	port_in_use "$p" && continue
	rm -f "$dir/ready"
	# shellcheck disable=SC2086
	/usr/bin/python3 "$here/route53_fake.py" --port "$p" --dir "$dir" --zone shop.test \
		--zone-id ZFERRYTEST --access-key-id "$key_id" --secret-file "$dir/secret" \
		$token_arg --records "$dir/initial.json" >>"$dir/fake.log" 2>&1 &
	fake_pid=$!
	if wait_for 10 test -e "$dir/ready" && kill -0 "$fake_pid" 2>/dev/null; then
		started=$p
		break
	fi
	stop_pid "$fake_pid"
	fake_pid=
done
if [ -z "$started" ]; then
	echo "route53.sh: could not start the fake on a free port in 16240-16258:" >&2
	tail -n 20 "$dir/fake.log" >&2 || true
	exit 1
fi

export FERRY_TEST_R53_API="http://127.0.0.1:$started"
export FERRY_TEST_R53_ZONE_ID=ZFERRYTEST
export FERRY_TEST_R53_KEY_ID=$key_id
export FERRY_TEST_R53_SECRET_FILE="$dir/secret"
export FERRY_TEST_R53_DIR="$dir"
set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "route53.sh: $1 failed ($rc); the fake's log and requests:" >&2
	tail -n 20 "$dir/fake.log" >&2 || true
	tail -n 20 "$dir/requests.log" >&2 || true
fi
exit $rc
