#!/bin/sh
# tests/cli/cli.sh - what the command-line tests share.  Source it after
# setting ferry (the binary): . "$(dirname "$0")/cli.sh"
#
#   check DESCRIPTION COMMAND...   runs COMMAND; prints "ok - DESCRIPTION"
#                                  or "not ok - DESCRIPTION" and sets fail=1;
#                                  the script ends with: exit $fail
#   cli_tmp NAME                   a fresh folder (removed at exit, with the
#                                  background run $bg killed), made the
#                                  current one; test-only variables unset
#   plan_wait FILE                 a plan with no servers whose run waits at
#                                  a cutover window three hours away
#   plan_fail FILE                 a plan with no servers whose run fails at
#                                  the host checks (a health check on a
#                                  loopback port where nothing listens)
#   haproxy_up ADMIN [OPERATOR] <CFG
#                                  starts a real HAProxy (skip, 77, when it is
#                                  not installed; fail under CI) with runtime
#                                  APIs on 127.0.0.1:ADMIN (level admin) and
#                                  OPERATOR (level operator) and the sections
#                                  CFG holds; stopped at exit (needs
#                                  tests/lib.sh); waits until it answers
#   lb_api CMD                     one runtime API command on ADMIN, its reply
#                                  on stdout (bash: /dev/tcp)
fail=0
bg=
check() {
	_ck_desc=$1
	shift
	if "$@"; then
		echo "ok - $_ck_desc"
	else
		echo "not ok - $_ck_desc"
		fail=1
	fi
}

cli_cleanup() {
	[ -n "$bg" ] && kill "$bg" 2>/dev/null
	[ -s "$cli_dir/haproxy.pid" ] && stop_pid "$(cat "$cli_dir/haproxy.pid")"
	rm -rf "$cli_dir"
}

cli_tmp() {
	cli_dir=$(mktemp -d "/tmp/ferry-$1-test.XXXXXX") || exit 1
	trap cli_cleanup EXIT INT TERM
	cd "$cli_dir" || exit 1
	unset FERRY_NOW FERRY_CRASH_AT FERRY_FAIL_AT NO_COLOR
}

plan_wait() {
	cat >"$1" <<YAML
name: wait
schedule:
  replication_soak: 1s
  validation: 1s
  cutover_window: { from: "$(date -u -d '+3 hours' +%H:00)", to: "$(date -u -d '+4 hours' +%H:00)" }
YAML
}

plan_fail() {
	cat >"$1" <<YAML
name: fail
hosts:
  old: { address: 127.0.0.1 }
  new: { address: 127.0.0.2 }
checks:
  health:
    - url: "http://127.0.0.1:16498/healthz"
schedule: { replication_soak: 1s, validation: 1s, monitor: 1s }
YAML
}

haproxy_up() {
	_hp=$(command -v haproxy || echo /usr/sbin/haproxy)
	if [ ! -x "$_hp" ]; then
		echo "haproxy not installed"
		[ -n "${CI:-}" ] && exit 1
		exit 77
	fi
	lb_port=$1
	{
		echo "global"
		echo "    stats socket ipv4@127.0.0.1:$1 level admin"
		[ -n "${2:-}" ] && echo "    stats socket ipv4@127.0.0.1:$2 level operator"
		printf '    stats timeout 30s\ndefaults\n    mode http\n'
		printf '    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n'
		cat
	} >"$cli_dir/haproxy.cfg"
	"$_hp" -q -c -f "$cli_dir/haproxy.cfg" || exit 1
	"$_hp" -f "$cli_dir/haproxy.cfg" -D -p "$cli_dir/haproxy.pid" || exit 1
	wait_for 10 lb_api "show info" || exit 1
}

lb_api() {
	exec 3<>"/dev/tcp/127.0.0.1/$lb_port" || return 1
	printf '%s\n' "$1" >&3
	cat <&3
	exec 3<&-
}
