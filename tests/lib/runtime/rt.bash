# shellcheck shell=bash
# Shared helpers of the runtime tests (tests/cli/run_*.bats): litho run/exec/shell/test as root
# and as an unprivileged user.
#
# Load after tests/cli/helpers.bash:
#     load helpers
#     load ../lib/runtime/rt
#
# setup_file:    rt_setup_file [IMAGE...]   (images: busybox plain sandbox oci big noprim
#                                            datapart; see mkrtimages.sh)
# teardown_file: rt_teardown_file
# setup:         rt_setup
#
# Every test runs as one of two identities, WHO = root | user:
#   root  the caller, when it is root (tests for root skip otherwise);
#   user  $LITHO_TEST_USER (default litho-test, created with `useradd -m` when missing) reached
#         with `runuser -u USER --` when the suite runs as root; when it does not, the caller
#         itself (then it must be unprivileged).
# `as WHO CMD...` runs CMD as WHO with TMPDIR set to a private folder of WHO (so litho's
# session directory and --unsquash sandboxes land in the test's own tree). $HOME is root's own
# (a home below /tmp changes what litho does, see run_mounts.bats) or the user's (runuser sets
# it). The tests that write into $HOME remove what they wrote. `lrun WHO ARGS...` is
# `run_split as WHO $LITHO ARGS...` (sets status, output, stderr).
#
# Files the user must read live in $RT_DIR (mode 0755, below ${LITHO_RT_TMP:-/tmp}): the images
# ($RT_IMG/NAME), a copy of the litho binary made in setup_file (readable by the user wherever
# the build is, and the same binary for the whole file even if the build is redone meanwhile;
# $LITHO points at it), the run-singularity link and spawn.py ($RT_DIR/bin). Each test gets
# $WORK, a fresh folder owned by the user, and runs in it.
#
# /dev/fuse: setup_file makes it 0666 when it is not (a fresh VM has 0600) and teardown_file
# puts the old mode back once the last file of the run that needed it is done.

RT_LIB_DIR="$(cd "$BATS_TEST_DIRNAME/../lib/runtime" && pwd)"
RT_USER="${LITHO_TEST_USER:-litho-test}"
export RT_LIB_DIR RT_USER

# --- /dev/fuse ----------------------------------------------------------------------------

# Counts the files of this run that opened /dev/fuse up; the first one saves the mode.
rt_fuse_open_up() {
	[[ $EUID -eq 0 && -e /dev/fuse ]] || return 0
	local state=$BATS_RUN_TMPDIR/litho-rt-fuse
	(
		flock 9
		local n=0
		[[ -f $state.count ]] && n=$(<"$state.count")
		if [[ $n -eq 0 ]]; then
			stat -c %a /dev/fuse >"$state.mode"
		fi
		echo $((n + 1)) >"$state.count"
		chmod 0666 /dev/fuse
	) 9>"$state.lock"
}

rt_fuse_restore() {
	[[ $EUID -eq 0 && -e /dev/fuse ]] || return 0
	local state=$BATS_RUN_TMPDIR/litho-rt-fuse
	[[ -f $state.count ]] || return 0
	(
		flock 9
		local n
		n=$(<"$state.count")
		n=$((n - 1))
		echo "$n" >"$state.count"
		if [[ $n -le 0 && -f $state.mode ]]; then
			chmod "$(<"$state.mode")" /dev/fuse
		fi
	) 9>"$state.lock"
}

# --- identities ---------------------------------------------------------------------------

# as WHO CMD...: runs CMD as WHO (see the header).
as() {
	local who=$1
	shift
	case $who in
	root)
		TMPDIR=$RT_DIR/tmp-root "$@"
		;;
	user)
		if [[ $EUID -eq 0 ]]; then
			TMPDIR=$RT_DIR/tmp-user runuser -u "$RT_USER" -- "$@"
		else
			TMPDIR=$RT_DIR/tmp-user "$@"
		fi
		;;
	*)
		echo "as: unknown identity $who" >&2
		return 2
		;;
	esac
}

# need WHO: skips the test when it cannot run as WHO.
need() {
	case $1 in
	root)
		[[ $EUID -eq 0 ]] || skip "needs root"
		;;
	user)
		if [[ $EUID -eq 0 && -z ${RT_USER_OK:-} ]]; then
			skip "the test user $RT_USER could not be made"
		fi
		;;
	esac
}

# who_uid WHO / who_name WHO / who_home WHO: what the identity looks like from inside.
who_uid() {
	if [[ $1 == root ]]; then echo 0; else echo "$RT_UID"; fi
}
who_name() {
	if [[ $1 == root ]]; then echo root; else echo "$RT_NAME"; fi
}
who_home() {
	if [[ $1 == root ]]; then echo "$RT_ROOT_HOME"; else echo "$RT_HOME"; fi
}
who_tmp() {
	echo "$RT_DIR/tmp-$1"
}

# lrun WHO LITHO-ARGS...: litho as WHO, through run_split.
lrun() {
	local who=$1
	shift
	run_split as "$who" "$LITHO" "$@"
}

# --- images -------------------------------------------------------------------------------

# rt_make_image NAME: makes image NAME under $RT_IMG (a failure is reported by use_image).
rt_make_image() {
	local name=$1 out
	case $name in
	busybox)
		local src=$INTEROP/images/busybox_amd64.sif
		[[ -f $src ]] || return 0
		cp "$src" "$RT_IMG/busybox.sif"
		chmod 0755 "$RT_IMG/busybox.sif"
		return 0
		;;
	plain | big | noprim | datapart | oci) out=$RT_IMG/$name.sif ;;
	sandbox) out=$RT_IMG/sandbox ;;
	*)
		echo "unknown image $name" >&2
		return 1
		;;
	esac
	case $name in
	oci) command -v umoci >/dev/null || return 0 ;;
	esac
	command -v mksquashfs >/dev/null || return 0
	if [[ $name == datapart && -f $RT_IMG/plain.sif ]]; then
		# the plain image's SquashFS as a Data partition (no second mksquashfs)
		{
			"$LITHO" sif dump 1 "$RT_IMG/plain.sif" >"$RT_IMG/plain.sqfs" &&
				"$LITHO" sif new "$out" &&
				"$LITHO" sif add --datatype 4 --partfs 1 --parttype 3 --partarch amd64 \
					"$out" "$RT_IMG/plain.sqfs" && chmod 0755 "$out"
		} >"$RT_IMG/$name.log" 2>&1 || rm -f "$out"
		rm -f "$RT_IMG/plain.sqfs"
		return 0
	fi
	if ! LITHO=$LITHO PYTHON=$PYTHON "$RT_LIB_DIR/mkrtimages.sh" "$name" "$out" \
		>"$RT_IMG/$name.log" 2>&1; then
		rm -rf "$out"
	fi
}

# use_image NAME: sets IMG to the image's path; skips when it cannot be made here, fails with
# the log when making it failed.
use_image() {
	local name=$1
	case $name in
	busybox)
		IMG=$RT_IMG/busybox.sif
		[[ -f $IMG ]] || skip "no $INTEROP/images/busybox_amd64.sif"
		return 0
		;;
	sandbox) IMG=$RT_IMG/sandbox ;;
	*) IMG=$RT_IMG/$name.sif ;;
	esac
	[[ $name != oci ]] || command -v umoci >/dev/null || skip "umoci is not installed"
	command -v mksquashfs >/dev/null || skip "mksquashfs is not installed"
	if [[ ! -e $IMG ]]; then
		echo "making the $name image failed:" >&2
		cat "$RT_IMG/$name.log" >&2 2>/dev/null
		return 1
	fi
}

# --- setup --------------------------------------------------------------------------------

rt_setup_file() {
	RT_DIR=$(mktemp -d "${LITHO_RT_TMP:-/tmp}/litho-rt.XXXXXX")
	chmod 0755 "$RT_DIR"
	RT_IMG=$RT_DIR/img
	mkdir -p "$RT_IMG" "$RT_DIR/bin" "$RT_DIR/work"
	chmod 0755 "$RT_IMG" "$RT_DIR/bin" "$RT_DIR/work"
	export RT_DIR RT_IMG

	RT_USER_OK=
	if [[ $EUID -eq 0 ]]; then
		mkdir -p "$RT_DIR/tmp-root"
		chmod 0700 "$RT_DIR/tmp-root"
		RT_ROOT_HOME=$HOME
		export RT_ROOT_HOME
		if command -v runuser >/dev/null && command -v useradd >/dev/null &&
			"$RT_LIB_DIR/mkuser.sh" "$RT_USER" >&2; then
			RT_USER_OK=1
			RT_UID=$(id -u "$RT_USER")
			RT_GID=$(id -g "$RT_USER")
			RT_NAME=$RT_USER
			RT_HOME=$(getent passwd "$RT_USER" | cut -d: -f6)
		fi
		rt_fuse_open_up
	else
		RT_USER_OK=1
		RT_UID=$(id -u)
		RT_GID=$(id -g)
		RT_NAME=$(id -un)
		RT_HOME=$HOME
	fi
	export RT_USER_OK RT_UID RT_GID RT_NAME RT_HOME
	mkdir -p "$RT_DIR/tmp-user"
	chmod 0700 "$RT_DIR/tmp-user"
	if [[ $EUID -eq 0 && -n $RT_USER_OK ]]; then
		chown "$RT_UID:$RT_GID" "$RT_DIR/tmp-user" "$RT_DIR/work"
	fi

	# The binary and the helpers must be reachable by the user.
	cp "$RT_LIB_DIR/spawn.py" "$RT_DIR/bin/spawn.py"
	chmod 0755 "$RT_DIR/bin/spawn.py"
	# A copy of the binary (when it is one: LITHO may be a wrapper script): readable by the
	# user wherever the build is, and the same binary for the whole file even if the build
	# is redone meanwhile.
	if [[ -f $LITHO && $(head -c 4 "$LITHO" | od -An -c | tr -d ' ') == '177ELF' ]]; then
		cp "$LITHO" "$RT_DIR/bin/litho"
		chmod 0755 "$RT_DIR/bin/litho"
		export LITHO_BUILT=$LITHO # where it was built (the install test needs its folder)
		LITHO=$RT_DIR/bin/litho
		export LITHO
	fi
	ln -s "$LITHO" "$RT_DIR/bin/run-singularity"

	local n
	for n in "$@"; do
		rt_make_image "$n"
	done
}

rt_teardown_file() {
	rt_fuse_restore
	if [[ -n ${RT_DIR:-} && -d $RT_DIR ]]; then
		# nothing may be mounted below it (a failed test could leave a loop mount as root)
		if grep -qF " $RT_DIR/" /proc/self/mountinfo; then
			echo "mounts left below $RT_DIR:" >&2
			grep -F " $RT_DIR/" /proc/self/mountinfo >&2
			return 1
		fi
		rm -rf "$RT_DIR"
	fi
}

# rt_setup: per-test setup: common_setup, then a fresh $WORK owned by the user, entered.
rt_setup() {
	common_setup
	WORK=$RT_DIR/work/t$BATS_TEST_NUMBER
	rm -rf "$WORK"
	mkdir -p "$WORK"
	chmod 0755 "$WORK"
	if [[ $EUID -eq 0 && -n ${RT_USER_OK:-} ]]; then
		chown "$RT_UID:$RT_GID" "$WORK"
	fi
	export WORK
	cd "$WORK" || return 1
}

# --- checks -------------------------------------------------------------------------------

# fail MESSAGE...: prints MESSAGE and returns 1.
fail() {
	printf '%s\n' "$*" >&2
	return 1
}

# show: the last lrun's status, stdout and stderr (for failure messages).
# shellcheck disable=SC2154 # set by run_split
show() {
	printf 'status: %s\n--- stdout:\n%s\n--- stderr:\n%s\n' "$status" "$output" "$stderr" >&2
}

# expect_status N: the last lrun ended with status N.
expect_status() {
	if [[ $status -ne $1 ]]; then
		echo "expected status $1, got $status" >&2
		show
		return 1
	fi
}

# expect_output TEXT: the last lrun printed exactly TEXT on stdout.
expect_output() {
	if [[ $output != "$1" ]]; then
		printf 'expected stdout:\n%s\n' "$1" >&2
		show
		return 1
	fi
}

# expect_stdout_has TEXT / expect_stderr_has TEXT: substring checks.
expect_stdout_has() {
	if [[ $output != *"$1"* ]]; then
		printf 'expected stdout to contain: %s\n' "$1" >&2
		show
		return 1
	fi
}
expect_stderr_has() {
	if [[ $stderr != *"$1"* ]]; then
		printf 'expected stderr to contain: %s\n' "$1" >&2
		show
		return 1
	fi
}

# expect_ok: status 0 and no crash output.
expect_ok() {
	expect_status 0 || return 1
	refute_crash_output "$output$stderr" || return 1
}

# host_mounts_matching TEXT: the host mountinfo lines that contain TEXT.
host_mounts_matching() {
	grep -F -- "$1" /proc/self/mountinfo || true
}

# fuse_mounts: the host's FUSE mounts (mount point and source), one a line.
fuse_mounts() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") break; if ($(i + 1) ~ /^fuse/) print $5, $(i + 1), $(i + 2) }' \
		/proc/self/mountinfo
}

# loops_of FILE: the loop devices backed by FILE (root only; nothing when losetup is missing).
loops_of() {
	if [[ $EUID -eq 0 ]] && command -v losetup >/dev/null; then
		losetup -j "$1" 2>/dev/null || true
	fi
}

# wait_for_file FILE [SECONDS] [PATTERN]: waits until FILE exists (and holds PATTERN).
wait_for_file() {
	local f=$1 secs=${2:-10} pat=${3:-} i
	for ((i = 0; i < secs * 20; i++)); do
		if [[ -s $f ]] && { [[ -z $pat ]] || grep -q -- "$pat" "$f"; }; then
			return 0
		fi
		sleep 0.05
	done
	echo "timed out after ${secs}s waiting for $f${pat:+ to contain $pat}" >&2
	[[ -f $f ]] && cat "$f" >&2
	return 1
}

# wait_gone PID [SECONDS]: waits until process PID has exited; kills it and fails after.
wait_gone() {
	local pid=$1 secs=${2:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	echo "process $pid still runs after ${secs}s; killing it" >&2
	kill -KILL "$pid" 2>/dev/null
	return 1
}

# marker: a unique sleep duration (busybox sleep takes fractions), so that the processes of a
# test can be found by their command line: `sleep $(marker)`.
marker() {
	echo "$((100 + RANDOM % 800)).$RANDOM$BATS_TEST_NUMBER"
}

# procs_matching TEXT: pids (with command lines) whose command line contains TEXT.
procs_matching() {
	pgrep -a -f -- "$1" || true
}

# no_procs_matching TEXT [SECONDS]: fails when a process whose command line contains TEXT
# still runs after SECONDS (default 2) of grace; kills them then.
no_procs_matching() {
	local text=$1 secs=${2:-2} i left
	for ((i = 0; i <= secs * 20; i++)); do
		left=$(procs_matching "$text")
		[[ -z $left ]] && return 0
		sleep 0.05
	done
	echo "processes left behind:" >&2
	echo "$left" >&2
	local pid
	for pid in $(pgrep -f -- "$text"); do
		kill -KILL "$pid" 2>/dev/null
	done
	return 1
}
