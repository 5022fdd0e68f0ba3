#!/bin/sh
# secrets_cli.sh FERRY - the canary: a database and DNS migration through
# the real binary, against real servers (two PostgreSQL 15 clusters and two
# pgbouncers, tests/integration/pg/cluster.sh, on ports 16601-16611; a
# webhook receiver on 16620; run under tests/integration/dns/knot.sh, whose
# Knot serves the zone, moved through the command provider with
# nsupdate-provider.sh), whose secrets are canaries that must appear
# nowhere ferry writes or shows:
#
#   - the database password, given in an environment variable
#     (password: {env: ...});
#   - a webhook URL with a token in its path and its query, in an
#     environment variable (url_env), used twice in the run (the second
#     use after the variable has left ferry's environment);
#   - another webhook URL with a token, in a file (url_file).
#
# Every child ferry starts is recorded: the hosts' exec prefix (the probe's
# shell runs through it), the command hooks, the DNS command provider and
# PATH wrappers for pg_dump and psql run record-env,
# which saves the child's /proc/self/environ and argv, and, for the
# before_cutover hook, ferry's own /proc/PPID/environ (by then every
# secret variable has been read: it must be wiped).  While ferry runs a
# sampler saves `ps -eww -o pid,ppid,args` and the environ of every
# descendant of ferry.  Then no canary may be in: the commands' output
# (plan, run --dry-run, check, run, status --json, report), the journal,
# the report, the ps
# samples, any recorded environment or argv.  And the test can fail: the
# recordings must exist and hold a plain variable ferry passes on, and the
# receiver must have been called with the tokens.
set -eu
ferry=$1
ferry_exe=$(readlink -f "$ferry")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib.sh"
. "$here/./lib.sh" # fail, show, run_ferry, keep_top, plan_*
PG_OLD_PORT=16601 PG_NEW_PORT=16602 PG_REPL_PORT=16603 PGB_OLD_PORT=16610 PGB_NEW_PORT=16611
SINK_PORT=16620
. "$here/../pg/cluster.sh"
set -eu

if [ -z "${FERRY_TEST_DNS_PORT:-}" ]; then
	echo "secrets_cli: run under tests/integration/dns/knot.sh" >&2
	exit 2
fi
provider=$here/../dns/nsupdate-provider.sh
require_tools secrets_cli pgbouncer python3 ps jq

top=$(mktemp -d /tmp/ferry-secrets.XXXXXX)
chmod 755 "$top"
cap=$top/cap # what the children and the sampler recorded
mkdir "$cap" "$top/bin"
srv=
sink_pid=
sampler_pid=
ferry_pid=
cleanup() {
	rc=$?
	[ -n "$ferry_pid" ] && stop_pid "$ferry_pid"
	[ -n "$sampler_pid" ] && stop_pid "$sampler_pid"
	[ -n "$sink_pid" ] && stop_pid "$sink_pid"
	[ -n "$srv" ] && cluster_stop "$srv"
	# FERRY_SECRETS_KEEP=DIR keeps the outputs and recordings there
	keep_top "${FERRY_SECRETS_KEEP:-}"
	rm -rf "$top"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- the canaries and the servers ------------------------------------------
srv=$(mktemp -d "$top/srv.XXXXXX")
cluster_start "$srv" || {
	tail -n 20 "$srv"/*.log
	fail "cannot start the servers"
}
pg_pw=$(cat "$srv/ferry.pw")
tok_env=canary-env-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')
tok_query=canary-query-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')
tok_file=canary-file-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')
hook_url_env="http://127.0.0.1:$SINK_PORT/services/$tok_env?token=$tok_query"
printf 'http://127.0.0.1:%s/hooks/%s\n' "$SINK_PORT" "$tok_file" >"$top/hook.url"
chmod 600 "$top/hook.url"

python3 "$here/webhook_sink.py" "$SINK_PORT" "$top/sink.log" &
sink_pid=$!
wait_for 20 curl -sf --max-time 1 "http://127.0.0.1:$SINK_PORT/ready" ||
	fail "the webhook receiver does not answer on $SINK_PORT"

# record-env [--parent] CMD...: what ferry gave this child, then CMD
cat >"$top/record-env" <<EOF
#!/bin/sh
if [ "\${1:-}" = --parent ]; then
	tr '\\000' '\\n' </proc/\$PPID/environ >"$cap/penv.\$\$"
	shift
fi
tr '\\000' '\\n' </proc/\$\$/environ >"$cap/env.\$\$"
printf '%s\\n' "\$@" >"$cap/argv.\$\$"
exec "\$@"
EOF
chmod 755 "$top/record-env"
for prog in pg_dump psql; do
	real=$(command -v $prog) || fail "no $prog"
	printf '#!/bin/sh\nexec %s %s "$@"\n' "$top/record-env" "$real" >"$top/bin/$prog"
	chmod 755 "$top/bin/$prog"
done

cat >"$top/p.yaml" <<YAML
name: canary
hosts:
  # this machine, through a prefix that records what each command gets
  old: { address: 127.0.0.1, exec: [$top/record-env] }
  new: { address: 127.0.0.2, exec: [$top/record-env] }
databases:
  - name: main
    engine: postgresql
    source: "host=127.0.0.1 port=$PG_OLD_PORT dbname=shop user=ferry"
    target: "host=127.0.0.1 port=$PG_NEW_PORT dbname=shop user=ferry"
    password: { env: FERRY_CANARY_PG_PW }
$(plan_pgbouncer_switch "$srv")
dns:
  provider: command
  server: 127.0.0.1:$FERRY_TEST_DNS_PORT
  command: [$top/record-env, sh, $provider]
  command_timeout: 10s
  zone: shop.test
  records: [canary.shop.test]
  ttl: { cutover: 1, steps: [1] }
$(plan_test_end 2s)
hooks:
  before_prepare: [$top/record-env, true]
  after_prepare: { url_file: hook.url }
  before_replicate: { url_env: FERRY_CANARY_HOOK_URL }
  before_cutover: [$top/record-env, --parent, true]
  after_decommission: { url_env: FERRY_CANARY_HOOK_URL }
YAML
asuser $PGBIN/psql -X -q -v ON_ERROR_STOP=1 -h "$srv" -p "$PG_OLD_PORT" -U app -d shop >/dev/null <<'SQL'
CREATE TABLE orders (id bigserial PRIMARY KEY, note text);
INSERT INTO orders (note) SELECT 'seed ' || i FROM generate_series(1, 100) i;
SQL

# --- the sampler -----------------------------------------------------------
# sampler PID: until PID is gone, every 20 ms: ps, and the environ of each
# of PID's descendants (a sampling period, not a wait for a condition).
sampler() {
	_n=0
	while kill -0 "$1" 2>/dev/null; do
		ps -eww -o pid=,ppid=,args= >"$cap/ps.now" 2>/dev/null || true
		cat "$cap/ps.now" >>"$cap/ps.txt"
		awk -v root="$1" '{ parent[$1] = $2 }
			END { for (p in parent) { q = p; n = 0
				while (q in parent && q != root && n++ < 64) q = parent[q]
				if (q == root && p != root) print p } }' "$cap/ps.now" |
			while read -r p; do
				# A child forked but not yet exec'd is still ferry:
				# its /proc environ is ferry's first environment
				# block, which keeps the canaries however ferry
				# edits its environ.  What counts is the block the
				# child is exec'd with, so skip it while its image
				# is ferry's (checked before the read: an exec
				# between the two only makes the read later).
				[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$ferry_exe" ] && continue
				{ tr '\000' '\n' <"/proc/$p/environ" >"$cap/denv.$p.$_n"; } 2>/dev/null || true
			done
		_n=$((_n + 1))
		sleep 0.02
	done
}

# ferry_run NAME ARGS...: ferry with the canaries in its environment only
# (never on a command line), sampled while it runs; sets rc.
ferry_run() {
	_out=$top/$1
	shift
	(
		export FERRY_CANARY_PG_PW="$pg_pw" FERRY_CANARY_HOOK_URL="$hook_url_env"
		export FERRY_CANARY_PLAIN=visible PATH="$top/bin:$PATH"
		exec "$ferry" "$@"
	) >"$_out" 2>&1 &
	ferry_pid=$!
	sampler "$ferry_pid" &
	sampler_pid=$!
	set +e
	wait "$ferry_pid"
	rc=$?
	set -e
	ferry_pid=
	wait "$sampler_pid" || true
	sampler_pid=
}

# --- the run ---------------------------------------------------------------
ferry_run plan.txt plan "$top/p.yaml"
[ $rc = 0 ] || { show "$top/plan.txt"; fail "ferry plan exit $rc, want 0"; }
ferry_run dry.txt run --dry-run "$top/p.yaml"
[ $rc = 0 ] || { show "$top/dry.txt"; fail "ferry run --dry-run exit $rc, want 0"; }
grep -q 'hook before_replicate: webhook url_env FERRY_CANARY_HOOK_URL' "$top/dry.txt" ||
	{ show "$top/dry.txt"; fail "the dry run does not name the webhook by where its URL is kept"; }
ferry_run check.txt check "$top/p.yaml"
[ $rc = 0 ] || { show "$top/check.txt"; fail "ferry check exit $rc, want 0"; }
ferry_run run.txt run "$top/p.yaml"
[ $rc = 0 ] || { show "$top/run.txt"; fail "ferry run exit $rc, want 0"; }
grep -q 'migration canary complete' "$top/run.txt" || { show "$top/run.txt"; fail "the run did not complete"; }
ferry_run status.json status "$top/p.yaml" --json
[ $rc = 0 ] || { show "$top/status.json"; fail "ferry status exit $rc"; }
ferry_run report.out report "$top/p.yaml" -o "$top/report.html"
[ $rc = 0 ] || { show "$top/report.out"; fail "ferry report exit $rc"; }

# --- the recordings are real -----------------------------------------------
# Each webhook was called, with its token (so a token is findable where it
# belongs), the url_env one twice: before and after it left the environment.
[ "$(grep -c "^POST /services/$tok_env?token=$tok_query " "$top/sink.log")" = 2 ] ||
	{ show "$top/sink.log"; fail "the url_env webhook was not called twice"; }
grep -q "^POST /hooks/$tok_file " "$top/sink.log" || { show "$top/sink.log"; fail "the url_file webhook was not called"; }
grep -q "webhook url_env FERRY_CANARY_HOOK_URL: HTTP 200 from http://127.0.0.1:$SINK_PORT" "$top/run.txt" ||
	{ show "$top/run.txt"; fail "the run does not name the webhook by its origin"; }
recorded() { # recorded PROG: a recorded child ran PROG (by name or path)
	for _a in "$cap"/argv.*; do
		case $(head -n 1 "$_a") in "$1" | */"$1") return 0 ;; esac
	done
	return 1
}
# sh: the probe's shell and the DNS command provider's script
for prog in sh pg_dump psql true; do
	recorded $prog || fail "no child running $prog was recorded"
done
grep -qlF "$provider" "$cap"/argv.* || fail "the DNS command provider was not recorded"
# the DNS moved through the provider, and the world agrees with the journal
got=$(kdig @127.0.0.1 -p "$FERRY_TEST_DNS_PORT" +short +norec canary.shop.test A)
[ "$got" = 127.0.0.2 ] || fail "canary.shop.test answers '$got' after the run, not 127.0.0.2"
jq -e '[.world[] | select(.check == "world.dns" and .status == "ok")] | length == 1' \
	"$top/status.json" >/dev/null || { show "$top/status.json"; fail "status: no world.dns ok row"; }
ls "$cap"/penv.* >/dev/null 2>&1 || fail "the before_cutover hook did not record ferry's environment"
for f in "$cap"/env.* "$cap"/penv.*; do
	grep -qx 'FERRY_CANARY_PLAIN=visible' "$f" || fail "$f lacks the plain variable: not a recording"
done
ls "$cap"/denv.* >/dev/null 2>&1 || fail "the sampler saw no child of ferry"
grep -q "$ferry run $top/p.yaml" "$cap/ps.txt" || fail "the sampler's ps has no 'ferry run'"
echo "secrets_cli: $(ls "$cap"/env.* | wc -l) children recorded, $(ls "$cap"/denv.* | wc -l) environ samples, $(grep -c . "$cap/ps.txt") ps lines"

# --- no canary anywhere ----------------------------------------------------
for name in pg_pw tok_env tok_query tok_file; do
	eval "s=\$$name"
	hits=$(grep -alF "$s" "$top"/*.txt "$top"/*.json "$top"/*.out "$top"/report.html \
		"$top"/p.ferry.db* "$cap"/* 2>/dev/null || true)
	[ -z "$hits" ] || fail "the canary $name reached: $hits"
done
echo "secrets_cli: ok"
