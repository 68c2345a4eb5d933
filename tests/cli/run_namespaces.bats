#!/usr/bin/env bats
# Apptainer's namespace and privilege options of litho run/exec, as root and as an
# unprivileged user: --pid (an init as PID 1, a proc of its own), --no-init, --containall's PID
# and IPC namespaces, --no-pid, --ipc, --uts/--hostname, --net --network none, --userns as root,
# the nosuid image and --allow-setuid, --no-privs, --keep-privs, --add-caps, --drop-caps,
# --security uid/gid. (The init's signal handling is in run_signals.bats.)
#
# Images: plain (a SIF, busybox-static), sandbox (copied where a test adds /etc/hostname).

load helpers
load ../lib/runtime/rt

setup_file() {
	rt_setup_file plain sandbox
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	use_image plain
}

# caps_of FIELD: that capability line of the last run's output (e.g. CapEff).
caps_of() {
	grep "^$1:" <<<"$output" | awk '{print $2}'
}

# --- PID --------------------------------------------------------------------------------------

check_pid() {
	local who=$1 n
	need "$who"
	# the init is PID 1 (named as Apptainer's), the payload 2, and /proc is the namespace's
	lrun "$who" exec --pid "$IMG" sh -c 'echo $$; cat /proc/1/comm; ls -d /proc/[0-9]* | wc -l'
	expect_ok
	n=$(sed -n 3p <<<"$output")
	[[ $(sed -n 1,2p <<<"$output") == $'2\nappinit' && $n -lt 10 ]] ||
		fail "not a PID namespace with an init: $output" || return 1
	lrun "$who" exec -p --no-init "$IMG" sh -c 'echo $$'
	expect_ok
	expect_output 1 || return 1
	# the payload's status and signals come through
	lrun "$who" exec --pid "$IMG" sh -c 'exit 3'
	expect_status 3 || return 1
	lrun "$who" exec --pid "$IMG" false
	expect_status 1 || return 1
	lrun "$who" exec --pid "$IMG" sh -c 'kill -TERM $$; sleep 5'
	expect_status 143 || return 1
	APPTAINER_PID=1 lrun "$who" exec "$IMG" sh -c 'echo $$'
	expect_output 2
}

@test "--pid: PID 1 is an init, the payload's status comes through; --no-init, root" {
	check_pid root
}
@test "--pid: PID 1 is an init, the payload's status comes through; --no-init, user" {
	check_pid user
}

check_containall() {
	local who=$1 host_ipc
	need "$who"
	host_ipc=$(readlink /proc/self/ns/ipc)
	lrun "$who" exec -C "$IMG" sh -c 'echo $$; readlink /proc/self/ns/ipc'
	expect_ok
	[[ $(sed -n 1p <<<"$output") == 2 && $(sed -n 2p <<<"$output") != "$host_ipc" ]] ||
		fail "--containall: expected a PID and an IPC namespace: $output" || return 1
	# --no-pid drops the PID namespace of --containall and --compat (Apptainer documents it)
	local v
	for v in -C --compat; do
		lrun "$who" exec "$v" --no-pid "$IMG" sh -c 'echo $$'
		expect_ok
		[[ $output -gt 2 ]] || fail "$v --no-pid: still a PID namespace ($output)" || return 1
	done
	# --ipc alone, and with --contain a message queue file system of its own
	lrun "$who" exec --ipc --contain "$IMG" sh -c \
		'readlink /proc/self/ns/ipc; grep -c " /dev/mqueue .* mqueue " /proc/self/mountinfo'
	expect_ok
	[[ $(sed -n 1p <<<"$output") != "$host_ipc" && $(sed -n 2p <<<"$output") == 1 ]] ||
		fail "--ipc --contain: $output"
}

@test "--containall: PID and IPC namespaces; --no-pid; --ipc, root" { check_containall root; }
@test "--containall: PID and IPC namespaces; --no-pid; --ipc, user" { check_containall user; }

# --- UTS, network -------------------------------------------------------------------------

check_uts() {
	local who=$1
	need "$who"
	use_image sandbox
	cp -a "$IMG" "$WORK/sb"
	echo "imagehost" >"$WORK/sb/etc/hostname"
	lrun "$who" exec --hostname node-7.example "$WORK/sb" sh -c 'hostname; cat /etc/hostname'
	expect_ok
	expect_output $'node-7.example\nnode-7.example' || return 1
	# --uts alone keeps the name, in a namespace of its own
	lrun "$who" exec --uts "$IMG" sh -c 'hostname; readlink /proc/self/ns/uts'
	expect_ok
	[[ $(sed -n 1p <<<"$output") == "$(hostname)" &&
		$(sed -n 2p <<<"$output") != "$(readlink /proc/self/ns/uts)" ]] ||
		fail "--uts: $output" || return 1
	lrun "$who" exec --hostname foo_bar "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "unable to add foo_bar to hostname file: foo_bar is not a valid hostname"
}

@test "--uts, --hostname (also /etc/hostname), a bad name is fatal, root" { check_uts root; }
@test "--uts, --hostname (also /etc/hostname), a bad name is fatal, user" { check_uts user; }

check_net() {
	local who=$1
	need "$who"
	lrun "$who" exec --net --network none "$IMG" sh -c \
		'cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d " "; ip link show lo | head -1'
	expect_ok
	[[ $(sed -n 1p <<<"$output") == lo && $(wc -l <<<"$output") == 2 &&
		$(sed -n 2p <<<"$output") == *UP* ]] ||
		fail "--network none: not a namespace with lo up only: $output" || return 1
	lrun "$who" exec --network none "$IMG" true
	expect_ok
	expect_stderr_has "Setting --net (required by --network)" || return 1
	lrun "$who" exec --net "$IMG" true
	expect_status 255 || return 1
	if [[ $who == user ]]; then
		expect_stderr_has "non-root users can only use --network=none"
	else
		expect_stderr_has "only --network none (loopback only) is supported"
	fi
}

@test "--net --network none: a loopback-only network namespace; other networks fail, root" {
	check_net root
}
@test "--net --network none: a loopback-only network namespace; other networks fail, user" {
	check_net user
}

@test "--userns as root: a user namespace (0 mapped to 0), the image served by FUSE" {
	need root
	lrun root exec -u "$IMG" sh -c 'cat /proc/self/uid_map; grep " / " /proc/self/mountinfo'
	expect_ok
	[[ $(sed -n 1p <<<"$output" | tr -s ' ') == " 0 0 1" && $output == *fuse* ]] ||
		fail "--userns: $output"
}

# --- privileges -----------------------------------------------------------------------------

@test "root: the image is mounted nosuid, with NO_NEW_PRIVS; --allow-setuid lifts both" {
	need root
	lrun root exec "$IMG" sh -c 'grep " / " /proc/self/mountinfo; grep NoNewPrivs /proc/self/status'
	expect_ok
	[[ $output == *nosuid* && $output == *"NoNewPrivs:	1"* ]] || fail "default: $output" || return 1
	lrun root exec --allow-setuid "$IMG" sh -c \
		'grep " / " /proc/self/mountinfo; grep NoNewPrivs /proc/self/status'
	expect_ok
	[[ $output != *nosuid* && $output == *"NoNewPrivs:	0"* ]] ||
		fail "--allow-setuid: $output"
}

@test "user: --allow-setuid and --keep-privs need root (255)" {
	need user
	lrun user exec --allow-setuid "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "--allow-setuid requires root privileges" || return 1
	lrun user exec --keep-privs "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "--keep-privs requires root privileges"
}

@test "root: --no-privs, --drop-caps, --add-caps, --keep-privs" {
	need root
	local full
	full=$(grep '^CapEff:' /proc/self/status | awk '{print $2}')
	lrun root exec "$IMG" cat /proc/self/status
	[[ $(caps_of CapEff) == "$full" ]] || fail "default: $(caps_of CapEff), not $full" || return 1
	lrun root exec --keep-privs "$IMG" cat /proc/self/status
	[[ $(caps_of CapEff) == "$full" ]] || fail "--keep-privs: $(caps_of CapEff)" || return 1
	lrun root exec --no-privs "$IMG" cat /proc/self/status
	expect_ok
	local f
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		[[ $(caps_of $f) == 0000000000000000 ]] || fail "--no-privs: $f $(caps_of $f)" || return 1
	done
	# CAP_NET_RAW is bit 13; names in any case, CAP_ optional; unknown ones warned about
	lrun root exec --drop-caps net_raw,cap_foo "$IMG" cat /proc/self/status
	expect_ok
	[[ $(( 0x$(caps_of CapEff) & 0x2000 )) == 0 && $(( 0x$(caps_of CapBnd) & 0x2000 )) == 0 &&
		$(( 0x$(caps_of CapEff) & 0x1 )) == 1 ]] ||
		fail "--drop-caps net_raw: $(caps_of CapEff)" || return 1
	expect_stderr_has "won't drop unknown capability: CAP_FOO" || return 1
	lrun root exec --no-privs --add-caps CAP_CHOWN "$IMG" cat /proc/self/status
	[[ $(caps_of CapEff) == 0000000000000001 ]] || fail "--no-privs --add-caps: $(caps_of CapEff)"
}

@test "user: no capabilities; --add-caps grants them (ambient too), --drop-caps removes" {
	need user
	lrun user exec "$IMG" cat /proc/self/status
	expect_ok
	[[ $(caps_of CapEff) == 0000000000000000 ]] || fail "default: $(caps_of CapEff)" || return 1
	lrun user exec --add-caps chown,CAP_Net_Raw,kill --drop-caps kill "$IMG" cat /proc/self/status
	expect_ok
	local f
	for f in CapPrm CapEff CapAmb CapBnd; do
		[[ $(caps_of $f) == 0000000000002001 ]] || fail "--add-caps: $f $(caps_of $f)" || return 1
	done
	lrun user exec --add-caps nosuchcap "$IMG" true
	expect_ok
	expect_stderr_has "won't add unknown capability: CAP_NOSUCHCAP"
}

@test "--security uid:N,gid:M: root runs the payload as them without capabilities" {
	need root
	lrun root exec --security uid:99,gid:98:97 "$IMG" sh -c 'id -u; id -g; id -G; grep CapEff /proc/self/status'
	expect_ok
	[[ $output == $'99\n98\n98 97\nCapEff:\t0000000000000000' ]] || fail "ids: $output" || return 1
	lrun root exec --security uid:abc "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "failed to parse provided UID"
}

@test "--security uid:N: a user is mapped to N in the user namespace" {
	need user
	APPTAINER_SECURITY=uid:4321 lrun user exec "$IMG" sh -c 'id -u; touch /tmp/x-$$ && stat -c %u /tmp/x-$$; rm -f /tmp/x-$$'
	expect_ok
	expect_output $'4321\n4321'
}
