# probe.sh - what ferry runs on a host, sent on stdin to `PREFIX... sh -s`.
#
# Compiled into ferry (tools/embed.c makes a C string of it) and preceded by
# variable assignments ferry writes (values single-quoted, see probe.c):
#   FERRY_MODE      probe | egress
#   FERRY_SALT      hex mixed into every hash (may be empty: plain sha256)
#   FERRY_PROCESS / FERRY_PIDFILE / FERRY_UNIT   how to find the application
#   FERRY_PACKAGES  package names, space separated
#   FERRY_EGRESS    host:port endpoints, space separated; FERRY_EGRESS_TIMEOUT
#
# Output: lines "SECTION<TAB>KEY<TAB>VALUE", first "ferry-probe<TAB>version<TAB>1",
# last "end<TAB>MODE<TAB>ok"; the C side (probe.c) parses them strictly and
# rejects anything else.  No environment value and no crontab ever leaves
# the host: only their sha256 (salted).  POSIX sh only; nothing to install.
LC_ALL=C
export LC_ALL
ferry_out() {
	ferry_k=$2
	ferry_v=$3
	case $ferry_k$ferry_v in
	*[![:print:]]*)
		ferry_k=$(printf '%s' "$2" | tr -d '\000-\037\177')
		ferry_v=$(printf '%s' "$3" | tr -d '\000-\037\177')
		;;
	esac
	printf '%s\t%s\t%s\n' "$1" "$ferry_k" "$ferry_v"
}
ferry_has() {
	command -v "$1" >/dev/null 2>&1
}
ferry_hashcmd=
if ferry_has sha256sum; then
	ferry_hashcmd=sha256sum
elif ferry_has shasum; then
	ferry_hashcmd='shasum -a 256'
fi
# Prints the salted sha256 of the stdin.
ferry_hash() {
	ferry_h=$({
		[ -n "${FERRY_SALT:-}" ] && printf '%s\n' "$FERRY_SALT"
		cat
	} | $ferry_hashcmd)
	printf '%s' "${ferry_h%% *}"
}
ferry_unquote() {
	ferry_u=${1#\"}
	ferry_u=${ferry_u%\"}
	ferry_u=${ferry_u#\'}
	printf '%s' "${ferry_u%\'}"
}

ferry_probe() {
	# os
	if [ -r /etc/os-release ]; then
		while IFS= read -r ferry_l; do
			case $ferry_l in
			ID=*) ferry_out os id "$(ferry_unquote "${ferry_l#ID=}")" ;;
			VERSION_ID=*) ferry_out os version_id "$(ferry_unquote "${ferry_l#VERSION_ID=}")" ;;
			esac
		done </etc/os-release
	fi
	ferry_out os kernel "$(uname -r 2>/dev/null)"

	# timezone: Debian's /etc/timezone, else the /etc/localtime link, else TZ
	ferry_tz=
	if [ -r /etc/timezone ]; then
		IFS= read -r ferry_tz </etc/timezone
	fi
	if [ -z "$ferry_tz" ] && [ -L /etc/localtime ]; then
		ferry_tz=$(readlink /etc/localtime 2>/dev/null)
		ferry_tz=${ferry_tz#*zoneinfo/}
	fi
	[ -z "$ferry_tz" ] && ferry_tz=${TZ:-unknown}
	ferry_out timezone zone "$ferry_tz"

	# locale: the system default (Debian, then systemd), else the shell's
	ferry_lang=
	for ferry_f in /etc/default/locale /etc/locale.conf; do
		[ -r "$ferry_f" ] || continue
		while IFS= read -r ferry_l; do
			case $ferry_l in
			LANG=*) ferry_lang=$(ferry_unquote "${ferry_l#LANG=}") ;;
			esac
		done <"$ferry_f"
		[ -n "$ferry_lang" ] && break
	done
	[ -z "$ferry_lang" ] && ferry_lang=${LANG:-unset}
	ferry_out locale LANG "$ferry_lang"

	# the application: a pid file, a systemd unit's MainPID, or its name
	ferry_pid=
	ferry_src=
	ferry_matches=0
	if [ -n "${FERRY_PIDFILE:-}" ]; then
		ferry_src="pidfile:$FERRY_PIDFILE"
		[ -r "$FERRY_PIDFILE" ] && IFS= read -r ferry_pid <"$FERRY_PIDFILE"
	elif [ -n "${FERRY_UNIT:-}" ]; then
		ferry_src="unit:$FERRY_UNIT"
		if ferry_has systemctl; then
			ferry_pid=$(systemctl show -p MainPID --value "$FERRY_UNIT" </dev/null 2>/dev/null)
			[ "$ferry_pid" = 0 ] && ferry_pid=
		fi
	elif [ -n "${FERRY_PROCESS:-}" ]; then
		ferry_src="process:$FERRY_PROCESS"
		# /proc/PID/comm holds the first 15 bytes of the name; a longer
		# name is checked against the basename of argv[0] too.
		# Hosts reached by `ip netns exec` share one pid space: prefer a
		# process in the network namespace this shell runs in, else any
		# (an application in a container has its own).
		ferry_comm=$(printf '%s' "$FERRY_PROCESS" | cut -c1-15)
		ferry_myns=$(readlink /proc/$$/ns/net 2>/dev/null)
		ferry_any=
		for ferry_d in /proc/[0-9]*; do
			ferry_c=
			IFS= read -r ferry_c <"$ferry_d/comm" 2>/dev/null || continue
			[ "$ferry_c" = "$ferry_comm" ] || continue
			if [ ${#FERRY_PROCESS} -gt 15 ]; then
				ferry_a=$(tr '\000' '\n' <"$ferry_d/cmdline" 2>/dev/null | head -n 1)
				[ "${ferry_a##*/}" = "$FERRY_PROCESS" ] || continue
			fi
			ferry_p=${ferry_d#/proc/}
			if [ -z "$ferry_any" ] || [ "$ferry_p" -lt "$ferry_any" ]; then
				ferry_any=$ferry_p
			fi
			ferry_ns=$(readlink "$ferry_d/ns/net" 2>/dev/null)
			[ "$ferry_ns" = "$ferry_myns" ] || continue
			ferry_matches=$((ferry_matches + 1))
			if [ -z "$ferry_pid" ] || [ "$ferry_p" -lt "$ferry_pid" ]; then
				ferry_pid=$ferry_p
			fi
		done
		[ -z "$ferry_pid" ] && ferry_pid=$ferry_any
	fi
	case $ferry_pid in
	*[!0-9]*) ferry_pid= ;;
	esac
	if [ -n "$ferry_src" ]; then
		ferry_out app source "$ferry_src"
		if [ -z "$ferry_pid" ] || [ ! -d "/proc/$ferry_pid" ]; then
			ferry_out app found no
		elif [ -z "$ferry_hashcmd" ]; then
			ferry_out app found yes
			ferry_out app pid "$ferry_pid"
			ferry_out app error "no sha256sum on this host: environment not read"
		elif [ ! -r "/proc/$ferry_pid/environ" ] ||
			! head -c 1 "/proc/$ferry_pid/environ" >/dev/null 2>&1; then
			ferry_out app found yes
			ferry_out app pid "$ferry_pid"
			ferry_out app error "cannot read /proc/$ferry_pid/environ (run as root or the app's user)"
		else
			ferry_out app found yes
			ferry_out app pid "$ferry_pid"
			[ "$ferry_matches" -gt 1 ] && ferry_out app matches "$ferry_matches"
			# printf is a builtin: a value never shows in any argv
			# (/proc/PID/cmdline is world-readable).
			# NUL-separated NAME=VALUE; a newline inside a value is
			# hashed as \001 (both hosts alike).  Only NAME and the
			# hash are printed.
			tr '\000\n' '\n\001' <"/proc/$ferry_pid/environ" |
				while IFS= read -r ferry_e; do
					case $ferry_e in
					*=*) ;;
					*) continue ;;
					esac
					ferry_out env "${ferry_e%%=*}" \
						"$(printf '%s' "${ferry_e#*=}" | ferry_hash)"
				done
			while IFS= read -r ferry_l; do
				case $ferry_l in
				"Max open files"*)
					set -- $ferry_l
					ferry_out limits app.nofile "$4"
					;;
				"Max processes"*)
					set -- $ferry_l
					ferry_out limits app.nproc "$3"
					;;
				esac
			done <"/proc/$ferry_pid/limits"
		fi
	fi

	# TCP sockets: ss if present, else the kernel's tables (parsed by ferry)
	if ferry_has ss; then
		ss -Htan 2>/dev/null </dev/null | while IFS= read -r ferry_l; do
			ferry_out ss tcp "$ferry_l"
		done
	else
		for ferry_f in tcp tcp6; do
			[ -r "/proc/net/$ferry_f" ] || continue
			tail -n +2 "/proc/net/$ferry_f" | while IFS= read -r ferry_l; do
				ferry_out proctcp "$ferry_f" "$ferry_l"
			done
		done
	fi

	# packages named in the plan
	for ferry_p in ${FERRY_PACKAGES:-}; do
		if ferry_has dpkg-query; then
			ferry_v=$(dpkg-query -W -f '${db:Status-Status} ${Version}' "$ferry_p" 2>/dev/null </dev/null)
			case $ferry_v in
			"installed "*) ferry_v=${ferry_v#installed } ;;
			*) ferry_v=- ;;
			esac
		elif ferry_has rpm; then
			ferry_v=$(rpm -q --qf '%{VERSION}-%{RELEASE}' "$ferry_p" 2>/dev/null </dev/null) || ferry_v=-
		else
			ferry_v='?'
		fi
		ferry_out packages "$ferry_p" "$ferry_v"
	done

	# cron: each user's crontab and each system cron file, hashed
	if [ -n "$ferry_hashcmd" ]; then
		for ferry_f in /var/spool/cron/crontabs/* /var/spool/cron/*; do
			[ -f "$ferry_f" ] && [ -r "$ferry_f" ] || continue
			ferry_out cron "user:${ferry_f##*/}" "$(ferry_hash <"$ferry_f")"
		done
		for ferry_f in /etc/crontab /etc/cron.d/* /etc/cron.hourly/* /etc/cron.daily/* \
			/etc/cron.weekly/* /etc/cron.monthly/*; do
			[ -f "$ferry_f" ] && [ -r "$ferry_f" ] || continue
			ferry_out cron "$ferry_f" "$(ferry_hash <"$ferry_f")"
		done
	fi

	# limits of a login on this host (the app's own are above)
	ferry_out limits nofile "$(ulimit -n 2>/dev/null)"
	ferry_out limits nproc "$( (ulimit -u) 2>/dev/null || (ulimit -p) 2>/dev/null || echo unknown)"
	ferry_out limits cpus "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)"
}

# egress: try each endpoint in parallel, one line per endpoint
ferry_try() {
	ferry_h=${1%:*}
	ferry_p=${1##*:}
	ferry_h=${ferry_h#\[}
	ferry_h=${ferry_h%\]}
	ferry_t=${FERRY_EGRESS_TIMEOUT:-3}
	if ferry_has bash; then
		if ferry_has timeout; then
			ferry_e=$(timeout "$ferry_t" bash -c 'exec 3<>"/dev/tcp/$0/$1"' \
				"$ferry_h" "$ferry_p" 2>&1 </dev/null)
		else
			ferry_e=$(bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$ferry_h" "$ferry_p" 2>&1 </dev/null)
		fi
		ferry_r=$?
	elif ferry_has nc; then
		ferry_e=$(nc -z -w "$ferry_t" "$ferry_h" "$ferry_p" 2>&1 </dev/null)
		ferry_r=$?
	else
		ferry_out egress "$1" "cannot: neither bash nor nc on this host"
		return
	fi
	# the first line's reason: "bash: connect: Connection refused" -> "Connection refused"
	ferry_e=$(printf '%s\n' "$ferry_e" | head -n 1 | tr '\t' ' ' | cut -c1-200)
	ferry_e=${ferry_e##*: }
	if [ "$ferry_r" = 0 ]; then
		ferry_s=ok
	elif [ "$ferry_r" = 124 ]; then
		ferry_s=timeout
		ferry_e="no answer within ${ferry_t}s"
	else
		case $ferry_e in
		*refused*) ferry_s=refused ;;
		*"timed out"*) ferry_s=timeout ;;
		*"o route"* | *nreachable*) ferry_s=unreachable ;;
		*"not known"* | *resolve* | *"ame or service"*) ferry_s=dns ;;
		*) ferry_s=error ;;
		esac
	fi
	ferry_out egress "$1" "$ferry_s: $ferry_e"
}

printf 'ferry-probe\tversion\t1\n'
case ${FERRY_MODE:-probe} in
probe)
	ferry_probe
	printf 'end\tprobe\tok\n'
	;;
egress)
	for ferry_ep in ${FERRY_EGRESS:-}; do
		ferry_try "$ferry_ep" &
	done
	wait
	printf 'end\tegress\tok\n'
	;;
esac
