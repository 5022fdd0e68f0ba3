#!/bin/bash
# ssh_check.sh FERRY - `ferry check`'s rows for the way into each host,
# through a real sshd (Debian's openssh-server) on 127.0.0.1, ports
# 16800-16899 (the ssh helper's range: no lock needed), in a temporary
# folder: ok (a shell as the user, key accepted, host key known), a refused
# key, an unknown host key, a changed host key, a closed port, and sudo
# refused (with -n: "a password is required"; without -n: the row says
# that too and asks for -n).  Each failing row keeps ssh's or sudo's own
# words and carries a hint; exit 1.
#
# sshd needs a user to log in as: a system user made for the test (no
# password: '*') and removed at exit.  The keys have no passphrase; nothing
# secret is in an argv or the environment.  Needs root (useradd, sshd).
set -u
ferry=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
top=$(cd "$(dirname "$0")/../../.." && pwd)
. "$top/tests/lib.sh"
. "$top/tests/cli/cli.sh"

skip() {
	echo "skipped: $*"
	[ -n "${CI:-}" ] && exit 1
	exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (a user for sshd to log in as, sshd itself)"
[ -x /usr/sbin/sshd ] || skip "no /usr/sbin/sshd (Debian package openssh-server)"
command -v ssh >/dev/null || skip "no ssh (Debian package openssh-client)"
command -v sudo >/dev/null || skip "no sudo (Debian package sudo)"

cli_tmp ssh-check
chmod 755 "$cli_dir" # sshd reads authorized_keys as the user
user=ferryt$$
sshd_pid=
cleanup() {
	[ -n "$sshd_pid" ] && stop_pid "$sshd_pid"
	# only the user this run made (its comment says so)
	if [ "$(getent passwd "$user" | cut -d: -f5)" = "ferry test ssh_check.sh" ]; then
		userdel "$user" 2>/dev/null
	fi
	cli_cleanup
}
trap cleanup EXIT INT TERM
useradd --system --shell /bin/sh --home-dir / --no-create-home \
	--comment "ferry test ssh_check.sh" --password '*' "$user" || skip "useradd failed"
mkdir -p -m 755 /run/sshd # sshd's privilege separation folder

ssh-keygen -q -t ed25519 -N '' -f hostkey
ssh-keygen -q -t ed25519 -N '' -f otherhostkey
ssh-keygen -q -t ed25519 -N '' -f id
ssh-keygen -q -t ed25519 -N '' -f badid
cp id.pub authorized_keys
chmod 644 authorized_keys

start_sshd() {
	cat >sshd_config <<EOF
ListenAddress 127.0.0.1:$1
HostKey $cli_dir/hostkey
PidFile $cli_dir/sshd.pid
AuthorizedKeysFile $cli_dir/authorized_keys
AllowUsers $user
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
# the folder is under /tmp, which is world-writable (sticky): StrictModes
# would refuse every key in it
StrictModes no
EOF
	/usr/sbin/sshd -f sshd_config -E "$cli_dir/sshd.log" || return 1
	wait_for 10 test -s sshd.pid || return 1
	sshd_pid=$(cat sshd.pid)
	wait_for 10 port_in_use "$1"
}
start_on_free_port 16800 50 start_sshd || { echo "not ok - no sshd started"; exit 1; }
port=$free_port
closed=
for p in $(seq 16850 16899); do
	port_in_use "$p" || { closed=$p; break; }
done

printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 hostkey.pub)" >known_hosts
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 otherhostkey.pub)" >changed_hosts
: >empty_hosts

# sshcfg NAME PORT IDENTITY KNOWN_HOSTS: an ssh config as an operator writes one
sshcfg() {
	cat >"$1" <<EOF
Host 127.0.0.1
	Port $2
	IdentityFile $cli_dir/$3
	IdentitiesOnly yes
	IdentityAgent none
	UserKnownHostsFile $cli_dir/$4
	GlobalKnownHostsFile /dev/null
	StrictHostKeyChecking yes
	BatchMode yes
	ConnectTimeout 5
EOF
}
sshcfg ok.cfg "$port" id known_hosts
sshcfg badkey.cfg "$port" badid known_hosts
sshcfg unknown.cfg "$port" id empty_hosts
sshcfg changed.cfg "$port" id changed_hosts
sshcfg closed.cfg "$closed" id known_hosts

# plan FILE OLD_EXEC NEW_EXEC: hosts only (flow lists); both reached at
# 127.0.0.1, new's address only tells it apart
plan() {
	cat >"$1" <<YAML
name: ssh
hosts:
  old:
    address: 127.0.0.1
    exec: $2
  new:
    address: 127.0.0.2
    exec: $3
rollback: { waiver: "a test of the way into the hosts, not a migration" }
YAML
}
via() { echo "[ssh, -F, $cli_dir/$1, $user@127.0.0.1${2:+, $2}]"; }

plan ok.yaml "$(via ok.cfg)" "$(via ok.cfg)"
"$ferry" check ok.yaml >o 2>e
check "ssh that works: exit 0" test $? -eq 0
check "ssh ok: a row per host, who ferry is there, the key and host key" \
	grep -Eq "^ok +ssh +old +ssh $user@127.0.0.1: a shell as $user \(uid [0-9]+\) in [0-9]+ ms; key accepted, host key known" o
check "ssh ok: the new host too" grep -Eq "^ok +ssh +new " o
check "no sudo row without sudo in the prefix" bash -c '! grep -q "sudo" o'
"$ferry" check ok.yaml --json >o.json 2>e
check "--json: the ssh rows" jq -e '[.checks[] | select(.check == "ssh")] | length == 2 and all(.status == "ok")' o.json >/dev/null

plan bad.yaml "$(via badkey.cfg)" "$(via ok.cfg)"
"$ferry" check bad.yaml >o 2>e
check "a refused key: exit 1" test $? -eq 1
check "a refused key: ssh's own words and a hint" \
	grep -Eq "^fail +ssh +old +exit 255: $user@127.0.0.1: Permission denied \(publickey\)\. \(hint: the key is refused: put its public key in the user's authorized_keys" o
check "a refused key: what it prevents" grep -q "prevents: every command on the host failing when it is needed" o
check "a refused key: only that host" grep -Eq "^ok +ssh +new " o

plan unknown.yaml "$(via unknown.cfg)" "$(via ok.cfg)"
"$ferry" check unknown.yaml >o 2>e
check "an unknown host key: exit 1" test $? -eq 1
check "an unknown host key: ssh's own words and a hint" \
	grep -Eq "^fail +ssh +old +exit 255: No ED25519 host key is known for \[127.0.0.1\]:$port and you have requested strict checking\. / Host key verification failed\. \(hint: the host's key is not in known_hosts" o

plan changed.yaml "$(via changed.cfg)" "$(via ok.cfg)"
"$ferry" check changed.yaml >o 2>e
check "a changed host key: exit 1" test $? -eq 1
check "a changed host key: ssh's words (its last lines) and a hint" \
	grep -Eq "^fail +ssh +old +exit 255: .* … .*Host key for \[127.0.0.1\]:$port has changed .* / Host key verification failed\. \(hint: the host's key is not the one known_hosts pins" o
check "a changed host key: not ssh's @@@ banner" bash -c '! grep -q "@@@" o'

plan closed.yaml "$(via closed.cfg)" "$(via ok.cfg)"
"$ferry" check closed.yaml >o 2>e
check "a closed port: exit 1" test $? -eq 1
check "a closed port: ssh's own words and a hint" \
	grep -Eq "^fail +ssh +old +exit 255: ssh: connect to host 127.0.0.1 port $closed: Connection refused \(hint: nothing listens on the ssh port" o

plan sudo.yaml "$(via ok.cfg "sudo, -n")" "$(via ok.cfg sudo)"
"$ferry" check sudo.yaml >o 2>e
check "sudo refused: exit 1" test $? -eq 1
check "sudo refused: ssh itself is ok" grep -Eq "^ok +ssh +old +ssh $user@127.0.0.1: a shell as $user" o
check "sudo refused: sudo's own words and a hint" \
	grep -Eq "^fail +sudo +old +exit 1: sudo: a password is required \(hint: sudo wants a password for this user: give it NOPASSWD" o
check "sudo refused: what it prevents" grep -q "prevents: a pooler file that cannot be written" o
check "sudo without -n: refused at once too, not hanging" grep -Eq "^fail +sudo +new +exit 1: .*sudo: a (terminal|password) is required" o
"$ferry" check sudo.yaml --json >o.json 2>e
check "--json: the sudo rows" jq -e '[.checks[] | select(.check == "sudo")] | length == 2 and all(.status == "fail")' o.json >/dev/null

exit $fail
