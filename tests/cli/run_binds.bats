#!/usr/bin/env bats
# Apptainer's bind and scratch-space rules in litho run/exec, as root and as an unprivileged
# user: \, and \: in -B and APPTAINER_BIND, nested bind destinations made in the first bind's
# source on the host, what --writable refuses (255), --underlay, --no-mount lists, --no-home
# without any mount, --workdir and --scratch, --compat.
#
# Images: plain (a SIF, no /home), sandbox (a directory; copied where a test writes to it).

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
	unset APPTAINER_BIND LITHO_BIND SINGULARITY_BIND
	use_image plain
}

# user_dirs DIR...: directories the test's identity can write (as root: chown to the user).
user_dirs() {
	mkdir -p "$@"
	chmod 0755 "$@"
	if [[ $EUID -eq 0 && -n ${RT_USER_OK:-} ]]; then
		chown "$RT_UID:$RT_GID" "$@"
	fi
}

check_escapes() {
	local who=$1
	need "$who"
	user_dirs "$WORK/a,b" "$WORK/c:d"
	echo comma >"$WORK/a,b/f"
	echo colon >"$WORK/c:d/f"
	lrun "$who" exec -B "$WORK/a\\,b:/m1" -B "$WORK/c\\:d:/m2:ro" "$IMG" cat /m1/f /m2/f
	expect_ok
	expect_output $'comma\ncolon' || return 1
	APPTAINER_BIND="$WORK/a\\,b:/m3,$WORK/c\\:d" lrun "$who" exec "$IMG" cat /m3/f "$WORK/c:d/f"
	expect_ok
	expect_output $'comma\ncolon' || return 1
	# unescaped, the comma splits the bind: a missing source, fatal as in Apptainer
	lrun "$who" exec -B "$WORK/a,b:/m1" "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "mount source b doesn't exist" || return 1
	lrun "$who" exec -B "$WORK/a\\,b:relative" "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "destination must be an absolute path" || return 1
	lrun "$who" exec -B "$WORK/a\\,b:/x:foo" "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "foo is not a valid bind option"
}

@test "-B: \\, and \\: in paths (also APPTAINER_BIND); bad binds are fatal (255), root" {
	check_escapes root
}
@test "-B: \\, and \\: in paths (also APPTAINER_BIND); bad binds are fatal (255), user" {
	check_escapes user
}

check_nested() {
	local who=$1 uid
	need "$who"
	uid=$(who_uid "$who")
	user_dirs "$WORK/hostdir" "$WORK/sub"
	echo file2 >"$WORK/hostfile"
	chmod 0644 "$WORK/hostfile"
	# the nested destination is made in the first bind's source on the host, and stays; the
	# order on the command line does not matter (binds go by depth); also when ro
	lrun "$who" exec -B "$WORK/hostfile:/canary/file2" -B "$WORK/hostdir:/canary:ro" \
		-B "$WORK/sub:/canary/dir2" "$IMG" sh -c 'cat /canary/file2; ls /canary'
	expect_ok
	expect_output $'file2\ndir2\nfile2' || return 1
	[[ -f $WORK/hostdir/file2 && ! -s $WORK/hostdir/file2 && -d $WORK/hostdir/dir2 ]] ||
		fail "the mount points were not left in the source: $(ls -la "$WORK/hostdir")" ||
		return 1
	[[ $(stat -c %u "$WORK/hostdir/file2") == "$uid" ]] ||
		fail "made by $(stat -c %u "$WORK/hostdir/file2"), not $uid" || return 1
	# below the home (-H) too
	user_dirs "$WORK/home"
	lrun "$who" exec -H "$WORK/home:/home/e2e" -B "$WORK/hostfile:/home/e2e/canaryRO" "$IMG" \
		cat /home/e2e/canaryRO
	expect_ok
	[[ -f $WORK/home/canaryRO ]] || fail "not made in the home's source" || return 1
	# a destination in the image itself still goes to an underlay: the image is unchanged
	lrun "$who" exec -B "$WORK/hostfile:/opt/new/f" "$IMG" sh -c 'cat /opt/new/f; ls /opt'
	expect_ok
	expect_output $'file2\ndata\nnew' || return 1
	# --underlay is Apptainer's name for that
	lrun "$who" exec --underlay -B "$WORK/hostfile:/newtop/f" "$IMG" cat /newtop/f
	expect_ok
	expect_output file2
}

@test "nested bind destinations are made in the first bind's source on the host, root" {
	check_nested root
}
@test "nested bind destinations are made in the first bind's source on the host, user" {
	check_nested user
}

check_writable_refusals() {
	local who=$1
	need "$who"
	use_image sandbox
	cp -a "$IMG" "$WORK/sb"
	[[ $who == user && $EUID -eq 0 ]] && chown -R "$RT_UID:$RT_GID" "$WORK/sb"
	user_dirs "$WORK/hostdir"
	echo f >"$WORK/hostfile"
	chmod 0644 "$WORK/hostfile"
	(cd "$WORK/sb" && find . | sort) >"$WORK/before"
	lrun "$who" exec -w -B "$WORK/hostdir:/canary" "$WORK/sb" true
	expect_status 255 || return 1
	expect_stderr_has "can't create /canary destination automatically without overlay or underlay" ||
		return 1
	expect_stderr_has "destination /canary doesn't exist in container" || return 1
	lrun "$who" exec --writable -H "$WORK/hostdir:/canary/home" "$WORK/sb" true
	expect_status 255 || return 1
	expect_stderr_has "destination /canary doesn't exist in container" || return 1
	# below a directory bound from the host, the destination is made there (on the host)
	lrun "$who" exec -w -B "$WORK/hostfile:$WORK/hostdir/f3" "$WORK/sb" cat "$WORK/hostdir/f3"
	expect_ok
	expect_output f || return 1
	# a --home whose top directory the image has: the rest is made, not in the image
	lrun "$who" exec -w -H "$WORK/hostdir:/opt/newhome" "$WORK/sb" sh -c 'echo $HOME; ls /opt/newhome'
	expect_ok
	expect_output $'/opt/newhome\nf3' || return 1
	(cd "$WORK/sb" && find . | sort) >"$WORK/after"
	cmp -s "$WORK/before" "$WORK/after" || {
		diff "$WORK/before" "$WORK/after" >&2
		fail "--writable made mount points in the image"
	}
}

@test "--writable: binds and --home to destinations the image lacks are refused (255), root" {
	check_writable_refusals root
}
@test "--writable: binds and --home to destinations the image lacks are refused (255), user" {
	check_writable_refusals user
}

check_no_mount() {
	local who=$1
	need "$who"
	# comma lists; each item's mount is gone
	lrun "$who" exec --no-mount tmp,cwd,bind-paths --no-mount home "$IMG" sh -c '
		grep -cE " /(tmp|var/tmp|etc/hosts|etc/localtime|etc/resolv.conf|home) " /proc/self/mountinfo'
	[[ $output == 0 ]] || fail "mounts left: $output $stderr" || return 1
	lrun "$who" exec --no-mount proc "$IMG" sh -c 'test -e /proc/self || echo no-proc'
	expect_output no-proc || return 1
	APPTAINER_NO_MOUNT=sys,dev lrun "$who" exec "$IMG" sh -c \
		'grep -cE " - (sysfs|devtmpfs|devpts) " /proc/self/mountinfo || true'
	expect_output 0 || return 1
	# devpts with --contain's minimal /dev; an unknown item is warned about
	lrun "$who" exec --contain --no-mount devpts,nonsense "$IMG" sh -c \
		'grep -c " /dev/pts " /proc/self/mountinfo; test -e /dev/ptmx || echo no-ptmx'
	expect_output $'0\nno-ptmx' || return 1
	expect_stderr_has "Ignoring unknown mount type 'nonsense'" || return 1
	# --no-home: no mount at $HOME at all (a home the image lacks stays missing), HOME set
	run_split as "$who" env HOME=/litho-no-home "$LITHO" exec --no-home --pwd / "$IMG" \
		sh -c 'echo "$HOME"; ls -d "$HOME" 2>&1 || true'
	expect_ok
	[[ $(sed -n 1p <<<"$output") == /litho-no-home && $output == *"No such file"* ]] ||
		fail "--no-home: $output"
}

@test "--no-mount takes lists, each mount goes; --no-home mounts nothing, root" {
	check_no_mount root
}
@test "--no-mount takes lists, each mount goes; --no-home mounts nothing, user" {
	check_no_mount user
}

check_workdir() {
	local who=$1
	need "$who"
	user_dirs "$WORK/wd"
	# --contain: DIR/tmp, DIR/var_tmp and DIR/home, kept after the run
	lrun "$who" exec --contain -W "$WORK/wd" "$IMG" sh -c \
		'touch /tmp/t /var/tmp/v "$HOME/h"; ls -ld /tmp | cut -c1-10'
	expect_ok
	expect_output drwxrwxrwt || return 1
	[[ -f $WORK/wd/tmp/t && -f $WORK/wd/var_tmp/v && -f $WORK/wd/home/h ]] ||
		fail "not kept in the workdir: $(find "$WORK/wd")" || return 1
	[[ $(stat -c %a "$WORK/wd/home") == 700 ]] || fail "home is $(stat -c %a "$WORK/wd/home")" ||
		return 1
	# --scratch: below DIR/scratch with --workdir, a session directory otherwise; comma lists
	lrun "$who" exec -W "$WORK/wd" -S /scratch,/other "$IMG" sh -c 'touch /scratch/s /other/o'
	expect_ok
	[[ -f $WORK/wd/scratch/scratch/s && -f $WORK/wd/scratch/other/o ]] ||
		fail "scratch not below the workdir: $(find "$WORK/wd/scratch")" || return 1
	lrun "$who" exec --scratch /scr "$IMG" sh -c 'touch /scr/x && ls /scr'
	expect_ok
	expect_output x || return 1
	# a missing workdir is fatal
	lrun "$who" exec --contain --workdir "$WORK/nowhere" "$IMG" true
	expect_status 255 || return 1
	expect_stderr_has "failed to create $WORK/nowhere/tmp"
}

@test "--workdir backs --contain's /tmp, /var/tmp and home; --scratch, root" { check_workdir root; }
@test "--workdir backs --contain's /tmp, /var/tmp and home; --scratch, user" { check_workdir user; }

check_compat() {
	local who=$1
	need "$who"
	# --containall + --no-init (the payload is PID 1) + --no-umask + --no-eval +
	# --writable-tmpfs, an empty home
	APPTAINERENV_X='$HOME' lrun "$who" exec --compat "$IMG" sh -c \
		'echo $$; umask; touch /test && echo writable; echo "$X"; ls -A "$HOME" | wc -l'
	expect_ok
	expect_output $'1\n0022\nwritable\n$HOME\n0'
}

@test "--compat: containall, no init, umask 0022, no eval, writable tmpfs, root" { check_compat root; }
@test "--compat: containall, no init, umask 0022, no eval, writable tmpfs, user" { check_compat user; }
