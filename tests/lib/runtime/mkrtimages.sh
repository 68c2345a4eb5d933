#!/usr/bin/env bash
# Makes the images of the runtime tests (tests/cli/run_*.bats).
#
# usage: mkrtimages.sh KIND OUT
#   tree OUT      OUT = a busybox-static root tree (no Apptainer metadata): /bin/busybox and
#                 relative applet links in /bin, /usr/bin/env, /etc/passwd and /etc/group
#                 (root, nobody), /tmp (1777), /var/tmp, /root, /opt/data/file.txt, /mnt, empty
#                 /dev /proc /sys; no /home (the home mount point must be made at run time).
#                 Everything owned by root.
#   plain OUT     OUT = a SIF made with mksquashfs + `litho sif new/add` from `tree` (the
#                 launch line '#!/usr/bin/env run-singularity', one PrimSys SquashFS partition)
#   sandbox OUT   OUT = `tree` + a /.singularity.d skeleton: runscript (prints its arguments),
#                 test (prints "sandbox test" and exits 7), env/90-environment.sh
#   oci OUT       OUT = a SIF built by `litho build` from an umoci layout (OUT.d/layout) of
#                 `tree` with Env (PATH, FOO=image, IMGONLY) and Entrypoint /bin/echo ep +
#                 Cmd cmd1 "two words" (umoci --rootless when not root: then the files
#                 belong to the caller instead of root)
#   big OUT       OUT = a SIF like `plain` with /data/big.bin = 64 MiB of random bytes; in
#                 OUT.md5 its md5, then the md5s of its four 16 MiB quarters
#   noprim OUT    OUT = a SIF holding only a Generic data object (no system partition)
#   datapart OUT  OUT = a SIF whose only SquashFS partition is a Data partition (not PrimSys)
#
# LITHO (the litho binary) and BUSYBOX (default: the busybox on PATH; must be static) are read
# from the environment. OUT must not exist.
set -euo pipefail
umask 022

LITHO="${LITHO:?set LITHO}"
BUSYBOX="${BUSYBOX:-$(command -v busybox)}"
PY="${PYTHON:-$(command -v /usr/bin/python3 python3 | head -1)}"
unset SOURCE_DATE_EPOCH

die() {
	echo "mkrtimages: $*" >&2
	exit 1
}

mk_tree() {
	local r=$1
	mkdir -p "$r"/{bin,etc,tmp,var/tmp,root,opt/data,mnt,dev,proc,sys,usr/bin}
	cp "$BUSYBOX" "$r/bin/busybox"
	chmod 0755 "$r/bin/busybox"
	# one process for the ~400 links (a fork costs 10+ ms on a small VM)
	"$BUSYBOX" --list | "$PY" -c '
import os, sys
d = sys.argv[1]
for a in sys.stdin.read().split():
    if a != "busybox":
        os.symlink("busybox", os.path.join(d, "bin", a))
os.symlink("../../bin/busybox", os.path.join(d, "usr", "bin", "env"))
' "$r"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
		>"$r/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	echo "image data" >"$r/opt/data/file.txt"
	chmod 1777 "$r/tmp" "$r/var/tmp"
	chmod 0700 "$r/root"
}

# squash DIR OUT.sqfs
squash() {
	mksquashfs "$1" "$2" -all-root -noappend -quiet -no-progress -comp gzip >/dev/null
}

# sif_of SQFS OUT.sif [PARTTYPE]: a SIF with the launch line and SQFS as partition PARTTYPE
# (default 2 = PrimSys).
sif_of() {
	"$LITHO" sif new --launch-script '#!/usr/bin/env run-singularity' "$2"
	"$LITHO" sif add --datatype 4 --partfs 1 --parttype "${3:-2}" --partarch amd64 "$2" "$1"
	chmod 0755 "$2"
}

mk_skeleton() {
	local r=$1
	mkdir -p "$r/.singularity.d/env" "$r/.singularity.d/actions" "$r/.singularity.d/libs"
	cat >"$r/.singularity.d/runscript" <<-'RS'
		#!/bin/sh
		echo "runscript: $# args: $*"
	RS
	cat >"$r/.singularity.d/test" <<-'RS'
		#!/bin/sh
		echo "sandbox test $*"
		exit 7
	RS
	printf '#!/bin/sh\nexport SANDBOXVAR=fromsandbox\n' >"$r/.singularity.d/env/90-environment.sh"
	chmod 0755 "$r/.singularity.d/runscript" "$r/.singularity.d/test" \
		"$r/.singularity.d/env/90-environment.sh"
}

mk_oci() {
	local out=$1 w=$1.d L B
	L=$w/layout
	B=$w/bundle
	mkdir -p "$w"
	local rootless=()
	[[ $EUID -eq 0 ]] || rootless=(--rootless)
	umoci init --layout "$L"
	umoci new --image "$L:base"
	umoci unpack "${rootless[@]}" --image "$L:base" "$B" >/dev/null
	rm -rf "$B/rootfs"
	mk_tree "$B/rootfs"
	mkdir -p "$B/rootfs/opt/tool/bin"
	printf '#!/bin/sh\necho tool\n' >"$B/rootfs/opt/tool/bin/imgtool"
	chmod 0755 "$B/rootfs/opt/tool/bin/imgtool"
	umoci repack --image "$L:base" "$B" >/dev/null
	umoci config --image "$L:base" --tag latest \
		--config.env 'PATH=/opt/tool/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		--config.env 'FOO=image' \
		--config.env 'IMGONLY=from-image' \
		--config.entrypoint /bin/echo --config.entrypoint ep \
		--config.cmd cmd1 --config.cmd 'two words' \
		--architecture amd64 --os linux
	(cd "$w" && "$LITHO" -q build --compression gzip "$out" "oci:$L:latest")
	chmod 0755 "$out"
	rm -rf "$B"
}

mk_big() {
	local out=$1 t=$1.d
	mk_tree "$t/root"
	mkdir -p "$t/root/data"
	head -c $((64 << 20)) /dev/urandom >"$t/root/data/big.bin"
	# OUT.md5: the file's md5, then the md5 of each 16 MiB quarter
	{
		md5sum <"$t/root/data/big.bin" | cut -d' ' -f1
		local q
		for q in 0 1 2 3; do
			dd if="$t/root/data/big.bin" bs=1M skip=$((q * 16)) count=16 status=none |
				md5sum | cut -d' ' -f1
		done
	} >"$out.md5"
	mksquashfs "$t/root" "$t/img.sqfs" -all-root -noappend -quiet -no-progress -comp gzip \
		-noD >/dev/null
	sif_of "$t/img.sqfs" "$out"
	rm -rf "$t"
}

kind=${1:-}
out=${2:-}
[[ -n $kind && -n $out ]] || die "usage: mkrtimages.sh KIND OUT"
[[ ! -e $out ]] || die "$out exists"
case $kind in
tree) mk_tree "$out" ;;
sandbox)
	mk_tree "$out"
	mk_skeleton "$out"
	;;
plain | datapart)
	mk_tree "$out.tree"
	squash "$out.tree" "$out.sqfs"
	if [[ $kind == plain ]]; then
		sif_of "$out.sqfs" "$out"
	else
		sif_of "$out.sqfs" "$out" 3
	fi
	rm -rf "$out.tree" "$out.sqfs"
	;;
oci) mk_oci "$out" ;;
big) mk_big "$out" ;;
noprim)
	"$LITHO" sif new "$out"
	echo '{"hello": "world"}' | "$LITHO" sif add --datatype 6 "$out" -
	chmod 0644 "$out"
	;;
*) die "unknown kind $kind" ;;
esac
