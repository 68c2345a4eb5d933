#!/usr/bin/env bats
# -w/--writable, -f/--fakeroot and the hidden --build-config of litho run/exec, as root and as
# an unprivileged user:
#   --writable      a sandbox is changed in place (and nothing else is made in it); a SIF is
#                   refused
#   --fakeroot      uid 0 inside: as root plain root; as a user with subordinate ids
#                   (/etc/subuid and /etc/subgid, set or cleared for the test when the suite
#                   runs as root) a root-mapped namespace in which chown really changes owners;
#                   without them only the user is mapped and a seccomp filter fakes chown,
#                   setuid and mknod of devices (plus APT_CONFIG for apt where /tmp is ours)
#   --build-config  what `build` runs %post and %test with: no home, no working directory, no
#                   host /tmp, the host's /etc/resolv.conf and /etc/hosts
#
# Images: sandbox (a directory; each test that writes works on its own copy in $WORK), plain
# (a SIF).

load helpers
load ../lib/runtime/rt
load ../lib/runtime/subid

# subordinate ids given to the test user by the tests that need them
SUB_START=1500000000
SUB_COUNT=65536

setup_file() {
	rt_setup_file sandbox plain
}

teardown_file() {
	rt_teardown_file
}

setup() {
	rt_setup
	unset APPTAINER_BIND LITHO_BIND SINGULARITY_BIND APPTAINER_FAKEROOT LITHO_FAKEROOT \
		APPTAINER_WRITABLE LITHO_WRITABLE APT_CONFIG
}

teardown() {
	subid_restore
}

# sandbox_copy WHO: SB = a private copy of the sandbox image, owned by WHO.
sandbox_copy() {
	use_image sandbox
	SB=$WORK/sb
	cp -a "$IMG" "$SB"
	if [[ $1 == user && $EUID -eq 0 ]]; then
		chown -R "$RT_UID:$RT_GID" "$SB"
	fi
}

# tree_list DIR: paths, types and sizes below DIR, for before/after comparisons.
tree_list() {
	(cd "$1" && find . -printf '%p %y %s\n' | sort)
}

# fakeroot_mode MODE: makes the test user's --fakeroot mode MODE (subid or seccomp): as root by
# setting or clearing its ranges for this test; otherwise skips unless it already is.
fakeroot_mode() {
	need user
	if [[ $EUID -eq 0 ]]; then
		if [[ $1 == subid ]]; then
			subid_set "$RT_USER" "$SUB_START" "$SUB_COUNT"
		else
			subid_clear "$RT_USER"
		fi
		return 0
	fi
	local have=seccomp
	if subid_has "$RT_NAME" && command -v newuidmap >/dev/null &&
		command -v newgidmap >/dev/null; then
		have=subid
	fi
	[[ $have == "$1" ]] || skip "the user's --fakeroot mode here is $have (set up by root only)"
}

# --- --writable ---------------------------------------------------------------------------

check_writable() {
	local who=$1 uid
	need "$who"
	sandbox_copy "$who"
	uid=$(who_uid "$who")
	lrun "$who" exec -w "$SB" sh -c 'echo new >/opt/new && echo more >>/opt/data/file.txt &&
		mkdir /opt/dir && echo ok'
	expect_ok
	expect_output ok
	[[ $(<"$SB/opt/new") == new ]] || fail "/opt/new on the host: $(cat "$SB/opt/new")"
	[[ $(<"$SB/opt/data/file.txt") == $'image data\nmore' ]] ||
		fail "file.txt on the host: $(cat "$SB/opt/data/file.txt")"
	[[ $(stat -c %u "$SB/opt/new") == "$uid" ]] ||
		fail "/opt/new belongs to $(stat -c %u "$SB/opt/new"), expected $uid"
	# the next run sees it; without -w the sandbox is read-only again
	lrun "$who" exec "$SB" sh -c 'cat /opt/new; test -d /opt/dir && echo dir;
		echo x >/opt/other 2>/dev/null || echo read-only'
	expect_ok
	expect_output $'new\ndir\nread-only'
	# --writable (short and long, and APPTAINER_WRITABLE) removes what it made
	lrun "$who" exec --writable "$SB" rm /opt/new
	expect_ok
	[[ ! -e $SB/opt/new ]] || fail "/opt/new is still there"
	run_split as "$who" env APPTAINER_WRITABLE=1 "$LITHO" exec "$SB" rmdir /opt/dir
	expect_ok
	[[ ! -e $SB/opt/dir ]] || fail "/opt/dir is still there"
}

@test "--writable: changes to a sandbox persist, root" { check_writable root; }
@test "--writable: changes to a sandbox persist, user (owner of the sandbox)" {
	check_writable user
}

check_writable_nothing_made() {
	local who=$1
	need "$who"
	sandbox_copy "$who"
	mkdir -p "$WORK/b"
	tree_list "$SB" >"$WORK/before"
	# the image has no home for the user, no /etc/hosts, /etc/resolv.conf or /etc/localtime,
	# and without the host's /tmp the working directory below it is missing too: none of that
	# may be made in it
	cd "$WORK/b" || return 1
	lrun "$who" exec -w --no-mount tmp "$SB" sh -c 'echo $HOME; pwd; true'
	expect_ok
	tree_list "$SB" >"$WORK/after"
	if ! cmp -s "$WORK/before" "$WORK/after"; then
		echo "--writable made these in the image (- before, + after):" >&2
		diff -u "$WORK/before" "$WORK/after" >&2
		return 1
	fi
}

@test "--writable: no mount points for home, cwd or host files are made in the image, root" {
	check_writable_nothing_made root
}
@test "--writable: no mount points for home, cwd or host files are made in the image, user" {
	check_writable_nothing_made user
}

check_writable_sif() {
	local who=$1
	need "$who"
	use_image plain
	lrun "$who" exec -w "$IMG" true
	expect_status 255
	expect_stderr_has "$IMG is a SIF image: its SquashFS is read-only; use --writable-tmpfs, or build a sandbox"
	lrun "$who" exec --writable --unsquash "$IMG" true
	expect_status 255
	expect_stderr_has "is a SIF image"
}

@test "--writable: a SIF is refused with a clear message, root" { check_writable_sif root; }
@test "--writable: a SIF is refused with a clear message, user" { check_writable_sif user; }

@test "--writable with --writable-tmpfs: a warning, and the changes persist" {
	need user
	sandbox_copy user
	lrun user exec -w --writable-tmpfs "$SB" sh -c 'echo kept >/opt/kept'
	expect_ok
	expect_stderr_has "--writable-tmpfs is ignored with --writable"
	[[ $(<"$SB/opt/kept") == kept ]] || fail "/opt/kept did not persist"
}

# --- --fakeroot ---------------------------------------------------------------------------

@test "--fakeroot as root: real root, no user namespace" {
	need root
	use_image sandbox
	lrun root exec -f "$IMG" sh -c 'id -u; id -g; cat /proc/self/uid_map'
	expect_ok
	[[ ${output//[[:space:]]/ } =~ ^0\ 0\ +0\ +0\ +4294967295$ ]] || {
		show
		fail "not the host's root"
	}
}

@test "--fakeroot, user without subordinate ids: seccomp filter fakes chown, mknod, setuid" {
	fakeroot_mode seccomp
	sandbox_copy user
	lrun user -v exec -w --fakeroot "$SB" sh -c '
		id -u; id -g; id -un
		touch /opt/f && chown 1234:1234 /opt/f && echo chown ok
		stat -c "%u:%g" /opt/f
		mknod /opt/null c 1 3 && echo mknod ok
		test -e /opt/null || echo no device made
		mknod /opt/fifo p && test -p /opt/fifo && echo fifo real
		su nobody -s /bin/sh -c "id -u" && echo su ok
		cat /proc/self/uid_map'
	expect_ok
	expect_output "0
0
root
chown ok
0:0
mknod ok
no device made
fifo real
0
su ok
         0          0          1"
	expect_stderr_has "seccomp filter"
	# on the host the files are the user's
	[[ $(stat -c %u:%g "$SB/opt/f") == "$RT_UID:$RT_GID" ]] ||
		fail "/opt/f belongs to $(stat -c %u:%g "$SB/opt/f") on the host"
	[[ ! -e $SB/opt/null && -p $SB/opt/fifo ]] || fail "$(ls -l "$SB/opt")"
}

@test "--fakeroot, user with subordinate ids: chown lands on the subordinate host ids" {
	fakeroot_mode subid
	local start count
	read -r start count < <(subid_range "$RT_NAME")
	sandbox_copy user
	lrun user -v exec -w -f "$SB" sh -c '
		id -u
		touch /opt/f && chown 1234:1234 /opt/f && stat -c "%u:%g" /opt/f
		su nobody -s /bin/sh -c "id -u"
		cat /proc/self/uid_map'
	expect_ok
	expect_output "0
1234:1234
65534
$(printf '%10d %10d %10d\n%10d %10d %10d' 0 0 1 1 1 "$count")"
	expect_stderr_has "newuidmap"
	local want=$((start + 1233))
	[[ $(stat -c %u:%g "$SB/opt/f") == "$want:$want" ]] ||
		fail "/opt/f belongs to $(stat -c %u:%g "$SB/opt/f") on the host, expected $want:$want"
}

check_fakeroot_sif() {
	fakeroot_mode "$1"
	use_image plain
	# image files are root's; APPTAINER_FAKEROOT is the same as -f
	run_split as user env APPTAINER_FAKEROOT=1 "$LITHO" exec "$IMG" sh -c \
		'id -u; stat -c %u /bin/busybox; cat /opt/data/file.txt'
	expect_ok
	expect_output $'0\n0\nimage data'
}

@test "--fakeroot on a SIF, user with subordinate ids" { check_fakeroot_sif subid; }
@test "--fakeroot on a SIF, user without subordinate ids" { check_fakeroot_sif seccomp; }

@test "--fakeroot: \$HOME is /root, with the caller's home bound there" {
	need user
	use_image sandbox
	local marker
	marker=.litho-fakeroot-$BATS_TEST_NUMBER-$$
	as user touch "$RT_HOME/$marker"
	lrun user exec -f "$IMG" sh -c "echo \$HOME; test -e /root/$marker && echo home bound"
	as user rm -f "$RT_HOME/$marker"
	expect_ok
	expect_output $'/root\nhome bound'
}

@test "--fakeroot, seccomp: APT_CONFIG for apt where /tmp is the session's, nothing otherwise" {
	fakeroot_mode seccomp
	sandbox_copy user
	mkdir "$SB/etc/apt"
	[[ $EUID -ne 0 ]] || chown "$RT_UID:$RT_GID" "$SB/etc/apt"
	lrun user exec --build-config -w -f "$SB" sh -c \
		'echo "$APT_CONFIG"; cat "$APT_CONFIG"; rm -f "$APT_CONFIG" 2>/dev/null || echo kept'
	expect_ok
	expect_output $'/tmp/.litho-apt.conf\nAPT::Sandbox::User "root";\nkept'
	lrun user exec --contain -f "$SB" sh -c 'echo "[$APT_CONFIG]"'
	expect_ok
	expect_output "[/tmp/.litho-apt.conf]"
	# the caller's own value wins
	run_split as user env APT_CONFIG=/etc/mine "$LITHO" exec --contain -f "$SB" sh -c \
		'echo "[$APT_CONFIG]"'
	expect_ok
	expect_output "[/etc/mine]"
	# the host's /tmp: no place of ours for the file
	lrun user exec -f "$SB" sh -c 'echo "[$APT_CONFIG]"'
	expect_ok
	expect_output "[]"
	# an image without apt gets nothing
	rmdir "$SB/etc/apt"
	lrun user exec --contain -f "$SB" sh -c 'echo "[$APT_CONFIG]"'
	expect_ok
	expect_output "[]"
	[[ ! -e $SB/tmp/.litho-apt.conf ]] || fail "the APT configuration was left in the image"
}

@test "--fakeroot without user namespaces: a clear error" {
	need root
	need user
	command -v "$PYTHON" >/dev/null || skip "no python3"
	use_image sandbox
	run_split env TMPDIR="$(who_tmp user)" "$PYTHON" "$RT_LIB_DIR/nouserns.py" "$RT_UID" \
		"$RT_GID" "$LITHO" exec -f "$IMG" id -u
	expect_status 255
	expect_stderr_has "--fakeroot needs a user namespace: user namespaces are disabled"
}

# --- --build-config -----------------------------------------------------------------------

check_build_config() {
	local who=$1 home marker tmpmark
	need "$who"
	sandbox_copy "$who"
	home=$(who_home "$who")
	marker=.litho-build-config-$BATS_TEST_NUMBER-$$
	tmpmark=/tmp/litho-build-config-$BATS_TEST_NUMBER-$$
	as "$who" touch "$home/$marker" "$tmpmark"
	mkdir -p "$WORK/cwd"
	cd "$WORK/cwd" || return 1
	lrun "$who" exec --build-config "$SB" sh -c "
		test -e '$home/$marker' && echo home visible
		test -e '$WORK/cwd' && echo cwd visible
		test -e '$tmpmark' && echo host tmp visible
		grep -q ' $home ' /proc/self/mountinfo && echo home mounted
		cat /etc/resolv.conf; echo ---; cat /etc/hosts"
	as "$who" rm -f "$home/$marker" "$tmpmark"
	expect_ok
	expect_output "$(cat /etc/resolv.conf; echo ---; cat /etc/hosts)"
	# nothing of that was made in the image, which stays read-only without -w
	[[ ! -e $SB/etc/resolv.conf && ! -e $SB/etc/hosts ]] || fail "mount points made in the image"
}

@test "--build-config: no home, cwd or host /tmp; the host's resolv.conf and hosts, root" {
	check_build_config root
}
@test "--build-config: no home, cwd or host /tmp; the host's resolv.conf and hosts, user" {
	check_build_config user
}

@test "--build-config -w -f, as a build's %post: resolv.conf and hosts made in the image" {
	need user
	sandbox_copy user
	lrun user exec --build-config -w -f --pwd / "$SB" sh -c '
		pwd; id -u; echo "# added by %post" >>/etc/resolv.conf && echo appended
		echo user:x:1000:1000::/home/user:/bin/sh >>/etc/passwd && echo passwd ok'
	expect_ok
	expect_output $'/\n0\nappended\npasswd ok'
	# the image gets the mount points (empty, like Apptainer's skeleton) and its own passwd
	# change, not the host's contents
	[[ -f $SB/etc/resolv.conf && ! -s $SB/etc/resolv.conf ]] || fail "resolv.conf in the image"
	grep -q '^user:x:1000' "$SB/etc/passwd" || fail "the passwd change did not reach the image"
	if grep -q '# added by %post' /etc/resolv.conf; then
		fail "%post changed the host's /etc/resolv.conf"
	fi
}
