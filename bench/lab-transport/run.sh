#!/bin/bash
# run.sh [N] - what the way into a host costs ferry, ssh + sudo against
# ip netns exec, measured in the same run in the lab (docs/lab.md; lab/up
# first, as root, under the servers' lock):
#
#   shell_rtt_ms  one command on a persistent shell (`PREFIX sh`, opened
#                 once): what each host command inside the cutover's write
#                 pause costs (a pooler file's write, its rename), mean of N
#   spawn_ms      `PREFIX sh -s` started for one command and run to its end
#                 (the probe's way; what the persistent shells spare the
#                 pause): with ssh, once on the shared connection
#                 (ControlMaster) and once on a new one (no master)
#
# One key=value line per transport; the ssh line's ratios are against
# ip netns exec measured just before.  Host: ferry-old.
set -eu
n=${1:-200}
top=$(cd "$(dirname "$0")/../.." && pwd)
[ -f /run/ferry-lab/env ] || { echo "run.sh: no lab up (lab/up first)" >&2; exit 1; }
. /run/ferry-lab/env
cfg=$LAB_SSH_CONFIG

# shell_rtt PREFIX...: mean ms of N `echo` round trips on one shell
shell_rtt() {
	local i line t0 t1
	coproc SH { "$@" sh 2>&1; }
	echo "echo ready" >&"${SH[1]}"
	read -r line <&"${SH[0]}"
	t0=$EPOCHREALTIME
	for ((i = 0; i < n; i++)); do
		echo "echo ok$i" >&"${SH[1]}"
		read -r line <&"${SH[0]}"
		[ "$line" = "ok$i" ] || { echo "run.sh: shell said '$line'" >&2; exit 1; }
	done
	t1=$EPOCHREALTIME
	exec {SH[1]}>&-
	wait "$SH_PID" 2>/dev/null || true
	awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }'
}

# spawn PREFIX...: mean ms of 10 `PREFIX sh -s` runs of `true`
spawn() {
	local i t0 t1
	t0=$EPOCHREALTIME
	for ((i = 0; i < 10; i++)); do
		echo true | "$@" sh -s >/dev/null
	done
	t1=$EPOCHREALTIME
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 / 10 }'
}

netns=(ip netns exec ferry-old)
ssh=(ssh -F "$cfg" "$LAB_SSH_USER@$LAB_OLD_ADDR" sudo -n)
nomaster=(ssh -F "$cfg" -o ControlPath=none "$LAB_SSH_USER@$LAB_OLD_ADDR" sudo -n)
ssh -F "$cfg" "$LAB_SSH_USER@$LAB_OLD_ADDR" true # the shared connection, as ferry's first command makes it

ns_rtt=$(shell_rtt "${netns[@]}")
ns_spawn=$(spawn "${netns[@]}")
ssh_rtt=$(shell_rtt "${ssh[@]}")
ssh_spawn=$(spawn "${ssh[@]}")
ssh_new=$(spawn "${nomaster[@]}")
echo "transport=netns n=$n shell_rtt_ms=$ns_rtt spawn_ms=$ns_spawn"
awk -v n="$n" -v r="$ssh_rtt" -v s="$ssh_spawn" -v c="$ssh_new" -v nr="$ns_rtt" -v ns="$ns_spawn" 'BEGIN {
	printf "transport=ssh+sudo n=%d shell_rtt_ms=%s spawn_ms=%s spawn_new_connection_ms=%s rtt_ratio=%.1f spawn_ratio=%.1f\n",
		n, r, s, c, r / nr, s / ns }'
