#!/bin/sh
# servers.sh - Redis servers for the tests and the benchmark (source it,
# after tests/lib.sh).  Each server is Debian's redis-server 7.0 run in a
# folder of DIR with --save '' (nothing on disk), never the packaged
# service.
#
#   redis_require          exits 77 (skip; 1 with CI set) without redis-server
#   redis_ca DIR           a test CA (ca.crt) that signs a server
#                          certificate for 127.0.0.1 (srv.crt, srv.key)
#                          and a client certificate (cli.crt, cli.key);
#                          other-ca.crt, a CA that signed neither
#   redis_start DIR NAME PORT [ARG...]
#                          starts redis-server on 127.0.0.1:PORT (PORT 0:
#                          TLS only, give --tls-port) with the ARGs, waits
#                          until it accepts; its pid in DIR/NAME.pid
#   redis_tls_args DIR     the arguments that give a server the test
#                          certificates (for tls-port and tls-replication)
#   redis_stop_all DIR     stops every server started in DIR
redis_require() {
	command -v redis-server >/dev/null 2>&1 && return 0
	echo "redis-server is not installed (scripts/deps installs it)"
	[ -n "${CI:-}" ] && exit 1
	exit 77
}

redis_ca() {
	(
		cd "$1" || exit 1
		ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
		openssl req -x509 $ec -keyout ca.key -out ca.crt -days 2 -subj /CN=ferry-test-ca 2>/dev/null &&
		openssl req -x509 $ec -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca 2>/dev/null &&
		printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >srv.ext &&
		printf 'extendedKeyUsage=clientAuth\n' >cli.ext &&
		openssl req $ec -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null &&
		openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile srv.ext -out srv.crt 2>/dev/null &&
		openssl req $ec -keyout cli.key -out cli.csr -subj /CN=ferry 2>/dev/null &&
		openssl x509 -req -in cli.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
			-extfile cli.ext -out cli.crt 2>/dev/null
	)
}

redis_tls_args() {
	echo "--tls-cert-file $1/srv.crt --tls-key-file $1/srv.key --tls-ca-cert-file $1/ca.crt"
}

redis_start() {
	_rs_base=$1
	_rs_dir=$1/$2
	_rs_name=$2
	_rs_port=$3
	shift 3
	mkdir -p "$_rs_dir"
	redis-server --bind 127.0.0.1 --port "$_rs_port" --save '' --appendonly no \
		--dir "$_rs_dir" --logfile "$_rs_dir/log" --daemonize no \
		--repl-diskless-sync-delay 0 "$@" >/dev/null 2>&1 &
	echo $! >"$_rs_base/$_rs_name.pid"
	if ! wait_for 10 grep -q 'Ready to accept connections' "$_rs_dir/log"; then
		echo "redis $_rs_name did not start:" >&2
		tail -5 "$_rs_dir/log" >&2
		return 1
	fi
}

redis_stop_all() {
	for _rs_p in "$1"/*.pid; do
		[ -f "$_rs_p" ] && stop_pid "$(cat "$_rs_p")"
	done
	return 0
}
