#!/usr/bin/env bats
# `litho build OUT.sif DIR/` from a sandbox directory: the tree goes in as it is on disk, with
# hard links, xattrs, device nodes, FIFOs, owners, special bits and mtimes; litho only adds the
# Apptainer files the directory lacks.

load helpers
load ../lib/build_common

setup() {
	common_setup
	require_root
	require_cmd siftool unsquashfs
}

# make_sandbox DIR: a small root tree with the interesting kinds of files.
make_sandbox() {
	local s=$1
	mkdir -p "$s"/{bin,etc,dev,data/sub,tmp}
	cp "$(command -v busybox)" "$s/bin/busybox" 2>/dev/null || printf 'not busybox\n' >"$s/bin/busybox"
	ln -s busybox "$s/bin/sh"
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$s/etc/passwd"
	printf 'shared data\n' >"$s/data/a"
	ln "$s/data/a" "$s/data/sub/b"
	ln "$s/data/a" "$s/data/c"
	chown 1000:2000 "$s/data/a"
	chmod 4750 "$s/data/a"
	"$PYTHON" - "$s" <<-'EOF'
		import os, sys
		s = sys.argv[1]
		os.setxattr(f"{s}/data/a", "user.k", b"v")
		os.setxattr(f"{s}/data/a", "trusted.t", b"\x00\xff")
		os.setxattr(f"{s}/bin/busybox", "security.capability",
		            bytes.fromhex("0100000200040000000000000000000000000000"))
		os.setxattr(f"{s}/data", "user.dir", b"on a dir")
	EOF
	mknod "$s/dev/null" c 1 3
	mknod "$s/dev/sdz" b 8 250
	mknod "$s/dev/big" c 511 300000
	mkfifo "$s/dev/fifo"
	chmod 1777 "$s/tmp"
	ln -s ../etc/passwd "$s/data/pw"
	printf 'x' >"$s/data/owned"
	chown 3000000:3000001 "$s/data/owned"
	touch -h -d @1234567890 "$s/data/pw"
	touch -d @1000000000 "$s/data/owned" "$s/data/sub"
}

@test "a sandbox directory keeps hard links, xattrs, devices, owners and mtimes" {
	make_sandbox sb
	litho_build out.sif sb/
	extract_sif out.sif x
	# every file of the directory, with the mtimes of its directories too (litho adds its
	# Apptainer files to the image, never to the source)
	tree_compare sb x --image-meta
	tree_dump x dump
	assert_entry dump /data/a links=/data/a mode=4750 owner=1000:2000 xattrs=trusted.t=00ff,user.k=76
	assert_entry dump /data/sub/b links=/data/a
	assert_entry dump /data/c links=/data/a
	assert_entry dump /dev/big type=chr dev=511,300000
	assert_entry dump /dev/sdz type=blk dev=8,250
	assert_entry dump /dev/fifo type=fifo
	assert_entry dump /data/owned owner=3000000:3000001 mtime=1000000000
	assert_entry dump /tmp mode=1777
	# litho wrote nothing into the source directory
	[[ ! -e sb/.singularity.d && ! -e sb/etc/hosts ]]
}

@test "a sandbox build records the directory as the source" {
	make_sandbox sb
	litho_build out.sif sb/
	run -0 siftool dump 1 out.sif
	[[ $output == $'bootstrap: localimage\nfrom: sb/' ]]
	run -0 siftool list out.sif
	[[ $output == *"Def.FILE"* ]]
	[[ $output == *"FS (Squashfs/*System/amd64)"* ]]
	# no image config: no oci-config.json object
	[[ $output != *"oci-config"* ]]
	[[ $(grep -c JSON.Generic <<<"$output") -eq 1 ]]
}

@test "a sandbox's own Apptainer files are kept" {
	make_sandbox sb
	mkdir -p sb/.singularity.d/env
	printf '#!/bin/sh\necho mine\n' >sb/.singularity.d/runscript
	chmod 0755 sb/.singularity.d/runscript
	printf 'export MINE=1\n' >sb/.singularity.d/env/90-environment.sh
	litho_build out.sif sb/
	extract_sif out.sif x
	cmp sb/.singularity.d/runscript x/.singularity.d/runscript
	cmp sb/.singularity.d/env/90-environment.sh x/.singularity.d/env/90-environment.sh
	[[ -x x/.singularity.d/actions/run ]]
}

# --- sandbox output (--sandbox) ------------------------------------------------------------

@test "--sandbox from a sandbox and from its SIF: the same tree as the SIF holds" {
	make_sandbox sb
	# fixed build times: the added metadata files get the same mtimes in every build
	export SOURCE_DATE_EPOCH=1700000000
	litho_build out.sif sb/
	extract_sif out.sif x
	litho_build --sandbox from-dir sb/
	tree_compare x from-dir
	litho_build --sandbox from-sif out.sif
	tree_compare x from-sif
	tree_dump from-dir dump
	assert_entry dump /data/a links=/data/a mode=4750 owner=1000:2000 xattrs=trusted.t=00ff,user.k=76
	assert_entry dump /dev/big type=chr dev=511,300000
	# the output went in under a temporary name: nothing else is left beside it
	[[ $(ls -d from-* | tr '\n' ' ') == "from-dir from-sif " ]]
}

@test "--sandbox from an OCI image: the same tree as the SIF built from it" {
	make_fixture umoci
	use_fixture umoci
	local fix=$FIX/layout
	# fixed build times: the metadata files get the same mtimes in both builds
	export SOURCE_DATE_EPOCH=1700000000
	litho_build ref.sif "oci:$fix:dup"
	extract_sif ref.sif ref
	litho_build --sandbox sb "oci:$fix:dup"
	tree_compare ref sb
	# and it runs
	run -0 "$LITHO" exec sb cat /data/new.txt
	[[ $output == "new data" ]]
}

@test "--sandbox: an existing output needs --force; a failed build leaves nothing" {
	make_sandbox sb
	mkdir out
	echo keep >out/file
	run "$LITHO" build --sandbox out sb/
	[[ $status -ne 0 && $output == *"out already exists (use --force to overwrite it)"* ]]
	[[ $(cat out/file) == keep ]]
	litho_build --force --sandbox out sb/
	[[ ! -e out/file && -f out/data/a ]]
	run "$LITHO" build --sandbox bad oci:/nonexistent
	[[ $status -ne 0 && $output == *"/nonexistent"* ]]
	[[ -z $(ls -d bad* 2>/dev/null) ]]
	[[ -z $(ls -d out.tmp.* 2>/dev/null) ]]
}

@test "--fix-perms: the owner can read, write and enter everything" {
	make_sandbox sb
	mkdir -p sb/locked/inner
	echo secret >sb/locked/inner/file
	chmod 0400 sb/locked/inner/file
	chmod 0500 sb/locked/inner
	chmod 0000 sb/locked
	chmod 0555 sb/bin/busybox
	litho_build --sandbox --fix-perms out sb/
	[[ $(stat -c %a out/locked) == 700 && $(stat -c %a out/locked/inner) == 700 ]]
	[[ $(stat -c %a out/locked/inner/file) == 600 && $(stat -c %a out/bin/busybox) == 755 ]]
	# the same in a SIF
	litho_build --fix-perms out.sif sb/
	extract_sif out.sif x
	[[ $(stat -c %a x/locked) == 700 && $(stat -c %a x/locked/inner/file) == 600 ]]
	# without it the modes stay
	litho_build --sandbox plain sb/
	[[ $(stat -c %a plain/locked) == 0 ]]
	chmod -R u+rwX sb plain
}
