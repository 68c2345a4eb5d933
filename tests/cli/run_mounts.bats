#!/usr/bin/env bats
# What the container sees, as root and as an unprivileged user: -B/--mount binds (ro, rw,
# missing destinations), --contain / --containall, --writable-tmpfs and the read-only image,
# the working directory and --pwd, $HOME and -H, the user's /etc/passwd entry, file
# ownership, the umask, --unsquash.
#
# Images: plain (mksquashfs + litho sif, all files owned by root, no /home), sandbox (a
# directory), busybox (Singularity 3.8), oci (litho-built).

load helpers
load ../lib/runtime/rt

setup_file() {
	rt_setup_file plain sandbox busybox oci
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	unset APPTAINER_BIND LITHO_BIND SINGULARITY_BIND
}

# mkdirs_as_user DIR...: directories in $WORK the user owns (as root: chown).
mkdirs_as_user() {
	mkdir -p "$@"
	chmod 0755 "$@"
	if [[ $EUID -eq 0 && -n ${RT_USER_OK:-} ]]; then
		chown "$RT_UID:$RT_GID" "$@"
	fi
}

# --- binds --------------------------------------------------------------------------------

check_binds() {
	local who=$1 uid
	need "$who"
	use_image plain
	uid=$(who_uid "$who")
	mkdirs_as_user "$WORK/ro" "$WORK/rw" "$WORK/same"
	echo "host file" >"$WORK/ro/in-ro"
	chmod 0644 "$WORK/ro/in-ro"

	# ro: readable, a write fails with EROFS; rw: the host sees the file, owned by the caller;
	# destinations missing in the image (/data, /newdir/deep) are created
	lrun "$who" exec -B "$WORK/ro:/data/ro:ro" -B "$WORK/rw:/newdir/deep/rw" "$IMG" sh -c '
		cat /data/ro/in-ro
		if touch /data/ro/new 2>/dev/null; then echo "ro write worked"; else echo "ro write failed"; fi
		touch /data/ro/new2
		echo written >/newdir/deep/rw/out && echo "rw write ok"'
	expect_ok
	expect_output $'host file\nro write failed\nrw write ok'
	expect_stderr_has "Read-only file system"
	[[ ! -e $WORK/ro/new && ! -e $WORK/ro/new2 ]] || fail "a write to the ro bind reached the host"
	[[ $(cat "$WORK/rw/out") == written ]] || fail "the host does not see the file written to the rw bind"
	[[ $(stat -c %u "$WORK/rw/out") == "$uid" ]] ||
		fail "the file written through the bind is owned by $(stat -c %u "$WORK/rw/out"), not $uid"

	# :rw spelled out, a destination equal to the source, a comma list
	lrun "$who" exec -B "$WORK/rw:/m/rw:rw,$WORK/ro:/m/ro:ro" -B "$WORK/same" "$IMG" sh -c \
		'touch /m/rw/f2 && echo ok1; touch /m/ro/f3 2>/dev/null || echo ok2; ls "$0"' "$WORK/same"
	expect_ok
	expect_output $'ok1\nok2'
	[[ -e $WORK/rw/f2 ]] || fail "-B src:dst:rw did not write through"

	# --mount type=bind,...,ro
	lrun "$who" exec --mount "type=bind,src=$WORK/ro,dst=/opt/mnt-ro,ro" \
		--mount "type=bind,source=$WORK/rw,destination=/opt/mnt-rw" "$IMG" sh -c \
		'cat /opt/mnt-ro/in-ro; touch /opt/mnt-ro/x 2>/dev/null || echo ro; touch /opt/mnt-rw/y && echo rw'
	expect_ok
	expect_output $'host file\nro\nrw'

	# APPTAINER_BIND and LITHO_BIND
	APPTAINER_BIND="$WORK/ro:/e1:ro,$WORK/rw:/e2" lrun "$who" exec "$IMG" sh -c \
		'cat /e1/in-ro; touch /e1/x 2>/dev/null || echo ro; touch /e2/z && echo rw'
	expect_ok
	expect_output $'host file\nro\nrw'
	LITHO_BIND="$WORK/ro:/e3:ro" lrun "$who" exec "$IMG" cat /e3/in-ro
	expect_ok
	expect_output "host file"
}

@test "binds: -B ro (EROFS) and rw (host sees it), missing destinations, --mount, env, root" {
	check_binds root
}
@test "binds: -B ro (EROFS) and rw (host sees it), missing destinations, --mount, env, user" {
	check_binds user
}

check_bind_errors() {
	local who=$1
	need "$who"
	use_image plain
	lrun "$who" exec -B "$WORK/no-such-dir:/x" "$IMG" true
	expect_status 255
	refute_crash_output "$output$stderr"
	expect_stderr_has "$WORK/no-such-dir"
}

@test "binds: a missing source is a clear error, root" { check_bind_errors root; }
@test "binds: a missing source is a clear error, user" { check_bind_errors user; }

# --- --contain / --containall -------------------------------------------------------------

check_contain() {
	local who=$1 opt home
	need "$who"
	use_image plain
	home=$(who_home "$who")
	# something in the host's $HOME (/tmp has $WORK anyway)
	touch "$home/.litho-rt-host-marker"
	for opt in --contain -c --containall -C; do
		FOOHOST=1 lrun "$who" exec "$opt" "$IMG" sh -c '
			echo "tmp: $(ls -A /tmp | wc -l) $(ls -A /var/tmp | wc -l)"
			echo "home: $HOME $(ls -A "$HOME" | wc -l)"
			echo x >/dev/null && echo "dev/null ok"
			head -c 4 /dev/zero | od -An -tx1 | tr -d " \n"; echo
			if [ -e /dev/fuse ]; then echo "has fuse"; fi
			for d in /dev/loop*; do [ -e "$d" ] && echo "has $d"; done
			touch /tmp/in-container "$HOME/in-container" && echo "writable"
			echo "FOOHOST=${FOOHOST-unset}"'
		expect_ok
		expect_stdout_has $'tmp: 0 0\nhome: '"$home"$' 0\ndev/null ok\n00000000\nwritable' ||
			fail "with $opt" || return 1
		if [[ $output == *"has "* ]]; then
			fail "with $opt, /dev is not minimal: $output" || return 1
		fi
		case $opt in
		--containall | -C) expect_stdout_has "FOOHOST=unset" || return 1 ;;
		*) expect_stdout_has "FOOHOST=1" || return 1 ;;
		esac
		[[ ! -e $home/in-container && ! -e /tmp/in-container ]] ||
			fail "with $opt, a file written in the private /tmp or \$HOME reached the host" || return 1
	done
	rm -f "$home/.litho-rt-host-marker"
	# without --contain, the host's /dev, /tmp and $HOME are there
	lrun "$who" exec "$IMG" sh -c 'test -e /dev/fuse && ls -A "$HOME" && test -d "$0" && echo ok' "$WORK"
	expect_ok
	expect_stdout_has ok
}

@test "--contain/-c/--containall/-C: empty private /tmp and \$HOME, minimal /dev, root" {
	check_contain root
}
@test "--contain/-c/--containall/-C: empty private /tmp and \$HOME, minimal /dev, user" {
	check_contain user
}

# --- writable-tmpfs and the read-only image ------------------------------------------------

check_writable_tmpfs() {
	local who=$1
	need "$who"
	use_image plain
	lrun "$who" exec --writable-tmpfs "$IMG" sh -c '
		echo new >/etc/litho-new && cat /etc/litho-new
		echo more >>/opt/data/file.txt && cat /opt/data/file.txt
		mkdir -p /usr/litho-dir/sub && echo mkdir ok
		rm /bin/true && echo rm ok'
	expect_ok
	expect_output $'new\nimage data\nmore\nmkdir ok\nrm ok'
	# a second run sees the image as it was
	lrun "$who" exec "$IMG" sh -c \
		'ls /etc/litho-new /usr/litho-dir 2>&1; cat /opt/data/file.txt; test -e /bin/true && echo true there'
	expect_ok
	expect_output "ls: /etc/litho-new: No such file or directory
ls: /usr/litho-dir: No such file or directory
image data
true there"
	# without --writable-tmpfs the image is read-only
	lrun "$who" exec "$IMG" sh -c 'touch /litho-new; touch /etc/litho-new; echo x >>/opt/data/file.txt'
	[[ $status -ne 0 ]] || fail "writing into the image succeeded without --writable-tmpfs" || return 1
	expect_stderr_has "Read-only file system"
	[[ $stderr != *"Permission denied"* ]] || fail "expected EROFS, not EACCES: $stderr" || return 1
	# --tmpfs-size caps the writable layer
	lrun "$who" exec --writable-tmpfs --tmpfs-size 1M "$IMG" sh -c \
		'echo small >/etc/small && echo "small ok"; dd if=/dev/zero of=/opt/big bs=1k count=2048 2>/dev/null && echo "2 MiB fit"'
	[[ $output != *"2 MiB fit"* ]] || fail "--tmpfs-size 1M: 2 MiB were written" || return 1
	[[ $output == *"small ok"* ]] || fail "--tmpfs-size 1M: output: $output"
}

@test "--writable-tmpfs (and --tmpfs-size): writes work and vanish; without it / is read-only, root" {
	check_writable_tmpfs root
}
@test "--writable-tmpfs (and --tmpfs-size): writes work and vanish; without it / is read-only, user" {
	check_writable_tmpfs user
}

# tree_list DIR: a listing of DIR (paths, types, sizes) for before/after comparisons.
tree_list() {
	(cd "$1" && find . -printf '%p %y %s\n' | sort)
}

# check_sandbox_readonly WHO SANDBOX: the sandbox is read-only inside and running it changes
# nothing in it, even with binds to missing destinations and a home the image lacks (reports
# every problem, not only the first).
check_sandbox_readonly() {
	local who=$1 sb=$2 bad=0
	tree_list "$sb" >"$WORK/sandbox.before"
	mkdirs_as_user "$WORK/b"
	lrun "$who" exec -B "$WORK/b:/newdir/b" -H "$WORK/b:/home/custom" "$IMG" sh -c '
		cat /opt/data/file.txt
		touch /litho-new 2>/dev/null && echo "wrote /litho-new"
		touch /etc/litho-new 2>/dev/null && echo "wrote /etc/litho-new"
		true'
	expect_ok || bad=1
	if [[ $output != "image data" ]]; then
		echo "the sandbox is writable inside without --writable-tmpfs: $output" >&2
		bad=1
	fi
	tree_list "$sb" >"$WORK/sandbox.after"
	if ! cmp -s "$WORK/sandbox.before" "$WORK/sandbox.after"; then
		echo "running the sandbox changed it on the host (- before, + after):" >&2
		diff -u "$WORK/sandbox.before" "$WORK/sandbox.after" >&2
		bad=1
	fi
	# --writable-tmpfs: the writes stay in memory
	tree_list "$sb" >"$WORK/sandbox.before"
	lrun "$who" exec --writable-tmpfs "$IMG" sh -c 'echo x >/etc/litho-new2 && echo ok'
	expect_ok || bad=1
	tree_list "$sb" >"$WORK/sandbox.after"
	if ! cmp -s "$WORK/sandbox.before" "$WORK/sandbox.after"; then
		echo "--writable-tmpfs changed the sandbox on the host (- before, + after):" >&2
		diff -u "$WORK/sandbox.before" "$WORK/sandbox.after" >&2
		bad=1
	fi
	return $bad
}

@test "sandbox directory (root-owned), root: read-only inside, unchanged on the host" {
	need root
	use_image sandbox
	# a private copy: a failure must not spoil the shared one
	cp -a "$IMG" "$WORK/sb"
	IMG=$WORK/sb
	check_sandbox_readonly root "$IMG"
}

@test "sandbox directory (owned by the user), user: read-only inside, unchanged on the host" {
	need user
	use_image sandbox
	cp -a "$IMG" "$WORK/sb"
	IMG=$WORK/sb
	if [[ $EUID -eq 0 ]]; then
		chown -R -h "$RT_UID:$RT_GID" "$IMG"
	fi
	check_sandbox_readonly user "$IMG"
}

@test "sandbox directory (root-owned), user: read-only inside, unchanged on the host" {
	need user
	[[ $EUID -eq 0 ]] || skip "the shared sandbox is root-owned only when the suite runs as root"
	use_image sandbox
	check_sandbox_readonly user "$IMG"
}

# --- working directory, --pwd, $HOME ------------------------------------------------------

check_cwd() {
	local who=$1 uid
	need "$who"
	use_image plain
	uid=$(who_uid "$who")
	mkdirs_as_user "$WORK/cwd"
	echo "in cwd" >"$WORK/cwd/here.txt"
	chmod 0644 "$WORK/cwd/here.txt"
	cd "$WORK/cwd" || return 1
	# /tmp (which holds it) is bound anyway: the same path
	lrun "$who" exec "$IMG" sh -c 'pwd; cat here.txt'
	expect_ok
	expect_output "$WORK/cwd"$'\nin cwd'
	# without /tmp, the working directory is bound on its own, writable
	lrun "$who" exec --no-mount tmp "$IMG" sh -c 'pwd; cat here.txt; echo back >written.txt'
	expect_ok
	expect_output "$WORK/cwd"$'\nin cwd'
	[[ $(cat "$WORK/cwd/written.txt") == back ]] || fail "the host does not see written.txt"
	[[ $(stat -c %u "$WORK/cwd/written.txt") == "$uid" ]] || fail "written.txt not owned by $uid"
	# --pwd
	lrun "$who" exec --pwd /opt/data "$IMG" sh -c 'pwd; cat file.txt'
	expect_ok
	expect_output $'/opt/data\nimage data'
	# an OS directory is not bound: the image's /etc
	[[ -e /etc/os-release || -e /etc/hostname ]] || skip "the host has no /etc/os-release"
	cd /etc || return 1
	lrun "$who" exec "$IMG" sh -c 'pwd; ls /etc/os-release /etc/hostname 2>/dev/null; true'
	expect_ok
	expect_output "/etc"
}

@test "working directory = host cwd (bound when needed), --pwd, OS dirs not bound, root" {
	check_cwd root
}
@test "working directory = host cwd (bound when needed), --pwd, OS dirs not bound, user" {
	check_cwd user
}

check_home() {
	local who=$1 home uid f
	need "$who"
	use_image plain
	home=$(who_home "$who")
	uid=$(who_uid "$who")
	f=.litho-rt-$BATS_TEST_NUMBER-$$
	lrun "$who" exec "$IMG" sh -c 'echo "$HOME"; echo hi >"$HOME/$0" && echo written' "$f"
	expect_ok
	expect_output "$home"$'\nwritten'
	[[ -f $home/$f ]] || fail "the host does not see \$HOME/$f" || return 1
	[[ $(stat -c %u "$home/$f") == "$uid" ]] || fail "\$HOME/$f not owned by $uid"
	rm -f "$home/$f"
	# -H src:dst
	mkdirs_as_user "$WORK/h"
	lrun "$who" exec -H "$WORK/h:/home/custom" "$IMG" sh -c 'echo "$HOME"; pwd; touch "$HOME/x" && echo ok'
	expect_ok
	expect_output $'/home/custom\n'"$WORK"$'\nok'
	[[ -f $WORK/h/x ]] || fail "-H: the host does not see the file"
	# --no-home: the host's home directory is not bound (a file in it is not seen)
	touch "$home/$f"
	lrun "$who" exec --no-home --pwd / "$IMG" sh -c 'echo "$HOME"; ls -A "$HOME/$0" 2>/dev/null; true' "$f"
	rm -f "$home/$f"
	expect_ok
	if [[ $who == user ]]; then
		expect_output "$home"
	fi
}

@test "\$HOME inside = host \$HOME, writable; -H src:dst; --no-home, root" { check_home root; }
@test "\$HOME inside = host \$HOME, writable; -H src:dst; --no-home, user" { check_home user; }

# A home directory below /tmp (HOME=/tmp/..., or -H /tmp/...) must not change /tmp: the image
# lacks the path, so its mount point is made in an underlay of /tmp, and the host's /tmp is
# then bound over that; /tmp must stay writable.
check_home_below_tmp() {
	local who=$1
	need "$who"
	use_image plain
	mkdirs_as_user "$WORK/h" "$WORK/cwd"
	cd "$WORK/cwd" || return 1
	# -H with the same path inside
	lrun "$who" exec -H "$WORK/h" "$IMG" sh -c \
		'echo "$HOME"; touch "$HOME/in-home" && echo home ok; touch "$0/in-cwd" && echo cwd ok' "$WORK/cwd"
	expect_ok
	expect_output "$WORK/h"$'\nhome ok\ncwd ok'
	# HOME in the environment
	run_split as "$who" env HOME="$WORK/h" "$LITHO" exec "$IMG" sh -c \
		'echo "$HOME"; touch /tmp/litho-rt-$$ && rm /tmp/litho-rt-$$ && echo tmp ok; touch in-cwd2 && echo cwd ok'
	expect_ok
	expect_output "$WORK/h"$'\ntmp ok\ncwd ok'
	[[ -e $WORK/h/in-home && -e $WORK/cwd/in-cwd && -e $WORK/cwd/in-cwd2 ]] ||
		fail "the files written inside are not all on the host"
}

@test "home directory below /tmp: /tmp and the cwd stay writable, root" { check_home_below_tmp root; }
@test "home directory below /tmp: /tmp and the cwd stay writable, user" { check_home_below_tmp user; }

# --- identity -----------------------------------------------------------------------------

check_identity() {
	local who=$1 uid name gid gname n
	need "$who"
	uid=$(who_uid "$who")
	name=$(who_name "$who")
	if [[ $who == root ]]; then gid=0; else gid=$RT_GID; fi
	gname=$(getent group "$gid" | cut -d: -f1)
	for n in plain busybox oci; do
		[[ $n != busybox || -f $RT_IMG/busybox.sif ]] || continue
		use_image "$n"
		lrun "$who" exec "$IMG" sh -c 'id -u; id -un; id -g; id -gn; grep "^$(id -un):" /etc/passwd | cut -d: -f1,3,4'
		expect_ok
		expect_output "$uid
$name
$gid
$gname
$name:$uid:$gid" || fail "image $n" || return 1
	done
}

@test "identity: uid, user name and group from /etc/passwd and /etc/group, root" { check_identity root; }
@test "identity: uid, user name and group from /etc/passwd and /etc/group, user" { check_identity user; }

check_ownership() {
	local who=$1 uid gid n
	need "$who"
	uid=$(who_uid "$who")
	if [[ $who == root ]]; then gid=0; else gid=$RT_GID; fi
	# all three images hold these files owned by root
	for n in plain busybox oci; do
		[[ $n != busybox || -f $RT_IMG/busybox.sif ]] || continue
		use_image "$n"
		lrun "$who" exec "$IMG" stat -c '%u:%g %n' / /bin /bin/busybox /etc/passwd
		expect_ok
		expect_output "$uid:$gid /
$uid:$gid /bin
$uid:$gid /bin/busybox
$uid:$gid /etc/passwd" || fail "image $n" || return 1
	done
	use_image plain
	lrun "$who" exec "$IMG" sh -c 'find /bin /opt /usr -xdev \( -user 65534 -o -group 65534 \) | head -5'
	expect_ok
	expect_output ""
}

@test "ownership: root-owned image files appear owned by the caller, root" { check_ownership root; }
@test "ownership: root-owned image files appear owned by the caller, user" { check_ownership user; }

check_umask() {
	local who=$1
	need "$who"
	use_image plain
	run_split as "$who" sh -c 'umask 027; exec "$0" exec "$1" sh -c "umask; touch f1; mkdir d1"' \
		"$LITHO" "$IMG"
	expect_ok
	expect_output "0027"
	[[ $(stat -c %a "$WORK/f1") == 640 && $(stat -c %a "$WORK/d1") == 750 ]] ||
		fail "umask 027: f1 is $(stat -c %a "$WORK/f1"), d1 is $(stat -c %a "$WORK/d1")" || return 1
	run_split as "$who" sh -c 'umask 027; exec "$0" exec --no-umask "$1" sh -c "umask; touch f2"' \
		"$LITHO" "$IMG"
	expect_ok
	expect_output "0022"
	[[ $(stat -c %a "$WORK/f2") == 644 ]] || fail "--no-umask: f2 is $(stat -c %a "$WORK/f2")"
}

@test "umask: the caller's (027 -> 640/750); --no-umask -> 0022, root" { check_umask root; }
@test "umask: the caller's (027 -> 640/750); --no-umask -> 0022, user" { check_umask user; }

# --- --unsquash ---------------------------------------------------------------------------

check_unsquash() {
	local who=$1 tmp uid before after
	need "$who"
	use_image plain
	tmp=$(who_tmp "$who")
	uid=$(who_uid "$who")
	before=$(find "$tmp" -mindepth 1 -maxdepth 1 ! -name "litho-$uid" | sort)
	lrun "$who" exec --unsquash "$IMG" sh -c \
		'cat /opt/data/file.txt; grep -c squashfs /proc/self/mountinfo; stat -c %u /bin/busybox'
	expect_ok
	expect_output $'image data\n0\n'"$uid"
	use_image oci
	lrun "$who" run --unsquash "$IMG" x
	expect_ok
	expect_output "ep x"
	# nothing left but the (empty) session directory
	after=$(find "$tmp" -mindepth 1 -maxdepth 1 ! -name "litho-$uid" | sort)
	if [[ $after != "$before" ]]; then
		echo "left in \$TMPDIR ($tmp):" >&2
		ls -la "$tmp" >&2
		return 1
	fi
	if [[ -d $tmp/litho-$uid && -n $(ls -A "$tmp/litho-$uid") ]]; then
		echo "the session directory is not empty:" >&2
		ls -la "$tmp/litho-$uid" >&2
		return 1
	fi
}

@test "--unsquash: runs from a temporary sandbox, nothing left in \$TMPDIR, root" { check_unsquash root; }
@test "--unsquash: runs from a temporary sandbox, nothing left in \$TMPDIR, user" { check_unsquash user; }
