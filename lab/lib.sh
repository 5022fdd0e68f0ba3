# lib.sh - what lab/up, lab/down and lab/fault share (sourced, not run).
#
# The lab (DESIGN §7, docs/lab.md): three network namespaces on a bridge,
# every daemon started directly (no systemd) with its pidfile, config, data
# and log under $LAB_STATE.  This file holds the names and addresses, the
# small helpers (say, die, wait_for, spawn, stop_pidfile) and the parts that
# both lab/up and lab/fault need: starting the lab app, writing HAProxy's
# config, applying the egress rule.  The faults are marker files in
# $LAB_STATE/faults; the start functions read them, so lab/up with
# LAB_FAULTS and lab/fault on|off go through the same code.
#
# Secrets (TSIG key, passwords, the app's API key, the canary) live in files
# under $LAB_STATE/secrets and are never printed, put in an argv or a log.

LAB_TOP=$(cd "$(dirname "$0")/.." && pwd)
# The fixed alias of the state folder of the lab that is up: the plan names
# files on the hosts (pgbouncer's include) by absolute path, and the
# worktree's path varies.
LAB_LINK=/run/ferry-lab
# lab/down and lab/fault act on the lab that is up, wherever its state is
# (a smoke test's, another checkout's); lab/up on this checkout's.
if [ -z "${LAB_STATE:-}" ] && [ "${LAB_FOLLOW_LINK:-0}" = 1 ] && [ -L "$LAB_LINK" ]; then
	LAB_STATE=$(readlink "$LAB_LINK")
fi
LAB_STATE=${LAB_STATE:-$LAB_TOP/lab/state}
case $LAB_STATE in /*) ;; *) LAB_STATE=$PWD/$LAB_STATE ;; esac
# A state folder out of the postgres user's reach (a checkout under /root)
# is kept under /var/lib/ferry-lab by lab/up and linked from here: every
# script uses the real path, which PostgreSQL and pgbouncer can enter.
LAB_STATE_LINK=
if [ -L "$LAB_STATE" ]; then
	LAB_STATE_LINK=$LAB_STATE
	LAB_STATE=$(readlink -f "$LAB_STATE")
fi
# The build folder the lab app came from, for a lab started elsewhere.
if [ -z "${LAB_BUILD:-}" ] && [ -f "$LAB_STATE/env" ]; then
	LAB_BUILD=$(sed -n "s/^LAB_BUILD='\(.*\)'$/\1/p" "$LAB_STATE/env")
fi
LAB_BUILD=${LAB_BUILD:-$LAB_TOP/build}

LAB_BRIDGE=ferrybr0
LAB_BRIDGE_ADDR=10.77.0.254
LAB_HOSTS="net old new"
PG_BIN=/usr/lib/postgresql/15/bin

# ferry reaches old and new over ssh as this user, root through sudo
# (lab/up: sshd in both namespaces, the user, the sudoers drop-in).
LAB_SSH_USER=ferryop
LAB_SUDOERS=/etc/sudoers.d/ferry-lab
# The comment lab/up gives the user it makes: lab/down removes only that one.
LAB_SSH_GECOS="ferry lab (lab/up made it; lab/down removes it)"

lab_ns() { echo "ferry-$1"; }
lab_addr() {
	case $1 in
	net) echo 10.77.0.1 ;;
	old) echo 10.77.0.2 ;;
	new) echo 10.77.0.3 ;;
	*) die "unknown lab host '$1'" ;;
	esac
}
# The root-namespace end of each host's veth pair (<= 15 characters).
lab_veth() { echo "ferryv-$1"; }

say() { printf '%s: %s\n' "${LAB_PROG:-lab}" "$*"; }
die() {
	printf '%s: error: %s\n' "${LAB_PROG:-lab}" "$*" >&2
	exit 1
}

need_root() {
	[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, daemons in them)"
}

# Why this machine cannot host the lab's network namespaces, or nothing.
# `ip netns exec` makes / a slave mount in a new mount namespace, which
# needs / to be a mount point: in a chroot (../shared/tools/fresh-machine)
# it is not, and every daemon start would fail.
lab_netns_unusable() {
	if ! mountpoint -q / 2>/dev/null; then
		echo "/ is not a mount point (a chroot?): 'ip netns exec' cannot set up its mount namespace; the lab needs a real machine or VM"
	fi
}

# need PROGRAM PACKAGE: fail with the package to install when PROGRAM is missing.
need() {
	command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] ||
		die "$1 not found; install the Debian package '$2' (scripts/deps installs everything)"
}

# wait_for WHAT TIMEOUT_S CMD...: polls CMD every 0.1 s until it succeeds;
# fails naming WHAT after TIMEOUT_S seconds.  Never a fixed sleep.
wait_for() {
	_what=$1 _limit=$2
	shift 2
	_deadline=$(($(date +%s) + _limit))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$_deadline" ] ||
			die "timed out after ${_limit}s waiting for $_what"
		sleep 0.1
	done
}

# in_ns HOST CMD...: runs CMD inside HOST's namespace.  ip netns exec also
# bind-mounts /etc/netns/ferry-HOST/* over /etc (our hosts file).
in_ns() {
	_ns=$(lab_ns "$1")
	shift
	ip netns exec "$_ns" "$@"
}

# tcp_open ADDR PORT: something accepts TCP connections there.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

ns_exists() { ip netns list 2>/dev/null | grep -qw "^$(lab_ns "$1")"; }

# proc_alive PID: the process exists and is not a zombie (here PID 1 reaps
# orphaned daemons only now and then; a zombie has done all it will do).
proc_alive() {
	kill -0 "$1" 2>/dev/null || return 1
	_st=$(cut -d ')' -f 2 "/proc/$1/stat" 2>/dev/null | cut -d ' ' -f 2)
	[ -n "$_st" ] && [ "$_st" != Z ]
}

# pid_alive PIDFILE: the pidfile names a live process.
pid_alive() {
	[ -s "$1" ] || return 1
	_pid=$(head -n 1 "$1")
	case $_pid in '' | *[!0-9]*) return 1 ;; esac
	proc_alive "$_pid"
}

# spawn HOST PIDFILE LOG CMD...: starts a foreground program in HOST's
# namespace, in its own session (a terminal's hangup or ^C does not reach
# it), and records its pid.  ip netns exec, env and setsid all exec (setsid
# forks only for a process-group leader, which a background job of a
# non-interactive shell is not), so $! is the program itself.
spawn() {
	_host=$1 _pidf=$2 _log=$3
	shift 3
	in_ns "$_host" setsid "$@" </dev/null >>"$_log" 2>&1 &
	echo $! >"$_pidf"
}

# stop_pidfile PIDFILE [SIGNAL] [TIMEOUT_S]: signals the process and waits
# for it to be gone; SIGKILL after the deadline.  Fine when not running.
stop_pidfile() {
	_pf=$1 _sig=${2:-TERM} _limit=${3:-15}
	pid_alive "$_pf" || {
		rm -f "$_pf"
		return 0
	}
	_pid=$(head -n 1 "$_pf")
	kill "-$_sig" "$_pid" 2>/dev/null || true
	_deadline=$(($(date +%s) + _limit))
	while proc_alive "$_pid"; do
		if [ "$(date +%s)" -ge "$_deadline" ]; then
			say "pid $_pid ($_pf) still there after ${_limit}s: SIGKILL"
			kill -KILL "$_pid" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
	rm -f "$_pf"
}

fault_on() { [ -e "$LAB_STATE/faults/$1" ]; }
LAB_FAULT_NAMES="env cert egress orders500"

# --- the lab app ---------------------------------------------------------

lab_app_bin() { echo "$LAB_BUILD/lab/app/ferry-lab-app"; }

# app_start HOST: starts the lab app in HOST with the contract's environment
# and nothing else (env -i: ferry's env check compares old's and new's, so
# the calling shell's variables must not leak in).  On new without
# SHOP_API_KEY while the env fault is on; SIGUSR1 after start while the
# orders500 fault is on.
app_start() {
	_h=$1
	_d=$LAB_STATE/$_h/app
	_bin=$(lab_app_bin)
	mkdir -p "$_d"
	if [ ! -x "$_bin" ]; then
		say "$_h: lab app $_bin not built (ninja -C $LAB_BUILD); skipping it"
		return 0
	fi
	pid_alive "$_d/app.pid" && return 0
	# The environment goes through a 0600 file, not an argv (which ps
	# shows to everyone); sh exports it (set -a) and execs the app from /
	# so that PWD is the same on both hosts.
	(
		umask 077
		exec >"$_d/app.env"
		echo "DATABASE_URL='host=127.0.0.1 port=6432 dbname=shop user=shop'"
		echo "PGPASSFILE='$LAB_STATE/secrets/pgpass-shop'"
		echo "PAYMENTS_URL='https://payments.shop.test/charge'"
		echo "PAYMENTS_CA='$LAB_STATE/ca/ca.pem'"
		echo "APP_HOST='$_h'"
		echo "LISTEN='$(lab_addr "$_h"):8080'"
		echo "PIDFILE='$_d/app.pid'"
		echo "FERRY_CANARY_SECRET='$(cat "$LAB_STATE/secrets/canary.secret")'"
		if [ "$_h" != new ] || ! fault_on env; then
			echo "SHOP_API_KEY='$(cat "$LAB_STATE/secrets/shop-api-key")'"
		fi
		app_env_datastores # lab/datastores.sh
	)
	spawn "$_h" "$_d/app.pid" "$_d/app.log" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		sh -c 'set -a; . "$1"; set +a; cd /; exec "$2"' sh "$_d/app.env" "$_bin"
	wait_for "the $_h app on $(lab_addr "$_h"):8080" 20 \
		curl -fsS -o /dev/null --max-time 1 "http://$(lab_addr "$_h"):8080/healthz"
	if [ "$_h" = new ] && fault_on orders500; then
		kill -USR1 "$(head -n 1 "$_d/app.pid")"
	fi
}

app_stop() { stop_pidfile "$LAB_STATE/$1/app/app.pid" TERM 10; }

# --- HAProxy -------------------------------------------------------------

# haproxy_config HOST: writes $LAB_STATE/HOST/haproxy/haproxy.cfg (sets
# HAPROXY_CHANGED to 1 when it differs from what was there).  net
# serves the payments endpoint; old and new www/api.shop.test in front of
# the backend `web`.  While the cert fault is on, new serves only the
# api.shop.test certificate with strict-sni, so a handshake for
# www.shop.test fails (the "forgot to deploy one certificate" mistake).
haproxy_config() {
	_h=$1
	_d=$LAB_STATE/$_h/haproxy
	_a=$(lab_addr "$_h")
	mkdir -p "$_d"
	{
		cat <<EOF
# written by lab/up ($_h); lab/fault cert rewrites it on new
global
	maxconn 4096
	stats socket $_d/admin.sock mode 600 level admin
EOF
		[ "$_h" = net ] || echo "	stats socket ipv4@$_a:9999 level admin"
		cat <<EOF

defaults
	mode http
	log global
	timeout connect 2s
	timeout client 60s
	timeout server 60s
	timeout queue 30s
	timeout http-request 10s
	timeout http-keep-alive 10s

EOF
		if [ "$_h" = net ]; then
			cat <<EOF
# The third-party payments endpoint the app calls for every order.
frontend payments
	bind $_a:443 ssl crt $LAB_STATE/ca/payments.shop.test.pem
	http-request return status 200 content-type application/json string '{"ok":true}'
EOF
		else
			_crt="crt $LAB_STATE/ca/www.shop.test.pem crt $LAB_STATE/ca/api.shop.test.pem"
			if [ "$_h" = new ] && fault_on cert; then
				_crt="crt $LAB_STATE/ca/api.shop.test.pem strict-sni"
			fi
			cat <<EOF
frontend https
	bind $_a:443 ssl $_crt
	default_backend web

# TCP checks only: an HTTP check through /healthz would hang while ferry
# pauses the pooler and mark the servers down in the middle of a cutover.
backend web
	balance roundrobin
EOF
			if [ "$_h" = old ]; then
				echo "	server old 10.77.0.2:8080 weight 100 check inter 2s"
				echo "	server new 10.77.0.3:8080 weight 0 check inter 2s"
			else
				echo "	server new 10.77.0.3:8080 weight 100 check inter 2s"
			fi
			haproxy_db_sections "$_h" # lab/datastores.sh
		fi
	} >"$_d/haproxy.cfg.tmp"
	# HAPROXY_CHANGED says whether a running HAProxy needs a reload.
	if cmp -s "$_d/haproxy.cfg.tmp" "$_d/haproxy.cfg"; then
		rm -f "$_d/haproxy.cfg.tmp"
		HAPROXY_CHANGED=0
	else
		mv "$_d/haproxy.cfg.tmp" "$_d/haproxy.cfg"
		HAPROXY_CHANGED=1
	fi
}

# haproxy_start HOST: master-worker mode; the pidfile holds the master,
# which a SIGUSR2 makes reload the config (haproxy_reload).
haproxy_start() {
	_d=$LAB_STATE/$1/haproxy
	pid_alive "$_d/haproxy.pid" && return 0
	haproxy -c -q -f "$_d/haproxy.cfg" || die "$1: haproxy rejects $_d/haproxy.cfg"
	in_ns "$1" haproxy -W -D -p "$_d/haproxy.pid" -f "$_d/haproxy.cfg" >>"$_d/haproxy.log" 2>&1 ||
		die "$1: haproxy did not start (see $_d/haproxy.log)"
	wait_for "$1's HAProxy on $(lab_addr "$1"):443" 20 \
		tcp_open "$(lab_addr "$1")" 443
}

haproxy_reload() {
	_d=$LAB_STATE/$1/haproxy
	haproxy -c -q -f "$_d/haproxy.cfg" || die "$1: haproxy rejects $_d/haproxy.cfg"
	if pid_alive "$_d/haproxy.pid"; then
		kill -USR2 "$(head -n 1 "$_d/haproxy.pid")"
	else
		haproxy_start "$1"
	fi
}

# tls_www_ok [ADDR]: a verified TLS handshake for www.shop.test succeeds
# against ADDR (default new, 10.77.0.3); tls_www_fails: it does not.
tls_www_ok() {
	timeout 5 openssl s_client -connect "${1:-10.77.0.3}:443" -servername www.shop.test \
		-verify_hostname www.shop.test -verify_return_error \
		-CAfile "$LAB_STATE/ca/ca.pem" </dev/null >/dev/null 2>&1
}
tls_www_fails() { ! tls_www_ok "$@"; }

# --- the egress fault ----------------------------------------------------

# egress_apply: the nftables table in ferry-new that rejects (TCP reset, so
# it shows at once rather than after a timeout) connections to the payments
# endpoint, present exactly while the egress fault is on.  The table lives
# in the namespace and goes with it.
egress_apply() {
	if fault_on egress; then
		in_ns new nft -f - <<EOF
table inet ferry_lab_fault
delete table inet ferry_lab_fault
table inet ferry_lab_fault {
	chain output {
		type filter hook output priority 0; policy accept;
		ip daddr 10.77.0.1 tcp dport 443 reject with tcp reset
	}
}
EOF
	else
		in_ns new nft delete table inet ferry_lab_fault 2>/dev/null || true
	fi
}
egress_is_on() { in_ns new nft list table inet ferry_lab_fault >/dev/null 2>&1; }

# MariaDB and Redis on old and new (their servers, HAProxy sections, the
# app's variables for them)
. "$(dirname "${BASH_SOURCE[0]}")/datastores.sh"
