#!/usr/bin/env bats
# Exit codes, signals and cleanup of litho exec, as root and as an unprivileged user:
# status 0 / 42 / 128+signal (the launcher dies of the payload's signal), SIGTERM and SIGINT
# forwarded to the payload, nothing left mounted (on the host) or running after a normal exit,
# after a SIGKILL of the launcher and after the payload leaves a background process.
#
# Image: the plain SIF (mksquashfs + litho sif, busybox-static, no Apptainer metadata).

load helpers
load ../lib/runtime/rt

setup_file() {
	rt_setup_file plain
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	use_image plain
}

# start_bg WHO LITHO-ARGS...: starts litho as WHO in the background through spawn.py; sets
# BG (the pid of the background job), LPID (the pid of litho itself), BG_OUT (stdout+stderr)
# and BG_STATUS (spawn.py's verdict file: "exit N" / "signal N").
start_bg() {
	local who=$1
	shift
	BG_OUT=$WORK/bg.out
	BG_STATUS=$WORK/bg.status
	rm -f "$WORK/bg.pid" "$BG_STATUS"
	as "$who" "$PYTHON" "$RT_DIR/bin/spawn.py" "$WORK/bg.pid" "$BG_STATUS" \
		"$LITHO" "$@" >"$BG_OUT" 2>&1 </dev/null &
	BG=$!
	wait_for_file "$WORK/bg.pid" 10 || return 1
	LPID=$(<"$WORK/bg.pid")
}

# finish_bg [SECONDS]: waits for the background job (killing it after SECONDS) and sets
# BG_VERDICT and BG_TEXT.
finish_bg() {
	local secs=${1:-10} rc=0
	wait_gone "$LPID" "$secs" || rc=1
	wait "$BG" || true
	BG_VERDICT=$(cat "$BG_STATUS" 2>/dev/null || echo "no verdict")
	BG_TEXT=$(<"$BG_OUT")
	if [[ $rc -ne 0 ]]; then
		echo "litho did not exit; its output:" >&2
		printf '%s\n' "$BG_TEXT" >&2
	fi
	return $rc
}

# --- exit codes ---------------------------------------------------------------------------

check_exit_codes() {
	local who=$1
	need "$who"
	lrun "$who" exec "$IMG" sh -c 'exit 0'
	expect_status 0
	lrun "$who" exec "$IMG" sh -c 'exit 42'
	expect_status 42
	lrun "$who" run "$IMG" -c 'exit 42'
	expect_status 42
	# the payload kills itself: bash sees 128 + the signal
	lrun "$who" exec "$IMG" sh -c 'kill -TERM $$; sleep 5'
	expect_status 143
	lrun "$who" exec "$IMG" sh -c 'kill -KILL $$; sleep 5'
	expect_status 137
	# ... and the launcher itself dies of that signal (not exit(143)), as Apptainer's does
	start_bg "$who" exec "$IMG" sh -c 'kill -TERM $$; sleep 5'
	finish_bg
	[[ $BG_VERDICT == "signal 15" ]] ||
		fail "litho should die of SIGTERM like its payload, but: $BG_VERDICT" || return 1
	start_bg "$who" exec "$IMG" sh -c 'kill -KILL $$; sleep 5'
	finish_bg
	[[ $BG_VERDICT == "signal 9" ]] ||
		fail "litho should die of SIGKILL like its payload, but: $BG_VERDICT"
}

@test "exit status 0, 42, 143 (SIGTERM), 137 (SIGKILL), root" { check_exit_codes root; }
@test "exit status 0, 42, 143 (SIGTERM), 137 (SIGKILL), user" { check_exit_codes user; }

# --- forwarding -----------------------------------------------------------------------------

# check_forward WHO SIG: SIG sent to litho reaches the payload, whose trap prints and exits 3.
check_forward() {
	local who=$1 sig=$2 m
	need "$who"
	m=$(marker)
	start_bg "$who" exec "$IMG" sh -c \
		"trap 'echo got $sig; exit 3' $sig; echo ready; sleep $m & wait"
	wait_for_file "$BG_OUT" 10 ready || { kill -KILL "$LPID"; return 1; }
	kill "-$sig" "$LPID"
	finish_bg 10
	[[ $BG_TEXT == *"got $sig"* ]] || fail "the payload's trap did not run: $BG_TEXT" || return 1
	[[ $BG_VERDICT == "exit 3" ]] ||
		fail "litho should exit with the payload's status 3, but: $BG_VERDICT; output: $BG_TEXT" ||
		return 1
	no_procs_matching "sleep $m"
}

@test "SIGTERM to litho reaches the payload (trap output, status 3), root" { check_forward root TERM; }
@test "SIGTERM to litho reaches the payload (trap output, status 3), user" { check_forward user TERM; }
@test "SIGINT to litho reaches the payload (trap output, status 3), root" { check_forward root INT; }
@test "SIGINT to litho reaches the payload (trap output, status 3), user" { check_forward user INT; }
@test "SIGHUP to litho reaches the payload (trap output, status 3), user" { check_forward user HUP; }
@test "SIGUSR1 to litho reaches the payload (trap output, status 3), user" { check_forward user USR1; }

# check_term_no_trap WHO: SIGTERM to litho, the payload does not catch it: it dies, and litho
# dies of SIGTERM too.
check_term_no_trap() {
	local who=$1 m
	need "$who"
	m=$(marker)
	start_bg "$who" exec "$IMG" sh -c "echo ready; exec sleep $m"
	wait_for_file "$BG_OUT" 10 ready || { kill -KILL "$LPID"; return 1; }
	kill -TERM "$LPID"
	finish_bg 10
	[[ $BG_VERDICT == "signal 15" ]] ||
		fail "litho should die of SIGTERM like its payload, but: $BG_VERDICT; output: $BG_TEXT" ||
		return 1
	no_procs_matching "sleep $m"
}

@test "SIGTERM to litho, payload without a trap: both die of SIGTERM, root" { check_term_no_trap root; }
@test "SIGTERM to litho, payload without a trap: both die of SIGTERM, user" { check_term_no_trap user; }

# --- cleanup ------------------------------------------------------------------------------

# snapshot_mounts: saves the host's FUSE mounts and the mounts below $RT_DIR.
snapshot_mounts() {
	fuse_mounts >"$WORK/fuse.before"
	host_mounts_matching "$RT_DIR" >"$WORK/rt.before"
}

# check_no_new_mounts WHEN [running]: no FUSE mount and no mount below $RT_DIR appeared on the
# host, and (unless "running" is given: as root the image is on a loop device while it runs)
# no loop device is left on the image.
check_no_new_mounts() {
	local when=$1 running=${2:-} now
	now=$(fuse_mounts)
	if [[ $now != "$(<"$WORK/fuse.before")" ]]; then
		echo "$when: the host's FUSE mounts changed:" >&2
		diff <(cat "$WORK/fuse.before") <(echo "$now") >&2
		return 1
	fi
	now=$(host_mounts_matching "$RT_DIR")
	if [[ $now != "$(<"$WORK/rt.before")" ]]; then
		echo "$when: mounts below $RT_DIR (the session is $(who_tmp root)/litho-* or" \
			"$(who_tmp user)/litho-*) on the host:" >&2
		echo "$now" >&2
		return 1
	fi
	[[ -z $running ]] || return 0
	now=$(loops_of "$IMG")
	[[ -z $now ]] || fail "$when: loop devices left on the image: $now"
}

check_no_mounts_after_exit() {
	local who=$1
	need "$who"
	snapshot_mounts
	lrun "$who" exec "$IMG" sh -c 'cat /opt/data/file.txt'
	expect_ok
	expect_output "image data"
	check_no_new_mounts "after a normal exit"
	lrun "$who" exec "$IMG" sh -c 'exit 42'
	expect_status 42
	check_no_new_mounts "after exit 42"
	lrun "$who" exec --writable-tmpfs -B "$WORK:/mnt/w" "$IMG" true
	expect_ok
	check_no_new_mounts "after --writable-tmpfs and a bind"
}

@test "no mount left on the host after a normal exit, root" { check_no_mounts_after_exit root; }
@test "no mount left on the host after a normal exit, user" { check_no_mounts_after_exit user; }

check_sigkill_launcher() {
	local who=$1 m
	need "$who"
	snapshot_mounts
	m=$(marker)
	start_bg "$who" exec "$IMG" sh -c "echo ready; exec sleep $m"
	wait_for_file "$BG_OUT" 10 ready || { kill -KILL "$LPID"; return 1; }
	# while it runs, the image mount lives only in litho's namespace
	check_no_new_mounts "while the payload runs (the mounts should be private)" running || {
		kill -KILL "$LPID"
		return 1
	}
	kill -KILL "$LPID"
	finish_bg 10
	[[ $BG_VERDICT == "signal 9" ]] || fail "unexpected end of litho: $BG_VERDICT" || return 1
	# the payload goes with it
	no_procs_matching "sleep $m" 3 || return 1
	sleep 0.2
	check_no_new_mounts "after SIGKILL of litho"
	# and the next run works
	lrun "$who" exec "$IMG" echo next
	expect_ok
	expect_output next
}

@test "SIGKILL of litho while the payload runs: payload gone, no mount left, root" {
	check_sigkill_launcher root
}
@test "SIGKILL of litho while the payload runs: payload gone, no mount left, user" {
	check_sigkill_launcher user
}

check_background() {
	local who=$1 m t0 t1
	need "$who"
	m=$(marker)
	t0=$(date +%s%N)
	lrun "$who" exec "$IMG" sh -c "sleep $m & echo started"
	t1=$(date +%s%N)
	expect_ok
	expect_output started
	(((t1 - t0) / 1000000 < 5000)) ||
		fail "litho returned after $(((t1 - t0) / 1000000)) ms (expected < 5 s)" || return 1
	no_procs_matching "sleep $m" 2
}

@test "payload leaves a background process: quick return, status 0, nothing left, root" {
	check_background root
}
@test "payload leaves a background process: quick return, status 0, nothing left, user" {
	check_background user
}

# --- the init of --pid ----------------------------------------------------------------------

# check_pid_init WHO: with --pid, SIGTERM to litho reaches a payload that has no handler for it
# (the init forwards it; PID 1 itself would not die of it), and litho exits 128 + 15 like
# Apptainer's appinit; the init also reaps the orphans it adopts.
check_pid_init() {
	local who=$1 m
	need "$who"
	m=$(marker)
	start_bg "$who" exec --pid "$IMG" sh -c "echo ready; exec sleep $m"
	wait_for_file "$BG_OUT" 10 ready || { kill -KILL "$LPID"; return 1; }
	kill -TERM "$LPID"
	finish_bg 10
	[[ $BG_VERDICT == "exit 143" ]] ||
		fail "litho --pid should exit 143 after SIGTERM, but: $BG_VERDICT; $BG_TEXT" || return 1
	no_procs_matching "sleep $m" || return 1
	# an orphan (the inner sh's background usleep) goes to PID 1, which must reap it: the
	# payload (sleep) never would (with --no-init the usleep stays a zombie)
	start_bg "$who" exec --pid "$IMG" sh -c 'sh -c "usleep 100000 &"; echo ready; exec sleep 1'
	wait_for_file "$BG_OUT" 10 ready || { kill -KILL "$LPID"; return 1; }
	sleep 0.5
	local zombies
	zombies=$(grep -l ') Z' /proc/[0-9]*/stat 2>/dev/null | xargs -r grep -l '(usleep)' || true)
	finish_bg 10
	[[ -z $zombies ]] || fail "the orphan was not reaped: $zombies" || return 1
	[[ $BG_VERDICT == "exit 0" ]] || fail "litho --pid: $BG_VERDICT; $BG_TEXT"
}

@test "--pid: the init forwards SIGTERM (status 143) and reaps orphans, root" {
	check_pid_init root
}
@test "--pid: the init forwards SIGTERM (status 143) and reaps orphans, user" {
	check_pid_init user
}
