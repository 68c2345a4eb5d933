#!/usr/bin/env bats
# `litho build` of an image made with umoci (tests/lib/mkimages.sh umoci): layer 1 from a
# busybox-static tree (files, dirs, symlinks, hard links, setuid, a capability, devices, a FIFO),
# layer 2 from `umoci unpack` + rm + `umoci repack` (explicit whiteouts), layer 3 a hand-made tar
# added with `umoci raw add-layer` (data/.wh..wh..opq after new data/ content), config set with
# `umoci config`.
#
# The reference is `umoci unpack` run as root; litho's SquashFS is extracted with `unsquashfs -d`
# as root. Both trees go through tests/lib/treedump.py (type, permission bits, owner, size,
# sha256, symlink target, xattrs, device numbers, hard-link groups, mtimes).

load helpers
load ../lib/build_common

setup_file() {
	fixtures_setup_file umoci
	local d=$BATS_FILE_TMPDIR fix
	fix="$(fixture_root)/umoci"
	[[ -d $fix ]] || return 0
	# One build shared by the tests (they only read it). A failure is reported by need_build.
	(cd "$d" && "$LITHO" build u.sif "oci:$fix/layout:latest") >"$d/u.log" 2>&1 || true
	(cd "$d" && "$LITHO" build --compression gzip ugz.sif "oci:$fix/layout:latest") \
		>"$d/ugz.log" 2>&1 || true
}

setup() {
	common_setup
	use_fixture umoci
	U=$FIX/layout
}

# need_build NAME: fails with litho's output when the shared build NAME.sif is missing.
need_build() {
	require_cmd siftool
	if [[ ! -f $BATS_FILE_TMPDIR/$1.sif ]]; then
		echo "litho build of $1.sif failed:" >&2
		cat "$BATS_FILE_TMPDIR/$1.log" >&2
		return 1
	fi
	SIF=$BATS_FILE_TMPDIR/$1.sif
}

# fail MESSAGE: prints MESSAGE and returns 1 (for checks that must not stop before cleanup).
fail() {
	echo "$*" >&2
	return 1
}

# check_kernel_mount DIR: the checks on the kernel's view of the image (no early exit: the
# caller unmounts afterwards).
check_kernel_mount() {
	local m=$1
	# ".." of the root comes from the root inode's parent number (inode_count + 1); with 0
	# readdir hides it
	ls -a "$m" | grep -qx '\.\.' || fail "ls -a of the root does not show .." || return 1
	[[ $(cat "$m/data/new.txt") == "new data" ]] || fail "data/new.txt" || return 1
	[[ $(stat -c %a "$m/usr/bin/suid") == 4755 ]] || fail "usr/bin/suid mode" || return 1
	[[ $(stat -c %h "$m/etc/hl1") == 2 ]] || fail "etc/hl1 nlink" || return 1
	[[ $(stat -c %i "$m/etc/hl1") == "$(stat -c %i "$m/usr/lib/hl3")" ]] ||
		fail "etc/hl1 and usr/lib/hl3 are not one inode" || return 1
	[[ $(stat -c '%t,%T' "$m/dev/null") == 1,3 ]] || fail "dev/null numbers" || return 1
	# every directory: nlink = 2 + subdirectories
	"$PYTHON" - "$m" <<-'EOF' || return 1
		import os, stat, sys
		bad = 0
		for d, dirs, files in os.walk(sys.argv[1]):
		    subdirs = sum(1 for n in dirs if stat.S_ISDIR(os.lstat(os.path.join(d, n)).st_mode))
		    n = os.lstat(d).st_nlink
		    if n != subdirs + 2:
		        print(f"{d}: nlink {n}, expected {subdirs + 2}", file=sys.stderr)
		        bad = 1
		sys.exit(bad)
	EOF
}

check_fuse_mount() {
	local m=$1
	[[ $(cat "$m/data/new.txt") == "new data" ]] || fail "data/new.txt" || return 1
	[[ -L $m/bin/sh && $(readlink "$m/bin/sh") == busybox ]] || fail "bin/sh" || return 1
	cmp "$m/bin/busybox" "$(command -v busybox)" || return 1
	[[ -x $m/.singularity.d/runscript ]] || fail "runscript" || return 1
}

@test "umoci image: litho's tree equals umoci unpack, owners, xattrs, devices, links and mtimes included" {
	require_root
	require_cmd siftool unsquashfs
	need_build u
	umoci_unpack "$U:latest" ref
	extract_sif "$SIF" act
	explicit_dirs "$U" latest dirs
	# Directory mtimes only for the directories the layers define: umoci gives the others the
	# time of the unpack. Everything litho adds for Apptainer is left out (compat.md §2.1).
	tree_compare ref/rootfs act --image-meta --explicit-dirs dirs
}

@test "umoci image: whiteouts, the opaque directory and hard links give the expected tree" {
	# Not relative to umoci: the expected result of the three layers, spelled out.
	require_root
	require_cmd siftool unsquashfs
	need_build u
	extract_sif "$SIF" act
	tree_dump act dump
	# layer 2: explicit whiteouts of files, of a whole directory and of one hard link name
	refute_entry dump /etc/deleteme
	refute_entry dump /gone
	refute_entry dump /gone/deep/er/x
	refute_entry dump /bin/true
	refute_entry dump /usr/hl2
	assert_entry dump /bin/sh type=sym target=busybox
	assert_entry dump /etc/passwd "sha256=$(sha_of $'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\nchanged in layer 2\n')"
	# layer 3: data/.wh..wh..opq hides every lower child of data/, the layer's own stay
	refute_entry dump /data/hello.txt
	refute_entry dump /data/sub
	refute_entry dump /data/keep # chmod 0700 in layer 2, then hidden by the opaque data/
	assert_entry dump /data/new.txt "sha256=$(sha_of $'new data\n')"
	assert_entry dump /data/sub2 type=dir mode=0750
	assert_entry dump /data/sub2/x owner=3000000:3000000
	assert_entry dump /data/link type=sym target=new.txt
	# the hard link group lost one name and kept the other two
	assert_entry dump /etc/hl1 links=/etc/hl1 "sha256=$(sha_of $'hard linked\n')"
	assert_entry dump /usr/lib/hl3 links=/etc/hl1
	# attributes of layer 1
	assert_entry dump /usr/bin/suid mode=4755
	assert_entry dump /tmp type=dir mode=1777
	assert_entry dump /var/empty type=dir mode=2755
	assert_entry dump /usr/bin/capped xattrs=security.capability=0100000200200000000000000000000000000000
	assert_entry dump /dev/null type=chr dev=1,3
	assert_entry dump /dev/sda9 type=blk dev=8,9
	assert_entry dump /dev/fifo type=fifo
	assert_entry dump /usr/pw type=sym target=../etc/passwd mtime=1500000000
}

@test "umoci image: unsquashfs -lln lists owners, devices and links" {
	require_cmd siftool unsquashfs
	need_build u
	dump_part "$SIF" part.sqfs
	run -0 unsquashfs -lln part.sqfs
	[[ $output == *"crw-r--r-- 0/0 "*"1,  3 "*" squashfs-root/dev/null"* ]]
	[[ $output == *"brw-r--r-- 0/0 "*"8,  9 "*" squashfs-root/dev/sda9"* ]]
	[[ $output == *"-rw-r--r-- 3000000/3000000 "*" squashfs-root/data/sub2/x"* ]]
	[[ $output == *"-rwsr-xr-x 0/0 "*" squashfs-root/usr/bin/suid"* ]]
	[[ $output == *"drwxrwxrwt 0/0 "*" squashfs-root/tmp"* ]]
	[[ $output == *" squashfs-root/bin/sh -> busybox"* ]]
	[[ $output == *" squashfs-root/.singularity.d/runscript"* ]]
}

@test "umoci image: sqfsdiff finds no difference from mksquashfs of the umoci tree" {
	# The reference: the umoci rootfs plus litho's Apptainer files (copied from litho's own
	# SquashFS, only those the image lacks), packed by mksquashfs. sqfsdiff compares types,
	# contents, owners and permission bits (not times: umoci stamps implicit dirs with "now").
	require_root
	require_cmd siftool unsquashfs mksquashfs sqfsdiff
	need_build u
	umoci_unpack "$U:latest" ref
	extract_sif "$SIF" act
	local p
	for p in .singularity.d singularity .run .exec .shell .test environment dev proc root var \
		var/tmp tmp etc sys home etc/hosts etc/resolv.conf; do
		if [[ ! -e ref/rootfs/$p && ! -L ref/rootfs/$p ]]; then
			(cd act && cp -a --parents "$p" ../ref/rootfs/)
		fi
	done
	mksquashfs ref/rootfs ref.sqfs -noappend -comp gzip -quiet -no-progress >/dev/null
	run sqfsdiff -a ref.sqfs -b act.sqfs
	if [[ $status -ne 0 ]]; then
		printf 'sqfsdiff (a = mksquashfs of the umoci tree, b = litho):\n%s\n' "$output" >&2
		return 1
	fi
}

@test "umoci image: kernel loop mount at the partition offset, root '..' and directory link counts" {
	require_root
	require_cmd siftool mount umount
	need_build u
	local off
	off=$(part_offset "$SIF")
	mkdir mnt
	if ! mount -t squashfs -o "loop,ro,offset=$off" "$SIF" mnt 2>mount.err; then
		skip "cannot loop-mount here: $(cat mount.err)"
	fi
	local rc=0
	check_kernel_mount mnt || rc=$?
	umount mnt
	[[ $rc -eq 0 ]]
}

@test "umoci image: the root inode's parent number is inode_count + 1" {
	require_cmd siftool
	need_build ugz
	dump_part "$SIF" part.sqfs
	run -0 "$PYTHON" "$LIB_DIR/sqfsinfo.py" part.sqfs
	local count parent number
	count=$(sed -n 's/^inode_count=//p' <<<"$output")
	parent=$(sed -n 's/^root_parent_inode=//p' <<<"$output")
	number=$(sed -n 's/^root_inode_number=//p' <<<"$output")
	[[ $parent -eq $((count + 1)) ]]
	[[ $number -eq $count ]]
}

@test "umoci image: squashfuse mounts the partition with -o offset" {
	require_cmd siftool squashfuse
	need_build u
	local umnt=fusermount3
	command -v fusermount3 >/dev/null || umnt=fusermount
	require_cmd "$umnt"
	if [[ ! -c /dev/fuse ]]; then
		skip "/dev/fuse is missing"
	fi
	local off
	off=$(part_offset "$SIF")
	mkdir mnt
	if ! timeout 20 squashfuse -o "offset=$off" "$SIF" mnt 2>fuse.err; then
		skip "squashfuse cannot mount here (/dev/fuse unusable?): $(cat fuse.err)"
	fi
	local rc=0
	check_fuse_mount mnt || rc=$?
	"$umnt" -u mnt
	[[ $rc -eq 0 ]]
}

@test "umoci image: siftool lists exactly the descriptors Apptainer writes" {
	require_cmd siftool
	need_build u
	run -0 siftool list "$SIF"
	local rows
	rows=$(awk -F'|' 'NR > 3 { gsub(/ +$/, "", $1); gsub(/ +$/, "", $2); gsub(/ +$/, "", $3);
		print $1 "|" $2 "|" $3 "|" $5 }' <<<"$output")
	[[ $rows == "1|1|NONE|Def.FILE
2|1|NONE|JSON.Generic
3|1|NONE|JSON.Generic
4|1|NONE|FS (Squashfs/*System/amd64)" ]]
	run -0 siftool info 2 "$SIF"
	[[ $output == *"Name:         inspect-metadata.json"* ]]
	run -0 siftool info 3 "$SIF"
	[[ $output == *"Name:         oci-config.json"* ]]
	run -0 siftool info 4 "$SIF"
	[[ $output == *"Filesystem Type:  Squashfs"* ]]
	[[ $output == *"Partition Type:   *System"* ]]
	[[ $output == *"Architecture:     amd64"* ]]
	(($(sed -n 's/^ *Offset: *//p' <<<"$output") % 4096 == 0))
	run -0 siftool header "$SIF"
	[[ $output == *"Launch Script:        #!/usr/bin/env run-singularity"* ]]
	[[ $output == *"Primary Architecture: amd64"* ]]
	[[ $(head -c 32 "$SIF" | tr -d '\0') == "#!/usr/bin/env run-singularity" ]]
}

@test "umoci image: the SIF file mode is 0755 minus the umask" {
	(umask 022 && "$LITHO" -q build a.sif "oci:$U:latest")
	(umask 027 && "$LITHO" -q build b.sif "oci:$U:latest")
	(umask 077 && "$LITHO" -q build c.sif "oci:$U:latest")
	[[ $(stat -c %a a.sif) == 755 ]]
	[[ $(stat -c %a b.sif) == 750 ]]
	[[ $(stat -c %a c.sif) == 700 ]]
}

@test "umoci image: the umoci config gives runscript, environment and labels" {
	require_root
	require_cmd siftool unsquashfs
	need_build u
	extract_sif "$SIF" act
	# Entrypoint /bin/echo "it's \"$HOME\" `x` \y", Cmd hello "two words" (compat.md §2.2)
	grep -qxF "OCI_ENTRYPOINT='\"/bin/echo\" \"it'\"'\"'s \\\"\\\$HOME\\\" \\\`x\\\` \\\\y\"'" \
		act/.singularity.d/runscript
	grep -qxF "OCI_CMD='\"hello\" \"two words\"'" act/.singularity.d/runscript
	# running it: entrypoint + cmd, then entrypoint + args
	run -0 sh act/.singularity.d/runscript
	[[ $output == "it's \"\$HOME\" \`x\` \\y hello two words" ]]
	run -0 sh act/.singularity.d/runscript a 'b c'
	[[ $output == "it's \"\$HOME\" \`x\` \\y a b c" ]]
	# Env (compat.md §2.3): 1BAD is not a valid name and is left out
	run -0 cat act/.singularity.d/env/10-docker2singularity.sh
	[[ $output == *'export PATH="/usr/local/bin:/usr/bin:/bin"'* ]]
	[[ $output == *'export EMPTY="${EMPTY:-""}"'* ]]
	[[ $output == *'export WITH="${WITH:-"equals=sign"}"'* ]]
	[[ $output != *1BAD* ]]
	# Labels (compat.md §2.4)
	run -0 "$PYTHON" -c 'import json,sys; l=json.load(open(sys.argv[1]));
print(l["org.example.name"]); print(l["org.example.quote"])' act/.singularity.d/labels.json
	[[ $output == $'umoci fixture\nsay "hi"' ]]
}

@test "umoci image: litho adds exactly the Apptainer skeleton the image lacks (compat.md §2.1)" {
	require_root
	require_cmd siftool unsquashfs umoci
	need_build u
	umoci_unpack "$U:latest" ref
	extract_sif "$SIF" act
	tree_dump ref/rootfs ref.dump
	tree_dump act act.dump
	# the image has /etc, /tmp, /dev, /var but not /proc, /root, /sys, /home, /var/tmp
	local added
	added=$(awk '{ print $1 }' ref.dump | sort >ref.paths && awk '{ print $1 }' act.dump | sort |
		comm -13 ref.paths - | tr '\n' ' ')
	[[ $added == "/.exec /.run /.shell /.singularity.d /.singularity.d/Singularity /.singularity.d/actions /.singularity.d/actions/exec /.singularity.d/actions/run /.singularity.d/actions/shell /.singularity.d/actions/start /.singularity.d/actions/test /.singularity.d/env /.singularity.d/env/01-base.sh /.singularity.d/env/10-docker2singularity.sh /.singularity.d/env/90-environment.sh /.singularity.d/env/94-appsbase.sh /.singularity.d/env/95-apps.sh /.singularity.d/env/99-base.sh /.singularity.d/env/99-runtimevars.sh /.singularity.d/labels.json /.singularity.d/libs /.singularity.d/runscript /.singularity.d/startscript /.test /environment /etc/hosts /etc/resolv.conf /home /proc /root /singularity /sys /var/tmp " ]]
	local d f
	for d in /.singularity.d /.singularity.d/actions /.singularity.d/env /.singularity.d/libs \
		/home /proc /root /sys /var/tmp; do
		assert_entry act.dump "$d" type=dir mode=0755 owner=0:0
	done
	for f in actions/exec actions/run actions/shell actions/start actions/test env/01-base.sh \
		env/10-docker2singularity.sh env/90-environment.sh env/94-appsbase.sh env/95-apps.sh \
		env/99-base.sh env/99-runtimevars.sh runscript startscript; do
		assert_entry act.dump "/.singularity.d/$f" type=reg mode=0755 owner=0:0
	done
	assert_entry act.dump /.singularity.d/labels.json type=reg mode=0644
	assert_entry act.dump /.singularity.d/Singularity type=reg mode=0644
	assert_entry act.dump /etc/hosts type=reg mode=0644 owner=0:0 size=0
	assert_entry act.dump /etc/resolv.conf type=reg mode=0644 owner=0:0 size=0
	assert_entry act.dump /singularity type=sym target=.singularity.d/runscript
	assert_entry act.dump /.run type=sym target=.singularity.d/actions/run
	assert_entry act.dump /.exec type=sym target=.singularity.d/actions/exec
	assert_entry act.dump /.shell type=sym target=.singularity.d/actions/shell
	assert_entry act.dump /.test type=sym target=.singularity.d/actions/test
	assert_entry act.dump /environment type=sym target=.singularity.d/env/90-environment.sh
	# the image's own placeholders keep their attributes (/tmp is 1777 in the image)
	assert_entry act.dump /tmp type=dir mode=1777
	[[ $(head -1 act/.singularity.d/startscript) == '#!/bin/sh' ]]
	[[ $(cat act/.singularity.d/Singularity) == "bootstrap: oci
from: $U:latest" ]]
	# actions/exec sources the env scripts and runs its arguments
	run -0 sh act/.singularity.d/actions/exec /bin/echo hi
	[[ $output == hi ]]
}
